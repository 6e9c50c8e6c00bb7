/**
 * What travels on channels: definitions (the publisher's channel list) and
 * numbered notifications, both signed by the publisher key. These are the
 * records the roles layer logs and GraphQL serves (structurally the same as
 * ChannelRecord / NotificationRecord in src/roles/types.ts).
 */

export type ChannelUnitKind = 'package' | 'utility'

/** One unit a notification announces: identifier and checksum (`sha256:<hex>`). */
export interface ChannelUnit { kind: ChannelUnitKind, id: string, name: string, version: string, arch?: string, checksum?: string }

/** A channel as a peer stores it: its signed definition plus the newest seq logged here. */
export interface StoredChannel {
  name: string
  description: string
  filter?: string
  createdAt: string
  lastSeq: number
  /** Publisher signature over the definition (name, description, filter, createdAt); absent on an embedded peer. */
  signature?: string
}

export type ChannelDefinition = Pick<StoredChannel, 'name' | 'description' | 'filter' | 'createdAt'> & { signature: string }

export interface ChannelNotification {
  channel: string
  seq: number
  release: string
  date: string
  added: ChannelUnit[]
  updated: ChannelUnit[]
  removed: ChannelUnit[]
  /** On the `releases` channel: a flash crowd's window opening, or its cluster torrents. */
  flashCrowd?: ChannelFlashCrowd
  /**
   * A publish that changes more units than one notification carries
   * (UNITS_PER_PART) is announced as `parts` notifications with consecutive
   * seqs; this is part `part` (1-based). Absent on a whole one.
   */
  part?: number
  parts?: number
  /** base64url Ed25519 signature by the publisher key over everything above ('' on an embedded peer). */
  signature: string
}

/** A flash crowd announcement (src/torrents/flash-crowd's FlashCrowdAnnouncement, as the channel carries it). */
export interface ChannelFlashCrowd {
  phase: 'open' | 'clusters'
  release: string
  closesAt?: string
  clusters?: Array<{ id: string, infoHash: string, units: string[], bytes: number, pieceLength: number }>
}

/**
 * The durable per-channel log (LevelDB on every networked peer; the roles
 * layer's PeerState implements it). appendNotifications writes the channel
 * records and their entries in one batch: a notification is logged exactly
 * when its seq becomes the channel's lastSeq.
 */
export interface ChannelStore {
  getChannel: (name: string) => Promise<StoredChannel | undefined>
  listChannels: () => Promise<StoredChannel[]>
  putChannel: (channel: StoredChannel) => Promise<void>
  appendNotifications: (updates: Array<{ channel: StoredChannel, notification: ChannelNotification }>) => Promise<void>
  /** Logged notifications with since < seq <= until, in seq order. */
  readLog: (channel: string, since: number, until?: number) => AsyncIterable<ChannelNotification>
}

/** Observable counters of a peer's channel transport. */
export interface ChannelNetworkStats {
  /** Notifications or definitions refused: bad signature or malformed (forgeries). */
  refused: number
  /** Notifications received live on gossipsub and logged. */
  live: number
  /** Notifications fetched from other peers (gaps, catch-up after a restart). */
  fetched: number
  /** Notifications received ahead of a gap, waiting for the missing range. */
  pending: number
  /** Topics this peer is subscribed to. */
  topics: number
}
