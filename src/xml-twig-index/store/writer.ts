import type { ClassicLevel } from 'classic-level'
import { ByteWriter, encodeBlock, type PostingList } from '../postings/codec.ts'
import { extractPostings, type PostingSink } from '../postings/extract.ts'
import { numberTree, type XElement } from '../xml/tree.ts'
import { serialize } from '../xml/serialize.ts'
import { blockKey, docKey } from './keys.ts'
import { GroupBuilder } from './groups.ts'
import { sortedTermIds } from './term-order.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

export interface WriterInit {
  blockSize: number
  /** Bytes of pending LevelDB writes before a batch is flushed. */
  batchBytes: number
  /** Postings gathered in memory before they are sorted by term and written (a run). */
  runPostings: number
}

const enc = new TextEncoder()

/**
 * Writes the documents and postings of one import under docIds starting at
 * `firstDoc`. Nothing it writes is visible until the store commits the new
 * nextDocId (and the runs' first docs, `runs`); an abandoned import is
 * garbage the store removes at open.
 *
 * Postings are gathered in runs: one columnar buffer (term id, doc, start,
 * end, level) in typed arrays, appended in document order. Term ids come
 * from one dictionary for the whole import, so a term is interned (and its
 * string built) once. A full run is counting-sorted by term id (stable, so
 * each term's postings stay in (doc, start) order), its terms are put in
 * byte order, and it is written as summary groups (groups.ts) plus blocks
 * for long lists.
 */
export class ImportWriter {
  readonly firstDoc: number
  nextDoc: number
  postings = 0
  /** Each run written so far: its first docId and last term (the store keeps them in its manifest). */
  readonly runs: Array<{ first: number, last: string }> = []

  private runFirstDoc: number
  private readonly termIds = new Map<string, Map<string, number>>()
  private readonly termText: string[] = []
  /** Prefixes with a term that holds a UTF-16 surrogate (its string order is not its byte order). */
  private readonly astral = new Set<string>()
  private lastPrefix = ''
  private bySuffix: Map<string, number> | undefined
  private doc = 0
  private n = 0
  private ids: Uint32Array
  private docs: Uint32Array
  private starts: Uint32Array
  private ends: Uint32Array
  private levels: Uint16Array

  private batch: Array<{ type: 'put', key: Uint8Array, value: Uint8Array }> = []
  private batchBytes = 0
  private pending: Promise<void> | undefined
  private readonly writer = new ByteWriter(64 * 1024)

  constructor (private readonly db: Db, firstDoc: number, private readonly init: WriterInit) {
    this.firstDoc = firstDoc
    this.nextDoc = firstDoc
    this.runFirstDoc = firstDoc
    const cap = Math.min(init.runPostings, 1 << 20) + 65_536
    this.ids = new Uint32Array(cap); this.docs = new Uint32Array(cap); this.starts = new Uint32Array(cap); this.ends = new Uint32Array(cap); this.levels = new Uint16Array(cap)
  }

  /** Distinct terms of this import. */
  get terms (): number { return this.termText.length }

  /** One sink for every document (no closure per document): interns the term, appends the posting. */
  private readonly sink: PostingSink = (prefix, suffix, start, end, level) => {
    let bySuffix = this.bySuffix
    if (prefix !== this.lastPrefix || bySuffix === undefined) {
      bySuffix = this.termIds.get(prefix)
      if (bySuffix === undefined) { bySuffix = new Map(); this.termIds.set(prefix, bySuffix) }
      this.bySuffix = bySuffix
      this.lastPrefix = prefix
    }
    let t = bySuffix.get(suffix)
    if (t === undefined) t = this.newTerm(bySuffix, prefix, suffix)
    if (this.n === this.ids.length) this.grow()
    const i = this.n++
    this.ids[i] = t; this.docs[i] = this.doc; this.starts[i] = start; this.ends[i] = end; this.levels[i] = level
  }

  private newTerm (bySuffix: Map<string, number>, prefix: string, suffix: string): number {
    const t = this.termText.length
    bySuffix.set(suffix, t)
    const text = prefix + suffix
    this.termText.push(text)
    for (let i = 0; i < suffix.length; i++) {
      const c = suffix.charCodeAt(i)
      if (c >= 0xd800 && c <= 0xdfff) { this.astral.add(prefix); break }
    }
    return t
  }

  /** Numbers the tree, stores its XML, gathers its postings. Returns the new docId. */
  async add (id: string, root: XElement, xml?: string): Promise<number> {
    const doc = this.nextDoc++
    numberTree(root)
    this.putDocument(doc, id, xml ?? serialize(root))
    this.doc = doc
    this.postings += extractPostings(root, this.sink)
    if (this.n >= this.init.runPostings) this.writeRun()
    if (this.batchBytes >= this.init.batchBytes) await this.flush()
    return doc
  }

