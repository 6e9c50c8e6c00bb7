import { ByteWriter, encodeBlock, type PostingList } from '../postings/codec.ts'
import { RECORD } from '../postings/extract.ts'
import { GroupBuilder } from './groups.ts'
import { TermOrder, TermTable } from './term-table.ts'

export interface RunInit {
  blockSize: number
  /** Postings gathered before they are sorted by term and written (a run); a run ends at a document boundary. */
  runPostings: number
}

/** A written run: its first docId and its last term (the store keeps them in its manifest). */
export interface RunInfo { first: number, last: string }

/**
 * Turns posting records (postings/extract.ts, TermRecords) into runs:
 * interns terms (TermTable), keeps one posting per distinct token of a
 * node, gathers postings in a columnar buffer in document order and, when a
 * run is full, counting-sorts it by term id (stable: each term's postings
 * stay in (doc, start) order) and emits its summary groups and blocks
 * (groups.ts, keys.ts) in term byte order through `emit`.
 *
 * It touches no database and no tree: it runs where its records are sent.
 */
export class RunBuilder {
  postings = 0
  readonly runs: RunInfo[] = []
  readonly terms = new TermTable()
  private readonly order = new TermOrder()
  private doc = 0
  private runFirst = -1
  private n = 0
  private ids = new Uint32Array(1 << 16)
  private docs = new Uint32Array(1 << 16)
  private starts = new Uint32Array(1 << 16)
  private ends = new Uint32Array(1 << 16)
  private levels = new Uint16Array(1 << 16)
  /** Per term: the doc and start of its last word posting (dedup of repeated tokens in one node). */
  private lastDoc = new Uint32Array(1 << 14)
  private lastStart = new Uint32Array(1 << 14)
  private readonly writer = new ByteWriter(64 * 1024)

