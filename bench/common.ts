import { mkdir, writeFile } from 'node:fs/promises'
import { cpus, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url))
export const ROOT = join(BENCH_DIR, '..')
export const SHARED_DATA = join(ROOT, '..', 'shared', 'data')
/** Stores and decompressed inputs reused between runs (gitignored). */
export const CACHE = join(BENCH_DIR, '.cache')

export function machine (): Record<string, string | number> {
  return { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: process.platform }
}

export function percentile (values: number[], p: number): number {
  if (values.length === 0) return NaN
  const s = [...values].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]
}

/** Prints rows as an aligned text table. */
export function printTable (rows: Array<Record<string, string | number>>): void {
  if (rows.length === 0) return
  const cols = Object.keys(rows[0])
  const fmt = (v: string | number): string => typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(v < 10 ? 2 : 1)) : v
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => fmt(r[c] ?? '').length)))
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ')
  process.stdout.write(line(cols) + '\n' + line(widths.map((w) => '-'.repeat(w))) + '\n')
  for (const r of rows) process.stdout.write(line(cols.map((c) => fmt(r[c] ?? ''))) + '\n')
}

export async function writeResults (name: string, figures: unknown): Promise<string> {
  const file = join(BENCH_DIR, 'results', `${name}.json`)
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, JSON.stringify({ name, date: new Date().toISOString(), machine: machine(), figures }, null, 2) + '\n')
  return file
}
