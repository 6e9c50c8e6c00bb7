/**
 * One typed event bus per peer: publishing, channels and downloads publish
 * into it; GraphQL subscriptions read from it. The channel and content
 * issues only add publishers.
 *
 * Slow subscribers: each subscription buffers at most `capacity` events;
 * when full, the OLDEST buffered event is dropped and `dropped` counts it.
 * A publisher therefore never waits on a subscriber. Whoever cannot lose
 * events repairs from durable state: channel followers detect the seq gap
 * and re-read the channel log; download progress only needs the latest
 * record.
 */

export interface SubscribeInit<T> {
  /** Ends the iteration (without an error) when aborted. */
  signal?: AbortSignal
  /** Only events it accepts are buffered (so unrelated traffic cannot evict them). */
  filter?: (event: T) => boolean
  /** Buffered events before drop-oldest starts. Default: the bus's capacity (1024). */
  capacity?: number
}

export class Subscription<T> implements AsyncIterable<T> {
  private readonly queue: T[] = []
  private head = 0
  private waiter: ((r: IteratorResult<T>) => void) | undefined
  private closed = false
  /** Events dropped because this subscriber fell `capacity` events behind. */
  dropped = 0

  constructor (private readonly capacity: number, private readonly onClose: (s: Subscription<T>) => void) {}

  /** @internal */
  push (event: T): void {
    if (this.closed) return
    if (this.waiter !== undefined) {
      const w = this.waiter
      this.waiter = undefined
      w({ value: event, done: false })
      return
    }
    this.queue.push(event)
    if (this.queue.length - this.head > this.capacity) { this.head++; this.dropped++ }
    // Compact now and then so the array does not grow without bound.
    if (this.head > 1024 && this.head * 2 > this.queue.length) { this.queue.splice(0, this.head); this.head = 0 }
  }

  get buffered (): number { return this.queue.length - this.head }

  close (): void {
    if (this.closed) return
    this.closed = true
    this.queue.length = 0
    this.head = 0
    this.onClose(this)
    const w = this.waiter
    this.waiter = undefined
    w?.({ value: undefined, done: true })
  }

  async next (): Promise<IteratorResult<T>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head]
      this.queue[this.head++] = undefined as T
      return { value, done: false }
    }
    if (this.closed) return { value: undefined, done: true }
    return await new Promise((resolve) => { this.waiter = resolve })
  }

  [Symbol.asyncIterator] (): AsyncIterator<T> {
    return {
      next: async () => await this.next(),
      return: async () => { this.close(); return { value: undefined, done: true } }
    }
  }
}

export interface EventBusInit {
  /** Default per-subscriber buffer. Default 1024 events. */
  capacity?: number
}

export class EventBus<T> {
  private readonly subscribers = new Set<{ sub: Subscription<T>, filter?: (e: T) => boolean }>()
  private readonly capacity: number

  constructor (init: EventBusInit = {}) {
    this.capacity = init.capacity ?? 1024
  }

  get subscriberCount (): number { return this.subscribers.size }

  /** A subscription that sees every event published from now on. */
  subscribe (init: SubscribeInit<T> = {}): Subscription<T> {
    const entry = { sub: undefined as unknown as Subscription<T>, filter: init.filter }
    entry.sub = new Subscription<T>(init.capacity ?? this.capacity, () => { this.subscribers.delete(entry) })
    if (init.signal?.aborted === true) { entry.sub.close(); return entry.sub }
    this.subscribers.add(entry)
    init.signal?.addEventListener('abort', () => { entry.sub.close() }, { once: true })
    return entry.sub
  }

  /** Delivers synchronously to every subscriber's buffer; never blocks. */
  publish (event: T): void {
    for (const { sub, filter } of [...this.subscribers]) {
      if (filter === undefined || filter(event)) sub.push(event)
    }
  }

  /** Ends every subscription (peer stop). */
  close (): void {
    for (const { sub } of [...this.subscribers]) sub.close()
  }
}
