/**
 * Posting codec. A posting is (docId, start, end, level); a list is sorted by
 * (docId, start). A block encodes consecutive postings of one term:
 *   varint count, then per posting: varint docDelta (from the previous
 *   posting's doc, the first one from the block's base doc), varint start
 *   (delta from the previous start when in the same doc), varint end - start,
 *   varint level.
 * Decoding fills columnar typed arrays (PostingList), which is what the
 * joins read.
 */
/** Columnar postings. The arrays may be longer than `length` (spare capacity): only the first `length` entries count. */
export interface PostingList {
  readonly length: number
  readonly docs: Uint32Array
  readonly starts: Uint32Array
  readonly ends: Uint32Array
  readonly levels: Uint16Array
}

export const EMPTY_LIST: PostingList = {
  length: 0, docs: new Uint32Array(0), starts: new Uint32Array(0), ends: new Uint32Array(0), levels: new Uint16Array(0)
}

/** Growable columnar buffer of postings; the writer side of a list. */
export class PostingBuffer implements PostingList {
  length = 0
  docs: Uint32Array
  starts: Uint32Array
  ends: Uint32Array
  levels: Uint16Array
  constructor (capacity = 8) {
    this.docs = new Uint32Array(capacity)
    this.starts = new Uint32Array(capacity)
    this.ends = new Uint32Array(capacity)
    this.levels = new Uint16Array(capacity)
  }

  push (doc: number, start: number, end: number, level: number): void {
    if (this.length === this.docs.length) this.grow(this.length * 2 + 8)
    const i = this.length++
    this.docs[i] = doc; this.starts[i] = start; this.ends[i] = end; this.levels[i] = level
  }

  /** Appends postings [from, to) of another list. */
  append (src: PostingList, from = 0, to = src.length): void {
    const n = to - from
    if (n <= 0) return
    if (this.length + n > this.docs.length) this.grow(Math.max(this.length + n, this.docs.length * 2))
    if (n <= 32) {
      // A few postings (one document's): a loop, where four views and four copies cost more than the copying itself.
      const { docs, starts, ends, levels } = this
      for (let i = from, o = this.length; i < to; i++, o++) {
        docs[o] = src.docs[i]; starts[o] = src.starts[i]; ends[o] = src.ends[i]; levels[o] = src.levels[i]
      }
      this.length += n
      return
    }
    this.docs.set(src.docs.subarray(from, to), this.length)
    this.starts.set(src.starts.subarray(from, to), this.length)
    this.ends.set(src.ends.subarray(from, to), this.length)
    this.levels.set(src.levels.subarray(from, to), this.length)
    this.length += n
  }

  clear (): void { this.length = 0 }

  /** Makes room for `capacity` postings at once (a whole block) instead of doubling step by step. */
  reserve (capacity: number): void {
    if (capacity > this.docs.length) this.grow(Math.max(capacity, this.docs.length * 2))
  }

  private grow (capacity: number): void {
    const d = new Uint32Array(capacity); d.set(this.docs.subarray(0, this.length)); this.docs = d
    const s = new Uint32Array(capacity); s.set(this.starts.subarray(0, this.length)); this.starts = s
    const e = new Uint32Array(capacity); e.set(this.ends.subarray(0, this.length)); this.ends = e
    const l = new Uint16Array(capacity); l.set(this.levels.subarray(0, this.length)); this.levels = l
  }
}

/** Growable byte writer with LEB128 varints. */
export class ByteWriter {
  buf: Uint8Array
  pos = 0
  constructor (capacity = 256) { this.buf = new Uint8Array(capacity) }
  ensure (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const b = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n)); b.set(this.buf.subarray(0, this.pos)); this.buf = b
  }

  varint (v: number): void {
    this.ensure(5)
    while (v >= 0x80) { this.buf[this.pos++] = (v & 0x7f) | 0x80; v >>>= 7 }
    this.buf[this.pos++] = v
  }

  u32 (v: number): void {
    this.ensure(4)
    this.buf[this.pos++] = v >>> 24; this.buf[this.pos++] = (v >>> 16) & 0xff; this.buf[this.pos++] = (v >>> 8) & 0xff; this.buf[this.pos++] = v & 0xff
  }

  bytes (b: Uint8Array): void { this.ensure(b.length); this.buf.set(b, this.pos); this.pos += b.length }
  result (): Uint8Array { return this.buf.slice(0, this.pos) }
}

