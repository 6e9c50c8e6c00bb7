/**
 * The distributed index in one process: a publisher and three mirrors as
 * real libp2p hosts over TCP on 127.0.0.1, the bookworm fixture slice
 * published, every differential pattern answered through a mirror exactly
 * as the publisher's local store answers it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { EmbeddedIndex } from '../../src/xml-twig-index/embedded.ts'
import { readUnits } from '../../src/xml-twig-index/importers/index.ts'
import { createPeerHost, IndexNode, type PeerHost } from '../../src/dht/index.ts'
import { ENGINE_SUITE } from '../oracle/patterns.ts'
import { blockKey, headKey } from '../../src/dht/placement.ts'
import { traced } from '../../src/dht/remote-source.ts'
import type { IndexServer } from '../../src/dht/protocols.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { encodePostingList } from '../../src/dht/wire.ts'
import { PostingBuffer } from '../../src/xml-twig-index/postings/codec.ts'
import { ancestorsIn, descendantsIn } from '../../src/xml-twig-index/engine/structural.ts'
import { SortedDocSet, docsOf } from '../../src/xml-twig-index/engine/source.ts'
import { BloomFilter, encodeDocSet } from '../../src/dht/bloom.ts'
import { docsFromBitmap, readHavingAnswer, readRootsAnswer } from '../../src/dht/block-reducers.ts'
import type { PostingList } from '../../src/xml-twig-index/postings/codec.ts'

const asArrays = (l: PostingList): number[][] => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i], l.ends[i], l.levels[i]])

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

async function waitFor (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('distributed index (in-process peers)', () => {
  let dir: string
  let local: EmbeddedIndex
  const nodes: IndexNode[] = []
  let publisher: IndexNode
  let mirrors: IndexNode[]

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-dht-'))
    local = await EmbeddedIndex.open({ path: join(dir, 'pub', 'index') })
    await local.import(readUnits([join(FIXTURES, 'bookworm-slice.Packages.xz')], { translations: [join(FIXTURES, 'bookworm-slice.Translation-en.xz')] }), { release: 'bookworm', date: '2026-11-25' })
    await local.import(readUnits([join(FIXTURES, 'bookworm-updates.Packages.xz')]), { release: 'bookworm-updates', date: '2026-11-25' })
    const pubHost = await createPeerHost({ data: join(dir, 'pub'), role: 'publisher' })
    const publisherId = peerIdFromString(pubHost.peerId)
    publisher = await IndexNode.start({ host: pubHost, data: join(dir, 'pub'), publisher: publisherId, local: local.store, announceMs: 300, repairSettleMs: 300, log: process.env.EDOS_TEST_LOG === '1' ? (m: string) => { console.error(m) } : undefined })
    nodes.push(publisher)
    mirrors = []
    for (let i = 0; i < 3; i++) {
      const host: PeerHost = await createPeerHost({ data: join(dir, `m${i}`), role: 'mirror', bootstrap: pubHost.multiaddrs() })
      const m = await IndexNode.start({ host, data: join(dir, `m${i}`), publisher: publisherId, announceMs: 300, repairSettleMs: 300, log: process.env.EDOS_TEST_LOG === '1' ? (m: string) => { console.error(m) } : undefined })
      nodes.push(m); mirrors.push(m)
      await publisher.admitMirror(host.peerId)
    }
    await waitFor('4 index peers in every view', () => nodes.every((n) => n.membership.placement().size === 4))
    const summary = await publisher.disseminate()
    expect(summary?.docs).toBeGreaterThan(2000)
    await waitFor('catalog at every mirror', () => mirrors.every((m) => m.catalog.seq === 1))
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) await n.stop()
    await local?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers every differential pattern through a mirror exactly as the local store', async () => {
    const m = mirrors[1]
    for (const pattern of ENGINE_SUITE) {
      const want = await local.engine.answers(pattern)
      const got = await m.engine.answers(pattern)
      expect({ pattern, n: got.nodes.length, docs: [...got.nodes.docs.subarray(0, got.nodes.length)], starts: [...got.nodes.starts.subarray(0, got.nodes.length)] })
        .toEqual({ pattern, n: want.nodes.length, docs: [...want.nodes.docs.subarray(0, want.nodes.length)], starts: [...want.nodes.starts.subarray(0, want.nodes.length)] })
    }
  }, 120_000)

  it('reads a list inside given nodes at its holders (positions pushed down, not only docIds)', async () => {
    const m = mirrors[2]
    // The release document's collections, and its package leaves under them.
    const collections = (await local.engine.answers('//release[@name = "bookworm"]//collection[@name = "editors"]')).nodes
    expect(collections.length).toBeGreaterThan(0)
    const all = await local.store.fetch('e:package')
    for (const axis of ['child', 'descendant'] as const) {
      const { result, reads } = await traced(async () => await m.remote.fetchRelated('e:package', { relation: 'below', axis, nodes: collections }))
      const want = descendantsIn(collections, all, axis)
      expect(want.length).toBeGreaterThan(0)
      expect(asArrays(result)).toEqual(asArrays(want))
      // Only the leaves came over the wire: the document holds a leaf per unit of the release.
      const bytes = reads.filter((r) => r.op === 'blocks').reduce((n, r) => n + r.bytes, 0)
      expect(bytes).toBeLessThan(want.length * 16 + 256)
    }
    // Above: the `dep`s that have an `@name = "libc6"` attribute, not every `dep` of those packages.
    const libc6 = await local.store.fetch('v:@name=libc6')
    const deps = await local.store.fetch('e:dep')
    const { result: above } = await traced(async () => await m.remote.fetchRelated('e:dep', { relation: 'above', axis: 'child', nodes: libc6 }))
    expect(libc6.length).toBeGreaterThan(100)
    expect(asArrays(above)).toEqual(asArrays(ancestorsIn(deps, libc6, 'child')))
    expect(above.length).toBeLessThan(deps.length / 4)
    // The release pattern answers exactly with its node lists read that way.
    const pattern = '//release[@name = "bookworm"]//collection[@name = "editors"]/package/@name'
    expect(asArrays((await m.engine.answers(pattern)).nodes)).toEqual(asArrays((await local.engine.answers(pattern)).nodes))
  })

  it('refuses related-node filters that do not hold, naming what is wrong', async () => {
    const server = (mirrors[0] as unknown as { server: IndexServer }).server
    const nodes = (rows: number[][]): Uint8Array => { const b = new PostingBuffer(rows.length); for (const [d, s, e, l] of rows) b.push(d, s, e, l); return encodePostingList(b) }
    const ask = async (relation: string, axis: string, part: Uint8Array): Promise<unknown> => await server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'related', relation, axis }, parts: [part], from: mirrors[1].membership.self })
    await expect(ask('below', 'sideways', nodes([[1, 1, 5, 1]]))).rejects.toThrow(/unknown axis 'sideways'/)
    await expect(ask('beside', 'child', nodes([[1, 1, 5, 1]]))).rejects.toThrow(/unknown relation 'beside'/)
    await expect(ask('below', 'child', new Uint8Array([200]))).rejects.toThrow(/posting/)
    await expect(ask('below', 'child', new Uint8Array([1, 0, 4, 0, 0, 0, 0]))).rejects.toThrow(ProtocolError)
    // Nodes no document has: overlapping at one level, twice the same, or far too many.
    await expect(ask('below', 'child', nodes([[1, 1, 9, 2], [1, 3, 12, 2]]))).rejects.toThrow(/overlaps node 0 without nesting/)
    await expect(ask('below', 'child', nodes([[1, 1, 9, 2], [1, 3, 5, 2]]))).rejects.toThrow(/overlaps node 0 without nesting/)
    await expect(ask('above', 'child', nodes([[1, 4, 4, 3], [1, 4, 4, 3]]))).rejects.toThrow(/node 1 twice/)
    await expect(ask('above', 'child', nodes(Array.from({ length: 20_000 }, (_, i) => [1, 2 * i + 1, 2 * i + 1, 2])))).rejects.toThrow(/more than 16384/)
    // One part of many nodes shared by many keys: more joining than a request may ask for.
    const many = nodes(Array.from({ length: 16_000 }, (_, i) => [1, 2 * i + 1, 2 * i + 1, 2]))
    await expect(server.postings({ header: { op: 'blocks', terms: new Array(200).fill('e:package'), ranges: new Array(200).fill(0), filter: 'related', relation: 'above', axis: 'child' }, parts: [many], from: mirrors[1].membership.self })).rejects.toThrow(/3200000 \(key, related node\) pairs/)
    // The per-key form: as many reducers as parts, one entry per key.
    const keyed = async (header: Record<string, unknown>, parts: Uint8Array[]): Promise<unknown> => await server.postings({ header: { op: 'blocks', terms: ['e:package', 'e:name'], ranges: [0, 0], ...header }, parts, from: mirrors[1].membership.self })
    await expect(keyed({ reducers: [{ kind: 'related', relation: 'below', axis: 'child' }], reducerOf: [0, 0] }, [])).rejects.toThrow(/1 reducers but 0 parts/)
    await expect(keyed({ reducers: [{ kind: 'related', relation: 'below', axis: 'child' }], reducerOf: [0] }, [nodes([[1, 1, 5, 1]])])).rejects.toThrow(/2 keys but 1 reducerOf/)
    await expect(keyed({ reducers: [{ kind: 'zstd' }], reducerOf: [0, -1] }, [nodes([[1, 1, 5, 1]])])).rejects.toThrow(/unknown filter kind 'zstd' in reducer 0/)
    await expect(keyed({ reducers: [{ kind: 'related', relation: 'below', axis: 'child' }], reducerOf: [0, 1] }, [nodes([[1, 1, 5, 1]])])).rejects.toThrow(/reducerOf/)
    const ok = await server.postings({ header: { op: 'blocks', terms: ['e:package', 'e:name'], ranges: [0, 0], reducers: [{ kind: 'related', relation: 'below', axis: 'child' }], reducerOf: [0, -1] }, parts: [nodes([[1, 1, 5, 1]])], from: mirrors[1].membership.self })
    expect(ok.parts).toHaveLength(2)
  })

  it('answers an existence test below document roots with a bit per document, not the postings', async () => {
    const m = mirrors[1]
    const packages = (await local.engine.answers('//package[section = "fonts" or section = "utils"]')).nodes
    const docs = Uint32Array.from(new Set(packages.docs.subarray(0, packages.length)))
    expect(docs.length).toBeGreaterThan(20)
    const deps = await local.store.fetch('e:dep', new SortedDocSet(docs))
    const { result, reads } = await traced(async () => await m.remote.docsHaving('e:dep', { docs }))
    expect(Array.from(result.docs)).toEqual(Array.from(docsOf(deps)))
    expect(result.docs.length).toBeLessThan(docs.length)
    // Each asked doc costs its gap in the request and a bit in the answer; the dependencies themselves would take ~4 bytes each.
    const bytes = reads.filter((r) => r.op === 'blocks').reduce((n, r) => n + r.bytes, 0)
    expect(bytes).toBeLessThan(deps.length * 4 / 2)
    // Which of given nodes have a related posting: a bit per node sent.
    const libc6Deps = ancestorsIn(await local.store.fetch('e:dep'), await local.store.fetch('v:@name=libc6'), 'child')
    const withOp = ancestorsIn(libc6Deps, await local.store.fetch('v:@op=>='), 'child')
    const { result: kept, reads: keptReads } = await traced(async () => await m.remote.relatedHaving('v:@op=>=', { relation: 'below', axis: 'child', nodes: libc6Deps }))
    expect(asArrays(kept)).toEqual(asArrays(withOp))
    expect(withOp.length).toBeGreaterThan(10)
    expect(withOp.length).toBeLessThan(libc6Deps.length)
    const sent = encodePostingList(libc6Deps).length
    expect(keptReads.filter((r) => r.op === 'blocks').reduce((n, r) => n + r.bytes, 0)).toBeLessThan(sent + libc6Deps.length / 8 + 200 * keptReads.length)
    // Without docs asked, each holder names the docs it has the term in; with a level, those with it there.
    const games = await local.store.fetch('v:section=games')
    const { result: all, reads: allReads } = await traced(async () => await m.remote.docsHaving('v:section=games', { level: 2 }))
    expect(Array.from(all.docs)).toEqual(Array.from(docsOf(games)))
    expect(Array.from(all.atLevel ?? [])).toEqual(Array.from(docsOf(games)))
    expect(allReads.filter((r) => r.op === 'blocks').reduce((n, r) => n + r.bytes, 0)).toBeLessThan(encodePostingList(games).length)
    expect((await m.remote.docsHaving('v:section=games', { level: 3 })).atLevel).toEqual(new Uint32Array(0))
    // The patterns that ask it that way answer exactly, and say so in their reads.
    for (const pattern of ['//package[not(.//dep)][section = "fonts"]/name', '//package[section = "utils"][.//tags][not(.//homepage)]/name', '//package[section = "games"][priority = "optional"]/name', '//release[@name = "bookworm"]//collection[@name = "games"]/package/@name']) {
      const got = await m.engine.answers(pattern)
      expect(asArrays(got.nodes)).toEqual(asArrays((await local.engine.answers(pattern)).nodes))
      if (pattern.includes('.//')) expect(got.plan.reads.some((r) => r.term.includes('(having'))).toBe(true)
    }
  })

  it('names the document roots among the nodes of a root step instead of shipping their postings', async () => {
    // the index peer that does not hold the block (3 of the 4 do; its own keys would move no bytes; placement is by peer id)
    const owners = publisher.membership.placement().owners(blockKey('e:package', 0))
    const m = nodes.find((x) => !owners.includes(x.membership.self)) as IndexNode
    const games = docsOf(await local.store.fetch('v:section=games'))
    const releases = docsOf(await local.store.fetch('e:release'))
    // the release documents hold `package` leaves: their postings come as postings
    const docs = new SortedDocSet(Uint32Array.from(new Set([...games, ...releases])).sort())
    const want = await local.store.fetch('e:package', docs)
    const { result, reads } = await traced(async () => await m.remote.rootNodes('e:package', docs))
    expect(Array.from(result.roots)).toEqual(Array.from(games))
    expect(asArrays(result.nodes)).toEqual(asArrays(await local.store.fetch('e:package', new SortedDocSet(releases))))
    expect(result.roots.length + result.nodes.length).toBe(want.length)
    expect(reads.some((r) => r.op === 'blocks')).toBe(true)
    // of roots alone, a bit each where a fetch ships a posting each (with the same docId set sent)
    const blockBytes = (rs: typeof reads): number => rs.filter((r) => r.op === 'blocks').reduce((n, r) => n + r.bytes, 0)
    const gamesSet = new SortedDocSet(games)
    const rootBytes = blockBytes((await traced(async () => await m.remote.rootNodes('e:package', gamesSet))).reads)
    const fetchBytes = blockBytes((await traced(async () => await m.remote.fetch('e:package', gamesSet))).reads)
    // (a fetch ships at least each root's span, a byte or two, even in columns)
    expect(rootBytes + games.length).toBeLessThan(fetchBytes)
    // a `name` per asked package in columns: its start, span and level once, its doc counted in the asked set (the set itself travels)
    const first = new SortedDocSet(docsOf(await local.store.fetch('e:name')).slice(0, 600))
    const names = await local.store.fetch('e:name', first)
    const nameOwners = publisher.membership.placement().owners(blockKey('e:name', 0))
    const reader = nodes.find((x) => !nameOwners.includes(x.membership.self)) as IndexNode
    const { result: gotNames, reads: nameReads } = await traced(async () => await reader.remote.fetch('e:name', first))
    expect(asArrays(gotNames)).toEqual(asArrays(names))
    expect(blockBytes(nameReads)).toBeGreaterThan(0)
    expect(blockBytes(nameReads)).toBeLessThan(encodePostingList(names).length / 2)
    const pattern = '//package[section = "games"][.//dep/@name = "libc6"]/name'
    const got = await m.engine.answers(pattern)
    expect(asArrays(got.nodes)).toEqual(asArrays((await local.engine.answers(pattern)).nodes))
    expect(got.plan.reads.some((r) => r.term === 'e:package (roots)')).toBe(true)
    // a holder refuses a roots ask without an exact docId set, or asked for existence too
    const server = (mirrors[0] as unknown as { server: IndexServer }).server
    const from = mirrors[1].membership.self
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], roots: [0] }, parts: [], from })).rejects.toThrow(/roots without an exact docId set/)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'docs', having: [0], roots: [0] }, parts: [encodeDocSet(Uint32Array.of(1, 2))], from })).rejects.toThrow(/roots and existence/)
    // a reader refuses an answer that sends the postings of a doc it names a root, or of a doc not asked
    const two = new PostingBuffer(1); two.push(2, 0, 9, 1)
    const answer = (bits: number, list: PostingBuffer): Uint8Array => Uint8Array.from([bits, ...encodePostingList(list)])
    expect(() => readRootsAnswer(answer(0b10, two), Uint32Array.of(1, 2), 'test')).toThrow(/names doc 2 a root and sends its postings/)
    expect(() => readRootsAnswer(answer(0b01, two), Uint32Array.of(1, 3), 'test')).toThrow(/doc 2, which was not asked/)
    expect(readRootsAnswer(answer(0b01, two), Uint32Array.of(1, 2), 'test').roots).toEqual(Uint32Array.of(1))
  })

  it('refuses existence asks it cannot answer, naming the key', async () => {
    const server = (mirrors[0] as unknown as { server: IndexServer }).server
    const from = mirrors[1].membership.self
    const docs = encodeDocSet(Uint32Array.of(1, 2, 3))
    const node = new PostingBuffer(1); node.push(1, 1, 5, 1)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'related', relation: 'below', axis: 'child', having: [0], havingLevel: [2] }, parts: [encodePostingList(node)], from })).rejects.toThrow(/key 0 asks a level of related nodes/)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'bloom', having: [0] }, parts: [BloomFilter.forDocs(Uint32Array.of(1, 2, 3), 0.01).toBytes()], from })).rejects.toThrow(/key 0 is asked for existence \(having\) without an exact docId set/)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'docs', having: [1] }, parts: [docs], from })).rejects.toThrow(/outside \[0, 0\]/)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], filter: 'docs', having: 'all' }, parts: [docs], from })).rejects.toThrow(ProtocolError)
    const ok = await server.postings({ header: { op: 'blocks', terms: ['e:package', 'e:name'], ranges: [0, 0], reducers: [{ kind: 'docs' }], reducerOf: [0, 0], having: [1] }, parts: [docs], from })
    expect(ok.header.having).toEqual([1])
    expect(ok.parts?.[1]).toHaveLength(1)
    await expect(server.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], having: [0], havingLevel: [2, 3] }, parts: [], from })).rejects.toThrow(/1 having keys but 2 havingLevel/)
    // with no docs asked: a docId set, then the level's bitmap over it (asked of a peer that holds the block: placement is by peer id)
    const owner = publisher.membership.placement().owners(blockKey('e:package', 0))[0]
    const holder = (nodes.find((n) => n.membership.self === owner) as unknown as { server: IndexServer }).server
    const whole = await holder.postings({ header: { op: 'blocks', terms: ['e:package'], ranges: [0], having: [0], havingLevel: [1] }, parts: [], from })
    const read = readHavingAnswer(whole.parts?.[0] ?? new Uint8Array(0), { level: 1 }, undefined, 'test')
    expect(read.docs.length).toBeGreaterThan(100)
    expect(read.atLevel?.length).toBeGreaterThan(100)
    // a holder that names a doc at a level it says has no posting lies
    expect(() => readHavingAnswer(Uint8Array.of(0b001, 0b010), { level: 2 }, Uint32Array.of(5, 6, 7), 'test')).toThrow(/doc 6 at level 2 but not among/)
    expect(() => readHavingAnswer(Uint8Array.of(0b001), { level: 2 }, Uint32Array.of(5, 6, 7), 'test')).toThrow(/existence answer of 1 bytes for 3 docs/)
    expect(() => docsFromBitmap(Uint32Array.of(1, 2, 3), Uint8Array.of(0x0f), 'test')).toThrow(/bits past its 3 docs/)
    expect(() => docsFromBitmap(Uint32Array.of(1, 2, 3), Uint8Array.of(1, 0), 'test')).toThrow(/2 bytes for 3 docs/)
  })

  it('confirms its local placement with a kad-dht lookup', async () => {
    const m = mirrors[0]
    const key = headKey('e:package')
    const found = await m.membership.confirm(key)
    expect(found.length).toBeGreaterThan(0)
    const view = new Set(m.membership.placement().peers)
    for (const p of found) expect(view.has(p)).toBe(true)
    // The r closest in the local view are among the closest kad-dht knows (kad never returns the asker itself).
    const owners = m.membership.placement().owners(key).filter((p) => p !== m.membership.self)
    expect(owners.every((p) => found.includes(p))).toBe(true)
  }, 30_000)

  it('spreads postings over the index peers', async () => {
    const infos = await Promise.all(nodes.map(async (n) => await n.info()))
    for (const i of infos) expect(i.held?.postings ?? 0).toBeGreaterThan(0)
  })

  it('inlines a rare term whole in a first publish, and only short chunks in a later one (a dense term adds few postings a publish)', async () => {
    const m = mirrors[0]
    // the first publish: a section with 17..512 postings here came whole with its head
    const sections = ['libs', 'utils', 'admin', 'net', 'perl', 'python', 'devel', 'misc', 'text', 'science']
    const sizes = await Promise.all(sections.map(async (x) => (await local.store.termStats(`v:section=${x}`)).postings))
    const rare = sections.find((_, i) => sizes[i] > 16 && sizes[i] <= 512)
    expect(rare).toBeDefined()
    const [head] = await m.remote.heads([`v:section=${rare as string}`])
    expect(head?.ranges.every((r) => r.inline?.length === r.postings)).toBe(true)
    // a later publish (the updates again: 38 units replaced) adds ~80 `package` postings: they go to a block, not to the head
    await local.import(readUnits([join(FIXTURES, 'bookworm-updates.Packages.xz')]), { release: 'bookworm-updates', date: '2026-11-26' })
    const summary = await publisher.disseminate()
    expect(summary?.docs).toBeGreaterThan(38)
    await waitFor('catalog 2 at every mirror', () => mirrors.every((x) => x.catalog.seq === 2))
    const [pkg] = await m.remote.heads(['e:package'])
    for (const r of pkg?.ranges ?? []) expect(r.inline?.length ?? 0).toBeLessThanOrEqual(16)
    const pattern = `//package[section = "${rare as string}"]/name`
    expect((await m.engine.answers(pattern)).nodes.length).toBe((await local.engine.answers(pattern)).nodes.length)
  }, 60_000)
})
