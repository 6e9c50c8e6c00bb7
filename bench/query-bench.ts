import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { EmbeddedIndex } from '../src/xml-twig-index/embedded.ts'
import { mandatoryTerms } from '../src/xml-twig-index/engine/mandatory.ts'
import { PostingBuffer, decodeBlock } from '../src/xml-twig-index/postings/codec.ts'
import { parseQuery } from '../src/xml-twig-index/query/index.ts'
import { CACHE, SHARED_DATA, percentile, printTable, writeResults } from './common.ts'
import { R1_STORE, buildR1 } from './index-bench.ts'
import { scanBaseline } from './scan-baseline.ts'

const run$ = promisify(execFile)

interface BenchPattern {
  pattern: string
  kind: 'selective' | 'unselective'
  /** The same question for grep-dctrl (args, file: Packages or Translation-en). */
  grep?: { args: string[], file: 'Packages' | 'Translation-en' }
}

export const PATTERNS: BenchPattern[] = [
  { pattern: '//package[name = "vim"]/version', kind: 'selective', grep: { args: ['-X', '-P', 'vim', '-s', 'Version'], file: 'Packages' } },
  { pattern: '//package[section = "editors"]/name', kind: 'selective', grep: { args: ['-X', '-F', 'Section', 'editors', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[size > 100000000]/name', kind: 'selective', grep: { args: ['-F', 'Size', '--gt', '100000000', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[tags/tag = "role::program"][section = "games"]/name', kind: 'selective', grep: { args: ['-F', 'Tag', 'role::program', '-a', '-X', '-F', 'Section', 'games', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[starts-with(name, "python3-django")]/name', kind: 'selective', grep: { args: ['-e', '-P', '^python3-django', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[.//dep/@name = "libgtk-4-1"]/name', kind: 'selective', grep: { args: ['-e', '-F', 'Depends,Pre-Depends,Recommends,Suggests,Enhances,Breaks,Conflicts,Replaces,Provides', '(^|[,|] *)libgtk-4-1( |,|$)', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[contains-word(description, "bittorrent")]/name', kind: 'selective', grep: { args: ['-i', '-w', '-F', 'Description-en', 'bittorrent', '-s', 'Package'], file: 'Translation-en' } },
  { pattern: '//package[section = "python"][contains-word(description, "asyncio")]/name', kind: 'selective' },
  { pattern: '//package[maintainer = "Debian Vim Maintainers <team+vim@tracker.debian.org>"]/name', kind: 'selective', grep: { args: ['-X', '-F', 'Maintainer', 'Debian Vim Maintainers <team+vim@tracker.debian.org>', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//release[@name = "bookworm"]//collection[@name = "editors"]/package/@name', kind: 'selective' },
  { pattern: '//package[.//dep[@name = "libc6"][@op = ">="]][section = "games"]/name', kind: 'selective' },
  { pattern: '//package[not(.//dep)][section = "fonts"]/name', kind: 'selective' },
  { pattern: '//package/name', kind: 'unselective', grep: { args: ['-s', 'Package', '-F', 'Package', ''], file: 'Packages' } },
  { pattern: '//dep/@name', kind: 'unselective' },
  { pattern: '//package[priority = "optional"]/name', kind: 'unselective', grep: { args: ['-X', '-F', 'Priority', 'optional', '-s', 'Package'], file: 'Packages' } },
  { pattern: '//package[.//dep/@name = "libc6"]/name', kind: 'unselective', grep: { args: ['-e', '-F', 'Depends,Pre-Depends,Recommends,Suggests,Enhances,Breaks,Conflicts,Replaces,Provides', '(^|[,|] *)libc6( |,|$)', '-s', 'Package'], file: 'Packages' } }
]

async function grepFiles (): Promise<Record<'Packages' | 'Translation-en', string>> {
  await mkdir(CACHE, { recursive: true })
  const out = { Packages: join(CACHE, 'bookworm-Packages'), 'Translation-en': join(CACHE, 'bookworm-Translation-en') }
  const src = { Packages: 'debian-bookworm-main-amd64.Packages.xz', 'Translation-en': 'debian-bookworm-main-Translation-en.xz' }
  for (const k of ['Packages', 'Translation-en'] as const) {
    if (!existsSync(out[k])) await run$('sh', ['-c', `xz -dc '${join(SHARED_DATA, src[k])}' > '${out[k]}'`])
  }
  return out
}

async function timeGrep (args: string[], file: string, runs: number): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    await run$('grep-dctrl', [...args, file], { maxBuffer: 256 * 1024 * 1024 })
    times.push(performance.now() - t0)
  }
  return percentile(times, 50)
}

export async function run (args: string[]): Promise<void> {
  const skipScan = args.includes('--no-scan')
  if (!existsSync(join(R1_STORE, 'index'))) {
    process.stdout.write('building the R1 store first (npm run bench -- index does the same)\n')
    await buildR1()
  }
  const hasGrep = await run$('grep-dctrl', ['--version']).then(() => true, () => false)
  if (!hasGrep) process.stderr.write('grep-dctrl not found: its baseline columns stay empty (Debian: apt-get install dctrl-tools)\n')
  const files = hasGrep ? await grepFiles() : undefined
  const index = await EmbeddedIndex.open({ path: R1_STORE })
  const rows: Array<Record<string, string | number>> = []
  const figures: unknown[] = []
  try {
    for (const p of PATTERNS) {
      const runs = p.kind === 'selective' ? 40 : 8
      await index.query(p.pattern, { first: 20 }) // warm the caches
      const times: number[] = []
      let total = 0
      let strategy = ''
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now()
        const page = await index.query(p.pattern, { first: 20 })
        times.push(performance.now() - t0)
        total = page.total
        strategy = page.plan.strategy
      }
      // Decoding alone: every posting list the pattern needs, whole, from its stored bytes (read before the clock starts;
      // the store's reads keep decoded postings, so timing fetch() would time a copy).
      const decode: number[] = []
      const terms = mandatoryTerms(parseQuery(p.pattern))
      const stored = await Promise.all(terms.map(async (t) => ({ pieces: await index.store.encodedPostings(t), postings: (await index.store.termStats(t)).postings })))
      for (let i = 0; i < Math.min(runs, 5); i++) {
        const t0 = performance.now()
        for (const { pieces, postings } of stored) {
          const out = new PostingBuffer(postings)
          for (const e of pieces) decodeBlock(e.bytes, e.offset, e.baseDoc, out)
        }
        decode.push(performance.now() - t0)
      }
      const grepMs = files !== undefined && p.grep !== undefined ? await timeGrep(p.grep.args, files[p.grep.file], 5) : NaN
      const p50 = percentile(times, 50)
      const row = {
        pattern: p.pattern.length > 60 ? p.pattern.slice(0, 57) + '...' : p.pattern,
        kind: p.kind,
        answers: total,
        strategy,
        p50ms: p50,
        p95ms: percentile(times, 95),
        decodeMs: percentile(decode, 50),
        grepMs,
        xGrep: grepMs / p50
      }
      rows.push(row)
      figures.push({ ...row, pattern: p.pattern, runs })
    }
  } finally {
    await index.close()
  }
  if (!skipScan) {
    const scan = await scanBaseline(PATTERNS.map((p) => p.pattern))
    rows.forEach((r, i) => { r.scanMs = scan[i].ms; r.xScan = scan[i].ms / (r.p50ms as number); (figures[i] as Record<string, unknown>).scanMs = scan[i].ms; (figures[i] as Record<string, unknown>).scanAnswers = scan[i].answers })
  }
  printTable(rows)
  const sel = rows.filter((r) => r.kind === 'selective')
  const summary = {
    selectiveP50ms: percentile(sel.map((r) => r.p50ms as number), 50),
    minSpeedupVsGrep: Math.min(...sel.filter((r) => !Number.isNaN(r.xGrep)).map((r) => r.xGrep as number)),
    minSpeedupVsScan: skipScan ? null : Math.min(...sel.map((r) => r.xScan as number)),
    unselectiveVsDecode: rows.filter((r) => r.kind === 'unselective').map((r) => ({ pattern: r.pattern, ratio: (r.p50ms as number) / (r.decodeMs as number) }))
  }
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n')
  process.stdout.write(`written ${await writeResults('query', { summary, patterns: figures })}\n`)
}
