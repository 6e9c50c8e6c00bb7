import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { TwigStore } from '../../../src/xml-twig-index/store/store.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { SortedDocSet } from '../../../src/xml-twig-index/engine/source.ts'
import { StoreError } from '../../../src/xml-twig-index/errors.ts'

const pkg = (name: string, version: string, section = 'editors'): { id: string, root: ReturnType<typeof parseXml> } =>
  ({ id: `pkg/${name}/${version}/amd64`, root: parseXml(`<package><name>${name}</name><version>${version}</version><section>${section}</section></package>`) })

describe('TwigStore', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'edos-store-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('commits an import atomically and answers term reads', async () => {
    const store = await TwigStore.open({ path: dir, blockSize: 4 })
    await store.transaction(async (tx) => {
      for (let i = 0; i < 20; i++) await tx.add(pkg(`p${i}`, '1.0', i % 2 === 0 ? 'editors' : 'libs'))
    })
    expect(store.documentCount).toBe(20)
    const editors = await store.fetch('v:section=editors')
    expect(editors.length).toBe(10)
    expect((await store.termStats('e:package')).postings).toBe(20)
    // blocks of 4 postings: a filter reads only what it needs and still answers exactly
    const some = await store.fetch('e:package', new SortedDocSet(Uint32Array.of(3, 17)))
    expect(Array.from(some.docs.subarray(0, some.length))).toEqual([3, 17])
    const terms: string[] = []
    for await (const t of store.terms('v:name=p1')) terms.push(t)
    expect(terms).toEqual(['v:name=p1', 'v:name=p10', 'v:name=p11', 'v:name=p12', 'v:name=p13', 'v:name=p14', 'v:name=p15', 'v:name=p16', 'v:name=p17', 'v:name=p18', 'v:name=p19'])
    const scanned = await store.scan({ prefix: 'v:name=p1', match: (t) => t.length === 'v:name=p1'.length + 1 })
    expect(scanned.length).toBe(10)
    const d = Array.from(scanned.docs.subarray(0, scanned.length)); expect(d).toEqual([...d].sort((a, b) => a - b))
    await store.close()
  })

  it('leaves the store as it was when an import fails midway', async () => {
    const store = await TwigStore.open({ path: dir, blockSize: 4, batchBytes: 64 })
    await store.transaction(async (tx) => { await tx.add(pkg('vim', '1')) })
    await expect(store.transaction(async (tx) => {
      for (let i = 0; i < 50; i++) await tx.add(pkg(`x${i}`, '1'))
      await tx.add(pkg('vim', '2'))
      throw new Error('disk on fire')
    })).rejects.toThrow('disk on fire')
    expect(store.documentCount).toBe(1)
    expect((await store.fetch('e:package')).length).toBe(1)
    expect(await store.docIdOf('pkg/vim/2/amd64')).toBeUndefined()
    const docs = []
    for await (const d of store.documents()) docs.push(d.id)
    expect(docs).toEqual(['pkg/vim/1/amd64'])
    await store.close()
  })

  it('recovers from a crash between writes and commit', async () => {
    let store = await TwigStore.open({ path: dir, blockSize: 4, batchBytes: 64 })
    await store.transaction(async (tx) => { await tx.add(pkg('vim', '1')) })
    // Simulate a crash: the writer flushed data, the process died before commit.
    const crashed = store.transaction(async (tx) => {
      for (let i = 0; i < 30; i++) await tx.add(pkg(`y${i}`, '1'))
      await store.close()
      throw new Error('killed')
    })
    await expect(crashed).rejects.toThrow()
    store = await TwigStore.open({ path: dir, blockSize: 4 })
    expect(store.documentCount).toBe(1)
    expect((await store.fetch('e:package')).length).toBe(1)
    expect((await store.stats()).terms).toBeGreaterThan(0)
    await store.transaction(async (tx) => { await tx.add(pkg('emacs', '1')) })
    expect((await store.fetch('e:package')).length).toBe(2)
    await store.close()
  })

  it('replaces a re-imported unit: its old postings go', async () => {
    const store = await TwigStore.open({ path: dir })
    await store.transaction(async (tx) => { await tx.add(pkg('vim', '1', 'editors')); await tx.add(pkg('nano', '1')) })
    await store.transaction(async (tx) => { await tx.add(pkg('vim', '1', 'vcs')) })
    expect(store.documentCount).toBe(2)
    expect((await store.fetch('v:section=editors')).length).toBe(1)
    expect((await store.fetch('v:section=vcs')).length).toBe(1)
    // a duplicate inside one import: the later one wins
    await store.transaction(async (tx) => { await tx.add(pkg('joe', '1', 'a')); await tx.add(pkg('joe', '1', 'b')) })
    expect(store.documentCount).toBe(3)
    expect((await store.fetch('v:section=a')).length).toBe(0)
    await store.close()
    const again = await TwigStore.open({ path: dir })
    expect(again.documentCount).toBe(3)
    expect((await again.fetch('v:section=editors')).length).toBe(1)
    await again.close()
  })

  it('reads the same postings from decoded blocks as from the store, cold and warm, whatever the filter and the cache size', async () => {
    // Documents of 1 to 6 deps in blocks of 4 postings: a document spans blocks, a block holds several documents.
    const withDeps = (i: number, section: string): { id: string, root: ReturnType<typeof parseXml> } => ({
      id: `pkg/p${i}/1/amd64`,
      root: parseXml(`<package><name>p${i}</name><section>${section}</section><depends>${Array.from({ length: 1 + (i % 6) }, (_, j) => `<dep name="d${j}"/>`).join('')}</depends></package>`)
    })
    const first = await TwigStore.open({ path: dir, blockSize: 4 })
    await first.transaction(async (tx) => { for (let i = 0; i < 40; i++) await tx.add(withDeps(i, 'a')) })
    // Replaced documents leave dead postings behind in the blocks the reads decode.
    await first.transaction(async (tx) => { for (let i = 0; i < 40; i += 3) await tx.add(withDeps(i, 'b')) })
    await first.close()
    type Rows = { length: number, docs: Uint32Array, starts: Uint32Array, ends: Uint32Array, levels: Uint16Array }
    const rows = (l: Rows): string[] => Array.from({ length: l.length }, (_, i) => `${l.docs[i]}:${l.starts[i]}:${l.ends[i]}:${l.levels[i]}`)
    const docOf = (r: string): number => Number(r.split(':')[0])
    const wanted = Uint32Array.of(0, 2, 5, 6, 7, 21, 33, 40, 41, 47, 52, 99)
    const set = new Set(wanted)
    const other = { has: (d: number) => set.has(d), intersects: () => true, sequential: () => (d: number) => set.has(d), size: set.size }
    // Half the documents: dense enough that the block and the filter are walked side by side.
    const half = Uint32Array.from({ length: 30 }, (_, i) => 2 * i + 1)
    let all: string[] | undefined
    // The default cache; then one of a few blocks, which reads evict from while others run.
    for (const postingCacheBytes of [undefined, 1600]) {
      for (const firstRead of ['sorted', 'other', 'whole'] as const) {
        const store = await TwigStore.open({ path: dir, blockSize: 4, postingCacheBytes })
        const read = async (which: string): Promise<string[]> => rows(await store.fetch('e:dep', which === 'sorted' ? new SortedDocSet(wanted) : which === 'other' ? other : which === 'half' ? new SortedDocSet(half) : undefined))
        const cold = await read(firstRead)
        all ??= firstRead === 'whole' ? cold : rows(await store.fetch('e:dep'))
        expect(all.length).toBe(Array.from({ length: 40 }, (_, i) => 1 + (i % 6)).reduce((a, b) => a + b, 0))
        expect(new Set(all.map(docOf)).size).toBe(40)
        const expected = { sorted: all.filter((r) => set.has(docOf(r))), other: all.filter((r) => set.has(docOf(r))), whole: all, half: all.filter((r) => half.includes(docOf(r))) }
        expect(cold).toEqual(expected[firstRead])
        for (let round = 0; round < 3; round++) {
          const reads = await Promise.all((['sorted', 'other', 'whole', 'half'] as const).map(async (w) => ({ w, got: await read(w) })))
          for (const { w, got } of reads) expect(got).toEqual(expected[w])
        }
        // An inline list (a term with fewer postings than a block).
        const b = rows(await store.fetch('v:section=b'))
        expect(b.length).toBe(14)
        expect(rows(await store.fetch('v:section=b', new SortedDocSet(wanted)))).toEqual(b.filter((r) => set.has(docOf(r))))
        await store.close()
      }
    }
  })

  it('says clearly that another process holds the folder', async () => {
    const a = await TwigStore.open({ path: dir })
    const err = await TwigStore.open({ path: dir }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreError)
    expect((err as StoreError).code).toBe('ERR_STORE_LOCKED')
    await a.close()
  })

  it('answers the same from many runs and imports as from one run (summary groups)', async () => {
    // Words outside the BMP sort differently in UTF-16 and UTF-8; U+FF41 sits between them.
    const doc = (i: number): { id: string, root: ReturnType<typeof parseXml> } => ({
      id: `pkg/n${i}/1/amd64`,
      root: parseXml(`<package size="${i % 7}"><name>n${i}</name><description>w${i % 37} common \u{1D49C}x${i % 5} \uFF41${i % 3} z${i}</description><section>s${i % 4}</section></package>`)
    })
    const build = async (path: string, runPostings: number, imports: number): Promise<TwigStore> => {
      const store = await TwigStore.open({ path, blockSize: 4, runPostings })
      const per = 300 / imports
      for (let k = 0; k < imports; k++) {
        await store.transaction(async (tx) => { for (let i = k * per; i < (k + 1) * per; i++) await tx.add(doc(i)) })
      }
      return store
    }
    const one = await build(join(dir, 'one'), 1 << 20, 1)
    const many = await build(join(dir, 'many'), 97, 3)
    const all = async (s: TwigStore, prefix: string): Promise<string[]> => { const out: string[] = []; for await (const t of s.terms(prefix)) out.push(t); return out }
    const terms = await all(one, '')
    expect(terms.length).toBeGreaterThan(1000)
    expect(await all(many, '')).toEqual(terms)
    const bytes = terms.map((t) => Buffer.from(t))
    for (let i = 1; i < bytes.length; i++) expect(Buffer.compare(bytes[i - 1], bytes[i])).toBeLessThan(0)
    expect((await many.stats()).terms).toBe(terms.length)
    expect((await one.stats()).terms).toBe(terms.length)
    const list = (l: { length: number, docs: Uint32Array, starts: Uint32Array }): string => Array.from(l.docs.subarray(0, l.length), (d, i) => `${d}:${l.starts[i]}`).join(',')
    for (const t of terms) {
      expect(list(await many.fetch(t)), t).toBe(list(await one.fetch(t)))
      expect((await many.termStats(t)).postings).toBe((await one.termStats(t)).postings)
    }
    for (const range of [{ prefix: 'w:' }, { prefix: 'v:section=' }, { prefix: 'N:@size=', gte: 'N:@size=c000000000000000' }, { prefix: 'v:name=n1', lt: 'v:name=n2' }]) {
      expect(list(await many.scan(range))).toBe(list(await one.scan(range)))
    }
    const some = new SortedDocSet(Uint32Array.of(5, 150, 299))
    expect(list(await many.fetch('w:common', some))).toBe(list(await one.fetch('w:common', some)))
    await one.close(); await many.close()
  })

  it('answers the same when a worker thread interns, sorts and encodes the runs', async () => {
    const doc = (i: number): { id: string, root: ReturnType<typeof parseXml> } => ({
      id: `pkg/n${i}/1/amd64`,
      root: parseXml(`<package size="${i % 7}" note="Mixed Case Words ${i % 3}"><name>n${i}</name><description>w${i % 37} common Common \u{1D49C}x${i % 5} caf\u00E9 \uFF41${i % 3} z${i} z${i}</description><a><a>v</a></a></package>`)
    })
    const build = async (path: string, workerRecords: number): Promise<TwigStore> => {
      const store = await TwigStore.open({ path, blockSize: 4, runPostings: 500, workerRecords })
      await store.transaction(async (tx) => { for (let i = 0; i < 400; i++) await tx.add(doc(i)) })
      return store
    }
    const here = await build(join(dir, 'here'), Infinity)
    const worker = await build(join(dir, 'worker'), 1)
    const all = async (s: TwigStore): Promise<string[]> => { const out: string[] = []; for await (const t of s.terms('')) out.push(t); return out }
    const terms = await all(here)
    expect(terms).toContain('w:@mixed')
    expect(terms).toContain('w:café')
    expect(await all(worker)).toEqual(terms)
    expect(await worker.stats()).toMatchObject({ postings: (await here.stats()).postings, terms: terms.length })
    const list = (l: { length: number, docs: Uint32Array, starts: Uint32Array, ends: Uint32Array }): string => Array.from(l.docs.subarray(0, l.length), (d, i) => `${d}:${l.starts[i]}:${l.ends[i]}`).join(',')
    for (const t of terms) expect(list(await worker.fetch(t)), t).toBe(list(await here.fetch(t)))
    // An import that fails midway with the worker running leaves nothing behind, and stops the worker.
    await expect(worker.transaction(async (tx) => {
      for (let i = 400; i < 700; i++) await tx.add(doc(i))
      throw new Error('disk on fire')
    })).rejects.toThrow('disk on fire')
    expect((await worker.fetch('e:package')).length).toBe(400)
    expect(await all(worker)).toEqual(terms)
    await here.close(); await worker.close()
  })
})
