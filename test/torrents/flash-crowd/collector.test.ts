import { afterEach, describe, expect, it, vi } from 'vitest'
import { WishListCollector, WishListRefusedError, assignClusters } from '../../../src/torrents/flash-crowd/collector.ts'
import { clusterWishLists } from '../../../src/torrents/flash-crowd/cluster.ts'

afterEach(() => { vi.useRealTimers() })

describe('WishListCollector', () => {
  it('keeps one wish list per peer, the latest, and closes when the window ends', async () => {
    vi.useFakeTimers()
    const c = new WishListCollector({ release: 'trixie', windowMs: 1000 })
    expect(c.submit('p1', ['a', 'b']).replaced).toBe(false)
    expect(c.submit('p1', ['b', 'c', 'c']).replaced).toBe(true)
    c.submit('p2', ['a'])
    expect(c.isOpen).toBe(true)
    vi.advanceTimersByTime(1000)
    expect(await c.closed).toEqual([{ peer: 'p1', units: ['b', 'c'] }, { peer: 'p2', units: ['a'] }])
    expect(c.isOpen).toBe(false)
  })

  it('closes early once every expected peer has answered', async () => {
    const c = new WishListCollector({ release: 'trixie', windowMs: 60_000, expectedPeers: ['p1', 'p2'] })
    expect(c.submit('p1', ['a']).state).toBe('open')
    // The list that completes the set was taken inside the window; the window closes after it.
    expect(c.submit('p2', ['b']).state).toBe('open')
    expect(c.isOpen).toBe(false)
    expect((await c.closed).map((l) => l.peer)).toEqual(['p1', 'p2'])
  })

  it('answers a late peer with the existing clusters that cover its list, without recomputing', async () => {
    const c = new WishListCollector({ release: 'trixie', windowMs: 60_000 })
    c.submit('p1', ['a', 'b'])
    c.submit('p2', ['b', 'c'])
    c.close()
    const lists = await c.closed
    const units = ['a', 'b', 'c', 'd'].map((id) => ({ id, bytes: 10 }))
    const result = clusterWishLists(units, lists)
    c.setClustering(result)
    const late = c.submit('p3', ['a', 'c', 'd'])
    expect(late.state).toBe('closed')
    expect(late.assignment?.uncovered).toEqual(['d'])
    expect(late.assignment?.clusters.flatMap((x) => x.units).sort()).toEqual(['a', 'c'])
    expect(c.late.map((l) => l.peer)).toEqual(['p3'])
    expect(await c.closed).toHaveLength(2)
  })

  it('refuses an oversized wish list by name', () => {
    const c = new WishListCollector({ release: 'r', maxUnits: 2 })
    expect(() => c.submit('p9', ['a', 'b', 'c'])).toThrow(WishListRefusedError)
    expect(() => c.submit('p9', ['a', 'b', 'c'])).toThrow(/p9.*3 units/)
    c.close()
  })
})

describe('assignClusters', () => {
  it('selects per cluster exactly the wanted units', () => {
    const clusters = [
      { id: 'x', units: ['a', 'b'], bytes: 2, pieceLength: 16384, requesters: [], segments: 1, waste: 0 },
      { id: 'y', units: ['c'], bytes: 1, pieceLength: 16384, requesters: [], segments: 1, waste: 0 }
    ]
    expect(assignClusters(clusters, ['b', 'c', 'c', 'z'])).toEqual({ clusters: [{ id: 'x', units: ['b'] }, { id: 'y', units: ['c'] }], uncovered: ['z'] })
  })
})
