/**
 * The peer's BitTorrent side: one WebTorrent client over TCP (no public
 * DHT, no LSD, no UPnP/NAT-PMP, no uTP: uTP halved throughput and stalled
 * piece exchange between leechers here; no BEP 8 stream obfuscation: it
 * hides nothing pieces' hashes do not already prove, and its per-connection
 * Diffie-Hellman took 7% of every flash-crowd peer's CPU), whose chunk stores point straight
 * at the content store's files. A seeded file is the verified file itself
 * (so seeding needs no rehash: skipVerify), a download writes to
 * DATA/content/partial/<sha256> and is moved into the store only after its
 * sha256 matches the signed metadata. Partial files survive a restart:
 * re-adding the torrent re-checks their pieces and fetches only the rest.
 */
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import WebTorrent, { type Torrent } from 'webtorrent'
import FSChunkStore from 'fs-chunk-store'
import { ChecksumMismatchError, ContentUnavailableError, DownloadCancelledError } from './errors.ts'
import type { ContentStore, UnitContent } from './store.ts'
import type { TorrentMeta } from './torrent-file.ts'
import { SuperSeeder, type SeedTorrent, type SuperSeedInit, type SuperSeedPeer } from './super-seed.ts'

export interface TorrentClientInit {
  store: ContentStore
  /** TCP port for BitTorrent. Default 0 (the OS picks; see `port`). */
  torrentPort?: number
  /** Most peer connections over all torrents. Default 55 (WebTorrent's). */
  maxConns?: number
  /** Receive / send limits over all torrents, bytes/s. Default: none. */
  downloadLimit?: number
  uploadLimit?: number
  /** This client's BitTorrent peer id (40 hex digits): see `bittorrentPeerId`. Default: WebTorrent's random one. */
  peerId?: string
}

/**
 * The BitTorrent peer id of a peer identity (its libp2p peer id): a
 * super-seeding publisher recognises a wire's downloader, and so its wish
 * list, by it. 20 bytes, hex: an Azureus-style client prefix and 12 bytes
 * of the identity's sha256.
 */
export function bittorrentPeerId (identity: string): string {
  let id = bittorrentIds.get(identity)
  if (id === undefined) {
    id = Buffer.concat([Buffer.from('-ED0100-'), createHash('sha256').update(identity).digest().subarray(0, 12)]).toString('hex')
    // Looked up for every wish list every second by a publisher: worth remembering (bounded).
    if (bittorrentIds.size >= 100_000) bittorrentIds.clear()
    bittorrentIds.set(identity, id)
  }
  return id
}
const bittorrentIds = new Map<string, string>()

/** Progress of one transfer: bytes of the wanted files, connected peers, rate in bytes/s. */
export interface TransferProgress {
  infoHash: string
  bytesDone: number
  bytesTotal: number
  /** Bytes received this session (a resumed download counts only what it fetched again). */
  received: number
  peers: number
  rate: number
}

export interface FetchSpec {
  meta: TorrentMeta
  /** Per torrent file: the unit to keep from it, or undefined when that file is not wanted (per-file selection). */
  wanted: Array<UnitContent | undefined>
  /** BitTorrent peers to dial (`ip:port`), from provider records. */
  peers?: string[]
  /** Tracker announce URLs. */
  announce?: string[]
  /** Web seeds (BEP 19). */
  webSeeds?: string[]
  onProgress?: (p: TransferProgress) => void
  /** Progress callback period. Default 500 ms. */
  progressMs?: number
  signal?: AbortSignal
  /** Gives up (partial pieces kept) when no byte arrives for this long. Default 60 s. */
  stallMs?: number
  /**
   * Piece order. 'rarest' (default) spreads downloaders over the pieces when
   * the seed shows them all. 'sequential' when the seed super-seeds (it
   * already hands each downloader different pieces): it costs a walk of the
   * selection per request where rarest-first rescans every piece per try.
   */
  order?: 'rarest' | 'sequential'
  /**
   * Peers unchoked at once while downloading and seeding it. Default 10
   * (WebTorrent's tit-for-tat). A flash crowd's peers cooperate: unchoking
   * all lets a peer that joins a cluster late take pieces from the others
   * at once instead of waiting up to 30 s for an optimistic unchoke.
   */
  uploadSlots?: number
}

