import { forEachToken, tokenize } from '../tokens.ts'
import type { XElement } from '../xml/tree.ts'
import { VALUE_MAX, sortableNumber } from './terms.ts'
import { xsNumber } from '../query/evaluate.ts'
import { writeEscaped, type ByteSink } from '../xml/serialize.ts'

/**
 * Receives the postings of one document. A term is `prefix + suffix`
 * (terms.ts): the two come apart so that a writer can key its tables by
 * the shared prefix (`e:package`, `v:section=`) and the value, and not
 * build one new string per posting.
 */
export type PostingSink = (prefix: string, suffix: string, start: number, end: number, level: number) => void

/** Term prefixes of one element or attribute name, made once per name. */
interface NamePrefixes { node: string, text: string, value: string, number: string, long: string }
const elementPrefixes = new Map<string, NamePrefixes>()
const attributePrefixes = new Map<string, NamePrefixes>()

function prefixesOf (name: string, attribute: boolean): NamePrefixes {
  const cache = attribute ? attributePrefixes : elementPrefixes
  let p = cache.get(name)
  if (p === undefined) {
    const at = attribute ? '@' : ''
    p = { node: attribute ? `a:${name}` : `e:${name}`, text: `t:${name}`, value: `v:${at}${name}=`, number: `N:${at}${name}=`, long: `L:${at}${name}` }
    if (cache.size < 10_000) cache.set(name, p) // names are few in real metadata; hostile input cannot grow this without bound
  }
  return p
}

/**
 * Sortable key of a value that the language reads as a number (fn:number,
 * see query/evaluate.ts); a cheap reject first since most values are words.
 */
function numeric (value: string): string | undefined {
  // Only digits, signs, '.', 'e'/'E', 'INF' and XML whitespace can make a number.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || c === 46 || c === 43 || c === 45 || c === 101 || c === 69 || c === 73 || c === 78 || c === 70 || c === 32 || c === 9 || c === 10 || c === 13)) return undefined
  }
  const n = xsNumber(value)
  return Number.isNaN(n) ? undefined : sortableNumber(n)
}

/**
 * Emits every posting of a numbered document tree (see terms.ts). Iterative
 * post-order walk: string-values are built bottom-up, capped at VALUE_MAX + 1
 * characters since longer ones only need to be known as long.
 * Returns the number of postings emitted.
 */
export function extractPostings (root: XElement, sink: PostingSink): number {
  let count = 0
  // One posting per distinct token of a text node: `seen` maps a token to the last node that emitted it.
  const seen = new Map<string, number>()
  let wPrefix = ''; let wStart = 0; let wLevel = 0
  const visit = (t: string): void => {
    if (seen.get(t) === wStart) return
    seen.set(t, wStart)
    sink(wPrefix, t, wStart, wStart, wLevel)
    count++
  }
  const words = (text: string, prefix: string, start: number, level: number): void => {
    wPrefix = prefix; wStart = start; wLevel = level
    forEachToken(text, visit)
  }
  // Frame: element, its prefixes, next child index, accumulated (capped) string value, its true length.
  const stack: Array<{ el: XElement, p: NamePrefixes, i: number, value: string, length: number }> = []
  const open = (el: XElement): void => {
    const p = prefixesOf(el.name, false)
    sink(p.node, '', el.start, el.end, el.level); count++
    for (const a of el.attributes) {
      const ap = prefixesOf(a.name, true)
      sink(ap.node, '', a.start, a.end, a.level); count++
      if (a.value.length <= VALUE_MAX) {
        sink(ap.value, a.value, a.start, a.end, a.level); count++
        const num = numeric(a.value)
        if (num !== undefined) { sink(ap.number, num, a.start, a.end, a.level); count++ }
      } else {
        sink(ap.long, '', a.start, a.end, a.level); count++
      }
      words(a.value, 'w:@', a.start, a.level)
    }
    stack.push({ el, p, i: 0, value: '', length: 0 })
  }
  open(root)
  while (stack.length > 0) {
    const f = stack[stack.length - 1]
    if (f.i < f.el.children.length) {
      const c = f.el.children[f.i++]
      if (c.kind === 'text') {
        sink(f.p.text, '', c.start, c.end, c.level); count++
        words(c.value, 'w:', c.start, c.level)
        f.length += c.value.length
        if (f.value.length <= VALUE_MAX) f.value += c.value.length <= VALUE_MAX + 1 - f.value.length ? c.value : c.value.slice(0, VALUE_MAX + 1 - f.value.length)
      } else {
        open(c)
      }
      continue
    }
    stack.pop()
    const el = f.el
    if (f.length > VALUE_MAX) {
      sink(f.p.long, '', el.start, el.end, el.level); count++
    } else if (f.length > 0) {
      sink(f.p.value, f.value, el.start, el.end, el.level); count++
      const num = numeric(f.value)
      if (num !== undefined) { sink(f.p.number, num, el.start, el.end, el.level); count++ }
    }
    const parent = stack[stack.length - 1]
    if (parent != null) {
      parent.length += f.length
      if (parent.value.length <= VALUE_MAX) parent.value += f.value.slice(0, VALUE_MAX + 1 - parent.value.length)
    }
  }
  return count
}

