/**
 * LevelDB layout of a shard store (what one index peer holds), format 4:
 *   M                              format marker (JSON {format})
 *   C                              the catalog: varint jsonLength, catalog JSON, the signed bytes
 *   B term 00 range firstDoc       a posting chunk (value below)
 *   P seq                          a pack of head chunks (head-packs.ts): many (key, value) records, each
 *                                  key H term 00 range firstDoc, each value a head chunk: varint postings,
 *                                  varint docs, varint lastDoc - firstDoc, then, for a chunk of at most
 *                                  INLINE_POSTINGS postings, the chunk itself (a posting chunk value): no B
 *                                  entry is written for it
 *   R seq                          a piece of rare terms' records (rare-runs.ts): each stands for a head
 *                                  chunk with its postings inline, read back as that chunk
 *   D docId                        a document: varint idLength, id, xml (UTF-8)
 *   I id                           u32 docId
 * Numbers in keys are big-endian uint32 and terms never hold U+0000, so
 * LevelDB order is (term byte order, range, firstDoc).
 *
 * Posting chunk value: version byte, varint count, varint lastDoc - firstDoc,
 * then sub-blocks of up to SUB_BLOCK postings, each: varint lastDoc - base,
 * byteLength as a 3-byte varint, a codec block (codec.ts) with baseDoc = base, where base
 * is the chunk's firstDoc for the first sub-block and the previous sub-block's
 * last doc after. The doc bounds in front of each part let a filtered read
 * skip a chunk or sub-block without decoding it.
 *
 * Formats 1 (no inline chunks) and 2 kept each head chunk in its own entry
 * (the H key above, with its value): opening such a store moves them into
 * packs and marks it 3, so an edos that does not know packs refuses it.
 * Format 4 may hold rare pieces: an edos of format 3 would not see their
 * heads, so it refuses the store.
 *
 * Also here: the encoder of a whole write (WriteBuilder) and the decoders
 * the store reads with (readBlock merges the chunks of one block).
 */
import { ByteWriter, CorruptBlockError, EMPTY_LIST, PostingBuffer, decodeBlock, encodeBlock, type PostingList } from '../xml-twig-index/postings/codec.ts'
import type { DocFilter } from '../xml-twig-index/engine/source.ts'
import { docRecordIdEnd } from '../xml-twig-index/store/keys.ts'
import type { TermHead } from './types.ts'

import { ProtocolError } from './errors.ts'

export const FORMAT = 4
/** Formats this code reads (1 has no inline chunks; 1 and 2 have no packs, and their heads are packed when opened; 3 has no rare pieces). */
export const READ_FORMATS: readonly number[] = [1, 2, 3, 4]
export const SUB_BLOCK = 512
/**
 * A chunk of at most this many postings travels inside its head entry: the
 * planner's heads round brings the postings of rare terms along (no blocks
 * round for them), and a publish writes one entry instead of two for most
 * (term, range) chunks (R1: 1,142,000 of 1,193,000 chunks have at most 16).
 */
export const INLINE_POSTINGS = 16
/**
 * A term with at most this many postings travels whole in its heads (in a
 * catalog's first publish, where the publisher sees whole terms), whatever
 * their split by range: R1's `section = "editors"` (338
 * postings, 12-105 a range), a dependency on `libgtk-4-1` (88) or the
 * collections of a release document (116) then cost a query no blocks
 * round. R1 has 32,370 such chunks of more than INLINE_POSTINGS (1.3 M of
 * its 14.2 M postings, in 15,919 terms); 12,155 chunks still go to blocks.
 */
export const INLINE_TERM_POSTINGS = 512
/** The most inline postings a holder accepts in one head (a later publisher may inline more than this one does). */
export const INLINE_POSTINGS_MAX = 1024
export const CHUNK_VERSION = 1

/** Terms are short (tags, words, short values); a bound keeps hostile keys out of LevelDB. */
export const MAX_TERM_BYTES = 4096
export const MAX_ID_BYTES = 4096

export const P_BLOCK = 0x42
export const P_CATALOG = 0x43
export const P_DOC = 0x44
export const P_HEAD = 0x48
export const P_ID = 0x49
export const P_META = 0x4d
export const P_RARE = 0x52

export const enc = new TextEncoder()

export const dec = new TextDecoder('utf-8', { fatal: true })

