/**
 * `npm run demo`: the paper's section 4 on real Debian metadata. One
 * publisher, 2 mirrors and 3 clients as `edos serve` processes on
 * 127.0.0.1 (scripts/demo-network.ts), then:
 * 1. R1 (bookworm) is published (metadata); each client already holds a
 *    different third of its files (a package cache, added to its store);
 * 2. R2 (trixie) is published, its content stored at the publisher;
 * 3. queries run at several peers, and a client downloads R1 units that
 *    only the other clients hold;
 * 4. R2 is disseminated by a flash crowd: every mirror and client sends its
 *    wish list (R2 minus the identical units it holds), the publisher
 *    clusters them into at most K torrents and seeds them, every peer
 *    downloads its clusters;
 * 5. R3 (bookworm-security) is published into channel `security` (a
 *    filter on one section); the clients, subscribed with auto-download,
 *    receive the notification and download its units.
 * Then a summary, and the peers keep running (consoles browsable) until
 * Ctrl-C, or stop at once with --exit.
 *
 *   npm run demo -- [--sections a,b | --full] [--scale N] [--k K] [--window S]
 *                   [--port BASE] [--root DIR] [--data DIR] [--exit]
 */
import { mkdtemp } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { materialize } from './synthetic-release.ts'
import { DEFAULT_SCALE, DEFAULT_SECTIONS, DemoError, addContent, sleep, startDemoNetwork, waitFor, type DemoNetwork, type DemoPeer, type PublishedRelease } from './demo-network.ts'

export interface DemoOptions {
  root: string
  data?: string
  scale: number
  sections: string[] | 'all'
  /** K: the most cluster torrents. */
  maxTorrents: number
  windowSeconds: number
  /** First HTTP port (the peers take consecutive ones); undefined: any free ports. */
  port?: number
  exit: boolean
}

const t0 = Date.now()
const say = (line: string): void => { process.stdout.write(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${line}\n`) }
const mb = (n: number): string => `${(n / 1e6).toFixed(2)} MB`
const load = (): string => loadavg().map((x) => x.toFixed(2)).join(' ')

/** What the summary reports, filled as the steps run. */
interface DemoRecord {
  published: PublishedRelease[]
  queries: Array<{ peer: string, query: string, answers: number, ms: number }>
  downloads: Array<{ peer: string, what: string, units: number, bytes: number, received: number }>
  flashCrowd?: { wishLists: number, exactClusters: number, torrents: number, wastePercent: number, wantedBytes: number, uploaded: number }
}

const STATUS = `query DemoFlashCrowd($r: String!) { flashCrowd(release: $r) { state wishLists exactClusters maxTorrents wantedBytes wasteBytes wastePercent uploaded uncovered
  bytesDone bytesTotal received wasteMeasured error wishList { units bytes held heldBytes } clusters { id infoHash units bytes requesters waste } } }`
interface Status {
  state: string, wishLists: number, exactClusters: number | null, maxTorrents: number | null, wantedBytes: number | null, wasteBytes: number | null, wastePercent: number | null
  uploaded: number | null, uncovered: number, bytesDone: number, bytesTotal: number, received: number, wasteMeasured: number, error: string | null
  wishList: { units: number, bytes: number, held: number, heldBytes: number } | null
  clusters: Array<{ id: string, infoHash: string | null, units: number, bytes: number, requesters: number, waste: number }>
}
async function status (p: DemoPeer, release: string): Promise<Status | null> {
  return (await p.gql<{ flashCrowd: Status | null }>(STATUS, { r: release }, 20_000)).flashCrowd
}

const DOWNLOADS = 'query DemoDownloads { downloads { downloadId state units bytesTotal bytesDone bytesReceived error completedAt } }'
interface Dl { downloadId: string, state: string, units: string[], bytesTotal: number, bytesDone: number, bytesReceived: number, error: string | null, completedAt: string | null }

/** The download once it ended (completed, failed or cancelled). */
async function downloadEnd (p: DemoPeer, id: string, ms: number): Promise<Dl> {
  return await waitFor(`${p.name}'s download ${id}`, async () => {
    const d = (await p.gql<{ downloads: Dl[] }>(DOWNLOADS, {}, 20_000)).downloads.find((x) => x.downloadId === id)
    return d !== undefined && ['COMPLETED', 'FAILED', 'CANCELLED'].includes(d.state) ? d : false
  }, ms, 1000)
}

