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
 * no duplicate, no reordering. Once it joins, its own GraphQL pipeline
 * ends and only a SharedSubscriber and its Member stay; a subscriber that
 * must leave runs its operation again from its last seq (SharedSubscriber).
 *
 * fan-out-group.ts has the group: its queue, passes and members.
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
import { Group, Member, isAsyncIterable, withFollow, type Wake } from './fan-out-group.ts'

export { isAsyncIterable }

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
            let result: SubscribeResult
            try {
              result = await reopen()
            } catch (err) {
              this.finish()
              throw err
            }
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