/**
 * Postings as flat records, for a bulk import: no string per posting. Each
 * record is RECORD int32s (code, suffix length, start, end, level); the
 * suffix's UTF-16 code units follow one another in `chars`. `code` is
 * prefix id * 2, + 1 for a word (the consumer keeps one posting per
 * distinct token of a node: dedup there is one array test per term id,
 * here it would be a Map per text). A code of -1 marks the start of a
 * document; its `start` field holds the docId. A code of WORDS - p (p a
 * prefix id) carries the raw text of an all-ASCII text or attribute value:
 * the consumer cuts it into words with prefix p (the ASCII scan of
 * tokens.ts), so that the thread that extracts does not write a record per
 * word.
 */
export const RECORD = 5
export const WORDS = -2

/** Buffer's 'utf16le' writes a string's code units as a Uint16Array holds them only on a little-endian machine. */
const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1
/**
 * Strings at least this long are copied into `chars` by Buffer.write
 * (native); shorter ones by a loop, where the call would cost more than
 * the copy. Descriptions are most of the chars of a Debian import.
 */
const NATIVE_COPY = 24
const NON_ASCII = /[^\x00-\x7f]/

export class TermRecords {
  recs: Int32Array
  /** Records written. */
  n = 0
  chars: Uint16Array
  /** Code units written. */
  c = 0
  /** `chars` as a Buffer, for native copies. */
  private charBytes: Buffer
  /** Prefix strings by id: consumers read the ones added since they last looked. */
  readonly prefixes: string[] = []
  private readonly prefixIds = new Map<string, number>()

  constructor (records = 4096, chars = 16384) {
    this.recs = new Int32Array(records * RECORD)
    this.chars = new Uint16Array(chars)
    this.charBytes = bytesOf(this.chars)
  }

  prefixId (prefix: string): number {
    let id = this.prefixIds.get(prefix)
    if (id === undefined) { id = this.prefixes.length; this.prefixes.push(prefix); this.prefixIds.set(prefix, id) }
    return id
  }

  /** Hands over the buffers (to transfer them) and goes on with `next` (buffers given back), or new ones of the same size. */
  take (next?: { recs: Int32Array, chars: Uint16Array }): { recs: Int32Array, chars: Uint16Array } {
    const taken = { recs: this.recs, chars: this.chars }
    this.recs = next !== undefined && next.recs.length >= this.recs.length ? next.recs : new Int32Array(this.recs.length)
    this.chars = next !== undefined && next.chars.length >= this.chars.length ? next.chars : new Uint16Array(this.chars.length)
    this.charBytes = bytesOf(this.chars)
    this.clear()
    return taken
  }

  /** Empties the buffers (prefix ids stay: they name the same prefixes for the whole import). */
  clear (): void { this.n = 0; this.c = 0 }

  document (docId: number): void { this.record(-1, 0, docId, 0, 0) }

  record (code: number, length: number, start: number, end: number, level: number): void {
    let o = this.n * RECORD
    if (o + RECORD > this.recs.length) { const r = new Int32Array(this.recs.length * 2); r.set(this.recs); this.recs = r }
    const r = this.recs
    r[o++] = code; r[o++] = length; r[o++] = start; r[o++] = end; r[o] = level
    this.n++
  }

  reserveChars (n: number): void {
    if (this.c + n <= this.chars.length) return
    const c = new Uint16Array(Math.max(this.chars.length * 2, this.c + n)); c.set(this.chars.subarray(0, this.c)); this.chars = c
    this.charBytes = bytesOf(c)
  }

