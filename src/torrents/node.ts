/**
 * A peer's content node: its store, its BitTorrent client, its tracker and
 * web seed, and how it finds other holders. Fetching a unit:
 *   1. held already (same sha256, any unit)? then nothing moves;
 *   2. ask the discovery for offers (holders from DHT provider records and
 *      neighbours, each with the unit's torrent, BitTorrent address, web
 *      seed and tracker);
 *   3. download the deterministic torrent most holders agree on from all of
 *      them at once (peers dialled directly, trackers, web seeds);
 *   4. keep the file only when its sha256 matches the signed metadata, else
 *      discard it and try the next torrent; then seed it and write a
 *      provider record.
 * Seeding: files published or stored here are seeded on demand (an offer,
 * a .torrent request), downloads right after they finish; the seeding
 * policy (ratio, time) ends seeding of downloaded torrents only.
 */
import { createHash } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Server as TrackerServer } from 'bittorrent-tracker'
import { ContentStore, type StoredUnit, type UnitContent, type UnitStats } from './store.ts'
import { buildTorrent, magnetURI, rewrap, type TorrentMeta } from './torrent-file.ts'
import { TorrentClient, bittorrentPeerId, type FetchOutcome, type FetchSpec, type TransferProgress } from './client.ts'
import { handleContentHttp, type ContentHttpSource } from './http.ts'
import { peersByBittorrentId, wantedPieces, type SetDownloader, type SetWants } from './set-wants.ts'
import { ChecksumMismatchError, ContentInputError, ContentUnavailableError, DownloadCancelledError } from './errors.ts'

export type { SetDownloader, SetWants } from './set-wants.ts'

/** A holder's offer for some content: the contract of src/dht/providers.ts, which fills it over libp2p. */
export type { ContentOffer } from '../dht/providers.ts'
import type { ContentOffer } from '../dht/providers.ts'

/** Replica discovery: who holds what (provider records) and how to reach them. */
export interface ContentDiscovery {
  /** Records this peer as a holder of the content. */
  provide: (sha256: string) => Promise<void>
  /** Offers from other holders. */
  offers: (sha256: string, signal?: AbortSignal) => Promise<ContentOffer[]>
  /** Peer ids recorded as holders. */
  holders: (sha256: string, signal?: AbortSignal) => Promise<string[]>
}

/** When to stop seeding a downloaded torrent: whichever limit comes first. Default: never (seed while running). */
export interface SeedPolicy {
  /** Uploaded bytes / torrent size. */
  ratio?: number
  /** Seconds since the download completed. */
  seconds?: number
}

export interface ContentNodeInit {
  /** The content folder (DATA/content). */
  path: string
  /** Run a tracker on the peer's HTTP address (publishers and mirrors). Default false. */
  tracker?: boolean
  /** Serve the store over HTTP as a web seed. Default true. */
  webSeed?: boolean
  /** BitTorrent TCP port. Default 0 (any). */
  torrentPort?: number
  /** BitTorrent receive / send limits, bytes/s. Default: none. */
  downloadLimit?: number
  uploadLimit?: number
  /** Host other peers reach this one's BitTorrent port at. Default: the HTTP host, else 127.0.0.1. */
  announceHost?: string
  seeding?: SeedPolicy
  discovery?: ContentDiscovery
  /** Gives up on a unit when no byte arrives for this long. Default 60 s. */
  stallMs?: number
  /** This peer's identity (its libp2p peer id): its BitTorrent peer id derives from it (`bittorrentPeerId`). Default: a random one. */
  peerId?: string
  /** Statistics flush and seeding policy period. Default 2 s. */
  tickMs?: number
  log?: (message: string) => void
}

export interface UnitTorrent { infoHash: string, magnetURI: string, url?: string, name: string, length: number }

/** A set torrent as built: its piece length and file count besides what a unit's torrent says. */
export interface SetTorrent extends UnitTorrent { pieceLength: number, files: number }

