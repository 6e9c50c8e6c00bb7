/**
 * The engine's PostingSource and DocumentSource over the network: the
 * query evaluator runs unchanged, reading term heads, blocks and documents
 * from the index peers that hold them. Requests issued in the same tick
 * are coalesced into one request per peer; each key is asked of its
 * nearest holder first and fails over to the next replica when a holder is
 * down, slow or missing the key; semi-join reducers (exact docId sets or
 * Bloom filters, cut to each block's docId range) travel with block
 * requests so holders of long lists ship only what can join, and, for the
 * lists the engine defers, the nodes the postings must lie below or above.
 */
import { PostingBuffer, type PostingList, EMPTY_LIST } from '../xml-twig-index/postings/codec.ts'
import type { DocumentSource } from '../xml-twig-index/engine/query-engine.ts'
import { SortedDocSet, docsHavingIn, docsOf, type DocFilter, type DocsHaving, type PostingSource, type RelatedNodes, type RootNodes, type TermRange, type TermStats } from '../xml-twig-index/engine/source.ts'
import { BloomFilter, chooseFilter, encodeDocSet } from './bloom.ts'
import { relatedIn, relatedNodes, type ReducerSpec } from './block-reducers.ts'
import type { CatalogView } from './catalog.ts'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { docKey, idKey } from './placement.ts'
import { DOCS_PROTOCOL, type IndexServer } from './protocols.ts'
import { Coalescer } from './coalesce.ts'
import { BLOCK_CACHE_POSTINGS, SMALL_BLOCK, concatLists, inOrder, keepDocs, sliceList, sortPostings } from './posting-lists.ts'
// a posting held both inline and in a block (a re-run publish) is one node: union keeps it once
import { union as mergePostings } from '../xml-twig-index/engine/structural.ts'
import { Holders, traces } from './holders.ts'
import type { TermHead } from './types.ts'
import { RemoteHeads, heavyRanges } from './remote-heads.ts'
import { BlockRequests, type BlockAsk } from './remote-blocks.ts'
import { encodePostingList } from './wire.ts'

export { traced, type ReadTrace } from './holders.ts'
export { heavyRanges } from './remote-heads.ts'

export interface RemoteIndexInit {
  host: PeerHost
  membership: Membership
  catalog: CatalogView
  /** This peer's own server, asked without a network hop when it holds a key. */
  server?: IndexServer
  /** Longest a holder may take before the next replica is asked. Default 10 s (a dead holder fails at once: its connection is refused). */
  callTimeoutMs?: number
  /** How long a holder that failed is asked last. Default 10 s. */
  suspectMs?: number
  /** Push semi-join reducers to the holders (false: fetch whole blocks and filter here, the baseline the bench compares with). Default true. */
  reducers?: boolean
  /** Documents kept parsed-free (immutable by docId). Default 64 MiB of XML. */
  documentCacheBytes?: number
  log?: (message: string) => void
}


const EMPTY_DOCS = new Uint32Array(0)

/** A filter keeping fewer than 1/SELECTIVE_FILTER of a small block's postings (one per doc at least) is sent rather than the block fetched whole. */
const SELECTIVE_FILTER = 4

/** Fewer docs asked in a range than this, and a roots ask costs more than their postings (rootNodes). */
const ROOTS_MIN_DOCS = 8

export class RemoteIndex implements PostingSource, DocumentSource {
  private readonly holders: Holders
  private readonly docCache = new Map<number, { id: string, xml: string }>()
  /** Small blocks of the current catalog, by term#range (immutable until the next publish). */
  private readonly blockCache = new Map<string, PostingList>()
  private blockCachePostings = 0
  private blockCacheSeq = -1
  private docCacheBytes = 0

  private readonly headReader: RemoteHeads
  private readonly blockRequests: BlockRequests

  constructor (private readonly init: RemoteIndexInit) {
    this.holders = new Holders(init)
    this.headReader = new RemoteHeads(init, this.holders)
    this.blockRequests = new BlockRequests(this.holders)
  }

