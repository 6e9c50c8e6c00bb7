/**
 * The publisher's side of one flash crowd (the paper's steps 4 and 5):
 * announce the window, collect wish lists, cluster them, seed one torrent
 * per cluster, announce the clusters, then keep counting what it uploads.
 * Peers that answer after the window are told which existing cluster
 * torrents cover their wish list (no recomputation).
 *
 * Only units whose content the publisher holds can be clustered: the rest
 * of a wish list is reported as uncovered, and those peers fetch it unit by
 * unit like any download.
 */
import { clusterWishLists, type ClusterInit, type ClusteringResult, type WishList } from './cluster.ts'
import { WishListCollector, WishListRefusedError, type SubmitResult } from './collector.ts'
import type { SetDownloader, SetWants } from '../node.ts'
import { FlashCrowdError, type AnnouncedCluster, type FlashCrowdAnnouncement, type FlashCrowdStatus } from './types.ts'

/** A unit of the release the publisher can seed: its size in bytes. */
export interface CoordinatedUnit { id: string, bytes: number }

export interface FlashCrowdSettings extends Pick<ClusterInit, 'maxTorrents' | 'wasteBudget' | 'allPairsUpTo'> {
  /** Collection window in ms. Default 30,000. */
  windowMs?: number
  /** Close early once these peers (ids), or this many peers, have answered. Default: wait for the window. */
  expectedPeers?: string[] | number
}

export interface CoordinatorInit {
  release: string
  /** Every unit of the release, with its size. */
  units: CoordinatedUnit[]
  /** Units whose content the publisher holds (only these can be clustered). */
  seedable: ReadonlySet<string>
  settings?: FlashCrowdSettings
  /**
   * Builds and seeds one cluster's multi-file torrent (units in file order,
   * with the clustering's piece length). `wants` tells who wants which
   * units (every wish list, late ones too), for super-seeding.
   */
  seed: (name: string, units: string[], pieceLength: number, wants: SetWants) => Promise<{ infoHash: string }>
  /** Sends the announcement on the `releases` channel. */
  announce: (announcement: FlashCrowdAnnouncement) => Promise<void>
  /** Bytes uploaded on a seeded torrent so far. */
  uploaded?: (infoHash: string) => number
  /** What each peer holds of what it wants in a seeded torrent, as the seed sees it (super-seeding). */
  downloaders?: (infoHash: string) => SetDownloader[] | undefined
  onStatus?: (status: FlashCrowdStatus) => void
  /** How often upload figures are refreshed once announced. Default 1,000 ms. */
  refreshMs?: number
  log?: (message: string) => void
}

/** The name (torrent folder) of a release's i-th cluster torrent: the same on every run, so a re-seed rebuilds the same infohash. */
export function clusterTorrentName (release: string, i: number): string {
  return `${release}-flash-crowd-${String(i + 1).padStart(3, '0')}`
}

export class FlashCrowdCoordinator {
  readonly release: string
  private readonly collector: WishListCollector
  private readonly unitBytes = new Map<string, number>()
  /** Every peer's latest wish list. */
  private readonly wishLists = new Map<string, ReadonlySet<string>>()
  /** Per peer, per cluster index: bytes of its wish list it holds there, as last seen. */
  private readonly heldIn = new Map<string, Map<number, number>>()
  private readonly wantedBytes = new Map<string, { list: ReadonlySet<string>, bytes: number }>()
  private readonly wants: SetWants = { peers: () => this.wishLists.keys(), units: (peer) => this.wishLists.get(peer) }
  private readonly status: FlashCrowdStatus
  private clustering?: ClusteringResult
  private announced: AnnouncedCluster[] = []
  private timer?: NodeJS.Timeout
  private stopped = false
  /** Resolves once the clusters are announced (or the run failed). */
  readonly done: Promise<void>

