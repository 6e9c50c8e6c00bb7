/**
 * Channels on the embedded peer: named, optionally filtered streams of
 * what publishes change, numbered per channel and logged durably in
 * DATA/state so a subscriber resumes with `since: N` and misses nothing.
 *
 * On a networked publisher every definition and notification is signed
 * by the publisher key and sent on gossipsub (src/channels); mirrors and
 * clients log what their ChannelNetwork verified and emit it on the same
 * bus, so `follow` is one code path on every peer. An embedded peer signs
 * nothing (`signature: ''`).
 */
import { releaseEntryKey } from '../xml-twig-index/documents/index.ts'
import { SerialQueue } from '../channels/serial.ts'
import type { ChannelRecord, NotificationRecord, NotificationUnit, PeerEvent, PeerRole } from './types.ts'
import { PeerError } from './errors.ts'
import type { IndexStoreView, IndexView } from './index-view.ts'
import { QueryParseError } from '../xml-twig-index/errors.ts'
import { hasAnswer, parseQuery, type Query } from '../xml-twig-index/query/index.ts'
import { parseXml } from '../xml-twig-index/xml/parse.ts'
import { docRecordIdEnd, docRecordXml } from '../xml-twig-index/store/keys.ts'
import type { XElement } from '../xml-twig-index/xml/tree.ts'
import type { EventBus } from './events.ts'
import type { ReleaseChange, ReleaseUnit } from './publishing.ts'
import type { PeerState } from './state.ts'
import { UNITS_PER_PART, channelUnit, type ChannelNetwork } from '../channels/index.ts'
import type { FlashCrowdAnnouncement } from '../torrents/flash-crowd/index.ts'

/** What the channels role needs of the network: a publisher signs and sends. */
export type ChannelTransport = Pick<ChannelNetwork, 'signDefinition' | 'announce' | 'sign' | 'send'>

/** The channel that announces every publish and every new release; it always exists. */
export const RELEASES_CHANNEL = 'releases'
const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/
const DOC_BATCH = 256
/** Documents read at once from a store that holds them (getDocumentRecords): one read each of ids and records per 4,096. */
const RECORD_BATCH = 4096

/** A channel filter that does not parse: BAD_USER_INPUT, with the parser's position and expectation. */
export class ChannelFilterError extends PeerError {
  constructor (readonly filter: string, readonly position: number, readonly expected: string, message: string) {
    super(`invalid channel filter at position ${position}: ${message}`, 'BAD_USER_INPUT')
    this.name = 'ChannelFilterError'
  }
}

export interface ChannelsInit {
  state: PeerState
  bus: EventBus<PeerEvent>
  index: IndexView
  /**
   * Where the changed units' documents are read. Default: index.store. The
   * networked publisher gives its own store: it holds every document, and
   * reading a release's worth (R1: 63,440) back from the mirrors cost them
   * and it seconds of every publish.
   */
  documents?: IndexStoreView
  role: PeerRole
  /** The networked publisher's transport; undefined on an embedded peer and on mirrors and clients (they only receive). */
  network?: ChannelTransport
}

const CHECKSUM_OPEN = Buffer.from('<checksum type="')
const CHECKSUM_CLOSE = Buffer.from('</checksum>')

/** checksumOf a stored record (id, 00, XML): the element is found in the bytes and only it is decoded. */
function checksumOfRecord (record: Uint8Array): string | undefined {
  const b = Buffer.from(record.buffer, record.byteOffset, record.byteLength)
  const at = b.indexOf(CHECKSUM_OPEN, docRecordIdEnd(record) + 1)
  const end = at < 0 ? -1 : b.indexOf(CHECKSUM_CLOSE, at)
  const found = end < 0 ? undefined : checksumOf(b.toString('utf8', at, end + CHECKSUM_CLOSE.length))
  // the first element is the one the builders write; anything else is read as checksumOf reads the whole text
  return found ?? checksumOf(docRecordXml(record))
}

