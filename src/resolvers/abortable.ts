/**
 * Subscriptions over the peer's AbortSignal-driven streams (follow,
 * downloadProgress, events). An async generator cannot be stopped while it
 * awaits its source (return() queues behind the pending next()), so an
 * unsubscribe between two notifications would leave the peer's stream
 * running until the next one. This iterator aborts the source at once.
 */

/**
 * Opens `open(signal)` and returns an iterator that aborts `signal` when the
 * consumer stops (return/throw) or when `parent` (the request/socket) aborts.
 * `map`/`keep` transform and filter items (filters on peer.events).
 */
export function abortable<T, R = T> (
  parent: AbortSignal | undefined,
  open: (signal: AbortSignal) => AsyncIterable<T>,
  options: { keep?: (item: T) => boolean, map?: (item: T) => R } = {}
): AsyncIterableIterator<R> {
  const controller = new AbortController()
  const onParentAbort = (): void => { controller.abort(parent?.reason) }
  if (parent?.aborted === true) controller.abort(parent.reason)
  else parent?.addEventListener('abort', onParentAbort, { once: true })

  const source = open(controller.signal)[Symbol.asyncIterator]()
  const done = (): IteratorResult<R> => ({ done: true, value: undefined })
  let finished = false
  const finish = async (): Promise<void> => {
    if (finished) return
    finished = true
    parent?.removeEventListener('abort', onParentAbort)
    controller.abort()
    // The source may be blocked in next(): aborting the signal ends it; return() (not awaited: it
    // queues behind that next() on an async generator) lets it clean up.
    void source.return?.().catch(() => undefined)
  }
  // A pending next() resolves `done` as soon as we stop, without waiting for the source.
  const stopped = new Promise<IteratorResult<R>>((resolve) => {
    controller.signal.addEventListener('abort', () => { resolve(done()) }, { once: true })
  })

  return {
    async next (): Promise<IteratorResult<R>> {
      if (finished) return done()
      for (;;) {
        const pending = source.next()
        // If we stop first, the source's late rejection (often an AbortError) must not go unhandled.
        pending.catch(() => undefined)
        let step: IteratorResult<T>
        try {
          step = await Promise.race([pending, stopped as Promise<IteratorResult<T>>])
        } catch (err) {
          const aborted = controller.signal.aborted
          await finish()
          if (aborted) return done()
          throw err
        }
        if (step.done === true || controller.signal.aborted) { await finish(); return done() }
        if (options.keep !== undefined && !options.keep(step.value)) continue
        return { done: false, value: options.map !== undefined ? options.map(step.value) : step.value as unknown as R }
      }
    },
    async return (): Promise<IteratorResult<R>> { await finish(); return done() },
    async throw (err?: unknown): Promise<IteratorResult<R>> { await finish(); throw err },
    [Symbol.asyncIterator] () { return this }
  }
}
