/**
 * The `blocks` requests of a RemoteIndex (/edos/postings/1.0.0): the asks
 * made in one turn of the event loop, by evaluation, go out together, one
 * request per holder, each distinct reducer once in it; keys fail over to
 * the next replica; each answer is read as what was asked (postings,
 * existence bitmaps, roots), a holder from before an ask shipping postings.
 */
import { EMPTY_LIST, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { SortedDocSet, docsHavingIn, type DocsHaving, type RelatedNodes, type RootNodes } from '../xml-twig-index/engine/source.ts'
import { readHavingAnswer, readRelatedHaving, readRootsAnswer, relatedIn, relatedNodes, type ReducerSpec } from './block-reducers.ts'
import { ProtocolError } from './errors.ts'
import { traces, type Holders, type TraceContext } from './holders.ts'
import { blockKey } from './placement.ts'
import { keepDocs } from './posting-lists.ts'
import { POSTINGS_PROTOCOL } from './protocols.ts'
import { decodePostingList } from './wire.ts'
import { ColsTooLargeError, decodeCols } from './cols-codec.ts'

const EMPTY_DOCS = new Uint32Array(0)

/** Fewer postings than this may come back, and asking for columns (`cols`) costs more than it may save. */
const COLS_MIN = 16

/** Most blocks asked in one request (the answer carries one part per block). */
const BLOCKS_PER_REQUEST = 4096

/**
 * A block to read: `shares` names the reducer it is read with (keys with the same one share a request part). `having`: only
 * which docs (of the reducer's exact docId set, when it has one) have a posting there, at `level` too, is wanted, not the postings.
 * `roots`: the postings of the reducer's docs (these, an exact set) as rootNodes reads them. A reducer says how many docs or
 * nodes it names (`items`), and the exact docId set a holder counts docs in (`asked`, cols-codec.ts) for an exact one.
 */
export interface BlockAsk { term: string, range: number, postings: number, reducer?: { spec: ReducerSpec, bytes: Uint8Array, asked?: Uint32Array, items?: number }, shares: string, small?: boolean, having?: { docs?: Uint32Array, level?: number, nodes?: RelatedNodes }, roots?: Uint32Array }
/** A block as read, with the postings its holder had for it before the reducer; for a `having` or `roots` ask answered so, what it found (`list` then empty). */
export interface HeldBlock { list: PostingList, held: number, having?: DocsHaving & { nodes?: PostingList }, roots?: RootNodes }
/** One caller's asks waiting for the end of the turn. */
interface PendingBlocks { asks: BlockAsk[], done: (r: HeldBlock[]) => void, fail: (err: unknown) => void }

/** Blocks asked in one turn of the event loop, by evaluation (trace): sent together, so lists read in the same round share requests. */
export class BlockRequests {
  constructor (private readonly holders: Holders) {}

  private readonly blockBatches = new Map<TraceContext | undefined, PendingBlocks[]>()

  async ask (asks: BlockAsk[]): Promise<HeldBlock[]> {
    if (asks.length === 0) return []
    const ctx = traces.getStore()
    let batch = this.blockBatches.get(ctx)
    if (batch === undefined) {
      const mine: PendingBlocks[] = []
      batch = mine
      this.blockBatches.set(ctx, mine)
      // Lists the evaluator asks for together arrive a few microtasks apart (each reads its head first): wait for the turn to end.
      setImmediate(() => {
        this.blockBatches.delete(ctx)
        void this.flushBlocks(mine)
      })
    }
    const joined = batch
    return await new Promise<HeldBlock[]>((resolve, reject) => { joined.push({ asks, done: resolve, fail: reject }) })
  }

  /** Sends a turn's asks together; when that fails, each caller's asks again on their own, so one caller's failure is not another's. */
  private async flushBlocks (calls: PendingBlocks[]): Promise<void> {
    try {
      const got = await this.sendBlocks(calls.flatMap((c) => c.asks))
      let at = 0
      for (const c of calls) { c.done(got.slice(at, at + c.asks.length)); at += c.asks.length }
    } catch (err) {
      if (calls.length === 1) { calls[0].fail(err); return }
      await Promise.all(calls.map(async (c) => { try { c.done(await this.sendBlocks(c.asks)) } catch (e) { c.fail(e) } }))
    }
  }

  /**
   * One request per peer (each distinct reducer one part of it; one reducer
   * for every key in the shorter `filter` form), failing over per key; each
   * block with the postings its holder had for it.
   */
  private async sendBlocks (wanted: BlockAsk[]): Promise<HeldBlock[]> {
    return await this.holders.routed(wanted, (k) => blockKey(k.term, k.range), async (peer, group, failover) => {
      const out: HeldBlock[] = []
      // Requests of a bounded size (a scan reads thousands of terms; every key is a part of the answer).
      const slices: BlockAsk[][] = []
      for (let i = 0; i < group.length; i += BLOCKS_PER_REQUEST) slices.push(group.slice(i, i + BLOCKS_PER_REQUEST))
      for (const got of await Promise.all(slices.map(async (slice) => await this.blocksRequest(peer, slice, failover)))) out.push(...got)
      return out
    // A block must hold what its head counts (filtered or not); fewer means a stale replica or one still being repaired.
    }, (k, b) => b.held < k.postings, { score: (_k, b) => b.held })
  }

  /** One request to one holder; `asCols: false` asks for plain posting lists (after a columns answer larger than its head allowed). */
  private async blocksRequest (peer: string, group: BlockAsk[], failover: boolean, asCols = true): Promise<HeldBlock[]> {
    const partOf = new Map<string, number>()
    const specs: ReducerSpec[] = []
    const parts: Uint8Array[] = []
    const reducerOf = group.map((k) => {
      if (k.reducer === undefined) return -1
      let i = partOf.get(k.shares)
      if (i === undefined) { i = parts.length; partOf.set(k.shares, i); specs.push(k.reducer.spec); parts.push(k.reducer.bytes) }
      return i
    })
    const header: Record<string, unknown> = { op: 'blocks', terms: group.map((k) => k.term), ranges: group.map((k) => k.range) }
    if (parts.length === 1 && reducerOf.every((i) => i === 0)) Object.assign(header, { filter: specs[0].kind }, specs[0].kind === 'related' ? { relation: specs[0].relation, axis: specs[0].axis } : {})
    else if (parts.length > 0) { header.reducers = specs; header.reducerOf = reducerOf }
    const having = group.flatMap((k, i) => k.having !== undefined ? [i] : [])
    if (having.length > 0) {
      header.having = having
      if (having.some((i) => group[i].having?.level !== undefined)) header.havingLevel = having.map((i) => group[i].having?.level ?? 0)
    }
    const roots = group.flatMap((k, i) => k.roots !== undefined ? [i] : [])
    if (roots.length > 0) header.roots = roots
    // postings in columns where shorter (cols-codec.ts), when enough of them may come back to pay for asking
    const plain = group.filter((k) => k.having === undefined && k.roots === undefined)
    const counted = plain.every((k) => k.reducer === undefined || k.reducer.spec.kind === 'bloom' || k.reducer.asked !== undefined)
    if (asCols && counted && plain.reduce((n, k) => n + Math.min(k.postings, k.reducer?.items ?? k.postings), 0) >= COLS_MIN) header.cols = 1
    const res = await this.holders.request(peer, POSTINGS_PROTOCOL, header, parts, failover)
    // A holder that answers fewer lists than asked is broken, not empty.
    if (res.parts.length !== group.length) throw new ProtocolError(`peer ${peer} answered ${res.parts.length} lists for ${group.length} blocks`)
    const held = Array.isArray(res.header.held) ? res.header.held as unknown[] : []
    /** The holder's count of block i's postings (before its reducer), `otherwise` when it did not say. */
    const heldOf = (i: number, otherwise: number): number => typeof held[i] === 'number' ? held[i] : otherwise
    // Bitmaps where the holder says it answered existence; a holder that predates `having` ships the postings instead.
    const bitmaps = new Set(Array.isArray(res.header.having) ? res.header.having as unknown[] : [])
    const rooted = new Set(Array.isArray(res.header.roots) ? res.header.roots as unknown[] : [])
    const cols = new Set(header.cols === 1 && Array.isArray(res.header.cols) ? res.header.cols as unknown[] : [])
    // At most what the block holds (a publish since its head was read may have added some, hence the holder's count, within reason:
    // columns of one value cost no bytes, and a count sizes the arrays).
    const most = (k: BlockAsk, i: number): number => Math.max(k.postings, Math.min(heldOf(i, 0), 2 * k.postings + 1024))
    const postingsOf = (k: BlockAsk, i: number): PostingList => cols.has(i)
      ? decodeCols(res.parts[i], k.reducer?.spec.kind === 'bloom' ? undefined : k.reducer?.asked, most(k, i), `peer ${peer}, ${k.term}#${k.range}`)
      : decodePostingList(res.parts[i])
    try {
      return group.map((k, i) => {
        if (k.roots !== undefined && rooted.has(i)) return { list: EMPTY_LIST, held: heldOf(i, 0), roots: readRootsAnswer(res.parts[i], k.roots, `peer ${peer}, ${k.term}#${k.range}`) }
        const ask = k.having
        if (ask !== undefined && bitmaps.has(i)) {
          const at = `peer ${peer}, ${k.term}#${k.range}`
          const having = ask.nodes !== undefined ? { docs: EMPTY_DOCS, nodes: readRelatedHaving(res.parts[i], ask.nodes.nodes, at) } : readHavingAnswer(res.parts[i], ask, ask.docs, at)
          return { list: EMPTY_LIST, held: heldOf(i, 0), having }
        }
        if (ask?.nodes !== undefined) {
          const list = postingsOf(k, i)
          return { list, held: heldOf(i, list.length), having: { docs: EMPTY_DOCS, nodes: relatedNodes(relatedIn(list, ask.nodes), ask.nodes) } }
        }
        const list = postingsOf(k, i)
        const mine = ask === undefined ? undefined : docsHavingIn(ask.docs === undefined ? list : keepDocs(list, new SortedDocSet(ask.docs)), ask.level)
        return { list, held: heldOf(i, list.length), ...(mine !== undefined ? { having: mine } : {}) }
      })
    } catch (err) {
      // A block grew since its head was read (a publish under way): its columns may hold more than the head allowed; the plain form
      // is bounded by its bytes.
      if (err instanceof ColsTooLargeError && header.cols === 1) return await this.blocksRequest(peer, group, failover, false)
      throw err
    }
  }
}