export const META_KEY = Uint8Array.of(P_META)
export const CATALOG_KEY = Uint8Array.of(P_CATALOG)
/** The view (index peers, r) the held keys are placed for, as repair last left it (repair.ts). */
export const PLACED_KEY = Uint8Array.of(P_META, 0x70)
export const spaceOf = (prefix: number): { gte: Uint8Array, lt: Uint8Array } => ({ gte: Uint8Array.of(prefix), lt: Uint8Array.of(prefix + 1) })

export function readU32be (b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3]
}
export function putU32be (k: Uint8Array, at: number, n: number): void {
  k[at] = n >>> 24; k[at + 1] = (n >>> 16) & 0xff; k[at + 2] = (n >>> 8) & 0xff; k[at + 3] = n & 0xff
}

/** Bytes of the term of a chunk key (a view into it). */
export const keyTerm = (key: Uint8Array): Uint8Array => key.subarray(1, key.length - 9)
export const keyRange = (key: Uint8Array): number => readU32be(key, key.length - 8)
export const keyFirstDoc = (key: Uint8Array): number => readU32be(key, key.length - 4)

/** Every chunk key of a term: [prefix term 00, prefix term 01). */
export function termSpan (prefix: number, term: Uint8Array): { gte: Uint8Array, lt: Uint8Array } {
  const gte = new Uint8Array(term.length + 2); gte[0] = prefix; gte.set(term, 1)
  const lt = gte.slice(); lt[term.length + 1] = 1
  return { gte, lt }
}
/** Every chunk key of (term, range). */
export function rangeSpan (prefix: number, term: Uint8Array, range: number): { gte: Uint8Array, lt: Uint8Array } {
  const gte = new Uint8Array(term.length + 6); gte[0] = prefix; gte.set(term, 1); putU32be(gte, term.length + 2, range)
  if (range === 0xffffffff) return { gte, lt: termSpan(prefix, term).lt }
  const lt = gte.slice(); putU32be(lt, term.length + 2, range + 1)
  return { gte, lt }
}

/**
 * Writes the UTF-8 of `s` into `buf` at `at` (room for s.length * 3 bytes is
 * the caller's); returns where it ends. ASCII (most terms) by loop:
 * encodeInto takes a view of the buffer and a runtime call for each of a
 * publish's ~1.3 M keys.
 */
export function utf8Into (s: string, buf: Uint8Array, at: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c > 0x7f) return at + enc.encodeInto(s, buf.subarray(at)).written
    buf[at + i] = c
  }
  return at + s.length
}

