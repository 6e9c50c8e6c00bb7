/**
 * Flash crowds on a peer (the paper's six steps), wiring src/torrents/
 * flash-crowd to the release channel, the index and the content node:
 * - the publisher opens a window for a release (`start`), announces it on
 *   `releases`, takes wish lists from the wish-list protocol (`receive`),
 *   clusters them, seeds one torrent per cluster and announces them;
 * - any other peer computes its wish list (the release's units, narrowed
 *   to a pattern, minus the identical units it holds), sends it (`submit`,
 *   or on its own when the window opens and the peer joins flash crowds),
 *   and when the clusters are announced downloads the covering ones with
 *   per-file selection; units no cluster covers are fetched as a download.
 * Every change is a `flash-crowd` event on the bus (GraphQL subscription,
 * CLI, console).
 */
import type { PeerEvent, PeerRole, WishListRecord } from './types.ts'
import { PeerError } from './errors.ts'
import type { EventBus } from './events.ts'
import type { IndexView } from './index-view.ts'
import type { Querying } from './querying.ts'
import type { PeerState } from './state.ts'
import type { Channels } from './channels.ts'
import type { Downloads } from './downloads.ts'
import { isTerminal, unitContentOf } from './downloads.ts'
import { releaseUnits } from './records.ts'
import type { ContentNode, ContentOffer, UnitContent } from '../torrents/index.ts'
import {
  FlashCrowdCoordinator, FlashCrowdParticipant, WishListRefusedError, clusterTorrentName, computeWishList,
  type AnnouncedCluster, type FlashCrowdAnnouncement, type FlashCrowdSettings, type FlashCrowdStatus, type HeldUnit, type ReleaseUnitInfo, type SubmitResult
} from '../torrents/flash-crowd/index.ts'

/** What a networked non-publisher needs to take part. */
export interface FlashCrowdTransport {
  /** Sends this peer's signed wish list to the publisher. */
  sendWishList: (release: string, units: string[]) => Promise<SubmitResult>
  /** Offers of a cluster torrent, the publisher's first. */
  torrentOffers: (infoHash: string, signal: AbortSignal) => Promise<ContentOffer[]>
}

export interface FlashCrowdsInit {
  role: PeerRole
  bus: EventBus<PeerEvent>
  state: PeerState
  index: IndexView
  querying: Querying
  content: ContentNode
  downloads: Downloads
  channels: Channels
  transport?: FlashCrowdTransport
  /** Join every flash crowd the publisher opens, wanting the units this pattern selects ('' or '*' : the whole release). Default: join none on its own. */
  join?: string
  /** Cluster torrents downloaded at once. Default 4. */
  parallel?: number
  log?: (message: string) => void
}

const BATCH = 256

export class FlashCrowds {
  private readonly coordinators = new Map<string, FlashCrowdCoordinator>()
  private readonly participants = new Map<string, FlashCrowdParticipant>()
  /** Announced clusters per release, from the `releases` channel. */
  private readonly clusters = new Map<string, AnnouncedCluster[]>()
  private readonly waiting = new Map<string, Array<(c: AnnouncedCluster[]) => void>>()
  private readonly controller = new AbortController()

  constructor (private readonly init: FlashCrowdsInit) {}

  /**
   * Reads past announcements from the log, then follows new ones. After a
   * restart the work goes on in the background: the publisher seeds its
   * announced cluster torrents again (deterministic: the same infohashes),
   * and a peer whose wish list was sent but not completed takes part again
   * (verified pieces on disk are not fetched twice).
   */
  async start (): Promise<void> {
    for await (const n of this.init.state.readLog('releases', 0)) if (n.flashCrowd !== undefined) this.learn(n.flashCrowd, false)
    const live = this.init.bus.subscribe({ signal: this.controller.signal, filter: (e) => e.type === 'notification' && e.notification.flashCrowd !== undefined })
    void (async () => {
      for await (const e of live) if (e.type === 'notification' && e.notification.flashCrowd !== undefined) this.learn(e.notification.flashCrowd, true)
    })().catch((err: Error) => this.init.log?.(`flash crowd announcements: ${err.message}`))
    void this.resume().catch((err: Error) => this.init.log?.(`resuming flash crowds: ${err.message}`))
  }