  /** Appends the code units of `s` to `chars`. */
  putChars (s: string): void {
    const n = s.length
    this.reserveChars(n)
    if (n >= NATIVE_COPY && LITTLE_ENDIAN) {
      this.charBytes.write(s, this.c * 2, 'utf16le')
    } else {
      const chars = this.chars
      for (let i = 0, c = this.c; i < n; i++) chars[c++] = s.charCodeAt(i)
    }
    this.c += n
  }

  /** A posting whose suffix is `s`. */
  withSuffix (code: number, s: string, start: number, end: number, level: number): void {
    this.putChars(s)
    this.record(code, s.length, start, end, level)
  }
}

function bytesOf (chars: Uint16Array): Buffer { return Buffer.from(chars.buffer, chars.byteOffset, chars.byteLength) }

/** Prefix ids of one name for one TermRecords (names repeat: resolved once per import). */
interface NameCodes { owner: TermRecords | undefined, node: number, value: number, number: number, long: number, text: number }
const elementCodes = new Map<string, NameCodes>()
const attributeCodes = new Map<string, NameCodes>()

function codesOf (name: string, attribute: boolean, out: TermRecords): NameCodes {
  const cache = attribute ? attributeCodes : elementCodes
  let k = cache.get(name)
  if (k === undefined) {
    k = { owner: undefined, node: 0, value: 0, number: 0, long: 0, text: 0 }
    if (cache.size < 10_000) cache.set(name, k)
  }
  if (k.owner !== out) {
    const p = prefixesOf(name, attribute)
    k.owner = out
    k.node = out.prefixId(p.node) * 2; k.value = out.prefixId(p.value) * 2; k.number = out.prefixId(p.number) * 2
    k.long = out.prefixId(p.long) * 2; k.text = out.prefixId(p.text) * 2
  }
  return k
}

const numberView = new DataView(new ArrayBuffer(8))
const HEX = Uint16Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0))

/** The N: posting of a value the language reads as a number: the chars of sortableNumber (terms.ts), written in place. */
function numberRecord (out: TermRecords, code: number, value: string, start: number, end: number, level: number): void {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || c === 46 || c === 43 || c === 45 || c === 101 || c === 69 || c === 73 || c === 78 || c === 70 || c === 32 || c === 9 || c === 10 || c === 13)) return
  }
  const n = xsNumber(value)
  if (Number.isNaN(n)) return
  numberView.setFloat64(0, n === 0 ? 0 : n)
  let hi = numberView.getUint32(0); let lo = numberView.getUint32(4)
  if ((hi & 0x80000000) !== 0) { hi = ~hi >>> 0; lo = ~lo >>> 0 } else { hi = (hi | 0x80000000) >>> 0 }
  out.reserveChars(16)
  const chars = out.chars
  let c = out.c
  for (let s = 28; s >= 0; s -= 4) chars[c++] = HEX[(hi >>> s) & 15]
  for (let s = 28; s >= 0; s -= 4) chars[c++] = HEX[(lo >>> s) & 15]
  out.c = c
  out.record(code, 16, start, end, level)
}

/**
 * The words of a text: an all-ASCII text goes as one WORDS record with its
 * raw chars (the consumer cuts it); a text with a non-ASCII
 * character takes tokenize()'s Unicode path, a record per word.
 */
function wordRecords (out: TermRecords, code: number, text: string, start: number, level: number): void {
  const n = text.length
  if (n === 0) return
  if (n >= NATIVE_COPY) {
    // A long text is checked and copied natively.
    if (NON_ASCII.test(text)) {
      for (const t of tokenize(text)) out.withSuffix(code, t, start, start, level)
    } else {
      out.putChars(text)
      out.record(WORDS - (code >> 1), n, start, start, level)
    }
    return
  }
  out.reserveChars(n)
  const chars = out.chars
  const c = out.c
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i)
    if (ch >= 0x80) {
      for (const t of tokenize(text)) out.withSuffix(code, t, start, start, level)
      return
    }
    chars[c + i] = ch
  }
  out.c = c + n
  out.record(WORDS - (code >> 1), n, start, start, level)
}

/** Writes a name (element or attribute) as UTF-8: names need no escaping. */
function writeName (xml: ByteSink, name: string): void {
  writeEscaped(xml, name, false)
}

function writeByte (xml: ByteSink, b: number): void {
  xml.ensure(1)
  xml.buf[xml.pos++] = b
}

