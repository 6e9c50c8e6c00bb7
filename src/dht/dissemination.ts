/**
 * The publisher pushes what its local store committed and the network has
 * not yet seen (docIds from the catalog's nextDocId to the store's) to
 * the index peers: one docId range at a time (bounded memory), postings
 * grouped into (term, range) chunks (a short one inside its head entry;
 * in a first publish, a rare term's whole list in a record of a run,
 * rare-runs.ts),
 * every key placed locally on its r
 * closest index peers, writes batched per peer and signed. Only when every
 * batch is acknowledged does a new signed catalog make the publish
 * visible; a failure leaves the catalog as it was and throws, and running
 * it again sends the same chunks under the same keys (idempotent).
 */
import type { TwigStore } from '../xml-twig-index/store/store.ts'
import { docRecordId } from '../xml-twig-index/store/keys.ts'
import { EdosError } from '../xml-twig-index/errors.ts'
import type { CatalogView } from './catalog.ts'
import { CATALOG_TOPIC } from './catalog.ts'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { KIND_BATCH, KIND_CATALOG, POSTINGS_PROTOCOL } from './protocols.ts'
import { callRpc } from './rpc.ts'
import type { ShardStore } from './shard-store.ts'
import { INLINE_POSTINGS, INLINE_TERM_POSTINGS, MAX_TERM_BYTES, WriteBuilder, rareKey, utf8Into } from './shard-keys.ts'
import { RARE_POSTINGS_MAX, RareRunBuilder } from './rare-runs.ts'
import type { PostingList } from '../xml-twig-index/postings/codec.ts'
import { sliceList } from './posting-lists.ts'
import { PLACEMENT_SCHEME } from './placement.ts'
import { deliveryFields, signEnvelope } from './trust.ts'
import { DEFAULT_RANGE_DOCS, type Catalog } from './types.ts'
import { encodeEntries } from './write-codec.ts'

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
  /**
   * Whether a first publish sends the terms with at most RARE_POSTINGS_MAX
   * postings (in one range) as rare runs rather than a head entry each
   * (rare-runs.ts). Default true; EDOS_DHT_RARE_RUNS=off turns it off for a
   * peer (a network with index peers of an edos before store format 4,
   * which refuse rare runs, or to compare publishes).
   */
  rareRuns?: boolean
  log?: (message: string) => void
}

interface PeerQueue {
  peer: string
  builder: WriteBuilder
  /** The builder reached batchBytes and waits in `filled` to be sent. */
  full: boolean
  postingsQueued: number
  inFlight: Set<Promise<void>>
  /** Rare terms' records waiting for the batch to be sent (they go at its end, as P_RARE entries). */
  rare: RareRunBuilder
  postings: number
  chunks: number
  docs: number
}

export class Dissemination {
  private running: Promise<DisseminationSummary> | undefined

  constructor (private readonly init: DisseminationInit) {}

  /** Docs committed locally but not yet in the network's catalog (all of them when the catalog places keys by an older scheme). */
  backlog (): number { return Math.max(0, this.init.local.nextDocId - this.firstUnsent(this.init.catalog.current())) }

