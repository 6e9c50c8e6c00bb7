import { PostingBuffer, type PostingList } from '../postings/codec.ts'

/** Sizes of one term's posting list, for planning (most selective first). */
export interface TermStats {
  term: string
  postings: number
  docs: number
  blocks: number
  /**
   * DocId intervals [from, to] where the term has far more postings per
   * document than elsewhere (one large document: a release document's
   * leaves), when the source knows. The planner reads such a list after the
   * others have narrowed the candidates, so that a candidate the other
   * terms rule out does not bring its many postings along.
   */
  heavy?: Array<[from: number, to: number]>
}

/**
 * A set of docIds pushed to a posting source as a semi-join reducer: the
 * source returns only postings of these docs and may skip whole blocks.
 * Exact sets here; a Bloom filter is another implementation (false
 * positives are removed by the join).
 */
export interface DocFilter {
  has: (doc: number) => boolean
  /** True when some doc in [from, to] may be in the set. */
  intersects: (from: number, to: number) => boolean
  /** A membership test for docs asked in non-decreasing order (decoding a sorted list): O(1) amortised. */
  sequential: () => (doc: number) => boolean
  readonly size: number
}

/**
 * Where the evaluator reads postings: the local LevelDB store in the
 * embedded default, remote index peers in the distributed index. The join
 * never knows which.
 */
export interface PostingSource {
  /** Live documents in the index (an estimate is enough: it decides when narrowing pays). */
  liveDocuments: () => number
  termStats: (term: string) => Promise<TermStats>
  /** The live postings of a term, sorted by (doc, start), restricted to `filter` when given. */
  fetch: (term: string, filter?: DocFilter) => Promise<PostingList>
  /** Terms that start with `prefix`, in byte order. */
  terms: (prefix: string) => AsyncIterable<string>
  /**
   * The union of the postings of every term in a term range, sorted by
   * (doc, start): value ranges (`N:size=` numbers), prefixes (`starts-with`)
   * and value filters (`contains`) in one pass instead of one fetch per term.
   */
  scan: (range: TermRange, filter?: DocFilter) => Promise<PostingList>
  /**
   * The postings of a term related by position to given nodes (below them
   * or above them), when the source can ship fewer that way than by docId:
   * a remote source sends the nodes to the holders of the list. May return
   * more than asked (the joins are exact); optional, the evaluator falls
   * back to `fetch`.
   */
  fetchRelated?: (term: string, related: RelatedNodes) => Promise<PostingList>
  /**
   * The documents with a live posting of `term` (of the sorted `ask.docs`
   * when given, else of all), and with `ask.level` those with one at that
   * level: all an existence test below document roots needs
   * (`package[not(.//dep)]`, or `package[section = "games"]` at level 2),
   * where a fetch would ship every posting of those documents. Optional:
   * the planner and the evaluator fall back to `fetch`.
   */
  docsHaving?: (term: string, ask: { docs?: Uint32Array, level?: number }) => Promise<DocsHaving>
  /**
   * The nodes of `related.nodes` with a posting of `term` below or above
   * them: what a value test on the last step of a predicate needs
   * (`dep[@op = ">="]` keeps the `dep`s), not the postings themselves.
   * Optional: the evaluator falls back to fetchRelated or fetch.
   */
  relatedHaving?: (term: string, related: RelatedNodes) => Promise<PostingList>
  /**
   * The nodes of `term` in the documents of `docs`, where a document whose
   * only node of the term is its root (level 1) may be named in `roots`
   * instead: the join needs of a root only that it contains the rest of
   * its document (see withRoots), where a fetch ships a posting per
   * document (`//package[...]/name` reads `package` for every candidate).
   * Optional: the evaluator falls back to `fetch`.
   */
  rootNodes?: (term: string, docs: SortedDocSet) => Promise<RootNodes>
}

/** What `rootNodes` found: documents whose root is their only node of the term, and the postings of the other documents. */
export interface RootNodes { roots: Uint32Array, nodes: PostingList }

/**
 * The nodes rootNodes describes as one list: each named root stands in as
 * (doc, 0, ROOT_END, 1), a node that contains every other node of its
 * document (document order numbers the root first, tree.ts), so joins
 * below it are exact. Its end is not the document's: only for nodes that
 * are not an answer themselves.
 */
export function withRoots (found: RootNodes): PostingList {
  if (found.roots.length === 0) return found.nodes
  const out = new PostingBuffer(found.roots.length + found.nodes.length)
  const { roots, nodes } = found
  let j = 0
  for (let i = 0; i < roots.length; i++) {
    const from = j
    while (j < nodes.length && nodes.docs[j] < roots[i]) j++
    out.append(nodes, from, j)
    out.push(roots[i], 0, ROOT_END, 1)
  }
  out.append(nodes, j)
  return out
}

/** The end of a root rootNodes named (withRoots): past any node of its document. */
export const ROOT_END = 0xffffffff

/** What `docsHaving` found, sorted: documents with a posting, and (when a level was asked) those with one at that level. */
export interface DocsHaving { docs: Uint32Array, atLevel?: Uint32Array }

/** docsHaving as a source without it answers: from the list itself. */
export function docsHavingIn (list: PostingList, level?: number): DocsHaving {
  if (level === undefined) return { docs: docsOf(list) }
  const at = new PostingBuffer(0)
  for (let i = 0; i < list.length; i++) if (list.levels[i] === level) at.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i])
  return { docs: docsOf(list), atLevel: docsOf(at) }
}

/**
 * Positions pushed to a posting source. A release document holds a leaf
 * per unit, so its docId keeps them all where its collection's region keeps
 * the few asked for; a package's docId keeps all its `dep`s where the
 * `@name = "libc6"` attributes keep their parents only.
 */
export interface RelatedNodes {
  /** 'below': children (axis child) or descendants of one of `nodes`; 'above': parents or ancestors of one of them. */
  relation: 'below' | 'above'
  axis: 'child' | 'descendant'
  /** Sorted by (doc, start). */
  nodes: PostingList
}

/** Terms starting with `prefix`, optionally bounded (bounds are whole terms) and filtered. */
export interface TermRange {
  prefix: string
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  match?: (term: string) => boolean
}

/** First index in [lo, hi) of the sorted `values` whose value is >= `x` (hi when none is). */
export function lowerBound (values: Uint32Array, lo: number, hi: number, x: number): number {
  while (lo < hi) { const m = (lo + hi) >>> 1; if (values[m] < x) lo = m + 1; else hi = m }
  return lo
}

/** An exact DocFilter over a sorted array of docIds. */
export class SortedDocSet implements DocFilter {
  constructor (readonly docs: Uint32Array) {}
  get size (): number { return this.docs.length }
  private lowerBound (x: number): number { return lowerBound(this.docs, 0, this.docs.length, x) }

  has (doc: number): boolean { const i = this.lowerBound(doc); return i < this.docs.length && this.docs[i] === doc }
  sequential (): (doc: number) => boolean {
    const docs = this.docs
    let i = 0
    return (doc) => {
      while (i < docs.length && docs[i] < doc) i++
      return i < docs.length && docs[i] === doc
    }
  }
  intersects (from: number, to: number): boolean { const i = this.lowerBound(from); return i < this.docs.length && this.docs[i] <= to }
}

/** Distinct docIds of a posting list, in order. */
export function docsOf (list: PostingList): Uint32Array {
  const out = new Uint32Array(list.length)
  const docs = list.docs
  let n = 0
  let last = -1
  for (let i = 0; i < list.length; i++) { const d = docs[i]; if (d !== last) { out[n++] = d; last = d } }
  return out.subarray(0, n)
}
