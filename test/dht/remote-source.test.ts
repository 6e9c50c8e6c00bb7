/**
 * RemoteIndex heads over three replicas with a scripted network (callRpc
 * mocked): a term is asked of its two nearest replicas and settled by their
 * equal answers; a slow one is replaced by the third; answers that disagree
 * wait for the third (largest wins); a
 * late answer that is larger updates the cache; a late failure or a late
 * read in a traced evaluation breaks nothing.
 */
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { PeerUnavailableError, RemoteError } from '../../src/dht/errors.ts'
import type { PeerHost } from '../../src/dht/host.ts'
import type { CatalogView } from '../../src/dht/catalog.ts'
import type { Membership } from '../../src/dht/membership.ts'
import { Placement, headKey } from '../../src/dht/placement.ts'
import { RemoteIndex, heavyRanges, traced } from '../../src/dht/remote-source.ts'
import type { TermHead } from '../../src/dht/types.ts'
import { encodePostingList } from '../../src/dht/wire.ts'
import { encodeHeads } from '../../src/dht/head-codec.ts'
import { encodeCols } from '../../src/dht/cols-codec.ts'
import { PostingBuffer } from '../../src/xml-twig-index/postings/codec.ts'
import { SortedDocSet } from '../../src/xml-twig-index/engine/source.ts'

type Reply = (terms: string[]) => Promise<Array<TermHead | null>>
const replies = new Map<string, Reply>()

/** Block requests seen by the scripted peers: their terms and ranges. */
const blockRequests: Array<{ peer: string, terms: string[], ranges: number[], reducerOf: number[], filter?: string, roots?: number[], cols?: number }> = []

vi.mock('../../src/dht/rpc.ts', () => ({
  callRpc: async (_libp2p: unknown, peer: string, _protocol: string, header: Record<string, unknown>) => {
    const reply = replies.get(peer)
    if (reply === undefined) throw new PeerUnavailableError(`peer ${peer} unreachable`)
    if (header.op === 'blocks') {
      const terms = header.terms as string[]
      if (terms.includes('e:corrupt')) throw new RemoteError(`peer ${peer}: a block of e:corrupt is corrupt`, 'ERR_CORRUPT_BLOCK', peer)
      blockRequests.push({ peer, terms, ranges: header.ranges as number[], reducerOf: header.reducerOf as number[], filter: header.filter as string | undefined, roots: header.roots as number[] | undefined, cols: header.cols as number | undefined })
      // Every block holds one posting in document 1 of its range.
      const parts = terms.map((_t, i) => { const b = new PostingBuffer(1); b.push((header.ranges as number[])[i] * 8192 + 1, 1, 2, 1); return encodePostingList(b) })
      // A block that grew since its head was read (a publish under way): in columns, more postings than the head allows.
      if (terms.includes('e:grown') && header.cols === 1) {
        const grown = new PostingBuffer(5000)
        for (let d = 1; d <= 20; d++) for (let j = 0; j < 250; j++) grown.push(d, 1 + 2 * j, 2 + 2 * j, 1)
        return { header: { lists: 1, held: [5000], cols: [0] }, parts: [encodeCols(grown, Uint32Array.from({ length: 20 }, (_, i) => 1 + i))], bytes: 10 }
      }
      // A broken holder: one list fewer than asked.
      if (terms.includes('e:short')) parts.pop()
      return { header: { lists: terms.length, held: terms.map(() => 1) }, parts, bytes: 10 }
    }
    const { heads, parts } = encodeHeads((await reply(header.terms as string[])).map((h) => h ?? undefined))
    return { header: { heads }, parts, bytes: 10 }
  }
}))

const head = (term: string, postings: number): TermHead => ({ term, ranges: [{ range: 0, postings, docs: postings }] })
const now = (postings: number): Reply => async (terms) => terms.map((t) => head(t, postings))
const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const totalOf = (h: TermHead | null): number => h?.ranges.reduce((n, r) => n + r.postings, 0) ?? -1

/** A reply held until released (with a result or an error). */
function held (): { reply: Reply, release: (postings: number | Error) => void, asked: () => boolean } {
  let release: (postings: number | Error) => void = () => {}
  let asked = false
  const gate = new Promise<number | Error>((resolve) => { release = resolve })
  return {
    reply: async (terms) => {
      asked = true
      const r = await gate
      if (r instanceof Error) throw r
      return terms.map((t) => head(t, r))
    },
    release: (p) => { release(p) },
    asked: () => asked
  }
}

