/**
 * `npm run bench -- flash-crowd [--peers 16] [--uplink-mb 4] [--wanted-mb 75 | --scale N] [--k 16]`:
 * issue 7's flash crowd, R1 -> R2 (bookworm -> trixie), with every peer and
 * the publisher a separate process (bench/flash-crowd-worker.ts) moving
 * synthetic content over BitTorrent on 127.0.0.1.
 *
 * Peers hold the R1 units of their installed packages (bench/flash-crowd-
 * data.ts) and want the R2 units of the same names minus the identical ones;
 * each computes its wish list from its own store. The publisher holds the R2
 * units and runs the real FlashCrowdCoordinator (K torrents); the peers run
 * the real FlashCrowdParticipant. Wish lists, announcements and torrent
 * offers travel over IPC instead of libp2p. Every process sends at most
 * --uplink-mb MB/s (loopback has no uplink: without a limit a seed serving
 * everyone costs nothing), the HTTP server of the baseline too.
 *
 * Figures: publisher upload / unique bytes wanted (target <= 1.2), waste
 * reported by the clustering vs measured by the peers, completion time vs
 * every peer fetching its wish list from one HTTP server in the same run,
 * then the clustering alone on the same wish lists for K = 1, 4, 16, 64 and
 * exact.
 *
 * FLASH_CROWD_NODE_ARGS (environment): extra node flags for the worker
 * processes, e.g. "--cpu-prof --cpu-prof-dir=DIR" to see where they spend
 * their time.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { AnnouncedCluster, FlashCrowdAnnouncement, FlashCrowdStatus } from '../src/torrents/flash-crowd/index.ts'
import { ROOT, printTable, writeResults } from './common.ts'
import { crowdContent, unitId } from './flash-crowd-data.ts'
import { Ipc, type Body, type DownloadReport, type OfferWire } from './flash-crowd-ipc.ts'
import { R1_PACKAGES, R2_PACKAGES, readReleaseUnits, simulate } from './flash-crowd-sim.ts'

const RUN_TS = join(ROOT, 'bin', 'run-ts.js')
const WORKER = join(ROOT, 'bench', 'flash-crowd-worker.ts')
/** The content bench's HTTP server: one process, a token-bucket uplink, files by name. */
const HTTP_SERVER = join(ROOT, 'bench', 'content-worker.ts')
const MINUTE = 60_000

interface Worker { name: string, child: ChildProcess, ipc: Ipc }

function startWorker (name: string, role: 'publisher' | 'peer', dir: string, uplink: number, superSeed: boolean, serve: (b: Body) => Promise<unknown>): Worker {
  const child = spawn(process.execPath, [...(process.env.FLASH_CROWD_NODE_ARGS ?? '').split(' ').filter(Boolean), RUN_TS, WORKER, role, dir, String(uplink), name, superSeed ? 'super-seed' : 'seed'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] })
  let err = ''
  child.stderr!.on('data', (b: Buffer) => { err = (err + String(b)).slice(-4000) })
  const ipc = new Ipc(child, serve, name)
  child.once('exit', (code, signal) => { ipc.fail(new Error(`${name} exited (${String(code ?? signal)}): ${err.trim()}`)) })
  return { name, child, ipc }
}

