/**
 * Channels on the peer host. The publisher signs definitions and
 * notifications and sends each notification on gossipsub topic
 * `edos/channel/<name>` (definitions on `edos/channels`). Every other
 * networked peer verifies what it hears (a gossipsub validator rejects
 * forgeries, so they are neither logged nor forwarded; each is counted and
 * logged), appends it to its durable log strictly in seq order, and fills
 * any gap from another peer over `/edos/channels/1.0.0` (ops `heads` and
 * `range`): a notification ahead of a gap waits until the range before it
 * is logged. The same protocol is the anti-entropy pass: at start and on
 * a gap a peer asks every peer it is connected to for their heads, and
 * every `syncMs` a few of them picked at random (`syncFanout`), then
 * fetches what it lacks, from mirrors before the publisher. Publisher and
 * mirrors serve the protocol; clients only ask.
 */
import type { PeerId } from '@libp2p/interface'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerHost } from '../dht/host.ts'
import { callRpc, serveRpc } from '../dht/rpc.ts'
import { SerialQueue } from './serial.ts'
import { ChannelSyncError, ForgedNotificationError } from './errors.ts'
import { signDefinition, signNotification, verifyDefinition, verifyNotification, CHANNEL_NAME } from './signing.ts'
import type { ChannelDefinition, ChannelNetworkStats, ChannelNotification, ChannelStore, StoredChannel } from './types.ts'

export const CHANNELS_PROTOCOL = '/edos/channels/1.0.0'
export const DIRECTORY_TOPIC = 'edos/channels'
export const topicOf = (channel: string): string => `edos/channel/${channel}`
/** Notifications one `range` answer carries at most. */
export const RANGE_LIMIT = 256
/**
 * JSON bytes of notifications past which a `range` answer stops (it always
 * carries at least one): frame headers are bounded at 1 MiB, and an answer
 * over the bound failed whole, every sync period, for every peer asking.
 */
export const RANGE_BYTES = 512 * 1024

