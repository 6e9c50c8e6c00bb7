import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TwigStore } from '../../../src/xml-twig-index/store/store.ts'
import type { PostingList } from '../../../src/xml-twig-index/postings/codec.ts'
import { QueryEngine } from '../../../src/xml-twig-index/engine/query-engine.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { canonicalPath } from '../../../src/xml-twig-index/xml/canonical-path.ts'
import { evaluateOnDocument, parseQuery } from '../../../src/xml-twig-index/query/index.ts'
import { ROOT_END, SortedDocSet, docsHavingIn, docsOf, withRoots, type PostingSource, type RelatedNodes } from '../../../src/xml-twig-index/engine/source.ts'
import { PostingBuffer } from '../../../src/xml-twig-index/postings/codec.ts'
import { ancestorsIn, descendantsIn } from '../../../src/xml-twig-index/engine/structural.ts'

const long = 'A very long description that goes on and on about the editor and its many features, more than a hundred characters for sure.'
const DOCS = [
  `<package><name>vim</name><version>2:9.0</version><arch>amd64</arch><summary>Vi IMproved - enhanced vi editor</summary><description>${long}</description><section>editors</section><priority>optional</priority><size>1568412</size><depends><dep name="libc6" op="&gt;=" version="2.34"/><anyOf><dep name="vim-common"/><dep name="vim-tiny"/></anyOf></depends><tags><tag>role::program</tag><tag>use::editing</tag></tags></package>`,
  '<package><name>nano</name><version>7.2</version><arch>amd64</arch><summary>small editor</summary><section>editors</section><priority>important</priority><size>690000</size><depends><dep name="libc6"/><dep name="libncursesw6"/></depends></package>',
  '<package><name>libc6</name><version>2.36</version><arch>amd64</arch><summary>GNU C Library: Shared libraries</summary><section>libs</section><priority>optional</priority><size>2800000</size><depends><dep name="libgcc-s1"/></depends><tags><tag>role::shared-lib</tag></tags></package>',
  '<package><name>python3</name><version>3.11.2</version><arch>all</arch><summary>interactive high-level object-oriented language</summary><section>python</section><priority>optional</priority><size>26000</size><depends><dep name="python3.11" op="&gt;=" version="3.11.2"/></depends></package>',
  `<package><name>weird</name><version>1</version><arch>amd64</arch><summary>  42 </summary><description>${long}</description><section>misc</section><size> 12 </size><installedSize>1e3</installedSize><priority>NaN</priority><note>x<b>y</b>z</note></package>`,
  '<release name="bookworm" version="1" date="2026-11-25"><collection name="amd64"><collection name="editors"><package name="vim" version="2:9.0" arch="amd64"/><package name="nano" version="7.2" arch="amd64"/></collection><collection name="libs"><package name="libc6" version="2.36" arch="amd64"/></collection></collection></release>'
]

const PATTERNS = [
  '//package[section = "editors"][.//dep/@name = "libc6"]/name',
  '//package[contains-word(description, "editor") and priority = "optional"]',
  '//release[@name = "bookworm"]//package[@name = "vim"]',
  '/package[size > 1000000]/checksum',
  '/package[size > 1000000]/name',
  '//package[size <= 690000]/name',
  '//package[size != 690000]/name',
  '//package[size = 12]/name',
  '//package[installedSize >= 1000]/name',
  '//package[priority != 3]/name',
  '//package[priority < 3]/name',
  '//summary[. = "  42 "]',
  '//package[summary > 40]/name',
  '//package[section != "editors"]/name',
  '//package[not(depends)]/name',
  '//package[not(.//dep/@op)]/name',
  '//package[section = "libs" or section = "python"]/name',
  '//dep/@name',
  '//dep[@op]/@version',
  '//anyOf/dep[@name = "vim-common" or @name = "vim-tiny"]',
  '//package/*',
  '//package/name/text()',
  '//note/text()',
  '//package[contains(name, "im")]/name',
  '//package[starts-with(name, "lib")]/name',
  '//package[contains(description, "features")]/name',
  '//package[starts-with(description, "A very")]/name',
  '//package[contains-word(summary, "EDITOR")]/name',
  '//dep[contains-word(@name, "libc6")]',
  '//package[tags/tag = "role::program"]/name',
  '//collection[@name = "editors"]/package/@name',
  '//collection//collection',
  '//package[.//dep[@name = "libc6"][@op = ">="]]/version',
  '//note[. = "xyz"]',
  '//package[note = "xyz"]/name',
  '//*[@name = "libc6"]',
  '//package[@*]',
  '/release/collection/collection/@name',
  '//package[description]/name',
  '//package[contains(., "editor")]/name',
  '//package[name = "vim"]//dep[not(@op)]/@name'
]

