/**
 * The records and operations a peer offers: the contract between the
 * GraphQL layer (src/resolvers, src/server) and the peer (src/actors over
 * src/roles). It lives with the roles that produce the records, so that
 * dependencies point downward; src/actors re-exports it. Resolvers see only
 * these types: nothing below resolvers imports GraphQL, and resolvers never
 * reach past this interface into the store.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import type { StoredChannel } from '../channels/types.ts'
import type { FlashCrowdAnnouncement, FlashCrowdStatus } from '../torrents/flash-crowd/types.ts'

export type PeerRole = 'publisher' | 'mirror' | 'client'

export type UnitKind = 'package' | 'utility'

export interface RelationInfo {
  name: string
  op?: '<<' | '<=' | '=' | '>=' | '>>'
  version?: string
  arch?: string
}

/** One dependency clause: a single relation, or alternatives (`a | b`). */
export interface RelationClause {
  alternatives: RelationInfo[]
}

/** The relation fields of a package, in document order. */
export const RELATION_KINDS = ['depends', 'preDepends', 'recommends', 'suggests', 'enhances', 'provides', 'conflicts', 'breaks', 'replaces', 'obsoletes'] as const
export type RelationKind = typeof RELATION_KINDS[number]

/** A package document, as the metadata says (every field of DESIGN.md's package XML). */
export interface PackageRecord {
  docId: number
  id: string
  name: string
  version: string
  arch: string
  summary?: string
  description?: string
  section?: string
  priority?: string
  license?: string
  maintainer?: string
  homepage?: string
  source?: string
  size?: number
  installedSize?: number
  checksum?: { type: string, value: string }
  location?: string
  group?: string
  epoch?: string
  release?: string
  files: string[]
  tags: string[]
  relations: Record<RelationKind, RelationClause[]>
  xml: string
}

export interface UtilityRecord {
  docId: number
  id: string
  name: string
  version: string
  size?: number
  checksum?: { type: string, value: string }
  location?: string
  summary?: string
  xml: string
}

export interface CollectionNode {
  name: string
  /** Names from the release down to this collection. */
  path: string[]
  collections: CollectionNode[]
  units: Array<{ kind: UnitKind, name: string, version: string, arch?: string, id: string }>
}

export interface ReleaseRecord {
  name: string
  version: string
  date: string
  units: number
  docId: number
  id: string
  root: CollectionNode
}

/** One answer of a tree pattern: the document, the node's canonical path and its XML. */
export interface MatchRecord { docId: number, doc: string, path: string, xml: string, cursor: string }

export interface Page<T> {
  items: Array<{ node: T, cursor: string }>
  total: number
  startCursor: string | null
  endCursor: string | null
  hasNextPage: boolean
  hasPreviousPage: boolean
}

/** The structured filter of `packages(where:)`, compiled to a tree pattern. */
export interface PackageFilter {
  name?: string
  nameStartsWith?: string
  version?: string
  arch?: string
  section?: string
  license?: string
  /** Every word must appear in the description or summary (contains-word). */
  words?: string[]
  /** Depends (or pre-depends) on a package of this name. */
  dependsOn?: string
  minSize?: number
  maxSize?: number
  /** Only packages listed in this release. */
  release?: string
}

/** A package that satisfies a relation, and how (its own name and version, or one of its provides). */
export interface Satisfier { package: PackageRecord, via: 'name' | 'provides' }

/** A channel as peers store it (its signed definition and newest logged seq): the channels layer's record. */
export type ChannelRecord = StoredChannel

export interface NotificationUnit { kind: UnitKind, id: string, name: string, version: string, arch?: string, checksum?: string }

export interface NotificationRecord {
  channel: string
  seq: number
  release: string
  date: string
  added: NotificationUnit[]
  updated: NotificationUnit[]
  removed: NotificationUnit[]
  /** On `releases`: a flash crowd's window opening or its cluster torrents (no units then). */
  flashCrowd?: FlashCrowdAnnouncement
  /** Part `part` of `parts` consecutive notifications announcing one publish too large for one (src/channels UNITS_PER_PART). */
  part?: number
  parts?: number
  /** base64url Ed25519 signature by the publisher key over every other field (empty on an embedded peer; see src/channels/signing.ts). */
  signature: string
  /** With the auto-download policy: the download this notification started, or why none could start. */
  download?: DownloadRecord
  downloadError?: string
}

/** A subscriber's freshness policy: 'notify' only, or 'download' the announced units automatically. */
export type FollowPolicy = 'notify' | 'download'

/** The channel transport of a networked peer, as `network` reports it. */
export interface ChannelTransportRecord {
  /** Notifications and definitions refused: bad signature or malformed (forgeries). */
  refused: number
  /** Received live on gossipsub and logged. */
  live: number
  /** Fetched from other peers' logs (gaps, restarts). */
  fetched: number
  /** Received ahead of a gap, waiting for the range before them. */
  pending: number
  topics: number
}

export type DownloadState = 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED'