async function downloadDone (p: DemoPeer, id: string, ms: number): Promise<Dl> {
  const d = await downloadEnd(p, id, ms)
  if (d.state !== 'COMPLETED') throw new DemoError(`${p.name}: download ${id} ${d.state}: ${d.error ?? ''}`, 'ERR_DEMO_STEP')
  return d
}

async function startDownload (p: DemoPeer, units: string[]): Promise<string> {
  return (await p.gql<{ download: { download: { downloadId: string } } }>('mutation DemoDl($u: [String!]) { download(units: $u) { download { downloadId } } }', { u: units })).download.download.downloadId
}

const unitId = (u: { package: string, version: string, arch: string }): string => `pkg/${u.package}/${u.version}/${u.arch}`

/** Step 1: each client holds a different third of R1 (by position), added to its store like a package cache it had. */
async function preload (net: DemoNetwork): Promise<Map<DemoPeer, Set<string>>> {
  const held = new Map<DemoPeer, Set<string>>()
  const r1 = net.releases.r1.synthetic.units
  await Promise.all(net.clients.map(async (c, i) => {
    const mine = r1.filter((_, j) => j % net.clients.length === i)
    const files = await materialize(mine, join(net.root, `cache-${c.name}`), net.scale)
    const stored = await addContent(c, [...new Set(files)])
    held.set(c, new Set(mine.map(unitId)))
    say(`  ${c.name} holds ${stored} R1 units (${mb(mine.reduce((s, u) => s + u.size, 0))}) from its own cache, and seeds them`)
  }))
  return held
}

/** Step 3: a few queries at different peers, as a person would ask them (answers come from the whole network's index). */
async function queries (net: DemoNetwork, rec: DemoRecord): Promise<void> {
  const section = net.sections === 'all' ? 'editors' : net.sections[0]
  const search = 'query DemoSearch($p: String!) { search(pattern: $p, first: 1) { totalCount } }'
  const asked: Array<[DemoPeer, string, string]> = [
    [net.clients[0], `//package[section = "${section}"]/name`, search],
    [net.mirrors[0] ?? net.publisher, '//release[@name = "trixie"]//package', search],
    [net.clients[1] ?? net.clients[0], '//package[.//dep/@name = "libc6"]/name', search],
    [net.clients.at(-1)!, 'packages(where: { release: "trixie", dependsOn: "perl" })', 'query DemoPackages { packages(where: { release: "trixie", dependsOn: "perl" }, first: 1) { totalCount } }']
  ]
  for (const [peer, label, query] of asked) {
    const start = performance.now()
    const d = await peer.gql<{ search?: { totalCount: number }, packages?: { totalCount: number } }>(query, query === search ? { p: label } : {})
    const ms = performance.now() - start
    const answers = (d.search ?? d.packages)?.totalCount ?? 0
    rec.queries.push({ peer: peer.name, query: label, answers, ms })
    say(`  ${peer.name}: ${label} -> ${answers} answers (${ms.toFixed(0)} ms)`)
  }
}

/** Step 3: the first client downloads a few R1 units that only the other clients hold. */
async function downloadFromPeers (net: DemoNetwork, held: Map<DemoPeer, Set<string>>, rec: DemoRecord): Promise<void> {
  const [me, ...others] = net.clients
  if (others.length === 0) return
  const units = [...held.get(others[0])!].slice(0, 3).concat([...held.get(others.at(-1)!)!].slice(0, 3))
  const d = await downloadDone(me, await startDownload(me, [...new Set(units)]), 300_000)
  rec.downloads.push({ peer: me.name, what: 'R1 units held by other clients', units: d.units.length, bytes: d.bytesDone, received: d.bytesReceived })
  say(`  ${me.name} downloaded ${d.units.length} R1 units (${mb(d.bytesDone)}) that ${others.map((o) => o.name).join(' and ')} hold`)
}