describe('remote index heads (scripted replicas)', () => {
  let peers: string[]
  let seq = 1

  beforeAll(async () => {
    peers = []
    for (let i = 0; i < 4; i++) {
      const seed = new Uint8Array(32); seed[0] = 9; seed[1] = i
      peers.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString())
    }
  })

  afterEach(() => { replies.clear(); blockRequests.length = 0 })

  function remote (): RemoteIndex {
    // Three index peers, r = 3: every term is on all of them. The asker (peers[3]) is a client.
    const placement = new Placement(peers.slice(0, 3), 3)
    const membership = { placement: () => placement, confirm: async () => [], suspect: () => {} } as unknown as Membership
    const catalog = { seq: seq++, current: () => undefined } as unknown as CatalogView
    const host = { peerId: peers[3], libp2p: {} } as unknown as PeerHost
    return new RemoteIndex({ host, membership, catalog })
  }

  /** The replicas of a term's head in the order a lone term asks them: the nearest two first. */
  function order (term: string): string[] { return new Placement(peers.slice(0, 3), 3).owners(headKey(term)) }

  it('asks the two nearest replicas first and settles on their equal answers: the third is not woken', async () => {
    const [a, b, c] = order('w:w')
    const third = held()
    replies.set(a, now(5)); replies.set(b, now(5)); replies.set(c, third.reply)
    const { result, reads } = await traced(async () => await remote().heads(['w:w']))
    expect(totalOf(result[0])).toBe(5)
    expect(reads.map((x) => x.peer).sort()).toEqual([a, b].sort())
    expect(third.asked()).toBe(false)
  })

  it('settles a term on two equal answers without waiting for a slow replica (the third is asked in its place)', async () => {
    const [a, b, c] = order('w:x')
    const slow = held()
    replies.set(a, now(5)); replies.set(b, slow.reply); replies.set(c, now(5))
    const r = remote()
    const t0 = performance.now()
    const [h] = await r.heads(['w:x'])
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(totalOf(h)).toBe(5)
    expect(slow.asked()).toBe(true)
    // The slow replica knew more (the other two missed a publish): its late answer replaces the cached head.
    slow.release(8)
    await sleep(20)
    expect(totalOf((await r.heads(['w:x']))[0])).toBe(8)
  })

  it('asks the third replica as soon as one of the two asked fails, not after the other answered', async () => {
    const [a, b, c] = order('w:f')
    const slow = held()
    let thirdAsked = false
    replies.set(b, slow.reply); replies.set(c, async (terms) => { thirdAsked = true; return await now(3)(terms) })
    // `a` has no reply: unreachable
    const p = remote().heads(['w:f'])
    await sleep(50)
    expect(thirdAsked).toBe(true)
    expect(slow.asked()).toBe(true)
    slow.release(3)
    expect(totalOf((await p)[0])).toBe(3)
    expect(a).not.toBe(c)
  })

  it('settles on two replicas that agree there is no head', async () => {
    const slow = held()
    replies.set(peers[0], async (terms) => terms.map(() => null))
    replies.set(peers[1], async (terms) => terms.map(() => null))
    replies.set(peers[2], slow.reply)
    const [h] = await remote().heads(['w:none'])
    expect(h).toBeNull()
    slow.release(new PeerUnavailableError('gone late'))
    await sleep(20)
  })

  it('waits for the third replica when the first two disagree, and the largest wins', async () => {
    const slow = held()
    replies.set(peers[0], now(5)); replies.set(peers[1], now(3)); replies.set(peers[2], slow.reply)
    const r = remote()
    let done = false
    const p = r.heads(['w:y']).then((hs) => { done = true; return hs })
    await sleep(100)
    expect(done).toBe(false)
    slow.release(5)
    expect(totalOf((await p)[0])).toBe(5)
  })

  it('does not settle on two replicas that count the same postings of different chunks (each stale in its own way)', async () => {
    // One missed a repair (only the new publish's chunk), one missed the publish (only the old chunk): both count 1 posting.
    const of = (lastDoc: number, postings = 1): Reply => async (terms) => terms.map((t) => ({ term: t, ranges: [{ range: 0, postings, docs: postings, lastDoc }] }))
    const slow = held()
    replies.set(peers[0], of(3050)); replies.set(peers[1], of(1500))
    replies.set(peers[2], async (terms) => { await slow.reply(terms); return await of(3050, 2)(terms) })
    const r = remote()
    let done = false
    const p = r.heads(['v:name=tzdata']).then((hs) => { done = true; return hs })
    await sleep(100)
    expect(done).toBe(false)
    slow.release(2)
    expect((await p)[0]?.ranges).toEqual([{ range: 0, postings: 2, docs: 2, lastDoc: 3050 }])
  })

  it('takes a replica whose heads do not hold for a failed one: the others answer', async () => {
    // A lying replica: inline postings outside the range its head names.
    replies.set(peers[0], async (terms) => terms.map((t) => ({ term: t, ranges: [{ range: 0, postings: 1, docs: 1, inline: (() => { const b = new PostingBuffer(1); b.push(9000, 1, 1, 1); return b })() }] })))
    replies.set(peers[1], now(2)); replies.set(peers[2], now(2))
    const [h] = await remote().heads(['w:z'])
    expect(totalOf(h)).toBe(2)
  })

  it('settles on all answers when a replica is down, and goes to failover when none answered', async () => {
    replies.set(peers[0], now(4)); replies.set(peers[1], now(2))
    expect(totalOf((await remote().heads(['w:z']))[0])).toBe(4)
    replies.clear()
    await expect(remote().heads(['w:z'])).rejects.toBeInstanceOf(PeerUnavailableError)
  })

  it('ignores a late error and keeps a late read out of a trace already returned', async () => {
    const slow = held()
    replies.set(peers[0], now(6)); replies.set(peers[1], now(6)); replies.set(peers[2], slow.reply)
    const r = remote()
    const { result, reads } = await traced(async () => await r.heads(['w:t']))
    expect(totalOf(result[0])).toBe(6)
    expect(reads.map((x) => x.peer).sort()).toEqual([peers[0], peers[1]].sort())
    slow.release(new RemoteError('late failure', 'ERR_INTERNAL', peers[2]))
    await sleep(20)
    expect(reads).toHaveLength(2)

    // A late success is not traced either.
    const slow2 = held()
    replies.set(peers[2], slow2.reply)
    const second = await traced(async () => await r.heads(['w:u']))
    slow2.release(6)
    await sleep(20)
    expect(second.reads).toHaveLength(2)
  })

  it('still fails the round on an error before it settles', async () => {
    replies.set(peers[0], async () => { throw new RemoteError('broken', 'ERR_INTERNAL', peers[0]) })
    const slow = held()
    replies.set(peers[1], slow.reply); replies.set(peers[2], now(1))
    await expect(remote().heads(['w:v'])).rejects.toBeInstanceOf(RemoteError)
    slow.release(1)
    await sleep(20)
  })
})

