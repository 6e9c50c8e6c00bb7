/**
 * The peer's own durable state (DATA/state, LevelDB): channels and their
 * logs, downloads, wish lists. Kept apart from the index store: the index
 * is replicated metadata, this is what one peer did and promised.
 */
import { ClassicLevel } from 'classic-level'
import type { ChannelRecord, DownloadRecord, NotificationRecord, WishListRecord } from './types.ts'

/** Zero-padded so that LevelDB's byte order is numeric order. */
const SEQ_DIGITS = 12
export const seqKey = (channel: string, seq: number): string => `${channel}!${String(seq).padStart(SEQ_DIGITS, '0')}`

export class PeerState {
  readonly channels
  readonly log
  readonly downloads
  readonly wishLists

  private constructor (private readonly db: ClassicLevel<string, string>) {
    this.channels = db.sublevel<string, ChannelRecord>('channels', { valueEncoding: 'json' })
    // Key `<channel>!<seq>`: channel names cannot hold '!', so one channel's entries are one key range.
    this.log = db.sublevel<string, NotificationRecord>('log', { valueEncoding: 'json' })
    this.downloads = db.sublevel<string, DownloadRecord>('downloads', { valueEncoding: 'json' })
    this.wishLists = db.sublevel<string, WishListRecord>('wishlists', { valueEncoding: 'json' })
  }

  static async open (path: string): Promise<PeerState> {
    const db = new ClassicLevel<string, string>(path, { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.open()
    return new PeerState(db)
  }

  async getChannel (name: string): Promise<ChannelRecord | undefined> { return await this.channels.get(name) }
  async putChannel (channel: ChannelRecord): Promise<void> { await this.channels.put(channel.name, channel) }
  async listChannels (): Promise<ChannelRecord[]> {
    const out: ChannelRecord[] = []
    for await (const v of this.channels.values()) out.push(v)
    return out
  }

  /** Logged notifications of a channel with since < seq <= until, in seq order. */
  async * readLog (channel: string, since: number, until = Number.MAX_SAFE_INTEGER): AsyncGenerator<NotificationRecord> {
    const upper = Math.min(until, 10 ** SEQ_DIGITS - 1)
    for await (const v of this.log.values({ gt: seqKey(channel, Math.max(0, since)), lte: seqKey(channel, upper) })) yield v
  }

  /** Atomically writes channel records and their new log entries (a notification is logged exactly when its seq is taken). */
  async appendNotifications (updates: Array<{ channel: ChannelRecord, notification: NotificationRecord }>): Promise<void> {
    if (updates.length === 0) return
    const batch = this.db.batch()
    for (const u of updates) {
      batch.put(u.channel.name, u.channel, { sublevel: this.channels as never })
      batch.put(seqKey(u.channel.name, u.notification.seq), u.notification, { sublevel: this.log as never })
    }
    await batch.write()
  }

  async deleteChannel (name: string): Promise<void> {
    const batch = this.db.batch()
    batch.del(name, { sublevel: this.channels as never })
    for await (const k of this.log.keys({ gt: `${name}!`, lt: `${name}"` })) batch.del(k, { sublevel: this.log as never })
    await batch.write()
  }

  async close (): Promise<void> { await this.db.close() }
}