/** Step 4: the flash crowd of R2, every mirror and client sending its wish list. */
async function flashCrowd (net: DemoNetwork, opts: DemoOptions, rec: DemoRecord): Promise<void> {
  const release = net.releases.r2.name
  const crowd = [...net.mirrors, ...net.clients]
  await net.publisher.gql('mutation DemoStart($r: String!, $w: Float, $k: Int, $n: Int) { startFlashCrowd(release: $r, windowSeconds: $w, maxTorrents: $k, expectedPeers: $n) { flashCrowd { state } } }',
    { r: release, w: opts.windowSeconds, k: opts.maxTorrents, n: crowd.length }, 60_000, true)
  say(`  the publisher opened the window (${opts.windowSeconds} s, K = ${opts.maxTorrents}, closes early when ${crowd.length} wish lists are in)`)
  await Promise.all(crowd.map(async (p) => {
    const w = await p.gql<{ submitWishList: { wishList: { units: string[], bytes: number } } }>('mutation DemoWish($r: String!) { submitWishList(release: $r) { wishList { units bytes } } }', { r: release }, 300_000)
    say(`  ${p.name} sent its wish list: ${w.submitWishList.wishList.units.length} units, ${mb(w.submitWishList.wishList.bytes)}`)
  }))
  let shown = ''
  const pub = await waitFor('the clusters announced', async () => {
    const s = await status(net.publisher, release)
    if (s === null) return false
    const line = `${s.state.toLowerCase()}: ${s.wishLists} wish lists, ${s.clusters.length} clusters, ${s.clusters.filter((c) => c.infoHash !== null).length} seeded`
    if (line !== shown) { say(`  publisher ${line}`); shown = line }
    return s.state === 'ANNOUNCED' || s.state === 'FAILED' ? s : false
  }, 600_000, 1000)
  if (pub.state === 'FAILED') throw new DemoError(`the flash crowd failed: ${pub.error ?? ''}`, 'ERR_DEMO_STEP')
  say(`  ${pub.exactClusters ?? '?'} distinct requester sets -> ${pub.clusters.length} torrents (K = ${pub.maxTorrents ?? '?'}), waste ${(pub.wastePercent ?? 0).toFixed(2)}% of ${mb(pub.wantedBytes ?? 0)} wanted`)
  for (const c of pub.clusters) say(`    cluster ${c.id}: ${c.units} units, ${mb(c.bytes)}, ${c.requesters} requesters, torrent ${c.infoHash ?? '-'}`)
  let lastLine = ''
  const ends = await waitFor('every peer\'s flash-crowd downloads', async () => {
    const all = await Promise.all(crowd.map(async (p) => await status(p, release)))
    const line = crowd.map((p, i) => {
      const s = all[i]
      return s === null ? `${p.name} -` : `${p.name} ${Math.floor(s.bytesDone / Math.max(1, s.bytesTotal) * 100)}% ${s.state.toLowerCase()}`
    }).join(', ')
    if (line !== lastLine) { say(`  ${line}`); lastLine = line }
    return all.every((s) => s?.state === 'COMPLETED' || s?.state === 'FAILED') ? all as Status[] : false
  }, 900_000, 1000)
  const failed = ends.findIndex((s) => s.state === 'FAILED')
  if (failed >= 0) throw new DemoError(`${crowd[failed].name}: flash crowd failed: ${ends[failed].error ?? ''}`, 'ERR_DEMO_STEP')
  for (const [i, p] of crowd.entries()) {
    const s = ends[i]
    rec.downloads.push({ peer: p.name, what: `flash crowd ${release} (${s.wishList?.held ?? 0} identical units held, not fetched)`, units: s.wishList?.units ?? 0, bytes: s.bytesDone, received: s.received })
  }
  await sleep(3000) // upload counters are flushed every 2 s
  const after = await status(net.publisher, release)
  rec.flashCrowd = { wishLists: pub.wishLists, exactClusters: pub.exactClusters ?? 0, torrents: pub.clusters.length, wastePercent: pub.wastePercent ?? 0, wantedBytes: pub.wantedBytes ?? 0, uploaded: after?.uploaded ?? 0 }
}

