import fontoxpath from 'fontoxpath'
import { sync as parseSlimdom } from 'slimdom-sax-parser'
import { EmbeddedIndex } from '../src/xml-twig-index/embedded.ts'
import { R1_STORE } from './index-bench.ts'
import { oracleEvaluate, toXPath } from '../test/oracle/fontoxpath-oracle.ts'

/**
 * The no-index baseline: fontoxpath evaluating each pattern over every
 * document of the store. Documents are parsed once beforehand (parsing is
 * not counted), so the figure is the evaluation scan alone, the part an
 * index exists to avoid.
 */
export async function scanBaseline (patterns: string[]): Promise<Array<{ ms: number, answers: number }>> {
  oracleEvaluate('/x', '<x/>') // registers the oracle's contains-word helper with fontoxpath
  const index = await EmbeddedIndex.open({ path: R1_STORE })
  const docs = []
  try {
    for await (const d of index.export()) docs.push(parseSlimdom(d.xml))
  } finally {
    await index.close()
  }
  const out: Array<{ ms: number, answers: number }> = []
  for (const p of patterns) {
    const expr = toXPath(p)
    const t0 = performance.now()
    let answers = 0
    for (const doc of docs) answers += fontoxpath.evaluateXPathToNodes(expr, doc).length
    out.push({ ms: performance.now() - t0, answers })
  }
  return out
}
