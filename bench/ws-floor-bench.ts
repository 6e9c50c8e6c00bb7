/**
 * `npm run bench -- ws-floor [--n N] [--rounds R] [--readers K] [--nap-ms MS]`: what this
 * machine allows the channels bench before any edos code runs. One writer
 * process writes one ~130-byte frame to each of N loopback sockets (default
 * 10,000), held by K reader processes (default 2, as the channels bench's
 * load processes), R rounds 1 s apart (default 20). Latency = arrival at a
 * reader minus the moment the round started; CPU per frame from each
 * process's own process.cpuUsage() (writer: its send loop; readers: from
 * the start of the round to their last arrival). Three pairs:
 *   raw/raw   bare TCP writes, bare TCP reads (the kernel's floor);
 *   ws/ws     a `ws` server sending a string, `ws` clients (what a mirror
 *             and ordinary subscribers pay at the least);
 *   ws/lean   the same server, the channels bench's lean client
 *             (bench/lean-ws.ts).
 * Readers sleep MS (default 1, as the channels bench's load process) outside
 * epoll after a loop turn that read anything (ReadCoalescer, lean-ws.ts).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { BENCH_DIR, percentile, printTable, writeResults } from './common.ts'

const WORKER = join(BENCH_DIR, 'ws-floor-worker.ts')

function flag (args: string[], name: string, def: number): number {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : def
}

async function message<T> (p: ChildProcess, pick: (m: unknown) => T | undefined, ms = 300_000): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { p.off('message', on); reject(new Error(`worker ${p.pid}: no answer within ${ms} ms`)) }, ms)
    const on = (m: unknown): void => {
      const v = pick(m)
      if (v !== undefined) { clearTimeout(timer); p.off('message', on); resolve(v) }
    }
    p.on('message', on)
  })
}

let napMs = 1

function start (args: string[]): ChildProcess {
  // The TypeScript hooks (bin/ts-hooks.js) through the same runner as the bench itself.
  return fork(join(BENCH_DIR, '..', 'bin', 'run-ts.js'), [WORKER, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, EDOS_BENCH_NAP_MS: String(napMs) } })
}

interface PairFigures { pair: string, p50Ms: number, p99Ms: number, p99WorstMs: number, writerUsPerFrame: number, readerUsPerFrame: number, p99ByRoundMs: number[], writerUsByRound: number[] }

async function pair (writerKind: 'raw' | 'ws', readerKind: 'raw' | 'ws' | 'lean', n: number, readers: number, rounds: number): Promise<PairFigures> {
  const writer = start(['writer', writerKind])
  const all: ChildProcess[] = [writer]
  try {
    const port = await message(writer, (m) => (m as { port?: number }).port)
    const rs = Array.from({ length: readers }, (_, i) => start(['reader', readerKind, JSON.stringify([port]), String(Math.floor(n / readers) + (i < n % readers ? 1 : 0))]))
    all.push(...rs)
    await Promise.all(rs.map(async (r) => await message(r, (m) => (m as { ready?: boolean }).ready)))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const p50: number[] = []; const p99: number[] = []; const wUs: number[] = []; const rUs: number[] = []
    for (let round = 0; round < rounds; round++) {
      const go = performance.timeOrigin + performance.now()
      const arrived = rs.map(async (r) => await message(r, (m) => (m as { latencies?: number[] }).latencies !== undefined ? m as { latencies: number[], cpuMs: number } : undefined))
      const wrote = message(writer, (m) => (m as { wrote?: number }).wrote !== undefined ? m as { wrote: number, cpuMs: number } : undefined)
      for (const r of rs) r.send({ go })
      writer.send({ go })
      const got = await Promise.all(arrived)
      const w = await wrote
      const lat = got.flatMap((g) => g.latencies)
      p50.push(percentile(lat, 50)); p99.push(percentile(lat, 99))
      wUs.push(w.cpuMs * 1000 / w.wrote)
      rUs.push(got.reduce((s, g) => s + g.cpuMs, 0) * 1000 / lat.length)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
    return { pair: `${writerKind}/${readerKind}`, p50Ms: percentile(p50, 50), p99Ms: percentile(p99, 50), p99WorstMs: Math.max(...p99), writerUsPerFrame: percentile(wUs, 50), readerUsPerFrame: percentile(rUs, 50), p99ByRoundMs: p99.map((v) => Math.round(v)), writerUsByRound: wUs.map((v) => Math.round(v * 10) / 10) }
  } finally {
    for (const p of all) p.kill()
  }
}

export async function run (args: string[]): Promise<void> {
  const n = flag(args, 'n', 10_000)
  const rounds = flag(args, 'rounds', 20)
  const readers = flag(args, 'readers', 2)
  napMs = flag(args, 'nap-ms', 1)
  const rows: PairFigures[] = []
  for (const [w, r] of [['raw', 'raw'], ['ws', 'ws'], ['ws', 'lean']] as const) {
    rows.push(await pair(w, r, n, readers, rounds))
    process.stderr.write(`ws-floor: ${w}/${r} done\n`)
  }
  printTable(rows.map((r) => ({ 'writer/reader': r.pair, 'p50 ms': r.p50Ms, 'p99 ms (median round)': r.p99Ms, 'p99 ms (worst round)': r.p99WorstMs, 'writer us/frame': r.writerUsPerFrame, 'reader us/frame': r.readerUsPerFrame })))
  process.stdout.write(`${n} sockets, ${readers} reader processes napping ${napMs} ms after reads, ${rounds} rounds 1 s apart; compare with the channels bench's p99 target (200 ms at 10,000)\n`)
  const file = await writeResults('ws-floor', { sockets: n, readers, rounds, napMs, pairs: rows })
  process.stdout.write(`\nwrote ${file}\n`)
}