/** Step 5: channel `security`, the clients subscribed with auto-download, R3 published into it. */
async function security (net: DemoNetwork, rec: DemoRecord): Promise<void> {
  const section = net.sections === 'all' ? 'net' : net.sections.at(-1)!
  const filter = `/package[section = "${section}"]`
  await net.publisher.gql('mutation DemoChannel($f: String) { createChannel(name: "security", description: "security updates", filter: $f) { channel { name } } }', { f: filter }, 60_000, true)
  say(`  channel security created (filter ${filter})`)
  await waitFor('channel security at every client', async () => (await Promise.all(net.clients.map(async (c) =>
    (await c.gql<{ channel: { lastSeq: number } | null }>('query { channel(name: "security") { lastSeq } }', {}, 15_000)).channel !== null))).every(Boolean), 60_000)
  const got = new Map<DemoPeer, { seq: number, units: number, download: string | null, error: string | null, at: number }>()
  const failures: Error[] = []
  const stops = net.clients.map((c) => c.subscribe<{ channel: { seq: number, added: unknown[], updated: unknown[], download: { downloadId: string } | null, downloadError: string | null } }>(
    'subscription DemoSecurity { channel(name: "security", since: 0, autoDownload: true) { seq added { doc } updated { doc } download { downloadId } downloadError } }', {},
    ({ channel: n }) => {
      got.set(c, { seq: n.seq, units: n.added.length + n.updated.length, download: n.download?.downloadId ?? null, error: n.downloadError, at: Date.now() })
      say(`  ${c.name} got security #${n.seq}: ${n.added.length + n.updated.length} units, ${n.download === null ? `no download (${n.downloadError ?? ''})` : 'downloading them'}`)
    },
    (err) => { failures.push(err) }))
  try {
    await sleep(1500) // the subscriptions are open before the publish
    // The content goes with the publish: the publisher stores and seeds it before it notifies the channel.
    const p = await net.publish(net.releases.r3, { content: 'with' })
    rec.published.push(p)
    say(`  published ${p.release}: ${p.units} units, content stored ${p.contentStored}`)
    await waitFor('the notification at every client', () => failures.length > 0 || got.size === net.clients.length, 120_000)
    if (failures.length > 0) throw failures[0]
    for (const c of net.clients) {
      const n = got.get(c)!
      if (n.download === null) throw new DemoError(`${c.name}: the notification started no download: ${n.error ?? ''}`, 'ERR_DEMO_STEP')
      let d = await downloadEnd(c, n.download, 300_000)
      if (d.state === 'FAILED') {
        // Should not happen (the content is seeded before the notification), but a loaded publisher may not answer in time.
        say(`  ${c.name}: its auto-download failed (${d.error ?? ''}); the content is seeded now, downloading again`)
        d = await downloadDone(c, await startDownload(c, d.units), 300_000)
      } else if (d.state !== 'COMPLETED') {
        throw new DemoError(`${c.name}: download ${d.downloadId} ${d.state}`, 'ERR_DEMO_STEP')
      }
      rec.downloads.push({ peer: c.name, what: `security #${n.seq} (auto-download)`, units: d.units.length, bytes: d.bytesDone, received: d.bytesReceived })
      say(`  ${c.name} downloaded ${d.units.length} units of security #${n.seq} (${mb(d.bytesDone)}), completed ${(((d.completedAt === null ? Date.now() : Date.parse(d.completedAt)) - n.at) / 1000).toFixed(1)} s after the notification`)
    }
  } finally {
    for (const stop of stops) stop()
  }
}

