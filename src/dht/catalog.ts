/**
 * The catalog as a peer sees it: the newest publisher-signed catalog it
 * has verified, from the gossip topic (the publisher announces each new
 * one) or pulled from index peers at start. It decides what is visible:
 * docIds below nextDocId and not dead.
 */
import type { PeerId } from '@libp2p/interface'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { catalogOf, KIND_CATALOG, POSTINGS_PROTOCOL } from './protocols.ts'
import { callRpc } from './rpc.ts'
import { verifyEnvelope, type SignedEnvelope } from './trust.ts'
import type { Catalog } from './types.ts'

export const CATALOG_TOPIC = 'edos/index/catalog/1.0.0'

export interface CatalogViewInit {
  host: PeerHost
  membership: Membership
  publisher: PeerId
  /** The catalog this peer already holds (an index peer's shard store). */
  initial?: { catalog: Catalog, signed: Uint8Array }
  log?: (message: string) => void
}

type Listener = (catalog: Catalog) => void

export class CatalogView {
  private held: { catalog: Catalog, signed: Uint8Array } | undefined
  private dead = new Set<number>()
  private readonly listeners = new Set<Listener>()
  /** Catalogs refused (bad signature): observable by tests. */
  refused = 0

  constructor (private readonly init: CatalogViewInit) {
    if (init.initial !== undefined) this.set(init.initial.catalog, init.initial.signed)
  }

  current (): Catalog | undefined { return this.held?.catalog }
  signed (): Uint8Array | undefined { return this.held?.signed }
  get seq (): number { return this.held?.catalog.seq ?? 0 }
  get nextDocId (): number { return this.held?.catalog.nextDocId ?? 0 }

  isLive (docId: number): boolean { return docId < this.nextDocId && !this.dead.has(docId) }

  onChange (l: Listener): () => void { this.listeners.add(l); return () => { this.listeners.delete(l) } }

  async start (): Promise<void> {
    const pubsub = this.init.host.libp2p.services.pubsub
    pubsub.subscribe(CATALOG_TOPIC)
    pubsub.addEventListener('message', (evt) => {
      if (evt.detail.topic !== CATALOG_TOPIC) return
      this.offer(evt.detail.data)
    })
    await this.pull()
  }

  /** Verifies a signed catalog (JSON of its envelope) and keeps it when newer. Returns whether it was kept. */
  offer (signed: Uint8Array): boolean {
    try {
      const env = JSON.parse(new TextDecoder().decode(signed)) as SignedEnvelope
      verifyEnvelope(env, [], this.init.publisher, KIND_CATALOG)
      const catalog = catalogOf(env)
      if (catalog.seq <= this.seq) return false
      this.set(catalog, signed)
      return true
    } catch (err) {
      this.refused++
      this.init.log?.(`catalog: refused a catalog: ${(err as Error).message}`)
      return false
    }
  }

  private pulling = false

  /** A member announced a newer catalog than this one: fetch it from that member (one pull at a time). */
  newerAt (peer: string): void {
    if (this.pulling) return
    this.pulling = true
    void this.pull(undefined, [peer]).finally(() => { this.pulling = false })
  }

  /** Asks the index peers (default: all in the view) for their catalog and keeps the newest that verifies. */
  async pull (signal?: AbortSignal, from?: string[]): Promise<void> {
    const peers = from ?? this.init.membership.view().map((m) => m.peer).filter((p) => p !== this.init.host.peerId)
    await Promise.all(peers.map(async (peer) => {
      try {
        const res = await callRpc(this.init.host.libp2p, peer, POSTINGS_PROTOCOL, { op: 'catalog' }, [], { signal, timeoutMs: 5000 })
        if (res.parts[0] !== undefined && res.parts[0].length > 0) this.offer(res.parts[0])
      } catch {
        // Down or not an index peer: another one answers.
      }
    }))
  }

  private set (catalog: Catalog, signed: Uint8Array): void {
    this.held = { catalog, signed }
    this.dead = new Set(catalog.dead)
    for (const l of this.listeners) l(catalog)
  }
}