describe('QueryEngine against the reference evaluator', () => {
  let dir: string
  let store: TwigStore
  let engine: QueryEngine
  const roots = DOCS.map((x) => parseXml(x))

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-engine-'))
    store = await TwigStore.open({ path: dir, blockSize: 2 })
    await store.transaction(async (tx) => {
      for (let i = 0; i < DOCS.length; i++) await tx.add({ id: `doc${i}`, root: parseXml(DOCS[i]) })
    })
    engine = new QueryEngine(store, store)
  })
  afterAll(async () => { await store.close(); await rm(dir, { recursive: true, force: true }) })

  it.each(PATTERNS)('%s', async (pattern) => {
    const query = parseQuery(pattern)
    const expected: string[] = []
    roots.forEach((r, i) => { for (const n of evaluateOnDocument(query, r)) expected.push(`doc${i} ${canonicalPath(n)}`) })
    const page = await engine.query(pattern, { first: 1000 })
    expect(page.matches.map((m) => `${m.doc} ${m.path}`)).toEqual(expected)
    expect(page.total).toBe(expected.length)
  })

  it('pages with cursors', async () => {
    const all = await engine.query('//dep/@name', { first: 100 })
    const seen: string[] = []
    let after: string | undefined
    for (let i = 0; i < 10; i++) {
      const page = await engine.query('//dep/@name', { first: 2, after })
      seen.push(...page.matches.map((m) => `${m.doc} ${m.path}`))
      if (!page.hasNextPage) break
      after = page.endCursor ?? undefined
    }
    expect(seen).toEqual(all.matches.map((m) => `${m.doc} ${m.path}`))
  })

  it('explains which strategy answered', async () => {
    expect((await engine.explain('//package[section = "editors"]/name')).strategy).toBe('postings')
    expect((await engine.explain('//package/*')).strategy).toBe('documents')
    const plan = await engine.explain('//package[contains(description, "features")]/name')
    expect(plan.strategy).toBe('postings+verify')
    expect(plan.terms.map((t) => t.term)).toContain('e:package')
  })
})

/** What a holder ships for fetchRelated: the postings of the nodes' documents, then only those related to the nodes. */
async function relatedIn (store: TwigStore, term: string, related: RelatedNodes): Promise<PostingList> {
  const list = await store.fetch(term, new SortedDocSet(docsOf(related.nodes)))
  return related.relation === 'below' ? descendantsIn(related.nodes, list, related.axis) : ancestorsIn(list, related.nodes, related.axis)
}

/** A fresh store holding DOCS (two postings per block), closed and removed after `fn`. */
async function withDocsStore (fn: (store: TwigStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'edos-engine-docs-'))
  const store = await TwigStore.open({ path: dir, blockSize: 2 })
  try {
    await store.transaction(async (tx) => {
      for (let i = 0; i < DOCS.length; i++) await tx.add({ id: `doc${i}`, root: parseXml(DOCS[i]) })
    })
    await fn(store)
  } finally {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
}

