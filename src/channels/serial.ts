/**
 * Runs tasks one at a time in call order; a failed task does not block the
 * next one. Used where interleaved awaits would break an invariant: a
 * channel log appended in seq order, two publishes, a channel deleted while
 * a notification is being written (roles import it from here, downward).
 */
export class SerialQueue {
  private chain: Promise<unknown> = Promise.resolve()

  async run<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    // the chain keeps no task's result: the last publish's notifications (every unit of a release) stayed reachable through it
    this.chain = run.then(() => undefined, () => undefined)
    return await run
  }

  /** Resolves once every task queued so far has finished. */
  async idle (): Promise<void> { await this.chain }
}