/** What a finished fetch moved. */
export interface FetchOutcome {
  /** The wanted units, verified and in the store. */
  stored: UnitContent[]
  /** Bytes received this session (duplicates and discarded pieces included). */
  received: number
  /**
   * Bytes of the pieces this peer now has verified: with per-file selection,
   * BitTorrent moves whole pieces, so this minus the wanted bytes is what
   * the peer received without wanting it (the flash-crowd waste, measured).
   */
  pieceBytes: number
}

/** Sum of the lengths of the torrent's verified pieces. */
function verifiedPieceBytes (torrent: Torrent, meta: TorrentMeta): number {
  const t = torrent as unknown as { bitfield?: { get: (i: number) => boolean }, pieces: unknown[] }
  const count = Math.ceil(meta.length / meta.pieceLength)
  let bytes = 0
  for (let i = 0; i < count; i++) {
    if (t.bitfield?.get(i) !== true) continue
    bytes += i === count - 1 ? meta.length - i * meta.pieceLength : meta.pieceLength
  }
  return bytes
}

/** A function WebTorrent calls with `new`: maps torrent file i to paths[i] on disk. */
function storeAt (paths: string[]): unknown {
  return function (this: unknown, chunkLength: number, opts: { files: Array<{ length: number, offset: number }>, length: number }) {
    return new FSChunkStore(chunkLength, { files: opts.files.map((f, i) => ({ path: paths[i], length: f.length, offset: f.offset })), length: opts.length })
  }
}

export class TorrentClient {
  private readonly wt: WebTorrent
  private readonly seeding = new Map<string, { torrent: Torrent, since: number, units: string[], counted: number, downloaded: boolean, superSeeder?: SuperSeeder }>()
  private readonly fetching = new Map<string, Torrent>()

  private constructor (private readonly init: TorrentClientInit) {
    this.wt = new WebTorrent({ ...(init.peerId !== undefined ? { peerId: init.peerId } : {}), dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false, secure: 0, utPex: true, webSeeds: true, torrentPort: init.torrentPort ?? 0, maxConns: init.maxConns, downloadLimit: init.downloadLimit, uploadLimit: init.uploadLimit })
    // A torrent's errors reach its own listener; anything else would crash the process.
    this.wt.on('error', () => {})
  }

