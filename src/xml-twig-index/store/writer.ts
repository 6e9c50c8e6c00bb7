import type { ClassicLevel } from 'classic-level'
import { ByteWriter } from '../postings/codec.ts'
import { TermRecords, encodeDocument } from '../postings/extract.ts'
import type { XElement } from '../xml/tree.ts'
import { putDocKey } from './keys.ts'
import { RunBuilder, type RunInfo } from './run-builder.ts'
import { RunClient } from './run-client.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

export interface WriterInit {
  blockSize: number
  /** Bytes of pending LevelDB writes before a batch is flushed. */
  batchBytes: number
  /** Postings gathered in memory before they are sorted by term and written (a run). */
  runPostings: number
  /** Posting records after which an import moves its term work to a worker thread (Infinity: never). */
  workerRecords: number
}

const enc = new TextEncoder()

/**
 * LevelDB batches written at once (see flush): ~16 MiB at the store's
 * default batchBytes (1 MiB). R1 waited 230-400 ms for batches in flight
 * with 3 of them, 35-45 ms with 16.
 */
const WRITES_IN_FLIGHT = 16

/**
 * Records gathered before they are handed over (2.6 MB). Each hand-over is a
 * message, which wakes the worker and is answered: on a loaded machine each
 * wake-up is a chance to lose the processor for a while, so they are few
 * (R1: ~110).
 */
const HANDOVER_RECORDS = 131_072

/** Bytes of a slab (see ImportWriter.slab), and of an import's first one. */
const SLAB_BYTES = 1 << 20
const SLAB_FIRST_BYTES = 16 << 10

/**
 * Writes the documents and postings of one import under docIds starting at
 * `firstDoc`. Nothing it writes is visible until the store commits the new
 * nextDocId (and the runs' first docs, `runs`); an abandoned import is
 * garbage the store removes at open.
 *
 * Each document's postings are extracted as flat records (no string per
 * posting, postings/extract.ts) and handed to a RunBuilder, which interns
 * their terms and writes sorted runs (summary groups plus blocks). A large
 * import runs the builder in a worker thread (run-client.ts), so that
 * reading and extraction on this thread overlap interning, sorting and
 * encoding on another core; a small one keeps it here (no thread start-up).
 */
export class ImportWriter {
  readonly firstDoc: number
  nextDoc: number

  private readonly records = new TermRecords(HANDOVER_RECORDS + 4096, 1 << 20)
  private builder: RunBuilder | undefined
  private client: RunClient | undefined
  private sentPrefixes = 0
  private gatheredRecords = 0
  private done: { runs: readonly RunInfo[], postings: number, terms: number } | undefined
  private batch: Array<{ type: 'put', key: Uint8Array, value: Uint8Array }> = []
  private batchBytes = 0
  /** Batches handed to LevelDB and not yet written, oldest first. */
  private readonly pending: Array<Promise<void>> = []
  private readonly writer = new ByteWriter(64 * 1024)
  /**
   * Where documents' keys and records are copied for their batch: one
   * ArrayBuffer per MiB, not one per document. R1 made 63,440 of them, each
   * a backing store V8 counts as external memory, which triggered
   * collections of their own.
   */
  private slab = new Uint8Array(0)
  private slabUsed = 0

  constructor (private readonly db: Db, firstDoc: number, private readonly init: WriterInit) {
    this.firstDoc = firstDoc
    this.nextDoc = firstDoc
  }

  /** Postings of the documents added so far: exact once finished (the worker removes repeated words), a running figure before. */
  get postings (): number {
    if (this.done !== undefined) return this.done.postings
    if (this.client !== undefined) return this.client.gathered
    return this.local().gathered
  }

  /** Each run written (known once finished). */
  get runs (): readonly RunInfo[] { return this.done?.runs ?? [] }

  /** Distinct terms of this import (known once finished). */
  get terms (): number { return this.done?.terms ?? 0 }

