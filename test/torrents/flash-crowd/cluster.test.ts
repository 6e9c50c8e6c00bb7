import { describe, expect, it } from 'vitest'
import { ClusterSettingsError, UnknownUnitError, clusterWishLists, defaultPieceLength, runWaste, type Cluster, type ClusterUnit, type WishList } from '../../../src/torrents/flash-crowd/cluster.ts'
import { computeWishList } from '../../../src/torrents/flash-crowd/wish-list.ts'
import { mulberry32 as random } from '../../oracle/random-patterns.ts'

function randomCase (seed: number, unitCount: number, peerCount: number): { units: ClusterUnit[], wishes: WishList[] } {
  const r = random(seed)
  const units = Array.from({ length: unitCount }, (_, i) => ({ id: `pkg/u${String(i).padStart(4, '0')}`, bytes: Math.floor(r() * 300_000) }))
  const wishes = Array.from({ length: peerCount }, (_, p) => ({ peer: `peer-${p}`, units: units.filter(() => r() < 0.5).map((u) => u.id) }))
  return { units, wishes }
}

/** Waste counted file by file, independently of the implementation: every piece a wanted file touches is received. */
function measuredWaste (c: Cluster, units: ClusterUnit[], wishes: WishList[]): number {
  const size = new Map(units.map((u) => [u.id, u.bytes]))
  let waste = 0
  for (const w of wishes) {
    const mine = new Set(w.units)
    const pieces = new Set<number>()
    let offset = 0; let wanted = 0
    for (const id of c.units) {
      const bytes = size.get(id)!
      if (mine.has(id) && bytes > 0) {
        wanted += bytes
        for (let p = Math.floor(offset / c.pieceLength); p <= Math.floor((offset + bytes - 1) / c.pieceLength); p++) pieces.add(p)
      }
      offset += bytes
    }
    let received = 0
    for (const p of pieces) received += Math.min(c.bytes, (p + 1) * c.pieceLength) - p * c.pieceLength
    waste += received - wanted
  }
  return waste
}

describe('clusterWishLists', () => {
  it('groups units by the exact set of peers that want them', () => {
    const units = ['a', 'b', 'c', 'd', 'e', 'f'].map((id) => ({ id, bytes: 100 }))
    const wishes = [{ peer: 'p1', units: ['a', 'b', 'c'] }, { peer: 'p2', units: ['b', 'c', 'd'] }, { peer: 'p3', units: ['e'] }]
    const r = clusterWishLists(units, wishes, { maxTorrents: 100 })
    expect(r.exactClusters).toBe(4)
    expect(r.unwanted).toBe(1)
    expect(r.merges).toBe(0)
    const groups = r.clusters.map((c) => ({ units: [...c.units].sort(), requesters: c.requesters })).sort((x, y) => x.units[0] < y.units[0] ? -1 : 1)
    expect(groups).toEqual([
      { units: ['a'], requesters: ['p1'] },
      { units: ['b', 'c'], requesters: ['p1', 'p2'] },
      { units: ['d'], requesters: ['p2'] },
      { units: ['e'], requesters: ['p3'] }
    ])
    expect(r.wasteBytes).toBe(0)
    expect(r.wantedBytes).toBe(700)
  })

  it('never exceeds K, and merges exactly as far as K requires with no budget', () => {
    const { units, wishes } = randomCase(7, 300, 6)
    const exact = clusterWishLists(units, wishes, { maxTorrents: 10_000 }).exactClusters
    for (const k of [1, 2, 3, 5, 8, 13, 40, 1000]) {
      const r = clusterWishLists(units, wishes, { maxTorrents: k })
      expect(r.clusters.length).toBe(Math.min(k, exact))
      expect(r.clusters.reduce((n, c) => n + c.units.length, 0)).toBe(units.length - r.unwanted)
    }
  })

  it('is deterministic: the same wish lists in any order give the same clusters', () => {
    const { units, wishes } = randomCase(11, 200, 5)
    const a = clusterWishLists(units, wishes, { maxTorrents: 4 })
    const shuffled = clusterWishLists([...units].reverse(), [...wishes].reverse().map((w) => ({ peer: w.peer, units: [...w.units].reverse() })), { maxTorrents: 4 })
    expect(shuffled.clusters.map((c) => [c.id, c.units])).toEqual(a.clusters.map((c) => [c.id, c.units]))
    expect(shuffled.wasteBytes).toBe(a.wasteBytes)
  })

  it('reports the waste a per-file-selecting download measures, exactly', () => {
    for (const seed of [1, 2, 3]) {
      const { units, wishes } = randomCase(seed, 150, 4)
      for (const k of [1, 3, 8]) {
        const r = clusterWishLists(units, wishes, { maxTorrents: k, pieceLength: () => 64 * 1024 })
        let total = 0
        for (const c of r.clusters) {
          const measured = measuredWaste(c, units, wishes)
          expect(c.waste).toBe(measured)
          total += measured
        }
        expect(r.wasteBytes).toBe(total)
        expect(r.wasteWithoutSelection).toBeGreaterThanOrEqual(r.wasteBytes)
      }
    }
  })

  it('costs less waste with more torrents (K = 1 wastes most)', () => {
    const { units, wishes } = randomCase(5, 400, 6)
    const wastes = [1, 4, 16, 64].map((k) => clusterWishLists(units, wishes, { maxTorrents: k, pieceLength: () => 256 * 1024 }).wasteBytes)
    expect(wastes[0]).toBeGreaterThanOrEqual(wastes[3])
    expect(wastes[3]).toBeGreaterThanOrEqual(0)
  })

  it('keeps K and exact waste when candidates are limited to neighbours (large inputs)', () => {
    const { units, wishes } = randomCase(9, 400, 8)
    const r = clusterWishLists(units, wishes, { maxTorrents: 5, allPairsUpTo: 0, pieceLength: () => 32 * 1024 })
    expect(r.clusters.length).toBe(5)
    for (const c of r.clusters) expect(c.waste).toBe(measuredWaste(c, units, wishes))
  })

  it('spends a waste budget on merges below K', () => {
    const { units, wishes } = randomCase(3, 200, 4)
    const bounded = clusterWishLists(units, wishes, { maxTorrents: 12 })
    const generous = clusterWishLists(units, wishes, { maxTorrents: 12, wasteBudget: 1 })
    expect(generous.clusters.length).toBeLessThan(bounded.clusters.length)
    expect(generous.wasteBytes).toBeLessThanOrEqual(generous.wantedBytes)
  })

  it('refuses unknown units and bad settings by name', () => {
    const units = [{ id: 'a', bytes: 1 }]
    expect(() => clusterWishLists(units, [{ peer: 'p', units: ['zz'] }])).toThrow(UnknownUnitError)
    expect(() => clusterWishLists(units, [{ peer: 'p', units: ['zz'] }])).toThrow(/p.*'zz'/)
    expect(() => clusterWishLists(units, [], { maxTorrents: 0 })).toThrow(ClusterSettingsError)
    expect(() => clusterWishLists(units, [], { wasteBudget: -1 })).toThrow(ClusterSettingsError)
    expect(clusterWishLists(units, []).clusters).toEqual([])
  })
})