export interface SeedSetOptions {
  /** Piece length (power of two). Default: `pieceLengthFor(total)`. */
  pieceLength?: number
  /**
   * List this peer's web seed in the torrent. Default true. A flash-crowd
   * cluster leaves it out: every downloader would otherwise pull from the
   * publisher's HTTP as fast as from the swarm, which is what it exists to avoid.
   */
  webSeed?: boolean
  /**
   * Super-seed it (src/torrents/super-seed.ts): offer each downloader
   * known here only the pieces of the units it wants, fresh pieces first;
   * 'all': every downloader wants the whole set (BEP 16). Downloaders
   * should take pieces in order (`fetchSet`'s `order: 'sequential'`).
   * Default: seed normally.
   */
  superSeed?: SetWants | 'all'
}

export interface FetchResult {
  unit: StoredUnit
  /** Bytes received over the network this time (0 when already held; less than the size after a resume). */
  received: number
  /** Offers used (holders' peer ids). */
  sources: string[]
}

/** Provider records written at once (`provideSoon`). */
const PROVIDES_IN_FLIGHT = 4

export class ContentNode {
  private httpBase: string | undefined
  private readonly tracker: TrackerServer | undefined
  private readonly trackers = new Set<string>()
  private readonly torrents = new Map<string, { meta: TorrentMeta, shas: string[], units: string[] }>()
  private readonly pendingUploads = new Map<string, number>()
  private readonly setWants = new Map<string, SetWants>()
  /** Provider records to write (sha256 -> a unit, for the log), and writers running. */
  private readonly toProvide = new Map<string, string>()
  private providing = 0
  private readonly timer: NodeJS.Timeout
  private ticking?: Promise<void>
  private stopped = false

  private constructor (readonly store: ContentStore, readonly client: TorrentClient, private readonly init: ContentNodeInit) {
    if (init.tracker === true) {
      this.tracker = new TrackerServer({ http: false, udp: false, ws: false, stats: false, interval: 30_000 })
      this.tracker.on('warning', () => {})
      this.tracker.on('error', (err: Error) => { init.log?.(`tracker: ${err.message}`) })
    }
    this.timer = setInterval(() => {
      // One tick at a time: a slow disk must not pile up writes.
      if (this.ticking !== undefined) return
      this.ticking = this.tick().catch((err: Error) => init.log?.(`content statistics: ${err.message}`)).finally(() => { this.ticking = undefined })
    }, init.tickMs ?? 2000)
    this.timer.unref()
  }

  static async start (init: ContentNodeInit): Promise<ContentNode> {
    const store = await ContentStore.open({ path: init.path })
    try {
      const client = await TorrentClient.start({ store, ...(init.peerId !== undefined ? { peerId: bittorrentPeerId(init.peerId) } : {}), torrentPort: init.torrentPort, downloadLimit: init.downloadLimit, uploadLimit: init.uploadLimit })
      return new ContentNode(store, client, init)
    } catch (err) {
      await store.close()
      throw err
    }
  }

  /** The peer's HTTP base URL (http://host:port), once its server listens: tracker and web seed URLs derive from it. */
  setHttpBase (base: string): void {
    this.httpBase = base.replace(/\/+$/, '')
    if (this.tracker !== undefined) this.trackers.add(`${this.httpBase}/announce`)
  }

  private get ownWebSeed (): string | undefined {
    return this.init.webSeed === false || this.httpBase === undefined ? undefined : `${this.httpBase}/content/`
  }

  /** Where this peer's BitTorrent port is reached (host:port). */
  get bittorrentAddress (): string {
    const host = this.init.announceHost ?? (this.httpBase !== undefined ? new URL(this.httpBase).hostname.replace(/^\[|\]$/g, '') : '127.0.0.1')
    return `${host}:${this.client.port}`
  }

