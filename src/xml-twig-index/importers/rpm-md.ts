import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { ImportError, InvalidDocumentError } from '../errors.ts'
import { buildPackage, detach, rpmEvr, type PackageFields, type Relation, type RelationOp } from '../documents/index.ts'
import { labelOf, parseCount, tryUnit, type UnitResult } from './common.ts'

export const COMMON_NS = 'http://linux.duke.edu/metadata/common'
export const RPM_NS = 'http://linux.duke.edu/metadata/rpm'

/** Bounds: one package element, and the prolog before the first package. */
const MAX_PACKAGE = 32 << 20
const MAX_PROLOG = 1 << 20
const DECODE_PIECE = 32 * 1024
/** Longer than every token searched for across piece boundaries. */
const TAIL = 16

/** RPM sense flags as primary.xml spells them, in Debian's operator spelling. */
export const RPM_FLAGS: Readonly<Record<string, RelationOp>> = { LT: '<<', LE: '<=', EQ: '=', GE: '>=', GT: '>>' }

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/** Thrown inside the XML parser's callbacks; turned into an ImportError with the position by the caller. */
class EntityError extends Error {
  constructor (message: string) { super(message); this.name = 'EntityError' }
}

/**
 * XML's own entities only (predefined and character references): no DTD is
 * read, so any other `&name;` is undefined and the file is not well-formed.
 * Replaces fast-xml-parser's decoder, which leaves `&#38;` undecoded and
 * undefined entities as literal text.
 */
function decodeEntities (text: string): string {
  if (text.indexOf('&') < 0) return text
  return text.replace(/&([^;&<\s]*)(;?)/g, (m: string, body: string, semi: string) => {
    if (semi === '') throw new EntityError(`bare '&' in ${JSON.stringify(text.slice(0, 60))}`)
    const named = PREDEFINED[body]
    if (named != null) return named
    const num = /^#x([0-9a-fA-F]{1,6})$/.exec(body) ?? /^#([0-9]{1,7})$/.exec(body)
    if (num == null) throw new EntityError(`undefined entity ${m}`)
    const cp = parseInt(num[1], body[1] === 'x' ? 16 : 10)
    const legal = cp === 0x9 || cp === 0xA || cp === 0xD || (cp >= 0x20 && cp <= 0xD7FF) || (cp >= 0xE000 && cp <= 0xFFFD) || (cp >= 0x10000 && cp <= 0x10FFFF)
    if (!legal) throw new EntityError(`character reference ${m} is not an XML character`)
    return String.fromCodePoint(cp)
  })
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@',
  parseTagValue: false,
  parseAttributeValue: false,
  // Prefixes are the document's choice; the names under <package> are unambiguous without them.
  removeNSPrefix: true,
  isArray: (name: string) => name === 'entry' || name === 'file',
  processEntities: true,
  entityDecoder: {
    setExternalEntities: () => {},
    addInputEntities: () => { throw new EntityError('entity declarations are not accepted') },
    reset: () => {},
    setXmlVersion: () => {},
    decode: decodeEntities
  }
})

type Node = Record<string, unknown>

function text (v: unknown): string | undefined {
  if (v == null) return undefined
  if (typeof v === 'string') return v
  if (typeof v === 'object' && !Array.isArray(v)) {
    const t = (v as Node)['#text']
    return t == null ? '' : String(t)
  }
  return undefined
}

function attr (v: unknown, name: string): string | undefined {
  if (v == null || typeof v !== 'object' || Array.isArray(v)) return undefined
  const a = (v as Node)['@' + name]
  return a == null ? undefined : String(a)
}

function child (v: unknown, name: string): unknown {
  return v != null && typeof v === 'object' && !Array.isArray(v) ? (v as Node)[name] : undefined
}

function entries (format: unknown, name: string, unit: string, field: string, skip?: (name: string) => boolean): Relation[] | undefined {
  const list = child(child(format, name), 'entry')
  if (!Array.isArray(list) || list.length === 0) return undefined
  const out: Relation[] = []
  for (const e of list) {
    const n = attr(e, 'name')
    if (n == null || n === '') throw new InvalidDocumentError(unit, field, 'rpm:entry without a name')
    if (skip?.(n) === true) continue
    const r: Relation = { name: n }
    const flags = attr(e, 'flags')
    const ver = attr(e, 'ver')
    if (flags != null && ver != null) {
      const op = RPM_FLAGS[flags]
      if (op == null) throw new InvalidDocumentError(unit, field, `entry ${n}: unknown flags ${JSON.stringify(flags)}`)
      r.op = op
      r.version = rpmEvr(attr(e, 'epoch'), ver, attr(e, 'rel'))
    }
    out.push(r)
  }
  return out
}

