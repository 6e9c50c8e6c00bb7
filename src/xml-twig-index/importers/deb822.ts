import { isUtf8 } from 'node:buffer'
import { ImportError } from '../errors.ts'
import { detach } from '../documents/index.ts'

/**
 * deb822 (Debian control file syntax) read line by line from a byte stream:
 * stanzas separated by blank lines, `Field: value` lines, continuation lines
 * starting with a space or tab. Field names are case-insensitive; values of
 * multi-line fields keep their continuation lines (with their leading
 * space) joined by '\n', so each field's consumer decides how to fold them
 * (Description keeps lines; relations and tags split on commas and trim).
 */
export interface Stanza {
  /** Lower-cased field name -> raw value. */
  fields: Map<string, string>
  /** 1-based line of the stanza's first field. */
  line: number
  /** Set when a field appears twice: the unit is rejected, the file goes on. */
  duplicate?: string
}

// Few distinct field names exist; caching their lower-case form saves a string allocation per line.
// Cached strings are detached copies: the cache outlives the stanzas they were cut from.
const lowerCache = new Map<string, string>()
function lower (name: string): string {
  let l = lowerCache.get(name)
  if (l == null) {
    l = detach(name.toLowerCase())
    if (lowerCache.size < 4096) lowerCache.set(detach(name), l)
  }
  return l
}

/** Longest stanza accepted: a Packages stanza is a few KB; many MB without a blank line means the file is not deb822. */
const MAX_STANZA = 16 << 20

function isBlank (c: number): boolean {
  return c === 0x20 || c === 0x09
}

/**
 * Parses complete stanzas out of `text[0, end)`. Works on offsets and slices
 * each value once (a multi-line value is one slice spanning its lines). This
 * loop runs over every byte of a release's metadata, so it is written flat:
 * no closures over mutable locals (V8 would move them to a heap context).
 */
function parseRegion (text: string, end: number, firstLine: number, file: string, out: Stanza[]): number {
  let lineNo = firstLine
  let fields: Map<string, string> | null = null
  let duplicate: string | undefined
  let stanzaLine = 0
  let key = ''
  let vs = -1 // value start of the open field, -1 when none
  let ve = 0 // value end (exclusive) of the open field
  let pos = 0
  for (;;) {
    let nl = pos < end ? text.indexOf('\n', pos) : end
    if (nl < 0 || nl > end) nl = end
    const atEnd = pos >= end
    lineNo++
    const c = atEnd ? 0 : text.charCodeAt(pos)
    let blank = atEnd || pos === nl
    if (!blank && (c === 0x20 || c === 0x09)) {
      let i = pos + 1
      while (i < nl && isBlank(text.charCodeAt(i))) i++
      if (i < nl) {
        if (vs < 0) throw new ImportError(`line ${lineNo}: continuation line outside any field`, file)
        ve = nl // the value grows by this line
        pos = nl + 1
        continue
      }
      blank = true // whitespace-only lines separate stanzas, as dpkg and python-debian read them
    }
    if (vs >= 0 && (blank || c !== 0x23)) {
      // The open field ends here: store it.
      while (ve > vs && isBlank(text.charCodeAt(ve - 1))) ve--
      // A repeated field keeps its first value (the stanza is rejected anyway; its label stays stable).
      if (duplicate == null || !fields!.has(key)) fields!.set(key, text.slice(vs, ve))
      vs = -1
    }
    if (blank) {
      if (fields != null) {
        const s: Stanza = { fields, line: stanzaLine }
        if (duplicate != null) s.duplicate = duplicate
        out.push(s)
        fields = null
      }
      if (atEnd) return lineNo - 1
    } else if (c !== 0x23) { // '#' starts a comment line in deb822
      const colon = text.indexOf(':', pos)
      if (colon < 0 || colon >= nl || colon === pos) {
        throw new ImportError(`line ${lineNo}: expected "Field: value", got ${JSON.stringify(text.slice(pos, Math.min(nl, pos + 60)))}`, file)
      }
      if (fields == null) {
        fields = new Map()
        stanzaLine = lineNo
        duplicate = undefined
      }
      key = lower(text.slice(pos, colon))
      if (duplicate == null && fields.has(key)) duplicate = key
      vs = colon + 1
      while (vs < nl && isBlank(text.charCodeAt(vs))) vs++
      ve = nl
    }
    pos = nl + 1
  }
}

