import { ByteWriter } from '../postings/codec.ts'
import { RECORD, WORDS } from '../postings/extract.ts'
import { GroupBuilder } from './groups.ts'
import { TERM_STRIDE, TERM_USER, TermTable } from './term-table.ts'

export interface RunInit {
  blockSize: number
  /** Postings gathered before they are sorted by term and written (a run); a run ends at a document boundary. */
  runPostings: number
}

/**
 * Room reserved up front (see TermTable's constructor): terms, bytes of
 * terms, and pending postings. A worker that takes a large import reserves
 * room for all of it; a small import on the main thread starts small.
 */
export interface RunReserve { terms: number, termBytes: number, postings: number }

/** A written run: its first docId and its last term (the store keeps them in its manifest). */
export interface RunInfo { first: number, last: string }

/**
 * Receives a key and a value to write. Both may be views of buffers the
 * builder reuses: valid during the call only (copy what you keep).
 */
export type EmitKv = (key: Uint8Array, value: Uint8Array) => void

// Per-term state of the current run, in the term's line of TermTable.data.
/** The run this state belongs to (state of an older run reads as empty). */
const RUN = TERM_USER
/** Postings in this run (written in blocks or pending), distinct docs among them. */
const COUNT = TERM_USER + 1
const DISTINCT = TERM_USER + 2
/** The last posting added (dedup of a token repeated in one node; order check). */
const LAST_DOC = TERM_USER + 3
const LAST_START = TERM_USER + 4
/** Pending postings: where in `pending` (in postings), capacity, how many. */
const AT = TERM_USER + 5
const CAP = TERM_USER + 6
const PENDING = TERM_USER + 7
/** Blocks written in this run. */
const BLOCKS = TERM_USER + 8
const FLAGS = TERM_USER + 9
/** A pending posting came before an earlier one of the same document (see sortPending). */
const UNORDERED = 1
/** The term is on the list of terms with a full block to write when the document ends. */
const LISTED = 2

/** Pending postings: doc, start, end, level. */
const P = 4

/**
 * Turns posting records (postings/extract.ts, TermRecords) into runs
 * (keys.ts, groups.ts) without sorting the run: interns each record's term
 * (TermTable) and appends the posting to that term's pending postings,
 * which arrive in (doc, start) order since documents come in docId order.
 * A term's pending postings past a block (blockSize) are written as blocks
 * when the document ends; when the run ends, its terms are put in byte
 * order and each gets its summary, with its remaining postings inline or
 * as its last block. So the run is written as it is gathered (most
 * postings belong to frequent terms), the end of a run only sorts its
 * terms, and memory holds the postings of rare terms, not a whole run.
 *
 * It touches no database and no tree: it runs where its records are sent.
 */
export class RunBuilder {
  postings = 0
  readonly runs: RunInfo[] = []
  readonly terms: TermTable
  private run = 1
  private doc = 0
  private runFirst = -1
  private runCount = 0
  /** Terms with postings in this run. */
  private active = new Uint32Array(1 << 16)
  private activeCount = 0
  /** Terms with more pending postings than a block (LISTED). */
  private full: number[] = []
  /** Pending postings of every term, P ints each, in per-term chunks of 2^k postings. */
  private pending: Uint32Array
  private pendingUsed = 0
  /** Free chunks by size class k (chunks of 2^k postings given up when a term outgrew them). */
  private readonly freeChunks: number[][] = []
  private readonly value = new ByteWriter(64 * 1024)
  private key = new Uint8Array(256)

  constructor (private readonly init: RunInit, private readonly emit: EmitKv, reserve: RunReserve = { terms: 1 << 14, termBytes: 1 << 20, postings: 1 << 20 }) {
    this.terms = new TermTable(reserve.terms, reserve.termBytes)
    this.pending = new Uint32Array(P * reserve.postings)
  }

  /** Takes `n` records and their chars; `prefixes` names every prefix id used so far. */
  consume (recs: Int32Array, n: number, chars: Uint16Array, prefixes: readonly string[]): void {
    const terms = this.terms
    terms.prefixes(prefixes)
    let c = 0
    let doc = this.doc
    for (let r = 0, o = 0; r < n; r++, o += RECORD) {
      const code = recs[o]
      const length = recs[o + 1]
      const start = recs[o + 2]
      if (code <= WORDS) {
        this.words(WORDS - code, chars, c, length, doc, start, recs[o + 4])
        c += length
        continue
      }
      if (code < 0) {
        this.endDocument()
        if (this.runCount >= this.init.runPostings) this.writeRun()
        doc = this.doc = start
        if (this.runFirst < 0) this.runFirst = doc
        continue
      }
      const t = length === 0 ? terms.bareTerm(code >> 1) : terms.term(code >> 1, chars, c, length)
      c += length
      this.add(t, doc, start, recs[o + 3], recs[o + 4], (code & 1) !== 0)
    }
  }