  /** Web seed URLs for a torrent: BEP 19 (a single file's URL is the file itself; a multi-file torrent's is the folder). */
  private webSeedsFor (meta: Pick<TorrentMeta, 'files' | 'name'>, bases: Iterable<string>): string[] {
    const out = new Set<string>()
    for (const b of bases) out.add(meta.files.length === 1 && meta.files[0].name === meta.name ? `${b}${encodeURIComponent(meta.name)}` : b)
    return [...out]
  }

  private announceFor (): string[] { return [...this.trackers] }

  /** The deterministic single-file torrent of a stored unit (cached). */
  private async unitTorrent (u: StoredUnit): Promise<TorrentMeta> {
    const key = `unit:${u.sha256}:${u.name}`
    const cached = await this.store.getTorrent(key)
    const meta = cached !== undefined ? rewrap(cached, {}) : await buildTorrent([{ name: u.name, length: u.size, file: this.store.filePath(u.sha256) }])
    if (cached === undefined) {
      await this.store.putTorrent(key, meta.torrent)
      await this.store.putTorrent(`ih:${meta.infoHash}`, Buffer.from(u.unit))
    }
    this.torrents.set(meta.infoHash, { meta, shas: [u.sha256], units: [u.unit] })
    return meta
  }

  /** Seeds a stored unit's torrent (idempotent). */
  async seedUnit (u: StoredUnit): Promise<TorrentMeta> {
    const meta = await this.unitTorrent(u)
    const webSeeds = this.webSeedsFor(meta, this.ownWebSeed !== undefined ? [this.ownWebSeed] : [])
    await this.client.seed(meta, [u.sha256], [u.unit], { announce: this.announceFor(), webSeeds })
    return meta
  }

  /** A stored unit's torrent as clients see it: infohash, magnet (trackers, web seed) and the .torrent URL. */
  async torrentOf (unit: string): Promise<UnitTorrent | undefined> {
    const u = await this.store.unit(unit)
    if (u === undefined || !(await this.store.has(u.sha256))) return undefined
    const meta = await this.unitTorrent(u)
    const webSeeds = this.webSeedsFor(meta, this.ownWebSeed !== undefined ? [this.ownWebSeed] : [])
    return {
      infoHash: meta.infoHash,
      magnetURI: magnetURI(meta, this.announceFor(), webSeeds),
      ...(this.httpBase !== undefined ? { url: `${this.httpBase}/torrents/${meta.infoHash}.torrent` } : {}),
      name: meta.name,
      length: meta.length
    }
  }

  /** The .torrent for an infohash this peer can seed, with its trackers and web seed; seeding starts. */
  async torrentFile (infoHash: string): Promise<Uint8Array | undefined> {
    let entry = this.torrents.get(infoHash)
    if (entry === undefined) {
      const unitId = await this.store.getTorrent(`ih:${infoHash}`)
      const u = unitId === undefined ? undefined : await this.store.unit(Buffer.from(unitId).toString())
      if (u === undefined || !(await this.store.has(u.sha256))) return undefined
      await this.unitTorrent(u)
      entry = this.torrents.get(infoHash)
      if (entry === undefined) return undefined
    }
    if (entry.units.length === 1) { const u = await this.store.unit(entry.units[0]); if (u !== undefined) await this.seedUnit(u) }
    const webSeeds = this.webSeedsFor(entry.meta, this.ownWebSeed !== undefined ? [this.ownWebSeed] : [])
    return rewrap(entry.meta.torrent, { announce: this.announceFor(), urlList: webSeeds }).torrent
  }

  /** This peer's offer for some content, or undefined when it does not hold it (answers the content protocol). */
  async offer (sha256: string): Promise<Omit<ContentOffer, 'peer'> | undefined> {
    if (!(await this.store.has(sha256))) return undefined
    const units = await this.store.unitsOf(sha256)
    const u = units.length === 0 ? undefined : await this.store.unit(units[0])
    if (u === undefined) return undefined
    const meta = await this.seedUnit(u)
    const webSeed = this.ownWebSeed
    return {
      torrent: meta.torrent,
      bittorrent: [this.bittorrentAddress],
      ...(webSeed !== undefined ? { webSeed } : {}),
      ...(this.tracker !== undefined && this.httpBase !== undefined ? { tracker: `${this.httpBase}/announce` } : {})
    }
  }

