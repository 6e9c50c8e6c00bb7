/**
 * A peer's side of one flash crowd (the paper's step 6): once the clusters
 * are announced, it joins exactly the cluster torrents that cover its wish
 * list, selects only its own files in each, downloads them in parallel,
 * verifies every file against its unit's sha256, and keeps seeding (the
 * content node provides each unit as it lands). What BitTorrent moved
 * beyond the wish list (whole pieces at the edges of its files) is
 * measured from the pieces it ends up holding.
 */
import { rewrap, type TorrentMeta } from '../torrent-file.ts'
import type { ContentNode } from '../node.ts'
import type { UnitContent } from '../store.ts'
import type { ContentOffer } from '../../dht/providers.ts'
import { ContentUnavailableError } from '../errors.ts'
import { FlashCrowdError, type AnnouncedCluster, type ClusterStatus, type FlashCrowdStatus } from './types.ts'

export interface ParticipantInit {
  release: string
  content: Pick<ContentNode, 'fetchSet'>
  /** The wanted units (the wish list), by unit id. */
  wanted: ReadonlyMap<string, UnitContent>
  /** What the wish list left out because this peer holds it. */
  held: { units: number, bytes: number }
  /** Offers of a cluster torrent (its .torrent and where to reach seeders): the publisher first. */
  torrentOffers: (infoHash: string, signal: AbortSignal) => Promise<ContentOffer[]>
  /** Cluster torrents downloaded at once. Default 4. */
  parallel?: number
  /** Tries per cluster when a download stalls or no peer gives its torrent. Default 3. */
  tries?: number
  onStatus?: (status: FlashCrowdStatus) => void
  log?: (message: string) => void
}

interface Job { cluster: AnnouncedCluster, status: ClusterStatus, wanted: Array<UnitContent | undefined> }

export class FlashCrowdParticipant {
  private readonly status: FlashCrowdStatus
  private readonly controller = new AbortController()
  private started = false
  private uncoveredDone = 0

  constructor (private readonly init: ParticipantInit) {
    let bytes = 0
    for (const u of init.wanted.values()) bytes += u.size
    const now = new Date().toISOString()
    this.status = {
      release: init.release,
      side: 'peer',
      state: 'collecting',
      startedAt: now,
      updatedAt: now,
      wishLists: 1,
      requesters: [],
      clusters: [],
      uncovered: 0,
      wishList: { units: init.wanted.size, bytes, held: init.held.units, heldBytes: init.held.bytes },
      bytesDone: 0,
      bytesTotal: bytes,
      received: 0,
      wasteMeasured: 0,
      peers: 0,
      rate: 0
    }
  }

  current (): FlashCrowdStatus { return structuredClone(this.status) }

  private emit (): void {
    this.status.updatedAt = new Date().toISOString()
    this.init.onStatus?.(this.current())
  }

  /** Units of the wish list that none of these clusters covers. */
  uncovered (clusters: readonly AnnouncedCluster[]): string[] {
    const covered = new Set(clusters.flatMap((c) => c.units))
    return [...this.init.wanted.keys()].filter((u) => !covered.has(u))
  }