  /** Term heads, cached for the current catalog (a new publish clears the cache). */
  async heads (terms: string[]): Promise<Array<TermHead | null>> { return await this.headReader.heads(terms) }

  private async head (term: string): Promise<TermHead | null> { return await this.headReader.head(term) }

  private async termHeads (range: TermRange): Promise<TermHead[]> { return await this.headReader.termHeads(range) }

  private get rangeDocs (): number { return this.init.catalog.current()?.rangeDocs ?? 8192 }

  liveDocuments (): number { return this.init.catalog.current()?.live ?? 0 }

  async termStats (term: string): Promise<TermStats> {
    const h = await this.head(term)
    if (h === null) return { term, postings: 0, docs: 0, blocks: 0 }
    let postings = 0; let docs = 0
    for (const r of h.ranges) { postings += r.postings; docs += r.docs }
    const heavy = heavyRanges(h, this.rangeDocs, this.init.catalog.current()?.releases.map((r) => r.docId))
    return { term, postings, docs, blocks: h.ranges.length, ...(heavy.length > 0 ? { heavy } : {}) }
  }

  /** The reducer for one docId range (with how many docs it keeps there, when it knows), or undefined when it keeps everything there. */
  private reducerFor (filter: DocFilter | undefined, range: number): { spec: ReducerSpec, bytes: Uint8Array, asked?: Uint32Array, items?: number } | undefined | null {
    if (filter === undefined) return undefined
    const lo = range * this.rangeDocs
    if (this.init.reducers === false) return filter.intersects(lo, lo + this.rangeDocs - 1) ? undefined : null
    const hi = lo + this.rangeDocs - 1
    if (!filter.intersects(lo, hi)) return null
    if (filter instanceof SortedDocSet) {
      const d = filter.docs
      let a = 0; while (a < d.length && d[a] < lo) a++
      let b = a; while (b < d.length && d[b] <= hi) b++
      const chosen = chooseFilter(d.subarray(a, b))
      return { spec: { kind: chosen.kind }, bytes: chosen.bytes, items: b - a, ...(chosen.kind === 'docs' ? { asked: d.subarray(a, b) } : {}) }
    }
    if (filter instanceof BloomFilter) return { spec: { kind: 'bloom' }, bytes: filter.toBytes() }
    return undefined
  }

  /**
   * Blocks of (term, range) keys, each fetched with its reducer, in the order
   * asked. A range whose postings all came inline with its head is not asked
   * for; one with some inline has them merged into what its block holds.
   */
  private async blocks (keys: Array<{ term: string, range: number, postings: number, inline?: PostingList }>, filter?: DocFilter): Promise<PostingList[]> {
    this.blockCacheOfCatalog()
    const fresh = traces.getStore()?.fresh === true
    const wanted: BlockAsk[] = []
    const at: number[] = []
    const out: PostingList[] = keys.map(() => EMPTY_LIST)
    const inlineOf = (k: { inline?: PostingList }): PostingList => k.inline === undefined ? EMPTY_LIST : filter === undefined ? k.inline : keepDocs(k.inline, filter)
    keys.forEach((k, i) => {
      const reducer = this.reducerFor(filter, k.range)
      if (reducer === null) return
      const inBlock = k.postings - (k.inline?.length ?? 0)
      if (inBlock <= 0) { out[i] = inlineOf(k); return }
      // A small block travels whole and is kept (the next query reads it here), unless the filter keeps a small part of it: a reducer
      // then ships a few postings where the block would ship hundreds (R1's `section = "python"` blocks for 97 `asyncio` documents).
      const hit = inBlock <= SMALL_BLOCK && !fresh ? this.blockCache.get(`${k.term}#${k.range}`) : undefined
      if (hit !== undefined) { out[i] = mergePostings(filter === undefined ? hit : keepDocs(hit, filter), inlineOf(k)); return }
      if (inBlock <= SMALL_BLOCK && !(reducer?.items !== undefined && reducer.items * SELECTIVE_FILTER < inBlock)) {
        wanted.push({ term: k.term, range: k.range, postings: inBlock, shares: 'whole', small: true })
      } else {
        // Keys of one range read with the same filter share its reducer (one request part).
        wanted.push({ term: k.term, range: k.range, postings: inBlock, reducer, shares: reducer === undefined ? 'whole' : `${k.range}/${this.filterId(filter)}` })
      }
      at.push(i)
    })
    const lists = await this.blockRequests.ask(wanted)
    lists.forEach(({ list: l }, i) => {
      const k = wanted[i]
      if (k.small === true) {
        this.cacheBlock(`${k.term}#${k.range}`, l)
        l = filter === undefined ? l : keepDocs(l, filter)
      }
      out[at[i]] = mergePostings(l, inlineOf(keys[at[i]]))
    })
    return out
  }