/** rpmlib(...) requirements name features of rpm itself, not packages; createrepo leaves them out too. */
export function isRpmlib (name: string): boolean {
  return name.startsWith('rpmlib(')
}

/** Maps one parsed `<package>` element to document fields. */
export function rpmFields (pkg: Node): PackageFields {
  const name = text(pkg.name)
  const arch = text(pkg.arch)
  const v = pkg.version
  const ver = attr(v, 'ver')
  const epoch = attr(v, 'epoch') ?? '0'
  const rel = attr(v, 'rel')
  const version = ver != null && ver !== '' ? rpmEvr(epoch, ver, rel) : ''
  const unit = labelOf(name, version, arch)
  if (name == null || name === '') throw new InvalidDocumentError(unit, 'name', 'missing')
  const sum = pkg.checksum
  const digest = text(sum)
  if (sum == null || digest == null || digest === '') throw new InvalidDocumentError(unit, 'checksum', 'missing')
  const type = attr(sum, 'type') ?? ''
  const size = pkg.size
  const format = pkg.format
  const files = child(format, 'file')
  return {
    name,
    version,
    arch: arch ?? '',
    summary: text(pkg.summary),
    description: text(pkg.description),
    license: text(child(format, 'license')),
    maintainer: text(pkg.packager),
    homepage: text(pkg.url),
    source: text(child(format, 'sourcerpm')),
    size: parseCount(unit, 'size', attr(size, 'package')),
    installedSize: parseCount(unit, 'installedSize', attr(size, 'installed')),
    // Old createrepo wrote "sha" for SHA-1.
    checksum: { type: type === 'sha' ? 'sha1' : type, value: digest },
    location: attr(pkg.location, 'href'),
    epoch,
    release: rel,
    group: text(child(format, 'group')),
    files: Array.isArray(files) ? files.map((f) => text(f) ?? '') : undefined,
    depends: entries(format, 'requires', unit, 'depends', isRpmlib),
    recommends: entries(format, 'recommends', unit, 'recommends'),
    suggests: entries(format, 'suggests', unit, 'suggests'),
    enhances: entries(format, 'enhances', unit, 'enhances'),
    provides: entries(format, 'provides', unit, 'provides'),
    conflicts: entries(format, 'conflicts', unit, 'conflicts'),
    obsoletes: entries(format, 'obsoletes', unit, 'obsoletes')
  }
}

function countLines (s: string, from = 0, to = s.length): number {
  let n = 0
  for (let i = s.indexOf('\n', from); i >= 0 && i < to; i = s.indexOf('\n', i + 1)) n++
  return n
}

const FORBIDDEN = /<!(DOCTYPE|ENTITY)/i
const PACKAGE_OPEN = /<package[\s>/]/g

/**
 * Streams the units of an RPM repodata primary.xml. The text is cut into
 * `<package>...</package>` pieces (the metadata element around them is
 * checked, not parsed), and each piece is validated and parsed on its own,
 * so memory holds one package at a time. DTDs and entity declarations are
 * refused anywhere in the file. Limitation: a literal `</package>` inside
 * a CDATA section would end the piece early (createrepo never writes CDATA).
 */