export interface ChannelNetworkInit {
  host: PeerHost
  /** The root of trust (for the publisher: its own id). */
  publisher: PeerId
  store: ChannelStore
  /** Called once a received notification is logged (in seq order per channel): the roles layer emits it live. */
  onNotification?: (n: ChannelNotification) => void
  /** Anti-entropy period. Default 5000 ms. */
  syncMs?: number
  /**
   * Mirrors a periodic pass asks, picked at random among those it is
   * connected to, besides the publisher (whose log may be the only one with
   * a notification gossip lost). Default 2: asking every mirror made each
   * peer's pass ~10 requests every period (~20 a second for 12 peers), a
   * cost every idle peer paid. A pass at start or on a gap asks every peer.
   */
  syncFanout?: number
  /** Bound on each request to another peer. Default 5000 ms. */
  callTimeoutMs?: number
  /**
   * How long a notification ahead of a gap waits for gossip to bring the
   * missing ones before they are fetched from a log. Default 500 ms (gossip
   * reorders the parts of a large change; fetching at once asked the logs
   * for what was already on its way).
   */
  gapWaitMs?: number
  log?: (message: string) => void
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export class ChannelNetwork {
  private readonly queue = new SerialQueue()
  private readonly pending = new Map<string, Map<number, ChannelNotification>>()
  private readonly subscribed = new Set<string>()
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private syncing: Promise<void> | undefined
  private readonly counters = { refused: 0, live: 0, fetched: 0 }
  private readonly self: string
  private readonly publisherId: string
  /** Notifications the topic validator verified, by message bytes: each is verified once, not again when delivered. */
  private readonly verified = new WeakMap<Uint8Array, ChannelNotification>()
  private gapTimer: NodeJS.Timeout | undefined
  private readonly onMessage = (evt: CustomEvent<{ topic: string, data: Uint8Array }>): void => {
    const { topic, data } = evt.detail
    if (!topic.startsWith('edos/channel')) return
    // The validator accepted it: definitions (small) are parsed and verified again; notifications come verified from the validator.
    if (topic === DIRECTORY_TOPIC) {
      void this.queue.run(async () => { await this.learn(verifyDefinition(JSON.parse(decoder.decode(data)), this.init.publisher)) }).catch((err: Error) => { this.init.log?.(`channels: ${err.message}`) })
      return
    }
    let n = this.verified.get(data)
    if (n !== undefined) this.verified.delete(data)
    else {
      try { n = verifyNotification(JSON.parse(decoder.decode(data)), this.init.publisher, topic.slice('edos/channel/'.length)) } catch (err) { this.refuse(err, 'gossip'); return }
    }
    void this.receive(n, 'live').catch((err: Error) => { this.init.log?.(`channels: ${n.channel}#${n.seq}: ${err.message}`) })
  }

  /** Mirrors a periodic pass asks (syncFanout). */
  private readonly fanout: number

  constructor (private readonly init: ChannelNetworkInit) {
    this.self = init.host.peerId
    this.publisherId = init.publisher.toString()
    this.fanout = init.syncFanout ?? 2
    if (!Number.isInteger(this.fanout) || this.fanout < 0) throw new RangeError(`syncFanout must be a non-negative integer, got ${String(init.syncFanout)}`)
  }

  get isPublisher (): boolean { return this.self === this.publisherId }
  private get pubsub (): PeerHost['libp2p']['services']['pubsub'] { return this.init.host.libp2p.services.pubsub }

  stats (): ChannelNetworkStats {
    let pending = 0
    for (const m of this.pending.values()) pending += m.size
    return { ...this.counters, pending, topics: this.subscribed.size }
  }

  async start (): Promise<void> {
    this.subscribe(DIRECTORY_TOPIC)
    for (const c of await this.init.store.listChannels()) this.subscribe(topicOf(c.name))
    this.pubsub.addEventListener('message', this.onMessage as never)
    if (this.init.host.role !== 'client') {
      await serveRpc(this.init.host.libp2p, CHANNELS_PROTOCOL, async (req) => await this.answer(req.header), { timeoutMs: 30_000 })
    }
    if (!this.isPublisher) {
      this.timer = setInterval(() => { this.syncQuietly(false) }, this.init.syncMs ?? 5000)
      this.timer.unref()
      this.syncQuietly()
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    if (this.timer !== undefined) clearInterval(this.timer)
    clearTimeout(this.gapTimer)
    this.pubsub.removeEventListener('message', this.onMessage as never)
    for (const t of this.subscribed) this.pubsub.topicValidators.delete(t)
    await this.syncing?.catch(() => {})
    await this.queue.idle()
  }

  // ------------------------------------------------------------ publisher

  /** Publisher: the signed form of a definition (the caller stores it, then `announce`s it). */
  async signDefinition (def: Omit<ChannelDefinition, 'signature'>): Promise<ChannelDefinition> {
    return await signDefinition(this.init.host.privateKey, def)
  }

  /** Publisher: tells the peers on the directory topic about a (stored) channel. */
  async announce (def: ChannelDefinition): Promise<void> {
    this.subscribe(topicOf(def.name))
    await this.publishOn(DIRECTORY_TOPIC, def)
  }

  /** Publisher: signs a notification (the caller logs it, then calls `send`). */
  async sign (n: Omit<ChannelNotification, 'signature'>): Promise<ChannelNotification> {
    return await signNotification(this.init.host.privateKey, n)
  }

  /** Publisher: sends a logged notification to the channel's topic. Subscribers that miss it fetch it from a log. */
  async send (n: ChannelNotification): Promise<void> {
    this.subscribe(topicOf(n.channel))
    await this.publishOn(topicOf(n.channel), n)
  }

  private async publishOn (topic: string, value: unknown): Promise<void> {
    try {
      await this.pubsub.publish(topic, encoder.encode(JSON.stringify(value)))
    } catch (err) {
      // No peer on the topic yet, or too large for one message: mirrors get it from the log on their next sync.
      this.init.log?.(`channels: not sent on ${topic}: ${(err as Error).message}`)
    }
  }

  // ------------------------------------------------------------ receiving

  private subscribe (topic: string): void {
    if (this.subscribed.has(topic)) return
    this.subscribed.add(topic)
    this.pubsub.topicValidators.set(topic, (peer, msg) => {
      try {
        const value = JSON.parse(decoder.decode(msg.data)) as unknown
        if (topic === DIRECTORY_TOPIC) verifyDefinition(value, this.init.publisher)
        else this.verified.set(msg.data, verifyNotification(value, this.init.publisher, topic.slice('edos/channel/'.length)))
        return TopicValidatorResult.Accept
      } catch (err) {
        this.refuse(err, peer.toString())
        return TopicValidatorResult.Reject
      }
    })
    this.pubsub.subscribe(topic)
  }

  private refuse (err: unknown, from: string): void {
    this.counters.refused++
    this.init.log?.(`channels: refused a message from ${from}: ${(err as Error).message}`)
  }

  /** A definition heard or fetched: stored (keeping the local lastSeq) and its topic followed. */
  private async learn (def: ChannelDefinition): Promise<StoredChannel> {
    const old = await this.init.store.getChannel(def.name)
    this.subscribe(topicOf(def.name))
    if (old !== undefined && old.signature === def.signature) return old
    const rec: StoredChannel = { ...def, lastSeq: old?.lastSeq ?? 0 }
    await this.init.store.putChannel(rec)
    return rec
  }

  /**
   * One verified notification: logged when it is the next one, kept pending
   * (and the gap fetched) when it is ahead, ignored when already logged.
   */
  private async receive (n: ChannelNotification, how: 'live' | 'fetched'): Promise<void> {
    const gap = await this.queue.run(async () => {
      const c = await this.init.store.getChannel(n.channel)
      if (c === undefined) {
        this.park(n)
        return true
      }
      if (n.seq <= c.lastSeq) return false
      if (n.seq > c.lastSeq + 1) { this.park(n); return true }
      await this.append(c, [n], how)
      await this.drain(n.channel)
      return false
    })
    if (gap) this.syncSoon()
  }

  /** An anti-entropy pass once gossip had `gapWaitMs` to fill a gap (one timer for any number of gaps). */
  private syncSoon (): void {
    if (this.gapTimer !== undefined || this.stopped) return
    this.gapTimer = setTimeout(() => {
      this.gapTimer = undefined
      if (![...this.pending.values()].some((m) => m.size > 0)) return
      this.syncQuietly()
    }, this.init.gapWaitMs ?? 500)
    this.gapTimer.unref()
  }

  /** A pass started from a timer (`full`: every peer asked): what fails is logged (a store closing under it), never left unhandled. */
  private syncQuietly (full = true): void {
    this.sync(full).catch((err: Error) => { this.init.log?.(`channels: sync failed: ${err.message}`) })
  }

  private park (n: ChannelNotification): void {
    let m = this.pending.get(n.channel)
    if (m === undefined) { m = new Map(); this.pending.set(n.channel, m) }
    m.set(n.seq, n)
  }

  /** Logs pending notifications that became next (inside the queue). */
  private async drain (channel: string): Promise<void> {
    const m = this.pending.get(channel)
    const c = await this.init.store.getChannel(channel)
    if (m === undefined || c === undefined) return
    for (const seq of [...m.keys()]) if (seq <= c.lastSeq) m.delete(seq)
    const run: ChannelNotification[] = []
    for (let s = c.lastSeq + 1; m.has(s); s++) { run.push(m.get(s)!); m.delete(s) }
    if (run.length > 0) await this.append(c, run, 'live')
    if (m.size === 0) this.pending.delete(channel)
  }

  /** Appends consecutive notifications after `c.lastSeq` (inside the queue), then reports them. */
  private async append (c: StoredChannel, run: ChannelNotification[], how: 'live' | 'fetched'): Promise<void> {
    let last = c.lastSeq
    const updates = run.map((n) => {
      if (n.seq !== last + 1) throw new ChannelSyncError(`${c.name}: got #${n.seq} after #${last}`)
      last = n.seq
      return { channel: { ...c, lastSeq: n.seq }, notification: n }
    })
    await this.init.store.appendNotifications(updates)
    this.counters[how] += run.length
    for (const u of updates) this.init.onNotification?.(u.notification)
  }

  // ------------------------------------------------------------ protocol

  private async answer (h: Record<string, unknown>): Promise<{ header: Record<string, unknown> }> {
    if (h.op === 'heads') {
      const heads: Array<{ definition: ChannelDefinition, lastSeq: number }> = []
      for (const c of await this.init.store.listChannels()) {
        let signature = c.signature
        // The publisher's channels made before it joined a network (or `releases`) are signed on demand.
        if (signature === undefined && this.isPublisher) signature = (await signDefinition(this.init.host.privateKey, c)).signature
        if (signature === undefined) continue
        const def: ChannelDefinition = { name: c.name, description: c.description, createdAt: c.createdAt, signature }
        if (c.filter !== undefined) def.filter = c.filter
        heads.push({ definition: def, lastSeq: c.lastSeq })
      }
      return { header: { heads } }
    }
    if (h.op === 'range') {
      const channel = h.channel
      const since = h.since
      if (typeof channel !== 'string' || !CHANNEL_NAME.test(channel) || typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
        throw new ForgedNotificationError('range needs channel (a channel name) and since (a non-negative integer)')
      }
      const limit = Math.min(RANGE_LIMIT, typeof h.limit === 'number' && h.limit > 0 ? Math.floor(h.limit) : RANGE_LIMIT)
      const out: ChannelNotification[] = []
      let bytes = 0
      for await (const n of this.init.store.readLog(channel, since, since + limit)) {
        const size = JSON.stringify(n).length
        if (out.length > 0 && bytes + size > RANGE_BYTES) break
        out.push(n)
        bytes += size
      }
      return { header: { notifications: out } }
    }
    throw new ForgedNotificationError(`unknown op ${JSON.stringify(h.op)} on ${CHANNELS_PROTOCOL}`)
  }

  /**
   * Peers to ask, mirrors first and the publisher last (it carries the most
   * load): those identify says serve the protocol, then connected peers not
   * identified yet (right after a restart; one that does not serve it fails
   * fast), then the publisher. With `limit` (a periodic pass), at most
   * that many of the others, picked at random (looking up only as many
   * connections' protocols as it takes), then the publisher.
   */
  private async candidates (limit?: number): Promise<string[]> {
    const libp2p = this.init.host.libp2p
    const serving: string[] = []
    const unknown: string[] = []
    const seen = new Set<string>([this.self, this.publisherId])
    const conns = [...libp2p.getConnections()]
    if (limit !== undefined) {
      for (let i = conns.length - 1; i > 0; i--) { const j = Math.floor(Math.random() * (i + 1)); const t = conns[i]; conns[i] = conns[j]; conns[j] = t }
    }
    for (const conn of conns) {
      if (limit !== undefined && serving.length >= limit) break
      const id = conn.remotePeer.toString()
      if (seen.has(id)) continue
      seen.add(id)
      let protocols: string[] = []
      try { protocols = (await libp2p.peerStore.get(conn.remotePeer)).protocols } catch { /* not in the store yet */ }
      if (protocols.includes(CHANNELS_PROTOCOL)) serving.push(id)
      else if (protocols.length === 0) unknown.push(id)
    }
    const publisher = this.self !== this.publisherId ? [this.publisherId] : []
    if (limit === undefined) return [...serving, ...unknown, ...publisher]
    return [...[...serving, ...unknown].slice(0, limit), ...publisher]
  }

  private again = false
  /** Whether a pass asked for while one ran wants every peer asked. */
  private againFull = false

  /**
   * Runs one anti-entropy pass now, asking every peer (`full`) or a few;
   * when one is running, one more follows it (what it asked may predate the
   * caller's need), full if any caller asked for full.
   */
  async sync (full = true): Promise<void> {
    if (this.stopped) return
    if (this.syncing !== undefined) { this.again = true; this.againFull ||= full; await this.syncing; return }
    this.syncing = (async () => {
      let all = full
      do {
        this.again = false
        this.againFull = false
        await this.syncOnce(all)
        all = this.againFull
      } while (this.again && !this.stopped)
    })().finally(() => { this.syncing = undefined })
    await this.syncing
  }

  private async syncOnce (full: boolean): Promise<void> {
    const timeoutMs = this.init.callTimeoutMs ?? 5000
    const peers = await this.candidates(full ? undefined : this.fanout)
    const heads = await Promise.all(peers.map(async (peer) => {
      try {
        const res = await callRpc(this.init.host.libp2p, peer, CHANNELS_PROTOCOL, { op: 'heads' }, [], { timeoutMs })
        return { peer, heads: Array.isArray(res.header.heads) ? res.header.heads as Array<{ definition: unknown, lastSeq: unknown }> : [] }
      } catch {
        return { peer, heads: [] }
      }
    }))
    // Per channel: who holds what (mirrors were asked first, so they stay first among equals).
    const best = new Map<string, { def: ChannelDefinition, holders: Array<{ peer: string, lastSeq: number }> }>()
    for (const { peer, heads: hs } of heads) {
      for (const h of hs) {
        let def: ChannelDefinition
        try { def = verifyDefinition(h.definition, this.init.publisher) } catch (err) { this.refuse(err, peer); continue }
        const lastSeq = typeof h.lastSeq === 'number' && Number.isSafeInteger(h.lastSeq) ? h.lastSeq : 0
        const e = best.get(def.name) ?? { def, holders: [] }
        e.holders.push({ peer, lastSeq })
        best.set(def.name, e)
      }
    }
    for (const [name, { def, holders }] of best) {
      if (this.stopped) return
      const c = await this.queue.run(async () => await this.learn(def))
      const want = Math.max(...holders.map((x) => x.lastSeq))
      if (want <= c.lastSeq) continue
      try {
        await this.fetch(name, want, holders.filter((x) => x.lastSeq > c.lastSeq).map((x) => x.peer))
      } catch (err) {
        this.init.log?.(`channels: ${name}: ${(err as Error).message}`)
      }
    }
    for (const name of this.pending.keys()) await this.queue.run(async () => { await this.drain(name) })
  }

  /** Fetches and logs what follows the local lastSeq up to `until`, trying `peers` in order. */
  private async fetch (channel: string, until: number, peers: string[]): Promise<void> {
    const timeoutMs = this.init.callTimeoutMs ?? 5000
    for (const peer of peers) {
      try {
        for (let rounds = 0; rounds < 100_000; rounds++) {
          const c = await this.init.store.getChannel(channel)
          if (c === undefined || c.lastSeq >= until || this.stopped) return
          // Only the hole before what waits here: the rest is held already.
          let limit = RANGE_LIMIT
          for (const seq of this.pending.get(channel)?.keys() ?? []) if (seq > c.lastSeq) limit = Math.min(limit, seq - c.lastSeq - 1)
          if (limit === 0) {
            await this.queue.run(async () => { await this.drain(channel) })
            if ((await this.init.store.getChannel(channel))?.lastSeq === c.lastSeq) break
            continue
          }
          const res = await callRpc(this.init.host.libp2p, peer, CHANNELS_PROTOCOL, { op: 'range', channel, since: c.lastSeq, limit }, [], { timeoutMs })
          const got = Array.isArray(res.header.notifications) ? res.header.notifications : []
          if (got.length === 0) break
          const run: ChannelNotification[] = []
          for (const v of got) {
            try { run.push(verifyNotification(v, this.init.publisher, channel)) } catch (err) { this.refuse(err, peer); break }
          }
          if (run.length === 0) break
          await this.queue.run(async () => {
            const now = await this.init.store.getChannel(channel)
            if (now === undefined) return
            const fresh = run.filter((n) => n.seq > now.lastSeq)
            if (fresh.length > 0 && fresh[0].seq === now.lastSeq + 1) {
              await this.append(now, fresh, 'fetched')
              this.init.log?.(`channels: ${channel}: fetched #${fresh[0].seq}..#${fresh.at(-1)!.seq} from ${peer}`)
            }
            await this.drain(channel)
          })
        }
      } catch (err) {
        this.init.log?.(`channels: ${channel}: peer ${peer} could not serve the range: ${(err as Error).message}`)
      }
    }
    const c = await this.init.store.getChannel(channel)
    if (c !== undefined && c.lastSeq < until) throw new ChannelSyncError(`${channel}: holds #${c.lastSeq}, #${until} exists but no peer served the rest`)
  }
}
