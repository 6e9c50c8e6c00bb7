/**
 * The paper's flash crowd, R1 -> R2 (bookworm -> trixie) on real package
 * metadata: 1 publisher, 2 mirrors, 4 clients, each `edos serve` in its own
 * process on 127.0.0.1. Content is synthetic (scripts/synthetic-release.ts:
 * files sized from the real `Size:` fields, scaled down, with bytes derived
 * from the real checksum, so a package identical in R1 and R2 is identical
 * here too). The R1 slice is the perl section's lib[ab]* packages, R2's
 * the same plus libd*; every peer wants R2's lib[ab]* packages.
 *
 * Each client holds a different quarter of R1's content (added to its store
 * with `edos content add`), so wish lists differ: a client leaves out what
 * it holds identically. Two clients and both mirrors join on their own
 * (`--join-flash-crowds`), two clients send theirs (`edos wish`, GraphQL).
 * The publisher clusters them into at most K = 4 torrents and seeds them;
 * every peer ends with exactly its wish list, verified; nobody downloads
 * what it held; the publisher's upload and the waste are measured, and the
 * waste the peers measure adds up to what the clustering reported.
 * EDOS_E2E_KEEP=1 keeps the folders.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, EDOS, ROOT, indexState, waitFor, type Peer } from './harness.ts'
import { materialize, syntheticRelease, type SyntheticUnit } from '../../scripts/synthetic-release.ts'

// The perl libraries of bookworm and trixie, cut from ../shared/data (test/fixtures/README.md): tests never read ../shared.
const FIXTURES = join(ROOT, 'test', 'fixtures')
const SCALE = 2
const WANT = '/package[not(starts-with(name, "libd"))]'
const cluster = new Cluster()
let publisher: Peer
let mirrors: Peer[]
let clients: Peer[]
let r1: SyntheticUnit[]
let r2: SyntheticUnit[]
/** Per client: the R1 units whose files it holds before the flash crowd. */
const holds = new Map<string, SyntheticUnit[]>()
const t0 = Date.now()
const log = (m: string): void => { process.stderr.write(`[e2e flash-crowd ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`) }
const unitId = (u: SyntheticUnit): string => `pkg/${u.package}/${u.version}/${u.arch}`

const STATUS = `query ($r: String!) { flashCrowd(release: $r) { state side wishLists uploaded wantedBytes wasteBytes wastePercent exactClusters maxTorrents uncovered
  bytesDone bytesTotal received wasteMeasured error wishList { units bytes held heldBytes } requesters { peer units bytes late bytesDone }
  clusters { id infoHash units bytes requesters waste selected state wasteMeasured } } }`
interface Status {
  state: string, side: string, wishLists: number, uploaded: number | null, wantedBytes: number | null, wasteBytes: number | null, wastePercent: number | null
  exactClusters: number | null, maxTorrents: number | null, uncovered: number, bytesDone: number, bytesTotal: number, received: number, wasteMeasured: number, error: string | null
  wishList: { units: number, bytes: number, held: number, heldBytes: number } | null
  requesters: Array<{ peer: string, units: number, bytes: number, late: boolean, bytesDone: number | null }>
  clusters: Array<{ id: string, infoHash: string | null, units: number, bytes: number, requesters: number, waste: number, selected: number | null, state: string | null, wasteMeasured: number | null }>
}
async function status (p: Peer): Promise<Status | null> {
  return (await p.gql<{ flashCrowd: Status | null }>(STATUS, { r: 'trixie' }, { timeoutMs: 20_000 })).flashCrowd
}

/** Runs the CLI; resolves with its exit code and output. */
async function edos (args: string[], timeoutMs: number): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [EDOS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''; let stderr = ''
    child.stdout.on('data', (c) => { stdout += String(c) })
    child.stderr.on('data', (c) => { stderr += String(c) })
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`edos ${args.join(' ')} ran over ${timeoutMs} ms:\n${stderr.slice(-2000)}`)) }, timeoutMs)
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

async function storedSha (p: Peer, sha: string): Promise<string | undefined> {
  const bytes = await readFile(join(p.data, 'content', sha.slice(0, 2), sha)).catch(() => undefined)
  return bytes === undefined ? undefined : createHash('sha256').update(bytes).digest('hex')
}

