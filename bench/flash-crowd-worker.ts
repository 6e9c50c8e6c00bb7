/**
 * One process of the flash-crowd bench (bench/flash-crowd-bench.ts), driven
 * over IPC (bench/flash-crowd-ipc.ts):
 *   publisher DIR UPLINK  a ContentNode (tracker on 127.0.0.1, no web seed)
 *                         holding the R2 units, and the real
 *                         FlashCrowdCoordinator: collects the wish lists,
 *                         clusters them, seeds one torrent per cluster
 *   peer DIR UPLINK       a ContentNode holding its R1 units; computes its
 *                         wish list from its store, runs the real
 *                         FlashCrowdParticipant on the announced clusters,
 *                         verifies, keeps seeding; later fetches the same
 *                         wish list over HTTP for the baseline
 * UPLINK: bytes/s this process may send over BitTorrent. Each exits on the
 * `stop` request or when the bench goes away (IPC channel closed).
 */
import '../src/shims/index.ts'
import { createHash } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { appendFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { AddressInfo } from 'node:net'
import { basename, join } from 'node:path'
import { ContentNode, sha256File, type UnitContent } from '../src/torrents/index.ts'
import { FlashCrowdCoordinator, FlashCrowdParticipant, computeWishList, type AnnouncedCluster, type HeldUnit } from '../src/torrents/flash-crowd/index.ts'
import { materialize, type SyntheticUnit } from '../scripts/synthetic-release.ts'
import { Ipc, fromWire, toWire, type Body, type DownloadReport, type OfferWire } from './flash-crowd-ipc.ts'
import { unitId } from './flash-crowd-data.ts'

export const RELEASE = 'trixie'
const [role, dir, uplink, peerId, seedMode] = process.argv.slice(2)
const superSeed = seedMode === 'super-seed'
const STALL_MS = 180_000

const content = (u: SyntheticUnit): UnitContent => ({ unit: unitId(u), sha256: u.sha256, size: u.size, name: basename(u.filename) })

/** What the bench reads of WebTorrent's torrents and wires (internals, for the diagnosis of stalls only). */
interface WireView { destroyed: boolean, amInterested: boolean, peerChoking: boolean, remoteAddress?: string, remotePort?: number }
interface TorrentView { infoHash: string, name: string, done: boolean, wires: WireView[], numPeers: number, received: number }

type Waiting = 'noWire' | 'notInterested' | 'choked'

/** FLASH_CROWD_DIAG=DIR: each worker writes what its stalled torrents (or, on the publisher, its super-seeders) look like to DIR/NAME.log. */
const DIAG = process.env.FLASH_CROWD_DIAG
function diag (line: string): void {
  if (DIAG !== undefined) appendFileSync(join(DIAG, `${process.argv[5] ?? 'worker'}.log`), `${new Date().toISOString()} ${line}\n`)
}

/** A stalled download's wires (WebTorrent internals): what it misses, and who has it. */
function describeTorrent (t: unknown): string {
  const x = t as { bitfield: { get: (i: number) => boolean }, _selections: { _items: Array<{ from: number, to: number, offset: number }> }, wires: Array<{ peerId?: string, peerChoking: boolean, amInterested: boolean, amChoking: boolean, peerInterested: boolean, destroyed: boolean, requests: unknown[], peerPieces: { get: (i: number) => boolean } }> }
  const missing: number[] = []
  for (const sel of x._selections._items) for (let i = sel.from + sel.offset; i <= sel.to; i++) if (!x.bitfield.get(i)) missing.push(i)
  const wires = x.wires.filter((w) => !w.destroyed).map((w) => `${Buffer.from(w.peerId ?? '', 'hex').toString('latin1').slice(8, 11)}.. choking-us:${w.peerChoking} we-want:${w.amInterested} we-choke:${w.amChoking} it-wants:${w.peerInterested} has:${missing.filter((i) => w.peerPieces.get(i)).length} req:${w.requests.length}`)
  return `missing ${missing.length} [${missing.slice(0, 5).join(',')}] wires ${wires.length}: ${wires.join(' | ')}`
}

/**
 * Samples the torrents being fetched every second and counts, per torrent,
 * the seconds it was waiting: without any wire, with wires none of which
 * has a wanted piece, or with every wire that has one choking it. The
 * figures are the longest such wait over the torrents; `snapshot` tells
 * what the unfinished torrents look like (for a stall's error message).
 */
function waitSampler (client: unknown): { stop: () => Record<Waiting, number>, snapshot: () => string } {
  const wt = (client as { wt?: { torrents?: TorrentView[] } }).wt
  const counts = new Map<string, Record<Waiting, number>>()
  const lastReceived = new Map<string, { bytes: number, since: number }>()
  const timer = setInterval(() => {
    if (DIAG !== undefined) {
      for (const t of wt?.torrents ?? []) {
        const seen = lastReceived.get(t.infoHash)
        if (seen === undefined || seen.bytes !== t.received) { lastReceived.set(t.infoHash, { bytes: t.received, since: Date.now() }); continue }
        if (Date.now() - seen.since < 15_000 || (Date.now() - seen.since) % 15_000 > 1000) continue
        diag(`${t.name}: no byte for ${Math.round((Date.now() - seen.since) / 1000)} s; ${describeTorrent(t)}`)
      }
    }
    for (const t of wt?.torrents ?? []) {
      if (t.done) continue
      const c = counts.get(t.infoHash) ?? { noWire: 0, notInterested: 0, choked: 0 }
      counts.set(t.infoHash, c)
      const live = t.wires.filter((w) => !w.destroyed)
      const wanting = live.filter((w) => w.amInterested)
      if (live.length === 0) c.noWire++
      else if (wanting.length === 0) c.notInterested++
      else if (wanting.every((w) => w.peerChoking)) c.choked++
    }
  }, 1000)
  return {
    stop: () => {
      clearInterval(timer)
      const out = { noWire: 0, notInterested: 0, choked: 0 }
      for (const c of counts.values()) for (const k of Object.keys(out) as Waiting[]) out[k] = Math.max(out[k], c[k])
      return out
    },
    snapshot: () => (wt?.torrents ?? []).filter((t) => !t.done).map((t) => `${t.name}: ${t.numPeers} peers, received ${t.received}, wires [${t.wires.map((w) => `${w.remotePort ?? '?'}${w.destroyed ? ' destroyed' : ''}${w.amInterested ? ' interested' : ''}${w.peerChoking ? ' choked' : ''}`).join(', ')}]`).join('; ')
  }
}

/** Runs `fn` over items, `width` at a time. */
async function pool<T> (items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: width }, async () => { for (let i = next++; i < items.length; i = next++) await fn(items[i]) }))
}