  /** Puts a verified file into the store (publishing, `--content`), seeds it and records this peer as a holder. */
  async putFile (file: string, unit: UnitContent, source: string): Promise<StoredUnit> {
    const stored = await this.store.putFile(file, unit, source)
    await this.afterStored(stored)
    return stored
  }

  private async afterStored (u: StoredUnit): Promise<void> {
    // The torrent is computed (and cached) now, but seeded on demand (an offer, a .torrent request):
    // a publisher storing a whole release would otherwise run a swarm per unit nobody asked for yet.
    await this.unitTorrent(u)
    this.provideSoon(u)
  }

  /**
   * Queues a provider record. Best effort: the content is served either way,
   * and records are rewritten on restart. A few at a time: each is a DHT
   * lookup, and a peer storing 20,000 files at once would otherwise start
   * 20,000 lookups that time each other out.
   */
  private provideSoon (u: StoredUnit): void {
    const d = this.init.discovery
    if (d === undefined || this.stopped) return
    this.toProvide.set(u.sha256, u.unit)
    while (this.providing < PROVIDES_IN_FLIGHT && this.toProvide.size > 0) {
      this.providing++
      void (async () => {
        for (const [sha, unit] of this.toProvide) {
          if (this.stopped) break
          this.toProvide.delete(sha)
          await d.provide(sha).catch((err: Error) => this.init.log?.(`provider record for ${unit}: ${err.message}`))
        }
      })().finally(() => { this.providing-- })
    }
  }

  /** Writes provider records for everything held (at start: records expire). Bounded, in the background. */
  async provideAll (signal?: AbortSignal): Promise<number> {
    const d = this.init.discovery
    if (d === undefined) return 0
    const seen = new Set<string>()
    for await (const u of this.store.list()) {
      if (signal?.aborted === true || this.stopped) break
      if (seen.has(u.sha256)) continue
      seen.add(u.sha256)
      await d.provide(u.sha256).catch(() => {})
    }
    return seen.size
  }

  async has (unit: string): Promise<boolean> {
    const u = await this.store.unit(unit)
    return u !== undefined && await this.store.has(u.sha256)
  }

  /** Peers recorded as holders (provider records), this peer first when it holds the unit. */
  async replicas (unit: UnitContent, signal?: AbortSignal): Promise<string[]> {
    return (await this.init.discovery?.holders(unit.sha256, signal)) ?? []
  }

  async stats (unit: string): Promise<UnitStats> {
    const s = await this.store.getStats(unit)
    return { ...s, bytesUploaded: s.bytesUploaded + (this.pendingUploads.get(unit) ?? 0) }
  }

