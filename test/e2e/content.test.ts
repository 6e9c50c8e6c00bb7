/**
 * Content distribution across processes: a publisher, 2 mirrors and 3
 * clients, each `edos serve` in its own process on 127.0.0.1, moving real
 * bytes with WebTorrent over TCP. The publisher publishes a folder of
 * files with `edos publish --format dir` (stored and seeded), the mirrors
 * replicate it, the clients download units found by a pattern, every byte
 * is checked against sha256 here, and the clients' upload accounting shows
 * they served each other. Then: a peer serving corrupt pieces, aria2c
 * (Debian's BitTorrent client) fetching a unit through its .torrent URL and
 * the HTTP tracker, a client SIGKILLed and restarted mid-download (it
 * resumes without fetching verified pieces again), and the publisher
 * SIGKILLed mid-download (it completes from the mirrors and web seeds).
 * The tests share one cluster and run in order. EDOS_E2E_KEEP=1 keeps the folders.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster, EDOS, ROOT, indexState, sleep, waitFor, type Peer } from './harness.ts'

const cluster = new Cluster()
let publisher: Peer
let mirrors: Peer[]
let clients: Peer[]
const t0 = Date.now()
const log = (m: string): void => { process.stderr.write(`[e2e content ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`) }

/** name -> bytes and sha256 of every published file. */
const files = new Map<string, { bytes: Buffer, sha256: string }>()
/** name -> document id. */
const ids = new Map<string, string>()
const MB = 1024 * 1024
/** Slow enough to catch a transfer mid-way on loopback. */
const SLOW = String(3 * MB)

const DOWNLOAD = 'mutation ($units: [String!], $pattern: String) { download(units: $units, pattern: $pattern) { download { downloadId state units bytesTotal } } }'
const DOWNLOADS = 'query { downloads { downloadId state units bytesTotal bytesDone bytesReceived unitsDone peers rate etaSeconds error } }'
interface Dl { downloadId: string, state: string, units: string[], bytesTotal: number, bytesDone: number, bytesReceived: number, unitsDone: number, peers: number, rate: number, etaSeconds: number | null, error: string | null }

async function startDownload (p: Peer, vars: { units?: string[], pattern?: string }): Promise<Dl> {
  const d = await p.gql<{ download: { download: Dl } }>(DOWNLOAD, vars, { token: await p.token() })
  return d.download.download
}

async function record (p: Peer, id: string): Promise<Dl> {
  const d = await p.gql<{ downloads: Dl[] }>(DOWNLOADS, {}, { timeoutMs: 10_000 })
  const r = d.downloads.find((x) => x.downloadId === id)
  if (r === undefined) throw new Error(`${p.name} has no download ${id}`)
  return r
}

async function completed (p: Peer, id: string, ms: number): Promise<Dl> {
  return await waitFor(`${p.name} download ${id}`, async () => {
    const r = await record(p, id)
    if (r.state === 'FAILED' || r.state === 'CANCELLED') throw Object.assign(new Error(`${p.name}: download ${r.state}: ${r.error ?? ''}`), { fatal: true })
    return r.state === 'COMPLETED' ? r : false
  }, ms, 250).catch((err: Error) => { throw new Error(`${err.message}\n${cluster.logs(1500)}`) })
}

/** The bytes a peer stored for a file, read from its content folder and checked here. */
async function storedSha (p: Peer, name: string): Promise<string> {
  const sha = files.get(name)!.sha256
  const bytes = await readFile(join(p.data, 'content', sha.slice(0, 2), sha))
  return createHash('sha256').update(bytes).digest('hex')
}

const UNIT = 'query ($doc: String!) { document(doc: $doc) { ... on Utility { doc torrent { infoHash magnetURI url } replicas statistics { downloads bytesDownloaded bytesUploaded held } } } }'
interface UnitView { doc: string, torrent: { infoHash: string, magnetURI: string, url: string | null } | null, replicas: string[] | null, statistics: { downloads: number, bytesDownloaded: number, bytesUploaded: number, held: number } | null }
async function unitView (p: Peer, name: string): Promise<UnitView> {
  return (await p.gql<{ document: UnitView }>(UNIT, { doc: ids.get(name)! }, { timeoutMs: 20_000 })).document
}

function makeFile (name: string, size: number): void {
  const bytes = randomBytes(size)
  files.set(name, { bytes, sha256: createHash('sha256').update(bytes).digest('hex') })
}