  static async start (init: TorrentClientInit): Promise<TorrentClient> {
    const c = new TorrentClient(init)
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { reject(new Error('WebTorrent did not start listening within 10 s')) }, 10_000)
      const ready = (): void => { clearTimeout(t); resolve() }
      if ((c.wt as unknown as { listening: boolean }).listening) ready()
      else c.wt.once('listening', ready)
    })
    return c
  }

  /** The BitTorrent TCP port. */
  get port (): number { return this.wt.address()?.port ?? this.wt.torrentPort }

  isSeeding (infoHash: string): boolean { return this.seeding.has(infoHash) }

  /** What is seeded: `downloaded` marks torrents this peer fetched (the seeding policy applies to those). */
  seedingTorrents (): Array<{ infoHash: string, units: string[], uploaded: number, length: number, since: number, peers: number, downloaded: boolean }> {
    return [...this.seeding].map(([infoHash, s]) => ({ infoHash, units: s.units, uploaded: s.torrent.uploaded, length: s.torrent.length, since: s.since, peers: s.torrent.numPeers, downloaded: s.downloaded }))
  }

  /**
   * Seeds a torrent whose files are all in the store (verified by sha256,
   * so pieces are not rehashed). Idempotent. `units[i]` is file i's sha256.
   */
  async seed (meta: TorrentMeta, shas: string[], units: string[], options: { announce?: string[], webSeeds?: string[], superSeed?: SuperSeedInit } = {}): Promise<void> {
    if (this.seeding.has(meta.infoHash) || this.fetching.has(meta.infoHash)) return
    const paths = shas.map((s) => this.init.store.filePath(s))
    let superSeeder: SuperSeeder | undefined
    const superSeed = options.superSeed
    // Hooked before any wire can arrive: a downloader's first message from us must already be the empty bitfield.
    const onAdded = superSeed === undefined ? undefined : (t: Torrent): void => { superSeeder = new SuperSeeder(t as unknown as SeedTorrent, meta, superSeed) }
    // Unchoke every downloader: the offers pace each one, and WebTorrent's rechoke (10 slots) would leave offers to choked ones idle.
    const torrent = await this.add(meta, { paths, skipVerify: true, announce: options.announce, webSeeds: options.webSeeds, ...(superSeed !== undefined ? { uploads: 1_000 } : {}) }, onAdded)
    this.seeding.set(meta.infoHash, { torrent, since: Date.now(), units, counted: 0, downloaded: false, superSeeder })
  }

  /** What a super-seeded torrent's downloaders hold of what they want (undefined when not super-seeded). */
  superSeedPeers (infoHash: string): SuperSeedPeer[] | undefined {
    return this.seeding.get(infoHash)?.superSeeder?.peers()
  }

  /** Stops seeding (the files stay in the store). Returns the bytes uploaded not yet reported through `uploads`. */
  async unseed (infoHash: string): Promise<void> {
    const s = this.seeding.get(infoHash)
    if (s === undefined) return
    this.seeding.delete(infoHash)
    s.superSeeder?.stop()
    await new Promise<void>((resolve) => { s.torrent.destroy({ destroyStore: false }, () => { resolve() }) })
  }

  /** Upload bytes per seeded torrent since the previous call (for statistics). */
  uploads (): Array<{ infoHash: string, units: string[], bytes: number }> {
    const out = []
    for (const [infoHash, s] of this.seeding) {
      const bytes = s.torrent.uploaded - s.counted
      s.counted = s.torrent.uploaded
      if (bytes > 0) out.push({ infoHash, units: s.units, bytes })
    }
    return out
  }

  private async add (meta: TorrentMeta, o: { paths: string[], skipVerify: boolean, announce?: string[], webSeeds?: string[], deselect?: boolean, uploads?: number, order?: 'rarest' | 'sequential' }, onAdded?: (t: Torrent) => void): Promise<Torrent> {
    return await new Promise<Torrent>((resolve, reject) => {
      const torrent = this.wt.add(meta.torrent, {
        announce: o.announce ?? [],
        urlList: o.webSeeds ?? [],
        skipVerify: o.skipVerify,
        deselect: o.deselect,
        ...(o.uploads !== undefined ? { uploads: o.uploads } : {}),
        store: storeAt(o.paths),
        // Pieces go straight to disk: a resumed download finds them there.
        storeCacheSlots: 0,
        // Rarest first: downloaders get different pieces and so can trade them (the default, sequential, makes every downloader want the seed's next piece).
        strategy: o.order ?? 'rarest'
      })
      onAdded?.(torrent)
      const fail = (err: Error | string): void => { reject(new ContentUnavailableError(`torrent ${meta.infoHash} (${meta.name}): ${typeof err === 'string' ? err : err.message}`)) }
      torrent.once('error', fail)
      torrent.once('ready', () => { torrent.off('error', fail); torrent.on('error', () => {}); skipHeldPieces(torrent); resolve(torrent) })
    })
  }

  /**
   * Downloads the wanted files of a torrent, from peers, trackers and web
   * seeds together, and moves each into the store once its sha256 matches.
   * Resolves with the units stored; a file whose bytes do not match is
   * discarded and reported as ChecksumMismatchError (the torrent itself was
   * wrong: the caller tries another source).
   */
  async fetch (spec: FetchSpec): Promise<FetchOutcome> {
    const { meta, wanted } = spec
    if (wanted.length !== meta.files.length) throw new Error(`fetch: ${wanted.length} selections for ${meta.files.length} files`)
    if (this.fetching.has(meta.infoHash)) throw new ContentUnavailableError(`torrent ${meta.infoHash} is already being downloaded`)
    const paths = meta.files.map((f, i) => {
      const w = wanted[i]
      // Unwanted files get a scratch partial path: pieces that straddle a boundary land there.
      return w !== undefined ? this.init.store.partialPath(w.sha256) : this.init.store.partialPath(fakeSha(meta.infoHash, i))
    })
    this.seeding.delete(meta.infoHash)
    const torrent = await this.add(meta, { paths, skipVerify: false, announce: spec.announce, webSeeds: spec.webSeeds, deselect: true, order: spec.order, ...(spec.uploadSlots !== undefined ? { uploads: spec.uploadSlots } : {}) })
    this.fetching.set(meta.infoHash, torrent)
    const bytesTotal = wanted.reduce((s, w) => s + (w?.size ?? 0), 0)
    let lastReceived = -1
    let lastChange = Date.now()
    const stallMs = spec.stallMs ?? 60_000
    const stalled = new AbortController()
    let lonelySince = Date.now()
    const report = (): void => {
      // Left without any wire (dropped under load, the tracker not asked again for 30 s): dial the known holders again.
      if (torrent.numPeers > 0) lonelySince = Date.now()
      else if (Date.now() - lonelySince > 5000) { lonelySince = Date.now(); for (const p of spec.peers ?? []) torrent.addPeer(p) }
      let bytesDone = 0
      torrent.files.forEach((f, i) => { if (wanted[i] !== undefined) bytesDone += Math.min(f.downloaded, f.length) })
      if (torrent.received !== lastReceived) { lastReceived = torrent.received; lastChange = Date.now() }
      if (Date.now() - lastChange > stallMs) stalled.abort()
      spec.onProgress?.({ infoHash: meta.infoHash, bytesDone, bytesTotal, received: torrent.received, peers: torrent.numPeers, rate: torrent.downloadSpeed })
    }
    const timer = setInterval(report, spec.progressMs ?? 500)
    try {
      for (const p of spec.peers ?? []) torrent.addPeer(p)
      // One selection per run of wanted pieces, not per file: WebTorrent's piece picker walks every
      // selection and scans every piece for each, which per-file selections of a 700-file set make quadratic.
      for (const [from, to] of wantedPieceRuns(meta, wanted)) torrent.select(from, to)
      // With a partial selection the torrent's `done` never fires: wait on each wanted file (a file is done once its pieces are, selected or not).
      const waits = torrent.files.map(async (f, i) => {
        if (wanted[i] === undefined) return
        if (f.done) return
        await new Promise<void>((resolve) => { f.once('done', resolve) })
      })
      await abortable(Promise.all(waits), spec.signal, torrent, stalled.signal, stallMs)
      report()
      const stored: UnitContent[] = []
      const errors: Error[] = []
      // Each file is hashed again against its signed sha256: a few at a time, so a cluster of hundreds of files
      // is not verified one disk read after another while the peer shows 100% and waits.
      // Files with the same bytes go one after the other: their store entry is one read-modify-write.
      const bySha = new Map<string, number[]>()
      wanted.forEach((w, i) => { if (w !== undefined) bySha.set(w.sha256, [...(bySha.get(w.sha256) ?? []), i]) })
      const groups = [...bySha.values()]
      let next = 0
      await Promise.all(Array.from({ length: 4 }, async () => {
        for (let g = next++; g < groups.length; g = next++) {
          for (const i of groups[g]) {
            const w = wanted[i] as UnitContent
            try {
              // The bytes stay open under the torrent: rename keeps its file handle valid, so seeding goes on.
              await this.init.store.adopt(paths[i], w, 'download')
              stored.push(w)
            } catch (err) {
              errors.push(err as Error)
            }
          }
        }
      }))
      if (errors.length > 0) {
        await this.drop(meta.infoHash, torrent)
        throw errors.find((e) => e instanceof ChecksumMismatchError) ?? errors[0]
      }
      // Keep it running as a seed of the store's files.
      this.fetching.delete(meta.infoHash)
      this.seeding.set(meta.infoHash, { torrent, since: Date.now(), units: stored.map((s) => s.unit), counted: 0, downloaded: true })
      const pieceBytes = verifiedPieceBytes(torrent, meta)
      for (let i = 0; i < wanted.length; i++) if (wanted[i] === undefined) await rm(paths[i], { force: true })
      return { stored, received: torrent.received, pieceBytes }
    } catch (err) {
      if (this.fetching.get(meta.infoHash) === torrent) await this.drop(meta.infoHash, torrent)
      throw err
    } finally {
      clearInterval(timer)
    }
  }

  /** Stops a download, keeping its partial files for a later resume. */
  private async drop (infoHash: string, torrent: Torrent): Promise<void> {
    this.fetching.delete(infoHash)
    await new Promise<void>((resolve) => { torrent.destroy({ destroyStore: false }, () => { resolve() }) })
  }

  async stop (): Promise<void> {
    for (const s of this.seeding.values()) s.superSeeder?.stop()
    this.seeding.clear()
    this.fetching.clear()
    await new Promise<void>((resolve) => { this.wt.destroy(() => { resolve() }) })
  }
}