function checksumOf (xml: string): string | undefined {
  // The document's own checksum element (a direct child, written once by the builders; unitChecksum reads it from a tree).
  const m = /<checksum type="([a-z0-9]+)">([0-9a-f]+)<\/checksum>/.exec(xml)
  return m == null ? undefined : `${m[1]}:${m[2]}`
}

export class Channels {
  private readonly filters = new Map<string, Query>()

  private constructor (private readonly init: ChannelsInit) {}

  static async open (init: ChannelsInit): Promise<Channels> {
    const c = new Channels(init)
    if (await init.state.channels.get(RELEASES_CHANNEL) === undefined) {
      await init.state.channels.put(RELEASES_CHANNEL, { name: RELEASES_CHANNEL, description: 'Every publish and every new release', createdAt: new Date().toISOString(), lastSeq: 0 })
    }
    return c
  }

  async list (): Promise<ChannelRecord[]> {
    const out: ChannelRecord[] = []
    for await (const v of this.init.state.channels.values()) out.push(v)
    return out
  }

  async get (name: string): Promise<ChannelRecord | undefined> {
    return await this.init.state.channels.get(name)
  }

  private filterOf (c: ChannelRecord): Query | undefined {
    if (c.filter === undefined) return undefined
    let q = this.filters.get(c.name)
    if (q === undefined) { q = parseQuery(c.filter); this.filters.set(c.name, q) }
    return q
  }

  /**
   * create, delete and notify run one at a time: a notification reads the
   * channel list, awaits documents and writes each channel back, so a
   * channel deleted or re-created in between would otherwise come back.
   */
  private readonly queue = new SerialQueue()

  async create (name: string, description: string, filter?: string): Promise<ChannelRecord> {
    return await this.queue.run(async () => await this.createNow(name, description, filter))
  }

  async delete (name: string): Promise<boolean> {
    return await this.queue.run(async () => await this.deleteNow(name))
  }

  async notify (change: ReleaseChange): Promise<NotificationRecord[]> {
    return await this.queue.run(async () => await this.notifyNow(change))
  }

  /** Announces a flash crowd on the `releases` channel (a notification with no units). */
  async announceFlashCrowd (announcement: FlashCrowdAnnouncement): Promise<NotificationRecord> {
    return await this.queue.run(async () => {
      const c = await this.get(RELEASES_CHANNEL)
      if (c === undefined) throw new PeerError(`the '${RELEASES_CHANNEL}' channel is missing`, 'UNAVAILABLE')
      const unsigned = { channel: c.name, seq: c.lastSeq + 1, release: announcement.release, date: new Date().toISOString(), added: [], updated: [], removed: [], flashCrowd: announcement }
      const notification: NotificationRecord = this.init.network === undefined ? { ...unsigned, signature: '' } : await this.init.network.sign(unsigned)
      await this.init.state.appendNotifications([{ channel: { ...c, lastSeq: notification.seq }, notification }])
      this.init.bus.publish({ type: 'notification', notification })
      await this.init.network?.send(notification)
      return notification
    })
  }

  private async createNow (name: string, description: string, filter?: string): Promise<ChannelRecord> {
    if (this.init.role !== 'publisher') throw new PeerError(`only a publisher owns channels; this peer is a ${this.init.role}`, 'FORBIDDEN')
    if (!CHANNEL_NAME.test(name)) throw new PeerError(`invalid channel name ${JSON.stringify(name)}: 1 to 64 of a-z 0-9 . _ - starting with a letter or digit`, 'BAD_USER_INPUT')
    const f = filter === undefined || filter.trim() === '' ? undefined : filter
    let parsed: Query | undefined
    if (f !== undefined) {
      try { parsed = parseQuery(f) } catch (err) {
        if (err instanceof QueryParseError) throw new ChannelFilterError(f, err.position, err.expected, err.message)
        throw err
      }
    }
    if (await this.get(name) !== undefined) throw new PeerError(`channel '${name}' exists already`, 'CONFLICT')
    const record: ChannelRecord = { name, description, createdAt: new Date().toISOString(), lastSeq: 0 }
    if (f !== undefined) record.filter = f
    const signed = await this.init.network?.signDefinition(record)
    if (signed !== undefined) record.signature = signed.signature
    await this.init.state.channels.put(name, record)
    if (parsed !== undefined) this.filters.set(name, parsed)
    if (signed !== undefined) await this.init.network?.announce(signed)
    return record
  }