  private async resume (): Promise<void> {
    if (this.init.role === 'publisher') {
      for (const [release, clusters] of this.clusters) {
        for (const [i, c] of clusters.entries()) {
          if (this.controller.signal.aborted) return
          const t = await this.init.content.seedSet(clusterTorrentName(release, i), c.units, { pieceLength: c.pieceLength, webSeed: false }).catch((err: Error) => { this.init.log?.(`re-seeding cluster ${c.id} of ${release}: ${err.message}`) })
          if (t !== undefined && t.infoHash !== c.infoHash) this.init.log?.(`cluster ${c.id} of ${release} rebuilt as ${t.infoHash}, announced as ${c.infoHash}: its content changed`)
        }
      }
      return
    }
    if (this.init.transport === undefined) return
    for await (const record of this.init.state.wishLists.values()) {
      if (!['SENT', 'LATE', 'DOWNLOADING'].includes(record.state) || this.controller.signal.aborted) continue
      const units = await this.releaseInfo(record.release, new Set(record.units))
      const wanted = new Map<string, UnitContent>()
      for (const u of units) if (u.content !== undefined && !(await this.init.content.store.has(u.content.sha256))) wanted.set(u.id, u.content)
      this.join(record, wanted)
      this.init.log?.(`flash crowd ${record.release}: resuming (${wanted.size} of ${record.units.length} units still to fetch)`)
    }
  }

  private learn (a: FlashCrowdAnnouncement, live: boolean): void {
    if (a.phase === 'clusters' && a.clusters !== undefined) {
      this.clusters.set(a.release, a.clusters)
      for (const resolve of this.waiting.get(a.release) ?? []) resolve(a.clusters)
      this.waiting.delete(a.release)
    } else if (a.phase === 'open' && live) {
      this.clusters.delete(a.release)
      const join = this.init.join
      if (join !== undefined && this.init.role !== 'publisher' && this.init.transport !== undefined) {
        void this.submit(a.release, join === '' || join === '*' ? undefined : join).catch((err: Error) => this.init.log?.(`joining the flash crowd of ${a.release}: ${err.message}`))
      }
    }
  }

  private emit (status: FlashCrowdStatus): void { this.init.bus.publish({ type: 'flash-crowd', status }) }

  /** The publisher opens a collection window for a release. */
  async open (release: string, settings: FlashCrowdSettings = {}): Promise<FlashCrowdStatus> {
    if (this.init.role !== 'publisher') throw new PeerError(`only the publisher runs a flash crowd; this peer is a ${this.init.role}`, 'FORBIDDEN')
    const existing = this.coordinators.get(release)
    if (existing !== undefined && ['collecting', 'clustering', 'seeding'].includes(existing.current().state)) throw new PeerError(`a flash crowd of ${release} is already running`, 'CONFLICT')
    const units = await this.releaseInfo(release)
    const seedable = new Set<string>()
    for (const u of units) if (u.content !== undefined && await this.init.content.store.has(u.content.sha256)) seedable.add(u.id)
    existing?.stop()
    const c = new FlashCrowdCoordinator({
      release,
      units: units.map((u) => ({ id: u.id, bytes: u.bytes })),
      seedable,
      settings,
      seed: async (name, ids, pieceLength, wants) => await this.init.content.seedSet(name, ids, { pieceLength, webSeed: false, superSeed: wants }),
      announce: async (a) => { await this.init.channels.announceFlashCrowd(a) },
      uploaded: (ih) => this.init.content.torrentStats(ih)?.uploaded ?? 0,
      downloaders: (ih) => this.init.content.setDownloaders(ih),
      onStatus: (s) => { this.emit(s) },
      log: this.init.log
    })
    this.coordinators.set(release, c)
    await c.open()
    return c.current()
  }