  /** Numbers the tree, stores its XML (`xml` when given, else the tree's), gathers its postings. Returns the new docId. */
  async add (id: string, root: XElement, xml?: string): Promise<number> {
    const doc = this.nextDoc++
    // The document record (id 00 xml, keys.ts), its XML written in the same walk as the postings.
    const w = this.writer
    w.pos = 0
    w.ensure(id.length * 3 + 1)
    w.pos += enc.encodeInto(id, w.buf.subarray(w.pos)).written
    w.buf[w.pos++] = 0
    const before = this.records.n
    encodeDocument(root, doc, w, this.records)
    this.gatheredRecords += this.records.n - before
    if (xml !== undefined) {
      w.pos = 0
      w.ensure((id.length + xml.length) * 3 + 1)
      w.pos += enc.encodeInto(id, w.buf.subarray(w.pos)).written
      w.buf[w.pos++] = 0
      w.pos += enc.encodeInto(xml, w.buf.subarray(w.pos)).written
    }
    this.put(putDocKey(this.slabbed(5), doc), this.copyOut(w.buf, w.pos))
    if (this.records.n >= HANDOVER_RECORDS) await this.handOver()
    if (this.batchBytes >= this.init.batchBytes) await this.flush()
    return doc
  }

  /** A copy of bytes[0, n) in the slab (a large one on its own). */
  private copyOut (bytes: Uint8Array, n: number): Uint8Array {
    if (n > SLAB_BYTES / 4) return bytes.slice(0, n)
    const v = this.slabbed(n)
    v.set(bytes.subarray(0, n))
    return v
  }

  /** n bytes of the slab, a new slab when it is full (the batches keep the old one while they need it). */
  private slabbed (n: number): Uint8Array {
    if (this.slabUsed + n > this.slab.length) {
      // A small import (one document) starts with a small slab; a large one soon takes SLAB_BYTES at a time.
      this.slab = new Uint8Array(Math.max(n, Math.min(SLAB_BYTES, Math.max(SLAB_FIRST_BYTES, this.slab.length * 2))))
      this.slabUsed = 0
    }
    const v = this.slab.subarray(this.slabUsed, this.slabUsed + n)
    this.slabUsed += n
    return v
  }

  private local (): RunBuilder {
    // The builder's keys and values are views of buffers it reuses: the batch keeps copies.
    this.builder ??= new RunBuilder(this.init, (key, value) => { this.put(key.slice(), value.slice()) })
    return this.builder
  }

  /** Hands the gathered records over; until the import is known to be large or is finishing, they wait here. */
  private async handOver (final = false): Promise<void> {
    const r = this.records
    if (r.n === 0) return
    if (this.client === undefined && this.builder === undefined) {
      if (this.gatheredRecords >= this.init.workerRecords) this.client = new RunClient(this.init, (key, value) => { this.put(key, value) })
      else if (!final) return
    }
    if (this.client !== undefined) {
      const n = r.n
      const prefixes = r.prefixes.slice(this.sentPrefixes)
      this.sentPrefixes = r.prefixes.length
      const { recs, chars } = r.take(this.client.free.pop())
      await this.client.send(recs, n, chars, prefixes)
      return
    }
    this.local().consume(r.recs, r.n, r.chars, r.prefixes)
    r.clear()
  }

  private put (key: Uint8Array, value: Uint8Array): void {
    this.batch.push({ type: 'put', key, value })
    this.batchBytes += key.length + value.length + 16
  }

  /**
   * Hands the pending writes to LevelDB. Up to WRITES_IN_FLIGHT batches are
   * written while the next is built: a batch's write waits for LevelDB's
   * thread (and for a memtable to be flushed), and one in flight left the
   * import waiting seconds for it. Their order does not matter: an import
   * writes each key once, and the commit waits for all of them.
   */
  private async flush (): Promise<void> {
    if (this.pending.length >= WRITES_IN_FLIGHT) await this.pending.shift()
    if (this.batch.length === 0) return
    const ops = this.batch
    this.batch = []
    this.batchBytes = 0
    const pending = this.db.batch(ops)
    // Handled here so that a failing write of an abandoned import cannot crash the process; flush(), finish() and settle() still see it.
    pending.catch(() => {})
    this.pending.push(pending)
  }

  /** Waits for the writes in flight, ignoring their outcome, and stops the worker: an abandoned import must not race its own clean-up. */
  async settle (): Promise<void> {
    const pending = this.pending.splice(0)
    for (const p of pending) await p.catch(() => {})
    await this.client?.close()
  }

  /** Writes the last run and waits for every write. */
  async finish (): Promise<void> {
    await this.handOver(true)
    if (this.client !== undefined) {
      // The worker's keys and values arrive while it finishes: write them as they come, not all at the end.
      const result = this.client.finish()
      this.done = await result
      await this.client.close()
    } else {
      const b = this.local()
      b.finish()
      this.done = { runs: b.runs, postings: b.postings, terms: b.terms.count }
    }
    await this.flush()
    while (this.pending.length > 0) await this.pending.shift()
  }
}