  /** The document record (id 00 xml, keys.ts), encoded straight into its value. */
  private putDocument (doc: number, id: string, xml: string): void {
    const w = this.writer
    w.pos = 0
    w.ensure((id.length + xml.length) * 3 + 1)
    w.pos += enc.encodeInto(id, w.buf.subarray(w.pos)).written
    w.buf[w.pos++] = 0
    w.pos += enc.encodeInto(xml, w.buf.subarray(w.pos)).written
    this.put(docKey(doc), w.result())
  }

  private grow (): void {
    const cap = this.ids.length * 2
    const g32 = (a: Uint32Array): Uint32Array => { const b = new Uint32Array(cap); b.set(a); return b }
    this.ids = g32(this.ids); this.docs = g32(this.docs); this.starts = g32(this.starts); this.ends = g32(this.ends)
    const l = new Uint16Array(cap); l.set(this.levels); this.levels = l
  }

  /** Sorts the run by term and queues its summary groups and blocks. */
  private writeRun (): void {
    const n = this.n
    if (n === 0) return
    const terms = this.termText.length
    // Counting sort by term id; stable, so postings of a term keep their (doc, start) order.
    const offsets = new Uint32Array(terms + 1)
    const ids = this.ids
    for (let i = 0; i < n; i++) offsets[ids[i] + 1]++
    let present = 0
    for (let t = 0; t < terms; t++) { if (offsets[t + 1] !== 0) present++; offsets[t + 1] += offsets[t] }
    const next = offsets.slice(0, terms)
    const docs = new Uint32Array(n); const starts = new Uint32Array(n); const ends = new Uint32Array(n); const levels = new Uint16Array(n)
    for (let i = 0; i < n; i++) {
      const j = next[ids[i]]++
      docs[j] = this.docs[i]; starts[j] = this.starts[i]; ends[j] = this.ends[i]; levels[j] = this.levels[i]
    }
    const order = sortedTermIds(this.termIds, (t) => offsets[t + 1] !== offsets[t], present, this.astral)

    const sorted: PostingList = { length: n, docs, starts, ends, levels }
    const base = this.runFirstDoc
    const blockSize = this.init.blockSize
    const w = this.writer
    const groups = new GroupBuilder(base, (key, value) => { this.put(key, value) })
    let termBuf = new Uint8Array(1024)
    for (const t of order) {
      const from = offsets[t]; const to = offsets[t + 1]
      const text = this.termText[t]
      let distinct = 0
      for (let i = from, last = -1; i < to; i++) if (docs[i] !== last) { distinct++; last = docs[i] }
      let blocks = 0
      if (to - from > blockSize) {
        for (let b = from; b < to;) {
          const e = Math.min(to, b + blockSize)
          w.pos = 0
          w.u32(docs[b])
          encodeBlock(sorted, b, e, docs[b], w)
          this.put(blockKey(text, docs[e - 1], starts[e - 1]), w.result())
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
      if (text.length * 3 > termBuf.length) termBuf = new Uint8Array(text.length * 6)
      const length = enc.encodeInto(text, termBuf).written
      groups.add(termBuf, length, w.buf, w.pos)
    }
    groups.close()
    this.runs.push({ first: base, last: this.termText[order[order.length - 1]] })
    this.n = 0
    this.runFirstDoc = this.nextDoc
  }

  private put (key: Uint8Array, value: Uint8Array): void {
    this.batch.push({ type: 'put', key, value })
    this.batchBytes += key.length + value.length + 16
  }

  /** Hands the pending writes to LevelDB; one batch stays in flight while the next is built. */
  private async flush (): Promise<void> {
    if (this.pending !== undefined) { await this.pending; this.pending = undefined }
    if (this.batch.length === 0) return
    const ops = this.batch
    this.batch = []
    this.batchBytes = 0
    const pending = this.db.batch(ops)
    // Handled here so that a failing write of an abandoned import cannot crash the process; flush() and settle() still see it.
    pending.catch(() => {})
    this.pending = pending
  }

  /** Waits for the write in flight, ignoring its outcome: an abandoned import must not race its own clean-up. */
  async settle (): Promise<void> {
    const pending = this.pending
    this.pending = undefined
    if (pending !== undefined) await pending.catch(() => {})
  }

  /** Writes the last run and waits for every write. */
  async finish (): Promise<void> {
    this.writeRun()
    await this.flush()
    await this.flush()
  }
}
