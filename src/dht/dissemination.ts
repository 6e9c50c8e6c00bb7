/**
 * The publisher pushes what its local store committed and the network has
 * not yet seen (docIds from the catalog's nextDocId to the store's) to
 * the index peers: one docId range at a time (bounded memory), postings
 * grouped into (term, range) chunks, every key placed locally on its r
 * closest index peers, writes batched per peer and signed. Only when every
 * batch is acknowledged does a new signed catalog make the publish
 * visible; a failure leaves the catalog as it was and throws, and running
 * it again sends the same chunks under the same keys (idempotent).
 */
import { parseXml } from '../xml-twig-index/xml/parse.ts'
import { extractPostings } from '../xml-twig-index/postings/extract.ts'
import { PostingBuffer } from '../xml-twig-index/postings/codec.ts'
import type { TwigStore } from '../xml-twig-index/store/store.ts'
import { EdosError } from '../xml-twig-index/errors.ts'
import type { CatalogView } from './catalog.ts'
import { CATALOG_TOPIC } from './catalog.ts'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { blockKey, docKey, headKey, idKey } from './placement.ts'
import { DOCS_PROTOCOL, KIND_BATCH, KIND_CATALOG, POSTINGS_PROTOCOL } from './protocols.ts'
import { callRpc } from './rpc.ts'
import type { HeadChunk, PostingChunk, ShardStore, ShardWrite } from './shard-store.ts'
import { deliveryFields, signEnvelope } from './trust.ts'
import { DEFAULT_RANGE_DOCS, type Catalog, type HeldDocument } from './types.ts'
import { encodeWrite } from './write-codec.ts'

export class PublishIncompleteError extends EdosError {
  constructor (message: string, readonly failedPeers: string[]) { super(message, 'ERR_PUBLISH_INCOMPLETE'); this.name = 'PublishIncompleteError' }
}

export interface DisseminationProgress {
  phase: 'index' | 'catalog' | 'done'
  docs: number
  totalDocs: number
  /** Postings acknowledged per index peer so far. */
  postingsSent: Record<string, number>
  bytesSent: number
}

export interface DisseminationSummary {
  seq: number
  docs: number
  postings: number
  chunks: number
  bytesSent: number
  peers: Record<string, { postings: number, chunks: number, docs: number }>
  seconds: number
}

export interface DisseminationInit {
  host: PeerHost
  membership: Membership
  catalog: CatalogView
  /** The publisher's own share (its keys are applied here, without a network hop). */
  shard: ShardStore
  /** The publisher's full local store (the source of everything published). */
  local: TwigStore
  /** Docs per range of a long list. Default 8192 (fixed by the first catalog). */
  rangeDocs?: number
  /** Encoded bytes per batch before it is sent. Default 4 MiB. */
  batchBytes?: number
  /** Batches in flight per peer. Default 2. */
  inFlight?: number
  /** Attempts per batch before the publish fails. Default 3. */
  attempts?: number
  log?: (message: string) => void
}

interface PeerQueue {
  write: Required<ShardWrite>
  bytes: number
  inFlight: Set<Promise<void>>
  postings: number
  chunks: number
  docs: number
}

const emptyWrite = (): Required<ShardWrite> => ({ chunks: [], heads: [], docs: [], ids: [] })

export class Dissemination {
  private running: Promise<DisseminationSummary> | undefined

  constructor (private readonly init: DisseminationInit) {}

  /** Docs committed locally but not yet in the network's catalog. */
  backlog (): number { return Math.max(0, this.init.local.nextDocId - Math.max(1, this.init.catalog.nextDocId)) }

  /** One dissemination at a time: a second caller waits for the running one, then runs its own. */
  async run (options: { onProgress?: (p: DisseminationProgress) => void, signal?: AbortSignal } = {}): Promise<DisseminationSummary> {
    while (this.running !== undefined) { try { await this.running } catch { /* the next run retries */ } }
    this.running = this.runOnce(options)
    try { return await this.running } finally { this.running = undefined }
  }