  /**
   * Fetches one unit into the store (see the class comment). Partial pieces
   * stay on disk when it fails or is cancelled, so the next try resumes.
   */
  async fetch (unit: UnitContent, options: { signal?: AbortSignal, onProgress?: (p: TransferProgress) => void } = {}): Promise<FetchResult> {
    if (await this.store.has(unit.sha256)) {
      const existing = await this.store.unit(unit.unit)
      const stored = existing ?? await this.store.record(unit, 'store')
      options.onProgress?.({ infoHash: '', bytesDone: unit.size, bytesTotal: unit.size, received: 0, peers: 0, rate: 0 })
      return { unit: stored, received: 0, sources: [] }
    }
    // Holders may answer late (a loaded peer, a provider record still spreading): ask again before giving up.
    let offers: ContentOffer[] = []
    for (const pause of [0, 2000, 5000]) {
      if (pause > 0 && this.init.discovery !== undefined) await new Promise((resolve) => setTimeout(resolve, pause))
      if (options.signal?.aborted === true) throw new DownloadCancelledError(`download of ${unit.unit} cancelled`)
      offers = (await this.init.discovery?.offers(unit.sha256, options.signal)) ?? []
      if (offers.length > 0 || this.init.discovery === undefined) break
    }
    if (options.signal?.aborted === true) throw new DownloadCancelledError(`download of ${unit.unit} cancelled`)
    // The same bytes give the same infohash: group offers by it, the torrent most holders agree on first.
    const groups = new Map<string, { meta: TorrentMeta, offers: ContentOffer[] }>()
    for (const o of offers) {
      let meta: TorrentMeta
      try { meta = rewrap(o.torrent, {}) } catch { continue }
      if (meta.files.length !== 1 || meta.length !== unit.size) continue
      const g = groups.get(meta.infoHash) ?? { meta, offers: [] }
      g.offers.push(o)
      groups.set(meta.infoHash, g)
    }
    if (groups.size === 0) throw new ContentUnavailableError(`no peer holds content for ${unit.unit} (sha256 ${unit.sha256})`)
    for (const o of offers) if (o.tracker !== undefined) this.trackers.add(o.tracker)
    const peers = [...new Set(offers.flatMap((o) => o.bittorrent))].filter((p) => p !== this.bittorrentAddress)
    const webBases = [...new Set(offers.map((o) => o.webSeed).filter((w): w is string => w !== undefined))]
    let lastError: Error | undefined
    for (const g of [...groups.values()].sort((a, b) => b.offers.length - a.offers.length)) {
      const webSeeds = this.webSeedsFor(g.meta, webBases)
      try {
        const r = await this.client.fetch({ meta: g.meta, wanted: [unit], peers, announce: this.announceFor(), webSeeds, onProgress: options.onProgress, signal: options.signal, stallMs: this.init.stallMs })
        const stored = (await this.store.unit(unit.unit)) ?? await this.store.record(unit, 'download')
        this.torrents.set(g.meta.infoHash, { meta: g.meta, shas: [unit.sha256], units: [unit.unit] })
        await this.store.putTorrent(`unit:${unit.sha256}:${unit.name}`, g.meta.torrent)
        await this.store.putTorrent(`ih:${g.meta.infoHash}`, Buffer.from(unit.unit))
        await this.store.addStats(unit.unit, { downloads: 1, bytesDownloaded: r.received })
        void this.init.discovery?.provide(unit.sha256).catch((err: Error) => this.init.log?.(`provider record for ${unit.unit}: ${err.message}`))
        return { unit: stored, received: r.received, sources: g.offers.map((o) => o.peer) }
      } catch (err) {
        if (!(err instanceof ChecksumMismatchError)) throw err
        // The torrent itself described other bytes: reported, discarded, and the next torrent tried.
        this.init.log?.(`${unit.unit}: ${err.message} (torrent ${g.meta.infoHash} from ${g.offers.map((o) => o.peer).join(', ')})`)
        lastError = err
      }
    }
    throw lastError ?? new ContentUnavailableError(`no source delivered ${unit.unit}`)
  }

