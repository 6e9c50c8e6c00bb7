/**
 * Shared fan-out of live channel notifications to graphql-ws subscribers.
 *
 * Per subscriber, a notification costs one GraphQL execution, one JSON
 * encoding and one WebSocket frame; at 10,000 subscribers the first two
 * dominate the mirror. Subscribers of one channel whose operations share a
 * key (share-key.ts: same document, variables and rights) form a group. The
 * group runs ONE subscription of that operation through the same envelop as
 * any subscriber (armor, masking, context), on the channel's live stream
 * from its lastSeq, and writes each result, encoded once, to every member
 * with only the operation id spliced into the frame.
 *
 * A subscriber is a member only once caught up. Its own follow() (the
 * resolver calls ctx.peer.follow, which is this module's) first runs the
 * peer's per-subscriber stream: the log after `since`, then live. After each
 * notification it yields has been sent (the GraphQL pipeline pulls lazily,
 * so the generator resumes only after graphql-ws sent the frame) it joins
 * once it has everything the group has queued (`last >= group.seq`):
 * joining is synchronous with the group's queue, so the next frames it gets
 * start at last + 1, and frames at or below its `last` are skipped. No gap,
 * no duplicate, no reordering.
 *
 * Sending: a notification is encoded once and queued; one pass at a time
 * writes each member, in one write, every queued frame it has not had, and
 * yields to the event loop every `sliceMs` so that queries, gossip and new
 * notifications are served during a pass over 10,000 sockets. Notifications
 * that arrive during a pass (a publish announced in parts, notifications
 * faster than a pass) reach the members not yet visited in that same write,
 * and the others in the next pass: a burst costs a write per subscriber per
 * pass, not per notification.
 *
 * Slow sockets: a send never waits. A member whose socket holds more than
 * `highWaterBytes` not yet handed to the kernel is evicted back to its own
 * stream, which waits on its socket and, behind, re-reads the log (the
 * bus's drop-oldest buffer and the follower's gap repair); it rejoins when
 * caught up with a drained socket. A group whose own stream ends or fails
 * hands every member back to its own stream for good.
 */
import type { ExecutionResult } from 'graphql'
import type { FollowPolicy, NotificationRecord, PeerApi } from '../actors/types.ts'
import { encodePayload, frameLength, putTextFrame } from './frames.ts'

export interface FanOutInit {
  /**
   * A member whose socket holds more than this many unsent bytes leaves the
   * shared path (default 64 KiB); it rejoins below a quarter of it.
   */
  highWaterBytes?: number
  /**
   * A pass over the members yields to the event loop once it has run this
   * many ms (default 8), so a send to 10,000 sockets does not hold up the
   * peer's other work.
   */
  sliceMs?: number
}

export const DEFAULT_HIGH_WATER_BYTES = 64 * 1024
export const DEFAULT_SLICE_MS = 8
/** Members written between two looks at the clock. */
const SLICE_CHECK = 64

/** What the fan-out needs of a subscriber's WebSocket (a `ws` WebSocket has it). */
export interface FanOutSocket {
  readonly readyState: number
  readonly bufferedAmount: number
  send: (data: string) => void
  /**
   * Writes complete, already framed WebSocket messages (one or more) to the
   * connection underneath, in order with send(). `frames` is the fan-out's
   * scratch buffer, valid only during the call: copy what must be kept.
   * Optional: without it, messages go through send(). See fanOutSocket in ws.ts.
   */
  writeFrames?: (frames: Uint8Array) => void
}

/** The result of an enveloped subscribe: a stream, or errors. */
export type SubscribeResult = ExecutionResult | AsyncIterable<ExecutionResult>

/** Subscribes the group's own operation on `peer`, ending with `signal`. */
export type OpenShared = (peer: PeerApi, signal: AbortSignal) => Promise<SubscribeResult>

export interface ShareInit {
  /** shareKey() of the operation. */
  key: string
  /** The graphql-ws operation id. */
  id: string
  socket: FanOutSocket
  /** How to run the operation for the group, should this subscriber be the first. */
  open: OpenShared
  /** The operation's own signal: it aborts when the client completes it or the socket closes. */
  signal: AbortSignal
}

/** Runs the subscriber's GraphQL operation again, on the peer its subscriber gives (see SharedSubscriber.stream). */
export type Reopen = () => Promise<SubscribeResult>