const CONTENT = `query DemoContent($after: String) { packages(first: 100, after: $after) {
  pageInfo { hasNextPage endCursor } edges { node { statistics { bytesDownloaded bytesUploaded } } } } }`
interface ContentPage { packages: { pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { statistics: { bytesDownloaded: number, bytesUploaded: number } | null } }> } }

/**
 * A peer's content statistics summed over every package it knows. Per
 * package, not per release: a package shared by two releases is one unit,
 * counted once.
 */
async function contentTotals (p: DemoPeer): Promise<{ received: number, uploaded: number }> {
  const sum = { received: 0, uploaded: 0 }
  let after: string | null = null
  for (let pages = 0; pages < 1000; pages++) {
    const d: ContentPage = await p.gql<ContentPage>(CONTENT, { after }, 120_000)
    for (const e of d.packages.edges) {
      sum.received += e.node.statistics?.bytesDownloaded ?? 0
      sum.uploaded += e.node.statistics?.bytesUploaded ?? 0
    }
    if (!d.packages.pageInfo.hasNextPage || d.packages.pageInfo.endCursor === null) break
    after = d.packages.pageInfo.endCursor
  }
  return sum
}

async function summary (net: DemoNetwork, rec: DemoRecord): Promise<void> {
  const line = (s = ''): void => { process.stdout.write(s + '\n') }
  line('\n==== edos demo: summary ====')
  line('Published (at the publisher, signed, indexed by the publisher and the mirrors):')
  for (const p of rec.published) line(`  ${p.release.padEnd(18)} ${String(p.units).padStart(6)} units, ${String(p.contentStored).padStart(6)} content files seeded, ${p.seconds.toFixed(1)} s`)
  line('Queries (answered from the distributed index):')
  for (const q of rec.queries) line(`  at ${q.peer.padEnd(8)} ${q.query}: ${q.answers} answers, ${q.ms.toFixed(0)} ms`)
  line('Downloaded (every file verified against its signed sha256):')
  for (const d of rec.downloads) line(`  ${d.peer.padEnd(8)} ${String(d.units).padStart(5)} units, ${mb(d.bytes).padStart(9)}, ${mb(d.received).padStart(9)} received: ${d.what}`)
  const totals = await Promise.all(net.peers.map(async (p) => await contentTotals(p)))
  line('Bytes moved (content statistics of each peer, every package counted once):')
  for (const [i, p] of net.peers.entries()) line(`  ${p.name.padEnd(9)} received ${mb(totals[i].received).padStart(9)}, served ${mb(totals[i].uploaded).padStart(9)}`)
  const fromPublisher = totals[0].uploaded
  const fromPeers = totals.slice(1).reduce((s, t) => s + t.uploaded, 0)
  const share = fromPublisher + fromPeers === 0 ? 0 : fromPublisher / (fromPublisher + fromPeers) * 100
  line(`  served by the publisher ${mb(fromPublisher)} (${share.toFixed(0)}%), by mirrors and clients ${mb(fromPeers)} (${(100 - share).toFixed(0)}%)`)
  const f = rec.flashCrowd
  if (f !== undefined) {
    line(`Flash crowd ${net.releases.r2.name}: ${f.wishLists} wish lists, ${f.exactClusters} requester sets -> ${f.torrents} torrents, waste ${f.wastePercent.toFixed(2)}%;` +
      ` the publisher uploaded ${mb(f.uploaded)} = ${(f.uploaded / Math.max(1, f.wantedBytes)).toFixed(2)} x the ${mb(f.wantedBytes)} the peers wanted in all`)
  }
  line('Consoles:')
  for (const p of net.peers) line(`  ${p.name.padEnd(9)} ${p.consoleWithToken}`)
  line(`Data and logs: ${net.root} (logs/). Load average now: ${load()}.`)
}