describe('QueryEngine with a heavy list', () => {
  it('reads a list heavy where a candidate lies after the others have narrowed the candidates', async () => {
    await withDocsStore(async (store) => {
      const fetches: Array<{ term: string, docs: number[] | undefined }> = []
      // Stats scaled up so that filters pay; `package` marked heavy everywhere (as a release document's leaves make it in one range).
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments() * 1000,
        termStats: async (term) => {
          const s = await store.termStats(term)
          return { ...s, docs: s.docs * 100, postings: s.postings * 100, ...(term === 'e:package' ? { heavy: [[0, 0xffffffff]] as Array<[number, number]> } : {}) }
        },
        fetch: async (term, filter) => {
          fetches.push({ term, docs: filter instanceof SortedDocSet ? Array.from(filter.docs) : undefined })
          return await store.fetch(term, filter)
        },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const engine = new QueryEngine(source, store)
      const pattern = '//package[.//dep/@name = "libc6"]/name'
      const page = await engine.query(pattern, { first: 100 })
      expect(page.matches.map((m) => m.doc)).toEqual(['doc0', 'doc1'])
      // The release document (doc5) names libc6 too, but has no dep: it is not among the candidates `package` is read for.
      const pkg = fetches.find((f) => f.term === 'e:package')
      expect(pkg?.docs).toHaveLength(2)
      expect(fetches.findIndex((f) => f.term === 'e:package')).toBeGreaterThan(fetches.findIndex((f) => f.term === 'e:dep'))
    })
  })

  it('narrows with the cheap lists before a heavy one, keeping a list of several postings a document for the join to read by position', async () => {
    await withDocsStore(async (store) => {
      const fetches: Array<{ term: string, docs: number[] | undefined }> = []
      const within: string[] = []
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments() * 1000,
        termStats: async (term) => {
          const s = await store.termStats(term)
          // `dep` is in most documents with several postings each (a package's dependencies), `name` in nearly all, `package` heavy
          // in the release document.
          if (term === 'e:dep') return { ...s, docs: s.docs * 1000, postings: s.docs * 3000 }
          if (term === 'e:name') return { ...s, docs: s.docs * 1000, postings: s.postings * 1000 }
          if (term === 'e:package') return { ...s, docs: s.docs * 1000, postings: s.postings * 1000, heavy: [[0, 0xffffffff]] }
          return { ...s, docs: s.docs * 100, postings: s.postings * 100 }
        },
        fetch: async (term, filter) => {
          fetches.push({ term, docs: filter instanceof SortedDocSet ? Array.from(filter.docs) : undefined })
          return await store.fetch(term, filter)
        },
        fetchRelated: async (term: string, related: RelatedNodes) => { within.push(`${term} ${related.relation}`); return await relatedIn(store, term, related) },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const pattern = '//package[.//dep/@name = "libc6"]/name'
      const page = await new QueryEngine(source, store).query(pattern, { first: 100 })
      expect(page.matches).toEqual((await new QueryEngine(store, store).query(pattern, { first: 100 })).matches)
      // `name` (which the release document lacks) narrows the candidates; `dep` is read above the libc6 attributes, not by document.
      expect(fetches.map((f) => f.term)).not.toContain('e:dep')
      expect(within).toEqual(['e:dep above'])
      expect(fetches.find((f) => f.term === 'e:package')?.docs).toHaveLength(2)
    })
  })

  it('reads value tests on the children of document roots as the documents having them, and the list only for other nodes', async () => {
    await withDocsStore(async (store) => {
      const fetched: string[] = []
      const asked: string[] = []
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments(),
        termStats: async (term) => await store.termStats(term),
        fetch: async (term, filter) => { fetched.push(term); return await store.fetch(term, filter) },
        docsHaving: async (term, ask) => { asked.push(`${term}@${ask.level ?? '-'}`); return docsHavingIn(await store.fetch(term, ask.docs === undefined ? undefined : new SortedDocSet(ask.docs)), ask.level) },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const engine = new QueryEngine(source, store)
      const plain = new QueryEngine(store, store)
      // `libc6` is also a `dep`'s @name deeper in vim's and nano's documents: only the release leaf (not a root) answers
      for (const pattern of ['//package[section = "editors"][priority = "optional"]/name', '//package[@name = "vim"]/@version', '/release[@name = "bookworm"]//package/@name', '//package[@name = "libc6"]', '//package[.//@version]', '//package[.//dep][not(.//tags)]/name']) {
        fetched.length = 0; asked.length = 0
        const page = await engine.query(pattern, { first: 100 })
        expect(page.matches, pattern).toEqual((await plain.query(pattern, { first: 100 })).matches)
        expect(page.matches.length, pattern).toBeGreaterThan(0)
      }
      // `package` roots: the values' documents are enough; the release document's leaves (not roots) read `@name = "vim"` in it
      fetched.length = 0; asked.length = 0
      await engine.query('//package[section = "editors"][priority = "optional"]/name', { first: 100 })
      expect(asked.sort()).toEqual(['v:priority=optional@2', 'v:section=editors@2'])
      expect(fetched.filter((t) => t.startsWith('v:'))).toEqual([])
      fetched.length = 0; asked.length = 0
      await engine.query('//package[@name = "vim"]/@version', { first: 100 })
      expect(asked).toEqual(['v:@name=vim@2'])
      expect(fetched).toContain('v:@name=vim')
    })
  })

  it('reads the first step\'s roots as the documents the source names, when the answer is below them', async () => {
    await withDocsStore(async (store) => {
      const asked: string[] = []
      const fetched: string[] = []
      const source: PostingSource = {
        // scaled so that filters pay, `package` in every document (too dense to narrow)
        liveDocuments: () => store.liveDocuments() * 100,
        termStats: async (term) => { const s = await store.termStats(term); return { ...s, docs: s.docs * 100, postings: s.postings * 100 } },
        fetch: async (term, filter) => { fetched.push(term); return await store.fetch(term, filter) },
        // as a holder answers: a doc whose only posting is a root is named, the others' postings are shipped
        rootNodes: async (term, docs) => {
          asked.push(term)
          const list = await store.fetch(term, docs)
          const roots: number[] = []
          const nodes = new PostingBuffer(0)
          for (let i = 0; i < list.length;) {
            let j = i + 1
            while (j < list.length && list.docs[j] === list.docs[i]) j++
            if (j === i + 1 && list.levels[i] === 1) roots.push(list.docs[i]); else nodes.append(list, i, j)
            i = j
          }
          return { roots: Uint32Array.from(roots), nodes }
        },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const engine = new QueryEngine(source, store)
      const plain = new QueryEngine(store, store)
      const cases: Array<[string, boolean]> = [
        ['//package[section = "editors"]/name', true],
        ['//package[.//dep[@name = "libc6"][@op = ">="]]/version', true],
        ['//package[@name = "vim"]/@version', true],
        ['//package[tags/tag = "role::program"]/name', true],
        // `release` (one document) narrows the candidates: read as a list by the planner
        ['/release[@name = "bookworm"]//package/@name', false],
        ['//package[section = "editors"]', false],
        ['//package[section = "editors"]/.', false]
      ]
      for (const [pattern, rooted] of cases) {
        asked.length = 0; fetched.length = 0
        const got = await engine.answers(pattern)
        const want = await plain.answers(pattern)
        expect(Array.from({ length: got.nodes.length }, (_, i) => [got.nodes.docs[i], got.nodes.starts[i], got.nodes.ends[i], got.nodes.levels[i]]), pattern)
          .toEqual(Array.from({ length: want.nodes.length }, (_, i) => [want.nodes.docs[i], want.nodes.starts[i], want.nodes.ends[i], want.nodes.levels[i]]))
        expect(want.nodes.length, pattern).toBeGreaterThan(0)
        // the roots stand-ins never reach the answers: patterns answering the roots read them
        expect(asked.length > 0, pattern).toBe(rooted)
        if (rooted) expect(fetched.filter((t) => t === asked[0]), pattern).toEqual([])
      }
      // the stand-ins contain their documents, merged in order with the other nodes
      const all = await store.fetch('e:package')
      const release = all.docs[all.length - 1]
      const list = withRoots({ roots: Uint32Array.of(1, release + 1), nodes: await store.fetch('e:package', new SortedDocSet(Uint32Array.of(release))) })
      expect(Array.from(list.docs.subarray(0, list.length))).toEqual([1, release, release, release, release + 1])
      expect([list.starts[0], list.ends[0], list.levels[0]]).toEqual([0, ROOT_END, 1])
      expect(list.levels[1]).toBeGreaterThan(1)
    })
  })

  it('reads the other lists of a large candidate inside the nodes each step starts from', async () => {
    await withDocsStore(async (store) => {
      const fetches: string[] = []
      const within: Array<{ term: string, relation: string, axis: string, nodes: number }> = []
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments() * 1000,
        termStats: async (term) => {
          const s = await store.termStats(term)
          // Node lists in nearly every document and heavy (as `package` and `@name` are in R1: the release document's leaves).
          const dense = term === 'e:package' || term.startsWith('a:')
          return { ...s, docs: s.docs * (dense ? 1000 : 100), postings: s.postings * (dense ? 1000 : 100), ...(dense ? { heavy: [[0, 0xffffffff]] as Array<[number, number]> } : {}) }
        },
        fetch: async (term, filter) => { fetches.push(term); return await store.fetch(term, filter) },
        fetchRelated: async (term: string, related: RelatedNodes) => {
          within.push({ term, relation: related.relation, axis: related.axis, nodes: related.nodes.length })
          return await relatedIn(store, term, related)
        },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const engine = new QueryEngine(source, store)
      const plain = new QueryEngine(store, store)
      for (const pattern of ['//release[@name = "bookworm"]//collection[@name = "editors"]/package/@name', '//release//collection[@name = "libs"]//package', '//collection[@name = "amd64"]/collection/package[@name = "nano"]/@version']) {
        fetches.length = 0; within.length = 0
        const page = await engine.query(pattern, { first: 100 })
        const expected = await plain.query(pattern, { first: 100 })
        expect(page.matches, pattern).toEqual(expected.matches)
        expect(page.matches.length, pattern).toBeGreaterThan(0)
        // The release document's package leaves (and their @name) are read inside the collections, never the whole list of the document.
        expect(within.some((w) => w.term === 'e:package' && w.relation === 'below'), pattern).toBe(true)
        expect(fetches, pattern).not.toContain('e:package')
      }
      expect(within.find((w) => w.term === 'a:version')).toEqual({ term: 'a:version', relation: 'below', axis: 'child', nodes: 1 })
    })
  })

  it('asks the stats of the terms under `not` and `or` with the others, before any list is read', async () => {
    await withDocsStore(async (store) => {
      const calls: string[] = []
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments(),
        termStats: async (term) => { calls.push(`stats ${term}`); return await store.termStats(term) },
        fetch: async (term, filter) => { calls.push(`fetch ${term}`); return await store.fetch(term, filter) },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => await store.scan(range, filter)
      }
      const engine = new QueryEngine(source, store)
      for (const pattern of ['//package[not(.//dep)]/name', '//package[arch = "all" or .//dep/@name = "libc6"]/name']) {
        calls.length = 0
        expect((await engine.query(pattern, { first: 100 })).matches).toEqual((await new QueryEngine(store, store).query(pattern, { first: 100 })).matches)
        const firstFetch = calls.findIndex((c) => c.startsWith('fetch '))
        const optional = pattern.includes('not(') ? ['stats e:dep'] : ['stats v:arch=all', 'stats e:dep', 'stats v:@name=libc6']
        for (const c of optional) expect(calls.indexOf(c), `${pattern}: ${c}`).toBeGreaterThanOrEqual(0)
        for (const c of optional) expect(calls.indexOf(c), `${pattern}: ${c} before ${calls[firstFetch]}`).toBeLessThan(firstFetch)
      }
    })
  })

  it('reads a value range in the round of the heads when the pattern names no value term, and after them otherwise', async () => {
    await withDocsStore(async (store) => {
      const calls: string[] = []
      // whether the heads' round is over (a remote source: the planner's stats have come back)
      let headsBack = false
      const source: PostingSource = {
        liveDocuments: () => store.liveDocuments(),
        termStats: async (term) => { calls.push(`stats ${term}`); await new Promise((resolve) => setTimeout(resolve, 5)); headsBack = true; return await store.termStats(term) },
        fetch: async (term, filter) => { calls.push(`fetch ${term}`); return await store.fetch(term, filter) },
        terms: (prefix) => store.terms(prefix),
        scan: async (range, filter) => { calls.push(`scan${headsBack ? '' : ' (with the heads)'}`); return await store.scan(range, filter) }
      }
      const engine = new QueryEngine(source, store)
      const reference = new QueryEngine(store, store)
      for (const pattern of ['//package[size > 1000000]/name', '//package[starts-with(name, "lib")]/name', '//package[section = "editors"][size > 1000000]/name']) {
        calls.length = 0; headsBack = false
        expect((await engine.query(pattern, { first: 100 })).matches, pattern).toEqual((await reference.query(pattern, { first: 100 })).matches)
        const early = !pattern.includes('section')
        expect(calls.some((c) => c === 'scan (with the heads)'), `${pattern}: ${calls.join(', ')}`).toBe(early)
      }
    })
  })
})
