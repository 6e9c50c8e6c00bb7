import { existsSync } from 'node:fs'
import { cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TwigStore, type TwigStoreInit } from '../../../src/xml-twig-index/store/store.ts'
import type { PostingList } from '../../../src/xml-twig-index/postings/codec.ts'
import { readUnits } from '../../../src/xml-twig-index/importers/index.ts'
import type { ImportedUnit } from '../../../src/xml-twig-index/documents/index.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'

const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url))
const R1_STORE = fileURLToPath(new URL('../../../bench/.cache/r1-store/', import.meta.url))

async function units (file: string, translations?: string[]): Promise<ImportedUnit[]> {
  const out: ImportedUnit[] = []
  for await (const u of readUnits([join(FIXTURES, file)], { translations: translations?.map((t) => join(FIXTURES, t)) })) if (u.kind !== 'rejected') out.push(u)
  return out
}

/** Ids without the version, as a release keeps them: an update replaces the unit of the same name and arch. */
const idOf = (u: ImportedUnit): string => `pkg/${u.name}/${u.arch}`
const release = (version: number): { id: string, root: ReturnType<typeof parseXml> } =>
  ({ id: 'release/test', root: parseXml(`<release><name>test</name><version>${version}</version></release>`) })

const show = (l: PostingList, from = 0): string => {
  const out: string[] = []
  for (let i = 0; i < l.length; i++) if (l.docs[i] >= from) out.push(`${l.docs[i]}:${l.starts[i]}:${l.ends[i]}:${l.levels[i]}`)
  return out.join(',')
}

async function stream (store: TwigStore, firstDoc: number, live?: boolean): Promise<Array<{ term: string, list: string, docs: number[] }>> {
  const out: Array<{ term: string, list: string, docs: number[] }> = []
  for await (const { term, postings } of store.postingsFrom(firstDoc, live === undefined ? undefined : { live })) {
    out.push({ term, list: show(postings), docs: Array.from(postings.docs.subarray(0, postings.length)) })
  }
  return out
}

async function allTerms (store: TwigStore): Promise<string[]> {
  const out: string[] = []
  for await (const t of store.terms('')) out.push(t)
  return out
}

