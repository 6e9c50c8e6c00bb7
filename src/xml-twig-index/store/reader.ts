import type { ClassicLevel } from 'classic-level'
import { PostingBuffer, decodeBlock, EMPTY_LIST, type PostingList } from '../postings/codec.ts'
import { SortedDocSet, lowerBound, type DocFilter, type TermStats } from '../engine/source.ts'
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
  /** Bytes of decoded blocks kept in memory (14 bytes a posting, ~256 more a block). Default 64 MiB. */
  blockBytes?: number
}

/** Stored postings of a term: decodeBlock(bytes, offset, baseDoc, out) reads them. */
export interface EncodedPostings { bytes: Uint8Array, offset: number, baseDoc: number }

/** A decoded block, its arrays exactly `length` long. */
type Decoded = PostingList

/** Bytes a decoded posting takes: doc, start and end (4 bytes each), level (2). */
const POSTING_BYTES = 14

/**
 * The read side of the posting store with two caches: term directories
 * (summaries and block keys: one LevelDB round trip per term the first time
 * instead of one or more per read) and decoded blocks (LRU by bytes). A
 * read that knows its candidate documents fetches only the blocks that may
 * hold them, in one getMany, and takes from each only the postings of those
 * documents (appendSearched), where from raw bytes every posting had to be
 * decoded to find its doc. Both caches are dropped when an import commits.
 */