describe('remote index blocks (scripted holder)', () => {
  afterEach(() => { replies.clear(); blockRequests.length = 0 })

  it('sends the lists asked in one turn to a holder in one request, each distinct reducer once; a failing one fails alone', async () => {
    const seed = new Uint8Array(32); seed[0] = 7
    const holder = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    seed[0] = 8
    const asker = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    // Every term: two ranges of 1,000 postings (above the small-block size, so the reducer travels).
    replies.set(holder, async (terms) => terms.map((t) => ({ term: t, ranges: [0, 1].map((range) => ({ range, postings: 1000, docs: 1000 })) })))
    const placement = new Placement([holder], 1)
    const membership = { placement: () => placement, confirm: async () => [], suspect: () => {} } as unknown as Membership
    const catalog = { seq: 1, current: () => ({ rangeDocs: 8192 }), isLive: () => true } as unknown as CatalogView
    const r = new RemoteIndex({ host: { peerId: asker, libp2p: {} } as unknown as PeerHost, membership, catalog })
    const filter = new SortedDocSet(Uint32Array.from([1, 8193]))
    const [a, b] = await Promise.all([r.fetch('e:package', filter), r.fetch('e:name', filter)])
    expect([a.length, b.length]).toEqual([2, 2])
    // One request: both terms in both ranges, the filter cut to each range (two reducers), each shared by the two terms.
    expect(blockRequests).toHaveLength(1)
    const [q] = blockRequests
    expect(q.terms.map((t, i) => `${t}#${q.ranges[i]}:${q.reducerOf[i]}`).sort()).toEqual(['e:name#0:0', 'e:name#1:1', 'e:package#0:0', 'e:package#1:1'])
    // A list read in a later turn goes in its own request.
    await r.fetch('e:dep', new SortedDocSet(Uint32Array.from([1])))
    expect(blockRequests).toHaveLength(2)
    // A list that fails does not fail the others asked in the same turn: they are asked again on their own.
    const [ok, bad] = await Promise.allSettled([r.fetch('e:version', filter), r.fetch('e:corrupt', filter)])
    expect(ok.status === 'fulfilled' ? ok.value.length : -1).toBe(2)
    expect(bad.status === 'rejected' ? String(bad.reason) : '').toMatch(/e:corrupt is corrupt/)
    // A holder that answers fewer lists than asked is an error, not empty lists.
    await expect(r.fetch('e:short', filter)).rejects.toThrow(/answered 1 lists for 2 blocks/)
    // A holder from before existence asks answers them with postings (no `having` in its answer): the reader finds the docs itself.
    blockRequests.length = 0
    const having = await r.docsHaving('e:dep', { docs: Uint32Array.of(1, 2, 8193, 8200), level: 1 })
    expect(Array.from(having.docs)).toEqual([1, 8193])
    expect(Array.from(having.atLevel ?? [])).toEqual([1, 8193])
    expect(blockRequests).toHaveLength(1)
    await expect(r.docsHaving('e:dep', { docs: Uint32Array.of(2, 1) })).rejects.toThrow(/sorted and distinct/)
    // A holder from before roots asks ships the postings (no `roots` in its answer): they are the nodes, and no root is named.
    blockRequests.length = 0
    const many = new SortedDocSet(Uint32Array.from({ length: 20 }, (_, i) => 1 + i))
    const rooted = await r.rootNodes('e:package', many)
    expect(blockRequests.map((q) => q.roots)).toEqual([[0]])
    expect(Array.from(rooted.roots)).toEqual([])
    expect([rooted.nodes.length, rooted.nodes.docs[0], rooted.nodes.starts[0]]).toEqual([1, 1, 1])
    // Postings in columns are asked when enough may come back; a holder from before them ships posting lists (no `cols` in its answer).
    blockRequests.length = 0
    const wide = await r.fetch('e:version', many)
    expect(blockRequests.map((q) => q.cols)).toEqual([1])
    expect([wide.length, wide.docs[0], wide.starts[0]]).toEqual([1, 1, 1])
    await r.fetch('e:arch', new SortedDocSet(Uint32Array.of(1, 2)))
    expect(blockRequests.map((q) => q.cols)).toEqual([1, undefined])
    // Columns counting more than the (stale) head allows: asked again in the plain form, which its bytes bound, not a failed query.
    blockRequests.length = 0
    const grown = await r.fetch('e:grown', many)
    expect(blockRequests.map((q) => q.cols)).toEqual([1, undefined])
    expect(grown.length).toBe(1)
  })
})

