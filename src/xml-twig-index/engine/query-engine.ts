import { EdosError } from '../errors.ts'
import { PostingBuffer, type PostingList } from '../postings/codec.ts'
import { parseQuery, evaluateOnDocument } from '../query/index.ts'
import type { Query } from '../query/ast.ts'
import { canonicalPath } from '../xml/canonical-path.ts'
import { parseXml } from '../xml/parse.ts'
import { serialize } from '../xml/serialize.ts'
import { nodeAt, type XElement } from '../xml/tree.ts'
import { mandatorySelectors } from './mandatory.ts'
import { isNodeTerm } from '../postings/terms.ts'
import { inDocs } from './structural.ts'
import { PostingsEvaluator, type ListRead } from './postings-eval.ts'
import { NeedsDocuments, existenceTerms, relatableTerms, rootNodesTerm, rootValueTerms } from './pattern-terms.ts'
import { SortedDocSet, docsOf, type DocFilter, type DocsHaving, type PostingSource, type RootNodes, type TermStats } from './source.ts'

/** Where the evaluator reads documents (to verify and to materialise answers). */
export interface DocumentSource {
  getDocuments: (docIds: number[]) => Promise<Array<{ docId: number, id: string, xml: string } | undefined>>
  /** Every live docId, in order (for patterns that no term narrows). */
  allDocIds: () => AsyncIterable<number>
}

/** One answer: the document, the node's canonical path and its XML. */
export interface Match {
  docId: number
  doc: string
  path: string
  xml: string
}

export interface QueryPage {
  matches: Match[]
  total: number
  endCursor: string | null
  hasNextPage: boolean
}

export interface QueryOptions {
  /** Page size. Default 20; 0 counts without materialising. */
  first?: number
  /** Cursor of the last answer of the previous page. */
  after?: string
  signal?: AbortSignal
}

export type Strategy = 'postings' | 'postings+verify' | 'documents'

export interface QueryPlan {
  pattern: string
  strategy: Strategy
  reason?: string
  /** Mandatory terms with their sizes, in the order they were intersected (rarest first). */
  terms: TermStats[]
  candidateDocs: number | null
  verifiedDocs: number
  reads: ListRead[]
  answers: number
  ms: { plan: number, candidates: number, join: number, verify: number, total: number }
}

export class InvalidCursorError extends EdosError {
  constructor (cursor: string) { super(`invalid cursor '${cursor}'`, 'ERR_INVALID_CURSOR'); this.name = 'InvalidCursorError' }
}

export function encodeCursor (docId: number, start: number): string {
  return Buffer.from(`${docId}:${start}`).toString('base64url')
}
export function decodeCursor (cursor: string): { docId: number, start: number } {
  const m = /^(\d+):(\d+)$/.exec(Buffer.from(cursor, 'base64url').toString())
  if (m == null) throw new InvalidCursorError(cursor)
  return { docId: Number(m[1]), start: Number(m[2]) }
}

const VERIFY_BATCH = 256
/** A mandatory term with at most this many documents is read before any value range. */
const RARE_DOCS = 1000
/** A share of all documents above which a term or a candidate set is too dense to narrow anything. */
const DENSE = 0.5
/** Postings per document from which a list the pattern relates to few nodes is read in relation to them. */
const MANY_PER_DOC = 2

/** Terms heavy (TermStats.heavy) where one of the sorted `docs` lies, and the others. */
function splitHeavy (terms: TermStats[], docs: Uint32Array): { light: TermStats[], heavy: TermStats[] } {
  const set = new SortedDocSet(docs)
  const isHeavy = (s: TermStats): boolean => s.heavy?.some(([from, to]) => set.intersects(from, to)) === true
  return { light: terms.filter((s) => !isHeavy(s)), heavy: terms.filter(isHeavy) }
}

/** Of the lists still to read, those the join reads in relation to nodes (see the caller). */
function deferredTerms (relatable: ReadonlySet<string>, pending: TermStats[], candidates: Uint32Array): Set<string> {
  const deferred = new Set<string>()
  for (const s of splitHeavy(pending, candidates).heavy) if (isNodeTerm(s.term)) deferred.add(s.term)
  for (const s of pending) if (relatable.has(s.term) && s.postings >= MANY_PER_DOC * s.docs) deferred.add(s.term)
  return deferred
}

