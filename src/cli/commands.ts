import { stat } from 'node:fs/promises'
import { EmbeddedIndex } from '../xml-twig-index/embedded.ts'
import { ImportError } from '../xml-twig-index/errors.ts'
import { readUnits, type ImportFormat, type ImportProgress } from '../xml-twig-index/importers/index.ts'
import { ProgressBar } from './progress.ts'
import { encodeCursor, indexAfter } from '../xml-twig-index/engine/query-engine.ts'

const out = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }

async function withIndex<T> (data: string, run: (index: EmbeddedIndex) => Promise<T>): Promise<T> {
  const index = await EmbeddedIndex.open({ path: data })
  try { return await run(index) } finally { await index.close() }
}

export interface ImportArgs { data: string, release: string, format?: ImportFormat, translations: string[], files: string[] }

/** Imports files into a release; progress bar on a terminal, one summary line at the end. */
export async function runImport (args: ImportArgs): Promise<number> {
  for (const f of [...args.files, ...args.translations]) await stat(f).catch(() => { throw new ImportError('cannot read it', f) })
  const bar = new ProgressBar({ label: `import ${args.release}` })
  const summary = await withIndex(args.data, async (index) => {
    const units = readUnits(args.files, {
      format: args.format,
      translations: args.translations,
      onProgress: (p: ImportProgress) => { bar.update(p.bytesRead, p.bytesTotal, `${p.units} units`) }
    })
    try {
      return await index.import(units, {
        release: args.release,
        onRejected: (r) => { bar.done(); process.stderr.write(`edos: rejected ${r.error.message}\n`) }
      })
    } finally {
      bar.done()
    }
  })
  process.stderr.write(`imported ${summary.units} units into ${summary.release} (${summary.rejected} rejected, ${summary.replaced} replaced), ${summary.postings} postings, ${summary.seconds.toFixed(2)} s\n`)
  return 0
}

export interface QueryArgs { data: string, pattern: string, limit?: number, after?: string, explain: boolean }

/** One JSON object per answer: {"doc", "path", "xml"}; with --explain, the plan instead. */
export async function runQuery (args: QueryArgs): Promise<number> {
  return await withIndex(args.data, async (index) => {
    if (args.explain) {
      out(await index.explain(args.pattern))
      return 0
    }
    const { nodes } = await index.engine.answers(args.pattern)
    const from = indexAfter(nodes, args.after)
    const to = args.limit === undefined ? nodes.length : Math.min(nodes.length, from + args.limit)
    // Materialise in chunks so that an unselective pattern streams instead of holding every answer's XML.
    for (let i = from; i < to; i += 256) {
      for (const m of await index.engine.materialize(nodes, i, Math.min(to, i + 256))) out({ doc: m.doc, path: m.path, xml: m.xml })
    }
    if (to < nodes.length && to > from) process.stderr.write(`edos: ${nodes.length} answers; more with --after ${encodeCursor(nodes.docs[to - 1], nodes.starts[to - 1])}\n`)
    return 0
  })
}

/** One JSON object per document: {"id", "xml"}; every document when no id is given. */
export async function runExport (args: { data: string, ids: string[] }): Promise<number> {
  return await withIndex(args.data, async (index) => {
    for await (const d of index.export(args.ids)) out({ id: d.id, xml: d.xml })
    return 0
  })
}

export async function runStats (args: { data: string }): Promise<number> {
  return await withIndex(args.data, async (index) => {
    out(await index.stats())
    return 0
  })
}