describe('content distribution between processes (WebTorrent over TCP on 127.0.0.1)', () => {
  beforeAll(async () => {
    await cluster.init('edos-e2e-content-')
    for (let i = 1; i <= 4; i++) makeFile(`setA-${i}.bin`, 3 * MB + i * 1000)
    makeFile('corrupt-target.bin', 6 * MB)
    makeFile('big-restart.bin', 18 * MB)
    makeFile('big-kill.bin', 18 * MB)
    const dir = join(cluster.root, 'files')
    await mkdir(dir)
    for (const [name, f] of files) await writeFile(join(dir, name), f.bytes)
    publisher = await cluster.peer('publisher', 'publisher', { listen: ['/ip4/127.0.0.1/tcp/0'] }).start(120_000)
    const boot = { bootstrap: [publisher.multiaddrs[0]], publisherKey: cluster.publisherKeyFile }
    mirrors = [cluster.peer('mirror1', 'mirror', boot), cluster.peer('mirror2', 'mirror', boot)]
    clients = [
      cluster.peer('client1', 'client', { ...boot, extra: ['--download-limit', SLOW] }),
      cluster.peer('client2', 'client', { ...boot, extra: ['--download-limit', SLOW] }),
      cluster.peer('client3', 'client', { ...boot, extra: ['--download-limit', SLOW] })
    ]
    // Generous: five processes compile and start at once on a 2-core machine.
    await Promise.all([...mirrors, ...clients].map(async (p) => await p.start(240_000)))
    log('6 peers up')
    // The CLI publishes the folder: each file a utility, stored and seeded by the publisher.
    const pub = spawnSync(process.execPath, [EDOS, 'publish', '--peer', publisher.url, '--token-file', publisher.tokenFile, '--release', 'files', '--format', 'dir', '--by-path', dir], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 })
    expect(pub.status, pub.stderr).toBe(0)
    expect(pub.stderr).toMatch(new RegExp(`published ${files.size} units into files .*; ${files.size} content files stored and seeded`))
    const seq = (await indexState(publisher)).catalogSeq
    await cluster.waitCatalog(seq, 60_000)
    const names = await publisher.gql<{ search: { edges: Array<{ node: { doc: string, xml: string } }> } }>('query { search(pattern: "/utility/name", first: 50) { edges { node { doc xml } } } }')
    for (const e of names.search.edges) ids.set(/<name>([^<]+)<\/name>/.exec(e.node.xml)![1], e.node.doc)
    expect([...ids.keys()].sort()).toEqual([...files.keys()].sort())
    log(`published ${files.size} files, catalog ${seq} everywhere`)
  })

  afterAll(async () => { await cluster.cleanup() })

  it('exposes every unit\'s torrent (infohash, magnet, .torrent URL) and its replicas', async () => {
    const v = await unitView(publisher, 'setA-1.bin')
    expect(v.torrent?.infoHash).toMatch(/^[0-9a-f]{40}$/)
    expect(v.torrent?.magnetURI).toContain(`xt=urn:btih:${v.torrent?.infoHash}`)
    expect(v.torrent?.magnetURI).toContain('tr=http%3A%2F%2F127.0.0.1')
    const res = await fetch(v.torrent!.url!)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/x-bittorrent')
    expect(v.replicas?.[0]).toBe(publisher.peerId)
    // A client holds nothing yet: no torrent of its own, but it sees the publisher as a replica.
    const atClient = await unitView(clients[0], 'setA-1.bin')
    expect(atClient.torrent).toBeNull()
    expect(atClient.replicas).toContain(publisher.peerId)
  })

  it('aria2c fetches a unit through its .torrent URL and the HTTP tracker: identical bytes', async () => {
    const v = await unitView(publisher, 'setA-2.bin')
    const out = join(cluster.root, 'aria2')
    await mkdir(out)
    const r = spawnSync('aria2c', ['--dir', out, '--seed-time=0', '--enable-dht=false', '--enable-dht6=false', '--bt-enable-lpd=false', '--enable-peer-exchange=false',
      '--follow-torrent=mem', '--summary-interval=0', '--console-log-level=warn', '--bt-stop-timeout=60', '--connect-timeout=10', '--timeout=20', '--disable-ipv6=true', v.torrent!.url!], { encoding: 'utf8', timeout: 90_000 })
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0)
    const got = await readFile(join(out, 'setA-2.bin'))
    expect(createHash('sha256').update(got).digest('hex')).toBe(files.get('setA-2.bin')!.sha256)
    log('aria2c: identical bytes')
  })

  it('mirrors replicate everything; three clients download a pattern\'s units, verified, and serve each other', async () => {
    const m = await Promise.all(mirrors.map(async (p) => await startDownload(p, { pattern: '/utility' })))
    await Promise.all(mirrors.map(async (p, i) => await completed(p, m[i].downloadId, 120_000)))
    for (const p of mirrors) for (const name of files.keys()) expect(await storedSha(p, name)).toBe(files.get(name)!.sha256)
    log('mirrors hold everything')
    const setA = [...files.keys()].filter((n) => n.startsWith('setA-'))
    const d = await Promise.all(clients.map(async (p) => await startDownload(p, { pattern: '/utility[starts-with(name, "setA-")]' })))
    for (const x of d) expect(x.units.sort()).toEqual(setA.map((n) => ids.get(n)!).sort())
    const done = await Promise.all(clients.map(async (p, i) => await completed(p, d[i].downloadId, 120_000)))
    for (const r of done) expect(r).toMatchObject({ unitsDone: 4, bytesDone: r.bytesTotal })
    for (const p of clients) for (const n of setA) expect(await storedSha(p, n)).toBe(files.get(n)!.sha256)
    // Upload accounting: the clients served part of the set to each other.
    await sleep(2500)
    const uploaded = await Promise.all(clients.map(async (p) => {
      let sum = 0
      for (const n of setA) sum += (await unitView(p, n)).statistics?.bytesUploaded ?? 0
      return sum
    }))
    log(`clients uploaded ${uploaded.join(', ')} bytes of set A to others`)
    expect(uploaded.reduce((a, b) => a + b, 0)).toBeGreaterThan(0)
    const stats = (await unitView(clients[0], 'setA-1.bin')).statistics
    expect(stats).toMatchObject({ downloads: 1, held: 1 })
    const replicas = (await unitView(clients[1], 'setA-1.bin')).replicas ?? []
    expect(replicas.length).toBeGreaterThanOrEqual(4)
  })

  it('a peer serving corrupt pieces does not spoil a download', async () => {
    const name = 'corrupt-target.bin'
    const v = await unitView(publisher, name)
    const torrentFile = join(cluster.root, 'corrupt.torrent')
    await writeFile(torrentFile, Buffer.from(await (await fetch(v.torrent!.url!)).arrayBuffer()))
    const bad = Buffer.from(files.get(name)!.bytes)
    for (let i = 0; i < bad.length; i += 4096) bad[i] ^= 0xff
    const badFile = join(cluster.root, 'corrupt.bin')
    await writeFile(badFile, bad)
    const trackers = [publisher, ...mirrors].map((p) => p.url.replace(/\/graphql$/, '/announce'))
    const seeder: ChildProcess = spawn(process.execPath, [join(ROOT, 'bin', 'run-ts.js'), join(ROOT, 'test', 'e2e', 'corrupt-seeder.ts'), torrentFile, badFile, ...trackers], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    seeder.stdout!.on('data', (c) => { out += String(c) })
    seeder.stderr!.on('data', (c) => { out += String(c) })
    try {
      await waitFor('corrupt seeder listening', () => /port \d+/.test(out), 30_000)
      await sleep(1500)
      const d = await startDownload(clients[0], { units: [ids.get(name)!] })
      await completed(clients[0], d.downloadId, 90_000)
      expect(await storedSha(clients[0], name)).toBe(files.get(name)!.sha256)
      const sent = Math.max(0, ...[...out.matchAll(/uploaded (\d+)/g)].map((m) => Number(m[1])))
      log(`corrupt seeder sent ${sent} bytes; the download is still correct`)
    } finally {
      seeder.kill('SIGKILL')
    }
  })

  it('a client killed mid-download resumes after restart without fetching verified pieces again', async () => {
    const name = 'big-restart.bin'
    const size = files.get(name)!.bytes.length
    const c = clients[1]
    const d = await startDownload(c, { units: [ids.get(name)!] })
    const mid = await waitFor('a third of the file', async () => { const r = await record(c, d.downloadId); return r.bytesDone > size / 3 ? r : false }, 60_000, 100)
    await c.kill('SIGKILL')
    log(`client2 killed at ${mid.bytesDone} of ${size} bytes`)
    await c.start()
    const r = await completed(c, d.downloadId, 90_000)
    log(`client2 resumed: received ${r.bytesReceived} bytes after restart for a ${size}-byte file`)
    expect(await storedSha(c, name)).toBe(files.get(name)!.sha256)
    // Pieces verified before the kill were kept (an unflushed tail may be fetched again).
    expect(r.bytesReceived).toBeLessThan(size - mid.bytesDone / 2)
  })

  it('the publisher killed mid-download: the download completes from the mirrors and web seeds', async () => {
    const name = 'big-kill.bin'
    const size = files.get(name)!.bytes.length
    const c = clients[2]
    const d = await startDownload(c, { units: [ids.get(name)!] })
    await waitFor('some bytes', async () => (await record(c, d.downloadId)).bytesDone > size / 10, 60_000, 100)
    await publisher.kill('SIGKILL')
    log('publisher killed')
    await completed(c, d.downloadId, 90_000)
    expect(await storedSha(c, name)).toBe(files.get(name)!.sha256)
  })
})
