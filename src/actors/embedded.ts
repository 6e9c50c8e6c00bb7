/**
 * The embedded peer: one process, one data folder, every role composed
 * over the local index. It is what `edos serve` runs until the DHT issue
 * adds the network; the GraphQL layer sees only PeerApi.
 *
 * DATA/index  the EmbeddedIndex store      DATA/state  channels, logs, downloads, wish lists
 * DATA/api-token  bearer token (0600)      DATA/peer-id  stable id     DATA/tmp  uploads being read
 */
import { join } from 'node:path'
import { EmbeddedIndex } from '../xml-twig-index/embedded.ts'
import type { QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import { Channels } from '../roles/channels.ts'
import { Downloads } from '../roles/downloads.ts'
import { EventBus } from '../roles/events.ts'
import { Publishing } from '../roles/publishing.ts'
import { compileFilter, Querying } from '../roles/querying.ts'
import { Relations } from '../roles/relations.ts'
import { PeerState } from '../roles/state.ts'
import { WishLists } from '../roles/wishlists.ts'
import { loadApiToken, loadPeerId, tokenMatches } from './identity.ts'
import type {
  ChannelRecord, DownloadRecord, MatchRecord, NetworkRecord, NotificationRecord, Page, PackageFilter, PackageRecord, PeerApi, PeerEvent,
  PeerInfo, PeerRole, PublishProgress, PublishSource, PublishSummary, ReleaseRecord, RelationInfo, Satisfier, UtilityRecord, WishListRecord
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
}

export class EmbeddedPeer implements PeerApi {
  private stopped: Promise<void> | undefined
  private readonly querying: Querying
  private readonly relations: Relations
  private readonly publishing: Publishing
  private readonly downloadsRole: Downloads
  private readonly wishLists: WishLists

  private constructor (
    readonly info: PeerInfo,
    private readonly token: string,
    readonly index: EmbeddedIndex,
    private readonly state: PeerState,
    private readonly bus: EventBus<PeerEvent>,
    private readonly channelsRole: Channels,
    data: string
  ) {
    this.querying = new Querying(index)
    this.relations = new Relations(this.querying)
    this.publishing = new Publishing({
      index, querying: this.querying, bus, data, role: info.role,
      onReleaseChanged: async (change) => { await channelsRole.notify(change) }
    })
    this.downloadsRole = new Downloads({ state, bus, index })
    this.wishLists = new WishLists({ state, index, querying: this.querying })
  }

  static async start (init: EmbeddedPeerInit): Promise<EmbeddedPeer> {
    const role = init.role ?? 'publisher'
    const token = await loadApiToken(join(init.data, 'api-token'))
    const id = await loadPeerId(join(init.data, 'peer-id'))
    const index = await EmbeddedIndex.open({ path: init.data })
    let state: PeerState | undefined
    try {
      state = await PeerState.open(join(init.data, 'state'))
      const bus = new EventBus<PeerEvent>({ capacity: init.eventCapacity })
      const channels = await Channels.open({ state, bus, index, role })
      const info: PeerInfo = { id, role, addresses: [] }
      if (init.graphqlUrl !== undefined) info.graphql = init.graphqlUrl
      return new EmbeddedPeer(info, token, index, state, bus, channels, init.data)
    } catch (err) {
      await state?.close()
      await index.close()
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
    // One peer, no network yet: the index is this peer alone.
    return { self: { ...this.info, addresses: [...this.info.addresses] }, peers: [], indexPeers: 1 }
  }

  async stats (): Promise<{ documents: number, postings: number, terms: number, bytes: number, releases: number }> {
    const s = await this.index.stats()
    return { documents: s.documents, postings: s.postings, terms: s.terms, bytes: s.bytes, releases: s.releases.length }
  }

  async publish (sources: PublishSource[], options: { release?: string, format?: 'debian' | 'rpm-md' | 'dir', translations?: PublishSource[], onProgress?: (p: PublishProgress) => void }): Promise<PublishSummary> {
    return await this.publishing.publish(sources, options)
  }

  async cutRelease (name: string, from?: string): Promise<ReleaseRecord> { return await this.publishing.cutRelease(name, from) }

  async channels (): Promise<ChannelRecord[]> { return await this.channelsRole.list() }
  async channel (name: string): Promise<ChannelRecord | undefined> { return await this.channelsRole.get(name) }
  async createChannel (name: string, description: string, filter?: string): Promise<ChannelRecord> { return await this.channelsRole.create(name, description, filter) }
  async deleteChannel (name: string): Promise<boolean> { return await this.channelsRole.delete(name) }
  follow (channel: string, since: number, signal: AbortSignal): AsyncIterable<NotificationRecord> { return this.channelsRole.follow(channel, since, signal) }

  async submitWishList (release: string): Promise<WishListRecord> { return await this.wishLists.submit(release) }
  async download (input: { units?: string[], pattern?: string }): Promise<DownloadRecord> { return await this.downloadsRole.download(input) }
  async cancelDownload (id: string): Promise<DownloadRecord> { return await this.downloadsRole.cancel(id) }
  async downloads (): Promise<DownloadRecord[]> { return await this.downloadsRole.list() }
  downloadProgress (id: string, signal: AbortSignal): AsyncIterable<DownloadRecord> { return this.downloadsRole.progress(id, signal) }

  events (signal: AbortSignal): AsyncIterable<PeerEvent> { return this.bus.subscribe({ signal }) }

  /** Waits for a running publish, ends every subscription, closes both stores. Idempotent. */
  async stop (): Promise<void> {
    this.stopped ??= (async () => {
      await this.publishing.idle()
      this.bus.close()
      await this.state.close()
      await this.index.close()
    })()
    await this.stopped
  }
}
