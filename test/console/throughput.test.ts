import { describe, expect, it } from 'vitest'
import { formatBytes, polylinePoints, Throughput } from '../../src/server/console/web/throughput.ts'

describe('console throughput', () => {
  it('turns byte totals of parallel downloads into per-second rates', () => {
    const t = new Throughput({ bucketMs: 1000 })
    t.record('a', 0, 10_000)
    t.record('b', 100, 10_100) // first sight of b: a baseline, not a transfer
    t.record('a', 500, 10_500)
    t.record('b', 300, 10_900)
    t.record('a', 1500, 11_200)
    expect(t.points(12_500)).toEqual([{ t: 10_000, rate: 700 }, { t: 11_000, rate: 1000 }, { t: 12_000, rate: 0 }])
    expect(t.bytes).toBe(1700)
  })

  it('takes a count going backwards for a restart and keeps a bounded window', () => {
    const t = new Throughput({ bucketMs: 1000, keep: 3 })
    t.record('a', 1000, 0)
    t.record('a', 200, 500)
    expect(t.bytes).toBe(200)
    for (let s = 1; s <= 5; s++) t.record('a', 200 + s * 100, s * 1000)
    expect(t.points(5000).map((p) => p.t)).toEqual([3000, 4000, 5000])
    expect(t.points(5000).every((p) => p.rate === 100)).toBe(true)
  })

  it('draws nothing from nothing, a flat line from one point, and scales to the peak', () => {
    expect(polylinePoints([], 100, 50)).toEqual({ points: '', max: 0 })
    expect(polylinePoints([{ t: 0, rate: 0 }], 100, 50)).toEqual({ points: '0,50 100,50', max: 0 })
    expect(polylinePoints([{ t: 0, rate: 10 }, { t: 1000, rate: 20 }, { t: 2000, rate: 0 }], 100, 50)).toEqual({ points: '0,25 50,0 100,50', max: 20 })
  })

  it('formats byte counts', () => {
    expect(formatBytes(0)).toBe('0 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB')
    expect(formatBytes(NaN)).toBe('?')
  })
})