export interface DownloadRecord {
  id: string
  state: DownloadState
  units: string[]
  bytesTotal: number
  bytesDone: number
  error?: string
  startedAt: string
  /** Units verified and stored so far. */
  unitsDone?: number
  /** Bytes received over the network by this run (a resumed or already-held unit adds less than its size). */
  bytesReceived?: number
  /** Peers (BitTorrent and web seeds) the running transfers are connected to. */
  peers?: number
  /** Receive rate, bytes per second. */
  rate?: number
  /** Seconds left at the current rate (absent when nothing is moving). */
  etaSeconds?: number
  completedAt?: string
}

/** A unit's torrent as any BitTorrent client can join it. */
export interface TorrentRecord { infoHash: string, magnetURI: string, url?: string }

/** Changing properties of content on this peer (per unit, summed per release). */
export interface ContentStatsRecord { downloads: number, bytesDownloaded: number, bytesUploaded: number, held: number }

/**
 * A wish list (the release's units, narrowed to `pattern`, minus identical
 * units held). state: RECORDED (kept here: an embedded peer or the
 * publisher), SENT (inside the publisher's window), LATE (after it: the
 * existing clusters are joined), DOWNLOADING, COMPLETED, FAILED.
 */
export interface WishListRecord {
  release: string
  units: string[]
  bytes: number
  /** Units of the release (within the pattern) left out because this peer holds them, identical. */
  held: number
  heldBytes: number
  pattern?: string
  submittedAt: string
  state: 'RECORDED' | 'SENT' | 'LATE' | 'DOWNLOADING' | 'COMPLETED' | 'FAILED'
}

export type { FlashCrowdStatus, FlashCrowdAnnouncement }

/** What the publisher sets for one flash crowd (see FlashCrowdSettings in src/torrents/flash-crowd). */
export interface FlashCrowdStartInput {
  release: string
  windowSeconds?: number
  maxTorrents?: number
  wasteBudget?: number
  /** Close the window early once this many peers have sent wish lists. */
  expectedPeers?: number
}

export interface PeerInfo { id: string, role: PeerRole, addresses: string[], graphql?: string }

/** An index peer as the membership view shows it. */
export interface IndexPeerRecord {
  id: string
  role: 'publisher' | 'mirror'
  addresses: string[]
  /** Expiry of its mirror certificate (mirrors). */
  certificateExpires?: string
  held?: { heads: number, blocks: number, docs: number, postings: number }
  repair?: RepairRecord
  /** ISO time its latest announcement arrived. */
  lastSeen: string
}

export interface RepairRecord { running: boolean, checked: number, sent: number, lastRun?: string, error?: string }

/** This peer's part in the distributed index. */
export interface IndexStateRecord {
  /** Holds index data (the publisher, an admitted mirror). */
  indexPeer: boolean
  /** Expiry of this mirror's certificate, when admitted. */
  admittedUntil?: string
  members: IndexPeerRecord[]
  replicas: number
  catalogSeq: number
  documents: number
  postings: number
  held?: { heads: number, blocks: number, chunks: number, postings: number, docs: number, ids: number, bytes: number }
  repair?: RepairRecord
  /** Writes and announcements this peer refused (forged, replayed, unauthorised). */
  refused: number
}

export interface NetworkRecord {
  self: PeerInfo
  /** Index peers, then other connected peers. */
  peers: PeerInfo[]
  indexPeers: number
  /** Absent on the embedded peer (no network). */
  index?: IndexStateRecord
  /** Absent on the embedded peer (no network). */
  channels?: ChannelTransportRecord
}

export interface MirrorAdmission { mirror: string, publisher: string, issued: string, expires: string }

/** Wall-clock seconds of each step of a publish. */
export interface PublishTimes {
  /** Reading the files into the local store (the summary's `seconds`). */
  importSeconds: number
  /** Sending the new postings and documents to the index peers (0 without a network). */
  indexSeconds: number
  /** Storing and seeding the content given with the publish. */
  contentSeconds: number
  /** Building, signing, logging and sending the channels' notifications. */
  notifySeconds: number
  totalSeconds: number
}

export interface PublishSummary {
  release: string, units: number, rejected: number, replaced: number, postings: number, rejections: string[]
  /** Seconds of the local import (`times` has every step). */
  seconds: number
  times?: PublishTimes
  /** Content files stored and seeded (matched to units by sha256), and files no unit names. */
  content?: { stored: number, unmatched: string[] }
}

/** An input file for publishing: uploaded bytes, or a path on the peer's machine (authenticated callers only). */
export type PublishSource = { kind: 'upload', name: string, bytes: () => Promise<Uint8Array> } | { kind: 'path', path: string }

export interface PublishProgress {
  bytesRead: number
  bytesTotal: number
  units: number
  /** 'read': importing locally; 'index': sending postings to the index peers; 'catalog': making it visible; 'done'. */
  phase?: 'read' | 'index' | 'catalog' | 'done'
  /** Postings each index peer acknowledged so far (networked publisher). */
  postingsSent?: Array<{ peer: string, postings: number }>
}