  constructor (private readonly init: CoordinatorInit) {
    this.release = init.release
    const s = init.settings ?? {}
    const windowMs = s.windowMs ?? 30_000
    if (!(windowMs > 0)) throw new FlashCrowdError(`the collection window must be positive, not ${windowMs} ms`, 'ERR_FLASH_CROWD_SETTINGS')
    for (const u of init.units) this.unitBytes.set(u.id, u.bytes)
    const now = new Date()
    this.status = {
      release: init.release,
      side: 'publisher',
      state: 'collecting',
      startedAt: now.toISOString(),
      updatedAt: now.toISOString(),
      closesAt: new Date(now.getTime() + windowMs).toISOString(),
      wishLists: 0,
      ...(s.expectedPeers !== undefined ? { expectedPeers: typeof s.expectedPeers === 'number' ? s.expectedPeers : s.expectedPeers.length } : {}),
      requesters: [],
      clusters: [],
      maxTorrents: s.maxTorrents ?? 16,
      uncovered: 0,
      bytesDone: 0,
      bytesTotal: 0,
      received: 0,
      wasteMeasured: 0,
      peers: 0,
      rate: 0,
      uploaded: 0
    }
    this.collector = new WishListCollector({ release: init.release, windowMs, expectedPeers: s.expectedPeers })
    this.done = this.run()
  }

  current (): FlashCrowdStatus { return structuredClone(this.status) }

  private emit (): void {
    this.status.updatedAt = new Date().toISOString()
    this.init.onStatus?.(this.current())
  }

  /** Opens the window: the announcement goes out before any wish list is taken. */
  async open (): Promise<void> {
    await this.init.announce({ phase: 'open', release: this.release, closesAt: this.status.closesAt })
    this.emit()
  }

  /** A peer's (verified) wish list. Throws WishListRefusedError for units the release does not have. */
  submit (peer: string, units: readonly string[]): SubmitResult {
    const unknown = units.find((u) => !this.unitBytes.has(u))
    if (unknown !== undefined) throw new WishListRefusedError(`wish list of ${peer} names '${unknown}', which is not a unit of ${this.release}`)
    const result = this.collector.submit(peer, units)
    this.wishLists.set(peer, new Set(units))
    const bytes = units.reduce((sum, u) => sum + (this.unitBytes.get(u) ?? 0), 0)
    const late = result.state === 'closed'
    const i = this.status.requesters.findIndex((r) => r.peer === peer)
    const entry = { peer, units: new Set(units).size, bytes, late }
    if (i >= 0) this.status.requesters[i] = entry; else this.status.requesters.push(entry)
    this.status.wishLists = this.collector.count
    this.emit()
    if (late && result.assignment !== undefined) {
      // Late peers join the existing torrents: they need the infohashes, which the assignment's cluster ids map to.
      const byId = new Map(this.announced.map((c) => [c.id, c]))
      result.assignment = { ...result.assignment, clusters: result.assignment.clusters.filter((c) => byId.has(c.id)) }
    }
    return result
  }

  /** Closes the window now (the publisher's "go"). */
  close (): void { this.collector.close() }

  /** The announced clusters (empty before). */
  clusters (): AnnouncedCluster[] { return this.announced }

