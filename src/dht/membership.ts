/**
 * The set of index peers (the publisher and its certified mirrors) that
 * every peer keeps in full, so placement is computed locally instead of
 * one network lookup per term. Index peers announce themselves on a
 * gossipsub topic (gossipsub signs each message with its origin's key, so
 * `from` is authenticated); a mirror's announcement carries its
 * certificate, checked against the publisher key. A member silent for
 * `expireMs` (or `disconnectedMs` after its connections closed) is probed
 * directly (its own record asked on MEMBERS_PROTOCOL): it leaves the view
 * only when it does not answer, since a busy peer's announcements come
 * late and every change of the view starts a repair pass on every peer.
 * A peer that starts pulls the view from the peers it is connected to, so
 * it can place keys at once.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import { randomBytes } from 'node:crypto'
import { guardSignal, type PeerHost } from './host.ts'
import { Placement } from './placement.ts'
import { callRpc, serveRpc } from './rpc.ts'
import { verifyCertificate } from './trust.ts'
import { DEFAULT_REPLICAS, type MirrorCertificate } from './types.ts'

export const MEMBERS_TOPIC = 'edos/index/members/1.0.0'
export const MEMBERS_PROTOCOL = '/edos/members/1.0.0'

/** What an index peer reports about itself (shown by `edos network`). */
export interface HeldSummary {
  heads: number
  blocks: number
  docs: number
  postings: number
}

export interface RepairState {
  running: boolean
  /** Keys checked and keys sent in the last (or current) pass. */
  checked: number
  sent: number
  /** ISO time the last pass ended. */
  lastRun?: string
  error?: string
}

export interface MemberRecord {
  peer: string
  role: 'publisher' | 'mirror'
  addrs: string[]
  certificate?: MirrorCertificate
  held?: HeldSummary
  repair?: RepairState
  /** The newest catalog the peer holds: a peer that sees a higher one than its own pulls it (it missed the gossip). */
  catalogSeq?: number
  /** Local time (ms) the latest announcement arrived. */
  lastSeen: number
}

export interface MembershipInit {
  host: PeerHost
  /** The root of trust: the publisher's peer id. */
  publisher: PeerId
  /** This peer's certificate when it is an admitted mirror. */
  certificate?: MirrorCertificate
  /** Replication factor r. Default 3. */
  replicas?: number
  /** Period of the checks (silent members, expired certificates) and of announcements while this peer's record changes. Default 2000 ms. */
  intervalMs?: number
  /**
   * Longest an index peer goes without announcing when its record does not
   * change. Default 10 × intervalMs (20 s): every announcement is flooded
   * to every peer and forwarded through the mesh. A member that stops or
   * crashes is not left to expire (2 × 20 s + 1 s): its connections' close
   * has it probed after disconnectedMs. So is one a read found unreachable
   * (`suspect`). A host that dies with its connections open and that no
   * read reaches takes expireMs.
   */
  keepAliveMs?: number
  /**
   * What a peer holds and its repair state change at every period during a
   * publish or a repair, and only `edos network` shows them: such a change
   * is announced at most this often. A change of addresses, certificate or
   * catalog is announced at the next period. Default keepAliveMs / 2.
   */
  infoMs?: number
  /** A member not heard for this long is probed, and leaves the view if the probe fails. Default 2 × keepAliveMs + 1 s, at least 10 s (a busy peer's announcements come late, and a false leave moves keys for nothing). */
  expireMs?: number
  /** A member not heard for this long after its connections closed (or a read found it unreachable) is probed. Default min(expireMs, 10 s). */
  disconnectedMs?: number
  /**
   * Period of a kad-dht lookup of a random key that confirms the view (it
   * finds index peers whose announcements this peer missed). Default 5 min:
   * a lookup asks most index peers, and one per peer every 30 s was ~30% of
   * an idle network's CPU (8 mirrors). A read that finds the view stale
   * confirms it at once (holders.ts).
   */
  confirmMs?: number
  /**
   * Longest a silent member may take to answer its probe before it leaves
   * the view. Default 10 s: a peer whose event loop is blocked applying a
   * batch still answers within it, and a dead peer on a reachable host is
   * refused at once (so it leaves after about expireMs); only an
   * unreachable host takes expireMs + probeTimeoutMs.
   */
  probeTimeoutMs?: number
  /** What this peer holds, for its announcements. */
  held?: () => Promise<HeldSummary>
  repair?: () => RepairState
  catalogSeq?: () => number
  /** Called when a member announces a newer catalog than `catalogSeq()`. */
  onNewerCatalog?: (peer: string, seq: number) => void
  log?: (message: string) => void
}