  /** Closes a running window now. */
  closeWindow (release: string): FlashCrowdStatus {
    const c = this.coordinators.get(release)
    if (c === undefined) throw new PeerError(`no flash crowd of ${release} on this peer`, 'NOT_FOUND')
    c.close()
    return c.current()
  }

  /** The publisher's sink for verified wish lists (the wish-list protocol). */
  receive (peer: string, release: string, units: string[]): SubmitResult {
    const c = this.coordinators.get(release)
    if (c === undefined) throw new WishListRefusedError(`no flash crowd of ${release} is open on the publisher`)
    return c.submit(peer, units)
  }

  status (release: string): FlashCrowdStatus | undefined {
    return this.coordinators.get(release)?.current() ?? this.participants.get(release)?.current()
  }

  list (): FlashCrowdStatus[] {
    return [...this.coordinators.values(), ...this.participants.values()].map((x) => x.current())
  }

  /** Status now, then every change, until the signal aborts. */
  async * follow (release: string, signal: AbortSignal): AsyncGenerator<FlashCrowdStatus> {
    const live = this.init.bus.subscribe({ signal, filter: (e) => e.type === 'flash-crowd' && e.status.release === release })
    try {
      const now = this.status(release)
      if (now !== undefined) yield now
      for await (const e of live) if (e.type === 'flash-crowd') yield e.status
    } finally {
      live.close()
    }
  }

  /** Every unit of a release with what its metadata says of its content (undefined without a sha256). */
  private async releaseInfo (release: string, only?: Set<string>): Promise<Array<{ id: string, name: string, version: string, arch?: string, bytes: number, content?: UnitContent }>> {
    const r = await this.init.querying.release(release)
    if (r === undefined) throw new PeerError(`no release named '${release}'`, 'NOT_FOUND')
    const seen = new Set<string>()
    const units = releaseUnits(r).filter((u) => !seen.has(u.id) && seen.add(u.id) && (only === undefined || only.has(u.id)))
    const out = []
    const store = this.init.index.store
    for (let i = 0; i < units.length; i += BATCH) {
      const batch = units.slice(i, i + BATCH)
      const docIds = await store.docIdsOf(batch.map((u) => u.id))
      const docs = await store.getDocuments(docIds.filter((d): d is number => d !== undefined))
      const byId = new Map(docs.filter((d) => d !== undefined).map((d) => [d.id, d]))
      for (const u of batch) {
        const doc = byId.get(u.id)
        let content: UnitContent | undefined
        try { content = doc === undefined ? undefined : unitContentOf(doc) } catch { content = undefined }
        out.push({ id: u.id, name: u.name, version: u.version, ...(u.arch !== undefined ? { arch: u.arch } : {}), bytes: content?.size ?? 0, ...(content !== undefined ? { content } : {}) })
      }
    }
    return out
  }