/** A frame of encodeDocument's walk: element, its codes, its record (whose end is known at close), next child, accumulated (capped) string value, its true length. */
interface Frame { el: XElement, k: NameCodes, rec: number, i: number, value: string, length: number }
/** encodeDocument's frames, kept from one document to the next: a frame object per element was ~8% of an import's allocation. */
const frames: Frame[] = []
const NO_ELEMENT: XElement = { kind: 'element', name: '', attributes: [], children: [], parent: null, start: 0, end: 0, level: 0 }

/**
 * One walk of a document for a bulk import: numbers it (structural ids, as
 * numberTree does), writes its XML to `xml` as UTF-8 (the bytes of
 * serialize()'s output), and appends its postings as records to `out`
 * after a document marker for `docId` (the postings of extractPostings(),
 * in the same order; words are not deduplicated here, see TermRecords).
 * One walk instead of three, and no XML string: the import stores bytes.
 */
export function encodeDocument (root: XElement, docId: number, xml: ByteSink, out: TermRecords): void {
  out.document(docId)
  const word = out.prefixId('w:') * 2 + 1
  const attributeWord = out.prefixId('w:@') * 2 + 1
  let next = 0
  let depth = 0
  const open = (el: XElement, level: number): void => {
    el.start = next++
    el.level = level
    const k = codesOf(el.name, false, out)
    const rec = out.n
    out.record(k.node, 0, el.start, 0, level)
    writeByte(xml, 0x3c) // <
    writeName(xml, el.name)
    for (const a of el.attributes) {
      a.start = a.end = next++
      a.level = level + 1
      a.parent = el
      const ak = codesOf(a.name, true, out)
      out.record(ak.node, 0, a.start, a.end, a.level)
      if (a.value.length <= VALUE_MAX) {
        out.withSuffix(ak.value, a.value, a.start, a.end, a.level)
        numberRecord(out, ak.number, a.value, a.start, a.end, a.level)
      } else {
        out.record(ak.long, 0, a.start, a.end, a.level)
      }
      wordRecords(out, attributeWord, a.value, a.start, a.level)
      writeByte(xml, 0x20) // space
      writeName(xml, a.name)
      writeByte(xml, 0x3d); writeByte(xml, 0x22) // ="
      writeEscaped(xml, a.value, true)
      writeByte(xml, 0x22)
    }
    if (el.children.length === 0) { writeByte(xml, 0x2f); writeByte(xml, 0x3e) } else writeByte(xml, 0x3e) // /> or >
    const f = frames[depth]
    if (f === undefined) frames.push({ el, k, rec, i: 0, value: '', length: 0 })
    else { f.el = el; f.k = k; f.rec = rec; f.i = 0; f.value = ''; f.length = 0 }
    depth++
  }
  open(root, 1)
  while (depth > 0) {
    const f = frames[depth - 1]
    if (f.i < f.el.children.length) {
      const c = f.el.children[f.i++]
      c.parent = f.el
      if (c.kind === 'text') {
        c.start = c.end = next++
        c.level = f.el.level + 1
        out.record(f.k.text, 0, c.start, c.end, c.level)
        wordRecords(out, word, c.value, c.start, c.level)
        writeEscaped(xml, c.value, false)
        f.length += c.value.length
        if (f.value.length <= VALUE_MAX) f.value += c.value.length <= VALUE_MAX + 1 - f.value.length ? c.value : c.value.slice(0, VALUE_MAX + 1 - f.value.length)
      } else {
        open(c, f.el.level + 1)
      }
      continue
    }
    depth--
    const el = f.el
    f.el = NO_ELEMENT // the pool must not keep the last document alive
    el.end = next++
    out.recs[f.rec * RECORD + 3] = el.end
    if (el.children.length > 0) {
      writeByte(xml, 0x3c); writeByte(xml, 0x2f) // </
      writeName(xml, el.name)
      writeByte(xml, 0x3e)
    }
    if (f.length > VALUE_MAX) {
      out.record(f.k.long, 0, el.start, el.end, el.level)
    } else if (f.length > 0) {
      out.withSuffix(f.k.value, f.value, el.start, el.end, el.level)
      numberRecord(out, f.k.number, f.value, el.start, el.end, el.level)
    }
    if (depth > 0) {
      const parent = frames[depth - 1]
      parent.length += f.length
      if (parent.value.length <= VALUE_MAX) parent.value += f.value.slice(0, VALUE_MAX + 1 - parent.value.length)
    }
  }
}
