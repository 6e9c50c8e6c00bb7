import { ByteWriter, CorruptBlockError } from '../postings/codec.ts'
import { groupKey, readU32be } from './keys.ts'

/**
 * Summary groups (keys.ts, `S`): the summaries of consecutive terms of one
 * run in one LevelDB value, so that an import writes a few thousand keys
 * instead of one per term. Value:
 *   varint entries, then per entry: varint shared (bytes in common with the
 *   previous term), varint rest, rest bytes (the term's UTF-8 tail),
 *   varint summaryLength, summary.
 * Summary: u32 lastDoc, varint count, varint docs, varint blocks, then when
 * blocks = 0 the postings inline as one block based at the run's first doc.
 */

/** A group closes when its entries reach this many bytes... */
const GROUP_BYTES = 4096
/** ...or this many terms (a lookup walks a group linearly). */
const GROUP_TERMS = 128

export interface SummaryHead { lastDoc: number, count: number, docs: number, blocks: number, offset: number }

/** Where the last `varintAt` ended: a module scratch, not a [value, end] array per varint (a publish reads millions). */
let varintEnd = 0

/** The varint at `p` of `v`; sets varintEnd. */
function varintAt (v: Uint8Array, p: number): number {
  // a running multiplier, not 2 ** shift (a floating-point pow in V8: see codec.ts varintAt)
  let x = 0; let mul = 1; let b: number
  do {
    if (p >= v.length) throw new CorruptBlockError(`summary group truncated at byte ${p}`)
    b = v[p++]; x += (b & 0x7f) * mul; mul *= 128
  } while (b >= 0x80)
  varintEnd = p
  return x
}

/** Reads the summary that starts at `at` of `v`. */
export function readSummary (v: Uint8Array, at = 0): SummaryHead {
  const lastDoc = readU32be(v, at)
  const count = varintAt(v, at + 4)
  const docs = varintAt(v, varintEnd)
  const blocks = varintAt(v, varintEnd)
  return { lastDoc, count, docs, blocks, offset: varintEnd }
}

/**
 * Builds the groups of one run from summaries given in term byte order;
 * `emit` receives each finished group's key and value.
 */
export class GroupBuilder {
  private readonly body = new ByteWriter(GROUP_BYTES * 2)
  private prev = new Uint8Array(256)
  private prevLength = 0
  private entries = 0

  constructor (private readonly runFirst: number, private readonly emit: (key: Uint8Array, value: Uint8Array) => void) {}

  /**
   * Adds a term (its UTF-8 bytes are bytes[offset, offset + length)) with its
   * encoded summary. Copies by loop: a run adds hundreds of thousands of
   * short terms, and a view per copy cost more than the copy.
   */
  add (bytes: Uint8Array, offset: number, length: number, summary: Uint8Array, summaryLength: number): void {
    let prev = this.prev
    let shared = 0
    const max = Math.min(length, this.prevLength)
    while (shared < max && prev[shared] === bytes[offset + shared]) shared++
    const w = this.body
    w.varint(shared)
    w.varint(length - shared)
    w.ensure(length - shared + summaryLength + 5)
    const buf = w.buf
    let pos = w.pos
    for (let i = offset + shared, end = offset + length; i < end; i++) buf[pos++] = bytes[i]
    w.pos = pos
    w.varint(summaryLength)
    const out = w.buf // (the room ensured above holds the varint: no new buffer)
    if (summaryLength > 64) out.set(summary.subarray(0, summaryLength), w.pos)
    else for (let i = 0, o = w.pos; i < summaryLength; i++) out[o++] = summary[i]
    w.pos += summaryLength
    if (length > prev.length) { prev = new Uint8Array(length * 2); prev.set(this.prev.subarray(0, shared)); this.prev = prev }
    for (let i = shared; i < length; i++) prev[i] = bytes[offset + i]
    this.prevLength = length
    this.entries++
    if (w.pos >= GROUP_BYTES || this.entries >= GROUP_TERMS) this.close()
  }

  /** Emits the open group, if any. */
  close (): void {
    if (this.entries === 0) return
    const head = new ByteWriter(8)
    head.varint(this.entries)
    const value = new Uint8Array(head.pos + this.body.pos)
    value.set(head.buf.subarray(0, head.pos))
    value.set(this.body.buf.subarray(0, this.body.pos), head.pos)
    this.emit(groupKey(this.prev.subarray(0, this.prevLength), this.runFirst), value)
    this.body.pos = 0
    this.entries = 0
    this.prevLength = 0
  }
}

/**
 * Calls `visit` for each entry of a group with the term's bytes (a view
 * valid only during the call) and the offset of its summary. Stops when
 * `visit` returns false.
 */
export function forEachEntry (v: Uint8Array, visit: (term: Uint8Array, summaryAt: number) => boolean | undefined): void {
  let n = varintAt(v, 0)
  let p = varintEnd
  let term = new Uint8Array(256)
  let length = 0
  for (; n > 0; n--) {
    const shared = varintAt(v, p)
    const rest = varintAt(v, varintEnd)
    p = varintEnd
    if (shared > length || p + rest > v.length) throw new CorruptBlockError(`summary group entry at byte ${p} is inconsistent`)
    if (shared + rest > term.length) { const t = new Uint8Array((shared + rest) * 2); t.set(term.subarray(0, shared)); term = t }
    term.set(v.subarray(p, p + rest), shared)
    length = shared + rest
    p += rest
    const size = varintAt(v, p)
    p = varintEnd
    if (visit(term.subarray(0, length), p) === false) return
    p += size
  }
}

/** Byte order of two UTF-8 terms. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return a.length - b.length
}

/** The offset of `term`'s summary in a group, or -1 when the group does not hold it. */
export function findInGroup (v: Uint8Array, term: Uint8Array): number {
  let found = -1
  forEachEntry(v, (t, at) => {
    const c = compareBytes(t, term)
    if (c === 0) found = at
    return c < 0
  })
  return found
}

/**
 * A forward cursor over the entries of a group: the pull side of
 * forEachEntry, for merging the groups of several runs. `term` is valid
 * until the next call of `next`.
 */
export class EntryCursor {
  term: Uint8Array = new Uint8Array(256)
  length = 0
  /** Offset of the current entry's summary in `value`. */
  summaryAt = 0
  private p: number
  private left: number

  constructor (readonly value: Uint8Array) {
    this.left = varintAt(value, 0)
    this.p = varintEnd
  }

  /** Moves to the next entry; false when the group has no more. */
  next (): boolean {
    if (this.left === 0) return false
    this.left--
    const v = this.value
    const shared = varintAt(v, this.p)
    const rest = varintAt(v, varintEnd)
    let p = varintEnd
    if (shared > this.length || p + rest > v.length) throw new CorruptBlockError(`summary group entry at byte ${p} is inconsistent`)
    if (shared + rest > this.term.length) { const t = new Uint8Array((shared + rest) * 2); t.set(this.term.subarray(0, shared)); this.term = t }
    const term = this.term
    // Tails are short: a loop beats a subarray and a set.
    for (let i = 0; i < rest; i++) term[shared + i] = v[p + i]
    this.length = shared + rest
    p += rest
    const size = varintAt(v, p)
    p = varintEnd
    this.summaryAt = p
    this.p = p + size
    return true
  }
}