/** A rare run's key in a write, or a stored rare piece's (P_RARE, a number: in a write it only tells the runs apart; rare-runs.ts). */
export function rareKey (n: number): Uint8Array { const k = new Uint8Array(5); k[0] = P_RARE; putU32be(k, 1, n); return k }
export function docKey (docId: number): Uint8Array { const k = new Uint8Array(5); k[0] = P_DOC; putU32be(k, 1, docId); return k }
export function idKey (id: Uint8Array): Uint8Array { const k = new Uint8Array(id.length + 1); k[0] = P_ID; k.set(id, 1); return k }

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
export function startsWithBytes (a: Uint8Array, prefix: Uint8Array): boolean {
  if (a.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (a[i] !== prefix[i]) return false
  return true
}

/** Reads LEB128 varints of a stored value; a value that does not parse is corruption on disk. */
export class VarintReader {
  p: number
  /** Where the value ends, and where its byte 0 is (errors count from there). */
  private end: number
  private origin = 0
  constructor (private bytes: Uint8Array, offset = 0) { this.p = offset; this.end = bytes.length }
  get done (): boolean { return this.p >= this.end }

  /** Reads bytes[from, end) from now on, positions counted from `origin`: one reader for many small values, no object each. */
  over (bytes: Uint8Array, from: number, end: number, origin = from): this {
    this.bytes = bytes; this.p = from; this.end = end; this.origin = origin
    return this
  }

  next (): number {
    const b = this.bytes
    let v = 0
    // a running multiplier, not 2 ** shift (a floating-point pow in V8: see codec.ts varintAt)
    for (let shift = 0, mul = 1; shift < 35; shift += 7, mul *= 128) {
      if (this.p >= this.end) throw new CorruptBlockError(`stored value truncated at byte ${this.p - this.origin}`)
      const x = b[this.p++]
      v += (x & 0x7f) * mul
      if (x < 0x80) return v
    }
    throw new CorruptBlockError(`stored value has an overlong varint at byte ${this.p - this.origin}`)
  }
}

/**
 * Keys and values of one write, encoded into two shared buffers: a publish
 * batch holds ~10^4..10^5 small chunks, and one allocation per key and per
 * value was most of the cost of storing them.
 */
/** A writer whose result is a view: encodeBlock can write in place, with no copy per block. */
class ViewWriter extends ByteWriter {
  override result (): Uint8Array { return this.buf.subarray(0, this.pos) }
}

/** The platform stores uint32 little-endian (the wire order of entry bounds): bounds go out and come in as views, not copied value by value. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1

/** Copies `src` into `dst` at `at`: a loop for the short keys and values most entries have (TypedArray#set costs a runtime call). */
function copyInto (dst: Uint8Array, at: number, src: Uint8Array): void {
  const n = src.length
  if (n > 48) { dst.set(src, at); return }
  for (let i = 0; i < n; i++) dst[at + i] = src[i]
}

/** copyInto for src[from, to). */
function copyRange (dst: Uint8Array, at: number, src: Uint8Array, from: number, to: number): void {
  if (to - from > 48) { dst.set(src.subarray(from, to), at); return }
  for (let i = from; i < to; i++) dst[at++] = src[i]
}

export class WriteBuilder {
  private readonly kw: ByteWriter
  private readonly vw: ViewWriter
  /** keyStart, keyEnd, valueStart, valueEnd per entry (the first `n` slots). */
  private bounds: Uint32Array
  private n = 0

  /** Initial capacities: a publish batch sizes them to its batch, so its buffers are not grown (and copied) as it fills. */
  constructor (keyBytes = 1 << 16, valueBytes = 1 << 16, entries = 1024) {
    this.kw = new ByteWriter(keyBytes)
    this.vw = new ViewWriter(valueBytes)
    this.bounds = new Uint32Array(4 * entries)
  }

  get length (): number { return this.n >>> 2 }

  private mark (start: number, end: number): void {
    if (this.n + 2 > this.bounds.length) {
      const b = new Uint32Array(Math.max(64, this.bounds.length * 2))
      b.set(this.bounds.subarray(0, this.n))
      this.bounds = b
    }
    this.bounds[this.n++] = start
    this.bounds[this.n++] = end
  }

  /** Key `prefix term 00 range firstDoc` (the term is validated: no U+0000, well-formed). */
  private termKey (prefix: number, term: string, range: number, firstDoc: number): void {
    const w = this.kw
    w.ensure(term.length * 3 + 10)
    const start = w.pos
    const buf = w.buf
    buf[w.pos++] = prefix
    w.pos = utf8Into(term, buf, w.pos)
    buf[w.pos++] = 0
    w.u32(range); w.u32(firstDoc)
    this.mark(start, w.pos)
  }

  /** termKey with the term as UTF-8 bytes term[0, termLength) (checked by the caller). */
  private termKeyBytes (prefix: number, term: Uint8Array, termLength: number, range: number, firstDoc: number): void {
    const w = this.kw
    w.ensure(termLength + 10)
    const start = w.pos
    w.buf[w.pos++] = prefix
    w.buf.set(term.subarray(0, termLength), w.pos); w.pos += termLength
    w.buf[w.pos++] = 0
    w.u32(range); w.u32(firstDoc)
    this.mark(start, w.pos)
  }

  /** A posting chunk of a validated list (layout above). */
  chunk (term: string, range: number, firstDoc: number, list: PostingList): number {
    this.termKey(P_BLOCK, term, range, firstDoc)
    const start = this.vw.pos
    this.chunkValue(firstDoc, list)
    this.mark(start, this.vw.pos)
    return this.length - 1
  }

  private chunkValue (firstDoc: number, list: PostingList): void {
    const w = this.vw
    const n = list.length
    w.ensure(12)
    w.buf[w.pos++] = CHUNK_VERSION
    w.varint(n)
    w.varint(list.docs[n - 1] - firstDoc)
    let base = firstDoc
    for (let from = 0; from < n; from += SUB_BLOCK) {
      const to = Math.min(n, from + SUB_BLOCK)
      const last = list.docs[to - 1]
      w.varint(last - base)
      // the length goes before the block: a 3-byte (padded) varint fits any block of SUB_BLOCK postings
      w.ensure(3)
      const at = w.pos
      w.pos += 3
      encodeBlock(list, from, to, base, w)
      const len = w.pos - at - 3
      w.buf[at] = (len & 0x7f) | 0x80; w.buf[at + 1] = ((len >>> 7) & 0x7f) | 0x80; w.buf[at + 2] = len >>> 14
      base = last
    }
  }

  /** A head chunk; with `inline` (the chunk's postings, at most INLINE_POSTINGS of them), the chunk itself too. */
  head (term: string, range: number, firstDoc: number, h: { postings: number, docs: number, lastDoc: number }, inline?: PostingList): number {
    this.termKey(P_HEAD, term, range, firstDoc)
    return this.headValue(firstDoc, h, inline)
  }

  private headValue (firstDoc: number, h: { postings: number, docs: number, lastDoc: number }, inline?: PostingList): number {
    const w = this.vw
    const start = w.pos
    w.varint(h.postings); w.varint(h.docs); w.varint(h.lastDoc - firstDoc)
    if (inline !== undefined) this.chunkValue(firstDoc, inline)
    this.mark(start, w.pos)
    return this.length - 1
  }

  /** head() with the term as UTF-8 bytes term[0, termLength) (a rare record read back as the head chunk it stands for). */
  headBytes (term: Uint8Array, termLength: number, range: number, firstDoc: number, h: { postings: number, docs: number, lastDoc: number }, inline?: PostingList): number {
    this.termKeyBytes(P_HEAD, term, termLength, range, firstDoc)
    return this.headValue(firstDoc, h, inline)
  }

  doc (docId: number, id: string, xml: string): number {
    const k = this.kw
    const start = k.pos
    k.ensure(5); k.buf[k.pos++] = P_DOC; k.u32(docId)
    this.mark(start, k.pos)
    const idBytes = enc.encode(id)
    const xmlBytes = enc.encode(xml)
    const w = this.vw
    const v = w.pos
    w.varint(idBytes.length); w.bytes(idBytes); w.bytes(xmlBytes)
    this.mark(v, w.pos)
    return this.length - 1
  }

  /** doc() from a local store's record (id, 00, XML as UTF-8: TwigStore.getDocumentRecords), copied without decoding. */
  docRecord (docId: number, record: Uint8Array): number {
    // a leading U+FEFF is not part of the id, as the store decodes it (TextDecoder drops it): doc() does not send it either
    const from = record[0] === 0xEF && record[1] === 0xBB && record[2] === 0xBF ? 3 : 0
    const z = docRecordIdEnd(record)
    if (z < from) throw new RangeError(`document ${docId}: a record without its id's end`)
    const k = this.kw
    const start = k.pos
    k.ensure(5); k.buf[k.pos++] = P_DOC; k.u32(docId)
    this.mark(start, k.pos)
    const w = this.vw
    const v = w.pos
    w.varint(z - from); w.ensure(record.length - 1 - from)
    w.buf.set(record.subarray(from, z), w.pos); w.buf.set(record.subarray(z + 1), w.pos + z - from)
    w.pos += record.length - 1 - from
    this.mark(v, w.pos)
    return this.length - 1
  }

  id (id: string, docId: number): number {
    const k = this.kw
    const start = k.pos
    k.ensure(id.length * 3 + 1)
    k.buf[k.pos++] = P_ID
    k.pos += enc.encodeInto(id, k.buf.subarray(k.pos)).written
    this.mark(start, k.pos)
    const v = this.vw.pos
    this.vw.u32(docId)
    this.mark(v, this.vw.pos)
    return this.length - 1
  }

  key (i: number): Uint8Array { return this.kw.buf.subarray(this.bounds[4 * i], this.bounds[4 * i + 1]) }
  value (i: number): Uint8Array { return this.vw.buf.subarray(this.bounds[4 * i + 2], this.bounds[4 * i + 3]) }

  /**
   * Entry i's key is keyBuf[keyStart(i), keyEnd(i)), its value
   * valueBuf[valueStart(i), valueEnd(i)): for loops over every entry of a
   * batch, which would otherwise make two views an entry (the buffers are
   * replaced as they grow: read them after adding).
   */
  get keyBuf (): Uint8Array { return this.kw.buf }
  get valueBuf (): Uint8Array { return this.vw.buf }
  keyStart (i: number): number { return this.bounds[4 * i] }
  keyEnd (i: number): number { return this.bounds[4 * i + 1] }
  valueStart (i: number): number { return this.bounds[4 * i + 2] }
  valueEnd (i: number): number { return this.bounds[4 * i + 3] }

  /** Empties the builder, keeping its buffers (a scratch builder encodes an entry once for r holders). */
  reset (): void { this.kw.pos = 0; this.vw.pos = 0; this.n = 0 }

  /** An entry as stored (repair copies stored entries without decoding them; the publisher copies each entry to its r holders). */
  raw (key: Uint8Array, value: Uint8Array): void {
    const kw = this.kw; const vw = this.vw
    kw.ensure(key.length); vw.ensure(value.length)
    const ks = kw.pos; copyInto(kw.buf, ks, key); kw.pos += key.length
    const vs = vw.pos; copyInto(vw.buf, vs, value); vw.pos += value.length
    this.mark(ks, kw.pos); this.mark(vs, vw.pos)
  }

  /** Entry i of `from`, copied as it is (the publisher encodes an entry once, into a scratch builder, and copies it to each holder's batch). */
  copyEntry (from: WriteBuilder, i: number): void {
    const kw = this.kw; const vw = this.vw
    const fb = from.bounds
    const k0 = fb[4 * i]; const k1 = fb[4 * i + 1]; const v0 = fb[4 * i + 2]; const v1 = fb[4 * i + 3]
    kw.ensure(k1 - k0); vw.ensure(v1 - v0)
    const ks = kw.pos; copyRange(kw.buf, ks, from.kw.buf, k0, k1); kw.pos += k1 - k0
    const vs = vw.pos; copyRange(vw.buf, vs, from.vw.buf, v0, v1); vw.pos += v1 - v0
    this.mark(ks, kw.pos); this.mark(vs, vw.pos)
  }

  /** Bytes of the keys held. */
  get keyBytes (): number { return this.kw.pos }

  /** Bytes held so far (what a batch would put on the wire). */
  get bytes (): number { return this.kw.pos + this.vw.pos + this.n * 4 }

  /**
   * The write as three wire parts: keys, values, and the entry bounds
   * (uint32 little-endian). An index peer stores these bytes as they are:
   * no decode and re-encode of every chunk on the way.
   */
  toParts (): [Uint8Array, Uint8Array, Uint8Array] {
    let bounds: Uint8Array
    if (LITTLE_ENDIAN) bounds = new Uint8Array(this.bounds.buffer, this.bounds.byteOffset, this.n * 4)
    else {
      bounds = new Uint8Array(this.n * 4)
      const view = new DataView(bounds.buffer)
      for (let i = 0; i < this.n; i++) view.setUint32(i * 4, this.bounds[i], true)
    }
    return [this.kw.buf.subarray(0, this.kw.pos), this.vw.buf.subarray(0, this.vw.pos), bounds]
  }

  /** A builder over received parts; checks that every entry lies inside its buffers and that keys are in sequence. */
  static fromParts (keys: Uint8Array, values: Uint8Array, bounds: Uint8Array): WriteBuilder {
    if (bounds.length % 16 !== 0) throw new ProtocolError(`encoded write: bounds of ${bounds.length} bytes are not whole entries (16 bytes each)`)
    let out: Uint32Array
    if (LITTLE_ENDIAN && bounds.byteOffset % 4 === 0) out = new Uint32Array(bounds.buffer, bounds.byteOffset, bounds.length / 4)
    else {
      out = new Uint32Array(bounds.length / 4)
      const view = new DataView(bounds.buffer, bounds.byteOffset, bounds.length)
      for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true)
    }
    return WriteBuilder.fromBounds(keys, values, out)
  }

  /** As fromParts, with the bounds as numbers (a compact write rebuilds them). */
  static fromBounds (keys: Uint8Array, values: Uint8Array, out: Uint32Array): WriteBuilder {
    if (out.length % 4 !== 0) throw new ProtocolError(`encoded write: ${out.length} bounds are not whole entries (4 each)`)
    const b = new WriteBuilder(0, 0, 0)
    let k = 0; let v = 0
    for (let i = 0; i < out.length; i += 4) {
      const ks = out[i]; const ke = out[i + 1]; const vs = out[i + 2]; const ve = out[i + 3]
      if (ks !== k || ke <= ks || ke > keys.length || vs !== v || ve < vs || ve > values.length) {
        throw new ProtocolError(`encoded write: entry ${i / 4} has bounds [${ks}, ${ke}) / [${vs}, ${ve}) outside or out of sequence`)
      }
      k = ke; v = ve
    }
    if (k !== keys.length || v !== values.length) throw new ProtocolError('encoded write: bytes after the last entry')
    b.kw.buf = keys; b.kw.pos = keys.length
    b.vw.buf = values; b.vw.pos = values.length
    b.bounds = out; b.n = out.length
    return b
  }
}

