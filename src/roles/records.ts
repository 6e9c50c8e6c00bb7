/**
 * Stored XML -> the records of the PeerApi contract. The document is the
 * truth (DESIGN.md: static properties live in the document), so records are
 * always parsed from what the index holds, never from importer-side state.
 */
import { RELATION_KINDS, type CollectionNode, type PackageRecord, type ReleaseRecord, type RelationClause, type RelationInfo, type RelationKind, type UnitKind, type UtilityRecord } from './types.ts'
import { packageId, utilityId } from '../xml-twig-index/documents/index.ts'
import { parseXml } from '../xml-twig-index/xml/parse.ts'
import type { XElement } from '../xml-twig-index/xml/tree.ts'

export interface StoredDoc { docId: number, id: string, xml: string }

const OPS = new Set(['<<', '<=', '=', '>=', '>>'])

function attr (el: XElement, name: string): string | undefined {
  for (const a of el.attributes) if (a.name === name) return a.value
  return undefined
}

function text (el: XElement): string {
  let s = ''
  for (const c of el.children) s += c.kind === 'text' ? c.value : text(c)
  return s
}

function elements (el: XElement): XElement[] {
  const out: XElement[] = []
  for (const c of el.children) if (c.kind === 'element') out.push(c)
  return out
}

function num (s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s)) return undefined
  return Number(s)
}

function relation (dep: XElement): RelationInfo {
  const r: RelationInfo = { name: attr(dep, 'name') ?? '' }
  const op = attr(dep, 'op')
  if (op !== undefined && OPS.has(op)) r.op = op as RelationInfo['op']
  const version = attr(dep, 'version')
  if (version !== undefined) r.version = version
  const arch = attr(dep, 'arch')
  if (arch !== undefined) r.arch = arch
  return r
}

function clauses (el: XElement): RelationClause[] {
  const out: RelationClause[] = []
  for (const c of elements(el)) {
    if (c.name === 'dep') out.push({ alternatives: [relation(c)] })
    else if (c.name === 'anyOf') out.push({ alternatives: elements(c).filter((d) => d.name === 'dep').map(relation) })
  }
  return out
}

function emptyRelations (): Record<RelationKind, RelationClause[]> {
  const r = {} as Record<RelationKind, RelationClause[]>
  for (const k of RELATION_KINDS) r[k] = []
  return r
}

const RELATION_SET: ReadonlySet<string> = new Set(RELATION_KINDS)
const TEXT_FIELDS = ['summary', 'description', 'section', 'priority', 'license', 'maintainer', 'homepage', 'source', 'location', 'group', 'epoch', 'release'] as const

/** A `<package>` document as a PackageRecord (every field; relations with alternatives). */
export function packageRecord (doc: StoredDoc, root: XElement = parseXml(doc.xml, { where: doc.id })): PackageRecord {
  const rec: PackageRecord = { docId: doc.docId, id: doc.id, name: '', version: '', arch: '', files: [], tags: [], relations: emptyRelations(), xml: doc.xml }
  const fields = rec as unknown as Record<string, unknown>
  for (const el of elements(root)) {
    const n = el.name
    if (n === 'name' || n === 'version' || n === 'arch') rec[n] = text(el)
    else if ((TEXT_FIELDS as readonly string[]).includes(n)) fields[n] = text(el)
    else if (n === 'size' || n === 'installedSize') rec[n] = num(text(el))
    else if (n === 'checksum') rec.checksum = { type: attr(el, 'type') ?? '', value: text(el) }
    else if (n === 'files') rec.files = elements(el).map(text)
    else if (n === 'tags') rec.tags = elements(el).map(text)
    else if (RELATION_SET.has(n)) rec.relations[n as RelationKind] = clauses(el)
  }
  return rec
}

export function utilityRecord (doc: StoredDoc, root: XElement = parseXml(doc.xml, { where: doc.id })): UtilityRecord {
  const rec: UtilityRecord = { docId: doc.docId, id: doc.id, name: '', version: '', xml: doc.xml }
  for (const el of elements(root)) {
    const n = el.name
    if (n === 'name' || n === 'version' || n === 'summary' || n === 'location') rec[n] = text(el)
    else if (n === 'size') rec.size = num(text(el))
    else if (n === 'checksum') rec.checksum = { type: attr(el, 'type') ?? '', value: text(el) }
  }
  return rec
}

/** The id a release leaf references (`pkg/name/version/arch`, `util/name/version`). */
export function unitId (kind: UnitKind, name: string, version: string, arch?: string): string {
  return kind === 'package' ? packageId(name, version, arch ?? '') : utilityId(name, version)
}

/** A `<release>` document with its collection tree; paths start with the release name. */
export function releaseRecord (doc: StoredDoc, root: XElement = parseXml(doc.xml, { where: doc.id })): ReleaseRecord {
  const name = attr(root, 'name') ?? ''
  let units = 0
  const top: CollectionNode = { name, path: [name], collections: [], units: [] }
  // Explicit stack: collections nest as deep as the input made them.
  const stack: Array<{ el: XElement, node: CollectionNode }> = [{ el: root, node: top }]
  while (stack.length > 0) {
    const { el, node } = stack.pop()!
    for (const c of elements(el)) {
      if (c.name === 'collection') {
        const cname = attr(c, 'name') ?? ''
        const child: CollectionNode = { name: cname, path: [...node.path, cname], collections: [], units: [] }
        node.collections.push(child)
        stack.push({ el: c, node: child })
      } else if (c.name === 'package' || c.name === 'utility') {
        const u = { kind: c.name as UnitKind, name: attr(c, 'name') ?? '', version: attr(c, 'version') ?? '', arch: attr(c, 'arch') }
        node.units.push({ ...u, id: unitId(u.kind, u.name, u.version, u.arch) })
        units++
      }
    }
  }
  return { name, version: attr(root, 'version') ?? '', date: attr(root, 'date') ?? '', units, docId: doc.docId, id: doc.id, root: top }
}

/** Every unit of a release tree, depth first. */
export function releaseUnits (r: ReleaseRecord): CollectionNode['units'] {
  const out: CollectionNode['units'] = []
  const stack = [r.root]
  while (stack.length > 0) {
    const n = stack.pop()!
    out.push(...n.units)
    for (let i = n.collections.length - 1; i >= 0; i--) stack.push(n.collections[i])
  }
  return out
}

/** Any stored document as its record, by its root element. */
export function documentRecord (doc: StoredDoc): PackageRecord | UtilityRecord | ReleaseRecord | undefined {
  const root = parseXml(doc.xml, { where: doc.id })
  if (root.name === 'package') return packageRecord(doc, root)
  if (root.name === 'utility') return utilityRecord(doc, root)
  if (root.name === 'release') return releaseRecord(doc, root)
  return undefined
}