  /** Deletes a channel and its log; false when there was none. */
  private async deleteNow (name: string): Promise<boolean> {
    if (this.init.role !== 'publisher') throw new PeerError(`only a publisher owns channels; this peer is a ${this.init.role}`, 'FORBIDDEN')
    if (name === RELEASES_CHANNEL) throw new PeerError(`the '${RELEASES_CHANNEL}' channel always exists and cannot be deleted`, 'BAD_USER_INPUT')
    if (await this.get(name) === undefined) return false
    await this.init.state.deleteChannel(name)
    this.filters.delete(name)
    return true
  }

  /**
   * Turns a release change into one notification per channel: added units
   * (no unit of that kind, name and arch before) and updated ones (there
   * was, with another version), restricted to the units the channel's
   * filter matches. Filtered channels with no matching unit get nothing;
   * `releases` always gets one. Logged atomically, then emitted live.
   */
  private async notifyNow (change: ReleaseChange): Promise<NotificationRecord[]> {
    const before = new Map<string, string>()
    for (const u of change.before) before.set(releaseEntryKey(u), u.version)
    const added: ReleaseUnit[] = []
    const updated: ReleaseUnit[] = []
    const afterKeys = new Set<string>()
    for (const u of change.after) {
      const key = releaseEntryKey(u)
      afterKeys.add(key)
      const old = before.get(key)
      if (old === undefined) added.push(u)
      else if (old !== u.version) updated.push(u)
    }
    // Units the release no longer lists (no unit of that kind, name and arch any more).
    const removed = change.before.filter((u) => !afterKeys.has(releaseEntryKey(u)))
    const channels = await this.list()
    const filtered = channels.filter((c) => c.filter !== undefined)
    const changed = [...added, ...updated, ...removed]
    // documents are read for the filters (their XML) and for checksums the publish did not take from the import
    const known = change.checksums
    const docs = await this.documents((filtered.length > 0 || known === undefined ? changed : changed.filter((u) => !known.has(u.id))).map((u) => u.id))
    const roots = new Map<string, XElement>()
    const rootOf = (id: string): XElement | undefined => {
      const doc = docs.get(id)
      if (doc === undefined) return undefined
      let r = roots.get(id)
      if (r === undefined) { r = parseXml(typeof doc === 'string' ? doc : docRecordXml(doc), { where: id }); roots.set(id, r) }
      return r
    }
    // a unit goes to every channel that takes it: its checksum is found once
    const sums = new Map<string, string | undefined>()
    const toUnit = (u: ReleaseUnit): NotificationUnit => {
      let checksum = known?.get(u.id) ?? sums.get(u.id)
      if (checksum === undefined && !sums.has(u.id)) {
        const doc = docs.get(u.id)
        checksum = doc === undefined ? undefined : typeof doc === 'string' ? checksumOf(doc) : checksumOfRecord(doc)
        sums.set(u.id, checksum)
      }
      return channelUnit({ kind: u.kind, id: u.id, name: u.name, version: u.version, arch: u.arch, checksum })
    }
    const date = new Date().toISOString()
    const updates: Array<{ channel: ChannelRecord, notification: NotificationRecord }> = []
    for (const c of channels) {
      const q = this.filterOf(c)
      const keep = (u: ReleaseUnit): boolean => {
        if (q === undefined) return true
        const root = rootOf(u.id)
        return root !== undefined && hasAnswer(q, root)
      }
      const a = added.filter(keep)
      const up = updated.filter(keep)
      const rm = removed.filter(keep)
      if (c.name !== RELEASES_CHANNEL && filtered.includes(c) && a.length + up.length + rm.length === 0) continue
      // Added, then updated, then removed units, cut into parts of UNITS_PER_PART with consecutive seqs (one part for most publishes).
      const all = [...a.map((u) => ['added', u] as const), ...up.map((u) => ['updated', u] as const), ...rm.map((u) => ['removed', u] as const)]
      const parts = Math.max(1, Math.ceil(all.length / UNITS_PER_PART))
      for (let p = 0; p < parts; p++) {
        const seq = c.lastSeq + 1 + p
        const slice = all.slice(p * UNITS_PER_PART, (p + 1) * UNITS_PER_PART)
        const of = (what: 'added' | 'updated' | 'removed'): NotificationUnit[] => slice.filter(([w]) => w === what).map(([, u]) => toUnit(u))
        const unsigned: Omit<NotificationRecord, 'signature'> = { channel: c.name, seq, release: change.release.name, date, added: of('added'), updated: of('updated'), removed: of('removed') }
        if (parts > 1) { unsigned.part = p + 1; unsigned.parts = parts }
        const notification: NotificationRecord = this.init.network === undefined ? { ...unsigned, signature: '' } : await this.init.network.sign(unsigned)
        updates.push({ channel: { ...c, lastSeq: seq }, notification })
      }
    }
    await this.init.state.appendNotifications(updates)
    for (const u of updates) this.init.bus.publish({ type: 'notification', notification: u.notification })
    // Logged first: a subscriber that misses the gossip fetches it from a log.
    for (const u of updates) await this.init.network?.send(u.notification)
    return updates.map((u) => u.notification)
  }

