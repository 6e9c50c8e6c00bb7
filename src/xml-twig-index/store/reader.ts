import type { ClassicLevel } from 'classic-level'
import { PostingBuffer, decodeBlock, EMPTY_LIST, type PostingList } from '../postings/codec.ts'
import type { DocFilter, TermStats } from '../engine/source.ts'
import { SUMMARY_END, blockKey, blockKeyDoc, groupLastTerm, groupRun, groupSeek, readU32be, termBytes } from './keys.ts'
import { compareBytes, findInGroup, readSummary } from './groups.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** A committed run: its first doc and its last term (UTF-8). */
export interface RunBounds { first: number, last: Uint8Array }

/** One import run's postings of a term: inline, or a list of blocks. */
interface Summary {
  firstDoc: number
  lastDoc: number
  count: number
  docs: number
  inline?: { bytes: Uint8Array, offset: number }
  blocks?: BlockRef[]
}

interface BlockRef { key: Uint8Array, id: string, lastDoc: number }

/** Where a term's postings are: read once from LevelDB, then served from memory. */
interface Directory { summaries: Summary[], stats: TermStats }

export interface ReaderInit {
  /** Term directories kept in memory. Default 50,000. */
  directories?: number
  /** Bytes of raw posting blocks kept in memory. Default 64 MiB. */
  blockBytes?: number
}

/**
 * The read side of the posting store with two caches: term directories
 * (summaries and block keys: one LevelDB round trip per term the first time
 * instead of one or more per read) and raw blocks (LRU by bytes). A read
 * that knows its candidate documents fetches only the blocks that may hold
 * them, in one getMany. Both caches are dropped when an import commits.
 */
export class PostingReader {
  private readonly directories = new Map<string, Promise<Directory>>()
  private readonly blocks = new Map<string, Uint8Array>()
  private blockBytes = 0
  private readonly maxDirectories: number
  private readonly maxBlockBytes: number

  constructor (private readonly db: Db, private readonly committed: () => number, private readonly runs: () => readonly RunBounds[], private readonly isLive: (doc: number) => boolean, private readonly hasDead: () => boolean, init: ReaderInit = {}) {
    this.maxDirectories = init.directories ?? 50_000
    this.maxBlockBytes = init.blockBytes ?? 64 * 1024 * 1024
  }

  invalidate (): void {
    this.directories.clear()
    this.blocks.clear()
    this.blockBytes = 0
  }

  async stats (term: string): Promise<TermStats> {
    return (await this.directory(term)).stats
  }

  async fetch (term: string, filter?: DocFilter): Promise<PostingList> {
    const dir = await this.directory(term)
    if (dir.stats.postings === 0) return EMPTY_LIST
    const out = new PostingBuffer(filter == null ? dir.stats.postings : Math.min(dir.stats.postings, 1024))
    const keep = this.keeper(filter)
    // Blocks to read from LevelDB, in one round trip.
    const missing: BlockRef[] = []
    const wanted: Array<Summary | BlockRef> = []
    for (const s of dir.summaries) {
      if (filter != null && !filter.intersects(s.firstDoc, s.lastDoc)) continue
      if (s.inline !== undefined) { wanted.push(s); continue }
      let prevLast = s.firstDoc
      for (const b of s.blocks ?? []) {
        // A block starts at or after the previous block's last doc (one doc may span blocks).
        if (filter == null || filter.intersects(prevLast, b.lastDoc)) {
          wanted.push(b)
          if (!this.blocks.has(b.id)) missing.push(b)
        }
        prevLast = b.lastDoc
      }
    }
    const fetched = new Map<string, Uint8Array>()
    if (missing.length > 0) {
      const values = await this.db.getMany(missing.map((b) => b.key))
      values.forEach((v, i) => { if (v !== undefined) { fetched.set(missing[i].id, v); this.remember(missing[i].id, v) } })
    }
    for (const w of wanted) {
      if ('id' in w) {
        const v = this.blocks.get(w.id) ?? fetched.get(w.id)
        if (v !== undefined) decodeBlock(v, 4, readU32be(v, 0), out, keep)
      } else if (w.inline !== undefined) {
        decodeBlock(w.inline.bytes, w.inline.offset, w.firstDoc, out, keep)
      }
    }
    return out.length === 0 ? EMPTY_LIST : out
  }