/**
 * WebTorrent's rarest-first picker asks its rarity map for the rarest piece
 * a wire has, tries to request it, and asks again: pieces this peer already
 * holds are not filtered out, so a wire holding most of what we hold costs
 * a full scan of the pieces per held piece, on every event. Filtering held
 * pieces out keeps the picker's behaviour and drops that quadratic cost
 * (trySelectWire was 47% of a 12-peer flash crowd's CPU).
 */
function skipHeldPieces (torrent: Torrent): void {
  const t = torrent as unknown as { _rarityMap?: { getRarestPiece: (filter?: (i: number) => boolean) => number }, bitfield?: { get: (i: number) => boolean } }
  const map = t._rarityMap
  if (map === undefined) return
  const rarest = map.getRarestPiece.bind(map)
  map.getRarestPiece = (filter) => rarest((i) => t.bitfield?.get(i) !== true && (filter === undefined || filter(i)))
}

/** The pieces covering the wanted files, as inclusive [from, to] runs, adjacent and overlapping ones merged. */
export function wantedPieceRuns (meta: Pick<TorrentMeta, 'files' | 'pieceLength'>, wanted: ReadonlyArray<unknown>): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  meta.files.forEach((f, i) => {
    if (wanted[i] === undefined || f.length === 0) return
    const from = Math.floor(f.offset / meta.pieceLength)
    const to = Math.floor((f.offset + f.length - 1) / meta.pieceLength)
    const last = runs[runs.length - 1]
    if (last !== undefined && from <= last[1] + 1) last[1] = Math.max(last[1], to)
    else runs.push([from, to])
  })
  return runs
}

/** A stable scratch name for an unwanted file of a torrent (hex, so the store accepts it as an address). */
function fakeSha (infoHash: string, i: number): string {
  return (infoHash + String(i).padStart(24, '0')).slice(0, 64)
}

async function abortable<T> (p: Promise<T>, signal: AbortSignal | undefined, torrent: Torrent, stalled: AbortSignal, stallMs: number): Promise<T> {
  if (signal?.aborted === true) throw new DownloadCancelledError(`download of ${torrent.name} cancelled`)
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(new DownloadCancelledError(`download of ${torrent.name} cancelled`)) }
    const onStall = (): void => { reject(new ContentUnavailableError(`download of ${torrent.name} stalled: no byte from any peer or web seed for ${Math.round(stallMs / 1000)} s (partial pieces kept)`)) }
    const done = (): void => { signal?.removeEventListener('abort', onAbort); stalled.removeEventListener('abort', onStall) }
    signal?.addEventListener('abort', onAbort, { once: true })
    stalled.addEventListener('abort', onStall, { once: true })
    p.then((v) => { done(); resolve(v) }, (e: unknown) => { done(); reject(e as Error) })
  })
}