  /**
   * The word postings of an all-ASCII text, chars[from, from + length)
   * (postings/extract.ts, WORDS): maximal runs of letters and digits,
   * lower-cased in place, as tokens.ts cuts them.
   */
  private words (p: number, chars: Uint16Array, from: number, length: number, doc: number, start: number, level: number): void {
    const terms = this.terms
    let t = -1
    for (let i = from, end = from + length; i <= end; i++) {
      const ch = i < end ? chars[i] : 0
      if ((ch >= 97 && ch <= 122) || (ch >= 48 && ch <= 57)) {
        if (t < 0) t = i
      } else if (ch >= 65 && ch <= 90) {
        chars[i] = ch + 32
        if (t < 0) t = i
      } else if (t >= 0) {
        this.add(terms.term(p, chars, t, i - t), doc, start, start, level, true)
        t = -1
      }
    }
  }

  /** Postings gathered so far (written or not). */
  get gathered (): number { return this.postings + this.runCount }

  /** Writes the last run. */
  finish (): void {
    this.endDocument()
    this.writeRun()
  }

  private add (t: number, doc: number, start: number, end: number, level: number, word: boolean): void {
    const d = this.terms.data
    const s = t * TERM_STRIDE
    if (d[s + RUN] !== this.run) {
      d[s + RUN] = this.run
      d[s + COUNT] = 0; d[s + DISTINCT] = 0; d[s + LAST_DOC] = 0; d[s + LAST_START] = 0
      d[s + AT] = 0; d[s + CAP] = 0; d[s + PENDING] = 0; d[s + BLOCKS] = 0; d[s + FLAGS] = 0
      if (this.activeCount === this.active.length) { const a = new Uint32Array(this.active.length * 2); a.set(this.active); this.active = a }
      this.active[this.activeCount++] = t
    }
    const lastDoc = d[s + LAST_DOC]
    const lastStart = d[s + LAST_START]
    // A token repeated in one text or attribute value: one posting.
    if (word && lastDoc === doc && lastStart === start) return
    if (lastDoc !== doc) d[s + DISTINCT]++
    else if (start < lastStart) d[s + FLAGS] |= UNORDERED
    d[s + LAST_DOC] = doc; d[s + LAST_START] = start
    const k = d[s + PENDING]
    if (k === d[s + CAP]) this.grow(s)
    const at = (d[s + AT] + k) * P
    const pending = this.pending
    pending[at] = doc; pending[at + 1] = start; pending[at + 2] = end; pending[at + 3] = level
    d[s + PENDING] = k + 1
    d[s + COUNT]++
    this.runCount++
    if (k >= this.init.blockSize && (d[s + FLAGS] & LISTED) === 0) { d[s + FLAGS] |= LISTED; this.full.push(t) }
  }

  /** Moves a term's pending postings to a chunk twice as large. */
  private grow (s: number): void {
    const d = this.terms.data
    const cap = d[s + CAP]
    const size = cap === 0 ? 1 : cap * 2
    const k = 31 - Math.clz32(size)
    let at = this.freeChunks[k]?.pop()
    if (at === undefined) {
      at = this.pendingUsed
      this.pendingUsed += size
      if (this.pendingUsed * P > this.pending.length) {
        const p = new Uint32Array(Math.max(this.pending.length * 2, this.pendingUsed * P)); p.set(this.pending.subarray(0, at * P)); this.pending = p
      }
    }
    if (cap > 0) {
      this.pending.copyWithin(at * P, d[s + AT] * P, (d[s + AT] + cap) * P)
      const old = 31 - Math.clz32(cap)
      this.freeChunks[old] ??= []
      this.freeChunks[old].push(d[s + AT])
    }
    d[s + AT] = at; d[s + CAP] = size
  }

  /** A document ended: terms with more pending postings than a block write their full blocks. */
  private endDocument (): void {
    const full = this.full
    if (full.length === 0) return
    const d = this.terms.data
    const size = this.init.blockSize
    for (const t of full) {
      const s = t * TERM_STRIDE
      if ((d[s + FLAGS] & UNORDERED) !== 0) this.sortPending(s)
      const at = d[s + AT]
      const k = d[s + PENDING]
      let b = 0
      for (; k - b > size; b += size) this.writeBlock(t, at + b, size)
      this.pending.copyWithin(at * P, (at + b) * P, (at + k) * P)
      d[s + PENDING] = k - b
      d[s + BLOCKS] += b / size
      d[s + FLAGS] &= ~LISTED
    }
    full.length = 0
  }

