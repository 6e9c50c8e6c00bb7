/**
 * Peers as processes for benchmarks: `edos serve` in its own folder on
 * 127.0.0.1, its three start lines parsed, a GraphQL helper, and bounded
 * waits. Every process is killed when the bench ends (or fails).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { ROOT } from './common.ts'
import { PEER_NODE_FLAGS } from '../src/cli/peer-flags.ts'

const EDOS = join(ROOT, 'bin', 'edos.js')
/** EDOS_BENCH_NODE_ARGS: node flags for every peer process (space-separated), e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (profiles are written when a peer stops). */
const NODE_ARGS = (process.env.EDOS_BENCH_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
/** EDOS_BENCH_NODE_ARGS_FOR: the peers (names, comma-separated, e.g. `publisher`) those flags are for; default every peer (profiling all 12 slows each). */
const NODE_ARGS_FOR = process.env.EDOS_BENCH_NODE_ARGS_FOR === undefined || process.env.EDOS_BENCH_NODE_ARGS_FOR === '' ? undefined : new Set(process.env.EDOS_BENCH_NODE_ARGS_FOR.split(','))

export interface BenchPeer {
  name: string
  data: string
  id: string
  multiaddr: string
  url: string
  child: ChildProcess
  token: string
  /** The last 4000 characters the peer wrote on stderr. */
  stderr: () => string
}

const running = new Set<ChildProcess>()
process.on('exit', () => { for (const c of running) c.kill('SIGKILL') })

export async function startPeer (name: string, data: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<BenchPeer> {
  const nodeArgs = NODE_ARGS_FOR === undefined || NODE_ARGS_FOR.has(name) ? NODE_ARGS : []
  const child = spawn(process.execPath, [...PEER_NODE_FLAGS, ...nodeArgs, EDOS, 'serve', '--data', data, '--http', '127.0.0.1:0', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  running.add(child)
  child.on('exit', () => running.delete(child))
  let out: string | undefined = ''
  let err = ''
  // EDOS_BENCH_LOGS=DIR keeps every peer's whole stderr and stdout (DIR/NAME.log) for after the run; the bench's temporary folders are removed.
  const logs = process.env.EDOS_BENCH_LOGS
  if (logs !== undefined && logs !== '') mkdirSync(logs, { recursive: true })
  const file = logs === undefined || logs === '' ? undefined : createWriteStream(join(logs, `${name}.log`))
  child.stderr?.on('data', (b: Buffer) => { err = (err + String(b)).slice(-4000); file?.write(b) })
  child.on('exit', () => file?.end())
  const lines = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${name} did not start in ${timeoutMs} ms: ${err}`)) }, timeoutMs)
    // the three lines a peer prints at start, wherever they come (node flags such as --trace-gc write to stdout too)
    const wanted = ['peer id: ', 'multiaddrs: ', 'graphql: ']
    child.stdout?.on('data', (b: Buffer) => {
      file?.write(b)
      if (out === undefined) return
      out += String(b)
      const l = out.split('\n')
      const found = wanted.map((w) => l.slice(0, -1).find((x) => x.startsWith(w)))
      if (found.every((x) => x !== undefined)) { clearTimeout(timer); out = undefined; resolve(found as string[]) }
    })
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${name} exited with ${String(code)}: ${err}`)) })
  })
  const token = (await readFile(join(data, 'api-token'), 'utf8')).trim()
  return {
    name, data, child, token, stderr: () => err,
    id: lines[0].replace('peer id: ', ''),
    multiaddr: lines[1].replace('multiaddrs: ', '').split(' ')[0],
    url: lines[2].replace('graphql: ', '')
  }
}

export async function gql<T> (peer: BenchPeer, query: string, variables: Record<string, unknown> = {}, timeoutMs = 600_000): Promise<T> {
  const res = await fetch(peer.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${peer.token}` },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(timeoutMs)
  })
  const body = await res.json() as { data?: T, errors?: Array<{ message: string }> }
  if (body.errors !== undefined && body.errors.length > 0) throw new Error(`${peer.name}: ${body.errors.map((e) => e.message).join('; ')}\n${peer.stderr()}`)
  return body.data as T
}

export async function waitFor (what: string, ok: () => Promise<boolean>, timeoutMs = 60_000): Promise<number> {
  const t0 = performance.now()
  let last: unknown
  while (!(await ok().catch((err: unknown) => { last = err; return false }))) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}${last === undefined ? '' : `: ${(last as Error).message}`}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return performance.now() - t0
}

export async function stopAll (peers: BenchPeer[]): Promise<void> {
  await Promise.all(peers.map(async (p) => {
    if (p.child.exitCode !== null) return
    const exited = new Promise((resolve) => p.child.once('exit', resolve))
    p.child.kill('SIGTERM')
    const t = setTimeout(() => p.child.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(t)
  }))
}

/** CPU seconds and RSS of a process, from /proc (Linux). */
export async function processUsage (pid: number): Promise<{ cpuSeconds: number, rssMiB: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1].split(' ')
  const ticks = Number(stat[11]) + Number(stat[12])
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const rss = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return { cpuSeconds: ticks / 100, rssMiB: rss / 1024 }
}
