/**
 * One process of the content bench (bench/content-bench.ts):
 *   seed DIR TORRENT_OUT UPLINK [super-seed]  stores the set's files, seeds its multi-file torrent and runs the
 *                                        tracker on 127.0.0.1; prints `ready TRACKER_URL PORT`
 *   leech DIR TORRENT TRACKER SEED UPLINK SHAS [sequential]  downloads every file of the set (verified), prints `done MS RECEIVED`,
 *                                        keeps seeding for the others until stdin closes
 *   http DIR UPLINK                      one HTTP server for the set's files; prints `ready URL`
 *   get URL SHAS NAMES...                fetches each file over HTTP, sha256 on the fly; prints `done MS BYTES`
 * SHAS: a JSON file { name: sha256 } (the signed metadata a real peer would have).
 * Every process prints `uploaded N` when its stdin closes, then exits. UPLINK: bytes/s each process may send.
 */
import '../src/shims/index.ts'
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { Server as TrackerServer } from 'bittorrent-tracker'
import { buildTorrent, ContentStore, rewrap, sha256File, TorrentClient } from '../src/torrents/index.ts'

const [role, ...args] = process.argv.slice(2)
const say = (line: string): void => { process.stdout.write(`${line}\n`) }
const untilStdinCloses = async (): Promise<void> => { process.stdin.resume(); await new Promise((resolve) => process.stdin.once('end', resolve)) }

/** A token bucket shared by every response of this process: its uplink. */
function uplink (bytesPerSecond: number): (n: number) => Promise<void> {
  let allowance = bytesPerSecond / 10
  let last = performance.now()
  return async (n) => {
    for (;;) {
      const now = performance.now()
      allowance = Math.min(bytesPerSecond / 10, allowance + (now - last) / 1000 * bytesPerSecond)
      last = now
      if (allowance >= n || allowance >= bytesPerSecond / 10) { allowance -= n; return }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}

async function setFiles (dir: string): Promise<Array<{ name: string, path: string, size: number }>> {
  const names = (await readdir(dir)).sort()
  return await Promise.all(names.map(async (name) => ({ name, path: join(dir, name), size: (await stat(join(dir, name))).size })))
}

if (role === 'seed') {
  const [dir, torrentOut, up, mode] = args
  const files = await setFiles(join(dir, 'set'))
  const store = await ContentStore.open({ path: join(dir, 'content') })
  const shas: string[] = []
  for (const f of files) {
    const { sha256 } = await sha256File(f.path)
    await store.putFile(f.path, { unit: `util/${f.name}/1`, sha256, size: f.size, name: f.name }, 'bench')
    shas.push(sha256)
  }
  const tracker = new TrackerServer({ http: false, udp: false, ws: false, stats: false, interval: 5000 })
  const server = createServer((req, res) => { tracker.onHttpRequest(req, res, { action: (req.url ?? '').startsWith('/scrape') ? 'scrape' : 'announce' }) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const announce = `http://127.0.0.1:${(server.address() as AddressInfo).port}/announce`
  const meta = await buildTorrent(files.map((f, i) => ({ name: f.name, length: f.size, file: store.filePath(shas[i]) })), { name: 'bench-set', multi: true, announce: [announce] })
  await writeFile(torrentOut, meta.torrent)
  const client = await TorrentClient.start({ store, uploadLimit: Number(up) })
  // Super-seeded: every downloader wants the whole set (BEP 16's case).
  await client.seed(meta, shas, files.map((f) => `util/${f.name}/1`), { announce: [announce], ...(mode === 'super-seed' ? { superSeed: { wantedPieces: () => 'all' as const } } : {}) })
  say(`ready ${announce} ${client.port}`)
  await untilStdinCloses()
  say(`uploaded ${client.seedingTorrents()[0]?.uploaded ?? 0}`)
  await client.stop()
  await store.close()
  server.close()
  process.exit(0)
} else if (role === 'leech') {
  const [dir, torrentFile, announce, seedAddr, up, shasFile, order] = args
  const shas = JSON.parse(await readFile(shasFile, 'utf8')) as Record<string, string>
  const store = await ContentStore.open({ path: join(dir, 'content') })
  const meta = rewrap(new Uint8Array(await readFile(torrentFile)), {})
  const wanted = meta.files.map((f) => ({ unit: `util/${f.name}/1`, sha256: shas[f.name], size: f.length, name: f.name }))
  const client = await TorrentClient.start({ store, uploadLimit: Number(up) })
  const t0 = performance.now()
  const r = await client.fetch({ meta, wanted, peers: [seedAddr], announce: [announce], stallMs: 120_000, order: order === 'sequential' ? 'sequential' : 'rarest' })
  say(`done ${Math.round(performance.now() - t0)} ${r.received}`)
  await untilStdinCloses()
  say(`uploaded ${client.seedingTorrents()[0]?.uploaded ?? 0}`)
  await client.stop()
  await store.close()
  process.exit(0)
} else if (role === 'http') {
  const [dir, up] = args
  const take = uplink(Number(up))
  let uploaded = 0
  const server = createServer((req, res) => {
    const name = decodeURIComponent((req.url ?? '/').slice(1))
    if (name.includes('/') || name === '') { res.writeHead(404); res.end(); return }
    const path = join(dir, 'set', name)
    void stat(path).then(async (st) => {
      res.writeHead(200, { 'content-length': String(st.size), 'content-type': 'application/octet-stream' })
      for await (const chunk of createReadStream(path, { highWaterMark: 64 * 1024 }) as AsyncIterable<Buffer>) {
        await take(chunk.length)
        uploaded += chunk.length
        if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve))
      }
      res.end()
    }, () => { res.writeHead(404); res.end() })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  say(`ready http://127.0.0.1:${(server.address() as AddressInfo).port}/`)
  await untilStdinCloses()
  say(`uploaded ${uploaded}`)
  server.closeAllConnections()
  server.close()
  process.exit(0)
} else if (role === 'get') {
  const [base, shasFile, ...names] = args
  const shas = JSON.parse(await readFile(shasFile, 'utf8')) as Record<string, string>
  const t0 = performance.now()
  let bytes = 0
  for (const name of names) {
    const res = await fetch(base + encodeURIComponent(name))
    if (!res.ok || res.body === null) throw new Error(`GET ${name}: HTTP ${res.status}`)
    const h = createHash('sha256')
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) { h.update(chunk); bytes += chunk.length }
    if (h.digest('hex') !== shas[name]) throw new Error(`GET ${name}: sha256 mismatch`)
  }
  say(`done ${Math.round(performance.now() - t0)} ${bytes}`)
  await untilStdinCloses()
  say('uploaded 0')
  process.exit(0)
} else {
  process.stderr.write('usage: content-worker.ts seed|leech|http|get ...\n')
  process.exit(2)
}