/** Encodes postings [from, to) of `list` as one block whose doc deltas start at `baseDoc`. */
export function encodeBlock (list: PostingList, from: number, to: number, baseDoc: number, w = new ByteWriter((to - from) * 5 + 8)): Uint8Array {
  w.varint(to - from)
  let prevDoc = baseDoc
  let prevStart = 0
  for (let i = from; i < to; i++) {
    const doc = list.docs[i]
    const start = list.starts[i]
    const dd = doc - prevDoc
    w.varint(dd)
    w.varint(dd === 0 && i > from ? start - prevStart : start)
    w.varint(list.ends[i] - start)
    w.varint(list.levels[i])
    prevDoc = doc
    prevStart = start
  }
  return w.result()
}

export class CorruptBlockError extends Error {
  readonly code = 'ERR_CORRUPT_POSTINGS'
  constructor (message: string) { super(message); this.name = 'CorruptBlockError' }
}

/** Where the last `varintAt` ended (a scratch: the decoder's position stays a local, not a closure's captured variable). */
let varintEnd = 0

/** A varint of a block at `p` (the multi-byte case: the decoder reads one-byte varints inline); sets varintEnd. */
function varintAt (bytes: Uint8Array, p: number): number {
  const n = bytes.length
  // A running multiplier, not 2 ** shift: V8 computes ** as a floating-point pow, ~14x the cost of the whole varint.
  let v = 0; let mul = 1; let shift = 0; let b: number
  do {
    if (p >= n) throw new CorruptBlockError(`posting block truncated at byte ${p}`)
    b = bytes[p++]
    v += (b & 0x7f) * mul
    mul *= 128
    shift += 7
  } while (b >= 0x80 && shift < 35)
  varintEnd = p
  return v
}

/**
 * Decodes a block starting at `offset` of `bytes`, appending postings to
 * `out` for which `keep(doc)` holds (all when absent). Returns the offset after the block.
 */
export function decodeBlock (bytes: Uint8Array, offset: number, baseDoc: number, out: PostingBuffer, keep?: (doc: number) => boolean): number {
  const n = bytes.length
  const count = varintAt(bytes, offset)
  let p = varintEnd
  if (count > n) throw new CorruptBlockError(`posting block claims ${count} postings in ${n} bytes`)
  if (keep == null) out.reserve(out.length + count)
  let doc = baseDoc
  let start = 0
  // Varints are read inline when they take one or two bytes (deltas, spans and levels take one; starts in a document often two).
  for (let i = 0; i < count; i++) {
    if (p + 4 > n) throw new CorruptBlockError(`posting block truncated at byte ${p}`)
    let b = bytes[p]
    let dd: number
    if (b < 0x80) { dd = b; p++ } else { dd = varintAt(bytes, p); p = varintEnd }
    b = bytes[p]
    let s: number
    if (b < 0x80) { s = b; p++ } else if (p + 1 < n && bytes[p + 1] < 0x80) { s = (b & 0x7f) | (bytes[p + 1] << 7); p += 2 } else { s = varintAt(bytes, p); p = varintEnd }
    doc += dd
    start = dd === 0 && i > 0 ? start + s : s
    b = bytes[p]
    let span: number
    if (b < 0x80) { span = b; p++ } else { span = varintAt(bytes, p); p = varintEnd }
    b = bytes[p]
    let level: number
    if (b < 0x80) { level = b; p++ } else { level = varintAt(bytes, p); p = varintEnd }
    if (keep == null || keep(doc)) out.push(doc, start, start + span, level)
  }
  return p
}