function intersectSorted (a: Uint32Array, b: Uint32Array): Uint32Array {
  const out = new Uint32Array(Math.min(a.length, b.length))
  let n = 0; let i = 0; let j = 0
  while (i < a.length && j < b.length) {
    const x = a[i]; const y = b[j]
    if (x < y) i++
    else if (x > y) j++
    else { out[n++] = x; i++; j++ }
  }
  return out.subarray(0, n)
}

function unionSorted (a: Uint32Array, b: Uint32Array): Uint32Array {
  if (b.length === 0) return a
  const out = new Uint32Array(a.length + b.length)
  let n = 0; let i = 0; let j = 0
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out[n++] = a[i++]
    else if (i >= a.length || b[j] < a[i]) out[n++] = b[j++]
    else { out[n++] = a[i]; i++; j++ }
  }
  return out.subarray(0, n)
}

/**
 * Answers tree patterns: plan (mandatory terms, rarest first), candidate
 * documents by docId intersection (each list fetched with the candidates
 * so far as a semi-join reducer), the holistic structural join over the
 * lists, then the documents only where postings cannot decide.
 */
export class QueryEngine {
  /** Parsed documents kept for materialising answers (a release document is large and asked often). */
  private readonly parsed = new Map<number, { id: string, root: XElement, chars: number }>()
  private parsedChars = 0

  constructor (private readonly postings: PostingSource, private readonly documents: DocumentSource, private readonly parsedBudget = 32 * 1024 * 1024) {}

  private parsedDoc (d: { docId: number, id: string, xml: string }): XElement {
    const hit = this.parsed.get(d.docId)
    if (hit !== undefined) {
      this.parsed.delete(d.docId)
      this.parsed.set(d.docId, hit)
      return hit.root
    }
    const root = parseXml(d.xml, { where: d.id })
    if (d.xml.length <= this.parsedBudget / 2) {
      this.parsed.set(d.docId, { id: d.id, root, chars: d.xml.length })
      this.parsedChars += d.xml.length
      for (const [id, r] of this.parsed) {
        if (this.parsedChars <= this.parsedBudget) break
        this.parsed.delete(id)
        this.parsedChars -= r.chars
      }
    }
    return root
  }

