/** Runs tasks one at a time in call order; a failed task does not block the next (the log is appended in seq order). */
export class SerialQueue {
  private chain: Promise<unknown> = Promise.resolve()

  async run<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn)
    this.chain = run.catch(() => undefined)
    return await run
  }

  async idle (): Promise<void> { await this.chain }
}
