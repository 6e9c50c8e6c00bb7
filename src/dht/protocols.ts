/**
 * The servers of an index peer: /edos/postings/1.0.0 (term heads, term
 * enumeration, blocks filtered by a reducer (docIds, a Bloom filter, or nodes
 * the postings must lie below or above), signed appends, replication,
 * the catalog) and /edos/docs/1.0.0 (documents by docId, ids to docIds,
 * signed appends, replication). Writes are accepted only when signed by
 * the publisher key and addressed to this peer, or, for replication, when
 * they come from a current index peer (the publisher or a certified
 * mirror). A peer that is not an index peer (a client, a mirror not yet
 * admitted) refuses every write.
 */
import type { PeerId } from '@libp2p/interface'
import { NotAuthorizedError, ProtocolError } from './errors.ts'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { serveRpc, type RpcRequest, type RpcResponse } from './rpc.ts'
import type { ShardStore, ShardWrite } from './shard-store.ts'
import { ReplayGuard, verifyEnvelope, type SignedEnvelope } from './trust.ts'
import type { Catalog } from './types.ts'
import { decodeEntries, decodeWrite, encodeEntries, encodeWrite, isEntries } from './write-codec.ts'
import { WriteBuilder } from './shard-keys.ts'
import { callRpc } from './rpc.ts'
import { blockKey, docKey, headKey, idKey } from './placement.ts'
import type { ShardEntry } from './shard-store.ts'
import { int, intArray, optInt, optStr, str, strArray } from './wire.ts'
import { applyRelated, blockAnswers, decodeReducers, havingKeys, regionOf, rootKeys, type KeyReducer } from './block-reducers.ts'
import { encodeHeads } from './head-codec.ts'
import type { PostingList } from '../xml-twig-index/postings/codec.ts'

export const POSTINGS_PROTOCOL = '/edos/postings/1.0.0'
export const DOCS_PROTOCOL = '/edos/docs/1.0.0'

export const KIND_BATCH = 'edos/index-batch'
export const KIND_CATALOG = 'edos/catalog'

/** Most keys one request may name (bounds the work a single request can ask for). */
export const MAX_KEYS = 200_000

export interface IndexServerInit {
  host: PeerHost
  membership: Membership
  shard: ShardStore
  publisher: PeerId
  /** Called when a newer catalog is stored here. */
  onCatalog?: (catalog: Catalog, signed: Uint8Array) => void
  log?: (message: string) => void
}

/** Counters an index peer reports (refusals are how tests see that a forged write was rejected). */
export interface ServerCounters {
  appends: number
  replicated: number
  refused: number
  served: number
}

export class IndexServer {
  readonly counters: ServerCounters = { appends: 0, replicated: 0, refused: 0, served: 0 }
  private readonly guard = new ReplayGuard()

  constructor (private readonly init: IndexServerInit) {}

  async start (): Promise<void> {
    const onError = (err: unknown, req: RpcRequest): void => { this.init.log?.(`index server: ${String(req.header.op)} from ${req.from} failed: ${(err as Error).stack ?? String(err)}`) }
    await serveRpc(this.init.host.libp2p, POSTINGS_PROTOCOL, async (req) => await this.refusing(req, async () => await this.postings(req)), { onError })
    await serveRpc(this.init.host.libp2p, DOCS_PROTOCOL, async (req) => await this.refusing(req, async () => await this.docs(req)), { onError })
  }

  private async refusing (req: RpcRequest, run: () => Promise<RpcResponse>): Promise<RpcResponse> {
    try {
      const res = await run()
      this.counters.served++
      return res
    } catch (err) {
      if (err instanceof NotAuthorizedError || (err instanceof Error && /SIGNATURE|REPLAYED|CERT/.test((err as { code?: string }).code ?? ''))) {
        this.counters.refused++
        this.init.log?.(`index server: refused ${String(req.header.op)} from ${req.from}: ${err.message}`)
      }
      throw err
    }
  }