  /**
   * Builds and seeds a multi-file torrent over stored units (a set: a query
   * result, a flash-crowd cluster), files in the order given.
   */
  async seedSet (name: string, units: string[], options: SeedSetOptions = {}): Promise<SetTorrent> {
    const stored: StoredUnit[] = []
    for (const id of units) {
      const u = await this.store.unit(id)
      if (u === undefined || !(await this.store.has(u.sha256))) throw new ContentUnavailableError(`set '${name}': this peer holds no content for ${id}`)
      stored.push(u)
    }
    // Cached by what fixes the bytes (name, files in order, piece length): re-seeding after a restart does not hash the set again.
    const key = `set:${createHash('sha256').update(JSON.stringify([name, options.pieceLength ?? 0, stored.map((u) => [u.name, u.sha256])])).digest('hex')}`
    const cached = await this.store.getTorrent(key)
    const meta = cached !== undefined
      ? rewrap(cached, {})
      : await buildTorrent(stored.map((u) => ({ name: u.name, length: u.size, file: this.store.filePath(u.sha256) })), { name, multi: true, pieceLength: options.pieceLength })
    if (cached === undefined) await this.store.putTorrent(key, meta.torrent)
    this.torrents.set(meta.infoHash, { meta, shas: stored.map((u) => u.sha256), units })
    const webSeeds = options.webSeed === false ? [] : this.webSeedsFor(meta, this.ownWebSeed !== undefined ? [this.ownWebSeed] : [])
    const wants = options.superSeed
    const superSeed = wants === undefined ? undefined : { wantedPieces: wants === 'all' ? () => 'all' as const : wantedPieces(meta, units, wants) }
    await this.client.seed(meta, stored.map((u) => u.sha256), units, { announce: this.announceFor(), webSeeds, superSeed })
    if (wants !== undefined && wants !== 'all') this.setWants.set(meta.infoHash, wants)
    return { infoHash: meta.infoHash, magnetURI: magnetURI(meta, this.announceFor(), webSeeds), ...(this.httpBase !== undefined ? { url: `${this.httpBase}/torrents/${meta.infoHash}.torrent` } : {}), name, length: meta.length, pieceLength: meta.pieceLength, files: meta.files.length }
  }

  /**
   * This peer's offer for a torrent it seeds (a set's, or a unit's), by
   * infohash: the .torrent with its trackers, and where to reach this peer.
   * Undefined when it does not seed it.
   */
  async torrentOffer (infoHash: string): Promise<Omit<ContentOffer, 'peer'> | undefined> {
    const entry = this.torrents.get(infoHash)
    if (entry === undefined || !this.client.isSeeding(infoHash)) return undefined
    return {
      torrent: rewrap(entry.meta.torrent, { announce: [...new Set([...entry.meta.announce, ...this.announceFor()])] }).torrent,
      bittorrent: [this.bittorrentAddress],
      ...(this.tracker !== undefined && this.httpBase !== undefined ? { tracker: `${this.httpBase}/announce` } : {})
    }
  }

  /** What each downloader of a super-seeded set holds of what it wants, by peer identity (undefined when not super-seeded). */
  setDownloaders (infoHash: string): SetDownloader[] | undefined {
    const wants = this.setWants.get(infoHash)
    const peers = this.client.superSeedPeers(infoHash)
    if (wants === undefined || peers === undefined) return undefined
    const byBittorrentId = peersByBittorrentId(wants)
    // A peer may have two wires to us (each side dialled): one row per peer, the wire that knows most.
    const rows = new Map<string, SetDownloader>()
    for (const d of peers) {
      const peer = byBittorrentId.get(d.peerId)
      if (peer !== undefined && (rows.get(peer)?.heldBytes ?? -1) < d.heldBytes) rows.set(peer, { peer, wantedBytes: d.wantedBytes, heldBytes: d.heldBytes })
    }
    return [...rows.values()]
  }

  /** Upload and swarm figures of a torrent this peer seeds. */
  torrentStats (infoHash: string): { uploaded: number, peers: number } | undefined {
    const t = this.client.seedingTorrents().find((x) => x.infoHash === infoHash)
    return t === undefined ? undefined : { uploaded: t.uploaded, peers: t.peers }
  }