export async function runDemo (opts: DemoOptions): Promise<void> {
  say(`edos demo in ${opts.root}; sections ${opts.sections === 'all' ? 'all (whole releases)' : opts.sections.join(', ')}, content 1/${opts.scale} of the real sizes; load average ${load()}`)
  const peerCount = 6
  const net = await startDemoNetwork({
    root: opts.root,
    data: opts.data,
    scale: opts.scale,
    sections: opts.sections,
    httpPorts: opts.port === undefined ? undefined : Array.from({ length: peerCount }, (_, i) => opts.port! + i),
    log: (l) => { say(l) },
    onPeer: (p) => { say(`${p.name} (${p.role}) is up: ${p.consoleWithToken}`) }
  })
  // One stop, awaited by every caller: a signal stops the peers, the step it interrupted fails and its catch waits for
  // the same stop, so the signal's exit code (130, 143) is the one the process ends with, once the peers are down.
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    if (stopped === undefined) {
      say('stopping the peers…')
      stopped = net.stop()
    }
    await stopped
  }
  process.once('SIGINT', () => { void stop().then(() => process.exit(130)) })
  process.once('SIGTERM', () => { void stop().then(() => process.exit(143)) })
  const rec: DemoRecord = { published: [], queries: [], downloads: [] }
  try {
    say('Step 1: R1 (bookworm) published (metadata); each client already holds a third of its files')
    const r1 = await net.publish(net.releases.r1)
    rec.published.push(r1)
    say(`  ${r1.units} units in ${r1.seconds.toFixed(1)} s; every peer sees it`)
    const held = await preload(net)
    say('Step 2: R2 (trixie) published, its content at the publisher')
    const r2 = await net.publish(net.releases.r2, { content: true })
    rec.published.push(r2)
    say(`  ${r2.units} units in ${r2.seconds.toFixed(1)} s, ${r2.contentStored} content files seeded`)
    say('Step 3: queries at several peers; a client downloads R1 units from the other clients')
    await queries(net, rec)
    await downloadFromPeers(net, held, rec)
    say('Step 4: R2 disseminated by a flash crowd: every mirror and client sends its wish list')
    await flashCrowd(net, opts, rec)
    say('Step 5: R3 (bookworm-security) into channel security; clients subscribed with auto-download')
    await security(net, rec)
    await summary(net, rec)
  } catch (err) {
    await stop()
    throw err
  }
  if (opts.exit) { await stop(); return }
  say('The peers keep running: open the consoles above. Ctrl-C stops them.')
  // A pending promise alone does not keep Node running: a timer does, until a signal ends the process.
  await new Promise<never>(() => { setInterval(() => {}, 3_600_000) })
}

function parseOptions (argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      sections: { type: 'string' }, full: { type: 'boolean' }, scale: { type: 'string' }, k: { type: 'string' }, window: { type: 'string' },
      port: { type: 'string' }, root: { type: 'string' }, data: { type: 'string' }, exit: { type: 'boolean' }
    },
    strict: true
  })
  const num = (name: string, v: string | undefined, fallback: number, min: number): number => {
    if (v === undefined) return fallback
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n) || n < min) throw new DemoError(`--${name} must be a number >= ${min}, got ${JSON.stringify(v)}`, 'ERR_DEMO_STEP')
    return n
  }
  if (values.full === true && values.sections !== undefined) throw new DemoError('give --sections or --full, not both', 'ERR_DEMO_STEP')
  return {
    root: values.root ?? '',
    data: values.data === undefined ? undefined : resolve(values.data),
    scale: num('scale', values.scale, DEFAULT_SCALE, 1),
    sections: values.full === true ? 'all' : values.sections === undefined ? DEFAULT_SECTIONS : values.sections.split(',').map((s) => s.trim()).filter((s) => s !== ''),
    maxTorrents: num('k', values.k, 4, 1),
    windowSeconds: num('window', values.window, 120, 1),
    port: values.port === undefined ? undefined : num('port', values.port, 0, 1),
    exit: values.exit === true
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  (async () => {
    const opts = parseOptions(process.argv.slice(2))
    opts.root = opts.root === '' ? await mkdtemp(join(tmpdir(), 'edos-demo-')) : resolve(opts.root)
    await runDemo(opts)
  })().catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