  private async runOnce (options: { onProgress?: (p: DisseminationProgress) => void, signal?: AbortSignal }): Promise<DisseminationSummary> {
    const t0 = performance.now()
    const { local, membership, host } = this.init
    const previous = this.init.catalog.current()
    const rangeDocs = previous?.rangeDocs ?? this.init.rangeDocs ?? DEFAULT_RANGE_DOCS
    const start = Math.max(1, previous?.nextDocId ?? 1)
    const end = local.nextDocId
    const placement = membership.placement()
    const queues = new Map<string, PeerQueue>()
    const failed = new Set<string>()
    const reasons = new Map<string, string>()
    const postingsSent: Record<string, number> = {}
    let bytesSent = 0
    let docsDone = 0
    let postingsTotal = 0
    let chunksTotal = 0
    const batchBytes = this.init.batchBytes ?? 4 * 1024 * 1024
    const maxInFlight = this.init.inFlight ?? 2
    const attempts = this.init.attempts ?? 3
    const progress = (phase: DisseminationProgress['phase']): void => {
      options.onProgress?.({ phase, docs: docsDone, totalDocs: end - start, postingsSent: { ...postingsSent }, bytesSent })
    }
    const queueOf = (peer: string): PeerQueue => {
      let q = queues.get(peer)
      if (q === undefined) { q = { write: emptyWrite(), bytes: 0, inFlight: new Set(), postings: 0, chunks: 0, docs: 0 }; queues.set(peer, q) }
      return q
    }
    const send = async (peer: string, write: Required<ShardWrite>): Promise<void> => {
      const postings = write.chunks.reduce((n, c) => n + c.postings.length, 0)
      if (peer === host.peerId) {
        await this.init.shard.apply(write)
      } else {
        const { header, parts } = encodeWrite(write)
        let lastErr: unknown
        for (let a = 0; a < attempts; a++) {
          options.signal?.throwIfAborted()
          try {
            const env = await signEnvelope(host.privateKey, KIND_BATCH, { ...header, ...deliveryFields(peer) }, parts)
            const protocol = write.chunks.length + write.heads.length > 0 ? POSTINGS_PROTOCOL : DOCS_PROTOCOL
            const res = await callRpc(host.libp2p, peer, protocol, { op: 'append', envelope: env }, parts, { timeoutMs: 60_000, signal: options.signal })
            bytesSent += res.bytes
            lastErr = undefined
            break
          } catch (err) {
            lastErr = err
            this.init.log?.(`dissemination: batch for ${peer} failed (attempt ${a + 1} of ${attempts}): ${(err as Error).message}`)
            if ((err as { code?: string }).code !== 'ERR_PEER_UNAVAILABLE') break
            await new Promise((resolve) => setTimeout(resolve, 250 * (a + 1)))
          }
        }
        if (lastErr !== undefined) {
          failed.add(peer)
          if (!reasons.has(peer)) reasons.set(peer, (lastErr as Error).message)
          throw lastErr
        }
      }
      postingsSent[peer] = (postingsSent[peer] ?? 0) + postings
      progress('index')
    }
    const flush = async (peer: string, force: boolean): Promise<void> => {
      const q = queueOf(peer)
      if (!force && q.bytes < batchBytes) return
      if (q.write.chunks.length + q.write.heads.length + q.write.docs.length + q.write.ids.length === 0) return
      const write = q.write
      q.write = emptyWrite(); q.bytes = 0
      while (q.inFlight.size >= maxInFlight) await Promise.race(q.inFlight)
      const p: Promise<void> = send(peer, write).catch(() => {}).finally(() => q.inFlight.delete(p))
      q.inFlight.add(p)
    }
    const add = async (key: Uint8Array, put: (q: PeerQueue) => number): Promise<void> => {
      for (const peer of placement.owners(key)) {
        if (failed.has(peer)) continue
        const q = queueOf(peer)
        q.bytes += put(q)
        if (q.bytes >= batchBytes) await flush(peer, false)
      }
    }

    if (placement.size === 0) throw new PublishIncompleteError('no index peer is known (not even this publisher): nothing can hold the index', [])
    for (let range = Math.floor(start / rangeDocs); range * rangeDocs < end; range++) {
      const lo = Math.max(start, range * rangeDocs)
      const hi = Math.min(end, (range + 1) * rangeDocs)
      const terms = new Map<string, PostingBuffer>()
      const docs: HeldDocument[] = []
      for (let d = lo; d < hi; d += 256) {
        options.signal?.throwIfAborted()
        const ids: number[] = []
        for (let x = d; x < Math.min(hi, d + 256); x++) if (local.isLive(x)) ids.push(x)
        for (const doc of await local.getDocuments(ids)) {
          if (doc === undefined) continue
          docs.push(doc)
          const root = parseXml(doc.xml, { where: doc.id })
          const docId = doc.docId
          extractPostings(root, (prefix, suffix, s, e, level) => {
            const term = prefix + suffix
            let b = terms.get(term)
            if (b === undefined) { b = new PostingBuffer(4); terms.set(term, b) }
            b.push(docId, s, e, level)
          })
        }
        docsDone += Math.min(hi, d + 256) - d
      }
      for (const doc of docs) {
        await add(docKey(doc.docId), (q) => { q.write.docs.push(doc); q.docs++; return doc.xml.length + 16 })
        await add(idKey(doc.id), (q) => { q.write.ids.push({ id: doc.id, docId: doc.docId }); return doc.id.length + 8 })
      }
      for (const [term, list] of terms) {
        let distinct = 0; let last = -1
        for (let i = 0; i < list.length; i++) if (list.docs[i] !== last) { distinct++; last = list.docs[i] }
        const chunk: PostingChunk = { term, range, firstDoc: list.docs[0], postings: list }
        const head: HeadChunk = { term, range, firstDoc: list.docs[0], postings: list.length, docs: distinct, lastDoc: list.docs[list.length - 1] }
        postingsTotal += list.length
        chunksTotal++
        await add(blockKey(term, range), (q) => { q.write.chunks.push(chunk); q.postings += list.length; q.chunks++; return list.length * 4 + term.length + 16 })
        await add(headKey(term), (q) => { q.write.heads.push(head); return term.length + 24 })
      }
      for (const peer of [...queues.keys()]) await flush(peer, true)
    }
    for (const q of queues.values()) await Promise.all(q.inFlight)
    if (failed.size > 0) {
      throw new PublishIncompleteError(`publish not complete: index peers did not take their batches (${[...failed].map((p) => `${p}: ${reasons.get(p) ?? 'failed'}`).join('; ')}); the catalog is unchanged (run the publish again once the view has settled)`, [...failed])
    }

    progress('catalog')
    const releases = await local.releases()
    const dead: number[] = []
    for (let d = 1; d < end; d++) if (!local.isLive(d)) dead.push(d)
    const stats = await local.stats()
    const catalog: Catalog = {
      seq: (previous?.seq ?? 0) + 1,
      publisher: host.peerId,
      nextDocId: end,
      live: local.documentCount,
      postings: stats.postings,
      rangeDocs,
      replicas: placement.replicas,
      releases: releases.map((r) => ({ name: r.name, docId: r.docId, version: r.version, date: r.date, units: r.units })),
      dead,
      date: new Date().toISOString()
    }
    const signedCatalog = await this.commitCatalog(catalog, options.signal)
    progress('done')
    const peers: DisseminationSummary['peers'] = {}
    for (const [peer, q] of queues) peers[peer] = { postings: postingsSent[peer] ?? 0, chunks: q.chunks, docs: q.docs }
    void signedCatalog
    return { seq: catalog.seq, docs: end - start, postings: postingsTotal, chunks: chunksTotal, bytesSent, peers, seconds: (performance.now() - t0) / 1000 }
  }

  /**
   * Signs the catalog, stores it on every index peer and announces it.
   * Index peers that miss it (down) pull it at restart or from gossip.
   */
  async commitCatalog (catalog: Catalog, signal?: AbortSignal): Promise<Uint8Array> {
    const { host, membership } = this.init
    const env = await signEnvelope(host.privateKey, KIND_CATALOG, { catalog })
    const signed = new TextEncoder().encode(JSON.stringify(env))
    await this.init.shard.setCatalog(catalog, signed)
    this.init.catalog.offer(signed)
    await Promise.all(membership.placement().peers.filter((p) => p !== host.peerId).map(async (peer) => {
      try { await callRpc(host.libp2p, peer, POSTINGS_PROTOCOL, { op: 'catalog-put', envelope: env }, [], { signal, timeoutMs: 10_000 }) } catch { /* gossip and pull reach it later */ }
    }))
    try { await host.libp2p.services.pubsub.publish(CATALOG_TOPIC, signed) } catch { /* no subscriber */ }
    return signed
  }
}