  /**
   * The given unit documents, read in batches: their stored records where
   * the store holds them (decoded only where a filter needs the XML: R1's
   * 63,440 texts took ~1.5 s of a publish to read and decode), else their XML.
   */
  private async documents (ids: string[]): Promise<Map<string, string | Uint8Array>> {
    const store = this.init.documents ?? this.init.index.store
    const out = new Map<string, string | Uint8Array>()
    if (store.getDocumentRecords !== undefined) {
      for (let i = 0; i < ids.length; i += RECORD_BATCH) {
        const batch = ids.slice(i, i + RECORD_BATCH)
        const docIds = await store.docIdsOf(batch)
        const found: number[] = []; const foundIds: string[] = []
        docIds.forEach((d, j) => { if (d !== undefined) { found.push(d); foundIds.push(batch[j]) } })
        const records = await store.getDocumentRecords(found)
        records.forEach((r, j) => { if (r !== undefined) out.set(foundIds[j], r) })
      }
      return out
    }
    for (let i = 0; i < ids.length; i += DOC_BATCH) {
      // Asked together: the distributed index answers a batch in one request per holder.
      const docIds = (await store.docIdsOf(ids.slice(i, i + DOC_BATCH))).filter((d): d is number => d !== undefined)
      for (const d of await store.getDocuments(docIds)) if (d !== undefined) out.set(d.id, d.xml)
    }
    return out
  }

  /**
   * Logged notifications with seq > since, then live ones: no gap, no
   * duplicate. The live subscription opens before the log is read, so a
   * publish racing the catch-up is buffered; anything at or below the last
   * seq sent is skipped, and a gap (events dropped from a full buffer) is
   * refilled from the log, which always holds a notification before it is
   * emitted.
   */
  async * follow (name: string, since: number, signal: AbortSignal): AsyncGenerator<NotificationRecord> {
    if (!Number.isSafeInteger(since) || since < 0) throw new PeerError(`since must be a non-negative integer, got ${String(since)}`, 'BAD_USER_INPUT')
    if (await this.get(name) === undefined) throw new PeerError(`no channel named '${name}'`, 'NOT_FOUND')
    const live = this.init.bus.subscribe({ signal, filter: (e) => e.type === 'notification' && e.notification.channel === name })
    try {
      let last = since
      for await (const n of this.init.state.readLog(name, last)) {
        if (signal.aborted) return
        yield n
        last = n.seq
      }
      for await (const e of live) {
        if (e.type !== 'notification') continue
        const n = e.notification
        if (n.seq <= last) continue
        if (n.seq > last + 1) {
          for await (const m of this.init.state.readLog(name, last, n.seq - 1)) {
            if (signal.aborted) return
            yield m
            last = m.seq
          }
        }
        if (signal.aborted) return
        yield n
        last = n.seq
      }
    } finally {
      live.close()
    }
  }
}