const LF2 = Buffer.from('\n\n')
const CRLF2 = Buffer.from('\r\n\r\n')

/**
 * Reads deb822 stanzas from decompressed chunks. Stanza boundaries (blank
 * lines) are found in the bytes and each stanza is decoded on its own, so
 * that every string a document keeps is a slice of its own stanza's text,
 * never of a shared chunk: keeping one document (or just its id) must not
 * keep megabytes of the index alive. It is also ~10x faster than decoding
 * large chunks (V8 puts strings over ~128 KB in its slow large-object
 * space). The incomplete stanza at a chunk's end is carried over, so memory
 * holds one chunk plus one stanza.
 *
 * Yields one batch per chunk, whose stanzas are decoded and parsed as the
 * batch is iterated: a stanza's strings and map are then made just before
 * its unit is built, and die young with it. Parsed up front, a chunk's
 * ~450 stanzas were alive through most garbage collections of its units,
 * and were copied and promoted by them (R1: most of the main thread's GC).
 * Iterate each batch (or leave it) before asking for the next: what a
 * consumer leaves is parsed then, so that line numbers and syntax errors
 * stay those of the whole file.
 */
export async function * readStanzas (chunks: AsyncIterable<Uint8Array>, file: string): AsyncGenerator<Iterable<Stanza>> {
  let carry: Buffer | undefined
  let lineNo = 0
  let first = true
  let sep = LF2
  const parse = (buf: Buffer, from: number, to: number, out: Stanza[]): void => {
    const bytes = buf.subarray(from, to)
    if (!isUtf8(bytes)) throw new ImportError(`line ${lineNo + 1}: invalid UTF-8 in the stanza starting here`, file)
    let text = buf.toString('utf8', from, to)
    // CRLF files (written on other systems): the CR is not part of any value.
    if (text.indexOf('\r') >= 0) text = text.replace(/\r\n/g, '\n')
    lineNo = parseRegion(text, text.length, lineNo, file, out)
  }
  // Stanzas of buf at bounds (from, to, from, to, ...), each followed by a blank line.
  function * stanzas (buf: Buffer, bounds: number[]): Generator<Stanza> {
    const out: Stanza[] = []
    for (let i = 0; i < bounds.length; i += 2) {
      parse(buf, bounds[i], bounds[i + 1], out)
      lineNo++ // the blank line after it
      for (const s of out) yield s
      out.length = 0
    }
  }
  for await (const chunk of chunks) {
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    if (carry != null && carry.length > 0) buf = Buffer.concat([carry, buf])
    let pos = 0
    if (first && buf.length > 0) {
      first = false
      if (buf[0] === 0xEF && buf[1] === 0xBB && buf[2] === 0xBF) pos = 3 // BOM
      const nl = buf.indexOf(0x0A)
      if (nl > 0 && buf[nl - 1] === 0x0D) sep = CRLF2
    }
    const bounds: number[] = []
    const half = sep.length >> 1
    for (;;) {
      const idx = buf.indexOf(sep, pos)
      if (idx < 0) break
      bounds.push(pos, idx + half) // the stanza with its last line's terminator
      pos = idx + sep.length
    }
    // A copy: the carried bytes are few, and a view would pin the whole chunk.
    carry = Buffer.from(buf.subarray(pos))
    if (bounds.length > 0) {
      const parsed = stanzas(buf, bounds)
      // No `return` on its iterator: a consumer that stops early (break) leaves the rest to be parsed here.
      yield { [Symbol.iterator]: () => ({ next: () => parsed.next() }) }
      while (parsed.next().done !== true); // what the consumer left
    }
    if (carry.length > MAX_STANZA) throw new ImportError(`line ${lineNo + 1}: stanza longer than ${MAX_STANZA} bytes (not a deb822 file?)`, file)
  }
  if (carry != null && carry.length > 0) yield stanzas(carry, [0, carry.length])
}

/** Parses one in-memory deb822 document (a .deb's control file). */
export async function parseStanzas (bytes: Uint8Array, file: string): Promise<Stanza[]> {
  const out: Stanza[] = []
  async function * one (): AsyncGenerator<Uint8Array> { yield bytes }
  for await (const batch of readStanzas(one(), file)) out.push(...batch)
  return out
}
