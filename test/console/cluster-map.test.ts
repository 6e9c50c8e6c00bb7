import { describe, expect, it } from 'vitest'
import { clusterLabel, clusterMap, requesterShade, squarify, textColour, type MapCluster } from '../../src/server/console/web/cluster-map.ts'

const area = (r: { w: number, h: number }): number => r.w * r.h

describe('console cluster map', () => {
  it('gives each item an area proportional to its size, inside the box, without overlap', () => {
    const sizes = [600, 60, 300, 20, 10, 6, 4]
    const rects = squarify(sizes, (s) => s, 400, 250)
    expect(rects).toHaveLength(sizes.length)
    const total = 400 * 250
    const sum = sizes.reduce((s, x) => s + x, 0)
    for (const r of rects) {
      expect(area(r)).toBeCloseTo(r.item / sum * total, 6)
      expect(r.x).toBeGreaterThanOrEqual(-1e-9)
      expect(r.y).toBeGreaterThanOrEqual(-1e-9)
      expect(r.x + r.w).toBeLessThanOrEqual(400 + 1e-9)
      expect(r.y + r.h).toBeLessThanOrEqual(250 + 1e-9)
    }
    for (let i = 0; i < rects.length; i++) {
      for (let j = i + 1; j < rects.length; j++) {
        const a = rects[i]; const b = rects[j]
        const ox = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x)
        const oy = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y)
        expect(ox <= 1e-9 || oy <= 1e-9, `rects ${i} and ${j} overlap`).toBe(true)
      }
    }
    // Largest first, and the areas fill the box.
    expect(rects.map((r) => r.item)).toEqual([...sizes].sort((a, b) => b - a))
    expect(rects.reduce((s, r) => s + area(r), 0)).toBeCloseTo(total, 6)
  })

  it('keeps blocks near squares (the point of squarifying) and is deterministic', () => {
    const sizes = Array.from({ length: 16 }, (_, i) => 1000 - i * 50)
    const rects = squarify(sizes, (s) => s, 300, 300)
    const worst = Math.max(...rects.map((r) => Math.max(r.w / r.h, r.h / r.w)))
    expect(worst).toBeLessThan(3)
    expect(squarify(sizes, (s) => s, 300, 300)).toEqual(rects)
    // Ties keep the order they were given in.
    expect(squarify(['a', 'b', 'c'], () => 1, 90, 30).map((r) => r.item)).toEqual(['a', 'b', 'c'])
  })

  it('draws nothing for nothing: empty input, zero sizes, an empty box', () => {
    expect(squarify([], () => 1, 100, 100)).toEqual([])
    expect(squarify([0, 0], (s) => s, 100, 100)).toEqual([])
    expect(squarify([1, 2], (s) => s, 0, 100)).toEqual([])
    const one = squarify([0, 5], (s) => s, 100, 40)
    expect(one).toEqual([{ item: 5, x: 0, y: 0, w: 100, h: 40 }])
  })

  it('shades by requesters and bands by waste, with a label that says it all', () => {
    expect(requesterShade(1, 5)).toBe('hsl(214 62% 85%)')
    expect(requesterShade(5, 5)).toBe('hsl(214 62% 35%)')
    expect(requesterShade(3, 5)).toBe('hsl(214 62% 60%)')
    expect(requesterShade(2, 1)).toBe('hsl(214 62% 85%)')
    // Text stays readable: white on the dark end, dark on the light end.
    expect(textColour(5, 5)).toBe('#ffffff')
    expect(textColour(1, 5)).toBe('#0d1b33')
    const clusters: MapCluster[] = [
      { id: 'c0', bytes: 3 * 1024 * 1024, units: 120, requesters: 5, waste: 0, infoHash: 'ab'.repeat(20) },
      { id: 'c1', bytes: 1024 * 1024, units: 30, requesters: 2, waste: 256 * 1024, infoHash: null }
    ]
    const blocks = clusterMap(clusters, 400, 200)
    expect(blocks.map((b) => b.id)).toEqual(['c0', 'c1'])
    expect(blocks[0].w * blocks[0].h).toBeCloseTo(3 * blocks[1].w * blocks[1].h, 0)
    expect(blocks[0].wasteBand).toBe(0)
    expect(blocks[1].wasteBand).toBeCloseTo(blocks[1].h / 4, 1)
    expect(blocks[0].fill).toBe('hsl(214 62% 35%)')
    expect(blocks[0].textFill).toBe('#ffffff')
    expect(blocks[1].textFill).toBe('#0d1b33')
    expect(blocks[0].text).toBe('c0: 3.0 MiB')
    expect(blocks[0].label).toBe(`Cluster c0: 120 units, 3.0 MiB, wanted by 5 peers, waste 0 B (0.0%), torrent ${'ab'.repeat(6)}…`)
    expect(clusterLabel(clusters[1])).toBe('Cluster c1: 30 units, 1.0 MiB, wanted by 2 peers, waste 256.0 KiB (25.0%), not seeded yet')
    // A block too small for its text gets none (the label still names it).
    const tiny = clusterMap([{ id: 'big', bytes: 1000, units: 1, requesters: 1, waste: 0 }, { id: 'small', bytes: 1, units: 1, requesters: 1, waste: 0 }], 200, 100)
    expect(tiny[1].text).toBe('')
    expect(tiny[1].label).toMatch(/^Cluster small: 1 unit, 1 B, wanted by 1 peer,/)
  })
})
