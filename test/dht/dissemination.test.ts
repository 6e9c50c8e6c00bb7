import { describe, expect, it } from 'vitest'
import { Dissemination, type DisseminationInit } from '../../src/dht/dissemination.ts'
import { PLACEMENT_SCHEME } from '../../src/dht/placement.ts'
import type { Catalog } from '../../src/dht/types.ts'
import { checkCatalog } from '../../src/dht/shard-write.ts'

const catalog = (nextDocId: number, placement?: number): Catalog => ({
  seq: 3, publisher: 'p', nextDocId, live: nextDocId - 1, postings: 0, rangeDocs: 8192, replicas: 3, releases: [], dead: [], date: '2026-11-28T00:00:00Z',
  ...(placement === undefined ? {} : { placement })
})

/** Only what backlog() reads: the local store's commit point and the network's catalog. */
function disseminationOver (localNext: number, held: Catalog | undefined): Dissemination {
  return new Dissemination({
    local: { nextDocId: localNext },
    catalog: { current: () => held, nextDocId: held?.nextDocId ?? 0 }
  } as unknown as DisseminationInit)
}

describe('Dissemination and the placement scheme', () => {
  it('has a backlog of what the catalog lacks under the current placement, and everything under an older one', () => {
    expect(disseminationOver(101, undefined).backlog()).toBe(100)
    expect(disseminationOver(101, catalog(101, PLACEMENT_SCHEME)).backlog()).toBe(0)
    expect(disseminationOver(151, catalog(101, PLACEMENT_SCHEME)).backlog()).toBe(50)
    // a catalog of scheme 1 (no field: keys were digests of their texts) is placed again whole
    expect(disseminationOver(101, catalog(101)).backlog()).toBe(100)
    expect(disseminationOver(101, catalog(101, 1)).backlog()).toBe(100)
  })

  it('refuses a catalog whose placement is not a positive integer', () => {
    expect(() => { checkCatalog(catalog(5, PLACEMENT_SCHEME)) }).not.toThrow()
    for (const bad of [0, -1, 1.5]) expect(() => { checkCatalog(catalog(5, bad)) }).toThrow(/placement/)
  })
})