type Listener = (placement: Placement, previous: Placement) => void

export class Membership {
  private readonly members = new Map<string, MemberRecord>()
  /** The addresses last merged into the peer store, per member. */
  private readonly mergedAddrs = new Map<string, string>()
  private certificate: MirrorCertificate | undefined
  private placementCache: Placement
  private timer: NodeJS.Timeout | undefined
  private readonly listeners = new Set<Listener>()
  private readonly intervalMs: number
  private readonly keepAliveMs: number
  private readonly infoMs: number
  private readonly expireMs: number
  private readonly disconnectedMs: number
  private readonly confirmTicks: number
  /** Members whose connections all closed or that a read found unreachable, and when (dropped once they are probed, or heard from and connected again). */
  private readonly lost = new Map<string, number>()
  /** What this peer last announced (its record as JSON, and without held and repair) and when. */
  private announced = { json: '', essential: '', at: -Infinity }
  private readonly probeTimeoutMs: number
  private readonly replicas: number
  /** Silent members being probed (at most one probe per member). */
  private readonly probing = new Set<string>()
  private stopped = false
  /** Announcements refused (bad certificate, impostor): observable for tests and `network`. */
  refused = 0

  constructor (private readonly init: MembershipInit) {
    this.certificate = init.certificate
    this.intervalMs = init.intervalMs ?? 2000
    this.keepAliveMs = init.keepAliveMs ?? this.intervalMs * 10
    this.infoMs = init.infoMs ?? this.keepAliveMs / 2
    this.expireMs = init.expireMs ?? Math.max(10_000, this.keepAliveMs * 2 + 1000)
    this.disconnectedMs = init.disconnectedMs ?? Math.min(this.expireMs, 10_000)
    this.confirmTicks = Math.max(1, Math.round((init.confirmMs ?? 300_000) / this.intervalMs))
    this.probeTimeoutMs = init.probeTimeoutMs ?? 10_000
    this.replicas = init.replicas ?? DEFAULT_REPLICAS
    this.placementCache = new Placement([], this.replicas)
    if (this.isIndexPeer) this.upsert(this.selfRecord())
    this.placementCache = new Placement(this.indexPeerIds(), this.replicas)
  }

  get self (): string { return this.init.host.peerId }
  get publisherId (): string { return this.init.publisher.toString() }

  /** The publisher and admitted mirrors hold index data; clients and unadmitted mirrors do not. */
  get isIndexPeer (): boolean {
    if (this.init.host.role === 'publisher') return this.self === this.publisherId
    return this.init.host.role === 'mirror' && this.certificate !== undefined
  }

  get admitted (): MirrorCertificate | undefined { return this.certificate }

  placement (): Placement { return this.placementCache }

  view (): MemberRecord[] { return [...this.members.values()].sort((a, b) => a.peer.localeCompare(b.peer)) }