  constructor (private readonly init: RunInit, private readonly emit: (key: Uint8Array, value: Uint8Array) => void) {}

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
      if (code < 0) {
        if (this.n >= this.init.runPostings) this.writeRun()
        doc = this.doc = start
        if (this.runFirst < 0) this.runFirst = doc
        continue
      }
      const t = length === 0 ? terms.bareTerm(code >> 1) : terms.term(code >> 1, chars, c, length)
      c += length
      if ((code & 1) !== 0) {
        if (t >= this.lastDoc.length) this.growTerms(t)
        if (this.lastDoc[t] === doc && this.lastStart[t] === start) continue
        this.lastDoc[t] = doc; this.lastStart[t] = start
      }
      if (this.n === this.ids.length) this.grow()
      const i = this.n++
      this.ids[i] = t; this.docs[i] = doc; this.starts[i] = start; this.ends[i] = recs[o + 3]; this.levels[i] = recs[o + 4]
    }
  }

  /** Postings gathered so far (written or not). */
  get gathered (): number { return this.postings + this.n }

  /** Writes the last run. */
  finish (): void { this.writeRun() }

  private growTerms (t: number): void {
    const size = Math.max(t + 1, this.lastDoc.length * 2)
    const d = new Uint32Array(size); d.set(this.lastDoc); this.lastDoc = d as Uint32Array<ArrayBuffer>
    const s = new Uint32Array(size); s.set(this.lastStart); this.lastStart = s
  }

  private grow (): void {
    // Up to a full run (plus a document) in doublings; past that only a huge document needs more.
    const full = this.init.runPostings + 65_536
    const cap = this.n < full ? Math.min(full, this.n * 2) : this.n * 2
    const g32 = (a: Uint32Array): Uint32Array<ArrayBuffer> => { const b = new Uint32Array(cap); b.set(a); return b }
    this.ids = g32(this.ids); this.docs = g32(this.docs); this.starts = g32(this.starts); this.ends = g32(this.ends)
    const l = new Uint16Array(cap); l.set(this.levels); this.levels = l
  }

  /** Sorts the run by term and emits its summary groups and blocks. */
  private writeRun (): void {
    const n = this.n
    if (n === 0) return
    const count = this.terms.count
    const table = this.terms
    const order = this.order.extend(table)
    // Counting sort by term id; stable, so postings of a term keep their (doc, start) order.
    const offsets = new Uint32Array(count + 1)
    const ids = this.ids
    for (let i = 0; i < n; i++) offsets[ids[i] + 1]++
    for (let t = 0; t < count; t++) offsets[t + 1] += offsets[t]
    const next = offsets.slice(0, count)
    const docs = new Uint32Array(n); const starts = new Uint32Array(n); const ends = new Uint32Array(n); const levels = new Uint16Array(n)
    for (let i = 0; i < n; i++) {
      const j = next[ids[i]]++
      docs[j] = this.docs[i]; starts[j] = this.starts[i]; ends[j] = this.ends[i]; levels[j] = this.levels[i]
    }
    const sorted: PostingList = { length: n, docs, starts, ends, levels }
    const base = this.runFirst
    const blockSize = this.init.blockSize
    const w = this.writer
    const groups = new GroupBuilder(base, this.emit)
    let last = -1
    for (const t of order) {
      const from = offsets[t]; const to = offsets[t + 1]
      if (from === to) continue
      const at = table.byteOffset(t)
      const length = table.byteLengths[t]
      const term = table.bytes.subarray(at, at + length)
      last = t
      let distinct = 0
      let ordered = true
      for (let i = from, d = -1; i < to; i++) {
        if (docs[i] !== d) { distinct++; d = docs[i] } else if (starts[i] < starts[i - 1]) ordered = false
      }
      if (!ordered) sortSegment(docs, starts, ends, levels, from, to)
      let blocks = 0
      if (to - from > blockSize) {
        for (let b = from; b < to;) {
          const e = Math.min(to, b + blockSize)
          w.pos = 0
          w.u32(docs[b])
          encodeBlock(sorted, b, e, docs[b], w)
          this.emit(blockKeyOf(term, length, docs[e - 1], starts[e - 1]), w.result())
          blocks++
          b = e
        }
      }
      w.pos = 0
      w.u32(docs[to - 1])
      w.varint(to - from)
      w.varint(distinct)
      w.varint(blocks)
      if (blocks === 0) encodeBlock(sorted, from, to, base, w)
      groups.add(term, length, w.buf, w.pos)
    }
    groups.close()
    this.runs.push({ first: base, last: table.text(last) })
    this.postings += n
    this.n = 0
    this.runFirst = -1
  }
}

/**
 * Puts postings [from, to) of one term in (doc, start) order. Needed when a
 * value posting of an element comes after one of an element it contains
 * (values are emitted when an element closes: `<a><a>v</a></a>` gives the
 * inner `v:a=v` first); the codec's start deltas must not go negative.
 */
function sortSegment (docs: Uint32Array, starts: Uint32Array, ends: Uint32Array, levels: Uint16Array, from: number, to: number): void {
  const order = Array.from({ length: to - from }, (_, i) => from + i)
  order.sort((x, y) => (docs[x] - docs[y]) || (starts[x] - starts[y]))
  const d = order.map((i) => docs[i]); const s = order.map((i) => starts[i]); const e = order.map((i) => ends[i]); const l = order.map((i) => levels[i])
  docs.set(d, from); starts.set(s, from); ends.set(e, from); levels.set(l, from)
}

/** Block key (keys.ts: P term 00 lastDoc lastStart) of a term given as UTF-8 bytes term[0, length). */
function blockKeyOf (term: Uint8Array, length: number, lastDoc: number, lastStart: number): Uint8Array {
  const k = new Uint8Array(length + 10)
  k[0] = 0x50
  k.set(term.subarray(0, length), 1)
  let o = length + 2
  k[o++] = lastDoc >>> 24; k[o++] = (lastDoc >>> 16) & 0xff; k[o++] = (lastDoc >>> 8) & 0xff; k[o++] = lastDoc & 0xff
  k[o++] = lastStart >>> 24; k[o++] = (lastStart >>> 16) & 0xff; k[o++] = (lastStart >>> 8) & 0xff; k[o] = lastStart & 0xff
  return k
}