describe('remote index small blocks (scripted holder)', () => {
  afterEach(() => { replies.clear(); blockRequests.length = 0 })

  it('fetches a small block whole and keeps it, unless the filter keeps a small part of it', async () => {
    const seed = new Uint8Array(32); seed[0] = 27
    const holder = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    seed[0] = 28
    const asker = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    // One range of 100 postings in 100 docs: a small block.
    replies.set(holder, async (terms) => terms.map((t) => ({ term: t, ranges: [{ range: 0, postings: 100, docs: 100 }] })))
    const placement = new Placement([holder], 1)
    const membership = { placement: () => placement, confirm: async () => [], suspect: () => {} } as unknown as Membership
    const catalog = { seq: 1, current: () => ({ rangeDocs: 8192 }), isLive: () => true } as unknown as CatalogView
    const r = new RemoteIndex({ host: { peerId: asker, libp2p: {} } as unknown as PeerHost, membership, catalog })
    // 30 docs of 100: a reducer would keep too much to pay; the block travels whole, and the next read is served from the cache.
    const broad = new SortedDocSet(Uint32Array.from({ length: 30 }, (_, i) => 1 + i))
    await r.fetch('v:section=python', broad)
    expect(blockRequests.map((q) => q.filter)).toEqual([undefined])
    await r.fetch('v:section=python', broad)
    expect(blockRequests).toHaveLength(1)
    // 2 docs of 100: the reducer travels and the answer, a part of the block, is not kept.
    await r.fetch('v:section=games', new SortedDocSet(Uint32Array.of(1, 50)))
    await r.fetch('v:section=games', new SortedDocSet(Uint32Array.of(1, 50)))
    expect(blockRequests.map((q) => q.filter)).toEqual([undefined, 'docs', 'docs'])
  })
})

