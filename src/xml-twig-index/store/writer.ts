import type { ClassicLevel } from 'classic-level'
import { ByteWriter, encodeBlock, type PostingList } from '../postings/codec.ts'
import { extractPostings } from '../postings/extract.ts'
import { numberTree, type XElement } from '../xml/tree.ts'
import { serialize } from '../xml/serialize.ts'
import { blockKey, docKey, encodeDocRecord, summaryKey } from './keys.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

export interface WriterInit {
  blockSize: number
  /** Bytes of pending LevelDB writes before a batch is flushed. */
  batchBytes: number
  /** Postings gathered in memory before they are sorted by term and written (a run). */
  runPostings: number
}

/**
 * Writes the documents and postings of one import under docIds starting at
 * `firstDoc`. Nothing it writes is visible until the store commits the new
 * nextDocId; an abandoned import is garbage the store removes at open.
 *
 * Postings are gathered in runs: one columnar buffer (term id, doc, start,
 * end, level) in typed arrays, appended in document order. A full run is
 * counting-sorted by term id (stable, so each term's postings stay in
 * (doc, start) order) and written as one summary per term (keyed by the
 * run's first doc) plus blocks for long lists. An import of R1 touches
 * ~850,000 terms; per-term arrays would cost more in garbage collection
 * than the postings themselves.
 */
export class ImportWriter {
  readonly firstDoc: number
  nextDoc: number
  postings = 0
  terms = 0

  private runFirstDoc: number
  private termIds = new Map<string, Map<string, number>>()
  private termPrefix: string[] = []
  private termSuffix: string[] = []
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
    const cap = init.runPostings + 65_536
    this.ids = new Uint32Array(cap); this.docs = new Uint32Array(cap); this.starts = new Uint32Array(cap); this.ends = new Uint32Array(cap); this.levels = new Uint16Array(cap)
  }

  /** Numbers the tree, stores its XML, gathers its postings. Returns the new docId. */
  async add (id: string, root: XElement, xml?: string): Promise<number> {
    const doc = this.nextDoc++
    numberTree(root)
    const text = xml ?? serialize(root)
    this.put(docKey(doc), encodeDocRecord(id, text))
    const termIds = this.termIds
    let lastPrefix = ''
    let bySuffix: Map<string, number> | undefined
    this.postings += extractPostings(root, (prefix, suffix, start, end, level) => {
      if (prefix !== lastPrefix || bySuffix === undefined) {
        bySuffix = termIds.get(prefix)
        if (bySuffix === undefined) { bySuffix = new Map(); termIds.set(prefix, bySuffix) }
        lastPrefix = prefix
      }
      let t = bySuffix.get(suffix)
      if (t === undefined) {
        t = this.termPrefix.length
        bySuffix.set(suffix, t)
        this.termPrefix.push(prefix)
        this.termSuffix.push(suffix)
      }
      if (this.n === this.ids.length) this.grow()
      const i = this.n++
      this.ids[i] = t; this.docs[i] = doc; this.starts[i] = start; this.ends[i] = end; this.levels[i] = level
    })
    if (this.n >= this.init.runPostings) this.writeRun()
    if (this.batchBytes >= this.init.batchBytes) await this.flush()
    return doc
  }

  private grow (): void {
    const cap = this.ids.length * 2
    const g32 = (a: Uint32Array): Uint32Array => { const b = new Uint32Array(cap); b.set(a); return b }
    this.ids = g32(this.ids); this.docs = g32(this.docs); this.starts = g32(this.starts); this.ends = g32(this.ends)
    const l = new Uint16Array(cap); l.set(this.levels); this.levels = l
  }

  /** Sorts the run by term and queues its summaries and blocks. */
  private writeRun (): void {
    const n = this.n
    if (n === 0) return
    const terms = this.termPrefix.length
    // Counting sort by term id; stable, so postings of a term keep their (doc, start) order.
    const offsets = new Uint32Array(terms + 1)
    for (let i = 0; i < n; i++) offsets[this.ids[i] + 1]++
    for (let t = 0; t < terms; t++) offsets[t + 1] += offsets[t]
    const next = offsets.slice(0, terms)
    const docs = new Uint32Array(n); const starts = new Uint32Array(n); const ends = new Uint32Array(n); const levels = new Uint16Array(n)
    for (let i = 0; i < n; i++) {
      const j = next[this.ids[i]]++
      docs[j] = this.docs[i]; starts[j] = this.starts[i]; ends[j] = this.ends[i]; levels[j] = this.levels[i]
    }
    const sorted: PostingList = { length: n, docs, starts, ends, levels }
    const base = this.runFirstDoc
    const blockSize = this.init.blockSize
    const w = this.writer
    for (let t = 0; t < terms; t++) {
      const from = offsets[t]; const to = offsets[t + 1]
      const term = this.termPrefix[t] + this.termSuffix[t]
      let distinct = 0
      for (let i = from, last = -1; i < to; i++) if (docs[i] !== last) { distinct++; last = docs[i] }
      let blocks = 0
      if (to - from > blockSize) {
        for (let b = from; b < to;) {
          const e = Math.min(to, b + blockSize)
          w.pos = 0
          w.u32(docs[b])
          encodeBlock(sorted, b, e, docs[b], w)
          this.put(blockKey(term, docs[e - 1], starts[e - 1]), w.result())
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
      this.put(summaryKey(term, base), w.result())
    }
    this.terms += terms
    this.n = 0
    this.termIds = new Map()
    this.termPrefix = []
    this.termSuffix = []
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
    this.pending = this.db.batch(ops)
  }

  /** Writes the last run and waits for every write. */
  async finish (): Promise<void> {
    this.writeRun()
    await this.flush()
    await this.flush()
  }
}
