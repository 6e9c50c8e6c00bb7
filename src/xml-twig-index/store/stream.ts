import type { ClassicLevel } from 'classic-level'
import { PostingBuffer, decodeBlock, type PostingList } from '../postings/codec.ts'
import { blockKeyBytes, blockRangeAll, groupRun, readU32be, summaryRangeAll } from './keys.ts'
import { EntryCursor, compareBytes, readSummary, type SummaryHead } from './groups.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>
type Entry = [Uint8Array, Uint8Array]
interface BlockIterator { seek: (target: Uint8Array) => void, nextv: (size: number) => Promise<Entry[]>, close: () => Promise<void> }

/** What the stream needs of the store, taken when it starts. */
export interface StreamSource {
  db: Db
  /** The commit point (manifest.nextDocId) when the stream started. */
  committed: number
  /** The committed runs (manifest.runs). */
  runs: ReadonlyArray<{ first: number }>
  isLive: (doc: number) => boolean
  hasDead: () => boolean
}

/** Summary groups read ahead per run, in one getMany... */
const GROUP_BATCH = 32
/** ...and in all. */
const GROUPS_AHEAD = 256
/** Posting blocks read ahead in one step while the blocks of consecutive terms lie next to each other. */
const BLOCK_BATCH = 64
/** Postings per slab that the yielded lists are views of (one allocation for many small lists). */
const SLAB = 65_536
/** Iterators hold up to this many bytes read ahead (the default, 16 KiB, makes a scan several times slower). */
const ITERATOR_BYTES = 1 << 20

const dec = new TextDecoder()

/**
 * Every term with postings in committed documents >= firstDoc, in UTF-8
 * byte order, each with those postings in (doc, start) order (store.ts,
 * TwigStore.postingsFrom).
 *
 * Two passes over the summary groups (keys.ts, S), neither of which holds
 * the store: the keys alone first (a few thousand for a release), to learn
 * the order of each wanted run's groups; then a merge of the runs, each
 * read group by group (read ahead in batches), so that memory holds one
 * group per run whatever the spread of the runs' terms. (One scan in key
 * order would have to hold back every group of the other runs below a
 * sparse run's next group: a one-document import has a single group that
 * spans the whole term space.) The blocks of the terms that have some are
 * read through one iterator over P, which moves forward in term order and
 * seeks only where the wanted blocks are not next to the previous ones.
 */
export async function * streamPostings (src: StreamSource, firstDoc: number, live: boolean): AsyncGenerator<TermPostings> {
  for await (const batch of streamPostingBatches(src, firstDoc, live)) yield * batch
}

/** A term and its postings, as the stream gives them. */
export interface TermPostings { term: string, postings: PostingList }

/** Terms a batch of streamPostingBatches holds at most. */
const TERMS_PER_BATCH = 256

/**
 * streamPostings in batches of consecutive terms: each step of an async
 * iterator costs a promise and a turn of the microtask queue, ~0.35 us,
 * which R1's 850 K terms, most of them with a posting or two, paid one by one.
 */