describe('flash crowd R1 -> R2 between processes (1 publisher, 2 mirrors, 4 clients)', () => {
  beforeAll(async () => {
    await cluster.init('edos-e2e-flash-')
    const isPerlLib = (re: RegExp) => (s: { package: string, section?: string }) => s.section === 'perl' && re.test(s.package)
    const [a, b] = await Promise.all([
      syntheticRelease({ packages: join(FIXTURES, 'bookworm-perl-lib-ab.Packages.xz'), out: join(cluster.root, 'r1'), select: isPerlLib(/^lib[ab]/), scale: SCALE }),
      syntheticRelease({ packages: join(FIXTURES, 'trixie-perl-lib-abd.Packages.xz'), out: join(cluster.root, 'r2'), select: isPerlLib(/^lib[abd]/), scale: SCALE })
    ])
    r1 = a.units
    r2 = b.units
    log(`synthetic R1 slice ${r1.length} units ${a.bytes} B, R2 slice ${r2.length} units ${b.bytes} B`)

    publisher = await cluster.peer('publisher', 'publisher', { listen: ['/ip4/127.0.0.1/tcp/0'] }).start(120_000)
    const boot = { bootstrap: [publisher.multiaddrs[0]], publisherKey: cluster.publisherKeyFile }
    const join_ = { ...boot, extra: ['--join-flash-crowds', WANT] }
    mirrors = [cluster.peer('mirror1', 'mirror', join_), cluster.peer('mirror2', 'mirror', join_)]
    clients = [cluster.peer('client1', 'client', join_), cluster.peer('client2', 'client', join_), cluster.peer('client3', 'client', boot), cluster.peer('client4', 'client', boot)]
    await Promise.all([...mirrors, ...clients].map(async (p) => await p.start(240_000)))
    log('7 peers up')

    const token = await publisher.token()
    const PUBLISH = 'mutation ($input: PublishReleaseInput!) { publishRelease(input: $input) { summary { units rejected contentStored } } }'
    const p1 = await publisher.gql(PUBLISH, { input: { name: 'bookworm', format: 'DEBIAN', paths: [a.packagesFile] } }, { token, timeoutMs: 300_000 })
    expect(p1.publishRelease.summary).toMatchObject({ units: r1.length, rejected: 0 })
    log('R1 published')
    // R2's content goes to the publisher's store (and only there): it seeds the cluster torrents.
    const p2 = await publisher.gql(PUBLISH, { input: { name: 'trixie', format: 'DEBIAN', paths: [b.packagesFile], contentPaths: [b.filesDir] } }, { token, timeoutMs: 300_000 })
    expect(p2.publishRelease.summary).toMatchObject({ units: r2.length, rejected: 0, contentStored: r2.length })
    await cluster.waitCatalog((await indexState(publisher)).catalogSeq, 120_000)
    log('R1 and R2 published, catalog everywhere')

    // Each client holds a different quarter of R1 (by position), added with the CLI.
    await Promise.all(clients.map(async (c, i) => {
      const mine = r1.filter((_, j) => j % clients.length === i)
      holds.set(c.name, mine)
      const dir = join(cluster.root, `cache-${c.name}`)
      await mkdir(dir)
      await materialize(mine, dir, SCALE)
      const r = await edos(['content', 'add', '--peer', c.url, '--token-file', c.tokenFile, '--by-path', dir], 300_000)
      expect(r.code, r.stderr).toBe(0)
      expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toMatchObject({ stored: mine.length, unmatched: [] })
      log(`${c.name} holds ${mine.length} R1 units`)
    }))
    log('clients pre-loaded with their R1 quarters')
  }, 600_000)

  afterAll(async () => { await cluster.cleanup() })

  it('every peer ends with exactly its wish list, verified; nobody fetches what it held; waste and the publisher\'s upload are measured', async () => {
    const wanted = r2.filter((u) => !u.package.startsWith('libd'))
    const wantedBytes = wanted.reduce((s, u) => s + u.size, 0)
    // What each peer should ask for: wanted R2 units minus identical R1 units it holds (same id, same bytes).
    const expected = new Map<string, SyntheticUnit[]>()
    for (const p of [...mirrors, ...clients]) {
      const held = new Set((holds.get(p.name) ?? []).map((u) => `${unitId(u)} ${u.sha256}`))
      expected.set(p.name, wanted.filter((u) => !held.has(`${unitId(u)} ${u.sha256}`)))
    }
    const identical = clients.map((c) => wanted.length - expected.get(c.name)!.length)
    log(`wanted ${wanted.length} units (${wantedBytes} B); clients hold ${identical.join(', ')} of them identically`)
    expect(identical.every((n) => n > 0)).toBe(true)

    const start = edos(['flash-crowd', '--peer', publisher.url, '--token-file', publisher.tokenFile, 'trixie', '--window', '300', '--k', '4', '--expect', '6'], 420_000).catch((err: Error) => ({ code: -1, stdout: '', stderr: err.message }))
    // The two clients that do not join on their own send their lists while the window is open.
    let startEnded: { code: number | null, stderr: string } | undefined
    void start.then((r) => { startEnded = r })
    await waitFor('window open', async () => {
      if (startEnded !== undefined && startEnded.code !== 0) throw Object.assign(new Error(`edos flash-crowd exited ${String(startEnded.code)}: ${startEnded.stderr}`), { fatal: true })
      return (await status(publisher))?.state === 'COLLECTING' || startEnded !== undefined
    }, 180_000, 500).catch((err: Error) => { throw new Error(`${err.message}\n${cluster.logs(3000)}`) })
    const wish3 = edos(['wish', '--peer', clients[2].url, '--token-file', clients[2].tokenFile, 'trixie', '--pattern', WANT], 240_000)
    const w4 = await clients[3].gql('mutation ($r: String!, $p: String) { submitWishList(release: $r, pattern: $p) { wishList { units held state } } }', { r: 'trixie', p: WANT }, { token: await clients[3].token() })
    expect(w4.submitWishList.wishList.held).toBe(identical[3])
    const started = await start
    expect(started.code, started.stderr).toBe(0)
    const announced = JSON.parse(started.stdout.trim().split('\n').pop()!) as Status
    expect(announced.state).toBe('ANNOUNCED')
    log(`announced: ${announced.wishLists} wish lists, ${announced.exactClusters} requester sets -> ${announced.clusters.length} torrents, waste ${announced.wastePercent?.toFixed(2)}%`)
    expect(announced.wishLists).toBe(6)
    expect(announced.clusters.length).toBeGreaterThan(0)
    expect(announced.clusters.length).toBeLessThanOrEqual(4)
    expect(announced.uncovered).toBe(0)

    const peers = [...mirrors, ...clients]
    const ends = await Promise.all(peers.map(async (p) => await waitFor(`${p.name} completed`, async () => {
      const s = await status(p)
      if (s?.state === 'FAILED') throw Object.assign(new Error(`${p.name}: ${s.error ?? ''}`), { fatal: true })
      return s?.state === 'COMPLETED' ? s : false
    }, 240_000, 500).catch((err: Error) => { throw new Error(`${err.message}\n${cluster.logs(2000)}`) })))
    const w3 = await wish3
    expect(w3.code, w3.stderr).toBe(0)
    expect(JSON.parse(w3.stdout.trim().split('\n').pop()!).state).toBe('COMPLETED')

    let measured = 0
    for (const [i, p] of peers.entries()) {
      const s = ends[i]
      const want = expected.get(p.name)!
      expect(s.wishList).toMatchObject({ units: want.length, held: wanted.length - want.length })
      // Exactly its wish list, byte for byte: every wanted unit stored and verified ...
      for (const u of want) expect(await storedSha(p, u.sha256), `${p.name} ${unitId(u)}`).toBe(u.sha256)
      // ... and nothing of R2 beyond it: libd* was wanted by nobody.
      for (const u of r2.filter((x) => x.package.startsWith('libd'))) {
        if (!r1.some((x) => x.sha256 === u.sha256)) expect(await storedSha(p, u.sha256)).toBeUndefined()
      }
      // Nobody downloaded what it held: received bytes stay within its wish list plus the piece edges.
      const wantBytes = want.reduce((sum, u) => sum + u.size, 0)
      expect(s.bytesDone).toBe(wantBytes)
      measured += s.wasteMeasured
      log(`${p.name}: ${want.length} units, ${wantBytes} B wanted, received ${s.received} B, waste measured ${s.wasteMeasured} B`)
    }
    for (const c of clients) {
      for (const u of holds.get(c.name)!) {
        const st = await stat(join(c.data, 'content', u.sha256.slice(0, 2), u.sha256))
        expect(st.size).toBe(u.size)
      }
    }
    const pub = (await waitFor('publisher upload counted', async () => {
      const s = await status(publisher)
      return s !== null && (s.uploaded ?? 0) > 0 ? s : false
    }, 30_000, 500))
    const unique = new Set(peers.flatMap((p) => expected.get(p.name)!.map((u) => u.sha256)))
    const uniqueBytes = wanted.filter((u) => unique.has(u.sha256)).reduce((sum, u) => sum + u.size, 0)
    const sumWanted = peers.reduce((sum, p) => sum + expected.get(p.name)!.reduce((x, u) => x + u.size, 0), 0)
    log(`publisher uploaded ${pub.uploaded} B = ${((pub.uploaded ?? 0) / uniqueBytes).toFixed(2)} x the unique bytes wanted (${uniqueBytes} B); peers wanted ${sumWanted} B in all; waste reported ${pub.wasteBytes} B, measured ${measured} B`)
    // The waste the peers measured (verified pieces beyond their files) is what the clustering reported.
    expect(measured).toBe(pub.wasteBytes)
    // The publisher super-seeds: it knows each wire's peer (BitTorrent ids derive from libp2p ids) and so sees every requester complete.
    const seen = await waitFor('the publisher sees every requester complete', async () => {
      const s = await status(publisher)
      return s !== null && s.requesters.length === 6 && s.requesters.every((r) => r.bytesDone === r.bytes) ? s : false
    }, 30_000, 1000).catch(async () => await status(publisher))
    expect(seen?.requesters.map((r) => [r.peer, r.bytesDone])).toEqual(seen?.requesters.map((r) => [r.peer, r.bytes]))
  }, 600_000)
})
