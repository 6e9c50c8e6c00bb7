/**
 * Churn repair: when index peers join or leave, keys have new closest
 * sets. After the view settles, each index peer walks what it holds and,
 * for every key whose owner set gained peers, sends the key to them when
 * it is the nearest surviving holder (so one peer, not r, pushes each
 * key). r copies exist again without a republish. A pass whose view has
 * the same peers as the one the keys were placed for (a member left and
 * came back) walks nothing. Passes are observable (RepairState) and run
 * one at a time in the background.
 *
 * The view the keys are placed for is kept in the shard store, so a peer
 * that restarts starts from the view it stopped with, not from the few
 * peers it knows a moment after its start. Its members not seen since the
 * start are waited for during `restartGraceMs`: when every peer of a network
 * restarts, each one's view fills over seconds, and a pass on a partial
 * view re-sent every key whose owners were missing from it (a restart of 9
 * index peers holding R1 kept both cores busy for ~3 minutes).
 */
import type { PeerHost } from './host.ts'
import type { Membership, RepairState } from './membership.ts'
import { Placement } from './placement.ts'
import { DOCS_PROTOCOL, POSTINGS_PROTOCOL, placementKey } from './protocols.ts'
import { encodeEntries } from './write-codec.ts'
import { callRpc } from './rpc.ts'
import type { ShardEntry, ShardStore } from './shard-store.ts'

export interface RepairInit {
  host: PeerHost
  membership: Membership
  shard: ShardStore
  /** Quiet time after the last view change before a pass starts. Default 3000 ms. */
  settleMs?: number
  /** Entries per replicate request. Default 2000. */
  batchEntries?: number
  /** After a start, how long members of the stored view that are not back are waited for before their keys are re-sent. Default 30,000 ms. */
  restartGraceMs?: number
  log?: (message: string) => void
}

const keyOf = placementKey

export class Repair {
  private base: Placement
  private timer: NodeJS.Timeout | undefined
  private pass: Promise<void> | undefined
  private again = false
  private stopped = false
  private readonly startedAt = performance.now()
  /** Keys are held but the view they are placed for is unknown: the first pass after the grace takes the view then. */
  private adopt = false
  /** Peers in this peer's view at some point since it started: one of them missing now has left, it is not restarting. */
  private readonly seen = new Set<string>()
  readonly state: RepairState = { running: false, checked: 0, sent: 0 }
  /** Passes that found the view back at its base and walked nothing (observable). */
  noop = 0
  private readonly unsubscribe: () => void

  /** Nothing held and no view stored (a first start): the view once membership has pulled it is the base (rebase). */
  private readonly fresh: boolean

  /**
   * The base is the view the held keys are placed for: the stored one (the
   * view before a restart), read here so that no pass, however early, runs
   * against the few peers known right after the start. Keys held with no
   * view stored (a store from an edos that did not keep it) are taken to be
   * placed for the view at the end of the grace.
   */
  constructor (private readonly init: RepairInit) {
    const stored = this.storedView()
    this.fresh = stored === undefined && init.shard.empty
    this.base = stored ?? init.membership.placement()
    if (stored === undefined && !init.shard.empty) {
      this.adopt = true
      this.schedule(this.graceMs)
    }
    this.sawView()
    this.unsubscribe = init.membership.onChange(() => { this.sawView(); this.schedule() })
  }

  private get graceMs (): number { return this.init.restartGraceMs ?? 30_000 }

  private storedView (): Placement | undefined {
    const v = this.init.shard.placedFor()
    if (v === undefined) return undefined
    try {
      return new Placement(v.peers, v.replicas)
    } catch (err) {
      this.init.log?.(`repair: the stored view is unusable: ${(err as Error).message}`)
      return undefined
    }
  }

  /** Once membership has pulled the view at start: an empty peer with no view stored takes that one (a first start). */
  rebase (): void {
    if (this.fresh) void this.keep(this.init.membership.placement())
  }

  private sawView (): void { for (const p of this.init.membership.placement().peers) this.seen.add(p) }

  private schedule (delayMs = this.init.settleMs ?? 3000): void {
    if (this.stopped) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = setTimeout(() => { this.timer = undefined; this.start() }, delayMs)
    this.timer.unref()
  }