  private async run (): Promise<void> {
    try {
      const lists = await this.collector.closed
      if (this.stopped) return
      this.status.state = 'clustering'
      this.emit()
      const seedable = this.init.seedable
      const units = this.init.units.filter((u) => seedable.has(u.id))
      let uncovered = 0
      const coverable: WishList[] = lists.map((w) => {
        const kept = w.units.filter((u) => seedable.has(u))
        uncovered += w.units.length - kept.length
        return { peer: w.peer, units: kept }
      })
      const s = this.init.settings ?? {}
      // Yield first: clustering is synchronous CPU work and the wish-list answers should go out before it.
      await new Promise((resolve) => setImmediate(resolve))
      const result = clusterWishLists(units, coverable, { maxTorrents: s.maxTorrents, wasteBudget: s.wasteBudget, allPairsUpTo: s.allPairsUpTo })
      this.clustering = result
      Object.assign(this.status, {
        state: 'seeding',
        uncovered,
        exactClusters: result.exactClusters,
        wantedBytes: result.wantedBytes,
        wasteBytes: result.wasteBytes,
        wastePercent: result.wastePercent,
        wasteWithoutSelection: result.wasteWithoutSelection,
        clusteringMs: Math.round(result.milliseconds),
        bytesTotal: result.clusters.reduce((sum, c) => sum + c.bytes, 0),
        clusters: result.clusters.map((c) => ({ id: c.id, units: c.units.length, bytes: c.bytes, pieceLength: c.pieceLength, requesters: c.requesters.length, waste: c.waste, uploaded: 0 }))
      })
      this.emit()
      this.init.log?.(`flash crowd ${this.release}: ${lists.length} wish lists, ${result.exactClusters} requester sets -> ${result.clusters.length} torrents, waste ${result.wastePercent.toFixed(2)}%`)
      const announced: AnnouncedCluster[] = []
      for (const [i, c] of result.clusters.entries()) {
        if (this.stopped) return
        const t = await this.init.seed(clusterTorrentName(this.release, i), c.units, c.pieceLength, this.wants)
        announced.push({ id: c.id, infoHash: t.infoHash, units: c.units, bytes: c.bytes, pieceLength: c.pieceLength })
        this.status.clusters[i].infoHash = t.infoHash
        this.status.bytesDone += c.bytes
        this.emit()
      }
      this.announced = announced
      this.collector.setClustering(result)
      await this.init.announce({ phase: 'clusters', release: this.release, clusters: announced })
      this.status.state = 'announced'
      this.emit()
      this.timer = setInterval(() => { this.refresh() }, this.init.refreshMs ?? 1000)
      this.timer.unref()
    } catch (err) {
      this.status.state = 'failed'
      this.status.error = (err as Error).message
      this.init.log?.(`flash crowd ${this.release} failed: ${(err as Error).message}`)
      this.emit()
    }
  }

  /** Upload figures of the cluster torrents: emitted when they changed. */
  refresh (): void {
    const get = this.init.uploaded
    if (get === undefined) return
    let changed = false
    let total = 0
    for (const [i, c] of this.status.clusters.entries()) {
      if (c.infoHash === undefined) continue
      const up = get(c.infoHash)
      if (up !== c.uploaded) { c.uploaded = up; changed = true }
      total += up
      for (const d of this.init.downloaders?.(c.infoHash) ?? []) {
        // Its pieces straddle unwanted files: scale what it holds of them to the bytes it wants in this torrent.
        const want = this.wantedIn(i, d.peer)
        // A torrent it has left keeps counting what it held there last.
        const perCluster = this.heldIn.get(d.peer) ?? new Map<number, number>()
        perCluster.set(i, Math.min(want, Math.round(want * d.heldBytes / Math.max(1, d.wantedBytes))))
        this.heldIn.set(d.peer, perCluster)
      }
    }
    this.status.uploaded = total
    for (const r of this.status.requesters) {
      const perCluster = this.heldIn.get(r.peer)
      if (perCluster === undefined) continue
      let bytes = 0
      for (const b of perCluster.values()) bytes += b
      if (bytes !== r.bytesDone) { r.bytesDone = bytes; changed = true }
    }
    if (changed) this.emit()
  }

  /** Bytes of the i-th cluster a peer's wish list wants (cached per wish list). */
  private wantedIn (i: number, peer: string): number {
    const list = this.wishLists.get(peer)
    const units = this.clustering?.clusters[i]?.units
    if (list === undefined || units === undefined) return 0
    const key = `${i}\n${peer}`
    const hit = this.wantedBytes.get(key)
    if (hit !== undefined && hit.list === list) return hit.bytes
    let bytes = 0
    for (const u of units) if (list.has(u)) bytes += this.unitBytes.get(u) ?? 0
    this.wantedBytes.set(key, { list, bytes })
    return bytes
  }

  stop (): void {
    this.stopped = true
    clearInterval(this.timer)
    this.collector.close()
  }
}