  /** All answers as (docId, start) in document order, with the plan that produced them. */
  async answers (pattern: string | Query, signal?: AbortSignal): Promise<{ nodes: PostingList, plan: QueryPlan }> {
    const t0 = performance.now()
    const query = typeof pattern === 'string' ? parseQuery(pattern) : pattern
    const selectors = mandatorySelectors(query)
    // Value ranges whose pattern names no value term (`//package[size > N]/name`: element names, rarely rare enough to narrow
    // before the range does) are read at once, in the round of the heads, not in a round after them. When an element turns out rare
    // (`//release[starts-with(@name, "b")]`), the range was read whole where its documents alone would have been read: bytes, not
    // answers (the range still narrows).
    const readRange = async (r: (typeof selectors.ranges)[number]): Promise<[PostingList, PostingList]> => await Promise.all([this.postings.scan(r.range), this.postings.fetch(r.long)])
    const early = selectors.ranges.length > 0 && selectors.terms.every(isNodeTerm)
      ? selectors.ranges.map((r) => { const both = readRange(r); both.catch(() => {}); return both })
      : undefined
    // The heads of the terms under `or` and `not` come in the same round (a remote source): the join reads those lists too.
    const [stats, optionalStats] = await Promise.all([
      Promise.all(selectors.terms.map(async (t) => await this.postings.termStats(t))),
      Promise.all(selectors.optional.map(async (t) => await this.postings.termStats(t)))
    ])
    stats.sort((a, b) => a.docs - b.docs || a.postings - b.postings)
    const tPlan = performance.now()
    const lists = new Map<string, Promise<PostingList>>()
    const scans = new Map<string, Promise<PostingList>>()
    let docs: Uint32Array | undefined
    const narrow = (found: Uint32Array): void => { docs = docs === undefined ? found : intersectSorted(docs, found) }
    // Value tests on the children of the pattern's first step: on document roots the join needs only which documents have one at
    // level 2, which a source may answer without the postings (rootChildren in postings-eval.ts).
    const docsHaving = this.postings.docsHaving
    const rootValues = docsHaving !== undefined ? rootValueTerms(query) : new Set<string>()
    const rootDocs = new Map<string, Promise<DocsHaving>>()
    // Lists read in one round, each with its filter, kept for the join; each returns the documents it found.
    const readRound = async (round: TermStats[], filterOf: (s: TermStats) => DocFilter | undefined): Promise<Uint32Array[]> => {
      return await Promise.all(round.map(async (s) => {
        const filter = filterOf(s)
        if (docsHaving !== undefined && rootValues.has(s.term) && (filter === undefined || filter instanceof SortedDocSet)) {
          const found = await docsHaving.call(this.postings, s.term, { docs: filter?.docs, level: 2 })
          rootDocs.set(s.term, Promise.resolve(found))
          return found.docs
        }
        const list = await this.postings.fetch(s.term, filter)
        lists.set(s.term, Promise.resolve(list))
        return docsOf(list)
      }))
    }
    // Value ranges first when no term is rare: a range read whole is cheaper than joining whole lists.
    if (selectors.ranges.length > 0 && (early !== undefined || stats.length === 0 || stats[0].docs > RARE_DOCS)) {
      for (const [k, r] of selectors.ranges.entries()) {
        signal?.throwIfAborted()
        const [inRange, long] = await (early?.[k] ?? readRange(r))
        scans.set(r.label, Promise.resolve(inRange))
        lists.set(r.long, Promise.resolve(long))
        narrow(unionSorted(docsOf(inRange), docsOf(long)))
      }
    }
    const all = this.postings.liveDocuments()
    // A filter pays when the candidates are far fewer than the list's documents.
    const filterFor = (s: TermStats): SortedDocSet | undefined => docs !== undefined && docs.length * 4 < s.docs ? new SortedDocSet(docs) : undefined
    // A term in nearly every document cannot narrow the candidates: the join reads it anyway.
    const narrowing = stats.filter((s) => s.docs < all * DENSE)
    for (let i = 0; i < narrowing.length; i++) {
      signal?.throwIfAborted()
      if (docs !== undefined && docs.length === 0) break
      if (docs !== undefined && docs.length <= RARE_DOCS) {
        // Few candidates left: the other lists are read together with them as the filter (one round, not one per list), those heavy
        // where a candidate lies in a second round (see below).
        const rest = narrowing.slice(i)
        const { light, heavy } = splitHeavy(rest, docs)
        for (const round of heavy.length > 0 && light.length > 0 ? [light, heavy] : [rest]) {
          for (const found of await readRound(round, filterFor)) narrow(found)
        }
        break
      }
      for (const found of await readRound([narrowing[i]], filterFor)) narrow(found)
    }
    const candidates = docs
    const tCand = performance.now()
    const plan: QueryPlan = {
      pattern: query.source, strategy: 'postings', terms: stats, candidateDocs: candidates?.length ?? null, verifiedDocs: 0, reads: [], answers: 0,
      ms: { plan: tPlan - t0, candidates: tCand - tPlan, join: 0, verify: 0, total: 0 }
    }
    // Restricting lists to candidates pays only when the candidates are a minority of the documents.
    let filter = candidates !== undefined && (candidates.length === 0 || candidates.length < all * DENSE) ? new SortedDocSet(candidates) : undefined
    // Mandatory terms the planner skipped (too dense to narrow) are read in parallel, not one by one during the join; those heavy where a
    // candidate lies go after the others, with the candidates the others leave (a release document matching the rarest term would
    // otherwise bring its tens of thousands of leaves along, though another mandatory term rules it out).
    let rest = [...selectors.terms, ...selectors.optional].filter((t) => !lists.has(t) && !rootDocs.has(t))
    const relatable = relatableTerms(query)
    if (filter !== undefined && filter.size > 0) {
      const f = filter
      const { light, heavy } = splitHeavy(stats.filter((s) => rest.includes(s.term)), f.docs)
      // Lists the join would read in relation to nodes (several postings per document: a package's `dep`s) narrow too, but at that
      // price only when no other light list can.
      const cheap = this.postings.fetchRelated !== undefined ? light.filter((s) => !(relatable.has(s.term) && s.postings >= MANY_PER_DOC * s.docs)) : light
      const narrowing = cheap.length > 0 ? cheap : light
      if (heavy.length > 0 && narrowing.length > 0) {
        signal?.throwIfAborted()
        let left = f.docs
        for (const found of await readRound(narrowing, () => f)) left = intersectSorted(left, found)
        filter = new SortedDocSet(left)
        rest = rest.filter((t) => !lists.has(t) && !rootDocs.has(t))
      }
    }
    plan.candidateDocs = filter?.size ?? plan.candidateDocs
    // Lists read during the join instead, in relation to nodes known by then, when the source can (a docId would bring every posting
    // of the document): a node list still heavy where a candidate lies (a release document among the candidates: a leaf per unit,
    // read below the step's context), and lists with several postings per document that the pattern relates to few nodes (a
    // package's `dep`s read above its `@name = "libc6"` attributes, its `@op = ">="` values below those `dep`s).
    const deferred = this.postings.fetchRelated !== undefined && filter !== undefined && filter.size > 0
      ? deferredTerms(relatable, [...stats, ...optionalStats].filter((s) => rest.includes(s.term)), filter.docs)
      : new Set<string>()
    let nodes: PostingList
    if (filter !== undefined && filter.size === 0) {
      nodes = new PostingBuffer(0)
    } else {
      // Root value tests the planner left (too dense to narrow) and existence tests on roots are asked now, with the other lists, as
      // the documents having them (see PostingsEvaluator.rootChildren and havingBelowRoots).
      const existence = docsHaving !== undefined ? existenceTerms(query) : new Set<string>()
      const rootExistence = new Map<string, Promise<DocsHaving>>()
      if (docsHaving !== undefined) {
        for (const t of rest) {
          const value = rootValues.has(t) && !rootDocs.has(t)
          if (!value && !existence.has(t)) continue
          const found = docsHaving.call(this.postings, t, { docs: filter?.docs, ...(value ? { level: 2 } : {}) })
          found.catch(() => {})
          ;(value ? rootDocs : rootExistence).set(t, found)
        }
      }
      // The first step's roots, when the answer is below them, as the source can name them (`package` for `//package[...]/name`).
      const rootNodes = new Map<string, Promise<RootNodes>>()
      const readRoots = this.postings.rootNodes
      const rootsTerm = readRoots !== undefined ? rootNodesTerm(query) : undefined
      if (readRoots !== undefined && rootsTerm !== undefined && filter !== undefined && rest.includes(rootsTerm) && !deferred.has(rootsTerm)) {
        const found = readRoots.call(this.postings, rootsTerm, filter)
        found.catch(() => {})
        rootNodes.set(rootsTerm, found)
      }
      const evaluator = new PostingsEvaluator(this.postings, { filter, lists, scans, deferred, rootValues: rootDocs, rootExistence, rootNodes })
      evaluator.prefetch(rest.filter((t) => !deferred.has(t) && !rootExistence.has(t) && !rootDocs.has(t) && !rootNodes.has(t)))
      try {
        nodes = await evaluator.evaluate(query)
        if (filter !== undefined) nodes = inDocs(nodes, filter.sequential())
        plan.reads = evaluator.reads
        plan.ms.join = performance.now() - tCand
        if (evaluator.uncertain.size > 0) {
          plan.strategy = 'postings+verify'
          const docs = [...evaluator.uncertain].sort((a, b) => a - b)
          const verified = await this.verify(query, docs, signal)
          plan.verifiedDocs = docs.length
          nodes = mergeVerified(nodes, evaluator.uncertain, verified)
        }
      } catch (err) {
        if (!(err instanceof NeedsDocuments)) throw err
        plan.strategy = 'documents'
        plan.reason = err.reason
        plan.reads = evaluator.reads
        const tJoin = performance.now()
        plan.ms.join = tJoin - tCand
        const docs = candidates !== undefined ? Array.from(candidates) : await collect(this.documents.allDocIds())
        nodes = await this.verify(query, docs, signal)
        plan.verifiedDocs = docs.length
      }
    }
    plan.answers = nodes.length
    plan.ms.total = performance.now() - t0
    plan.ms.verify = plan.ms.total - (tCand - t0) - plan.ms.join
    return { nodes, plan }
  }