  /** The held keys are placed for `p` from now on, also after a restart. */
  private async keep (p: Placement): Promise<void> {
    this.base = p
    try {
      await this.init.shard.setPlacedFor({ peers: [...p.peers], replicas: p.replicas })
    } catch (err) {
      // Only a restart's first pass pays for it (it walks what it holds against the older view).
      this.init.log?.(`repair: could not store the view: ${(err as Error).message}`)
    }
  }

  private start (): void {
    if (this.pass !== undefined) { this.again = true; return }
    this.pass = this.runPass().finally(() => {
      this.pass = undefined
      if (this.again && !this.stopped) { this.again = false; this.start() }
    })
  }

  /** Waits for a scheduled or running pass (tests, shutdown). */
  async idle (): Promise<void> {
    while (this.pass !== undefined || this.timer !== undefined) {
      if (this.pass !== undefined) await this.pass
      else await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  stop (): void {
    this.stopped = true
    this.unsubscribe()
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private async runPass (): Promise<void> {
    const { membership, shard, host } = this.init
    if (!membership.isIndexPeer) return
    const prev = this.base
    const next = membership.placement()
    const waitMs = this.startedAt + this.graceMs - performance.now()
    if (waitMs > 0 && (this.adopt || prev.peers.some((p) => !next.has(p) && !this.seen.has(p)))) {
      // Shortly after a start, members of the view before it not seen since may be restarting too (see the file's comment).
      this.schedule(waitMs)
      return
    }
    // The view came back to the peers the held keys are placed for (a member left and returned within the settle time), or
    // is taken as the one they are placed for (adopt): no key has a new owner. The pass still shows as done, having checked
    // and sent nothing.
    if (this.adopt || samePlacement(prev, next)) {
      if (this.adopt) this.init.log?.(`repair: no view stored with the keys held here; taken to be placed for the view now (${next.size} index peers)`)
      this.adopt = false
      await this.keep(next)
      this.noop++
      Object.assign(this.state, { checked: 0, sent: 0, lastRun: new Date().toISOString() })
      delete this.state.error
      return
    }
    const self = host.peerId
    this.state.running = true
    this.state.checked = 0
    this.state.sent = 0
    delete this.state.error
    const batches = new Map<string, ShardEntry[]>()
    const size = this.init.batchEntries ?? 2000
    const flush = async (peer: string): Promise<void> => {
      const entries = batches.get(peer)
      if (entries === undefined || entries.length === 0) return
      batches.set(peer, [])
      const { header, parts } = encodeEntries(await shard.exportEncoded(entries))
      const protocol = entries[0].kind === 'doc' || entries[0].kind === 'id' ? DOCS_PROTOCOL : POSTINGS_PROTOCOL
      await callRpc(host.libp2p, peer, protocol, { ...header, op: 'replicate' }, parts, { timeoutMs: 60_000 })
      this.state.sent += entries.length
    }
    try {
      for await (const entry of shard.entries()) {
        if (this.stopped) return
        this.state.checked++
        const key = keyOf(entry)
        const owners = next.owners(key)
        const before = new Set(prev.owners(key))
        const gainedPeers = owners.filter((p) => !before.has(p) && p !== self)
        if (gainedPeers.length === 0) continue
        // The nearest holder that survives pushes; a holder outside the old set (a leftover) pushes only if no old holder survives.
        const survivors = prev.owners(key).filter((p) => next.has(p))
        const pusher = survivors[0] ?? (owners.includes(self) ? self : undefined)
        if (pusher !== self) continue
        for (const peer of gainedPeers) {
          let b = batches.get(peer)
          if (b === undefined) { b = []; batches.set(peer, b) }
          // Posting keys and document keys go to different protocols: keep batches homogeneous.
          const isDoc = entry.kind === 'doc' || entry.kind === 'id'
          if (b.length > 0 && ((b[0].kind === 'doc' || b[0].kind === 'id') !== isDoc)) await flush(peer)
          batches.get(peer)?.push(entry)
          if ((batches.get(peer)?.length ?? 0) >= size) await flush(peer)
        }
      }
      for (const peer of batches.keys()) await flush(peer)
      await this.keep(next)
    } catch (err) {
      this.state.error = (err as Error).message
      this.init.log?.(`repair: pass failed (retried at the next view change): ${(err as Error).message}`)
      this.schedule()
    } finally {
      this.state.running = false
      this.state.lastRun = new Date().toISOString()
    }
  }
}

function samePlacement (a: Placement, b: Placement): boolean {
  return a.replicas === b.replicas && a.peers.length === b.peers.length && a.peers.every((p, i) => p === b.peers[i])
}