export class PostingReader {
  private readonly directories = new Map<string, Promise<Directory>>()
  private readonly blocks = new Map<string, Decoded>()
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
    // Blocks to read from LevelDB, in one round trip. Hits are taken from the cache now: a block remembered below, or by a read
    // running meanwhile, may evict them before they are used.
    const missing: BlockRef[] = []
    const wanted: Array<Summary | BlockRef> = []
    const decoded = new Map<string, Decoded>()
    for (const s of dir.summaries) {
      if (filter != null && !filter.intersects(s.firstDoc, s.lastDoc)) continue
      if (s.inline !== undefined) { wanted.push(s); continue }
      let prevLast = s.firstDoc
      for (const b of s.blocks ?? []) {
        // A block starts at or after the previous block's last doc (one doc may span blocks).
        if (filter == null || filter.intersects(prevLast, b.lastDoc)) {
          wanted.push(b)
          const hit = this.cached(b.id)
          if (hit !== undefined) decoded.set(b.id, hit)
          else missing.push(b)
        }
        prevLast = b.lastDoc
      }
    }
    if (missing.length > 0) {
      const values = await this.db.getMany(missing.map((b) => b.key))
      values.forEach((v, i) => {
        if (v === undefined) return
        const d = decodeWhole(v, 4, readU32be(v, 0))
        decoded.set(missing[i].id, d)
        this.remember(missing[i].id, d)
      })
    }
    const take = this.taker(filter)
    let keep: ((doc: number) => boolean) | undefined | null = null
    for (const w of wanted) {
      if ('id' in w) {
        const d = decoded.get(w.id)
        if (d !== undefined) take(d, out)
      } else if (w.inline !== undefined) {
        // An inline list (fewer postings than a block) is decoded where the directory holds it: caching it would cost more
        // in objects than in postings.
        if (keep === null) keep = this.keeper(filter)
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

  /**
   * A term's postings as stored: each block's (or inline list's) bytes, where
   * its postings start and the doc their deltas start from. Read from the
   * store, not the caches: what decoding a list from scratch works on.
   */
  async encoded (term: string): Promise<EncodedPostings[]> {
    const dir = await this.directory(term)
    const out: EncodedPostings[] = []
    for (const s of dir.summaries) {
      // (a copy: the directory's cached summary group holds these bytes)
      if (s.inline !== undefined) { out.push({ bytes: s.inline.bytes.slice(), offset: s.inline.offset, baseDoc: s.firstDoc }); continue }
      const blocks = s.blocks ?? []
      const values = blocks.length === 0 ? [] : await this.db.getMany(blocks.map((b) => b.key))
      for (const v of values) if (v !== undefined) out.push({ bytes: v, offset: 4, baseDoc: readU32be(v, 0) })
    }
    return out
  }

  /**
   * How a decoded list joins the answer: whole, or the postings of live docs
   * in the filter. A sorted set is searched for in the list (the candidates
   * of a selective read are far fewer than a block's docs); other filters
   * test each doc once.
   */
  private taker (filter?: DocFilter): (list: Decoded, out: PostingBuffer) => void {
    const dead = this.hasDead()
    const isLive = this.isLive
    if (filter == null) return dead ? (list, out) => { appendDocs(list, out, isLive) } : (list, out) => { out.append(list) }
    if (filter instanceof SortedDocSet) return (list, out) => { appendSearched(list, filter.docs, out, dead ? isLive : undefined) }
    const inFilter = filter.sequential()
    return (list, out) => { appendDocs(list, out, dead ? (doc) => isLive(doc) && inFilter(doc) : inFilter) }
  }

  private cached (id: string): Decoded | undefined {
    const d = this.blocks.get(id)
    if (d === undefined) return undefined
    // refresh its place in the LRU order
    this.blocks.delete(id)
    this.blocks.set(id, d)
    return d
  }

  private remember (id: string, d: Decoded): void {
    const bytes = cost(id, d)
    if (bytes > this.maxBlockBytes / 4) return
    // Two reads that missed the same block both remember it: the second replaces the first, which must not be counted twice.
    const before = this.blocks.get(id)
    if (before !== undefined) { this.blocks.delete(id); this.blockBytes -= cost(id, before) }
    this.blocks.set(id, d)
    this.blockBytes += bytes
    for (const [k, old] of this.blocks) {
      if (this.blockBytes <= this.maxBlockBytes) break
      this.blocks.delete(k)
      this.blockBytes -= cost(k, old)
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

/** Bytes a cached block is counted for: its postings, and its entry (the map's, the id, the list and its four views). */
function cost (id: string, d: Decoded): number { return d.length * POSTING_BYTES + 2 * id.length + 256 }

const scratch = new PostingBuffer(1024)

/** Every posting of a block at `offset`, its four columns in one ArrayBuffer of exactly their size. */
function decodeWhole (bytes: Uint8Array, offset: number, baseDoc: number): Decoded {
  scratch.clear()
  decodeBlock(bytes, offset, baseDoc, scratch)
  const n = scratch.length
  const buffer = new ArrayBuffer(n * POSTING_BYTES)
  const docs = new Uint32Array(buffer, 0, n); docs.set(scratch.docs.subarray(0, n))
  const starts = new Uint32Array(buffer, 4 * n, n); starts.set(scratch.starts.subarray(0, n))
  const ends = new Uint32Array(buffer, 8 * n, n); ends.set(scratch.ends.subarray(0, n))
  const levels = new Uint16Array(buffer, 12 * n, n); levels.set(scratch.levels.subarray(0, n))
  return { length: n, docs, starts, ends, levels }
}

/** Appends the postings of `list` whose doc passes `keep` (asked once per doc, in doc order). */
function appendDocs (list: Decoded, out: PostingBuffer, keep: (doc: number) => boolean): void {
  const docs = list.docs
  const n = list.length
  for (let i = 0; i < n;) {
    const doc = docs[i]
    let j = i + 1
    while (j < n && docs[j] === doc) j++
    if (keep(doc)) out.append(list, i, j)
    i = j
  }
}

/**
 * Appends the postings of `list` whose doc is one of the sorted `wanted` (and
 * live, when `live` is given): each wanted doc searched for in the list when
 * they are few against it, both walked side by side when they are many (a
 * filter of half the documents against a short list).
 */
function appendSearched (list: Decoded, wanted: Uint32Array, out: PostingBuffer, live?: (doc: number) => boolean): void {
  const n = list.length
  if (n === 0) return
  const docs = list.docs
  const last = docs[n - 1]
  let w = lowerBound(wanted, 0, wanted.length, docs[0])
  const wEnd = lowerBound(wanted, w, wanted.length, last + 1)
  if ((wEnd - w) * 8 > n) {
    for (let i = 0; i < n && w < wEnd;) {
      const doc = docs[i]
      let j = i + 1
      while (j < n && docs[j] === doc) j++
      while (w < wEnd && wanted[w] < doc) w++
      if (w < wEnd && wanted[w] === doc && (live === undefined || live(doc))) out.append(list, i, j)
      i = j
    }
    return
  }
  let i = 0
  for (; w < wEnd && i < n; w++) {
    const doc = wanted[w]
    i = lowerBound(docs, i, n, doc)
    if (i >= n || docs[i] !== doc) continue
    let j = i + 1
    while (j < n && docs[j] === doc) j++
    if (live === undefined || live(doc)) out.append(list, i, j)
    i = j
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