/** Header of a stored posting chunk: its posting count, last doc, and where its sub-blocks start. */
export function chunkHeader (value: Uint8Array, firstDoc: number): { count: number, lastDoc: number, body: number } {
  if (value[0] !== CHUNK_VERSION) throw new CorruptBlockError(`posting chunk version ${value[0]} is not ${CHUNK_VERSION}`)
  const r = new VarintReader(value, 1)
  const count = r.next()
  const lastDoc = firstDoc + r.next()
  return { count, lastDoc, body: r.p }
}

/** A head chunk as stored; `inline` is the chunk's posting chunk value when its postings travel in the head. */
export interface HeadValue { postings: number, docs: number, lastDoc: number, inline?: Uint8Array }
export function decodeHead (value: Uint8Array, firstDoc: number): HeadValue {
  const r = new VarintReader(value)
  const h: HeadValue = { postings: r.next(), docs: r.next(), lastDoc: firstDoc + r.next() }
  if (!r.done) h.inline = value.subarray(r.p)
  return h
}

/** Postings a head chunk carries inline (0 for one whose postings are in a B chunk). */
export function inlineCount (value: Uint8Array, firstDoc: number): number {
  const h = decodeHead(value, firstDoc)
  return h.inline === undefined ? 0 : chunkHeader(h.inline, firstDoc).count
}

