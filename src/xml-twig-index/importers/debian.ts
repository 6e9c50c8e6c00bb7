import { InvalidDocumentError } from '../errors.ts'
import {
  buildPackage, type Checksum, type PackageFields, type Relation, type RelationField,
  type RelationGroup, type RelationOp
} from '../documents/index.ts'
import { readStanzas, type Stanza } from './deb822.ts'
import { openDecompressed, type OpenOptions } from './decompress.ts'
import { labelOf, parseCount, tryUnit, type UnitResult } from './common.ts'

/** Long descriptions from Translation-* files, keyed by `name\0Description-md5`. */
export type Translations = Map<string, string>

/** Debian relation fields and the document fields they fill. */
const RELATIONS: Array<[string, RelationField]> = [
  ['depends', 'depends'], ['pre-depends', 'preDepends'], ['recommends', 'recommends'],
  ['suggests', 'suggests'], ['enhances', 'enhances'], ['provides', 'provides'],
  ['conflicts', 'conflicts'], ['breaks', 'breaks'], ['replaces', 'replaces']
]

/** Checksum fields, strongest first: the document keeps one. */
const CHECKSUMS: Array<[string, string]> = [['sha256', 'sha256'], ['sha512', 'sha512'], ['sha1', 'sha1'], ['md5sum', 'md5']]

/**
 * One relation: `name[:qualifier] [(op version)] [[arch list]] [<profiles>]`.
 * Build profiles only occur in source stanzas; they are accepted and dropped.
 */