  /**
   * Puts a term's pending postings in (doc, start) order. Needed when a
   * value posting of an element comes after one of an element it contains
   * (values are emitted when an element closes: `<a><a>v</a></a>` gives the
   * inner `v:a=v` first); the codec's start deltas must not go negative.
   * Only postings of the current document can be out of order, and they are
   * all pending: blocks are written when a document ends.
   */
  private sortPending (s: number): void {
    const d = this.terms.data
    const at = d[s + AT] * P
    const n = d[s + PENDING]
    const p = this.pending
    const copy = p.slice(at, at + n * P)
    const order = Array.from({ length: n }, (_, i) => i * P)
    order.sort((x, y) => (copy[x] - copy[y]) || (copy[x + 1] - copy[y + 1]))
    for (let i = 0; i < n; i++) p.set(copy.subarray(order[i], order[i] + P), at + i * P)
    d[s + FLAGS] &= ~UNORDERED
  }

  /** Writes pending postings [from, from + n) of term t as one block (keys.ts: P term 00 lastDoc lastStart -> u32 firstDoc + block). */
  private writeBlock (t: number, from: number, n: number): void {
    const p = this.pending
    const last = (from + n - 1) * P
    const terms = this.terms
    const length = terms.byteLength(t)
    if (this.key.length < length + 10) this.key = new Uint8Array((length + 10) * 2)
    const k = this.key
    k[0] = 0x50
    terms.bytes.copy(k, 1, terms.byteOffset(t), terms.byteOffset(t) + length)
    k[length + 1] = 0
    writeU32(k, length + 2, p[last])
    writeU32(k, length + 6, p[last + 1])
    const w = this.value
    w.pos = 0
    w.u32(p[from * P])
    this.encode(from, n, p[from * P])
    this.emit(k.subarray(0, length + 10), w.buf.subarray(0, w.pos))
  }

  /** Appends pending postings [from, from + n) to `value` as a block whose doc deltas start at `baseDoc` (postings/codec.ts, encodeBlock). */
  private encode (from: number, n: number, baseDoc: number): void {
    const w = this.value
    w.ensure(5 + n * 20)
    const buf = w.buf
    let pos = w.pos
    const p = this.pending
    pos = varint(buf, pos, n)
    let prevDoc = baseDoc
    let prevStart = 0
    for (let i = from * P, end = (from + n) * P; i < end; i += P) {
      const doc = p[i]; const start = p[i + 1]
      const dd = doc - prevDoc
      pos = varint(buf, pos, dd)
      pos = varint(buf, pos, dd === 0 && i > from * P ? start - prevStart : start)
      pos = varint(buf, pos, p[i + 2] - start)
      pos = varint(buf, pos, p[i + 3])
      prevDoc = doc
      prevStart = start
    }
    w.pos = pos
  }

  /** Ends the run: its terms in byte order, each with its summary (and its last block). */
  private writeRun (): void {
    if (this.runCount === 0) return
    const ids = this.active
    const n = this.activeCount
    const terms = this.terms
    terms.sort(ids, n)
    const d = terms.data
    const base = this.runFirst
    const groups = new GroupBuilder(base, this.emit)
    const w = this.value
    for (let i = 0; i < n; i++) {
      const t = ids[i]
      const s = t * TERM_STRIDE
      if ((d[s + FLAGS] & UNORDERED) !== 0) this.sortPending(s)
      let blocks = d[s + BLOCKS]
      if (blocks > 0) { this.writeBlock(t, d[s + AT], d[s + PENDING]); blocks++ }
      w.pos = 0
      w.u32(d[s + LAST_DOC])
      w.varint(d[s + COUNT])
      w.varint(d[s + DISTINCT])
      w.varint(blocks)
      if (blocks === 0) this.encode(d[s + AT], d[s + PENDING], base)
      groups.add(terms.bytes, terms.byteOffset(t), terms.byteLength(t), w.buf, w.pos)
    }
    groups.close()
    this.runs.push({ first: base, last: terms.text(ids[n - 1]) })
    this.postings += this.runCount
    this.runCount = 0
    this.runFirst = -1
    this.activeCount = 0
    this.run++
    this.pendingUsed = 0
    this.freeChunks.length = 0
  }
}

function writeU32 (b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24; b[at + 1] = (v >>> 16) & 0xff; b[at + 2] = (v >>> 8) & 0xff; b[at + 3] = v & 0xff
}

/** LEB128 varint of v (< 2^32) at buf[pos]; returns the position after it. */
function varint (buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) { buf[pos++] = (v & 0x7f) | 0x80; v >>>= 7 }
  buf[pos++] = v
  return pos
}