/** The HTTP server process of the baseline: resolves with its URL and a `close` that returns the bytes it sent. */
async function startHttpServer (dir: string, uplink: number): Promise<{ child: ChildProcess, url: string, close: () => Promise<number> }> {
  const child = spawn(process.execPath, [RUN_TS, HTTP_SERVER, 'http', dir, String(uplink)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (b: Buffer) => { out += String(b) })
  const line = async (prefix: string, ms: number): Promise<string> => {
    const until = Date.now() + ms
    for (;;) {
      const hit = out.split('\n').find((l) => l.startsWith(prefix))
      if (hit !== undefined) return hit
      if (child.exitCode !== null || Date.now() > until) throw new Error(`HTTP server: no '${prefix}' line (exit ${String(child.exitCode)})`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const url = (await line('ready', 2 * MINUTE)).split(' ')[1]
  return { child, url, close: async () => { child.stdin!.end(); return Number((await line('uploaded', MINUTE)).split(' ')[1]) } }
}

const seconds = (from: number, to = performance.now()): number => (to - from) / 1000
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
const mib = (b: number): number => b / 1048576

export async function run (args: string[]): Promise<void> {
  const { values: o } = parseArgs({
    args,
    options: {
      peers: { type: 'string', default: '16' },
      'uplink-mb': { type: 'string', default: '4' },
      'wanted-mb': { type: 'string', default: '75' },
      scale: { type: 'string' },
      k: { type: 'string', default: '16' },
      ks: { type: 'string', default: '1,4,16,64,exact' },
      chosen: { type: 'string', default: '300' },
      seed: { type: 'string', default: '1' },
      'http-parallel': { type: 'string', default: '4' },
      // Cluster torrents a peer downloads at once: the participant's default is 4.
      parallel: { type: 'string', default: '4' },
      'timeout-min': { type: 'string', default: '30' },
      // The publisher super-seeds cluster torrents (src/torrents/super-seed.ts); off: it seeds them like any torrent.
      'super-seed': { type: 'string', default: 'on' }
    },
    strict: true
  })
  const peers = Number(o.peers)
  const uplink = Math.round(Number(o['uplink-mb']) * 1048576)
  const k = Number(o.k)
  const timeout = Number(o['timeout-min']) * MINUTE
  const superSeed = o['super-seed'] !== 'off'
  const ks = o.ks.split(',').map((x) => x === 'exact' ? 'exact' as const : Number(x))
  if (!(peers >= 2) || !(uplink > 0) || !(k >= 1) || !(timeout > 0)) throw new Error('usage: npm run bench -- flash-crowd [--peers N>=2] [--uplink-mb MB/s] [--wanted-mb MB | --scale N] [--k K] [--ks 1,4,16,64,exact] [--chosen N] [--seed N] [--parallel N] [--http-parallel N] [--timeout-min M] [--super-seed on|off]')
  const loadBefore = loadavg()
  const root = await mkdtemp(join(tmpdir(), 'edos-flash-crowd-bench-'))
  const workers: Worker[] = []
  let httpChild: ChildProcess | undefined
  const killAll = (): void => { for (const c of [...workers.map((w) => w.child), httpChild]) if (c !== undefined && c.exitCode === null) c.kill('SIGKILL') }
  process.once('exit', killAll)
  try {
    const t0 = performance.now()
    const [r1, r2] = await Promise.all([readReleaseUnits(R1_PACKAGES), readReleaseUnits(R2_PACKAGES)])
    const data = await crowdContent(r1, r2, { peers, meanChosen: Number(o.chosen), seed: Number(o.seed), wantedMiB: Number(o['wanted-mb']), scale: o.scale === undefined ? undefined : Number(o.scale), dir: join(root, 'data') })
    const sizeOf = new Map(data.release.map((u) => [unitId(u), u.size]))
    process.stderr.write(`population and synthetic content (scale ${data.scale}): ${seconds(t0).toFixed(1)} s\n`)

    // Processes: the publisher, then the peers; offers for a torrent come from the publisher first, then every peer that seeds it.
    const publisher = startWorker('publisher', 'publisher', join(root, 'publisher'), uplink, superSeed, async (b) => { throw new Error(`unexpected '${b.t}'`) })
    workers.push(publisher)
    const peerWorkers: Worker[] = []
    for (const plan of data.plans) {
      const w = startWorker(plan.peer, 'peer', join(root, plan.peer), uplink, superSeed, async (b) => {
        if (b.t !== 'offers') throw new Error(`unexpected '${b.t}'`)
        const others = [publisher, ...peerWorkers.filter((p) => p !== w)]
        const offers = await Promise.all(others.map(async (x) => await x.ipc.request<OfferWire | null>({ t: 'offer', infoHash: b.infoHash, peer: x.name }, MINUTE).catch(() => null)))
        return offers.filter((x) => x !== null)
      })
      peerWorkers.push(w)
      workers.push(w)
    }
    await Promise.all(workers.map(async (w) => await w.ipc.next('up', 15 * MINUTE)))
    const t1 = performance.now()
    await Promise.all([
      publisher.ipc.request({ t: 'init', units: data.release, settings: { k, windowMs: 10 * MINUTE, peers } }, 20 * MINUTE),
      ...peerWorkers.map(async (w, i) => await w.ipc.request({ t: 'init', held: data.plans[i].held, interest: data.plans[i].interest, scale: data.scale }, 20 * MINUTE))
    ])
    process.stderr.write(`${workers.length} processes up, content stored: ${seconds(t1).toFixed(1)} s\n`)

    // The flash crowd: window, wish lists, clusters, downloads.
    const tOpen = performance.now()
    await publisher.ipc.request({ t: 'open' }, MINUTE)
    const wishes = await Promise.all(peerWorkers.map(async (w, i) => {
      const wish = await w.ipc.request<{ units: string[], bytes: number, held: { units: number, bytes: number } }>({ t: 'wish' }, 5 * MINUTE)
      const predicted = [...data.plans[i].wanted].sort()
      if (JSON.stringify([...wish.units].sort()) !== JSON.stringify(predicted)) throw new Error(`${w.name}: its wish list (${wish.units.length} units) is not the one predicted from the real checksums (${predicted.length})`)
      await publisher.ipc.request({ t: 'wish', peer: w.name, units: wish.units }, 5 * MINUTE)
      return wish
    }))
    let announcement: FlashCrowdAnnouncement | undefined
    while (announcement?.phase !== 'clusters') announcement = (await publisher.ipc.next('announce', timeout)).a as FlashCrowdAnnouncement
    const clusters = announcement.clusters as AnnouncedCluster[]
    const tAnnounced = performance.now()
    process.stderr.write(`wish lists -> ${clusters.length} cluster torrents seeded and announced: ${seconds(tOpen).toFixed(1)} s\n`)
    const done = await Promise.all(peerWorkers.map(async (w) => {
      const r = await w.ipc.request<DownloadReport>({ t: 'download', clusters, parallel: Number(o.parallel) }, timeout)
      if (r.bad > 0 || r.extra > 0) throw new Error(`${w.name}: ${r.bad} wanted units missing or wrong, ${r.extra} units stored that it did not want`)
      return { ...r, seconds: seconds(tAnnounced) }
    })).catch(async (err: Error) => {
      // A failed download: what the publisher saw helps tell why (its tracker's swarms, its event loop).
      const view = await publisher.ipc.request<Record<string, unknown>>({ t: 'stats' }, MINUTE).then(({ status, ...v }) => ({ ...v, uploaded: (status as FlashCrowdStatus).uploaded }), (e: Error) => e.message)
      throw new Error(`${err.message}\npublisher: ${JSON.stringify(view)}`)
    })
    const tDone = performance.now()
    const { status, ...publisherView } = await publisher.ipc.request<{ status: FlashCrowdStatus, announced: number[], lagMaxMs: number, lagP99Ms: number }>({ t: 'stats' }, MINUTE)
    process.stderr.write(`all ${peers} peers done: ${seconds(tAnnounced, tDone).toFixed(1)} s after the announcement\n`)

    // The baseline, same run: every peer fetches its wish list from one HTTP server with the same uplink.
    const httpDir = join(root, 'http')
    await mkdir(httpDir, { recursive: true })
    await symlink(data.releaseFiles, join(httpDir, 'set'))
    const http = await startHttpServer(httpDir, uplink)
    httpChild = http.child
    const tHttp = performance.now()
    const httpRuns = await Promise.all(peerWorkers.map(async (w) => await w.ipc.request<{ ms: number, bytes: number }>({ t: 'http', base: http.url, parallel: Number(o['http-parallel']) }, timeout)))
    const httpSeconds = seconds(tHttp)
    const httpSent = await http.close()
    const peerUploads = await Promise.all(peerWorkers.map(async (w) => (await w.ipc.request<{ uploaded: number }>({ t: 'stop' }, MINUTE)).uploaded))
    const publisherUploaded = (await publisher.ipc.request<{ uploaded: number }>({ t: 'stop' }, MINUTE)).uploaded
    // Let them close their stores and exit on their own (bounded); whatever is left is killed below.
    await Promise.all(workers.map(async (w) => { if (w.child.exitCode === null) await new Promise((resolve) => { w.child.once('exit', resolve); setTimeout(resolve, 30_000).unref() }) }))

    // The clustering alone, on the same wish lists.
    const wishLists = peerWorkers.map((w, i) => ({ peer: w.name, units: wishes[i].units }))
    const clusteringRows = simulate({ wishes: wishLists, units: data.release.map((u) => ({ id: unitId(u), bytes: u.size })), wantedPerPeer: 0, heldPerPeer: 0 }, ks)

    const unique = new Set(wishLists.flatMap((w) => w.units))
    const uniqueWantedBytes = sum([...unique].map((u) => sizeOf.get(u) ?? 0))
    const sumWantedBytes = sum(wishes.map((w) => w.bytes))
    const wasteMeasured = sum(done.map((d) => d.wasteMeasured))
    const completionSeconds = seconds(tOpen, tDone)
    const loadAfter = loadavg()
    const figures = {
      superSeed,
      peers,
      release: 'bookworm -> trixie (main, amd64)',
      scale: data.scale,
      uplinkMiBps: uplink / 1048576,
      k,
      parallelClusters: Number(o.parallel),
      torrents: clusters.length,
      exactClusters: status.exactClusters,
      unitsWantedPerPeer: sum(wishes.map((w) => w.units.length)) / peers,
      unitsHeldIdenticalPerPeer: sum(wishes.map((w) => w.held.units)) / peers,
      uniqueUnitsWanted: unique.size,
      uniqueWantedBytes,
      sumWantedBytes,
      realUniqueWantedBytes: data.realUniqueWanted,
      publisherUploaded: status.uploaded ?? publisherUploaded,
      publisherUploadRatio: (status.uploaded ?? publisherUploaded) / uniqueWantedBytes,
      // Against the uplink: near 1 means the publisher's link was the bottleneck, well below means something else was (CPU).
      publisherUplinkUse: (status.uploaded ?? publisherUploaded) / seconds(tAnnounced, tDone) / uplink,
      peersUploaded: sum(peerUploads),
      peersReceived: sum(done.map((d) => d.received)),
      wastePercent: status.wastePercent,
      wasteBytesReported: status.wasteBytes,
      wasteBytesMeasured: wasteMeasured,
      completionSeconds,
      downloadSeconds: seconds(tAnnounced, tDone),
      clusterAndSeedSeconds: seconds(tOpen, tAnnounced),
      peerSeconds: done.map((d) => d.seconds),
      meanPeersSeenPerCluster: done.map((d) => d.meanPeersSeen),
      // Per peer, the longest a cluster download waited (s): without a wire, with no wire having a wanted piece, choked by all that had one.
      waits: done.map((d) => d.waits),
      httpBaselineSeconds: httpSeconds,
      httpPeerSeconds: httpRuns.map((r) => r.ms / 1000),
      httpServerSent: httpSent,
      httpParallelPerPeer: Number(o['http-parallel']),
      clusters: status.clusters.map((c, i) => ({ units: c.units, bytes: c.bytes, pieceLength: c.pieceLength, requesters: c.requesters, waste: c.waste, uploaded: c.uploaded, trackerPeers: publisherView.announced[i] })),
      publisherLoopDelayMs: { max: publisherView.lagMaxMs, p99: publisherView.lagP99Ms },
      clustering: clusteringRows,
      loadBefore,
      loadAfter
    }
    printTable([
      { figure: 'peers / processes', value: `${peers} / ${peers + 1}` },
      { figure: 'units wanted per peer (held identical)', value: `${figures.unitsWantedPerPeer.toFixed(0)} (${figures.unitsHeldIdenticalPerPeer.toFixed(0)})` },
      { figure: 'unique wanted / sum of wish lists', value: `${mib(uniqueWantedBytes).toFixed(1)} / ${mib(sumWantedBytes).toFixed(1)} MiB (scale 1/${data.scale})` },
      { figure: `torrents (K = ${k}) / requester sets`, value: `${clusters.length} / ${String(status.exactClusters)}` },
      { figure: 'publisher upload / unique wanted (target <= 1.2)', value: figures.publisherUploadRatio.toFixed(3) },
      { figure: 'publisher upload rate / its uplink', value: figures.publisherUplinkUse.toFixed(2) },
      { figure: 'peers uploaded / received', value: `${mib(figures.peersUploaded).toFixed(1)} / ${mib(figures.peersReceived).toFixed(1)} MiB` },
      { figure: 'waste reported / measured', value: `${(status.wastePercent ?? 0).toFixed(2)} % (${String(status.wasteBytes)} / ${wasteMeasured} B)` },
      { figure: 'completion: window open -> all done', value: `${completionSeconds.toFixed(1)} s (cluster+seed ${figures.clusterAndSeedSeconds.toFixed(1)} s)` },
      { figure: 'HTTP baseline: all done', value: `${httpSeconds.toFixed(1)} s (server sent ${mib(httpSent).toFixed(1)} MiB)` },
      { figure: 'flash crowd / HTTP time', value: (completionSeconds / httpSeconds).toFixed(2) },
      { figure: 'load average before / after', value: `${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${loadAfter.map((x) => x.toFixed(2)).join(' ')}` }
    ])
    process.stdout.write('\n')
    printTable(clusteringRows.map((r) => ({ K: String(r.k), torrents: r.torrents, 'waste %': r.wastePercent, 'waste % without selection': r.wastePercentWithoutSelection, 'cluster s': r.clusterSeconds })))
    process.stdout.write(`results: ${await writeResults('flash-crowd', figures)}\n`)
  } finally {
    killAll()
    process.removeListener('exit', killAll)
    await rm(root, { recursive: true, force: true })
  }
}