  /**
   * Downloads the selected files of a multi-file torrent (a flash-crowd
   * cluster) from the given peers and the torrent's trackers, verifies each
   * against its unit's sha256, stores it, records this peer as a holder and
   * goes on seeding the torrent. `wanted[i]` is file i's unit, or undefined.
   */
  async fetchSet (meta: TorrentMeta, wanted: Array<UnitContent | undefined>, options: { peers?: string[], webSeeds?: string[], signal?: AbortSignal, onProgress?: (p: TransferProgress) => void, order?: FetchSpec['order'], uploadSlots?: number } = {}): Promise<FetchOutcome> {
    wanted.forEach((w, i) => {
      if (w === undefined) return
      const f = meta.files[i]
      if (f === undefined || f.name !== w.name || f.length !== w.size) throw new ContentInputError(`torrent ${meta.infoHash}: file ${i} is '${f?.name ?? '(none)'}' of ${f?.length ?? 0} bytes, not ${w.unit} ('${w.name}', ${w.size} bytes)`)
    })
    for (const a of meta.announce) this.trackers.add(a)
    const peers = (options.peers ?? []).filter((p) => p !== this.bittorrentAddress)
    const r = await this.client.fetch({ meta, wanted, peers, announce: [...new Set([...meta.announce, ...this.announceFor()])], webSeeds: options.webSeeds, onProgress: options.onProgress, signal: options.signal, stallMs: this.init.stallMs, order: options.order, uploadSlots: options.uploadSlots })
    const kept = wanted.filter((w): w is UnitContent => w !== undefined)
    this.torrents.set(meta.infoHash, { meta, shas: kept.map((w) => w.sha256), units: kept.map((w) => w.unit) })
    await this.store.addStatsMany(new Map(kept.map((w) => [w.unit, { downloads: 1, bytesDownloaded: Math.round(r.received * w.size / Math.max(1, r.pieceBytes)) }])))
    for (const w of kept) {
      void this.init.discovery?.provide(w.sha256).catch((err: Error) => this.init.log?.(`provider record for ${w.unit}: ${err.message}`))
    }
    return r
  }

  /** The HTTP routes (tracker, web seed, .torrent files); false when the request is not one of them. */
  handleHttp (req: IncomingMessage, res: ServerResponse): boolean {
    const source: ContentHttpSource = {
      torrentFile: async (ih) => await this.torrentFile(ih),
      fileByName: async (name) => {
        if (this.init.webSeed === false) return undefined
        const sha = await this.store.byName(name)
        if (sha === undefined || !(await this.store.has(sha))) return undefined
        return { path: this.store.filePath(sha), unit: (await this.store.unitsOf(sha))[0] ?? sha }
      },
      onServed: (unit, bytes) => { this.pendingUploads.set(unit, (this.pendingUploads.get(unit) ?? 0) + bytes) },
      ...(this.tracker !== undefined ? { tracker: this.tracker } : {})
    }
    return handleContentHttp(source, req, res)
  }

  /** Flushes upload counters and applies the seeding policy. */
  private async tick (): Promise<void> {
    for (const u of this.client.uploads()) {
      const share = Math.floor(u.bytes / Math.max(1, u.units.length))
      for (const unit of u.units) this.pendingUploads.set(unit, (this.pendingUploads.get(unit) ?? 0) + share)
    }
    const pending = new Map(this.pendingUploads)
    this.pendingUploads.clear()
    await this.store.addStatsMany(new Map([...pending].map(([unit, bytes]) => [unit, { bytesUploaded: bytes }])))
    const policy = this.init.seeding
    if (policy === undefined) return
    for (const t of this.client.seedingTorrents()) {
      if (!t.downloaded) continue
      const ratioMet = policy.ratio !== undefined && t.uploaded / Math.max(1, t.length) >= policy.ratio
      const timeMet = policy.seconds !== undefined && Date.now() - t.since >= policy.seconds * 1000
      if (ratioMet || timeMet) await this.client.unseed(t.infoHash)
    }
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    clearInterval(this.timer)
    await this.ticking
    await this.tick().catch(() => {})
    await this.client.stop()
    await new Promise<void>((resolve) => { if (this.tracker === undefined) resolve(); else this.tracker.close(() => { resolve() }) })
    await this.store.close()
  }
}