export interface FanOutStats {
  groups: number
  /** Subscribers served by a group right now (not those catching up). */
  members: number
  /** Notifications executed once for a group. */
  broadcasts: number
  evictions: number
}

const OPEN = 1 // WebSocket.OPEN

type Wake = 'evicted' | 'ended' | 'aborted'

export function isAsyncIterable (value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function'
}

/**
 * `peer` with another follow(). A Proxy rather than a copy: PeerApi is a
 * class instance whose methods need their own `this`.
 */
function withFollow (peer: PeerApi, follow: PeerApi['follow']): PeerApi {
  return new Proxy(peer, {
    get (target, prop) {
      if (prop === 'follow') return follow
      const value: unknown = Reflect.get(target, prop)
      return typeof value === 'function' ? value.bind(target) : value
    }
  })
}

/** A notification queued for the members: its seq, its encoded result, and that as UTF-8 with the frame's closing brace. */
interface Queued { seq: number, payload: string, body: Uint8Array }

class Member {
  /** The last seq this subscriber was sent (or asked to start after). */
  last: number
  /** `{"id":"…","type":"next","payload":` in graphql-ws's key order. */
  readonly prefix: string
  /** The prefix as UTF-8, for the framed path. */
  readonly prefixBytes: Uint8Array
  wake: ((why: Wake) => void) | undefined

