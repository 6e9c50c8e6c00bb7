import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { EmbeddedIndex } from '../src/xml-twig-index/embedded.ts'
import { readUnits } from '../src/xml-twig-index/importers/index.ts'
import { CACHE, SHARED_DATA, printTable, writeResults } from './common.ts'

/** The store the query benchmark reuses. */
export const R1_STORE = join(CACHE, 'r1-store')
export const R1_FILES = [join(SHARED_DATA, 'debian-bookworm-main-amd64.Packages.xz')]
export const R1_TRANSLATIONS = [join(SHARED_DATA, 'debian-bookworm-main-Translation-en.xz')]

/** Imports all of R1 (bookworm main amd64 + Translation-en) into a fresh store. */
export async function buildR1 (path = R1_STORE): Promise<{ units: number, postings: number, seconds: number, bytes: number, terms: number }> {
  await rm(path, { recursive: true, force: true })
  const index = await EmbeddedIndex.open({ path })
  try {
    const summary = await index.import(readUnits(R1_FILES, { translations: R1_TRANSLATIONS }), { release: 'bookworm' })
    const stats = await index.stats()
    return { units: summary.units, postings: summary.postings, seconds: summary.seconds, bytes: stats.bytes, terms: stats.terms }
  } finally {
    await index.close()
  }
}

export async function run (): Promise<void> {
  const rss = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 50)
  let peak = process.memoryUsage.rss()
  const r = await buildR1()
  clearInterval(rss)
  peak = Math.max(peak, process.resourceUsage().maxRSS * 1024)
  const figures = {
    units: r.units,
    seconds: r.seconds,
    docsPerSecond: r.units / r.seconds,
    postings: r.postings,
    terms: r.terms,
    storeBytes: r.bytes,
    peakRssBytes: peak,
    targets: { docsPerSecond: 10_000, peakRssBytes: 1.5 * 2 ** 30 }
  }
  printTable([
    { figure: 'units (R1 bookworm main amd64)', value: r.units },
    { figure: 'import seconds', value: r.seconds },
    { figure: 'docs/s (target >= 10,000)', value: Math.round(figures.docsPerSecond) },
    { figure: 'postings', value: r.postings },
    { figure: 'terms', value: r.terms },
    { figure: 'store MB', value: r.bytes / 1e6 },
    { figure: 'peak RSS MB (target <= 1,536)', value: peak / 2 ** 20 }
  ])
  process.stdout.write(`written ${await writeResults('index', figures)}\n`)
}