export function decodeDoc (value: Uint8Array): { id: string, xml: string } {
  const r = new VarintReader(value)
  const n = r.next()
  return { id: dec.decode(value.subarray(r.p, r.p + n)), xml: dec.decode(value.subarray(r.p + n)) }
}

/** The two 32-bit halves of the last hash64 (a scratch, so hashing a key allocates nothing). */
export const hashOut = new Uint32Array(2)

/** A 64-bit hash of `bytes[from, to)` (two FNV-style lanes) into hashOut; its second half is never 0, so 0/0 can mark an empty slot. */
export function hash64 (bytes: Uint8Array, from: number, to: number): void {
  let a = 0x811c9dc5; let b = 0x01000193
  for (let i = from; i < to; i++) {
    const x = bytes[i]
    a = Math.imul(a ^ x, 0x01000193)
    b = Math.imul(b ^ x, 0x5bd1e995); b ^= b >>> 15
  }
  hashOut[0] = a >>> 0; hashOut[1] = (b >>> 0) || 1
}

/**
 * A set of 64-bit hashes of byte strings (open addressing): counts the
 * distinct terms and (term, range) blocks a peer holds, and pre-filters
 * rare-record lookups (rare-pieces.ts), without keeping ~10^5..10^6
 * strings in memory. A collision (odds ~ n^2 / 2^65) would make a count
 * one short or a lookup happen for nothing; it never decides a read.
 */
