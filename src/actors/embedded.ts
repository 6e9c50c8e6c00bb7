/**
 * A peer: one process, one data folder, every role composed over an index
 * view. Without `network` it is the embedded default (everything local);
 * with it, the peer joins the distributed index: the publisher keeps its
 * full local store and disseminates each commit, mirrors and clients
 * answer from the network. The GraphQL layer sees only PeerApi.
 *
 * DATA/index  the publisher's (or embedded) store   DATA/state  channels, logs, downloads, wish lists
 * DATA/api-token  bearer token (0600)   DATA/peer-id  stable id (embedded)   DATA/tmp  uploads being read
 * DATA/peer-key, DATA/datastore, DATA/shard, DATA/publisher-key, DATA/mirror-certificate.json  (network)
 */
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { EmbeddedIndex } from '../xml-twig-index/embedded.ts'
import type { QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import { Channels } from '../roles/channels.ts'
import { ChannelNetwork } from '../channels/index.ts'
import { Downloads } from '../roles/downloads.ts'
import { ContentRole } from '../roles/content.ts'
import { ContentNode, type SeedPolicy } from '../torrents/index.ts'
import { findContentHolders, findContentOffers, findTorrentOffers, provideContent, serveContentOffers } from '../dht/providers.ts'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { EventBus } from '../roles/events.ts'
import { Publishing } from '../roles/publishing.ts'
import { compileFilter, Querying } from '../roles/querying.ts'
import { Relations } from '../roles/relations.ts'
import { PeerState } from '../roles/state.ts'
import { FlashCrowds, type FlashCrowdTransport } from '../roles/flash-crowds.ts'
import { sendWishList, serveWishLists } from '../torrents/flash-crowd/index.ts'
import { loadApiToken, loadPeerId, tokenMatches } from './identity.ts'
import type { IndexNode } from '../dht/index.ts'
import type { IndexView } from '../roles/index-view.ts'
import { networkView } from './network-view.ts'
import { startNetwork, type NetworkInit } from './network.ts'
import { PeerError } from './errors.ts'
import type {
  ContentStatsRecord, TorrentRecord, FollowPolicy, IndexStateRecord, MirrorAdmission, ChannelRecord, DownloadRecord, MatchRecord, NetworkRecord, NotificationRecord, Page, PackageFilter, PackageRecord, PeerApi, PeerEvent,
  PeerInfo, PeerRole, PublishProgress, PublishSource, PublishSummary, ReleaseRecord, RelationInfo, Satisfier, UtilityRecord, WishListRecord, FlashCrowdStartInput, FlashCrowdStatus
} from './types.ts'

export interface EmbeddedPeerInit {
  /** The peer folder (created when missing). */
  data: string
  /** Default 'publisher': the embedded default is a single peer that publishes its own metadata. */
  role?: PeerRole
  /** Where this peer's GraphQL endpoint is served, reported by network(). Default: none. */
  graphqlUrl?: string
  /** Per-subscriber event buffer before drop-oldest. Default 1024. */
  eventCapacity?: number
  /** Join the distributed index (libp2p). Default: none, the embedded peer. */
  network?: NetworkInit
  /** Content distribution settings (DATA/content). */
  content?: PeerContentInit
  /** Flash crowd settings (networked peers). */
  flashCrowds?: PeerFlashCrowdInit
}

export interface PeerFlashCrowdInit {
  /** Join every flash crowd the publisher opens, wanting what this pattern selects ('*': the whole release). Default: join none on its own. */
  join?: string
  /** Cluster torrents downloaded at once. Default 4. */
  parallel?: number
}

export interface PeerContentInit {
  /** BitTorrent TCP port. Default 0 (any). */
  torrentPort?: number
  /** When to stop seeding downloaded torrents. Default: seed while running. */
  seeding?: SeedPolicy
  /** Units transferred at once over all downloads. Default 4. */
  parallel?: number
  /** Give up on a unit when nothing arrives for this long. Default 60 s. */
  stallMs?: number
  /** Run a tracker. Default: publishers and mirrors do, clients do not. */
  tracker?: boolean
  /** BitTorrent receive limit, bytes/s. Default: none. */
  downloadLimit?: number
  /** BitTorrent send limit, bytes/s. Default: none. */
  uploadLimit?: number
}

/** A mirror's certificate names an Ed25519 peer id (its public key is the id): anything else is the caller's mistake. */
function checkMirrorId (peerId: string): void {
  let id: PeerId
  try { id = peerIdFromString(peerId) } catch { throw new PeerError(`'${peerId.slice(0, 100)}' is not a peer id`, 'BAD_USER_INPUT') }
  if (id.type !== 'Ed25519') throw new PeerError(`'${peerId}' is a ${id.type} peer id; a mirror has an Ed25519 one`, 'BAD_USER_INPUT')
}

export class EmbeddedPeer implements PeerApi {
  private stopped: Promise<void> | undefined
  private readonly querying: Querying
  private readonly relations: Relations
  private readonly publishing: Publishing
  private readonly downloadsRole: Downloads
  private readonly flashCrowdsRole: FlashCrowds
  private readonly contentRole: ContentRole

  private constructor (
    readonly info: PeerInfo,
    private readonly token: string,
    /** The full local store: the embedded peer's, or the networked publisher's. */
    readonly local: EmbeddedIndex | undefined,
    /** What queries read: the local store, or the distributed index. */
    readonly view: IndexView,
    readonly node: IndexNode | undefined,
    /** Channels over gossipsub (networked peers). */
    readonly channelNet: ChannelNetwork | undefined,
    private readonly state: PeerState,
    private readonly bus: EventBus<PeerEvent>,
    private readonly channelsRole: Channels,
    data: string,
    readonly content: ContentNode,
    private readonly log: ((message: string) => void) | undefined,
    contentInit: PeerContentInit,
    flash: PeerFlashCrowdInit & { transport?: FlashCrowdTransport }
  ) {
    this.querying = new Querying(view)
    this.relations = new Relations(this.querying)
    this.publishing = new Publishing({
      // Only a publisher publishes, and a publisher always has its local store; others get FORBIDDEN before it is touched.
      index: local as EmbeddedIndex,
      querying: this.querying,
      bus,
      data,
      role: info.role,
      afterCommit: node?.dissemination === undefined
        ? undefined
        : async (report) => {
          report({ phase: 'index', postingsSent: [] })
          await node.disseminate({
            onProgress: (p) => report({ phase: p.phase, postingsSent: Object.entries(p.postingsSent).map(([peer, postings]) => ({ peer, postings })) })
          })
        },
      onReleaseChanged: async (change) => { await channelsRole.notify(change) }
    })
    this.downloadsRole = new Downloads({ state, bus, index: view, content, parallel: contentInit.parallel, log })
    this.contentRole = new ContentRole({ content, index: view, querying: this.querying, tmp: join(data, 'tmp') })
    this.flashCrowdsRole = new FlashCrowds({
      role: info.role,
      bus,
      state,
      index: view,
      querying: this.querying,
      content,
      downloads: this.downloadsRole,
      channels: channelsRole,
      transport: flash.transport,
      join: flash.join,
      parallel: flash.parallel,
      log
    })
  }

  static async start (init: EmbeddedPeerInit): Promise<EmbeddedPeer> {
    const role = init.role ?? 'publisher'
    const token = await loadApiToken(join(init.data, 'api-token'))
    const local = init.network === undefined || role === 'publisher' ? await EmbeddedIndex.open({ path: init.data }) : undefined
    let state: PeerState | undefined
    let node: IndexNode | undefined
    let channelNet: ChannelNetwork | undefined
    let content: ContentNode | undefined
    try {
      const net = init.network === undefined ? undefined : await startNetwork(init.data, role, init.network, local?.store)
      node = net?.node
      const id = node !== undefined ? node.membership.self : await loadPeerId(join(init.data, 'peer-id'))
      const view: IndexView = node !== undefined ? networkView(node) : local as EmbeddedIndex
      state = await PeerState.open(join(init.data, 'state'))
      const bus = new EventBus<PeerEvent>({ capacity: init.eventCapacity })
      if (net !== undefined) {
        channelNet = new ChannelNetwork({
          host: net.host,
          publisher: net.publisher,
          store: state,
          onNotification: (notification) => { bus.publish({ type: 'notification', notification }) },
          syncMs: init.network?.channelSyncMs,
          log: init.network?.log
        })
        await channelNet.start()
      }
      const channels = await Channels.open({ state, bus, index: view, documents: local?.store, role, network: role === 'publisher' ? channelNet : undefined })
      const info: PeerInfo = { id, role, addresses: node !== undefined ? node.addresses() : [] }
      if (init.graphqlUrl !== undefined) info.graphql = init.graphqlUrl
      const libp2p = node?.libp2p
      const contentInit = init.content ?? {}
      content = await ContentNode.start({
        path: join(init.data, 'content'),
        tracker: contentInit.tracker ?? role !== 'client',
        torrentPort: contentInit.torrentPort,
        downloadLimit: contentInit.downloadLimit,
        uploadLimit: contentInit.uploadLimit,
        seeding: contentInit.seeding,
        stallMs: contentInit.stallMs,
        // Wish lists are signed by the libp2p id: a super-seeding publisher knows a downloader's wire by the BitTorrent id derived from it.
        ...(libp2p !== undefined ? { peerId: libp2p.peerId.toString() } : {}),
        log: init.network?.log,
        discovery: libp2p === undefined
          ? undefined
          : {
              provide: async (sha) => { await provideContent(libp2p, sha) },
              offers: async (sha, signal) => await findContentOffers(libp2p, sha, { signal }),
              holders: async (sha, signal) => (await findContentHolders(libp2p, sha, { signal })).map((h) => h.peer)
            }
      })
      const contentNode = content
      if (libp2p !== undefined) await serveContentOffers(libp2p, async (sha) => await contentNode.offer(sha), async (ih) => await contentNode.torrentOffer(ih))
      const publisherId = net?.publisher.toString()
      const transport: FlashCrowdTransport | undefined = net === undefined || role === 'publisher' || publisherId === undefined
        ? undefined
        : {
            sendWishList: async (release, units) => await sendWishList(net.host.libp2p, net.host.privateKey, publisherId, release, units),
            torrentOffers: async (ih, signal) => await findTorrentOffers(net.host.libp2p, ih, [publisherId], { signal })
          }
      const peer = new EmbeddedPeer(info, token, local, view, node, channelNet, state, bus, channels, init.data, content, init.network?.log, contentInit, { ...init.flashCrowds, transport })
      await peer.flashCrowdsRole.start()
      if (net !== undefined && role === 'publisher') {
        await serveWishLists({ libp2p: net.host.libp2p, sink: (from, release, units) => peer.flashCrowdsRole.receive(from, release, units), onRefused: (from, reason) => init.network?.log?.(`wish list from ${from} refused: ${reason}`) })
      }
      // Downloads that were running when the peer stopped go on (their verified pieces are on disk); holders re-announce.
      void peer.downloadsRole.resume().catch((err: Error) => init.network?.log?.(`resuming downloads failed: ${err.message}`))
      void content.provideAll().catch(() => {})
      // A publisher that stopped between its local commit and the network's catalog sends the rest now.
      if (node?.dissemination !== undefined && node.dissemination.backlog() > 0) {
        void peer.publishing.disseminateBacklog(async () => { await node?.disseminate() }).catch((err: Error) => init.network?.log?.(`backlog dissemination failed: ${err.message}`))
      }
      return peer
    } catch (err) {
      await channelNet?.stop()
      await content?.stop()
      await state?.close()
      await node?.stop()
      await local?.close()
      throw err
    }
  }

  authenticate (token: string | undefined): boolean { return tokenMatches(this.token, token) }

  async search (pattern: string, first: number, after?: string): Promise<Page<MatchRecord>> { return await this.querying.search(pattern, first, after) }
  async explain (pattern: string): Promise<QueryPlan> { return await this.querying.explain(pattern) }
  async packages (where: PackageFilter, first: number, after?: string): Promise<Page<PackageRecord>> { return await this.querying.packages(where, first, after) }
  compileFilter (where: PackageFilter): string { return compileFilter(where) }
  async package (name: string, version?: string, arch?: string): Promise<PackageRecord | undefined> { return await this.querying.package(name, version, arch) }
  async document (id: string): Promise<PackageRecord | UtilityRecord | ReleaseRecord | undefined> { return await this.querying.document(id) }
  async satisfiers (pkg: PackageRecord, relation: RelationInfo): Promise<Satisfier[]> { return await this.relations.satisfiers(pkg, relation) }
  async releases (): Promise<ReleaseRecord[]> { return await this.querying.releases() }
  async release (name: string): Promise<ReleaseRecord | undefined> { return await this.querying.release(name) }

  async network (): Promise<NetworkRecord> {
    const node = this.node
    if (node === undefined) return { self: { ...this.info, addresses: [...this.info.addresses] }, peers: [], indexPeers: 1 }
    const info = await node.info()
    const self: PeerInfo = { ...this.info, addresses: node.addresses() }
    const members = info.members.filter((m) => m.peer !== info.self)
    const peers: PeerInfo[] = members.map((m) => ({ id: m.peer, role: m.role, addresses: m.addrs }))
    const known = new Set(members.map((m) => m.peer))
    for (const p of info.connected) if (!known.has(p)) peers.push({ id: p, role: 'client', addresses: [] })
    const index: IndexStateRecord = {
      indexPeer: info.indexPeer,
      members: info.members.map((m) => ({
        id: m.peer,
        role: m.role,
        addresses: m.addrs,
        ...(m.certificate !== undefined ? { certificateExpires: m.certificate.expires } : {}),
        ...(m.held !== undefined ? { held: m.held } : {}),
        ...(m.repair !== undefined ? { repair: m.repair } : {}),
        lastSeen: new Date(m.lastSeen).toISOString()
      })),
      replicas: node.membership.placement().replicas,
      catalogSeq: info.catalog?.seq ?? 0,
      documents: info.catalog?.live ?? 0,
      postings: info.catalog?.postings ?? 0,
      refused: (info.server?.refused ?? 0) + info.refusedAnnouncements
    }
    if (info.admitted !== undefined) index.admittedUntil = info.admitted.expires
    if (info.held !== undefined) index.held = info.held
    if (info.repair !== undefined) index.repair = info.repair
    const out: NetworkRecord = { self, peers, indexPeers: info.members.length, index }
    if (this.channelNet !== undefined) out.channels = this.channelNet.stats()
    return out
  }

  async admitMirror (peerId: string): Promise<MirrorAdmission> {
    if (this.info.role !== 'publisher') throw new PeerError(`only the publisher admits mirrors; this peer is a ${this.info.role}`, 'FORBIDDEN')
    checkMirrorId(peerId)
    if (this.node === undefined) throw new PeerError('this publisher runs without a network (embedded): there is no mirror to admit', 'UNAVAILABLE')
    try {
      const cert = await this.node.admitMirror(peerId)
      return { mirror: cert.mirror, publisher: cert.publisher, issued: cert.issued, expires: cert.expires }
    } catch (err) {
      const code = (err as { code?: string }).code
      if (code === 'ERR_PEER_UNAVAILABLE') throw new PeerError(`mirror ${peerId} is not reachable: start it with --bootstrap pointing at this publisher, then admit it (${(err as Error).message})`, 'UNAVAILABLE')
      throw err
    }
  }

  async stats (): Promise<{ documents: number, postings: number, terms: number, bytes: number, releases: number }> {
    if (this.local === undefined) {
      // A networked mirror or client: the network's catalog, and what this peer holds of it.
      const info = await this.node?.info()
      const c = this.node?.catalog.current()
      return { documents: c?.live ?? 0, postings: c?.postings ?? 0, terms: info?.held?.heads ?? 0, bytes: info?.held?.bytes ?? 0, releases: c?.releases.length ?? 0 }
    }
    const s = await this.local.stats()
    return { documents: s.documents, postings: s.postings, terms: s.terms, bytes: s.bytes, releases: s.releases.length }
  }

  /**
   * Publishes metadata; the files with `--format dir`, or the `content` files, are stored and seeded before the channels
   * are notified, so subscribers downloading on notification find them held. An attach failure is logged and rejects the
   * publish once the notifications are out (the metadata is published).
   */
  async publish (sources: PublishSource[], options: { release?: string, format?: 'debian' | 'rpm-md' | 'dir', translations?: PublishSource[], content?: PublishSource[], onProgress?: (p: PublishProgress) => void }): Promise<PublishSummary> {
    const content = [...(options.format === 'dir' ? sources : []), ...(options.content ?? [])]
    if (content.length === 0) return await this.publishing.publish(sources, options)
    let attached: PublishSummary['content']
    const summary = await this.publishing.publish(sources, {
      ...options,
      beforeNotify: async (release) => {
        try {
          attached = await this.contentRole.attach(content)
        } catch (err) {
          this.log?.(`publish into ${release.name}: the content was not stored (${(err as Error).message}); notifying anyway`)
          throw err
        }
      }
    })
    return { ...summary, content: attached }
  }

  async torrent (unitId: string): Promise<TorrentRecord | undefined> { return await this.contentRole.torrent(unitId) }
  async replicas (unitId: string): Promise<string[]> { return await this.contentRole.replicas(unitId, this.info.id) }
  async contentStats (scope: { unitId: string } | { release: string }): Promise<ContentStatsRecord> { return await this.contentRole.stats(scope) }
  serveHttp (req: IncomingMessage, res: ServerResponse): boolean { return this.content.handleHttp(req, res) }
  httpListening (baseUrl: string): void { this.content.setHttpBase(baseUrl) }

  async cutRelease (name: string, from?: string): Promise<ReleaseRecord> { return await this.publishing.cutRelease(name, from) }

  async channels (): Promise<ChannelRecord[]> { return await this.channelsRole.list() }
  async channel (name: string): Promise<ChannelRecord | undefined> { return await this.channelsRole.get(name) }
  async createChannel (name: string, description: string, filter?: string): Promise<ChannelRecord> { return await this.channelsRole.create(name, description, filter) }
  async deleteChannel (name: string): Promise<boolean> { return await this.channelsRole.delete(name) }
  follow (channel: string, since: number, signal: AbortSignal, policy: FollowPolicy = 'notify'): AsyncIterable<NotificationRecord> {
    const stream = this.channelsRole.follow(channel, since, signal)
    return policy === 'download' ? this.downloading(stream) : stream
  }

  /** The auto-download policy: each notification starts a download of its added and updated units. */
  private async * downloading (stream: AsyncIterable<NotificationRecord>): AsyncGenerator<NotificationRecord> {
    for await (const n of stream) {
      const units = [...n.added, ...n.updated].map((u) => u.id)
      if (units.length === 0) { yield n; continue }
      try {
        yield { ...n, download: await this.downloadsRole.download({ units }) }
      } catch (err) {
        yield { ...n, downloadError: (err as Error).message }
      }
    }
  }

  async submitWishList (release: string, pattern?: string): Promise<WishListRecord> { return await this.flashCrowdsRole.submit(release, pattern) }
  async startFlashCrowd (input: FlashCrowdStartInput): Promise<FlashCrowdStatus> {
    const bad = (what: string): never => { throw new PeerError(what, 'BAD_USER_INPUT') }
    if (input.windowSeconds !== undefined && !(input.windowSeconds > 0 && input.windowSeconds <= 86_400)) bad(`windowSeconds must be in (0, 86400], not ${input.windowSeconds}`)
    if (input.maxTorrents !== undefined && !(Number.isInteger(input.maxTorrents) && input.maxTorrents >= 1 && input.maxTorrents <= 4096)) bad(`maxTorrents must be an integer in [1, 4096], not ${input.maxTorrents}`)
    if (input.wasteBudget !== undefined && !(input.wasteBudget >= 0 && input.wasteBudget <= 10)) bad(`wasteBudget must be a fraction in [0, 10], not ${input.wasteBudget}`)
    if (input.expectedPeers !== undefined && !(Number.isInteger(input.expectedPeers) && input.expectedPeers >= 1)) bad(`expectedPeers must be a positive integer, not ${input.expectedPeers}`)
    return await this.flashCrowdsRole.open(input.release, {
      windowMs: (input.windowSeconds ?? 30) * 1000,
      ...(input.maxTorrents !== undefined ? { maxTorrents: input.maxTorrents } : {}),
      ...(input.wasteBudget !== undefined ? { wasteBudget: input.wasteBudget } : {}),
      ...(input.expectedPeers !== undefined ? { expectedPeers: input.expectedPeers } : {})
    })
  }

  async closeFlashCrowd (release: string): Promise<FlashCrowdStatus> { return this.flashCrowdsRole.closeWindow(release) }
  async flashCrowd (release: string): Promise<FlashCrowdStatus | undefined> { return this.flashCrowdsRole.status(release) }
  async flashCrowds (): Promise<FlashCrowdStatus[]> { return this.flashCrowdsRole.list() }
  followFlashCrowd (release: string, signal: AbortSignal): AsyncIterable<FlashCrowdStatus> { return this.flashCrowdsRole.follow(release, signal) }
  async addContent (sources: PublishSource[]): Promise<{ stored: number, unmatched: string[] }> { return await this.contentRole.attach(sources) }
  async download (input: { units?: string[], pattern?: string }): Promise<DownloadRecord> { return await this.downloadsRole.download(input) }
  async cancelDownload (id: string): Promise<DownloadRecord> { return await this.downloadsRole.cancel(id) }
  async downloads (): Promise<DownloadRecord[]> { return await this.downloadsRole.list() }
  downloadProgress (id: string, signal: AbortSignal): AsyncIterable<DownloadRecord> { return this.downloadsRole.progress(id, signal) }

  events (signal: AbortSignal): AsyncIterable<PeerEvent> { return this.bus.subscribe({ signal }) }

  /** Waits for a running publish, ends every subscription, closes both stores. Idempotent. */
  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      await this.publishing.idle()
      this.flashCrowdsRole.stop()
      await this.downloadsRole.stop()
      await this.content.stop()
      this.bus.close()
      await this.channelNet?.stop()
      await this.node?.stop()
      await this.state.close()
      await this.local?.close()
    })()
    await this.stopped
  }
}