  /** Handles a read or write that any index peer serves locally (also used for this peer's own keys without a network hop). */
  async postings (req: RpcRequest): Promise<RpcResponse> {
    const h = req.header
    const op = str(h, 'op')
    const shard = this.init.shard
    switch (op) {
      case 'heads': {
        const terms = bounded(strArray(h, 'terms'), 'terms')
        const { heads, parts } = encodeHeads(await shard.heads(terms))
        return { header: { heads }, parts }
      }
      case 'terms': {
        const range = { prefix: str(h, 'prefix'), gt: optStr(h, 'gt'), gte: optStr(h, 'gte'), lt: optStr(h, 'lt'), lte: optStr(h, 'lte') }
        const { heads, parts } = encodeHeads(await shard.termHeads(range))
        return { header: { heads }, parts }
      }
      case 'blocks': {
        const terms = bounded(strArray(h, 'terms'), 'terms')
        const ranges = bounded(intArray(h, 'ranges', 0, 0xffffffff), 'ranges')
        if (ranges.length !== terms.length) throw new ProtocolError(`blocks: ${terms.length} terms but ${ranges.length} ranges`)
        const reducers = decodeReducers(h, req.parts, terms.length)
        // Keys read with the same reducer go to the store together.
        const byReducer = new Map<KeyReducer | undefined, number[]>()
        reducers.forEach((r, i) => { const g = byReducer.get(r); if (g === undefined) byReducer.set(r, [i]); else g.push(i) })
        const having = havingKeys(h, reducers)
        const roots = rootKeys(h, reducers, having)
        const lists = new Array<PostingList>(terms.length)
        const held = new Array<number>(terms.length)
        for (const [r, idx] of byReducer) {
          const blocks = await shard.blocksHeld(idx.map((i) => ({ term: terms[i], range: ranges[i] })), r?.docs, regionOf(r?.related))
          idx.forEach((i, k) => { lists[i] = applyRelated(blocks[k].list, r); held[i] = blocks[k].held })
        }
        const { parts, answered } = blockAnswers(lists, reducers, having, roots, optInt(h, 'cols', 0, 1) === 1)
        return { header: { held, ...answered }, parts }
      }
      case 'catalog': {
        const held = shard.catalog()
        return { header: { seq: held?.catalog.seq ?? 0 }, parts: held === undefined ? [] : [held.signed] }
      }
      case 'catalog-put': return await this.catalogPut(req)
      case 'append': return await this.append(req)
      case 'replicate': return await this.replicate(req)
      case 'sync': return this.sync(req)
      default: throw new ProtocolError(`postings: unknown op '${op}'`)
    }
  }

  async docs (req: RpcRequest): Promise<RpcResponse> {
    const h = req.header
    const op = str(h, 'op')
    const shard = this.init.shard
    switch (op) {
      case 'get': {
        const docIds = bounded(intArray(h, 'docIds', 0, 0xffffffff), 'docIds')
        const docs = await shard.documents(docIds)
        const enc = new TextEncoder()
        return { header: { ids: docs.map((d) => d?.id ?? null) }, parts: docs.map((d) => d === undefined ? new Uint8Array(0) : enc.encode(d.xml)) }
      }
      case 'resolve': {
        const ids = bounded(strArray(h, 'ids'), 'ids')
        return { header: { docIds: (await shard.resolve(ids)).map((x) => x ?? null) } }
      }
      case 'append': return await this.append(req)
      case 'replicate': return await this.replicate(req)
      default: throw new ProtocolError(`docs: unknown op '${op}'`)
    }
  }

  private requireIndexPeer (what: string): void {
    if (!this.init.membership.isIndexPeer) throw new NotAuthorizedError(`${what} refused: this peer holds no index data (a client, or a mirror not admitted by the publisher)`)
  }

  private envelopeOf (req: RpcRequest, kind: string): SignedEnvelope {
    const env = req.header.envelope as SignedEnvelope | undefined
    if (env == null || typeof env !== 'object') throw new ProtocolError(`${String(req.header.op)}: no signed envelope`)
    verifyEnvelope(env, req.parts, this.init.publisher, kind)
    this.guard.check(env, this.init.host.peerId)
    return env
  }

  /** A publisher-signed batch addressed to this peer. */
  private async append (req: RpcRequest): Promise<RpcResponse> {
    this.requireIndexPeer('append')
    const env = this.envelopeOf(req, KIND_BATCH)
    if (isEntries(env.header)) {
      const b = decodeEntries(env.header, req.parts)
      await this.init.shard.applyEncoded(b)
      this.counters.appends++
      return { header: { ok: true, entries: b.length } }
    }
    const write = decodeWrite(env.header, req.parts)
    await this.init.shard.apply(write)
    this.counters.appends++
    return { header: { ok: true, ...countsOf(write) } }
  }