export type PeerEvent =
  | { type: 'release-published', release: ReleaseRecord, summary: PublishSummary }
  | { type: 'notification', notification: NotificationRecord }
  | { type: 'download-progress', download: DownloadRecord }
  | { type: 'publish-progress', release: string, progress: PublishProgress }
  | { type: 'flash-crowd', status: FlashCrowdStatus }

/** What the GraphQL layer asks of a peer. Errors are PeerError (src/actors/errors.ts) with a `code`. */
export interface PeerApi {
  readonly info: PeerInfo
  /** Checks a bearer token for the publisher-only operations. */
  authenticate: (token: string | undefined) => boolean

  search: (pattern: string, first: number, after?: string) => Promise<Page<MatchRecord>>
  explain: (pattern: string) => Promise<QueryPlan>
  packages: (where: PackageFilter, first: number, after?: string) => Promise<Page<PackageRecord>>
  /** The pattern a filter compiles to. */
  compileFilter: (where: PackageFilter) => string
  package: (name: string, version?: string, arch?: string) => Promise<PackageRecord | undefined>
  /** Any document by its id (`pkg/...`, `util/...`, `release/...`). */
  document: (id: string) => Promise<PackageRecord | UtilityRecord | ReleaseRecord | undefined>
  /** Packages of the same release(s) as `pkg` that satisfy a relation (name or provides, with Debian/RPM version ordering). */
  satisfiers: (pkg: PackageRecord, relation: RelationInfo) => Promise<Satisfier[]>
  releases: () => Promise<ReleaseRecord[]>
  release: (name: string) => Promise<ReleaseRecord | undefined>
  network: () => Promise<NetworkRecord>
  /** Publisher: signs a mirror certificate and delivers it to the running mirror, which becomes an index peer. */
  admitMirror: (peerId: string) => Promise<MirrorAdmission>
  stats: () => Promise<{ documents: number, postings: number, terms: number, bytes: number, releases: number }>

  publish: (sources: PublishSource[], options: { release?: string, format?: 'debian' | 'rpm-md' | 'dir', translations?: PublishSource[], content?: PublishSource[], onProgress?: (p: PublishProgress) => void }) => Promise<PublishSummary>
  /** Turns the current state of release `from` (default: the most recent) into a new named release. */
  cutRelease: (name: string, from?: string) => Promise<ReleaseRecord>

  channels: () => Promise<ChannelRecord[]>
  channel: (name: string) => Promise<ChannelRecord | undefined>
  createChannel: (name: string, description: string, filter?: string) => Promise<ChannelRecord>
  deleteChannel: (name: string) => Promise<boolean>
  /** Logged notifications after `since`, then live ones, with no gap and no duplicate. Ends when `signal` aborts. */
  follow: (channel: string, since: number, signal: AbortSignal, policy?: FollowPolicy) => AsyncIterable<NotificationRecord>

  /** Computes this peer's wish list for a release (narrowed to a pattern's units) and, networked, sends it and takes part. */
  submitWishList: (release: string, pattern?: string) => Promise<WishListRecord>
  /** The publisher opens a flash crowd's collection window. */
  startFlashCrowd?: (input: FlashCrowdStartInput) => Promise<FlashCrowdStatus>
  /** The publisher closes a running window now. */
  closeFlashCrowd?: (release: string) => Promise<FlashCrowdStatus>
  /** This peer's view of a release's flash crowd (either side). */
  flashCrowd?: (release: string) => Promise<FlashCrowdStatus | undefined>
  flashCrowds?: () => Promise<FlashCrowdStatus[]>
  /** The status now, then every change. */
  followFlashCrowd?: (release: string, signal: AbortSignal) => AsyncIterable<FlashCrowdStatus>
  /** Adds files this peer already has (e.g. a package cache) to its content store: matched to units by sha256. */
  addContent?: (sources: PublishSource[]) => Promise<{ stored: number, unmatched: string[] }>
  download: (input: { units?: string[], pattern?: string }) => Promise<DownloadRecord>
  cancelDownload: (id: string) => Promise<DownloadRecord>
  downloads: () => Promise<DownloadRecord[]>
  /** The unit's torrent when this peer holds its content (the content issue; optional for peers without a store). */
  torrent?: (unitId: string) => Promise<TorrentRecord | undefined>
  /** Peer ids that hold the unit's content (provider records), this peer first when it holds it. */
  replicas?: (unitId: string) => Promise<string[]>
  /** Download statistics of a unit (`unitId`) or of every unit of a release (`release`). */
  contentStats?: (scope: { unitId: string } | { release: string }) => Promise<ContentStatsRecord>
  /** Routes the peer serves beside GraphQL on its HTTP port (tracker, web seed, .torrent files); false when not one of them. */
  serveHttp?: (req: IncomingMessage, res: ServerResponse) => boolean
  /** Told the HTTP base URL (http://host:port) once the server listens. */
  httpListening?: (baseUrl: string) => void
  downloadProgress: (id: string, signal: AbortSignal) => AsyncIterable<DownloadRecord>

  events: (signal: AbortSignal) => AsyncIterable<PeerEvent>
  stop: () => Promise<void>
}
