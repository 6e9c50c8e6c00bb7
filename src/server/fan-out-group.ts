/**
 * A fan-out group (see fan-out.ts): the subscribers of one channel that
 * share an operation, the group's own subscription, the queue of encoded
 * notifications, and the passes that write them to the members.
 */
import type { ExecutionResult } from 'graphql'
import type { PeerApi } from '../actors/types.ts'
import type { FanOutSocket, OpenShared } from './fan-out.ts'
import { encodePayload, frameLength, putTextFrame } from './frames.ts'

const OPEN = 1 // WebSocket.OPEN
/** Members written between two looks at the clock. */
const SLICE_CHECK = 64

export type Wake = 'evicted' | 'ended' | 'aborted'

export function isAsyncIterable (value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function'
}

/**
 * `peer` with another follow(). A Proxy rather than a copy: PeerApi is a
 * class instance whose methods need their own `this`.
 */
export function withFollow (peer: PeerApi, follow: PeerApi['follow']): PeerApi {
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

export class Member {
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

/** What a group needs of its FanOut. */
export interface GroupOwner {
  readonly groups: Map<string, Group>
  broadcasts: number
  evictions: number
  readonly highWaterBytes: number
  readonly sliceMs: number
  scratch: (size: number) => Buffer
}

export class Group {
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

  constructor (private readonly owner: GroupOwner, readonly key: string, name: string, peer: PeerApi, open: OpenShared) {
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
