import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TwigStore, type TwigStoreInit } from '../../../src/xml-twig-index/store/store.ts'
import { extractPostings } from '../../../src/xml-twig-index/postings/extract.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { numberTree } from '../../../src/xml-twig-index/xml/tree.ts'

/**
 * The store's runs (interning, pending postings, blocks written as documents
 * end, summaries at the end of a run) against the plain reference: every
 * posting extractPostings emits, grouped by term and sorted by (doc, start).
 * The documents have what makes runs hard: values of nested same-name
 * elements (postings out of start order), one term with many postings in one
 * document (blocks cut inside it), repeated words, non-ASCII words and terms
 * outside the BMP, numbers and long values.
 */
function xmlOf (i: number): string {
  const nested = '<a>'.repeat(1 + (i % 4)) + `v${i % 2}` + '</a>'.repeat(1 + (i % 4))
  const burst = Array.from({ length: i % 3 === 0 ? 40 : 2 }, (_, k) => `<dep name="lib${k % 5}" version="${k}.${i % 3}"/>`).join('')
  const words = `word${i % 11} Common common caf\u00E9 \u{1D49C}x${i % 5} \uFF41 ${'long '.repeat(i % 7 === 0 ? 30 : 1)}`
  return `<package size="${i * 1000}"><name>n${i}</name><description>${words}</description>${nested}<deps>${burst}</deps><b><b><b>${i % 5}</b></b></b></package>`
}

const DOCS = 240

function reference (): Map<string, string[]> {
  const lists = new Map<string, string[]>()
  for (let i = 0; i < DOCS; i++) {
    const root = parseXml(xmlOf(i))
    numberTree(root)
    const doc = i + 1
    extractPostings(root, (prefix, suffix, start, end, level) => {
      const term = prefix + suffix
      let l = lists.get(term)
      if (l === undefined) { l = []; lists.set(term, l) }
      l.push(`${doc}:${start}:${end}:${level}`)
    })
  }
  const key = (p: string): [number, number] => { const [d, s] = p.split(':'); return [Number(d), Number(s)] }
  for (const l of lists.values()) l.sort((x, y) => { const a = key(x); const b = key(y); return (a[0] - b[0]) || (a[1] - b[1]) })
  return lists
}

describe('runs written as postings arrive', () => {
  let dir: string
  const expected = reference()
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'edos-runs-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  const cases: Array<[string, Omit<TwigStoreInit, 'path'>]> = [
    ['one run, blocks of 4', { blockSize: 4, runPostings: 1 << 20, workerRecords: Infinity }],
    ['many runs, blocks of 3', { blockSize: 3, runPostings: 700, workerRecords: Infinity }],
    ['many runs in the worker thread, blocks of 5', { blockSize: 5, runPostings: 900, workerRecords: 1 }],
    ['default blocks', { workerRecords: Infinity }]
  ]
  for (const [name, init] of cases) {
    it(`holds exactly the reference postings: ${name}`, async () => {
      const store = await TwigStore.open({ path: join(dir, name.replace(/\W+/g, '-')), ...init })
      await store.transaction(async (tx) => { for (let i = 0; i < DOCS; i++) await tx.add({ id: `pkg/n${i}/1/all`, root: parseXml(xmlOf(i)) }) })
      const terms: string[] = []
      for await (const t of store.terms('')) terms.push(t)
      expect(terms).toEqual([...expected.keys()].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))))
      let postings = 0
      for (const t of terms) {
        const l = await store.fetch(t)
        const got = Array.from(l.docs.subarray(0, l.length), (d, k) => `${d}:${l.starts[k]}:${l.ends[k]}:${l.levels[k]}`)
        expect(got, t).toEqual(expected.get(t))
        const stats = await store.termStats(t)
        expect(stats.postings, t).toBe(got.length)
        expect(stats.docs, t).toBe(new Set(l.docs.subarray(0, l.length)).size)
        postings += got.length
      }
      expect((await store.stats()).postings).toBe(postings)
      await store.close()
    })
  }
})