describe('remote index inline postings (scripted holder)', () => {
  afterEach(() => { replies.clear(); blockRequests.length = 0 })

  const postings = (ps: Array<[number, number, number, number]>): PostingBuffer => { const b = new PostingBuffer(ps.length); for (const [d, s, e, l] of ps) b.push(d, s, e, l); return b }
  const rowsOf = (l: { length: number, docs: Uint32Array, starts: Uint32Array }): Array<[number, number]> => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i]])

  async function remote (): Promise<RemoteIndex> {
    const seed = new Uint8Array(32); seed[0] = 17
    const holder = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    seed[0] = 18
    const asker = peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
    // 'w:rare': range 0 all inline; range 1 has one posting in its block (the scripted holder's, doc 8193) and one more inline (a later publish).
    replies.set(holder, async (terms) => terms.map((t) => ({
      term: t,
      ranges: [
        { range: 0, postings: 3, docs: 2, inline: postings([[5, 1, 4, 1], [5, 2, 3, 2], [9, 1, 1, 1]]) },
        { range: 1, postings: 2, docs: 2, inline: postings([[8200, 1, 1, 1]]) }
      ]
    })))
    const placement = new Placement([holder], 1)
    const membership = { placement: () => placement, confirm: async () => [], suspect: () => {} } as unknown as Membership
    const catalog = { seq: 1, current: () => ({ rangeDocs: 8192, releases: [] }), isLive: () => true } as unknown as CatalogView
    return new RemoteIndex({ host: { peerId: asker, libp2p: {} } as unknown as PeerHost, membership, catalog })
  }

  it('reads a range whose postings came with its head without asking for its block, and merges a range held both ways', async () => {
    const r = await remote()
    // the block of range 1 holds one posting, in doc 8193 (the scripted holder): merged in order with the inline one
    expect(rowsOf(await r.fetch('w:rare'))).toEqual([[5, 1], [5, 2], [9, 1], [8193, 1], [8200, 1]])
    expect(blockRequests.map((q) => q.ranges)).toEqual([[1]])
    // a filter that keeps nothing of range 1: no request at all
    expect(rowsOf(await r.fetch('w:rare', new SortedDocSet(Uint32Array.of(9))))).toEqual([[9, 1]])
    expect(blockRequests).toHaveLength(1)
    // related reads join inline postings here: the descendants of a node of doc 5
    expect(rowsOf(await r.fetchRelated('w:rare', { relation: 'below', axis: 'descendant', nodes: postings([[5, 1, 4, 1]]) }))).toEqual([[5, 2]])
    expect(blockRequests).toHaveLength(1)
    expect(await r.termStats('w:rare')).toMatchObject({ postings: 5, docs: 4, blocks: 2 })
  })
})

describe('heavyRanges', () => {
  it('finds the range where one document holds far more postings than the term has per document elsewhere', () => {
    // R1's `package`: one posting per unit, and the release document's 63,440 leaves in the last range.
    const head: TermHead = { term: 'e:package', ranges: [0, 1, 2, 3, 4, 5, 6].map((range) => ({ range, postings: 8192, docs: 8192 })) }
    head.ranges.push({ range: 7, postings: 6096 + 63440, docs: 6097 })
    expect(heavyRanges(head, 8192)).toEqual([[7 * 8192, 8 * 8192 - 1]])
    // `dep`: many postings per document everywhere, none heavy; a small skew is not heavy either.
    expect(heavyRanges({ term: 'e:dep', ranges: [0, 1, 2].map((range) => ({ range, postings: 60000 + range * 9000, docs: 8192 })) }, 8192)).toEqual([])
    expect(heavyRanges({ term: 'e:x', ranges: [{ range: 0, postings: 100, docs: 100 }, { range: 1, postings: 2000, docs: 100 }] }, 8192)).toEqual([])
    expect(heavyRanges({ term: 'e:y', ranges: [{ range: 0, postings: 90000, docs: 1 }] }, 8192)).toEqual([])
    // `@name`: ~6.5 a document (dependencies), and the release document's leaves on top in the last range (2.4x there).
    const name: TermHead = { term: 'a:name', ranges: [0, 1, 2, 3, 4, 5, 6].map((range) => ({ range, postings: 53000 + range * 500, docs: 8192 })) }
    name.ranges.push({ range: 7, postings: 6096 * 7 + 63440, docs: 6097 })
    expect(heavyRanges(name, 8192)).toEqual([[7 * 8192, 8 * 8192 - 1]])
    // A release document known in that range is named alone.
    expect(heavyRanges(name, 8192, [3, 7 * 8192 + 6096])).toEqual([[7 * 8192 + 6096, 7 * 8192 + 6096]])
  })
})