  /** Related reads so far: each one's nodes are its own reducer. */
  private relatedCount = 0
  private readonly filterIds = new WeakMap<DocFilter, number>()
  private filterCount = 0
  private filterId (filter: DocFilter | undefined): number {
    if (filter === undefined) return 0
    let id = this.filterIds.get(filter)
    if (id === undefined) { id = ++this.filterCount; this.filterIds.set(filter, id) }
    return id
  }

  /** Empties the small-block cache when a publish changed the catalog (blocks are immutable within one). */
  private blockCacheOfCatalog (): void {
    const seq = this.init.catalog.seq
    if (seq !== this.blockCacheSeq) { this.blockCache.clear(); this.blockCachePostings = 0; this.blockCacheSeq = seq }
  }

  private cacheBlock (key: string, list: PostingList): void {
    if (this.blockCache.has(key)) return
    this.blockCache.set(key, list)
    this.blockCachePostings += list.length
    for (const [k, v] of this.blockCache) {
      if (this.blockCachePostings <= BLOCK_CACHE_POSTINGS) break
      this.blockCache.delete(k); this.blockCachePostings -= v.length
    }
  }

  /** Keeps what the catalog shows (committed, not replaced) and, when given, what a filter the holders did not apply keeps. */
  private visible (list: PostingList, filter?: DocFilter): PostingList {
    const keep = filter === undefined ? (d: number) => this.init.catalog.isLive(d) : ((seq) => (d: number) => seq(d) && this.init.catalog.isLive(d))(filter.sequential())
    let all = true
    for (let i = 0; i < list.length; i++) if (!keep(list.docs[i])) { all = false; break }
    if (all) return list
    const out = new PostingBuffer(list.length)
    const again = filter === undefined ? keep : ((seq) => (d: number) => seq(d) && this.init.catalog.isLive(d))(filter.sequential())
    for (let i = 0; i < list.length; i++) if (again(list.docs[i])) out.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i])
    return out
  }

  async fetch (term: string, filter?: DocFilter): Promise<PostingList> {
    const h = await this.head(term)
    if (h === null) return EMPTY_LIST
    const lists = await this.blocks(h.ranges.map((r) => ({ term, range: r.range, postings: r.postings, inline: r.inline })), filter)
    return this.visible(concatLists(lists), this.init.reducers === false ? filter : undefined)
  }

  /**
   * A term's postings below or above given nodes: each holder of a block the
   * nodes reach gets the nodes of its docId range and ships only the related
   * postings, where a docId reducer would ship every posting of those
   * documents.
   */
  async fetchRelated (term: string, related: RelatedNodes): Promise<PostingList> {
    if (this.init.reducers === false) return await this.fetch(term, new SortedDocSet(docsOf(related.nodes)))
    return await this.readRelated(term, related, false)
  }

  /**
   * The nodes of `related.nodes` with a posting of `term` below or above
   * them: each holder answers a bit per node it was sent, not the postings
   * (a `dep` with an `@op = ">="` attribute is one bit).
   */
  async relatedHaving (term: string, related: RelatedNodes): Promise<PostingList> {
    if (this.init.reducers === false) return relatedNodes(await this.fetch(term, new SortedDocSet(docsOf(related.nodes))), related)
    return await this.readRelated(term, related, true)
  }

  /** Related postings (having: the related nodes instead), range by range: a range's inline postings here, its block at its holders. */
  private async readRelated (term: string, related: RelatedNodes, having: boolean): Promise<PostingList> {
    const h = await this.head(term)
    if (h === null || related.nodes.length === 0) return EMPTY_LIST
    const rd = this.rangeDocs
    const nodes = related.nodes
    // per range, in range order: its inline postings related here, and the block part asked of its holders
    const here: PostingList[] = []
    const wanted: Array<{ at: number, range: number, postings: number, near: PostingList }> = []
    let i = 0
    for (const r of [...h.ranges].sort((a, b) => a.range - b.range)) {
      const lo = r.range * rd; const hi = lo + rd - 1
      while (i < nodes.length && nodes.docs[i] < lo) i++
      let j = i
      while (j < nodes.length && nodes.docs[j] <= hi) j++
      if (j > i) {
        const near = sliceList(nodes, i, j)
        const inBlock = r.postings - (r.inline?.length ?? 0)
        const inline = r.inline === undefined ? EMPTY_LIST : relatedIn(r.inline, { ...related, nodes: near })
        here.push(having ? relatedNodes(inline, { ...related, nodes: near }) : inline)
        if (inBlock > 0) wanted.push({ at: here.length - 1, range: r.range, postings: inBlock, near })
      }
      i = j
    }
    const spec: ReducerSpec = { kind: 'related', relation: related.relation, axis: related.axis }
    const got = await this.blockRequests.ask(wanted.map((k) => ({
      term, range: k.range, postings: k.postings, reducer: { spec, bytes: encodePostingList(k.near), asked: docsOf(k.near), items: k.near.length }, shares: `${term}#${k.range}/${related.relation}/${++this.relatedCount}`,
      ...(having ? { having: { nodes: { ...related, nodes: k.near } } } : {})
    })))
    got.forEach((b, k) => {
      const at = wanted[k].at
      const mine = having ? (b.having?.nodes ?? relatedNodes(b.list, { ...related, nodes: wanted[k].near })) : b.list
      here[at] = mergePostings(mine, here[at])
    })
    return this.visible(concatLists(here))
  }

  /**
   * The docs where `term` has a posting (of the sorted `ask.docs`, else of
   * all), and with `ask.level` those with one at that level: each holder of
   * a range answers bitmaps over the docs asked there, or the docs it finds,
   * not postings (a package's 20 `dep`s are one bit). Inline postings are
   * looked at here.
   */
  async docsHaving (term: string, ask: { docs?: Uint32Array, level?: number }): Promise<DocsHaving> {
    const { docs, level } = ask
    if (docs !== undefined) for (let k = 1; k < docs.length; k++) if (docs[k] <= docs[k - 1]) throw new RangeError(`docsHaving: docs must be sorted and distinct (docs[${k}] = ${docs[k]} after ${docs[k - 1]})`)
    if (this.init.reducers === false) return docsHavingIn(await this.fetch(term, docs === undefined ? undefined : new SortedDocSet(docs)), level)
    this.blockCacheOfCatalog()
    const fresh = traces.getStore()?.fresh === true
    const h = await this.head(term)
    if (h === null || docs?.length === 0) return { docs: new Uint32Array(0), ...(level !== undefined ? { atLevel: new Uint32Array(0) } : {}) }
    const rd = this.rangeDocs
    const found: DocsHaving[] = []
    const asks: BlockAsk[] = []
    let i = 0
    for (const r of [...h.ranges].sort((a, b) => a.range - b.range)) {
      const lo = r.range * rd; const hi = lo + rd - 1
      let near: Uint32Array | undefined
      if (docs !== undefined) {
        while (i < docs.length && docs[i] < lo) i++
        let j = i
        while (j < docs.length && docs[j] <= hi) j++
        near = docs.slice(i, j)
        i = j
        if (near.length === 0) continue
      }
      if (r.inline !== undefined) found.push(docsHavingIn(near === undefined ? r.inline : keepDocs(r.inline, new SortedDocSet(near)), level))
      const inBlock = r.postings - (r.inline?.length ?? 0)
      if (inBlock <= 0) continue
      // a small block a query read whole is here: no bytes to move
      const hit = inBlock <= SMALL_BLOCK && !fresh ? this.blockCache.get(`${term}#${r.range}`) : undefined
      if (hit !== undefined) { found.push(docsHavingIn(near === undefined ? hit : keepDocs(hit, new SortedDocSet(near)), level)); continue }
      const reducer = near === undefined ? undefined : { spec: { kind: 'docs' as const }, bytes: encodeDocSet(near) }
      asks.push({ term, range: r.range, postings: inBlock, reducer, shares: `${term}#${r.range}/having/${++this.relatedCount}`, having: { docs: near, level } })
    }
    for (const b of await this.blockRequests.ask(asks)) found.push(b.having ?? docsHavingIn(b.list, level))
    // ranges answer in their order, a range's inline docs before its block's: one sort, then repeats and dead docs out
    const live = (lists: Array<Uint32Array | undefined>): Uint32Array => {
      const all = new Uint32Array(lists.reduce((n, f) => n + (f?.length ?? 0), 0))
      let at = 0
      for (const f of lists) if (f !== undefined) { all.set(f, at); at += f.length }
      all.sort()
      let n = 0
      for (let k = 0; k < all.length; k++) if ((n === 0 || all[k] !== all[n - 1]) && this.init.catalog.isLive(all[k])) all[n++] = all[k]
      return all.subarray(0, n)
    }
    return { docs: live(found.map((f) => f.docs)), ...(level !== undefined ? { atLevel: live(found.map((f) => f.atLevel)) } : {}) }
  }

  /**
   * The nodes of `term` in the docs of `filter`, a range's holder naming
   * the docs whose only posting is their root instead of shipping it (a
   * bit, where a `package` posting is ~5 bytes); ranges with inline
   * postings, small blocks, or few docs asked there are fetched.
   */
  async rootNodes (term: string, filter: SortedDocSet): Promise<RootNodes> {
    const h = this.init.reducers === false ? null : await this.head(term)
    if (h === null) return { roots: EMPTY_DOCS, nodes: await this.fetch(term, filter) }
    this.blockCacheOfCatalog()
    const rd = this.rangeDocs
    const plain: Array<{ term: string, range: number, postings: number, inline?: PostingList }> = []
    const asks: BlockAsk[] = []
    for (const r of [...h.ranges].sort((a, b) => a.range - b.range)) {
      const reducer = this.reducerFor(filter, r.range)
      if (reducer === null) continue
      const inBlock = r.postings - (r.inline?.length ?? 0)
      if (r.inline !== undefined || inBlock <= SMALL_BLOCK || reducer === undefined || (reducer.items ?? 0) < ROOTS_MIN_DOCS) { plain.push({ term, range: r.range, postings: r.postings, inline: r.inline }); continue }
      const near = reducer.asked ?? filter.docs.filter((d) => d >= r.range * rd && d < (r.range + 1) * rd)
      // the filter's own part when it is the exact set (shared with the other lists read with it), else an exact set of its own
      const exact = reducer.spec.kind === 'docs' ? reducer : { spec: { kind: 'docs' as const }, bytes: encodeDocSet(near) }
      asks.push({ term, range: r.range, postings: inBlock, reducer: exact, shares: exact === reducer ? `${r.range}/${this.filterId(filter)}` : `${term}#${r.range}/roots/${++this.relatedCount}`, roots: near })
    }
    const [lists, got] = await Promise.all([this.blocks(plain, filter), this.blockRequests.ask(asks)])
    const roots: Uint32Array[] = []
    const nodes: PostingList[] = [...lists]
    for (const b of got) {
      if (b.roots !== undefined) { roots.push(b.roots.roots); nodes.push(b.roots.nodes) } else nodes.push(b.list)
    }
    const all = new Uint32Array(roots.reduce((n, r) => n + r.length, 0))
    let n = 0
    for (const r of roots) for (const d of r) if (this.init.catalog.isLive(d)) all[n++] = d
    // ranges in order within each kind of read, and the two kinds interleave: one sort of each
    const merged = concatLists(nodes)
    return { roots: all.subarray(0, n).sort(), nodes: this.visible(inOrder(merged) ? merged : sortPostings(merged)) }
  }

  async * terms (prefix: string): AsyncIterable<string> {
    for (const h of await this.termHeads({ prefix })) yield h.term
  }

  async scan (range: TermRange, filter?: DocFilter): Promise<PostingList> {
    const heads = await this.termHeads(range)
    const keys = heads.flatMap((h) => h.ranges.map((r) => ({ term: h.term, range: r.range, postings: r.postings, inline: r.inline })))
    const lists = await this.blocks(keys, filter)
    const merged = concatLists(lists)
    const all = this.visible(inOrder(merged) || this.init.reducers !== false ? merged : sortPostings(merged), this.init.reducers === false ? filter : undefined)
    return inOrder(all) ? all : sortPostings(all)
  }

  // DocumentSource

  async getDocuments (docIds: number[]): Promise<Array<{ docId: number, id: string, xml: string } | undefined>> {
    const fresh = traces.getStore()?.fresh === true
    const missing = [...new Set(docIds.filter((d) => (fresh || !this.docCache.has(d)) && this.init.catalog.isLive(d)))]
    if (missing.length > 0) {
      const got = await this.holders.routed(missing, docKey, async (peer, group, failover) => {
        const res = await this.holders.request(peer, DOCS_PROTOCOL, { op: 'get', docIds: group }, [], failover)
        const ids = res.header.ids as Array<string | null>
        const dec = new TextDecoder()
        return group.map((_, i) => ids[i] == null ? null : { id: ids[i] as string, xml: dec.decode(res.parts[i]) })
      }, (_d, doc) => doc === null)
      missing.forEach((d, i) => { const doc = got[i]; if (doc !== null) this.cacheDoc(d, doc) })
    }
    return docIds.map((docId) => {
      if (!this.init.catalog.isLive(docId)) return undefined
      const d = this.docCache.get(docId)
      return d === undefined ? undefined : { docId, id: d.id, xml: d.xml }
    })
  }

  private cacheDoc (docId: number, doc: { id: string, xml: string }): void {
    const budget = this.init.documentCacheBytes ?? 64 * 1024 * 1024
    this.docCache.set(docId, doc)
    this.docCacheBytes += doc.xml.length
    for (const [k, v] of this.docCache) {
      if (this.docCacheBytes <= budget) break
      this.docCache.delete(k); this.docCacheBytes -= v.xml.length
    }
  }

  async * allDocIds (): AsyncIterable<number> {
    const n = this.init.catalog.nextDocId
    for (let d = 0; d < n; d++) if (this.init.catalog.isLive(d)) yield d
  }

  private readonly idBatch = new Coalescer<string, number | null>(async (ids) => await this.holders.routed(ids, idKey, async (peer, group, failover) => {
    const res = await this.holders.request(peer, DOCS_PROTOCOL, { op: 'resolve', ids: group }, [], failover)
    return (res.header.docIds as Array<number | null>)
  }, (_id, d) => d === null))

  /** The live docId of a document id; lookups in one tick go out together. */
  async docIdOf (id: string): Promise<number | undefined> {
    const d = await this.idBatch.get(id)
    return d === null || d === undefined || !this.init.catalog.isLive(d) ? undefined : d
  }
}

