import { createInterface } from 'node:readline/promises'
import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'
import { EmbeddedIndex } from '../xml-twig-index/embedded.ts'
import { readUnits } from '../xml-twig-index/importers/index.ts'
import { ProgressBar } from './progress.ts'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const FIXTURES = join(ROOT, 'test', 'fixtures')

/** The bundled sample: real Debian metadata cut from ../shared/data (see test/fixtures/README.md). */
export const SAMPLE_RELEASES = [
  { release: 'bookworm', files: [join(FIXTURES, 'bookworm-slice.Packages.xz')], translations: [join(FIXTURES, 'bookworm-slice.Translation-en.xz')] },
  { release: 'bookworm-updates', files: [join(FIXTURES, 'bookworm-updates.Packages.xz')], translations: [] }
]

export const DEFAULT_DATA = join(ROOT, '.edos', 'peer')

/**
 * `npm start`: one embedded peer on its own data folder with the sample
 * metadata imported on first start, then a query prompt on a terminal.
 */
export async function runStart (args: { data?: string }): Promise<number> {
  const data = resolve(args.data ?? DEFAULT_DATA)
  const index = await EmbeddedIndex.open({ path: data })
  try {
    for (const s of SAMPLE_RELEASES) {
      if (await index.store.release(s.release) !== undefined) continue
      const bar = new ProgressBar({ label: `importing sample ${s.release}` })
      const summary = await index.import(readUnits(s.files, { translations: s.translations, onProgress: (p) => bar.update(p.bytesRead, p.bytesTotal, `${p.units} units`) }), { release: s.release })
      bar.done()
      process.stdout.write(`imported sample release ${s.release}: ${summary.units} units in ${summary.seconds.toFixed(2)} s\n`)
    }
    const stats = await index.stats()
    process.stdout.write(`edos peer: embedded (one peer, no network), store ${data}\n`)
    process.stdout.write(`store: ${stats.documents} documents, ${stats.postings} postings, ${stats.terms} terms, ${(stats.bytes / 1e6).toFixed(1)} MB\n`)
    for (const r of stats.releases) process.stdout.write(`release: ${r.name} version ${r.version} (${r.date}), ${r.units} units\n`)
    process.stdout.write(`try: edos query --data ${data} '//package[section = "editors"]/name'  (stop this peer first: it owns the folder)\n`)
    if (process.stdin.isTTY !== true) return 0
    process.stdout.write('type a tree pattern, or an empty line to stop\n')
    const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'edos> ' })
    rl.prompt()
    for await (const line of rl) {
      const pattern = line.trim()
      if (pattern === '') break
      try {
        const page = await index.query(pattern, { first: 20 })
        for (const m of page.matches) process.stdout.write(JSON.stringify({ doc: m.doc, path: m.path, xml: m.xml }) + '\n')
        process.stdout.write(`${page.total} answers in ${page.plan.ms.total.toFixed(1)} ms (${page.plan.strategy})${page.hasNextPage ? ', first 20 shown' : ''}\n`)
      } catch (err) {
        process.stdout.write(`error: ${(err as Error).message}\n`)
      }
      rl.prompt()
    }
    rl.close()
    return 0
  } finally {
    await index.close()
  }
}
