/**
 * A one-line progress bar on a terminal (stderr), silent otherwise so that
 * piped output stays machine-readable.
 */
export interface ProgressBarInit {
  stream?: NodeJS.WriteStream
  label: string
  /** Redraw at most this often (ms). Default 100. */
  interval?: number
}

export class ProgressBar {
  private readonly stream: NodeJS.WriteStream
  private last = 0
  private readonly t0 = performance.now()
  private drawn = false

  constructor (private readonly init: ProgressBarInit) {
    this.stream = init.stream ?? process.stderr
  }

  get enabled (): boolean { return this.stream.isTTY === true }

  update (done: number, total: number, detail = ''): void {
    if (!this.enabled) return
    const now = performance.now()
    if (now - this.last < (this.init.interval ?? 100) && done < total) return
    this.last = now
    const width = 30
    const frac = total > 0 ? Math.min(1, done / total) : 0
    const filled = Math.round(frac * width)
    const secs = (now - this.t0) / 1000
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled)
    this.stream.write(`\r${this.init.label} ${bar} ${(frac * 100).toFixed(0).padStart(3)}% ${detail} ${secs.toFixed(1)}s\x1b[K`)
    this.drawn = true
  }

  done (): void {
    if (this.drawn) this.stream.write('\r\x1b[K')
    this.drawn = false
  }
}