export async function * streamPostingBatches (src: StreamSource, firstDoc: number, live: boolean): AsyncGenerator<TermPostings[]> {
  const lo = Math.max(1, Math.floor(firstDoc))
  const committed = src.committed
  if (!(lo < committed)) return
  // Runs hold disjoint doc ranges [first, next run's first): only those reaching lo are read, in doc order.
  const sorted = [...src.runs].map((r) => r.first).filter((f) => f < committed).sort((a, b) => a - b)
  const wanted = new Map<number, Uint8Array[]>()
  sorted.forEach((first, i) => { if ((sorted[i + 1] ?? committed) > lo) wanted.set(first, []) })
  if (wanted.size === 0) return
  for await (const key of src.db.keys({ ...summaryRangeAll, highWaterMarkBytes: ITERATOR_BYTES })) {
    wanted.get(groupRun(key))?.push(key)
  }
  // Read-ahead of a few hundred groups in all (~4 KiB each), at least a few per run.
  const batch = Math.max(4, Math.min(GROUP_BATCH, Math.floor(GROUPS_AHEAD / wanted.size)))
  const runs = [...wanted].map(([first, keys]) => new RunCursor(src.db, first, keys, batch))
  const blocks = new BlockCursor(src.db)
  try {
    await Promise.all(runs.map(async (r) => { await r.start() }))
    const dead = live && src.hasDead()
    const isLive = src.isLive
    const keepFrom = (doc: number): boolean => doc >= lo && (!dead || isLive(doc))
    let slab = new PostingBuffer(SLAB)
    const active = runs.filter((r) => r.entry !== undefined)
    const at: RunCursor[] = []
    // The summary of each run in `at` (read once a term).
    const summaries: SummaryHead[] = []
    let termBuf = new Uint8Array(256)
    let batch: TermPostings[] = []
    while (active.length > 0) {
      // The least term of the runs, and the runs that hold it (in doc order: `active` keeps the runs' order).
      at.length = 0
      let least = active[0].entry as EntryCursor
      at.push(active[0])
      for (let i = 1; i < active.length; i++) {
        const e = active[i].entry as EntryCursor
        const c = compareTerms(e.term, e.length, least.term, least.length)
        if (c < 0) { least = e; at.length = 0 }
        if (c <= 0) at.push(active[i])
      }
      const length = least.length
      if (length > termBuf.length) termBuf = new Uint8Array(length * 2)
      for (let i = 0; i < length; i++) termBuf[i] = least.term[i]
      const term = termBuf.subarray(0, length)
      // Room for every posting of the term in the slab, so that the list is decoded in place (the summaries give the count).
      let count = 0
      summaries.length = 0
      for (const r of at) { const e = r.entry as EntryCursor; const s = readSummary(e.value, e.summaryAt); summaries.push(s); count += s.count }
      if (slab.length + count > slab.docs.length) slab = new PostingBuffer(Math.max(SLAB, count))
      const from = slab.length
      for (let k = 0; k < at.length; k++) {
        const r = at[k]
        const e = r.entry as EntryCursor
        const s = summaries[k]
        if (s.lastDoc < lo) continue
        const keep = r.first >= lo && !dead ? undefined : keepFrom
        if (s.blocks === 0) { decodeBlock(e.value, s.offset, r.first, slab, keep); continue }
        await blocks.seek(blockKeyBytes(term, Math.max(lo, r.first), 0), s.blocks)
        for (;;) {
          const b = await blocks.current()
          if (b === undefined || !isBlockOf(b[0], term) || readU32be(b[0], b[0].length - 8) > s.lastDoc) break
          decodeBlock(b[1], 4, readU32be(b[1], 0), slab, keep)
          blocks.advance()
        }
      }
      const to = slab.length
      // Move the runs on before yielding: the consumer's pace must not hold back the next groups' reads.
      let moves: Array<Promise<void>> | undefined
      for (const r of at) { const m = r.next(); if (m !== undefined) (moves ??= []).push(m) }
      if (moves !== undefined) {
        await Promise.all(moves)
        for (let i = active.length - 1; i >= 0; i--) if (active[i].entry === undefined) active.splice(i, 1)
      }
      if (to === from) continue
      batch.push({
        term: dec.decode(term),
        postings: { length: to - from, docs: slab.docs.subarray(from, to), starts: slab.starts.subarray(from, to), ends: slab.ends.subarray(from, to), levels: slab.levels.subarray(from, to) }
      })
      if (batch.length >= TERMS_PER_BATCH) { yield batch; batch = [] }
    }
    if (batch.length > 0) yield batch
  } finally {
    await blocks.close()
  }
}


function compareTerms (a: Uint8Array, al: number, b: Uint8Array, bl: number): number {
  const n = al < bl ? al : bl
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i]
  return al - bl
}

function isBlockOf (key: Uint8Array, term: Uint8Array): boolean {
  if (key.length !== term.length + 10 || key[term.length + 1] !== 0) return false
  for (let i = 0; i < term.length; i++) if (key[i + 1] !== term[i]) return false
  return true
}

/** One run's groups in term order, read ahead in batches; `entry` is the current term's entry, undefined once the run is done. */
class RunCursor {
  entry: EntryCursor | undefined
  private next0 = 0
  private values: Array<Uint8Array | undefined> = []
  private vi = 0
  private pending: Promise<Array<Uint8Array | undefined>> | undefined

  constructor (private readonly db: Db, readonly first: number, private readonly keys: Uint8Array[], private readonly batch: number) {}

