/**
 * A flash crowd end to end in one process, with real content nodes moving
 * bytes over BitTorrent on 127.0.0.1 (libp2p carries the same calls between
 * processes; test/e2e/flash-crowd.test.ts runs that): the coordinator
 * collects three wish lists, clusters them with K smaller than the number
 * of requester sets (so merged torrents hold files some peers do not want),
 * seeds the clusters; each participant downloads exactly its wish list,
 * verified, and the waste it measures (verified pieces minus wanted bytes)
 * adds up to the clustering's reported waste.
 */
import { readFile } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ContentNode, type ContentOffer, type UnitContent } from '../../../src/torrents/index.ts'
import { FlashCrowdCoordinator, FlashCrowdParticipant, WishListRefusedError, type AnnouncedCluster, type FlashCrowdAnnouncement, type FlashCrowdStatus } from '../../../src/torrents/flash-crowd/index.ts'
import { randomUnit, tempDir } from '../helpers.ts'

describe('flash crowd: coordinator and participants with real torrents', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

  async function node (what: string, peerId?: string): Promise<{ dir: string, node: ContentNode }> {
    const { dir, cleanup } = await tempDir(what)
    const n = await ContentNode.start({ path: join(dir, 'content'), stallMs: 30_000, peerId })
    cleanups.push(cleanup, async () => { await n.stop() })
    return { dir, node: n }
  }

  it('clusters wish lists, seeds the clusters, and every peer gets exactly its wish list with the waste the clustering reported', async () => {
    const pub = await node('fc-pub')
    // Sizes that do not fall on piece boundaries, so merged torrents have pieces straddling wanted and unwanted files.
    const sizes = [70_001, 45_555, 120_333, 33_000, 81_920, 65_537, 99_999, 40_404, 150_000, 17_171, 60_606, 88_888]
    const units: UnitContent[] = []
    const bytes = new Map<string, Buffer>()
    for (const [i, size] of sizes.entries()) {
      const u = await randomUnit(pub.dir, `unit${String(i).padStart(2, '0')}_1.0_all.deb`, size)
      const unit = { ...u.unit, unit: `pkg/unit${i}/1.0/all` }
      await pub.node.putFile(u.file, unit, 'publish')
      units.push(unit)
      bytes.set(unit.unit, u.bytes)
    }
    const ids = units.map((u) => u.unit)
    const wishes: Record<string, string[]> = {
      alice: ids.slice(0, 8),
      bob: [...ids.slice(4, 10), ids[0]],
      carol: [...ids.slice(2, 6), ...ids.slice(9, 12)]
    }
    const announcements: FlashCrowdAnnouncement[] = []
    const statuses: FlashCrowdStatus[] = []
    const coordinator = new FlashCrowdCoordinator({
      release: 'r2',
      units: units.map((u) => ({ id: u.unit, bytes: u.size })),
      seedable: new Set(ids.slice(0, 11)),
      settings: { windowMs: 60_000, expectedPeers: 3, maxTorrents: 2 },
      seed: async (name, us, pieceLength, wants) => await pub.node.seedSet(name, us, { pieceLength, webSeed: false, superSeed: wants }),
      announce: async (a) => { announcements.push(a) },
      uploaded: (ih) => pub.node.torrentStats(ih)?.uploaded ?? 0,
      downloaders: (ih) => pub.node.setDownloaders(ih),
      onStatus: (s) => { statuses.push(s) },
      refreshMs: 200
    })
    cleanups.push(async () => { coordinator.stop() })
    await coordinator.open()
    expect(announcements[0]).toMatchObject({ phase: 'open', release: 'r2' })
    expect(() => coordinator.submit('mallory', ['pkg/nope/1/all'])).toThrow(WishListRefusedError)
    // A later list replaces an earlier one inside the window.
    expect(coordinator.submit('alice', ids.slice(0, 2))).toMatchObject({ state: 'open', replaced: false })
    expect(coordinator.submit('alice', wishes.alice)).toMatchObject({ state: 'open', replaced: true })
    coordinator.submit('bob', wishes.bob)
    expect(coordinator.submit('carol', wishes.carol).state).toBe('open')
    expect(coordinator.current().requesters.every((r) => !r.late)).toBe(true)
    await coordinator.done
    const status = coordinator.current()
    expect(status.state).toBe('announced')
    expect(status.clusters.length).toBeLessThanOrEqual(2)
    expect(status.exactClusters).toBeGreaterThan(2)
    // Unit 11 has no content at the publisher: carol's copy of it is uncovered.
    expect(status.uncovered).toBe(1)
    const clusters = announcements.find((a) => a.phase === 'clusters')?.clusters as AnnouncedCluster[]
    expect(clusters.map((c) => c.infoHash)).toEqual(status.clusters.map((c) => c.infoHash))

    // The publisher's offer, and the other downloaders as peers of the swarm (what the publisher's tracker tells them in a
    // real network): a super-seeder gives a downloader fresh pieces only, so the rest must come from the others.
    const nodes = new Map<string, { dir: string, node: ContentNode }>()
    for (const peer of Object.keys(wishes)) nodes.set(peer, await node(`fc-${peer}`, peer))
    const offersFor = (self: string) => async (ih: string): Promise<ContentOffer[]> => {
      const o = await pub.node.torrentOffer(ih)
      if (o === undefined) return []
      return [{ peer: 'publisher', ...o }, ...[...nodes].filter(([peer]) => peer !== self).map(([peer, n]) => ({ peer, torrent: o.torrent, bittorrent: [n.node.bittorrentAddress] }))]
    }
    const results = await Promise.all(Object.entries(wishes).map(async ([peer, wish]) => {
      const p = nodes.get(peer) as { dir: string, node: ContentNode }
      const offerOf = offersFor(peer)
      const wanted = new Map(units.filter((u) => wish.includes(u.unit) && u.unit !== ids[11]).map((u) => [u.unit, u]))
      const participant = new FlashCrowdParticipant({ release: 'r2', content: p.node, wanted, held: { units: 0, bytes: 0 }, torrentOffers: offerOf })
      expect(participant.uncovered(clusters)).toEqual([])
      const end = await participant.download(clusters)
      return { peer, p, wanted, end }
    }))
    let measured = 0
    for (const { p, wanted, end } of results) {
      expect(end.state).toBe('downloading')
      expect(end.bytesDone).toBe([...wanted.values()].reduce((s, u) => s + u.size, 0))
      // Exactly the wish list, byte for byte.
      const held = []
      for await (const u of p.node.store.list()) held.push(u.unit)
      expect(held.sort()).toEqual([...wanted.keys()].sort())
      for (const u of wanted.values()) {
        const got = await readFile(p.node.store.filePath(u.sha256))
        expect(createHash('sha256').update(got).digest('hex')).toBe(u.sha256)
        expect(got.equals(bytes.get(u.unit) as Buffer)).toBe(true)
      }
      measured += end.wasteMeasured
    }
    expect(status.wasteBytes).toBeGreaterThan(0)
    expect(measured).toBe(status.wasteBytes)
    // The publisher's upload is counted per cluster torrent.
    await new Promise((resolve) => setTimeout(resolve, 500))
    coordinator.refresh()
    expect(coordinator.current().uploaded).toBeGreaterThan(0)
    // Super-seeded: the publisher saw each peer's HAVEs, so it knows each one holds its whole (covered) wish list.
    const covered = (peer: string): number => units.filter((u) => wishes[peer].includes(u.unit) && u.unit !== ids[11]).reduce((s, u) => s + u.size, 0)
    for (const r of coordinator.current().requesters) expect(r.bytesDone, r.peer).toBe(covered(r.peer))
  }, 120_000)

  it('tells a peer that answers after the window which existing clusters cover its wish list', async () => {
    const pub = await node('fc-late')
    const units: UnitContent[] = []
    for (let i = 0; i < 4; i++) {
      const u = await randomUnit(pub.dir, `late${i}_1_all.deb`, 20_000 + i)
      const unit = { ...u.unit, unit: `pkg/late${i}/1/all` }
      await pub.node.putFile(u.file, unit, 'publish')
      units.push(unit)
    }
    const ids = units.map((u) => u.unit)
    const coordinator = new FlashCrowdCoordinator({
      release: 'r',
      units: units.map((u) => ({ id: u.unit, bytes: u.size })),
      seedable: new Set(ids),
      settings: { windowMs: 60_000 },
      seed: async (name, us, pieceLength) => await pub.node.seedSet(name, us, { pieceLength, webSeed: false }),
      announce: async () => {}
    })
    cleanups.push(async () => { coordinator.stop() })
    coordinator.submit('a', ids.slice(0, 2))
    coordinator.close()
    await coordinator.done
    const late = coordinator.submit('b', [ids[1], ids[3]])
    expect(late.state).toBe('closed')
    expect(late.assignment?.clusters.flatMap((c) => c.units)).toEqual([ids[1]])
    expect(late.assignment?.uncovered).toEqual([ids[3]])
    expect(coordinator.current().requesters.find((r) => r.peer === 'b')?.late).toBe(true)
  }, 60_000)
})
