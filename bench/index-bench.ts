import { readFileSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { EmbeddedIndex } from '../src/xml-twig-index/embedded.ts'
import { readUnits } from '../src/xml-twig-index/importers/index.ts'
import type { ImportedUnit, UnitRejection } from '../src/xml-twig-index/documents/index.ts'
import { CACHE, SHARED_DATA, printTable, writeResults } from './common.ts'

/** The store the query benchmark reuses. */
export const R1_STORE = join(CACHE, 'r1-store')
export const R1_FILES = [join(SHARED_DATA, 'debian-bookworm-main-amd64.Packages.xz')]
export const R1_TRANSLATIONS = [join(SHARED_DATA, 'debian-bookworm-main-Translation-en.xz')]

/** Wall-clock seconds at which an import's units started and stopped arriving (reading overlaps the import). */
interface Phases { firstUnit: number, lastUnit: number }

/** Imports all of R1 (bookworm main amd64 + Translation-en) into a fresh store. */
export async function buildR1 (path = R1_STORE, phases?: Phases): Promise<{ units: number, postings: number, seconds: number, bytes: number, terms: number }> {
  await rm(path, { recursive: true, force: true })
  const index = await EmbeddedIndex.open({ path })
  try {
    const t0 = performance.now()
    const units = phases === undefined ? readUnits(R1_FILES, { translations: R1_TRANSLATIONS }) : timed(readUnits(R1_FILES, { translations: R1_TRANSLATIONS }), t0, phases)
    const summary = await index.import(units, { release: 'bookworm' })
    await index.close()
    // Sized after opening again: LevelDB turns the log of its last write buffer (up to 32 MiB, uncompressed) into a table then.
    const reopened = await EmbeddedIndex.open({ path })
    const stats = await reopened.stats()
    await reopened.close()
    return { units: summary.units, postings: summary.postings, seconds: summary.seconds, bytes: stats.bytes, terms: stats.terms }
  } catch (err) {
    await index.close().catch(() => {})
    throw err
  }
}

async function * timed (units: AsyncIterable<ImportedUnit | UnitRejection>, t0: number, phases: Phases): AsyncGenerator<ImportedUnit | UnitRejection> {
  let first = true
  for await (const u of units) {
    if (first) { phases.firstUnit = (performance.now() - t0) / 1000; first = false }
    yield u
  }
  phases.lastUnit = (performance.now() - t0) / 1000
}

/** CPU seconds of this process (all threads) and of its main thread alone (Linux: /proc; NaN elsewhere). */
function cpu (): { process: number, main: number } {
  const u = process.cpuUsage()
  let main = NaN
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100 a second on Linux).
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    main = (Number(f[11]) + Number(f[12])) / 100
  } catch {}
  return { process: (u.user + u.system) / 1e6, main }
}

/**
 * The same-run baseline: only reading R1 (decompressing, parsing the
 * stanzas with their translations, building every document), no store.
 */
async function readR1 (): Promise<{ units: number, seconds: number, cpu: number }> {
  const t0 = performance.now()
  const c0 = cpu()
  let units = 0
  for await (const u of readUnits(R1_FILES, { translations: R1_TRANSLATIONS })) if (u.kind !== 'rejected') units++
  return { units, seconds: (performance.now() - t0) / 1000, cpu: cpu().process - c0.process }
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(' ')

export async function run (): Promise<void> {
  const loadBefore = load()
  const read = await readR1()
  let peak = process.memoryUsage.rss()
  const rss = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 50)
  const c0 = cpu()
  const phases: Phases = { firstUnit: NaN, lastUnit: NaN }
  const r = await buildR1(R1_STORE, phases)
  const c1 = cpu()
  clearInterval(rss)
  // maxRSS covers the whole process, the read-only baseline too (it needs far less).
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024)
  const loadAfter = load()
  const figures = {
    units: r.units,
    seconds: r.seconds,
    docsPerSecond: r.units / r.seconds,
    postings: r.postings,
    terms: r.terms,
    storeBytes: r.bytes,
    peakRssBytes: peak,
    phases: { firstUnitSeconds: phases.firstUnit, lastUnitSeconds: phases.lastUnit, commitSeconds: r.seconds - phases.lastUnit },
    cpuSeconds: { process: c1.process - c0.process, mainThread: c1.main - c0.main, otherThreads: (c1.process - c0.process) - (c1.main - c0.main) },
    baseline: { readSeconds: read.seconds, readCpuSeconds: read.cpu, importOverRead: r.seconds / read.seconds },
    loadAverage: { before: loadBefore, after: loadAfter },
    targets: { docsPerSecond: 10_000, peakRssBytes: 1.5 * 2 ** 30 }
  }
  printTable([
    { figure: 'units (R1 bookworm main amd64)', value: r.units },
    { figure: 'import seconds', value: r.seconds },
    { figure: 'docs/s (target >= 10,000)', value: Math.round(figures.docsPerSecond) },
    { figure: '  first unit read at s (translations loaded)', value: phases.firstUnit },
    { figure: '  last unit read at s', value: phases.lastUnit },
    { figure: '  release document + last run + commit s', value: figures.phases.commitSeconds },
    { figure: '  CPU s, whole process', value: figures.cpuSeconds.process },
    { figure: '  CPU s, main thread', value: figures.cpuSeconds.mainThread },
    { figure: '  CPU s, other threads (run worker, xz, LevelDB, GC)', value: figures.cpuSeconds.otherThreads },
    { figure: 'baseline: only reading R1, s (same run)', value: read.seconds },
    { figure: 'baseline: only reading R1, CPU s', value: read.cpu },
    { figure: 'import / reading', value: figures.baseline.importOverRead },
    { figure: 'postings', value: r.postings },
    { figure: 'terms', value: r.terms },
    { figure: 'store MB', value: r.bytes / 1e6 },
    { figure: 'peak RSS MB (target <= 1,536)', value: peak / 2 ** 20 },
    { figure: 'load average before', value: loadBefore },
    { figure: 'load average after', value: loadAfter }
  ])
  process.stdout.write(`written ${await writeResults('index', figures)}\n`)
}