describe('runWaste and defaultPieceLength', () => {
  it('counts a shared piece once and the short last piece by its size', () => {
    expect(runWaste([[0, 10]], 100, 10)).toBe(0)
    expect(runWaste([[5, 15]], 100, 10)).toBe(10)
    expect(runWaste([[5, 8], [9, 12]], 100, 10)).toBe(20 - 6)
    expect(runWaste([[95, 100]], 100, 10)).toBe(5)
    expect(runWaste([[90, 100]], 100, 10)).toBe(0)
    expect(runWaste([[91, 97]], 97, 10)).toBe(1)
  })

  it('gives powers of two: about 1,024 pieces, a quarter of the average file at most, never over MAX_PIECES', () => {
    expect(defaultPieceLength(0)).toBe(16 * 1024)
    expect(defaultPieceLength(200 * 2 ** 20)).toBe(256 * 1024)
    expect(defaultPieceLength(100 * 2 ** 30)).toBe(4 * 1024 * 1024)
    expect(defaultPieceLength(40 * 2 ** 30, 60_000)).toBe(512 * 1024)
    expect(defaultPieceLength(60 * 2 ** 20, 60)).toBe(64 * 1024)
  })
})

describe('computeWishList', () => {
  const release = [
    { id: 'pkg/vim', name: 'vim', version: '2', arch: 'amd64', checksum: 'sha256:aa', bytes: 10 },
    { id: 'pkg/nano', name: 'nano', version: '7', arch: 'amd64', checksum: 'sha256:bb', bytes: 20 },
    { id: 'pkg/ed', name: 'ed', version: '1', arch: 'amd64', checksum: 'sha256:cc', bytes: 30 },
    { id: 'pkg/nosum', name: 'nosum', version: '1', bytes: 5 }
  ]

  it('keeps only identical units out (name, version, arch and checksum)', () => {
    const r = computeWishList(release, [
      { name: 'vim', version: '2', arch: 'amd64', checksum: 'SHA256:AA' },
      { name: 'nano', version: '7', arch: 'amd64', checksum: 'sha256:other' },
      { name: 'ed', version: '0.9', arch: 'amd64', checksum: 'sha256:cc' },
      { name: 'nosum', version: '1', checksum: 'sha256:dd' }
    ])
    expect(r.held.map((u) => u.id)).toEqual(['pkg/vim'])
    expect(r.wanted.map((u) => u.id)).toEqual(['pkg/nano', 'pkg/ed', 'pkg/nosum'])
    expect(r.wantedBytes).toBe(55)
    expect(r.heldBytes).toBe(10)
  })

  it('narrows to what the peer is interested in', () => {
    const r = computeWishList(release, [], (u) => u.name.startsWith('n'))
    expect(r.wanted.map((u) => u.id)).toEqual(['pkg/nano', 'pkg/nosum'])
  })
})
