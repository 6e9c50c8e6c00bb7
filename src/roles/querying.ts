/**
 * The querying role: tree patterns, structured package filters, documents
 * and releases, all answered by the embedded index (the distributed index
 * issue swaps the engine, not this API).
 */
import type { MatchRecord, Page, PackageFilter, PackageRecord, ReleaseRecord, UtilityRecord } from './types.ts'
import { PeerError } from './errors.ts'
import type { IndexView } from './index-view.ts'
import { encodeCursor, indexAfter, InvalidCursorError, type Match, type QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import { PostingBuffer, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { formatString } from '../xml-twig-index/query/format.ts'
import { tokenize } from '../xml-twig-index/tokens.ts'
import { documentRecord, packageRecord, releaseRecord, releaseUnits } from './records.ts'
import { compareVersions, schemeOf } from './versions.ts'

/** Patterns whose answers are kept for paging, and the most answers kept in all. */
const ANSWER_CACHE_ENTRIES = 64
const ANSWER_CACHE_NODES = 4_000_000

export interface QueryingInit {
  /** Largest page a caller may ask for. Default 1000: a page is materialised in memory. */
  maxPageSize?: number
}

/** A literal of the language: quotes inside are doubled ('it''s'), as the parser expects. */
export const literal = formatString

function finiteSize (field: string, n: number | undefined): number | undefined {
  if (n === undefined || n === null) return undefined
  if (!Number.isFinite(n) || n < 0) throw new PeerError(`${field} must be a non-negative number, got ${String(n)}`, 'BAD_USER_INPUT')
  return n
}

/**
 * The pattern a structured filter compiles to: one predicate per field on
 * the root `/package`, so every part must hold (`[a][b]` is `and`).
 * `release` is not part of the pattern (a pattern sees one document, a
 * release lists units in another): packages() restricts by docId instead.
 */
export function compileFilter (where: PackageFilter): string {
  const p: string[] = []
  if (where.name != null) p.push(`name = ${literal(where.name)}`)
  if (where.nameStartsWith != null) p.push(`starts-with(name, ${literal(where.nameStartsWith)})`)
  if (where.version != null) p.push(`version = ${literal(where.version)}`)
  if (where.arch != null) p.push(`arch = ${literal(where.arch)}`)
  if (where.section != null) p.push(`section = ${literal(where.section)}`)
  if (where.license != null) p.push(`license = ${literal(where.license)}`)
  // contains-word matches index tokens; a "word" like `c++` or `x-window` is split the same way the index split the text.
  for (const w of where.words ?? []) {
    for (const t of tokenize(w)) p.push(`contains-word(description, ${literal(t)}) or contains-word(summary, ${literal(t)})`)
  }
  if (where.dependsOn != null) p.push(`.//depends//dep/@name = ${literal(where.dependsOn)} or .//preDepends//dep/@name = ${literal(where.dependsOn)}`)
  const min = finiteSize('minSize', where.minSize)
  if (min !== undefined) p.push(`size >= ${min}`)
  const max = finiteSize('maxSize', where.maxSize)
  if (max !== undefined) p.push(`size <= ${max}`)
  return '/package' + p.map((x) => `[${x}]`).join('')
}

function keepDocs (nodes: PostingList, docs: ReadonlySet<number>): PostingList {
  const out = new PostingBuffer(Math.min(nodes.length, 64))
  for (let i = 0; i < nodes.length; i++) if (docs.has(nodes.docs[i])) out.push(nodes.docs[i], nodes.starts[i], nodes.ends[i], nodes.levels[i])
  return out
}

export class Querying {
  private readonly maxPageSize: number
  /** Parsed release records and their unit docIds, by the release document's docId (a new publish gives a new docId). */
  private readonly releaseCache = new Map<number, { record: ReleaseRecord, docIds?: Set<number>, ids?: Set<string> }>()

  constructor (readonly index: IndexView, init: QueryingInit = {}) {
    this.maxPageSize = init.maxPageSize ?? 1000
  }

  private checkFirst (first: number): void {
    if (!Number.isInteger(first) || first < 0 || first > this.maxPageSize) {
      throw new PeerError(`first must be an integer from 0 to ${this.maxPageSize}, got ${String(first)}`, 'BAD_USER_INPUT')
    }
  }

  /** One page of answers with a cursor per answer (the engine's own page only gives the last one). */
  private async page (nodes: PostingList, first: number, after?: string): Promise<{ matches: Array<{ match: Match, cursor: string }>, total: number, hasNext: boolean, hasPrevious: boolean }> {
    this.checkFirst(first)
    let from: number
    try { from = indexAfter(nodes, after) } catch (err) {
      if (err instanceof InvalidCursorError) throw new PeerError(err.message, 'BAD_USER_INPUT')
      throw err
    }
    const to = Math.min(nodes.length, from + first)
    const engine = this.index.engine
    let got = await engine.materialize(nodes, from, to)
    // materialize skips a node whose document vanished: then align one by one so each answer keeps its own cursor.
    const positions: number[] = []
    if (got.length === to - from) {
      for (let i = from; i < to; i++) positions.push(i)
    } else {
      got = []
      for (let i = from; i < to; i++) {
        const one = await engine.materialize(nodes, i, i + 1)
        if (one.length === 1) { got.push(one[0]); positions.push(i) }
      }
    }
    return {
      matches: got.map((match, k) => ({ match, cursor: encodeCursor(nodes.docs[positions[k]], nodes.starts[positions[k]]) })),
      total: nodes.length,
      hasNext: to < nodes.length,
      hasPrevious: from > 0
    }
  }

  private toPage<T>(p: Awaited<ReturnType<Querying['page']>>, node: (m: Match, cursor: string) => T): Page<T> {
    const items = p.matches.map((m) => ({ node: node(m.match, m.cursor), cursor: m.cursor }))
    return {
      items,
      total: p.total,
      startCursor: items[0]?.cursor ?? null,
      endCursor: items[items.length - 1]?.cursor ?? null,
      hasNextPage: p.hasNext,
      hasPreviousPage: p.hasPrevious
    }
  }

  /**
   * All answers of a pattern, kept for the next page: a client paging through
   * a large result (the CLI asks 500 at a time) must not re-run the join for
   * every page. Entries are valid for one store state (any commit moves
   * nextDocId) and bounded in count and in answers held.
   */
  private readonly answered = new Map<string, { version: number, nodes: PostingList }>()
  private answeredTotal = 0

  private async answersOf (pattern: string): Promise<PostingList> {
    const version = this.index.store.nextDocId
    const hit = this.answered.get(pattern)
    if (hit !== undefined) {
      this.answered.delete(pattern)
      this.answeredTotal -= hit.nodes.length
      if (hit.version === version) {
        this.answered.set(pattern, hit)
        this.answeredTotal += hit.nodes.length
        return hit.nodes
      }
    }
    const { nodes } = await this.index.engine.answers(pattern)
    this.answered.set(pattern, { version, nodes })
    this.answeredTotal += nodes.length
    for (const [key, entry] of this.answered) {
      if (this.answered.size <= ANSWER_CACHE_ENTRIES && this.answeredTotal <= ANSWER_CACHE_NODES) break
      this.answered.delete(key)
      this.answeredTotal -= entry.nodes.length
    }
    return nodes
  }

  async search (pattern: string, first: number, after?: string): Promise<Page<MatchRecord>> {
    const nodes = await this.answersOf(pattern)
    return this.toPage(await this.page(nodes, first, after), (m, cursor): MatchRecord => ({ ...m, cursor }))
  }

  async explain (pattern: string): Promise<QueryPlan> {
    return await this.index.explain(pattern)
  }

  async packages (where: PackageFilter, first: number, after?: string): Promise<Page<PackageRecord>> {
    let nodes = await this.answersOf(compileFilter(where))
    if (where.release != null) {
      const rel = await this.releaseEntry(where.release)
      if (rel === undefined) throw new PeerError(`no release named '${where.release}'`, 'NOT_FOUND')
      nodes = keepDocs(nodes, await this.unitDocIds(rel.record))
    }
    const p = await this.page(nodes, first, after)
    return this.toPage(p, (m) => packageRecord({ docId: m.docId, id: m.doc, xml: m.xml }))
  }

  /** Every package document matching a pattern whose answers are `/package` roots. */
  async packagesMatching (pattern: string): Promise<PackageRecord[]> {
    const nodes = await this.answersOf(pattern)
    const docIds = [...new Set(nodes.docs.subarray(0, nodes.length))]
    const docs = await this.index.store.getDocuments(docIds)
    return docs.filter((d) => d !== undefined).map((d) => packageRecord(d))
  }

  /** The package with this name (and version, arch when given); without a version, the highest by the package's version scheme. */
  async package (name: string, version?: string, arch?: string): Promise<PackageRecord | undefined> {
    const found = await this.packagesMatching(compileFilter({ name, version, arch }))
    let best: PackageRecord | undefined
    for (const p of found) {
      if (best === undefined || compareVersions(p.version, best.version, schemeOf(p)) > 0) best = p
    }
    return best
  }

  async document (id: string): Promise<PackageRecord | UtilityRecord | ReleaseRecord | undefined> {
    const docId = await this.index.store.docIdOf(id)
    if (docId === undefined) return undefined
    const doc = await this.index.store.getDocument(docId)
    if (doc === undefined) return undefined
    if (id.startsWith('release/')) return (await this.releaseByDocId(docId))?.record
    return documentRecord(doc)
  }

  private async releaseByDocId (docId: number): Promise<{ record: ReleaseRecord, docIds?: Set<number>, ids?: Set<string> } | undefined> {
    const hit = this.releaseCache.get(docId)
    if (hit !== undefined) return hit
    const doc = await this.index.store.getDocument(docId)
    if (doc === undefined) return undefined
    const entry = { record: releaseRecord(doc) }
    // Only live releases are worth keeping: drop entries of replaced release documents.
    for (const k of this.releaseCache.keys()) if (!this.index.store.isLive(k)) this.releaseCache.delete(k)
    this.releaseCache.set(docId, entry)
    return entry
  }

  private async releaseEntry (name: string): Promise<{ record: ReleaseRecord, docIds?: Set<number>, ids?: Set<string> } | undefined> {
    const info = await this.index.store.release(name)
    return info === undefined ? undefined : await this.releaseByDocId(info.docId)
  }

  /** Releases in publication order (the release document written last comes last). */
  async releases (): Promise<ReleaseRecord[]> {
    const infos = (await this.index.store.releases()).sort((a, b) => a.docId - b.docId)
    const out: ReleaseRecord[] = []
    for (const i of infos) {
      const e = await this.releaseByDocId(i.docId)
      if (e !== undefined) out.push(e.record)
    }
    return out
  }

  async release (name: string): Promise<ReleaseRecord | undefined> {
    return (await this.releaseEntry(name))?.record
  }

  /** The most recently written release (highest release docId: every publish and cut rewrites its release document). */
  async latestRelease (): Promise<string | undefined> {
    let best: { name: string, docId: number } | undefined
    for (const r of await this.index.store.releases()) if (best === undefined || r.docId > best.docId) best = r
    return best?.name
  }

  /** Unit ids a release lists. */
  async unitIds (release: ReleaseRecord): Promise<Set<string>> {
    const e = await this.releaseByDocId(release.docId)
    if (e === undefined) return new Set()
    e.ids ??= new Set(releaseUnits(e.record).map((u) => u.id))
    return e.ids
  }

  /** DocIds of the live documents a release lists (units it names but the index lacks are left out). */
  async unitDocIds (release: ReleaseRecord): Promise<Set<number>> {
    const e = await this.releaseByDocId(release.docId)
    if (e === undefined) return new Set()
    if (e.docIds === undefined) {
      const docIds = new Set<number>()
      const ids = [...await this.unitIds(release)]
      // In batches asked together: the distributed index answers each batch in one request per holder.
      for (let i = 0; i < ids.length; i += 4096) {
        for (const d of await this.index.store.docIdsOf(ids.slice(i, i + 4096))) {
          if (d !== undefined && this.index.store.isLive(d)) docIds.add(d)
        }
      }
      e.docIds = docIds
    }
    return e.docIds
  }
}