export class HashSet64 {
  private hi = new Uint32Array(1024)
  private lo = new Uint32Array(1024)
  size = 0

  private a = 0
  private b = 0

  private hash (bytes: Uint8Array, from: number, to: number): void {
    hash64(bytes, from, to)
    this.a = hashOut[0]; this.b = hashOut[1]
  }

  /** Adds the hash of `bytes[from, to)`; returns whether it was new. */
  add (bytes: Uint8Array, from: number, to: number): boolean {
    this.hash(bytes, from, to)
    if ((this.size + 1) * 2 > this.hi.length) this.grow()
    return this.insert(this.a, this.b, true)
  }

  /** Whether the hash of `bytes[from, to)` is in the set (true for a collision too). */
  has (bytes: Uint8Array, from: number, to: number): boolean {
    this.hash(bytes, from, to)
    return !this.insert(this.a, this.b, false)
  }

  /** Finds or (when `add`) inserts a hash; returns whether it was absent. */
  private insert (a: number, b: number, add: boolean): boolean {
    const mask = this.hi.length - 1
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask
    for (;;) {
      const h = this.hi[i]; const l = this.lo[i]
      if (h === 0 && l === 0) {
        if (add) { this.hi[i] = a; this.lo[i] = b; this.size++ }
        return true
      }
      if (h === a && l === b) return false
      i = (i + 1) & mask
    }
  }

  private grow (): void {
    const hi = this.hi; const lo = this.lo
    this.hi = new Uint32Array(hi.length * 2); this.lo = new Uint32Array(lo.length * 2); this.size = 0
    for (let i = 0; i < hi.length; i++) if (hi[i] !== 0 || lo[i] !== 0) this.insert(hi[i], lo[i], true)
  }
}