  /**
   * Downloads the covering clusters. Resolves when every selected file is
   * stored; rejects with the first failure (the others are stopped, their
   * verified pieces kept for a later try). Runs once.
   */
  async download (clusters: readonly AnnouncedCluster[]): Promise<FlashCrowdStatus> {
    if (this.started) throw new FlashCrowdError(`the flash crowd of ${this.init.release} is already being downloaded here`, 'ERR_FLASH_CROWD_EXISTS')
    this.started = true
    const jobs: Job[] = []
    for (const c of clusters) {
      const wanted = c.units.map((u) => this.init.wanted.get(u))
      const selected = wanted.filter((w) => w !== undefined)
      if (selected.length === 0) continue
      const bytesTotal = selected.reduce((s, w) => s + w.size, 0)
      jobs.push({ cluster: c, wanted, status: { id: c.id, infoHash: c.infoHash, units: c.units.length, bytes: c.bytes, pieceLength: c.pieceLength, requesters: 0, waste: 0, selected: selected.length, bytesDone: 0, bytesTotal, peers: 0, rate: 0, state: 'waiting', wasteMeasured: 0 } })
    }
    this.status.clusters = jobs.map((j) => j.status)
    this.status.uncovered = this.uncovered(clusters).length
    this.status.state = 'downloading'
    this.emit()
    const queue = [...jobs]
    const worker = async (): Promise<void> => {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
        if (this.controller.signal.aborted) return
        await this.fetchCluster(job)
      }
    }
    try {
      await Promise.all(Array.from({ length: Math.min(Math.max(1, this.init.parallel ?? 4), Math.max(1, jobs.length)) }, worker))
    } catch (err) {
      this.controller.abort()
      this.status.state = 'failed'
      this.status.error = (err as Error).message
      this.emit()
      throw err
    }
    this.emit()
    return this.current()
  }

  /** Marks the whole flash crowd done (after the uncovered units landed too). */
  complete (): void {
    this.status.state = 'completed'
    this.emit()
  }

  /**
   * One cluster, tried again (offers asked anew) when a try stalls or finds
   * no torrent: seeders come and go, and verified pieces stay on disk, so a
   * new try fetches only the rest.
   */
  private async fetchCluster (job: Job): Promise<void> {
    const tries = Math.max(1, this.init.tries ?? 3)
    for (let attempt = 1; ; attempt++) {
      try {
        await this.fetchClusterOnce(job)
        return
      } catch (err) {
        const retriable = err instanceof ContentUnavailableError || (err instanceof FlashCrowdError && err.code === 'ERR_FLASH_CROWD_TORRENT')
        if (!retriable || attempt >= tries || this.controller.signal.aborted) throw err
        this.init.log?.(`flash crowd ${this.init.release}: cluster ${job.cluster.id}: ${(err as Error).message}; trying again (${attempt + 1}/${tries})`)
        await new Promise((resolve) => setTimeout(resolve, 2000))
      }
    }
  }

  private async fetchClusterOnce (job: Job): Promise<void> {
    const { cluster, status } = job
    status.state = 'downloading'
    this.emit()
    try {
      const offers = await this.init.torrentOffers(cluster.infoHash, this.controller.signal)
      let meta: TorrentMeta | undefined
      for (const o of offers) {
        try {
          const m = rewrap(o.torrent, {})
          if (m.infoHash === cluster.infoHash && m.files.length === cluster.units.length) { meta = m; break }
        } catch {}
      }
      if (meta === undefined) throw new FlashCrowdError(`no peer gave the torrent ${cluster.infoHash} of cluster ${cluster.id}`, 'ERR_FLASH_CROWD_TORRENT')
      const trackers = offers.map((o) => o.tracker).filter((t): t is string => t !== undefined)
      const withTrackers = trackers.length === 0 ? meta : rewrap(meta.torrent, { announce: [...new Set([...meta.announce, ...trackers])] })
      const peers = [...new Set(offers.flatMap((o) => o.bittorrent))]
      let lastReceived = 0
      const r = await this.init.content.fetchSet(withTrackers, job.wanted, {
        peers,
        // The publisher super-seeds cluster torrents: it spreads the pieces, so the cheap order does.
        order: 'sequential',
        // Every peer of a cluster serves every other one: no tit-for-tat among cooperating peers.
        uploadSlots: 1000,
        signal: this.controller.signal,
        onProgress: (p) => {
          this.status.received += p.received - lastReceived
          lastReceived = p.received
          status.bytesDone = p.bytesDone
          status.peers = p.peers
          status.rate = p.rate
          this.totals()
          this.emit()
        }
      })
      this.status.received += r.received - lastReceived
      status.bytesDone = status.bytesTotal
      status.wasteMeasured = Math.max(0, r.pieceBytes - (status.bytesTotal ?? 0))
      status.state = 'done'
      status.rate = 0
      this.totals()
      this.emit()
    } catch (err) {
      status.state = 'failed'
      this.init.log?.(`flash crowd ${this.init.release}: cluster ${cluster.id}: ${(err as Error).message}`)
      throw err
    }
  }

  private totals (): void {
    let done = 0; let peers = 0; let rate = 0; let waste = 0
    for (const c of this.status.clusters) {
      done += c.bytesDone ?? 0
      if (c.state === 'downloading') { peers += c.peers ?? 0; rate += c.rate ?? 0 }
      waste += c.wasteMeasured ?? 0
    }
    this.status.bytesDone = done + this.uncoveredDone
    this.status.peers = peers
    this.status.rate = rate
    this.status.wasteMeasured = waste
  }

  /** Adds the bytes of units fetched one by one (uncovered) to the totals shown. */
  addUncovered (bytesDone: number): void {
    this.uncoveredDone += bytesDone
    this.totals()
    this.emit()
  }

  markFailed (message: string): void {
    this.status.state = 'failed'
    this.status.error = message
    this.emit()
  }

  stop (): void { this.controller.abort() }
}