  /** Evaluates the pattern on each document (exact), returning its answers as postings. */
  private async verify (query: Query, docIds: number[], signal?: AbortSignal): Promise<PostingList> {
    const out = new PostingBuffer(64)
    for (let i = 0; i < docIds.length; i += VERIFY_BATCH) {
      signal?.throwIfAborted()
      const batch = await this.documents.getDocuments(docIds.slice(i, i + VERIFY_BATCH))
      for (const d of batch) {
        if (d === undefined) continue
        const root = parseXml(d.xml, { where: d.id })
        for (const n of evaluateOnDocument(query, root)) out.push(d.docId, n.start, n.end, n.level)
      }
    }
    return out
  }

  /** A page of answers, materialised (canonical path and XML of each node). */
  async query (pattern: string | Query, options: QueryOptions = {}): Promise<QueryPage & { plan: QueryPlan }> {
    const { nodes, plan } = await this.answers(pattern, options.signal)
    const first = options.first ?? 20
    const from = indexAfter(nodes, options.after)
    const to = Math.min(nodes.length, from + first)
    const matches = await this.materialize(nodes, from, to)
    return {
      matches,
      total: nodes.length,
      endCursor: to > from ? encodeCursor(nodes.docs[to - 1], nodes.starts[to - 1]) : null,
      hasNextPage: to < nodes.length,
      plan
    }
  }

