/**
 * `npm run bench -- content [--mb 200] [--n 2,4,8] [--uplink-mb 40]`:
 * one seed and N downloader processes of one set (a multi-file torrent of
 * 20 files, --mb in all) over WebTorrent on 127.0.0.1, against the same N
 * clients fetching the same files from one HTTP server, in the same run.
 * Every process (seed, downloaders, HTTP server) sends at most --uplink-mb
 * MB/s: loopback has no uplink, and without one "the seed serves everyone"
 * costs nothing, which is not what a publisher's link is like. Figures:
 * completion time of the last downloader, and the bytes the seed (or the
 * HTTP server) sent relative to one copy of the set. Target: the seed sends
 * <= 1.5 copies at N = 8 (HTTP sends N).
 * --super-seed on (default) | off: the seed super-seeds (src/torrents/super-seed.ts,
 * BEP 16: each downloader is offered pieces nobody has yet, and downloaders
 * take pieces in order, since the seed already spreads them) or seeds plainly
 * (downloaders rarest first).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT, printTable, writeResults } from './common.ts'

const WORKER = join(ROOT, 'bench', 'content-worker.ts')

interface Worker { child: ChildProcess, lines: string[], wait: (prefix: string, ms?: number) => Promise<string>, close: () => Promise<string> }

function worker (name: string, args: string[]): Worker {
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'run-ts.js'), WORKER, ...args], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  let buf = ''
  child.stdout!.on('data', (b: Buffer) => { buf += String(b); const l = buf.split('\n'); buf = l.pop() ?? ''; lines.push(...l) })
  child.stderr!.on('data', (b: Buffer) => { err = (err + String(b)).slice(-4000) })
  const wait = async (prefix: string, ms = 900_000): Promise<string> => {
    const until = Date.now() + ms
    for (;;) {
      const hit = lines.find((l) => l.startsWith(prefix))
      if (hit !== undefined) return hit
      if (child.exitCode !== null || Date.now() > until) throw new Error(`${name}: no '${prefix}' line (exit ${String(child.exitCode)}): ${err}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  const close = async (): Promise<string> => { child.stdin!.end(); const l = await wait('uploaded', 60_000); return l }
  return { child, lines, wait, close }
}

function arg (args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : fallback
}

export async function run (args: string[]): Promise<void> {
  const mb = Number(arg(args, 'mb', '200'))
  const ns = arg(args, 'n', '2,4,8').split(',').map(Number)
  const uplink = String(Math.round(Number(arg(args, 'uplink-mb', '40')) * 1024 * 1024))
  const superSeed = arg(args, 'super-seed', 'on') !== 'off'
  const FILES = 20
  const root = await mkdtemp(join(tmpdir(), 'edos-content-bench-'))
  const live: ChildProcess[] = []
  try {
    const set = join(root, 'seed', 'set')
    await mkdir(set, { recursive: true })
    const shas: Record<string, string> = {}
    const size = Math.floor(mb * 1024 * 1024 / FILES)
    for (let i = 0; i < FILES; i++) {
      const name = `unit-${String(i).padStart(2, '0')}.deb`
      const bytes = randomBytes(size)
      shas[name] = createHash('sha256').update(bytes).digest('hex')
      await writeFile(join(set, name), bytes)
    }
    const shasFile = join(root, 'shas.json')
    await writeFile(shasFile, JSON.stringify(shas))
    const setBytes = size * FILES
    const rows: Array<Record<string, string | number>> = []
    const figures: unknown[] = []
    for (const n of ns) {
      // WebTorrent: the seed, then N downloaders at once.
      const torrent = join(root, `set-${n}.torrent`)
      const seed = worker('seed', ['seed', join(root, 'seed'), torrent, uplink, superSeed ? 'super-seed' : 'seed'])
      live.push(seed.child)
      const [, announce, port] = (await seed.wait('ready')).split(' ')
      const t0 = performance.now()
      const leeches = Array.from({ length: n }, (_, i) => worker(`leech${i}`, ['leech', join(root, `bt-${n}`, `leech-${i}`), torrent, announce, `127.0.0.1:${port}`, uplink, shasFile, superSeed ? 'sequential' : 'rarest']))
      live.push(...leeches.map((l) => l.child))
      const done = await Promise.all(leeches.map(async (l) => await l.wait('done')))
      const btSeconds = (performance.now() - t0) / 1000
      const received = done.map((l) => Number(l.split(' ')[2]))
      const leechUp = (await Promise.all(leeches.map(async (l) => Number((await l.close()).split(' ')[1])))).reduce((a, b) => a + b, 0)
      const seedUp = Number((await seed.close()).split(' ')[1])
      await rm(join(root, `bt-${n}`), { recursive: true, force: true })
      // HTTP: one server, the same N clients.
      const http = worker('http', ['http', join(root, 'seed'), uplink])
      live.push(http.child)
      const url = (await http.wait('ready')).split(' ')[1]
      const t1 = performance.now()
      const gets = Array.from({ length: n }, (_, i) => worker(`get${i}`, ['get', url, shasFile, ...Object.keys(shas)]))
      live.push(...gets.map((g) => g.child))
      await Promise.all(gets.map(async (g) => await g.wait('done')))
      const httpSeconds = (performance.now() - t1) / 1000
      await Promise.all(gets.map(async (g) => await g.close()))
      const httpUp = Number((await http.close()).split(' ')[1])
      const row = {
        N: n,
        'set MB': Math.round(setBytes / 1048576),
        'bt s': btSeconds,
        'http s': httpSeconds,
        'bt/http time': btSeconds / httpSeconds,
        'seed sent (copies)': seedUp / setBytes,
        'http sent (copies)': httpUp / setBytes,
        'peers sent (copies)': leechUp / setBytes,
        'received/leech (copies)': received.reduce((a, b) => a + b, 0) / n / setBytes
      }
      rows.push(row)
      figures.push({ n, setBytes, uplinkBytesPerSecond: Number(uplink), btSeconds, httpSeconds, seedUploaded: seedUp, httpUploaded: httpUp, leechersUploaded: leechUp, received })
      // Written after each N: a long run cut short keeps what it measured.
      await writeResults('content', { mb, files: FILES, superSeed, uplinkMiBps: Number(uplink) / 1048576, rows: figures })
      process.stderr.write(`N = ${n}: bittorrent ${btSeconds.toFixed(1)} s (seed sent ${(seedUp / setBytes).toFixed(2)} copies), http ${httpSeconds.toFixed(1)} s\n`)
    }
    printTable(rows)
    const file = await writeResults('content', { mb, files: FILES, superSeed, uplinkMiBps: Number(uplink) / 1048576, rows: figures })
    process.stdout.write(`results: ${file}\n`)
  } finally {
    for (const c of live) if (c.exitCode === null) c.kill('SIGKILL')
    await rm(root, { recursive: true, force: true })
  }
}