  onChange (listener: Listener): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  async start (): Promise<void> {
    const { libp2p } = this.init.host
    const pubsub = libp2p.services.pubsub
    pubsub.subscribe(MEMBERS_TOPIC)
    pubsub.addEventListener('message', (evt) => {
      const msg = evt.detail
      if (msg.topic !== MEMBERS_TOPIC || msg.type !== 'signed') return
      try {
        const record = JSON.parse(new TextDecoder().decode(msg.data)) as unknown
        this.accept(record, msg.from.toString())
      } catch (err) {
        this.refused++
        this.init.log?.(`membership: refused an announcement from ${msg.from.toString()}: ${(err as Error).message}`)
      }
    })
    // A member whose connections all closed (it stopped, crashed, or the link broke) and that is not heard from within
    // disconnectedMs is probed then, not after expireMs of silence: a dead one is refused at once and leaves; a live one is
    // dialled again and stays; one that restarts within disconnectedMs announces itself and never leaves.
    libp2p.addEventListener('peer:disconnect', this.onDisconnect)
    await serveRpc(libp2p, MEMBERS_PROTOCOL, async () => ({ header: { members: this.view().map(({ lastSeen: _, ...r }) => r) } }))
    this.timer = setInterval(() => { void this.tick() }, this.intervalMs)
    this.timer.unref()
    await this.pull()
    await this.announce(true)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => { this.suspect(evt.detail.toString()) }

  /**
   * A member this peer lost (its connections closed, or a read could not
   * reach it) is probed disconnectedMs later unless it is heard from and
   * connected again by then.
   */
  suspect (peer: string): void {
    if (!this.stopped && peer !== this.self && this.members.has(peer) && !this.lost.has(peer)) this.lost.set(peer, Date.now())
  }

  stop (): void {
    this.init.host.libp2p.removeEventListener('peer:disconnect', this.onDisconnect)
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  /** Becomes an index peer with this certificate (after admission) and says so at once. */
  async admit (certificate: MirrorCertificate): Promise<void> {
    verifyCertificate(certificate, this.init.publisher, this.self)
    this.certificate = certificate
    this.upsert(this.selfRecord())
    this.recompute()
    await this.announce(true)
  }

  /**
   * Confirms the view with a kad-dht lookup: the peers closest to `key` on
   * the DHT that the view does not know are asked for their membership
   * (a view goes stale when announcements were missed). Returns the peers
   * the lookup found. Never throws: a failed lookup confirms nothing.
   */
  async confirm (key: Uint8Array, signal?: AbortSignal): Promise<string[]> {
    const found: string[] = []
    try {
      for await (const ev of this.init.host.libp2p.services.dht.getClosestPeers(key, { signal: guardSignal(signal ?? AbortSignal.timeout(5000)) })) {
        if (ev.name === 'FINAL_PEER') found.push(ev.peer.id.toString())
      }
    } catch {
      // A lookup cut short still tells what it found.
    }
    const unknown = found.filter((p) => p !== this.self && !this.members.has(p))
    if (unknown.length > 0) await this.pull(signal, unknown)
    this.confirmed++
    return found
  }

  /** kad-dht lookups run to confirm the view (observable). */
  confirmed = 0
  /** Probes of silent members, and those that failed (the member left the view). Observable. */
  probes = 0
  probesFailed = 0

  /** Asks peers (default: the connected ones) for their view (a peer that just started knows nobody yet). */
  async pull (signal?: AbortSignal, from?: string[]): Promise<void> {
    const { libp2p } = this.init.host
    const peers = from ?? libp2p.getPeers().map(String)
    await Promise.all(peers.map(async (peer) => {
      try {
        const res = await callRpc(libp2p, peer, MEMBERS_PROTOCOL, {}, [], { signal, timeoutMs: 5000 })
        const members = Array.isArray(res.header.members) ? res.header.members as unknown[] : []
        for (const m of members) {
          try { this.accept(m, undefined, peer) } catch { this.refused++ }
        }
      } catch {
        // A peer without the protocol (or gone) has nothing to tell.
      }
    }))
  }

  private selfRecord (): MemberRecord {
    const role = this.init.host.role === 'publisher' ? 'publisher' : 'mirror'
    const r: MemberRecord = { peer: this.self, role, addrs: this.init.host.multiaddrs(), lastSeen: Date.now() }
    if (this.certificate !== undefined) r.certificate = this.certificate
    return r
  }

  /** Announces this peer's record when it changed or keepAliveMs has passed (`force`: now). */
  async announce (force = false): Promise<void> {
    if (!this.isIndexPeer) return
    const record: Omit<MemberRecord, 'lastSeen'> & { lastSeen?: number } = this.selfRecord()
    delete record.lastSeen
    try { record.held = await this.init.held?.() } catch { /* a closing store: announce without it */ }
    const repair = this.init.repair?.()
    if (repair !== undefined) record.repair = repair
    const seq = this.init.catalogSeq?.()
    if (seq !== undefined) record.catalogSeq = seq
    this.upsert({ ...record, lastSeen: Date.now() })
    const json = JSON.stringify(record)
    const { held: _h, repair: _r, ...rest } = record
    const essential = JSON.stringify(rest)
    const since = performance.now() - this.announced.at
    // (half a period early rather than a period late: ticks do not fall exactly on the bounds)
    const due = force || essential !== this.announced.essential || since >= this.keepAliveMs - this.intervalMs / 2 ||
      (json !== this.announced.json && since >= this.infoMs - this.intervalMs / 2)
    if (!due) return
    try {
      const { recipients } = await this.init.host.libp2p.services.pubsub.publish(MEMBERS_TOPIC, new TextEncoder().encode(json))
      // Reached nobody (no subscriber yet): the next period tries again.
      if (recipients.length > 0) this.announced = { json, essential, at: performance.now() }
    } catch {
      // The next period tries again.
    }
  }

  /**
   * Checks and records an announcement. `from` is the gossipsub origin
   * (authenticated); pulled records have none and are trusted only for what
   * the certificate proves (a mirror) or the id itself (the publisher).
   */
  private accept (value: unknown, from: string | undefined, via?: string): void {
    if (value == null || typeof value !== 'object') throw new Error('announcement is not an object')
    const r = value as Partial<MemberRecord>
    if (typeof r.peer !== 'string') throw new Error('announcement without a peer id')
    if (from !== undefined && from !== r.peer) throw new Error(`announcement for ${r.peer} sent by ${from}`)
    if (r.peer === this.self) return
    const addrs = Array.isArray(r.addrs) ? r.addrs.filter((a): a is string => typeof a === 'string').slice(0, 16) : []
    let record: MemberRecord
    if (r.role === 'publisher') {
      if (r.peer !== this.publisherId) throw new Error(`${r.peer} claims to be the publisher`)
      record = { peer: r.peer, role: 'publisher', addrs, lastSeen: Date.now() }
    } else if (r.role === 'mirror') {
      const certificate = this.verified(r.certificate, r.peer)
      record = { peer: r.peer, role: 'mirror', addrs, certificate, lastSeen: Date.now() }
    } else {
      throw new Error(`unknown role '${String(r.role)}'`)
    }
    if (r.held != null && typeof r.held === 'object') record.held = r.held
    if (r.repair != null && typeof r.repair === 'object') record.repair = r.repair
    if (typeof r.catalogSeq === 'number' && Number.isInteger(r.catalogSeq)) {
      record.catalogSeq = r.catalogSeq
      if (r.catalogSeq > (this.init.catalogSeq?.() ?? Infinity)) this.init.onNewerCatalog?.(record.peer, r.catalogSeq)
    }
    const known = this.members.has(record.peer)
    // Pulled records are second-hand: they must not keep alive a member that stopped announcing (but a peer's own record is first-hand).
    if (from === undefined && known && via !== record.peer) return
    this.upsert(record)
    // The peer store is written (LevelDB) only when a member's addresses change, not on every announcement of every member.
    const addrKey = addrs.join(' ')
    if (addrs.length > 0 && this.mergedAddrs.get(record.peer) !== addrKey) {
      this.mergedAddrs.set(record.peer, addrKey)
      void this.init.host.libp2p.peerStore.merge(peerIdFromString(record.peer), { multiaddrs: addrs.map((a) => multiaddr(a)) }).catch(() => { this.mergedAddrs.delete(record.peer) })
    }
    if (!known) this.recompute()
  }

  /** Certificates verified, by mirror: every announcement carries the same one (its Ed25519 check was ~1% of every peer's time in the profiles of R1 publishes). */
  private readonly certificates = new Map<string, { json: string, certificate: MirrorCertificate }>()

  private verified (certificate: unknown, peer: string): MirrorCertificate {
    const json = JSON.stringify(certificate)
    const known = this.certificates.get(peer)
    if (known !== undefined && known.json === json && Date.parse(known.certificate.expires) > Date.now()) return known.certificate
    const checked = verifyCertificate(certificate, this.init.publisher, peer)
    if (this.certificates.size >= 1024) this.certificates.clear()
    this.certificates.set(peer, { json, certificate: checked })
    return checked
  }

  private upsert (record: MemberRecord): void {
    this.members.set(record.peer, record)
  }

  private ticks = 0

  private isConnected (peer: string): boolean {
    try { return this.init.host.libp2p.getConnections(peerIdFromString(peer)).length > 0 } catch { return false }
  }

  private async tick (): Promise<void> {
    // Every confirmMs, a kad-dht lookup of a random key confirms the view.
    if (++this.ticks % this.confirmTicks === 0) void this.confirm(randomBytes(32))
    const now = Date.now()
    let changed = false
    for (const [peer, m] of this.members) {
      if (peer === this.self) continue
      if (m.certificate !== undefined && Date.parse(m.certificate.expires) <= now) { this.forget(peer); changed = true; continue }
      if (this.probing.has(peer)) continue
      const gone = this.lost.get(peer)
      // Heard from since is not enough: a message it sent just before it went may arrive late.
      if (gone !== undefined && m.lastSeen > gone && this.isConnected(peer)) this.lost.delete(peer)
      else if (gone !== undefined && gone < now - this.disconnectedMs) { this.lost.delete(peer); void this.probe(peer, 'lost') }
      else if (m.lastSeen < now - this.expireMs) void this.probe(peer, 'silent')
    }
    if (changed) this.recompute()
    await this.announce()
  }

  /**
   * A member silent for expireMs is asked for its own record: if it answers
   * (however late, within probeTimeoutMs) it is alive and stays; it leaves
   * when the call fails (refused, timed out) or its record does not hold
   * (it is no longer an index peer, its certificate is invalid) and nothing
   * was heard from it meanwhile. Never throws.
   */
  private async probe (peer: string, why: 'silent' | 'lost'): Promise<void> {
    this.probing.add(peer)
    this.probes++
    const started = Date.now()
    let alive = false
    try {
      const res = await callRpc(this.init.host.libp2p, peer, MEMBERS_PROTOCOL, {}, [], { timeoutMs: this.probeTimeoutMs })
      const members = Array.isArray(res.header.members) ? res.header.members as unknown[] : []
      const own = members.find((m) => m != null && typeof m === 'object' && (m as { peer?: unknown }).peer === peer)
      if (own !== undefined) {
        // First-hand (via the peer itself): refreshes lastSeen. A member evicted meanwhile stays out.
        if (!this.stopped && this.members.has(peer)) this.accept(own, undefined, peer)
        alive = true
      }
    } catch (err) {
      this.init.log?.(`membership: ${peer} ${why === 'silent' ? `silent for ${this.expireMs} ms` : 'lost (its connections closed, or a read could not reach it)'} and its probe failed: ${(err as Error).message}`)
    } finally {
      this.probing.delete(peer)
    }
    if (alive || this.stopped) return
    const m = this.members.get(peer)
    // An announcement that arrived during the probe keeps it.
    if (m === undefined || m.lastSeen >= started) return
    this.probesFailed++
    this.forget(peer)
    this.recompute()
  }

  /** Drops a member and what was merged of it into the peer store (a returning member's addresses are merged again). */
  private forget (peer: string): boolean {
    this.mergedAddrs.delete(peer)
    this.lost.delete(peer)
    return this.members.delete(peer)
  }

  private indexPeerIds (): string[] { return [...this.members.keys()] }

  private recompute (): void {
    const previous = this.placementCache
    const next = new Placement(this.indexPeerIds(), this.replicas)
    const before = previous.peers.join(',')
    this.placementCache = next
    if ([...next.peers].join(',') === before) return
    for (const l of this.listeners) {
      try { l(next, previous) } catch (err) { this.init.log?.(`membership listener failed: ${(err as Error).message}`) }
    }
  }

  /** Forgets a member at once (it was seen gone: refused connections on every call). */
  evict (peer: string): void {
    if (peer === this.self || !this.forget(peer)) return
    this.recompute()
  }
}