  async materialize (nodes: PostingList, from: number, to: number): Promise<Match[]> {
    // Documents already parsed (a release, asked page after page) are not read again.
    const page = new Map<number, { id: string, root: XElement }>()
    const wanted: number[] = []
    for (let i = from; i < to; i++) {
      const d = nodes.docs[i]
      if (page.has(d) || wanted[wanted.length - 1] === d) continue
      const hit = this.parsed.get(d)
      if (hit !== undefined) page.set(d, hit)
      else wanted.push(d)
    }
    for (const d of await this.documents.getDocuments(wanted)) if (d !== undefined) page.set(d.docId, { id: d.id, root: this.parsedDoc(d) })
    const out: Match[] = []
    for (let i = from; i < to; i++) {
      const docId = nodes.docs[i]
      const doc = page.get(docId)
      if (doc === undefined) continue
      const node = nodeAt(doc.root, nodes.starts[i])
      if (node === undefined) continue
      out.push({ docId, doc: doc.id, path: canonicalPath(node), xml: serialize(node) })
    }
    return out
  }

  async explain (pattern: string): Promise<QueryPlan> {
    return (await this.answers(pattern)).plan
  }
}

/** Index of the first answer after a cursor (0 without one). */
export function indexAfter (nodes: PostingList, after?: string | null): number {
  if (after == null) return 0
  const c = decodeCursor(after)
  let lo = 0; let hi = nodes.length
  while (lo < hi) {
    const m = (lo + hi) >>> 1
    if (nodes.docs[m] < c.docId || (nodes.docs[m] === c.docId && nodes.starts[m] <= c.start)) lo = m + 1
    else hi = m
  }
  return lo
}

function mergeVerified (nodes: PostingList, uncertain: Set<number>, verified: PostingList): PostingList {
  const out = new PostingBuffer(nodes.length + verified.length)
  let i = 0; let j = 0
  while (i < nodes.length || j < verified.length) {
    if (i < nodes.length && uncertain.has(nodes.docs[i])) { i++; continue }
    const takeLeft = j >= verified.length || (i < nodes.length && (nodes.docs[i] < verified.docs[j] || (nodes.docs[i] === verified.docs[j] && nodes.starts[i] < verified.starts[j])))
    if (takeLeft) { out.push(nodes.docs[i], nodes.starts[i], nodes.ends[i], nodes.levels[i]); i++ } else { out.push(verified.docs[j], verified.starts[j], verified.ends[j], verified.levels[j]); j++ }
  }
  return out
}

async function collect (it: AsyncIterable<number>): Promise<number[]> {
  const out: number[] = []
  for await (const x of it) out.push(x)
  return out
}

export type { DocFilter }