/**
 * Whether the keys of each kind (their first byte) come in strictly
 * ascending order, so that no key repeats: a publisher sends a release's
 * terms in byte order (most of its entries) and a repair its keys as
 * stored. One comparison with the previous key of the kind, where hashing
 * every key was ~25% of checking a mirror's share of a release. (A batch
 * of documents has its id entries in docId order, not id order: it takes
 * the hash set.)
 */
function ascendingByKind (b: WriteBuilder): boolean {
  const keys = b.keyBuf
  const lastStart = new Int32Array(256).fill(-1)
  const lastEnd = new Int32Array(256)
  for (let i = 0; i < b.length; i++) {
    const s = b.keyStart(i); const e = b.keyEnd(i)
    if (e === s) return false
    const kind = keys[s]
    const ps = lastStart[kind]
    if (ps >= 0) {
      const pe = lastEnd[kind]
      let j = 1
      const max = Math.min(pe - ps, e - s)
      while (j < max && keys[ps + j] === keys[s + j]) j++
      // ascending: the previous key is a proper prefix of this one, or its first differing byte is lower
      if (j === max ? pe - ps >= e - s : keys[ps + j] > keys[s + j]) return false
    }
    lastStart[kind] = s; lastEnd[kind] = e
  }
  return true
}

/**
 * Entries of `b` written again later in the same write (their counts must
 * not be taken twice). A hash set finds candidates; exact bytes decide, in
 * the rare write that has any.
 */
export function supersededIn (b: WriteBuilder): Set<number> {
  const out = new Set<number>()
  if (ascendingByKind(b)) return out
  const hashes = new HashSet64()
  let suspect = false
  const keys = b.keyBuf
  for (let i = 0; i < b.length && !suspect; i++) if (!hashes.add(keys, b.keyStart(i), b.keyEnd(i))) suspect = true
  if (!suspect) return out
  const last = new Map<string, number>()
  for (let i = 0; i < b.length; i++) {
    const k = b.key(i)
    const s = Buffer.from(k.buffer, k.byteOffset, k.length).toString('latin1')
    const prev = last.get(s)
    if (prev !== undefined) out.add(prev)
    last.set(s, i)
  }
  return out
}

/**
 * Adds a head chunk to its term's head: chunks come in key order, so equal
 * ranges are adjacent. Inline postings join the range's `inline` list; a
 * chunk overlapping earlier ones (a re-run publish) adds only docs past the
 * last one covered, as readBlock does.
 */
export function addHead (head: TermHead, key: Uint8Array, value: Uint8Array): void {
  const range = keyRange(key)
  const firstDoc = keyFirstDoc(key)
  const h = decodeHead(value, firstDoc)
  let last = head.ranges[head.ranges.length - 1]
  if (last !== undefined && last.range === range) {
    last.postings += h.postings; last.docs += h.docs; last.lastDoc = Math.max(last.lastDoc ?? 0, h.lastDoc)
  } else {
    last = { range, postings: h.postings, docs: h.docs, lastDoc: h.lastDoc }
    head.ranges.push(last)
  }
  if (h.inline === undefined) return
  const chunk = decodeChunk(h.inline, firstDoc)
  const held = last.inline
  if (held === undefined || held.length === 0) { last.inline = chunk; return }
  const cutoff = held.docs[held.length - 1]
  const out = new PostingBuffer(held.length + chunk.length)
  out.append(held)
  for (let i = 0; i < chunk.length; i++) if (chunk.docs[i] > cutoff) out.push(chunk.docs[i], chunk.starts[i], chunk.ends[i], chunk.levels[i])
  // postings counted twice by overlapping chunks are counted once: `postings - inline.length` is what the range's block holds
  last.postings -= held.length + chunk.length - out.length
  last.inline = out
}

/** The postings of a stored chunk, into `out` when given (emptied first: a checker decodes many chunks into one buffer). */
export function decodeChunk (value: Uint8Array, firstDoc: number, out?: PostingBuffer): PostingBuffer {
  const { count, body } = chunkHeader(value, firstDoc)
  return decodeChunkBody(value, body, firstDoc, out ?? new PostingBuffer(count))
}

/** decodeChunk for a chunk whose header was read (chunkHeader's `body`): its postings into `out`, cleared first. */
export function decodeChunkBody (value: Uint8Array, body: number, firstDoc: number, out: PostingBuffer): PostingBuffer {
  out.clear()
  decodeSubBlocks(value, body, firstDoc, out, -1)
  return out
}

