/**
 * Download throughput over time, from the byte counts downloadProgress
 * reports: pure arithmetic (tested in Node) and an SVG path. Rates are
 * computed per sampling interval over the sum of every download's bytes,
 * so parallel downloads add up and a finished one stops contributing.
 */

export interface ThroughputInit {
  /** Width of a sample bucket in ms (default 1000). */
  bucketMs?: number
  /** Buckets kept (default 120: two minutes at 1 s). */
  keep?: number
}

export interface RatePoint {
  /** Bucket start, ms since the epoch. */
  t: number
  /** Bytes per second in that bucket. */
  rate: number
}

export class Throughput {
  private readonly bucketMs: number
  private readonly keep: number
  /** Last bytesDone seen per download: progress events carry totals, the chart needs deltas. */
  private readonly last = new Map<string, number>()
  private readonly buckets = new Map<number, number>()

  constructor (init: ThroughputInit = {}) {
    this.bucketMs = init.bucketMs ?? 1000
    this.keep = init.keep ?? 120
  }

  /** Records a download's bytesDone at time `now` (ms). A count going backwards (a restart) is a new start. */
  record (downloadId: string, bytesDone: number, now: number): void {
    const before = this.last.get(downloadId)
    this.last.set(downloadId, bytesDone)
    if (before === undefined) return
    const delta = bytesDone >= before ? bytesDone - before : bytesDone
    if (delta === 0) return
    const bucket = Math.floor(now / this.bucketMs) * this.bucketMs
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + delta)
    if (this.buckets.size > this.keep) {
      const oldest = Math.min(...this.buckets.keys())
      this.buckets.delete(oldest)
    }
  }

  /** One point per bucket from the first recorded one to `now`, empty buckets as 0 B/s. */
  points (now: number): RatePoint[] {
    const end = Math.floor(now / this.bucketMs) * this.bucketMs
    const start = Math.max(end - (this.keep - 1) * this.bucketMs, this.buckets.size === 0 ? end : Math.min(...this.buckets.keys()))
    const out: RatePoint[] = []
    for (let t = start; t <= end; t += this.bucketMs) out.push({ t, rate: (this.buckets.get(t) ?? 0) * 1000 / this.bucketMs })
    return out
  }

  /** Total bytes seen moving, all downloads. */
  get bytes (): number {
    let sum = 0
    for (const b of this.buckets.values()) sum += b
    return sum
  }
}

/** An SVG polyline `points` attribute for rate points in a width × height box (y grows downwards). */
export function polylinePoints (points: readonly RatePoint[], width: number, height: number): { points: string, max: number } {
  if (points.length === 0) return { points: '', max: 0 }
  const max = Math.max(...points.map((p) => p.rate))
  const t0 = points[0].t
  const span = Math.max(1, points[points.length - 1].t - t0)
  const y = (r: number): number => max === 0 ? height : height - (r / max) * height
  const coords = points.map((p) => `${round((p.t - t0) / span * width)},${round(y(p.rate))}`)
  // A single point draws nothing: stretch it across the box.
  if (points.length === 1) coords.push(`${width},${round(y(points[0].rate))}`)
  return { points: coords.join(' '), max }
}

const round = (n: number): number => Math.round(n * 10) / 10

/** 1536 -> "1.5 KiB". */
export function formatBytes (n: number): string {
  if (!Number.isFinite(n)) return '?'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? String(Math.round(v)) : v.toFixed(1)} ${units[i]}`
}