  constructor (id: string, readonly socket: FanOutSocket, since: number) {
    this.last = since
    this.prefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`
    this.prefixBytes = Buffer.from(this.prefix)
  }
}

class Group {
  /** The last seq queued for the members; the channel's lastSeq until the first. */
  seq = 0
  /** Notifications not yet written to every member, in seq order. */
  private readonly queue: Queued[] = []
  private sending = false
  state: 'starting' | 'live' | 'ended' = 'starting'
  readonly members = new Set<Member>()
  /** Subscribers attached (members and those catching up): the group ends with the last. */
  users = 0
  /** Settles when members may join (or the group ended before that). */
  readonly started: Promise<void>
  private readonly controller = new AbortController()
  private iterator: AsyncIterator<ExecutionResult> | undefined

  constructor (private readonly owner: FanOut, readonly key: string, name: string, peer: PeerApi, open: OpenShared) {
    let started!: () => void
    this.started = new Promise((resolve) => { started = resolve })
    void this.run(name, peer, open, started)
  }

  private async run (name: string, peer: PeerApi, open: OpenShared, started: () => void): Promise<void> {
    try {
      const channel = await peer.channel(name)
      if (channel === undefined || this.state === 'ended') return
      const from = channel.lastSeq
      this.seq = from
      let current = from
      // The group's stream starts after lastSeq, so a member that has lastSeq misses nothing.
      const own = withFollow(peer, async function * (n, _since, signal, policy) {
        for await (const record of peer.follow(n, from, signal, policy)) {
          current = record.seq
          yield record
        }
      })
      this.state = 'live'
      started()
      const result = await open(own, this.controller.signal)
      if (!isAsyncIterable(result)) return
      const iterator = result[Symbol.asyncIterator]()
      this.iterator = iterator
      for (;;) {
        const step = await iterator.next()
        if (step.done === true || this.controller.signal.aborted) return
        // The pipeline pulls one notification per result, so this result is `current`'s.
        this.enqueue(current, encodePayload(step.value))
      }
    } catch {
      // Each member's own stream, which takes over, reports what failed.
    } finally {
      started()
      this.end()
    }
  }

  private enqueue (seq: number, payload: string): void {
    this.seq = seq
    this.owner.broadcasts++
    this.queue.push({ seq, payload, body: Buffer.from(payload + '}') })
    if (!this.sending) void this.send()
  }

  /** Passes over the members until each has every queued notification. */
  private async send (): Promise<void> {
    this.sending = true
    try {
      while (this.queue.length > 0 && this.state !== 'ended') {
        const upTo = this.seq
        let sliceStart = performance.now()
        let n = 0
        for (const m of this.members) {
          this.write(m)
          if (++n % SLICE_CHECK === 0 && performance.now() - sliceStart >= this.owner.sliceMs) {
            await new Promise((resolve) => setImmediate(resolve))
            if (this.ended()) return
            sliceStart = performance.now()
          }
        }
        // Every member now has up to upTo, or has left, or is closing (should it stay, its gap evicts it next pass).
        let done = 0
        while (done < this.queue.length && this.queue[done].seq <= upTo) done++
        this.queue.splice(0, done)
      }
    } finally {
      this.sending = false
    }
  }

  /** The state read through a call: it may change across an await. */
  private ended (): boolean { return this.state === 'ended' }

  /** Writes `m` the queued notifications after its last, in one write. */
  private write (m: Member): void {
    if (m.last >= this.seq) return
    if (m.socket.readyState !== OPEN) return // closing: its operation aborts and it leaves
    let from = this.queue.length
    while (from > 0 && this.queue[from - 1].seq > m.last) from--
    // A gap cannot happen (members join at or above seq); were it to, the member's own stream re-reads the log.
    if (from === this.queue.length || this.queue[from].seq !== m.last + 1 || m.socket.bufferedAmount > this.owner.highWaterBytes) { this.evict(m); return }
    if (m.socket.writeFrames !== undefined) {
      const head = m.prefixBytes
      let size = 0
      for (let i = from; i < this.queue.length; i++) size += frameLength(head, this.queue[i].body)
      const out = this.owner.scratch(size)
      let at = 0
      for (let i = from; i < this.queue.length; i++) at = putTextFrame(out, at, head, this.queue[i].body)
      m.socket.writeFrames(out.subarray(0, size))
    } else for (let i = from; i < this.queue.length; i++) m.socket.send(m.prefix + this.queue[i].payload + '}')
    m.last = this.queue[this.queue.length - 1].seq
  }

  private evict (m: Member): void {
    this.members.delete(m)
    this.owner.evictions++
    m.wake?.('evicted')
  }

  canJoin (m: Member): boolean {
    return this.state === 'live' && m.last >= this.seq && m.socket.readyState === OPEN && m.socket.bufferedAmount <= this.owner.highWaterBytes / 4
  }

  /** Adds `m` (call right after canJoin, with no await between) and waits until it must leave. */
  async park (m: Member, signal: AbortSignal): Promise<Wake> {
    return await new Promise<Wake>((resolve) => {
      // Synchronous on abort: no frame may follow the client's `complete`.
      const onAbort = (): void => { this.members.delete(m); m.wake = undefined; resolve('aborted') }
      if (signal.aborted) { onAbort(); return }
      this.members.add(m)
      signal.addEventListener('abort', onAbort, { once: true })
      m.wake = (why) => { signal.removeEventListener('abort', onAbort); m.wake = undefined; resolve(why) }
    })
  }

  release (m: Member): void {
    this.members.delete(m)
    if (--this.users === 0) this.end()
  }

  end (): void {
    if (this.state === 'ended') return
    this.state = 'ended'
    if (this.owner.groups.get(this.key) === this) this.owner.groups.delete(this.key)
    this.controller.abort()
    void this.iterator?.return?.()?.catch(() => undefined)
    const members = [...this.members]
    this.members.clear()
    for (const m of members) m.wake?.('ended')
  }
}

/**
 * One graphql-ws operation served by the fan-out. While it catches up it
 * runs its own GraphQL pipeline (envelop, graphql-js, the resolver, the
 * peer's stream); once it can join its group, that pipeline ends and only
 * this record and its Member stay: ~33 KB of closures, promises and
 * generators per parked subscriber were what a mirror's major GC marked at
 * 10,000 subscribers. Should the member have to leave (evicted, or the
 * group ended), stream() runs the operation again, and follow() resumes
 * it after the member's last seq instead of the `since` it asked for.
 */
export class SharedSubscriber {
  /** @internal */
  member: Member | undefined
  private group: Group | undefined
  /** False once its group ended: from then on it has its own stream. */
  private shared = true
  /** Set by follow() as it hands this subscriber to its group: settles when it must leave. */
  private parked: Promise<Wake> | undefined
  private finished = false

  constructor (private readonly owner: FanOut, private readonly share: ShareInit) {}

  /** `peer` with this subscriber's follow(): the resolver's ctx.peer. */
  peer (peer: PeerApi): PeerApi {
    return withFollow(peer, (name, since, signal, policy) => this.follow(peer, name, since, signal, policy))
  }

  /**
   * The operation's results: `first` (the pipeline subscribe made), then,
   * each time the subscriber leaves its group, the results of reopen().
   * Ends when a pipeline ends unparked or the operation's signal aborts.
   */
  stream (first: AsyncIterator<ExecutionResult>, reopen: Reopen): AsyncIterableIterator<ExecutionResult> {
    let inner: AsyncIterator<ExecutionResult> | undefined = first
    const done = (): IteratorResult<ExecutionResult> => ({ done: true, value: undefined })
    const stop = async (): Promise<void> => {
      this.finish()
      const running = inner
      inner = undefined
      await running?.return?.()
    }
    return {
      next: async () => {
        for (;;) {
          if (this.finished) return done()
          if (this.parked !== undefined) {
            const why = await this.parked
            this.parked = undefined
            if (why === 'aborted' || this.share.signal.aborted) { this.finish(); return done() }
            if (why === 'ended') this.shared = false
          }
          if (inner === undefined) {
            const result = await reopen()
            if (!isAsyncIterable(result)) { this.finish(); return { done: false, value: result } }
            inner = result[Symbol.asyncIterator]()
          }
          let step: IteratorResult<ExecutionResult>
          try {
            step = await inner.next()
          } catch (err) {
            this.finish()
            throw err
          }
          if (step.done !== true) return step
          inner = undefined
          // The pipeline ended: because follow() parked this subscriber (wait above), or for good.
          if (this.parked === undefined) { this.finish(); return done() }
        }
      },
      return: async () => { await stop(); return done() },
      throw: async (err?: unknown) => { await stop(); throw err },
      [Symbol.asyncIterator] () { return this }
    }
  }

  private finish (): void {
    if (this.finished) return
    this.finished = true
    if (this.member !== undefined) this.group?.release(this.member)
  }

  private async * follow (peer: PeerApi, name: string, since: number, signal: AbortSignal, policy?: FollowPolicy): AsyncGenerator<NotificationRecord> {
    // autoDownload acts for its subscriber (a download on this peer): never shared.
    if (policy !== undefined && policy !== 'notify') {
      yield * peer.follow(name, since, signal, policy)
      return
    }
    // A reopened pipeline resumes after what the member was sent, not at `since`.
    const member = this.member ??= new Member(this.share.id, this.share.socket, since)
    const group = this.group ??= this.owner.attach(`${this.share.key}\n${name}`, name, peer, this.share.open)
    let own: AsyncIterator<NotificationRecord> | undefined
    try {
      for (;;) {
        if (signal.aborted || this.share.signal.aborted) return
        if (this.shared) {
          await group.started
          if (group.state === 'ended') this.shared = false
          else if (group.canJoin(member)) {
            // The group sends from here on. This pipeline ends; stream() waits on `parked`.
            this.parked = group.park(member, this.share.signal)
            return
          }
        }
        own ??= peer.follow(name, member.last, signal, 'notify')[Symbol.asyncIterator]()
        const step = await own.next()
        if (step.done === true) return
        member.last = step.value.seq
        yield step.value
      }
    } finally {
      void own?.return?.()?.catch(() => undefined)
    }
  }
}

export class FanOut {
  /** @internal */
  readonly groups = new Map<string, Group>()
  /** @internal */
  broadcasts = 0
  /** @internal */
  evictions = 0
  readonly highWaterBytes: number
  readonly sliceMs: number
  /** Where a member's frames are assembled: a socket copies what it keeps, so one buffer serves every write. */
  private buffer = Buffer.allocUnsafe(16 * 1024)

  constructor (init: FanOutInit = {}) {
    this.highWaterBytes = init.highWaterBytes ?? DEFAULT_HIGH_WATER_BYTES
    this.sliceMs = init.sliceMs ?? DEFAULT_SLICE_MS
  }

  /** A subscriber for one operation: its peer() goes to the resolver, its stream() to graphql-ws. */
  subscriber (share: ShareInit): SharedSubscriber {
    return new SharedSubscriber(this, share)
  }

  /** @internal The scratch buffer, at least `size` bytes. */
  scratch (size: number): Buffer {
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(Math.max(size, 2 * this.buffer.length))
    return this.buffer
  }

  stats (): FanOutStats {
    let members = 0
    for (const g of this.groups.values()) members += g.members.size
    return { groups: this.groups.size, members, broadcasts: this.broadcasts, evictions: this.evictions }
  }

  /** Ends every group; their members go on with their own streams until their sockets close. */
  close (): void {
    for (const g of [...this.groups.values()]) g.end()
  }

  /** @internal */
  attach (key: string, name: string, peer: PeerApi, open: OpenShared): Group {
    let group = this.groups.get(key)
    if (group === undefined) {
      group = new Group(this, key, name, peer, open)
      this.groups.set(key, group)
    }
    group.users++
    return group
  }
}