/** The reader of decodeSubBlocks (synchronous, never re-entered): a holder checks ~2.5 M inline chunks a publish. */
const subBlocks = new VarintReader(new Uint8Array(0))

/**
 * Whether a wanted posting may lie between (fromDoc, fromStart) and
 * (toDoc, toStart), both included (toStart Infinity: the rest of toDoc):
 * lets a read skip a sub-block by its postings' positions, not only by its
 * docs (the leaves of a release document are all in one document).
 */
export type PositionRegion = (fromDoc: number, fromStart: number, toDoc: number, toStart: number) => boolean

/** Decodes the sub-blocks of a chunk from `body`, keeping docs > cutoff the filter may have, in sub-blocks the region may want. */
function decodeSubBlocks (value: Uint8Array, body: number, firstDoc: number, out: PostingBuffer, cutoff: number, filter?: DocFilter, seq?: (doc: number) => boolean, region?: PositionRegion): void {
  const r = subBlocks.over(value, body, value.length, 0)
  let base = firstDoc
  const keep = seq !== undefined ? (doc: number) => doc > cutoff && seq(doc) : cutoff >= firstDoc ? (doc: number) => doc > cutoff : undefined
  // With a region: the sub-blocks to read, each with its first posting (doc, start: the first varints after its count, see
  // encodeBlock), which bounds the postings of the sub-block before it.
  const subs: Array<{ base: number, last: number, start: number, end: number, doc: number, first: number }> | undefined = region === undefined ? undefined : []
  while (!r.done) {
    const last = base + r.next()
    const len = r.next()
    const start = r.p
    r.p += len
    if (r.p > value.length) throw new CorruptBlockError(`posting chunk sub-block overruns its value (${r.p} > ${value.length})`)
    if (last > cutoff && (filter === undefined || filter.intersects(Math.max(base, cutoff + 1), last))) {
      if (subs !== undefined) {
        const p = new VarintReader(value, start); p.next()
        const doc = base + p.next()
        subs.push({ base, last, start, end: r.p, doc, first: p.next() })
      } else if (decodeBlock(value, start, base, out, keep) !== r.p) throw new CorruptBlockError('posting chunk sub-block length does not match its postings')
    }
    base = last
  }
  if (subs === undefined || region === undefined) return
  subs.forEach((b, i) => {
    // its postings end before the next sub-block's first when that one starts in its last doc, else with its last doc
    const next = subs[i + 1]
    const to = next !== undefined && next.doc === b.last ? { doc: next.doc, start: next.first } : { doc: b.last, start: Infinity }
    if (!region(b.doc, b.first, to.doc, to.start)) return
    if (decodeBlock(value, b.start, b.base, out, keep) !== b.end) throw new CorruptBlockError('posting chunk sub-block length does not match its postings')
  })
}

/** Postings a block holds, summed over its chunks as its head sums them (a reader compares the two to spot a stale replica). */
export function heldPostings (chunks: Array<[Uint8Array, Uint8Array]>): number {
  let n = 0
  for (const [key, value] of chunks) n += chunkHeader(value, keyFirstDoc(key)).count
  return n
}

/**
 * The merged postings of one (term, range) from its chunks in key order
 * (by firstDoc): a chunk overlapping earlier ones (a re-run publish)
 * contributes only docs past the last doc already covered. `region`, when
 * given, lets whole sub-blocks be skipped (the result may still hold
 * postings outside it: the caller filters exactly).
 */
export function readBlock (chunks: Array<[Uint8Array, Uint8Array]>, filter?: DocFilter, region?: PositionRegion): PostingList {
  if (chunks.length === 0) return EMPTY_LIST
  const heads = chunks.map(([key, value]) => { const firstDoc = keyFirstDoc(key); return { firstDoc, value, ...chunkHeader(value, firstDoc) } })
  const out = new PostingBuffer(filter === undefined ? heads.reduce((n, h) => n + h.count, 0) : 8)
  const seq = filter?.sequential()
  let cutoff = -1
  for (const h of heads) {
    if (h.lastDoc > cutoff && (filter === undefined || filter.intersects(Math.max(h.firstDoc, cutoff + 1), h.lastDoc))) {
      decodeSubBlocks(h.value, h.body, h.firstDoc, out, cutoff, filter, seq, region)
    }
    if (h.lastDoc > cutoff) cutoff = h.lastDoc
  }
  return out
}