  /** Doc test for decoding: none when every doc counts, a forward cursor over a sorted filter otherwise. */
  private keeper (filter?: DocFilter): ((doc: number) => boolean) | undefined {
    const dead = this.hasDead()
    if (filter == null) return dead ? this.isLive : undefined
    const inFilter = filter.sequential()
    return dead ? (doc) => this.isLive(doc) && inFilter(doc) : inFilter
  }

  private remember (id: string, v: Uint8Array): void {
    if (v.length > this.maxBlockBytes / 4) return
    this.blocks.set(id, v)
    this.blockBytes += v.length
    for (const [k, old] of this.blocks) {
      if (this.blockBytes <= this.maxBlockBytes) break
      this.blocks.delete(k)
      this.blockBytes -= old.length
    }
  }

  private async directory (term: string): Promise<Directory> {
    let d = this.directories.get(term)
    if (d !== undefined) {
      // refresh its place in the LRU order
      this.directories.delete(term)
      this.directories.set(term, d)
      return await d
    }
    d = this.loadDirectory(term)
    this.directories.set(term, d)
    if (this.directories.size > this.maxDirectories) this.directories.delete(this.directories.keys().next().value as string)
    return await d
  }

  private async loadDirectory (term: string): Promise<Directory> {
    const summaries: Summary[] = []
    let postings = 0; let docs = 0; let blockCount = 0
    const tb = termBytes(term)
    for await (const { run, value } of groupsFrom(this.db, this.committed(), this.runs(), tb, (last) => compareBytes(last, tb) >= 0)) {
      const at = findInGroup(value, tb)
      if (at < 0) continue
      const s = readSummary(value, at)
      const summary: Summary = { firstDoc: run, lastDoc: s.lastDoc, count: s.count, docs: s.docs }
      if (s.blocks === 0) summary.inline = { bytes: value, offset: s.offset }
      summaries.push(summary)
      postings += s.count; docs += s.docs; blockCount += Math.max(1, s.blocks)
    }
    summaries.sort((a, b) => a.firstDoc - b.firstDoc)
    await Promise.all(summaries.filter((s) => s.inline === undefined).map(async (s) => {
      s.blocks = []
      for await (const k of this.db.keys({ gte: blockKey(term, s.firstDoc, 0), lte: blockKey(term, s.lastDoc, 0xffffffff) })) {
        s.blocks.push({ key: k, id: Buffer.from(k).toString('latin1'), lastDoc: blockKeyDoc(k) })
      }
    }))
    return { summaries, stats: { term, postings, docs, blocks: blockCount } }
  }
}

/**
 * The committed summary groups that may hold terms from `from` on: a scan
 * from the first group whose last term is >= `from`, which yields each
 * run's groups until one of them reaches past the range (`done(lastTerm)`)
 * and ends when every run has.
 */
export async function * groupsFrom (db: Db, committed: number, runs: readonly RunBounds[], from: Uint8Array, done: (lastTerm: Uint8Array) => boolean): AsyncGenerator<{ run: number, key: Uint8Array, value: Uint8Array }> {
  // A run whose terms all sort before `from` has nothing to give: without this, a scan would go on to the end of the groups looking for it.
  const finished = new Set<number>()
  for (const r of runs) if (compareBytes(r.last, from) < 0) finished.add(r.first)
  if (finished.size >= runs.length) return
  for await (const [key, value] of db.iterator({ gte: groupSeek(from), lt: SUMMARY_END })) {
    const run = groupRun(key)
    if (run >= committed || finished.has(run)) continue // runs of an import not yet committed are not in `runs` either
    yield { run, key, value }
    if (done(groupLastTerm(key))) {
      finished.add(run)
      if (finished.size >= runs.length) return
    }
  }
}