  /** The first docId the network lacks: after the catalog's, or 1 when its keys were placed by an older scheme (all are sent again). */
  private firstUnsent (previous: Catalog | undefined): number {
    if (previous !== undefined && (previous.placement ?? 1) !== PLACEMENT_SCHEME) return 1
    return Math.max(1, previous?.nextDocId ?? 1)
  }

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
    const start = this.firstUnsent(previous)
    // the whole of every list goes out: a first publish, or one that places everything again under a new scheme
    const whole = start === 1
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
    // A batch's buffers are sized for a whole batch up front (growing them by doubling copied each batch ~2x over), and reused once
    // the batch is acknowledged: ~6 MiB fresh per batch made V8 collect for the external memory (GC was 15% of the publisher's time).
    const pool: WriteBuilder[] = []
    const newBatch = (): WriteBuilder => pool.pop() ?? new WriteBuilder(batchBytes >>> 1, batchBytes + (64 << 10), batchBytes >>> 5)
    const release = (b: WriteBuilder): void => { b.reset(); if (pool.length < 2 * maxInFlight + 2) pool.push(b) }
    const queueOf = (peer: string): PeerQueue => {
      let q = queues.get(peer)
      if (q === undefined) { q = { peer, builder: newBatch(), full: false, postingsQueued: 0, inFlight: new Set(), rare: new RareRunBuilder(), postings: 0, chunks: 0, docs: 0 }; queues.set(peer, q) }
      return q
    }
    const send = async (peer: string, builder: WriteBuilder, postings: number): Promise<void> => {
      if (peer === host.peerId) {
        await this.init.shard.applyEncoded(builder)
      } else {
        const { header, parts } = encodeEntries(builder)
        let lastErr: unknown
        for (let a = 0; a < attempts; a++) {
          options.signal?.throwIfAborted()
          try {
            const env = await signEnvelope(host.privateKey, KIND_BATCH, { ...header, ...deliveryFields(peer) }, parts)
            const res = await callRpc(host.libp2p, peer, POSTINGS_PROTOCOL, { op: 'append', envelope: env }, parts, { timeoutMs: 120_000, signal: options.signal })
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
      if (!force && q.builder.bytes + q.rare.bytes < batchBytes) return
      // the runs' keys only tell them apart within the batch: a holder stores their records under keys of its own
      for (const run of q.rare.take()) q.builder.raw(rareKey(q.builder.length), run)
      if (q.builder.length === 0) return
      const builder = q.builder
      const postings = q.postingsQueued
      q.builder = newBatch(); q.postingsQueued = 0; q.full = false
      while (q.inFlight.size >= maxInFlight) await Promise.race(q.inFlight)
      // An acknowledged batch was sent whole: its buffers are free again. One that failed may still be queued under an aborted
      // stream (noise, yamux, TCP) and is left to the collector.
      const p: Promise<void> = send(peer, builder, postings).then(() => { release(builder) }, () => {}).finally(() => q.inFlight.delete(p))
      q.inFlight.add(p)
    }
    const owners = new Uint32Array(placement.width)
    // Queues by index in placement.peers (no lookup by peer id per entry and holder).
    const queueAt: Array<PeerQueue | undefined> = new Array(placement.size)
    // Each entry is encoded once, into `scratch`, then copied to the batch of each of its holders (synchronously: an await per
    // entry was a promise and a microtask for each of R1's ~2.5M entries). Batches that fill wait in `filled` for `sendFilled`.
    const scratch = new WriteBuilder()
    const filled: PeerQueue[] = []
    const ENTRY = 0; const CHUNK = 1; const DOC = 2
    const place = (holders: Uint32Array, n: number, kind: number, postings: number): void => {
      for (let i = 0; i < n; i++) {
        const o = holders[i]
        const peer = placement.peers[o]
        if (failed.size > 0 && failed.has(peer)) continue
        const q = queueAt[o] ?? (queueAt[o] = queueOf(peer))
        q.builder.copyEntry(scratch, 0)
        if (kind === CHUNK) { q.postingsQueued += postings; q.chunks++ } else if (kind === DOC) q.docs++
        if (!q.full && q.builder.bytes + q.rare.bytes >= batchBytes) { q.full = true; filled.push(q) }
      }
    }
    // A rare term's record, encoded into each holder's run (no entry of its own; see rare-runs.ts).
    const termBytes = new Uint8Array(MAX_TERM_BYTES)
    const placeRare = (holders: Uint32Array, n: number, term: string, range: number, list: PostingList): void => {
      const termLength = utf8Into(term, termBytes, 0)
      for (let i = 0; i < n; i++) {
        const o = holders[i]
        const peer = placement.peers[o]
        if (failed.size > 0 && failed.has(peer)) continue
        const q = queueAt[o] ?? (queueAt[o] = queueOf(peer))
        q.rare.add(termBytes, termLength, range, list, 0, list.length)
        q.postingsQueued += list.length; q.chunks++
        if (!q.full && q.builder.bytes + q.rare.bytes >= batchBytes) { q.full = true; filled.push(q) }
      }
    }
    const rareRuns = whole && (this.init.rareRuns ?? process.env.EDOS_DHT_RARE_RUNS !== 'off')
    const sendFilled = async (): Promise<void> => {
      while (filled.length > 0) await flush((filled.shift() as PeerQueue).peer, false)
    }

    if (placement.size === 0) throw new PublishIncompleteError('no index peer is known (not even this publisher): nothing can hold the index', [])
    // Documents and their ids first (they are what a reader materialises), then every term's postings cut by docId range.
    for (let d = start; d < end; d += 512) {
      options.signal?.throwIfAborted()
      const ids: number[] = []
      for (let x = d; x < Math.min(end, d + 512); x++) if (local.isLive(x)) ids.push(x)
      // As stored: the XML goes on as the bytes it is, only the id is decoded (to place it).
      const records = await local.getDocumentRecords(ids)
      for (let r = 0; r < records.length; r++) {
        const record = records[r]
        if (record === undefined) continue
        const docId = ids[r]
        scratch.reset(); scratch.docRecord(docId, record)
        place(owners, placement.docOwnerIndexes(docId, owners), DOC, 0)
        const id = docRecordId(record)
        scratch.reset(); scratch.id(id, docId)
        place(owners, placement.idOwnerIndexes(id, owners), ENTRY, 0)
        if (filled.length > 0) await sendFilled()
      }
      docsDone = Math.min(end, d + 512) - start
    }
    let sinceYield = 0
    // A term's head entries (one per range) all live on the holders of its head key: placed once per term.
    const headOwners = new Uint32Array(placement.width)
    // The store streams the postings of docs >= start from its runs, in term order, a batch of terms at a time (nothing parsed again).
    for await (const batch of local.postingBatchesFrom(start)) for (const { term, postings: list } of batch) {
      // Let timers and I/O in now and then: a publisher that stops announcing for seconds is taken for gone by the others.
      if (++sinceYield === 2000) { sinceYield = 0; await new Promise((resolve) => setImmediate(resolve)) }
      let headN = -1
      let i = 0
      // A rare term travels whole in its heads: a query that names it reads it in the planner's round, with no blocks round after.
      // Only in a catalog's first publish, where this list is the whole term: in a later one it is what the publish adds, and a dense
      // term adds few postings a day (inline chunks of every publish would pile up in the heads every query reads).
      const inlineAll = whole && list.length <= INLINE_TERM_POSTINGS
      // A rare term (a few postings, in one range) goes whole in a record of its holders' runs. A term of more than MAX_TERM_BYTES / 3
      // units might not fit a record: it goes as a head, which a holder refuses whole when it is too long.
      const firstRange = Math.floor(list.docs[0] / rangeDocs)
      if (rareRuns && list.length <= RARE_POSTINGS_MAX && term.length * 3 <= MAX_TERM_BYTES && firstRange === Math.floor(list.docs[list.length - 1] / rangeDocs)) {
        postingsTotal += list.length; chunksTotal++
        placeRare(headOwners, placement.headOwnerIndexes(term, headOwners), term, firstRange, list)
        if (filled.length > 0) await sendFilled()
        continue
      }
      while (i < list.length) {
        const range = Math.floor(list.docs[i] / rangeDocs)
        const limit = (range + 1) * rangeDocs
        let j = i; let distinct = 0; let last = -1
        while (j < list.length && list.docs[j] < limit) { if (list.docs[j] !== last) { distinct++; last = list.docs[j] } j++ }
        const part = sliceList(list, i, j)
        const firstDoc = part.docs[0]
        const head = { postings: part.length, docs: distinct, lastDoc: part.docs[part.length - 1] }
        postingsTotal += part.length
        chunksTotal++
        if (headN < 0) headN = placement.headOwnerIndexes(term, headOwners)
        if (part.length <= INLINE_POSTINGS || inlineAll) {
          // a short chunk (or a rare term's) travels in its head: one entry, and the heads round of a query brings it
          scratch.reset(); scratch.head(term, range, firstDoc, head, part)
          place(headOwners, headN, CHUNK, part.length)
        } else {
          scratch.reset(); scratch.chunk(term, range, firstDoc, part)
          place(owners, placement.blockOwnerIndexes(term, range, owners), CHUNK, part.length)
          scratch.reset(); scratch.head(term, range, firstDoc, head)
          place(headOwners, headN, ENTRY, 0)
        }
        if (filled.length > 0) await sendFilled()
        i = j
      }
    }
    for (const peer of [...queues.keys()]) await flush(peer, true)
    for (const q of queues.values()) await Promise.all(q.inFlight)
    if (failed.size > 0) {
      throw new PublishIncompleteError(`publish not complete: index peers did not take their batches (${[...failed].map((p) => `${p}: ${reasons.get(p) ?? 'failed'}`).join('; ')}); the catalog is unchanged (run the publish again once the view has settled)`, [...failed])
    }

    progress('catalog')
    const releases = await local.releases()
    const dead: number[] = []
    for (let d = 1; d < end; d++) if (!local.isLive(d)) dead.push(d)
    const catalog: Catalog = {
      seq: (previous?.seq ?? 0) + 1,
      publisher: host.peerId,
      nextDocId: end,
      live: local.documentCount,
      // not stats(): it counts every term (~1.2 s on R1) for a figure the catalog does not carry
      postings: local.postingCount,
      rangeDocs,
      replicas: placement.replicas,
      releases: releases.map((r) => ({ name: r.name, docId: r.docId, version: r.version, date: r.date, units: r.units })),
      dead,
      date: new Date().toISOString(),
      placement: PLACEMENT_SCHEME
    }
    await this.commitCatalog(catalog, options.signal)
    progress('done')
    const peers: DisseminationSummary['peers'] = {}
    for (const [peer, q] of queues) peers[peer] = { postings: postingsSent[peer] ?? 0, chunks: q.chunks, docs: q.docs }
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