  async start (): Promise<void> {
    this.prefetch()
    await this.nextGroup()
  }

  /** Moves to the next entry; a promise when a group had to be read. */
  next (): Promise<void> | undefined {
    if (this.entry?.next() === true) return undefined
    return this.nextGroup()
  }

  private prefetch (): void {
    if (this.next0 >= this.keys.length) { this.pending = undefined; return }
    const batch = this.keys.slice(this.next0, this.next0 + this.batch)
    this.next0 += batch.length
    this.pending = this.db.getMany(batch)
    this.pending.catch(() => {}) // seen when awaited; a stream closed early must not leave it unhandled
  }

  private async nextGroup (): Promise<void> {
    for (;;) {
      if (this.vi >= this.values.length) {
        if (this.pending === undefined) { this.entry = undefined; return }
        this.values = await this.pending
        this.vi = 0
        this.prefetch()
      }
      const v = this.values[this.vi++]
      if (v === undefined) continue
      const e = new EntryCursor(v)
      if (e.next()) { this.entry = e; return }
    }
  }
}

/**
 * A forward cursor over posting blocks (P), moved forward by `seek` to the
 * first block at or after a key: within the blocks already read when it
 * lies there, else through a LevelDB seek. While the wanted blocks lie next
 * to each other (a stream of most of the store) it reads the next batch
 * while this one is decoded; a sparse stream reads what each term needs
 * plus one block, the peek that tells whether the next term's blocks follow.
 */
class BlockCursor {
  private it: BlockIterator | undefined
  private buf: Entry[] = []
  private i = 0
  private pending: Promise<Entry[]> | undefined
  /** No block after `buf`. */
  private ended = false
  /** Read ahead while positive: seeks served by what was read raise it, seeks that were not lower it. */
  private dense = 1

  constructor (private readonly db: Db) {}

  private iterator (): BlockIterator {
    const it = this.it ?? this.db.iterator({ ...blockRangeAll, highWaterMarkBytes: ITERATOR_BYTES }) as unknown as BlockIterator
    this.it = it
    return it
  }

  private skip (target: Uint8Array): void {
    while (this.i < this.buf.length && compareBytes(this.buf[this.i][0], target) < 0) this.i++
  }

  private readAhead (): void {
    if (this.ended || this.dense <= 0) return
    this.pending = this.iterator().nextv(BLOCK_BATCH)
    this.pending.catch(() => {}) // seen when awaited; a stream closed early must not leave it unhandled
  }

  private take (next: Entry[]): void {
    this.buf = next
    this.i = 0
    if (next.length === 0) this.ended = true
  }

  /** Goes to the first block whose key is >= target; up to `want` blocks are wanted from there. */
  async seek (target: Uint8Array, want: number): Promise<void> {
    const had = this.buf.length
    this.skip(target)
    if (this.i < this.buf.length) {
      // Served by the peek of a sparse read: the blocks are next to each other after all.
      if (this.dense <= 0 && this.i === had - 1) { this.dense = 1; if (this.pending === undefined) this.readAhead() }
      return
    }
    if (this.pending !== undefined) {
      this.take(await this.pending)
      this.pending = undefined
      this.skip(target)
      if (this.i < this.buf.length) { this.dense = Math.min(this.dense + 1, 4); this.readAhead(); return }
      this.dense--
    }
    if (this.ended && this.buf.length === 0) return // nothing at or after an earlier target: nothing after this one either
    const it = this.iterator()
    it.seek(target)
    this.ended = false
    this.take(await it.nextv(this.dense > 0 ? Math.max(want, BLOCK_BATCH) : Math.min(want, 1024) + 1))
    this.readAhead()
  }

  /** The current block, reading on when the blocks read are used up. */
  async current (): Promise<Entry | undefined> {
    if (this.i < this.buf.length) return this.buf[this.i]
    if (this.ended) return undefined
    const pending = this.pending
    this.pending = undefined
    this.take(await (pending ?? this.iterator().nextv(BLOCK_BATCH)))
    this.readAhead()
    return this.buf[0]
  }

  advance (): void { this.i++ }

  async close (): Promise<void> {
    if (this.pending !== undefined) await this.pending.catch(() => {})
    await this.it?.close()
  }
}