  /** Keys moved by repair: accepted from current index peers only. */
  private async replicate (req: RpcRequest): Promise<RpcResponse> {
    this.requireIndexPeer('replicate')
    const sender = this.init.membership.view().find((m) => m.peer === req.from)
    if (sender === undefined) throw new NotAuthorizedError(`replicate refused: ${req.from} is not an index peer (no valid mirror certificate)`)
    if (isEntries(req.header)) {
      const b = decodeEntries(req.header, req.parts)
      await this.init.shard.applyEncoded(b)
      this.counters.replicated++
      return { header: { ok: true, entries: b.length } }
    }
    const write = decodeWrite(req.header, req.parts)
    await this.init.shard.apply(write)
    this.counters.replicated++
    return { header: { ok: true, ...countsOf(write) } }
  }

  /**
   * A co-holder that was down during a publish asks for what it missed:
   * every entry here for docs >= since that it is an owner of is pushed to
   * it (replicate batches), in the background.
   */
  private sync (req: RpcRequest): RpcResponse {
    this.requireIndexPeer('sync')
    if (this.init.membership.view().find((m) => m.peer === req.from) === undefined) throw new NotAuthorizedError(`sync refused: ${req.from} is not an index peer in this view (yet)`)
    const since = int(req.header, 'since', 0, 0xffffffff)
    void this.pushSince(req.from, since).catch((err: Error) => this.init.log?.(`sync for ${req.from} failed: ${err.message}`))
    return { header: { ok: true, since } }
  }

  private async pushSince (peer: string, since: number): Promise<void> {
    const placement = this.init.membership.placement()
    let b = new WriteBuilder()
    let sent = 0
    const flush = async (): Promise<void> => {
      if (b.length === 0) return
      const { header, parts } = encodeEntries(b)
      await callRpc(this.init.host.libp2p, peer, POSTINGS_PROTOCOL, { ...header, op: 'replicate' }, parts, { timeoutMs: 120_000 })
      sent += b.length
      b = new WriteBuilder()
    }
    for await (const { entry, key, value } of this.init.shard.rawSince(since)) {
      if (!placement.isOwner(placementKey(entry), peer)) continue
      b.raw(key, value)
      if (b.bytes >= 4 * 1024 * 1024) await flush()
    }
    await flush()
    this.init.log?.(`sync: sent ${sent} entries for docs >= ${since} to ${peer}`)
  }

  private async catalogPut (req: RpcRequest): Promise<RpcResponse> {
    this.requireIndexPeer('catalog-put')
    const env = req.header.envelope as SignedEnvelope | undefined
    if (env == null || typeof env !== 'object') throw new ProtocolError('catalog-put: no signed envelope')
    verifyEnvelope(env, req.parts, this.init.publisher, KIND_CATALOG)
    const catalog = catalogOf(env)
    const signed = new TextEncoder().encode(JSON.stringify(env))
    const kept = await this.init.shard.setCatalog(catalog, signed)
    if (kept) this.init.onCatalog?.(catalog, signed)
    return { header: { ok: true, kept, seq: this.init.shard.catalog()?.catalog.seq ?? 0 } }
  }

  /** The frame a replicate call sends (same shape as an append, without an envelope). */
  static replicateFrame (write: ShardWrite): { header: Record<string, unknown>, parts: Uint8Array[] } {
    const { header, parts } = encodeWrite(write)
    return { header: { ...header, op: 'replicate' }, parts }
  }
}

/** The placement key of a held entry. */
export function placementKey (e: ShardEntry): Uint8Array {
  switch (e.kind) {
    case 'head': return headKey(e.term)
    case 'block': return blockKey(e.term, e.range)
    case 'doc': return docKey(e.docId)
    case 'id': return idKey(e.id)
  }
}

function bounded<T> (values: T[], field: string): T[] {
  if (values.length > MAX_KEYS) throw new ProtocolError(`'${field}' names ${values.length} keys, more than ${MAX_KEYS}`)
  return values
}

function countsOf (w: ShardWrite): { chunks: number, heads: number, docs: number, ids: number } {
  return { chunks: w.chunks?.length ?? 0, heads: w.heads?.length ?? 0, docs: w.docs?.length ?? 0, ids: w.ids?.length ?? 0 }
}

/** The catalog inside a verified catalog envelope (its header), checked for shape. */
export function catalogOf (env: SignedEnvelope): Catalog {
  const c = env.header.catalog as Catalog | undefined
  if (c == null || typeof c !== 'object') throw new ProtocolError('catalog envelope without a catalog')
  int(c as unknown as Record<string, unknown>, 'seq')
  int(c as unknown as Record<string, unknown>, 'nextDocId')
  int(c as unknown as Record<string, unknown>, 'rangeDocs')
  if (!Array.isArray(c.releases) || !Array.isArray(c.dead)) throw new ProtocolError('catalog: releases and dead must be arrays')
  return c
}