const RELATION = /^([^\s:(\[<|,]+)(?::([A-Za-z0-9-]+))?\s*(?:\(\s*(<<|<=|>=|>>|=|<|>)\s*([^\s()<>=][^\s()]*)\s*\))?\s*(?:\[([^\]]*)\])?\s*(?:<[^>]*>\s*)*$/

// Legacy `<` and `>` meant "or equal" (Debian policy 7.1), not strict comparison.
const OP_MAP: Record<string, RelationOp> = { '<<': '<<', '<=': '<=', '=': '=', '>=': '>=', '>>': '>>', '<': '<=', '>': '>=' }

function parseRelation (text: string, unit: string, field: string): Relation {
  const m = RELATION.exec(text)
  if (m == null) throw new InvalidDocumentError(unit, field, `cannot parse relation ${JSON.stringify(text)}`)
  const r: Relation = { name: m[1] }
  if (m[3] != null) { r.op = OP_MAP[m[3]]; r.version = m[4] }
  // `:any` and `:native` only say which architecture may satisfy the relation, not a target; an explicit arch is kept.
  const qualifier = m[2] != null && m[2] !== 'any' && m[2] !== 'native' ? m[2] : undefined
  const restriction = m[5]?.trim().replace(/\s+/g, ' ')
  const arch = qualifier ?? (restriction !== '' ? restriction : undefined)
  if (arch != null) r.arch = arch
  return r
}

/**
 * Comma-separated groups, `|` alternatives; empty groups (a trailing comma)
 * are ignored. Continuation lines need no folding: every separator the
 * grammar allows is `\s`, which matches the line breaks too.
 */
export function parseRelations (value: string, unit: string, field: string): RelationGroup[] {
  const out: RelationGroup[] = []
  for (const group of value.split(',')) {
    const g = group.trim()
    if (g === '') continue
    if (g.indexOf('|') < 0) { out.push(parseRelation(g, unit, field)); continue }
    const alts = g.split('|').map((a) => a.trim())
    if (alts.some((a) => a === '')) throw new InvalidDocumentError(unit, field, `empty alternative in ${JSON.stringify(g)}`)
    out.push({ anyOf: alts.map((a) => parseRelation(a, unit, field)) })
  }
  return out
}

/**
 * A Description field's text as people read it: the first line is the
 * summary; in the rest each line loses its single leading space, a lone "."
 * is an empty line (Debian policy 5.6.13).
 */
export function renderDescription (raw: string): { summary: string, description?: string } {
  const nl = raw.indexOf('\n')
  if (nl < 0) return { summary: raw.trim() }
  // Two native multi-line replaces rather than split/map/join: this runs on every long description.
  const description = raw.slice(nl + 1).replace(/^[ \t]/gm, '').replace(/^[ \t]*\.[ \t]*$/gm, '').trimEnd()
  return description === '' ? { summary: raw.slice(0, nl).trim() } : { summary: raw.slice(0, nl).trim(), description }
}

/** A comma-separated list (trim also removes the line breaks of continuation lines). */
function splitList (value: string): string[] {
  const out: string[] = []
  for (const t of value.split(',')) {
    const v = t.trim()
    if (v !== '') out.push(v)
  }
  return out
}

export interface DebianFieldOptions {
  /** Package indexes must carry a checksum (peers verify downloads against it); a .deb's own control file does not. */
  requireChecksum?: boolean
}

/** Maps one binary-package stanza (Packages index or a .deb's control file) to document fields. */
export function debianFields (s: Stanza, translations: Translations | undefined, opts: DebianFieldOptions = {}): PackageFields {
  const f = s.fields
  const name = f.get('package')
  const version = f.get('version')
  const arch = f.get('architecture')
  const unit = labelOf(name, version, arch)
  if (name == null || name === '') throw new InvalidDocumentError(unit, 'name', 'missing (no Package field)')
  if (s.duplicate != null) throw new InvalidDocumentError(unit, s.duplicate, 'field appears twice in the stanza')

  let raw = f.get('description')
  // Packages indexes carry only the first line; the long text is in Translation-*, found by name + md5.
  if (translations != null && (raw == null || raw.indexOf('\n') < 0)) {
    const md5 = f.get('description-md5')
    const long = md5 != null ? translations.get(name + '\0' + md5.toLowerCase()) : undefined
    if (long != null) raw = long
  }
  const text = raw != null ? renderDescription(raw) : undefined

  let checksum: Checksum | undefined
  for (const [key, type] of CHECKSUMS) {
    const v = f.get(key)
    if (v != null && v !== '') { checksum = { type, value: v }; break }
  }
  if (checksum == null && opts.requireChecksum === true) throw new InvalidDocumentError(unit, 'checksum', 'missing (no SHA256, SHA512, SHA1 or MD5sum field)')

  const source = f.get('source')
  const tags = f.get('tag')
  const fields: PackageFields = {
    name,
    version: version ?? '',
    arch: arch ?? '',
    summary: text?.summary,
    description: text?.description,
    section: f.get('section'),
    priority: f.get('priority'),
    maintainer: f.get('maintainer'),
    homepage: f.get('homepage'),
    // "Source: name (version)" names the source version only when it differs; the document keeps the name.
    source: source == null || source === '' ? name : source.indexOf('(') < 0 ? source : source.slice(0, source.indexOf('(')).trimEnd(),
    size: parseCount(unit, 'size', f.get('size')),
    installedSize: parseCount(unit, 'installedSize', f.get('installed-size')),
    checksum,
    location: f.get('filename'),
    tags: tags != null ? splitList(tags) : undefined
  }
  for (const [key, field] of RELATIONS) {
    const v = f.get(key)
    if (v != null && v !== '') fields[field] = parseRelations(v, unit, field)
  }
  return fields
}

function where (file: string, s: Stanza): string {
  return `${file}, stanza at line ${s.line}`
}

/** Builds the document of one Packages stanza, or the rejection that says why not. */
export function debianUnit (s: Stanza, file: string, translations: Translations | undefined): UnitResult {
  return tryUnit(where(file, s), () => buildPackage(debianFields(s, translations, { requireChecksum: true })))
}

/**
 * Units of a Packages index, streamed: one batch per decompressed chunk
 * (an async hop per unit would cost more than building it). Each batch
 * builds its units as it is iterated, one at a time: a unit is then used
 * and dropped before the next is built, so its objects die young (a batch
 * built up front outlived garbage collections and cost more in copying
 * them than in building them).
 */
export async function * importPackages (chunks: AsyncIterable<Uint8Array>, file: string, translations: Translations | undefined): AsyncGenerator<Iterable<UnitResult>> {
  for await (const batch of readStanzas(chunks, file)) yield units(batch, file, translations)
}

function * units (stanzas: Iterable<Stanza>, file: string, translations: Translations | undefined): Generator<UnitResult> {
  // Each stanza is parsed as it is reached (readStanzas), and dropped once its unit is built.
  for (const s of stanzas) yield debianUnit(s, file, translations)
}

/**
 * Loads Translation-* files (stanzas Package, Description-md5,
 * Description-<lang>) into one map. They must be complete before the
 * Packages join, so they are read first; only the raw description strings
 * are kept.
 */
export async function loadTranslations (files: string[], opts: OpenOptions = {}, into: Translations = new Map()): Promise<Translations> {
  for (const file of files) {
    const { chunks } = await openDecompressed(file, opts)
    for await (const batch of readStanzas(chunks, file)) {
      for (const s of batch) {
        const name = s.fields.get('package')
        const md5 = s.fields.get('description-md5')
        if (name == null || md5 == null) continue
        let desc = s.fields.get('description-en')
        if (desc == null) {
          for (const [k, v] of s.fields) if (k.startsWith('description-') && k !== 'description-md5') { desc = v; break }
        }
        if (desc != null) into.set(name + '\0' + md5.toLowerCase(), desc)
      }
    }
  }
  return into
}