describe('TwigStore.postingsFrom', () => {
  let dir: string
  let slice: ImportedUnit[]
  let updates: ImportedUnit[]
  let stores: Array<{ name: string, store: TwigStore, second: number }>

  /** The slice with its translations; then the updates plus 20 units of the slice again (replacing them) and the release document again. */
  async function build (name: string, init: Omit<TwigStoreInit, 'path'>): Promise<{ name: string, store: TwigStore, second: number }> {
    const store = await TwigStore.open({ path: join(dir, name), ...init })
    await store.transaction(async (tx) => {
      for (const u of slice) await tx.add({ id: idOf(u), root: u.root })
      await tx.add(release(1))
    })
    const second = store.nextDocId
    await store.transaction(async (tx) => {
      for (const u of updates) await tx.add({ id: idOf(u), root: u.root })
      for (const u of slice.slice(100, 120)) await tx.add({ id: idOf(u), root: u.root })
      await tx.add(release(2))
    })
    return { name, store, second }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-postings-from-'))
    slice = await units('bookworm-slice.Packages.xz', ['bookworm-slice.Translation-en.xz'])
    updates = await units('bookworm-updates.Packages.xz')
    stores = [
      await build('default', {}),
      // Small runs and blocks: each import writes many runs, many terms have blocks in several of them.
      await build('small-runs', { runPostings: 20_000, blockSize: 16, workerRecords: Infinity }),
      await build('worker', { runPostings: 30_000, blockSize: 8, workerRecords: 1 })
    ]
  }, 120_000)

  afterAll(async () => {
    for (const s of stores ?? []) await s.store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('builds stores with replaced documents and several runs', async () => {
    for (const { store, second } of stores) {
      expect(second).toBe(slice.length + 2)
      expect(store.nextDocId).toBe(second + updates.length + 20 + 1)
      // the release document, the 20 units given again and the one package of the updates that the slice has too
      expect(store.documentCount).toBe(slice.length + 1 + updates.length - 1)
    }
    const m = (s: TwigStore): number => (s as unknown as { manifest: { runs: unknown[] } }).manifest.runs.length
    expect(m(stores[0].store)).toBe(2)
    expect(m(stores[1].store)).toBeGreaterThan(15)
    expect(m(stores[2].store)).toBeGreaterThan(5)
  })

  /** Every term of a store with what fetch gives for it (fetched 64 at a time), or every `step`th term. */
  async function fetchAll (store: TwigStore, step = 1): Promise<Array<{ term: string, postings: PostingList }>> {
    const terms = (await allTerms(store)).filter((_, i) => i % step === 0)
    const all: Array<{ term: string, postings: PostingList }> = []
    for (let i = 0; i < terms.length; i += 64) {
      const chunk = terms.slice(i, i + 64)
      const lists = await Promise.all(chunk.map(async (t) => await store.fetch(t)))
      chunk.forEach((term, j) => all.push({ term, postings: lists[j] }))
    }
    return all
  }
  const expected = (all: Array<{ term: string, postings: PostingList }>, from: number): Array<{ term: string, list: string }> =>
    all.map(({ term, postings }) => ({ term, list: show(postings, from) })).filter((e) => e.list !== '')
  const froms = (s: { store: TwigStore, second: number }): number[] => [s.second, s.second + 7, 1000, s.store.nextDocId - 1]

  it('gives, term by term in byte order, what fetch gives: every term from 1, the terms of the later documents from later', async () => {
    // The default store (two runs): every term. fetch reads a term from every run, which is slow with the many runs of
    // the other stores: they answer the same as this one (next test), and fetch is checked on a sample of their terms.
    const { store } = stores[0]
    const all = await fetchAll(store)
    expect(all.length).toBeGreaterThan(50_000)
    const got = await stream(store, 1)
    const bytes = got.map((g) => Buffer.from(g.term))
    for (let i = 1; i < bytes.length; i++) expect(Buffer.compare(bytes[i - 1], bytes[i]), `${got[i - 1].term} < ${got[i].term}`).toBeLessThan(0)
    const want = expected(all, 1)
    expect(got.length).toBe(want.length)
    expect(got.map((g) => ({ term: g.term, list: g.list }))).toEqual(want)
    for (const from of froms(stores[0])) {
      const later = expected(all, from)
      expect(later.length).toBeGreaterThan(0)
      expect((await stream(store, from)).map((g) => ({ term: g.term, list: g.list })), `from ${from}`).toEqual(later)
    }
    // the second import's release document holds the only <version>2</version>
    expect((await stream(store, stores[0].second)).find((g) => g.term === 'e:release')?.docs).toEqual([store.nextDocId - 1])
  }, 300_000)

  it('gives the same from many runs (and blocks) as from two, with the runs built here or by the worker', async () => {
    for (const from of [1, ...froms(stores[0])]) {
      const [one, ...others] = await Promise.all(stores.map(async (s) => await stream(s.store, from)))
      for (const [i, o] of others.entries()) expect(o, `${stores[i + 1].name} from ${from}`).toEqual(one)
    }
    for (const { name, store } of stores.slice(1)) {
      const sample = await fetchAll(store, 97)
      const byTerm = new Map((await stream(store, 1)).map((g) => [g.term, g.list]))
      for (const { term, postings } of sample) expect(byTerm.get(term) ?? '', `${name} ${term}`).toBe(show(postings))
      const later = new Map((await stream(store, stores[0].second)).map((g) => [g.term, g.list]))
      for (const { term, postings } of sample) expect(later.get(term) ?? '', `${name} ${term}`).toBe(show(postings, stores[0].second))
    }
  }, 300_000)

  it('gives nothing from the commit point on', async () => {
    for (const { store } of stores) {
      expect(await stream(store, store.nextDocId)).toEqual([])
      expect(await stream(store, 1e9)).toEqual([])
    }
  })

  it('skips replaced documents unless live is false', async () => {
    for (const { name, store } of stores) {
      const live = new Set<number>()
      for await (const d of store.allDocIds()) live.add(d)
      const docs = (s: Array<{ docs: number[] }>): Set<number> => new Set(s.flatMap((g) => g.docs))
      const seen = docs(await stream(store, 1))
      expect([...seen].sort((a, b) => a - b), name).toEqual([...live].sort((a, b) => a - b))
      const all = docs(await stream(store, 1, false))
      expect(all.size, name).toBe(store.nextDocId - 1)
      const dead = [...all].filter((d) => !live.has(d))
      expect(dead.length).toBe(22) // 20 units given again, the updated ssh, the first release document
      for (const d of dead) expect(store.isLive(d)).toBe(false)
      // with live: false, a term lists the replaced documents too
      const everyPackage = (await stream(store, 1, false)).find((g) => g.term === 'e:package')
      expect(everyPackage?.docs.length).toBe(slice.length + updates.length + 20)
    }
  }, 120_000)

  it('streams a big store (bench/.cache/r1-store) in a few seconds', async (ctx) => {
    if (!existsSync(R1_STORE)) { ctx.skip(); return }
    // A copy: opening a LevelDB folder writes to it.
    const copy = join(dir, 'r1')
    await cp(R1_STORE, copy, { recursive: true })
    const store = await TwigStore.open({ path: copy })
    try {
      const t0 = performance.now()
      let terms = 0; let postings = 0
      for await (const { postings: p } of store.postingsFrom(1)) { terms++; postings += p.length }
      const seconds = (performance.now() - t0) / 1000
      console.log(`postingsFrom(1) on r1-store: ${terms} terms, ${postings} postings in ${seconds.toFixed(2)} s`)
      expect(postings).toBe((await store.stats()).postings)
      expect(seconds).toBeLessThan(20)
    } finally {
      await store.close()
    }
  }, 120_000)
})