  /**
   * Computes this peer's wish list for a release (narrowed to `pattern`'s
   * units when given), records it and, on a networked peer, sends it to the
   * publisher and takes part in the flash crowd.
   */
  async submit (release: string, pattern?: string): Promise<WishListRecord> {
    const only = pattern === undefined ? undefined : new Set(await this.init.downloads.resolvePattern(pattern))
    const units = await this.releaseInfo(release, only)
    const infos: ReleaseUnitInfo[] = units.map((u) => ({ id: u.id, name: u.name, version: u.version, ...(u.arch !== undefined ? { arch: u.arch } : {}), bytes: u.bytes, ...(u.content !== undefined ? { checksum: `sha256:${u.content.sha256}` } : {}) }))
    const holdings: HeldUnit[] = []
    for (const u of units) {
      const s = await this.init.content.store.unit(u.id)
      if (s !== undefined && await this.init.content.store.has(s.sha256)) holdings.push({ name: u.name, version: u.version, ...(u.arch !== undefined ? { arch: u.arch } : {}), checksum: `sha256:${s.sha256}` })
    }
    const wish = computeWishList(infos, holdings)
    const contentOf = new Map(units.map((u) => [u.id, u.content]))
    const record: WishListRecord = {
      release,
      units: wish.wanted.map((u) => u.id),
      bytes: wish.wantedBytes,
      held: wish.held.length,
      heldBytes: wish.heldBytes,
      ...(pattern !== undefined ? { pattern } : {}),
      submittedAt: new Date().toISOString(),
      state: 'RECORDED'
    }
    const transport = this.init.transport
    if (transport === undefined || this.init.role === 'publisher') {
      await this.init.state.wishLists.put(release, record)
      return record
    }
    const wanted = new Map<string, UnitContent>()
    for (const u of wish.wanted) { const c = contentOf.get(u.id); if (c !== undefined) wanted.set(u.id, c) }
    const unverifiable = wish.wanted.length - wanted.size
    if (unverifiable > 0) this.init.log?.(`wish list for ${release}: ${unverifiable} units have no sha256 in their metadata and cannot be fetched`)
    let result: SubmitResult
    try {
      result = await transport.sendWishList(release, [...wanted.keys()])
    } catch (err) {
      // Most often no window is open for the release: the caller should wait for the publisher's announcement.
      throw new PeerError(`the publisher did not take the wish list for ${release}: ${(err as Error).message}`, 'UNAVAILABLE')
    }
    record.state = result.state === 'open' ? 'SENT' : 'LATE'
    await this.init.state.wishLists.put(release, record)
    this.join(record, wanted)
    return record
  }

  /** Starts (or restarts) this peer's part in a release's flash crowd. */
  private join (record: WishListRecord, wanted: Map<string, UnitContent>): void {
    const release = record.release
    this.participants.get(release)?.stop()
    const participant = new FlashCrowdParticipant({
      release,
      content: this.init.content,
      wanted,
      held: { units: record.held, bytes: record.heldBytes },
      torrentOffers: async (ih, signal) => await (this.init.transport?.torrentOffers(ih, signal) ?? []),
      parallel: this.init.parallel,
      onStatus: (s) => { this.emit(s) },
      log: this.init.log
    })
    this.participants.set(release, participant)
    void this.take(release, participant, record).catch((err: Error) => {
      participant.markFailed(err.message)
      this.init.log?.(`flash crowd ${release}: ${err.message}`)
    })
  }

  /** Waits for the clusters, downloads the covering ones, then fetches what no cluster covers. */
  private async take (release: string, participant: FlashCrowdParticipant, record: WishListRecord): Promise<void> {
    const clusters = this.clusters.get(release) ?? await new Promise<AnnouncedCluster[]>((resolve, reject) => {
      const list = this.waiting.get(release) ?? []
      list.push(resolve)
      this.waiting.set(release, list)
      this.controller.signal.addEventListener('abort', () => { reject(new PeerError('the peer is stopping', 'UNAVAILABLE')) }, { once: true })
    })
    const update = async (state: WishListRecord['state']): Promise<void> => { await this.init.state.wishLists.put(release, { ...record, state }) }
    await update('DOWNLOADING')
    try {
      await participant.download(clusters)
      const rest = participant.uncovered(clusters)
      if (rest.length > 0) {
        const d = await this.init.downloads.download({ units: rest })
        for await (const r of this.init.downloads.progress(d.id, this.controller.signal)) {
          if (!isTerminal(r)) continue
          if (r.state !== 'COMPLETED') throw new PeerError(`units no cluster covers: download ${r.state.toLowerCase()}: ${r.error ?? ''}`, 'UNAVAILABLE')
          participant.addUncovered(r.bytesDone)
          break
        }
      }
      participant.complete()
      await update('COMPLETED')
    } catch (err) {
      await update('FAILED')
      throw err
    }
  }

  stop (): void {
    this.controller.abort()
    for (const c of this.coordinators.values()) c.stop()
    for (const p of this.participants.values()) p.stop()
  }
}
