import { mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { StoreError } from '../errors.ts'
import { PostingBuffer, decodeBlock, type PostingList } from '../postings/codec.ts'
import type { DocFilter, PostingSource, TermRange, TermStats } from '../engine/source.ts'
import {
  IMPORT_KEY, MANIFEST_KEY, blockKey, blockKeyDoc, blockRangeAll, decodeDocRecord, docKey, docRange, groupRun, idKey,
  readU32be, releaseKey, releaseRange, summaryRangeAll, termBytes, tombstoneRange
} from './keys.ts'
import { ImportWriter } from './writer.ts'
import { StoreTransaction } from './transaction.ts'
import { PostingReader, groupsFrom, type EncodedPostings, type RunBounds } from './reader.ts'
import { compareBytes, forEachEntry, readSummary } from './groups.ts'
import { streamPostingBatches, streamPostings, type StreamSource, type TermPostings } from './stream.ts'
import type { XElement } from '../xml/tree.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

export interface TwigStoreInit {
  /** Folder of the LevelDB store; created when missing. */
  path: string
  /** Postings per block. Default 512. */
  blockSize?: number
  /**
   * Pending write bytes before an import flushes a batch. Default 1 MiB:
   * LevelDB copies a batch into one growing string, whose new pages fault
   * (R1 at 8 MiB: ~52,000 faults in batch calls, at 1 MiB ~34,000), and a
   * smaller batch's operations die younger.
   */
  batchBytes?: number
  /** Postings an import gathers in memory before writing them sorted by term (a run: 18 bytes a posting, twice while sorted). Default 8 Mi. */
  runPostings?: number
  /** Posting records after which an import interns, sorts and encodes in a worker thread. Default 262,144 (a few thousand documents); Infinity: never. */
  workerRecords?: number
  /**
   * LevelDB's write buffer (memtable) in bytes. Default 32 MiB (LevelDB's is 4): an
   * import writes ~180 MB for R1, and each full buffer becomes a level-0 file that a
   * background thread must merge; with many small files LevelDB throttles, then
   * stops, writes until it catches up.
   */
  writeBufferBytes?: number
  /** Bytes of decoded posting blocks that reads keep (reader.ts). Default 64 MiB. */
  postingCacheBytes?: number
}

/** `runs`: every committed run (keys.ts, S), with its last term. */
export interface Manifest { format: 2, nextDocId: number, live: number, postings: number, imports: number, runs: Array<{ first: number, last: string }> }

const STORE_FORMAT = 2

export interface StoredDocument { docId: number, id: string, xml: string }

export interface ReleaseInfo {
  name: string
  docId: number
  version: string
  date: string
  units: number
}

export interface StoreStats {
  documents: number
  releases: ReleaseInfo[]
  postings: number
  imports: number
  terms: number
  bytes: number
}

/** A document to add inside a transaction; replaces any live document with the same id. */
export interface NewDocument { id: string, root: XElement, xml?: string }

const dec = new TextDecoder()
const enc = new TextEncoder()

/**
 * The local posting and document store (LevelDB): the embedded default's
 * storage and, later, each index peer's share of the DHT index. Imports are
 * atomic: everything is written under fresh docIds and becomes visible in
 * one small batch that moves the commit point (manifest.nextDocId).
 */
export class TwigStore implements PostingSource {
  private manifest: Manifest = { format: STORE_FORMAT, nextDocId: 1, live: 0, postings: 0, imports: 0, runs: [] }
  private runBounds: RunBounds[] = []
  private dead = new Uint8Array(0)
  private deadCount = 0
  private busy = false
  private readonly reader: PostingReader

  private constructor (readonly path: string, private readonly db: Db, private readonly init: Required<Omit<TwigStoreInit, 'path' | 'writeBufferBytes' | 'postingCacheBytes'>>, postingCacheBytes?: number) {
    this.reader = new PostingReader(db, () => this.manifest.nextDocId, () => this.runBounds, (doc) => this.isLive(doc), () => this.deadCount > 0, { blockBytes: postingCacheBytes })
  }

  static async open (init: TwigStoreInit): Promise<TwigStore> {
    await mkdir(init.path, { recursive: true })
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(join(init.path, 'index'), { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: init.writeBufferBytes ?? 32 * 1024 * 1024 })
    try {
      await db.open()
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      if (code === 'LEVEL_LOCKED') {
        throw new StoreError(`store ${init.path} is held by another process (a running peer owns its folder: talk to it with --peer URL)`, 'ERR_STORE_LOCKED', { cause: err })
      }
      throw new StoreError(`cannot open store ${init.path}: ${(err as Error).message}`, 'ERR_STORE', { cause: err })
    }
    const store = new TwigStore(init.path, db, { blockSize: init.blockSize ?? 512, batchBytes: init.batchBytes ?? 1024 * 1024, runPostings: init.runPostings ?? 8 * 1024 * 1024, workerRecords: init.workerRecords ?? 262_144 }, init.postingCacheBytes)
    await store.load()
    return store
  }

  private async load (): Promise<void> {
    const m = await this.db.get(MANIFEST_KEY)
    if (m !== undefined) {
      const parsed = JSON.parse(dec.decode(m)) as Manifest
      if (parsed.format !== STORE_FORMAT) throw new StoreError(`store ${this.path} has format ${String(parsed.format)}, this edos reads format ${STORE_FORMAT} (import the data again into a new folder)`, 'ERR_STORE_FORMAT')
      this.setManifest(parsed)
    }
    if (await this.db.get(IMPORT_KEY) !== undefined) await this.removeUnfinishedImport()
    this.dead = new Uint8Array(this.manifest.nextDocId + 1)
    for await (const key of this.db.keys(tombstoneRange)) { this.dead[readU32be(key, 1)] = 1; this.deadCount++ }
  }

  /** Deletes what an interrupted import wrote past the commit point. */
  private async removeUnfinishedImport (): Promise<void> {
    const limit = this.manifest.nextDocId
    const ops: Array<{ type: 'del', key: Uint8Array }> = []
    const sweep = async (range: { gte: Uint8Array, lt: Uint8Array }, docOf: (k: Uint8Array) => number): Promise<void> => {
      for await (const key of this.db.keys(range)) {
        if (docOf(key) >= limit) ops.push({ type: 'del', key })
        if (ops.length >= 10000) await this.db.batch(ops.splice(0))
      }
    }
    await sweep(docRange, (k) => readU32be(k, 1))
    await sweep(blockRangeAll, blockKeyDoc)
    await sweep(summaryRangeAll, groupRun)
    ops.push({ type: 'del', key: IMPORT_KEY })
    await this.db.batch(ops)
  }

  get documentCount (): number { return this.manifest.live }
  /** Committed postings (stats().postings without stats()' scan of every term). */
  get postingCount (): number { return this.manifest.postings }
  liveDocuments (): number { return this.manifest.live }
  get nextDocId (): number { return this.manifest.nextDocId }

  /** True for a committed document that has not been replaced. */
  isLive (docId: number): boolean {
    return docId > 0 && docId < this.manifest.nextDocId && this.dead[docId] !== 1
  }

  /**
   * Runs `fill` as one atomic import: documents added through the writer
   * become visible together when it resolves, or not at all.
   */
  async transaction<T> (fill: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (this.busy) throw new StoreError('another import is running on this store', 'ERR_STORE_BUSY')
    this.busy = true
    try {
      const firstDoc = this.manifest.nextDocId
      await this.db.put(IMPORT_KEY, enc.encode(JSON.stringify({ fromDocId: firstDoc })))
      const tx = new StoreTransaction(this, this.db, new ImportWriter(this.db, firstDoc, this.init))
      let result: T
      try {
        result = await fill(tx)
        await tx.commit()
      } catch (err) {
        await tx.settle()
        await this.removeUnfinishedImport()
        throw err
      }
      return result
    } finally {
      this.busy = false
    }
  }

  /** @internal called by StoreTransaction.commit */
  async applyCommit (ops: Array<{ type: 'put' | 'del', key: Uint8Array, value?: Uint8Array }>, next: Manifest, dead: number[]): Promise<void> {
    ops.push({ type: 'put', key: MANIFEST_KEY, value: enc.encode(JSON.stringify(next)) })
    ops.push({ type: 'del', key: IMPORT_KEY })
    await this.db.batch(ops as never)
    this.setManifest(next)
    const grown = new Uint8Array(next.nextDocId + 1)
    grown.set(this.dead.subarray(0, Math.min(this.dead.length, grown.length)))
    for (const d of dead) { if (grown[d] !== 1) this.deadCount++; grown[d] = 1 }
    this.dead = grown
    this.reader.invalidate()
  }

  /** @internal */
  currentManifest (): Manifest { return { ...this.manifest } }

  private setManifest (m: Manifest): void {
    this.manifest = m
    this.runBounds = m.runs.map((r) => ({ first: r.first, last: termBytes(r.last) }))
  }

  async docIdOf (id: string): Promise<number | undefined> {
    const v = await this.db.get(idKey(id))
    return v === undefined ? undefined : readU32be(v, 0)
  }

  /** docIdOf for many ids in one LevelDB read (a release's units: one look-up each cost ~30 us). */
  async docIdsOf (ids: readonly string[]): Promise<Array<number | undefined>> {
    if (ids.length === 0) return []
    const values = await this.db.getMany(ids.map(idKey))
    return values.map((v) => v === undefined ? undefined : readU32be(v, 0))
  }

  async getDocument (docId: number): Promise<StoredDocument | undefined> {
    if (!this.isLive(docId)) return undefined
    const v = await this.db.get(docKey(docId))
    return v === undefined ? undefined : { docId, ...decodeDocRecord(v) }
  }

  async getDocuments (docIds: number[]): Promise<Array<StoredDocument | undefined>> {
    return (await this.getDocumentRecords(docIds)).map((v, i) => v === undefined ? undefined : { docId: docIds[i], ...decodeDocRecord(v) })
  }

  /**
   * The stored records of `docIds` (the UTF-8 of id, a 00 byte, then the
   * XML), undefined for a dead or missing one: for a caller that passes
   * documents on as bytes (the publisher) and would otherwise decode and
   * encode every XML text again.
   */
  async getDocumentRecords (docIds: number[]): Promise<Array<Uint8Array | undefined>> {
    const values = await this.db.getMany(docIds.map(docKey))
    return values.map((v, i) => v === undefined || !this.isLive(docIds[i]) ? undefined : v)
  }

  /** Every live document in docId order. */
  async * documents (): AsyncGenerator<StoredDocument> {
    for await (const [k, v] of this.db.iterator(docRange)) {
      const docId = readU32be(k, 1)
      if (this.isLive(docId)) yield { docId, ...decodeDocRecord(v) }
    }
  }

  /** Every live docId in order. */
  async * allDocIds (): AsyncGenerator<number> {
    for await (const k of this.db.keys(docRange)) {
      const docId = readU32be(k, 1)
      if (this.isLive(docId)) yield docId
    }
  }

  async release (name: string): Promise<ReleaseInfo | undefined> {
    const v = await this.db.get(releaseKey(name))
    return v === undefined ? undefined : JSON.parse(dec.decode(v)) as ReleaseInfo
  }

  async releases (): Promise<ReleaseInfo[]> {
    const out: ReleaseInfo[] = []
    for await (const v of this.db.values(releaseRange)) out.push(JSON.parse(dec.decode(v)) as ReleaseInfo)
    return out
  }

  // PostingSource

  async termStats (term: string): Promise<TermStats> {
    return await this.reader.stats(term)
  }

  async * terms (prefix: string): AsyncGenerator<string> {
    const p = termBytes(prefix)
    const found = new Map<string, Uint8Array>()
    for await (const { value } of this.groupsFrom(p, (last) => !startsWith(last, p) && compareBytes(last, p) > 0)) {
      forEachEntry(value, (t) => {
        if (startsWith(t, p)) { const k = Buffer.from(t).toString('latin1'); if (!found.has(k)) found.set(k, t.slice()) }
        return undefined
      })
    }
    for (const t of [...found.values()].sort(compareBytes)) yield dec.decode(t)
  }

  private groupsFrom (from: Uint8Array, done: (lastTerm: Uint8Array) => boolean): AsyncGenerator<{ run: number, key: Uint8Array, value: Uint8Array }> {
    return groupsFrom(this.db, this.manifest.nextDocId, this.runBounds, from, done)
  }

  async fetch (term: string, filter?: DocFilter): Promise<PostingList> {
    return await this.reader.fetch(term, filter)
  }

  /** A term's postings as stored, blocks read from LevelDB, no cache: what decoding a list from scratch starts from (benchmarks measure that). */
  async encodedPostings (term: string): Promise<EncodedPostings[]> {
    return await this.reader.encoded(term)
  }

  async scan (range: TermRange, filter?: DocFilter): Promise<PostingList> {
    const prefix = termBytes(range.prefix)
    const gte = range.gte === undefined ? undefined : termBytes(range.gte)
    const gt = range.gt === undefined ? undefined : termBytes(range.gt)
    const lt = range.lt === undefined ? undefined : termBytes(range.lt)
    const lte = range.lte === undefined ? undefined : termBytes(range.lte)
    // Where a term stands: -1 before the range, 0 inside, 1 past it (bounds are whole terms, in byte order).
    const place = (t: Uint8Array): number => {
      const c = compareBytes(t, prefix)
      if (c < 0) return -1
      if (!startsWith(t, prefix)) return 1
      if ((gte !== undefined && compareBytes(t, gte) < 0) || (gt !== undefined && compareBytes(t, gt) <= 0)) return -1
      if ((lt !== undefined && compareBytes(t, lt) >= 0) || (lte !== undefined && compareBytes(t, lte) > 0)) return 1
      return 0
    }
    let from = prefix
    if (gte !== undefined && compareBytes(gte, from) > 0) from = gte
    if (gt !== undefined && compareBytes(gt, from) > 0) from = gt
    const out = new PostingBuffer(256)
    const live = (doc: number): boolean => this.isLive(doc) && (filter == null || filter.has(doc))
    const terms = new Set<string>()
    const withBlocks: Array<{ term: string, run: number, lastDoc: number }> = []
    for await (const { run, value } of this.groupsFrom(from, (last) => place(last) > 0)) {
      forEachEntry(value, (t, at) => {
        if (place(t) !== 0) return undefined
        const s = readSummary(value, at)
        if (filter != null && !filter.intersects(run, s.lastDoc)) return undefined
        const term = dec.decode(t)
        if (range.match != null && !range.match(term)) return undefined
        terms.add(term)
        if (s.blocks === 0) decodeBlock(value, s.offset, run, out, live)
        else withBlocks.push({ term, run, lastDoc: s.lastDoc })
        return undefined
      })
    }
    for (const b of withBlocks) await this.fetchBlocks(b.term, b.run, b.lastDoc, out, live, filter)
    // One term's runs come in group order, not doc order; several terms interleave: sort when the order is off.
    return inOrder(out) ? out : sortPostings(out)
  }

  private async fetchBlocks (term: string, firstDoc: number, lastDoc: number, out: PostingBuffer, live: (doc: number) => boolean, filter?: DocFilter): Promise<void> {
    const range = { gte: blockKey(term, firstDoc, 0), lte: blockKey(term, lastDoc, 0xffffffff) }
    if (filter == null) {
      for await (const v of this.db.values(range)) decodeBlock(v, 4, readU32be(v, 0), out, live)
      return
    }
    // With a filter, look at keys only (each names its block's last doc) and read just the blocks that may hold a wanted doc.
    const wanted: Uint8Array[] = []
    let prevLast = firstDoc
    for await (const k of this.db.keys(range)) {
      const last = blockKeyDoc(k)
      // A block starts at or after the previous block's last doc (a doc can span blocks).
      if (filter.intersects(prevLast, last)) wanted.push(k)
      prevLast = last
    }
    if (wanted.length === 0) return
    for (const v of await this.db.getMany(wanted)) if (v !== undefined) decodeBlock(v, 4, readU32be(v, 0), out, live)
  }

  /**
   * Every term with postings in documents >= firstDoc (committed), in UTF-8 byte order of the
   * term, each with those postings sorted by (doc, start): what imports from firstDoc on added.
   * Streams: memory bounded by one term's postings plus read-ahead, not by the store.
   *
   * `live` (default true): leave out postings of replaced documents. The stream reads what was
   * committed when it started; an import committed meanwhile is not in it. Each list yielded
   * stays valid (lists are views of shared slabs, never reused).
   */
  postingsFrom (firstDoc: number, options: { live?: boolean } = {}): AsyncIterable<TermPostings> {
    return streamPostings(this.streamSource(), firstDoc, options.live ?? true)
  }

  /** postingsFrom in batches of consecutive terms (in order), for a consumer of every term of a release: a step per term costs. */
  postingBatchesFrom (firstDoc: number, options: { live?: boolean } = {}): AsyncIterable<TermPostings[]> {
    return streamPostingBatches(this.streamSource(), firstDoc, options.live ?? true)
  }

  private streamSource (): StreamSource {
    return { db: this.db, committed: this.manifest.nextDocId, runs: this.manifest.runs, isLive: (doc: number) => this.isLive(doc), hasDead: () => this.deadCount > 0 }
  }

  async stats (): Promise<StoreStats> {
    return { documents: this.manifest.live, releases: await this.releases(), postings: this.manifest.postings, imports: this.manifest.imports, terms: await this.countTerms(), bytes: await folderBytes(join(this.path, 'index')) }
  }

  /** Distinct committed terms: each run's terms are distinct, so one run needs no set. */
  private async countTerms (): Promise<number> {
    const committed = this.manifest.nextDocId
    const single = this.manifest.runs.length <= 1
    const seen = new Set<string>()
    let terms = 0
    for await (const [k, v] of this.db.iterator(summaryRangeAll)) {
      if (groupRun(k) >= committed) continue
      forEachEntry(v, (t) => {
        if (single) terms++
        else seen.add(Buffer.from(t).toString('latin1'))
        return undefined
      })
    }
    return single ? terms : seen.size
  }

  async close (): Promise<void> { await this.db.close() }
}

function inOrder (list: PostingBuffer): boolean {
  for (let i = 1; i < list.length; i++) {
    if (list.docs[i] < list.docs[i - 1] || (list.docs[i] === list.docs[i - 1] && list.starts[i] < list.starts[i - 1])) return false
  }
  return true
}

function startsWith (t: Uint8Array, prefix: Uint8Array): boolean {
  if (t.length < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (t[i] !== prefix[i]) return false
  return true
}

/** Sorts postings gathered from several terms by (doc, start). */
function sortPostings (list: PostingBuffer): PostingBuffer {
  const order = Array.from({ length: list.length }, (_, i) => i)
  order.sort((x, y) => (list.docs[x] - list.docs[y]) || (list.starts[x] - list.starts[y]))
  const out = new PostingBuffer(list.length)
  for (const i of order) out.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i])
  return out
}

async function folderBytes (dir: string): Promise<number> {
  let total = 0
  for (const name of await readdir(dir)) total += (await stat(join(dir, name))).size
  return total
}

export { StoreTransaction }