let handler: (body: Body) => Promise<unknown> = async (b) => { throw new Error(`not ready for '${b.t}'`) }
const ipc = new Ipc(process, async (b) => await handler(b), `${role} worker`)
// The bench gone (killed, crashed): nothing left to serve.
process.on('disconnect', () => { process.exit(0) })

const node = await ContentNode.start({ path: join(dir, 'content'), tracker: role === 'publisher', webSeed: false, uploadLimit: Number(uplink), stallMs: STALL_MS, peerId })

async function stop (uploaded: number): Promise<{ uploaded: number }> {
  setTimeout(() => { void node.stop().finally(() => process.exit(0)) }, 100)
  return { uploaded }
}

if (role === 'publisher') {
  // The tracker is how leechers of a cluster find each other (WebTorrent's ut_pex only listens).
  const server = createServer((req, res) => { if (!node.handleHttp(req, res)) { res.writeHead(404); res.end() } })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  node.setHttpBase(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  // How long the publisher's event loop stalls: a stalled loop answers neither pieces nor the tracker nor handshakes.
  const lag = monitorEventLoopDelay({ resolution: 20 })
  lag.enable()
  if (DIAG !== undefined) {
    // The super-seeders' view of their downloaders (internals).
    setInterval(() => {
      const seeding = (node.client as unknown as { seeding: Map<string, { torrent: { name: string }, superSeeder?: { offered: number, duplicates: number, downloaders: Set<{ wire: { peerId?: string, amChoking: boolean, peerInterested: boolean, destroyed: boolean }, pending: Map<number, number>, declined: Set<number>, missing: number, ready: boolean, noFresh: boolean, lastNews: number, requested: Set<number> }> } }> }).seeding
      for (const s of seeding.values()) {
        const ss = s.superSeeder
        if (ss === undefined) continue
        const ds = [...ss.downloaders].filter((d) => d.missing > 0).map((d) => `${Buffer.from(d.wire.peerId ?? '', 'hex').toString('latin1').slice(8, 11)}.. missing ${d.missing} pending ${d.pending.size} (requested ${[...d.pending.keys()].filter((i) => d.requested.has(i)).length}) declined ${d.declined.size} ready ${d.ready} we-choke ${d.wire.amChoking} it-wants ${d.wire.peerInterested} noFresh ${d.noFresh} news ${Math.round((Date.now() - d.lastNews) / 1000)} s ago${d.wire.destroyed ? ' DESTROYED' : ''}`)
        diag(`${s.torrent.name}: offered ${ss.offered} (dup ${ss.duplicates}), ${ss.downloaders.size} downloaders, unfinished: ${ds.join(' | ')}`)
      }
    }, 15_000).unref()
  }
  let coordinator: FlashCrowdCoordinator | undefined
  handler = async (b) => {
    if (b.t === 'init') {
      const units = b.units as SyntheticUnit[]
      // Into the store only: seedSet needs the files, not one seeded torrent per unit.
      await pool(units, 8, async (u) => { await node.store.putFile(u.file as string, content(u), 'publish') })
      const s = b.settings as { k: number, windowMs: number, peers: number }
      coordinator = new FlashCrowdCoordinator({
        release: RELEASE,
        units: units.map((u) => ({ id: unitId(u), bytes: u.size })),
        seedable: new Set(units.map(unitId)),
        settings: { windowMs: s.windowMs, expectedPeers: s.peers, maxTorrents: s.k },
        seed: async (name, ids, pieceLength, wants) => await node.seedSet(name, ids, { pieceLength, webSeed: false, ...(superSeed ? { superSeed: wants } : {}) }),
        announce: async (a) => { ipc.notify({ t: 'announce', a }) },
        uploaded: (ih) => node.torrentStats(ih)?.uploaded ?? 0,
        log: (m) => { process.stderr.write(`${m}\n`) }
      })
      return { units: units.length }
    }
    if (coordinator === undefined) throw new Error(`'${b.t}' before init`)
    if (b.t === 'open') { await coordinator.open(); return {} }
    if (b.t === 'wish') return coordinator.submit(b.peer as string, b.units as string[]).state
    if (b.t === 'offer') { const o = await node.torrentOffer(b.infoHash as string); return o === undefined ? null : toWire('publisher', o) }
    if (b.t === 'stats') {
      coordinator.refresh()
      const status = coordinator.current()
      // The tracker's view (internals): how many peers announced each cluster torrent.
      const swarms = (node as unknown as { tracker?: { torrents: Record<string, { complete: number, incomplete: number } | undefined> } }).tracker?.torrents ?? {}
      const announced = status.clusters.map((c) => { const sw = swarms[c.infoHash ?? '']; return sw === undefined ? 0 : sw.complete + sw.incomplete })
      return { status, announced, lagMaxMs: lag.max / 1e6, lagP99Ms: lag.percentile(99) / 1e6 }
    }
    if (b.t === 'stop') { coordinator.stop(); server.close(); return await stop(coordinator.current().uploaded ?? 0) }
    throw new Error(`publisher: unknown request '${b.t}'`)
  }
} else if (role === 'peer') {
  let interest: SyntheticUnit[] = []
  let wanted = new Map<string, UnitContent>()
  let held = { units: 0, bytes: 0 }
  handler = async (b) => {
    if (b.t === 'init') {
      interest = b.interest as SyntheticUnit[]
      const r1 = b.held as SyntheticUnit[]
      // R1 content as installed: written by the synthetic generator, then into the store.
      const paths = await materialize(r1, join(dir, 'r1'), b.scale as number)
      await pool(r1.map((u, i) => ({ u, path: paths[i] })), 4, async ({ u, path }) => { await node.store.putFile(path, content(u), 'import') })
      await rm(join(dir, 'r1'), { recursive: true, force: true })
      return { held: r1.length }
    }
    if (b.t === 'wish') return await wishList()
    if (b.t === 'download') return await download(b.clusters as AnnouncedCluster[], b.parallel as number)
    if (b.t === 'offer') { const o = await node.torrentOffer(b.infoHash as string); return o === undefined ? null : toWire(b.peer as string, o) }
    if (b.t === 'http') return await httpFetch(b.base as string, b.parallel as number)
    if (b.t === 'stop') return await stop(node.client.seedingTorrents().reduce((s, t) => s + t.uploaded, 0))
    throw new Error(`peer: unknown request '${b.t}'`)
  }

  /** The wish list from the store: R2 units of the installed names minus the identical ones held. */
  const wishList = async (): Promise<{ units: string[], bytes: number, held: typeof held }> => {
    const holdings: HeldUnit[] = []
    for await (const s of node.store.list()) {
      const [, name, version, arch] = s.unit.split('/')
      holdings.push({ name, version, arch, checksum: `sha256:${s.sha256}` })
    }
    const w = computeWishList(interest.map((u) => ({ id: unitId(u), name: u.package, version: u.version, arch: u.arch, checksum: `sha256:${u.sha256}`, bytes: u.size })), holdings)
    const byId = new Map(interest.map((u) => [unitId(u), u]))
    wanted = new Map(w.wanted.map((u) => [u.id, content(byId.get(u.id) as SyntheticUnit)]))
    held = { units: w.held.length, bytes: w.heldBytes }
    return { units: [...wanted.keys()], bytes: w.wantedBytes, held }
  }

  /** The participant's run, then a check of the store: exactly the R1 units plus the wish list, every file's sha256 right. */
  const download = async (clusters: AnnouncedCluster[], parallel: number): Promise<DownloadReport> => {
    const t0 = performance.now()
    const before = new Set<string>()
    for await (const s of node.store.list()) before.add(s.unit)
    let publisherPort = '?'
    // Most BitTorrent peers seen per cluster torrent: tells whether leechers found each other (tracker) or only the publisher.
    const peersSeen = new Map<string, number>()
    const participant = new FlashCrowdParticipant({
      release: RELEASE,
      content: node,
      wanted,
      held,
      parallel,
      onStatus: (st) => { for (const c of st.clusters) peersSeen.set(c.id, Math.max(peersSeen.get(c.id) ?? 0, c.peers ?? 0)) },
      torrentOffers: async (infoHash) => {
        const offers = await ipc.request<OfferWire[]>({ t: 'offers', infoHash }, 60_000)
        publisherPort = offers.find((o) => o.peer === 'publisher')?.bittorrent[0] ?? publisherPort
        return offers.map(fromWire)
      }
    })
    const uncovered = participant.uncovered(clusters).length
    if (uncovered > 0) throw new Error(`${uncovered} wanted units are in no cluster`)
    const sampler = waitSampler(node.client)
    let end
    try {
      end = await participant.download(clusters)
    } catch (err) {
      const snapshot = sampler.snapshot()
      throw new Error(`${(err as Error).message}; longest waits (s): ${JSON.stringify(sampler.stop())}; publisher at ${publisherPort}; unfinished: ${snapshot}`)
    }
    const waits = sampler.stop()
    participant.complete()
    const ms = performance.now() - t0
    let bad = 0
    for (const u of wanted.values()) {
      if (!(await node.store.has(u.sha256)) || (await sha256File(node.store.filePath(u.sha256))).sha256 !== u.sha256) bad++
    }
    let extra = 0
    for await (const s of node.store.list()) if (!before.has(s.unit) && !wanted.has(s.unit)) extra++
    const seen = [...peersSeen.values()]
    return { ms, received: end.received, wasteMeasured: end.wasteMeasured, bytesDone: end.bytesDone, clusters: end.clusters.length, bad, extra, units: wanted.size, meanPeersSeen: seen.reduce((a, b) => a + b, 0) / Math.max(1, seen.length), waits }
  }

  /** The baseline: the same wish list from one HTTP server, `parallel` requests at a time, sha256 checked on the fly. */
  const httpFetch = async (base: string, parallel: number): Promise<{ ms: number, bytes: number }> => {
    const t0 = performance.now()
    let bytes = 0
    await pool([...wanted.values()], parallel, async (u) => {
      const res = await fetch(base + encodeURIComponent(u.name), { signal: AbortSignal.timeout(STALL_MS) })
      if (!res.ok || res.body === null) throw new Error(`GET ${u.name}: HTTP ${res.status}`)
      const h = createHash('sha256')
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) { h.update(chunk); bytes += chunk.length }
      if (h.digest('hex') !== u.sha256) throw new Error(`GET ${u.name}: sha256 mismatch`)
    })
    return { ms: performance.now() - t0, bytes }
  }
} else {
  process.stderr.write('usage: flash-crowd-worker.ts publisher|peer DIR UPLINK NAME seed|super-seed\n')
  process.exit(2)
}
ipc.notify({ t: 'up' })