export async function * importPrimary (chunks: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<UnitResult[]> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let buf = ''
  let line = 1 // line of buf[0]
  let prolog: string | null = '' // text before the first package, until it is checked
  let inPackage = false
  let searchFrom = 0
  let declared: number | undefined
  let found = 0
  let rootOpen = false
  let rootClosed = false
  const fail = (message: string, at = line): never => { throw new ImportError(`line ${at}: ${message}`, file) }
  const forbid = (text: string, at: number): void => {
    const m = FORBIDDEN.exec(text)
    if (m != null) fail(`<!${m[1]}> is not accepted (no DTDs or entity declarations)`, at + countLines(text, 0, m.index))
  }
  const checkGap = (gap: string): void => {
    forbid(gap, line)
    if (gap.includes('</metadata>')) rootClosed = true
  }
  const checkProlog = (): void => {
    if (prolog == null) return
    checkGap(prolog)
    const body = prolog.replace(/^\uFEFF/, '').replace(/<\?[\s\S]*?\?>|<!--[\s\S]*?-->/g, '').trimStart()
    if (body !== '' && !body.startsWith('<')) fail('content before the root element: not XML (is this RPM primary.xml?)', 1)
    // The root element is the first tag that is not a declaration, comment or PI.
    const root = /<([A-Za-z_][\w.:-]*)([^>]*)>/.exec(prolog.replace(/<!--[\s\S]*?-->/g, ''))
    if (root != null) {
      const local = root[1].replace(/^.*:/, '')
      if (local !== 'metadata') fail(`root element <${root[1]}> is not RPM primary metadata <metadata xmlns="${COMMON_NS}">`, 1)
      const ns = /\sxmlns\s*=\s*["']([^"']*)["']/.exec(root[2])
      if (ns != null && ns[1] !== COMMON_NS) fail(`<metadata> namespace ${ns[1]} is not ${COMMON_NS} (filelists or other metadata?)`, 1)
      const n = /\spackages\s*=\s*["'](\d+)["']/.exec(root[2])
      if (n != null) declared = Number(n[1])
      rootOpen = true
      if (root[2].endsWith('/')) rootClosed = true
    }
    prolog = null
  }
  const unit = (piece: string, at: number): UnitResult => {
    // Inside a package only CDATA and comments may start with "<!" (their content is not markup).
    if (piece.includes('<!')) forbid(piece.replace(/<!\[CDATA\[[\s\S]*?\]\]>|<!--[\s\S]*?-->/g, (m) => m.replace(/[^\n]/g, '')), at)
    const valid = XMLValidator.validate(piece)
    if (valid !== true) fail(valid.err.msg, at + valid.err.line - 1)
    let parsed: Node
    try {
      parsed = parser.parse(piece) as Node
    } catch (err) {
      if (err instanceof EntityError) fail(err.message, at)
      throw new ImportError(`line ${at}: ${(err as Error).message}`, file, { cause: err })
    }
    found++
    const pkg = parsed.package as Node
    return tryUnit(`${file}, line ${at}`, () => buildPackage(rpmFields(typeof pkg === 'object' && pkg != null ? pkg : {})))
  }
  const scan = function * (): Generator<UnitResult> {
    for (;;) {
      if (inPackage) {
        const end = buf.indexOf('</package>', searchFrom)
        if (end < 0) {
          if (buf.length > MAX_PACKAGE) fail(`<package> longer than ${MAX_PACKAGE} characters`)
          searchFrom = Math.max(0, buf.length - 9)
          return
        }
        // A copy, not a view of buf: the parsed values are views of the piece, and must not pin buf.
        const piece = detach(buf.slice(0, end + 10))
        const at = line
        line += countLines(piece)
        buf = buf.slice(end + 10)
        inPackage = false
        searchFrom = 0
        yield unit(piece, at)
      } else {
        PACKAGE_OPEN.lastIndex = 0
        const m = PACKAGE_OPEN.exec(buf)
        // Keep a tail that may hold the start of a split "<package", "</metadata>" or "<!DOCTYPE".
        const cut = m != null ? m.index : Math.max(0, buf.length - TAIL)
        const gap = buf.slice(0, cut)
        if (prolog != null) {
          prolog += gap
          if (prolog.length > MAX_PROLOG) fail(`no <package> in the first ${MAX_PROLOG} characters`, 1)
          if (m != null) checkProlog()
        } else {
          checkGap(buf.slice(0, m != null ? cut : buf.length))
        }
        line += countLines(gap)
        buf = buf.slice(cut)
        if (m == null) return
        if (rootClosed) fail('<package> after the end of <metadata>')
        inPackage = true
      }
    }
  }
  const decode = (chunk?: Uint8Array): string => {
    try {
      return chunk == null ? decoder.decode() : decoder.decode(chunk, { stream: true })
    } catch (err) {
      throw new ImportError(`invalid UTF-8 after line ${line}`, file, { cause: err })
    }
  }
  for await (const chunk of chunks) {
    const out: UnitResult[] = []
    // Small pieces keep strings out of V8's slow large-object space (see deb822.ts).
    for (let i = 0; i < chunk.length; i += DECODE_PIECE) {
      buf += decode(chunk.subarray(i, Math.min(chunk.length, i + DECODE_PIECE)))
      for (const u of scan()) out.push(u)
    }
    if (out.length > 0) yield out
  }
  buf += decode()
  const last = [...scan()]
  if (last.length > 0) yield last
  if (inPackage) fail('unterminated <package> (truncated file?)')
  if (prolog != null) { prolog += buf; buf = ''; checkProlog() } else checkGap(buf)
  if (!rootOpen && found === 0) throw new ImportError('no RPM primary metadata (<metadata> or <package>) found', file)
  if (rootOpen && !rootClosed) fail('<metadata> is not closed (truncated file?)')
  if (declared != null && declared !== found) throw new ImportError(`<metadata packages="${declared}"> but ${found} <package> elements found`, file)
}
