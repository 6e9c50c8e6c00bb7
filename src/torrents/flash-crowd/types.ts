/**
 * The flash crowd as both sides see it: what the publisher announces on the
 * `releases` channel, and the status (typed progress events) that the
 * GraphQL subscription, the CLI and the console show.
 */

/** One cluster torrent as announced: who may join it needs its infohash and its units in file order. */
export interface AnnouncedCluster {
  id: string
  infoHash: string
  /** Unit ids in torrent file order. */
  units: string[]
  bytes: number
  pieceLength: number
}

/**
 * A flash crowd's announcement on the `releases` channel (inside a signed
 * notification): `open` when the collection window opens (peers send wish
 * lists), `clusters` when the cluster torrents are seeded.
 */
export interface FlashCrowdAnnouncement {
  phase: 'open' | 'clusters'
  release: string
  /** Open: when the window closes at the latest (ISO time). */
  closesAt?: string
  /** Clusters: the torrents to join. */
  clusters?: AnnouncedCluster[]
}

export type FlashCrowdSide = 'publisher' | 'peer'

export type FlashCrowdState =
  /** Publisher: the window is open. Peer: its wish list is sent, the clusters are not announced yet. */
  | 'collecting'
  | 'clustering'
  | 'seeding'
  /** Publisher: clusters announced and seeded. */
  | 'announced'
  | 'downloading'
  | 'completed'
  | 'failed'

export interface ClusterStatus {
  id: string
  infoHash?: string
  /** Units in the torrent. */
  units: number
  bytes: number
  pieceLength: number
  /** Peers whose wish list it covers in part. */
  requesters: number
  /** Bytes its requesters receive without wanting them (the clustering's exact figure). */
  waste: number
  /** Publisher: bytes it uploaded on this torrent. */
  uploaded?: number
  /** Peer: units of it this peer selected. */
  selected?: number
  bytesDone?: number
  bytesTotal?: number
  peers?: number
  rate?: number
  state?: 'waiting' | 'downloading' | 'done' | 'failed'
  /** Peer: bytes of verified pieces minus the selected files' bytes (the waste, measured). */
  wasteMeasured?: number
}

export interface RequesterStatus {
  peer: string
  units: number
  bytes: number
  late: boolean
  /**
   * Publisher: bytes of this peer's wish list it holds in the cluster
   * torrents, as its BitTorrent HAVE messages tell the publisher (pieces
   * straddling a boundary count in part). Absent until it joins a torrent.
   */
  bytesDone?: number
}

/** A flash crowd's status on one peer: published as a progress event on every change. */
export interface FlashCrowdStatus {
  release: string
  side: FlashCrowdSide
  state: FlashCrowdState
  startedAt: string
  updatedAt: string
  closesAt?: string
  /** Publisher: wish lists received in the window (late ones apart). */
  wishLists: number
  expectedPeers?: number
  requesters: RequesterStatus[]
  clusters: ClusterStatus[]
  maxTorrents?: number
  exactClusters?: number
  wantedBytes?: number
  wasteBytes?: number
  wastePercent?: number
  /** The same clusters downloaded whole (no per-file selection), for comparison. */
  wasteWithoutSelection?: number
  clusteringMs?: number
  /** Publisher: bytes uploaded over every cluster torrent. */
  uploaded?: number
  /** Units wanted that no cluster covers (the publisher holds no content for them): fetched one by one. */
  uncovered: number
  /** Peer: its wish list. */
  wishList?: { units: number, bytes: number, held: number, heldBytes: number }
  bytesDone: number
  bytesTotal: number
  /** Peer: bytes received over the network. */
  received: number
  /** Peer: bytes of pieces received beyond its wish list, measured. */
  wasteMeasured: number
  peers: number
  rate: number
  error?: string
}

export class FlashCrowdError extends Error {
  constructor (message: string, readonly code: 'ERR_FLASH_CROWD_EXISTS' | 'ERR_NO_FLASH_CROWD' | 'ERR_FLASH_CROWD_TORRENT' | 'ERR_FLASH_CROWD_SETTINGS') {
    super(message)
    this.name = 'FlashCrowdError'
  }
}
