import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { RARE_POSTINGS_MAX, RareReader, RareRunBuilder, checkRareRun, cutPieces } from '../../src/dht/rare-runs.ts'
import { WriteBuilder, rareKey, utf8Into } from '../../src/dht/shard-keys.ts'
import { ShardStore, type ShardEntry } from '../../src/dht/shard-store.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { PostingBuffer, type PostingList } from '../../src/xml-twig-index/postings/codec.ts'

const R = 100 // rangeDocs of these tests
type P = [doc: number, start: number, end: number, level: number]
const list = (ps: P[]): PostingBuffer => { const b = new PostingBuffer(); for (const [d, s, e, l] of ps) b.push(d, s, e, l); return b }
const rows = (l: PostingList): P[] => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i], l.ends[i], l.levels[i]])
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Rare terms of the tests: name, postings (all in one range of R docs). */
const TERMS: Array<[string, P[]]> = [
  ['v:checksum=00ab', [[3, 40, 41, 3]]],
  ['v:checksum=00ac', [[7, 40, 41, 3]]],
  ['v:name=vim', [[7, 2, 3, 2]]],
  ['w:bittorrent', [[5, 9, 9, 4], [5, 20, 20, 4], [9, 9, 9, 4]]],
  ['w:zébulon', [[150, 1, 1, 3]]],
  ['w:€uro', [[250, 7, 7, 3], [251, 7, 7, 3], [252, 7, 7, 3], [253, 8, 8, 3]]]
]

function run (terms = TERMS): Uint8Array {
  const b = new RareRunBuilder()
  const bytes = new Uint8Array(4096)
  for (const [t, ps] of terms) b.add(bytes, utf8Into(t, bytes, 0), Math.floor(ps[0][0] / R), list(ps), 0, ps.length)
  const runs = b.take()
  expect(runs).toHaveLength(1)
  return runs[0].slice()
}

/** The same terms as a head chunk each, as a publish of rare runs off would send them. */
function asHeads (terms = TERMS): WriteBuilder {
  const b = new WriteBuilder()
  for (const [t, ps] of terms) {
    const l = list(ps)
    b.head(t, Math.floor(ps[0][0] / R), ps[0][0], { postings: ps.length, docs: new Set(ps.map((p) => p[0])).size, lastDoc: ps[ps.length - 1][0] }, l)
  }
  return b
}

function withRuns (...runs: Uint8Array[]): WriteBuilder {
  const b = new WriteBuilder()
  runs.forEach((r, i) => b.raw(rareKey(i), r))
  return b
}

describe('rare runs', () => {
  it('reads back every record as the head chunk it stands for', () => {
    const r = new RareReader().over(run())
    const heads = asHeads()
    let i = 0
    while (r.next()) {
      const [t, ps] = TERMS[i]
      expect(new TextDecoder().decode(r.term.subarray(0, r.termLength))).toBe(t)
      expect(rows(r.list)).toEqual(ps)
      const b = new WriteBuilder()
      r.headInto(b)
      expect(b.key(0)).toEqual(heads.key(i))
      expect(b.value(0)).toEqual(heads.value(i))
      i++
    }
    expect(i).toBe(TERMS.length)
  })

  it('starts a new run when a term does not sort after the one before it', () => {
    const b = new RareRunBuilder()
    const bytes = new Uint8Array(64)
    for (const t of ['w:b', 'w:c', 'w:a', 'w:d']) b.add(bytes, utf8Into(t, bytes, 0), 0, list([[1, 1, 1, 1]]), 0, 1)
    const runs = b.take()
    expect(runs).toHaveLength(2)
    for (const x of runs) expect(checkRareRun(x, 0, x.length, 'run').records).toBe(2)
    expect(b.take()).toEqual([])
  })

  it('refuses malformed runs, naming the run and the byte', () => {
    const good = run()
    const bad: Array<[string, Uint8Array]> = [
      ['truncated', good.subarray(0, good.length - 2)],
      ['empty', new Uint8Array(0)],
      // first record shares bytes with nothing
      ['first shares', Uint8Array.of(1, 1, 0x61, 0, 1, 1, 1, 0, 1)],
      // same term twice
      ['not after', Uint8Array.of(0, 1, 0x61, 0, 1, 1, 1, 0, 1, 0, 1, 0x61, 0, 1, 1, 1, 0, 1)],
      ['U+0000', Uint8Array.of(0, 2, 0x61, 0, 0, 1, 1, 1, 0, 1)],
      ['no postings', Uint8Array.of(0, 1, 0x61, 0, 0)],
      ['too many', Uint8Array.of(0, 1, 0x61, 0, RARE_POSTINGS_MAX + 1, ...Array.from({ length: RARE_POSTINGS_MAX + 1 }, (_, i) => [i === 0 ? 1 : 0, i === 0 ? 1 : 1, 0, 1]).flat())],
      ['range of 2^32', Uint8Array.of(0, 1, 0x61, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 1, 1, 0, 1)]
    ]
    for (const [what, bytes] of bad) {
      expect(() => checkRareRun(bytes, 0, bytes.length, `run ${what}`), what).toThrow(ProtocolError)
      expect(() => checkRareRun(bytes, 0, bytes.length, `run ${what}`), what).toThrow(`run ${what}`)
    }
    expect(checkRareRun(good, 0, good.length, 'good')).toEqual({ records: TERMS.length, postings: 11 })
  })

  it('cuts a run into pieces that each read alone, and a stored piece reads back as itself', () => {
    const terms: Array<[string, P[]]> = Array.from({ length: 3000 }, (_, i) => [`v:checksum=${i.toString(16).padStart(8, '0')}`, [[1 + (i % 90), i, i + 1, 3]]])
    const whole = run(terms)
    const pieces = cutPieces(whole, 0, whole.length)
    expect(pieces.length).toBeGreaterThan(5)
    const seen: string[] = []
    const r = new RareReader()
    for (const p of pieces) {
      expect(p.value.length).toBeLessThan(4096 + 200)
      r.over(p.value)
      let first: Uint8Array | undefined; let last: Uint8Array | undefined
      const key = new Uint8Array(64)
      while (r.next()) {
        seen.push(new TextDecoder().decode(r.term.subarray(0, r.termLength)))
        const k = key.slice(0, r.keyInto(key))
        first ??= k; last = k
      }
      expect(p.lo).toEqual(first); expect(p.hi).toEqual(last)
      const [again] = cutPieces(p.value, 0, p.value.length, undefined, Infinity)
      expect(again.value).toEqual(p.value)
    }
    expect(seen).toEqual(terms.map(([t]) => t))
  })
})

describe('ShardStore with rare runs', () => {
  let dir: string
  const open: ShardStore[] = []
  const openStore = async (sub: string): Promise<ShardStore> => { const s = await ShardStore.open({ path: join(dir, sub), rangeDocs: R }); open.push(s); return s }
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'edos-rare-')) })
  afterEach(async () => {
    for (const s of open.splice(0)) await s.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  const names = TERMS.map(([t]) => t)
  const statsOf = async (s: ShardStore): Promise<{ heads: number, postings: number }> => { const { heads, postings } = await s.stats(); return { heads, postings } }
  const headTerms = async (s: ShardStore): Promise<string[]> => {
    const out: string[] = []
    for await (const e of s.entries() as AsyncIterable<ShardEntry>) if (e.kind === 'head') out.push(e.term)
    return out.sort()
  }

  it('answers heads and term ranges as a store given the same head chunks does', async () => {
    const rare = await openStore('rare')
    const ref = await openStore('ref')
    await rare.applyEncoded(withRuns(run()))
    await ref.applyEncoded(asHeads())
    const extra = [...names, 'w:absent', 'v:name=vi']
    expect(await rare.heads(extra)).toEqual(await ref.heads(extra))
    for (const bounds of [{ prefix: 'v:checksum=' }, { prefix: 'w:' }, { prefix: '' }, { prefix: 'v:', gt: 'checksum=00ab', lte: 'name=vim' }]) {
      expect(await rare.termHeads(bounds), JSON.stringify(bounds)).toEqual(await ref.termHeads(bounds))
    }
    expect(await rare.termHeads({ prefix: '' }, 2)).toEqual(await ref.termHeads({ prefix: '' }, 2))
    expect(await statsOf(rare)).toEqual(await statsOf(ref))
    expect(await headTerms(rare)).toEqual([...names].sort())
    expect(rare.empty).toBe(false)
  })

  it('keeps its rare records over a restart, and a write sent again stores nothing twice', async () => {
    let s = await openStore('a')
    await s.applyEncoded(withRuns(run()))
    const before = await s.heads(names)
    const stats = await statsOf(s)
    await s.applyEncoded(withRuns(run()))
    expect(await statsOf(s)).toEqual(stats)
    expect(await s.heads(names)).toEqual(before)
    await s.close(); open.pop()
    s = await openStore('a')
    expect(await s.heads(names)).toEqual(before)
    expect(await statsOf(s)).toEqual(stats)
    // and a write with one new record among held ones adds that one only
    const more: Array<[string, P[]]> = [...TERMS.slice(0, 3), ['v:name=vim-tiny', [[8, 2, 3, 2]]], ...TERMS.slice(3)]
    await s.applyEncoded(withRuns(run(more)))
    expect(await statsOf(s)).toEqual({ heads: stats.heads + 1, postings: stats.postings + 1 })
    expect(await headTerms(s)).toEqual(more.map(([t]) => t).sort())
  })

  it('takes a record sent again with other postings (more documents before a re-run): the new postings are read, and counted once', async () => {
    let s = await openStore('a')
    await s.applyEncoded(withRuns(run()))
    const grown: Array<[string, P[]]> = TERMS.map(([t, ps]) => t === 'v:name=vim' ? [t, [...ps, [60, 2, 3, 2]]] : [t, ps])
    await s.applyEncoded(withRuns(run(grown)))
    const ref = await openStore('ref')
    await ref.applyEncoded(asHeads(grown))
    expect(await s.heads(names)).toEqual(await ref.heads(names))
    expect(await s.termHeads({ prefix: 'v:' })).toEqual(await ref.termHeads({ prefix: 'v:' }))
    const stats = await statsOf(s)
    expect(stats.postings).toBe((await statsOf(ref)).postings)
    await s.close(); open.splice(open.indexOf(s), 1)
    s = await openStore('a')
    expect(await s.heads(names)).toEqual(await ref.heads(names))
    expect(await statsOf(s)).toEqual(stats)
    expect(await headTerms(s)).toEqual([...names].sort())
    // the same write once more (a third attempt): nothing changes
    await s.applyEncoded(withRuns(run(grown)))
    expect(await statsOf(s)).toEqual(stats)
    expect(await s.heads(names)).toEqual(await ref.heads(names))
  })

  it('takes a record whose chunk a head chunk holds with other postings (a repair, a publish without rare runs): the record is read', async () => {
    const s = await openStore('a')
    const ref = await openStore('ref')
    const old: Array<[string, P[]]> = TERMS.map(([t, ps]) => t === 'w:bittorrent' ? [t, ps.slice(0, 2)] : [t, ps])
    await s.applyEncoded(asHeads(old))
    await s.applyEncoded(withRuns(run()))
    await ref.applyEncoded(asHeads())
    expect(await s.heads(names)).toEqual(await ref.heads(names))
    expect(await s.termHeads({ prefix: '' })).toEqual(await ref.termHeads({ prefix: '' }))
    expect(await statsOf(s)).toEqual(await statsOf(ref))
    expect(await headTerms(s)).toEqual(await headTerms(ref))
  })

  it('merges a rare record with head chunks a later publish adds to its term', async () => {
    const rare = await openStore('rare')
    const ref = await openStore('ref')
    await rare.applyEncoded(withRuns(run()))
    await ref.applyEncoded(asHeads())
    const later = new WriteBuilder()
    later.head('v:name=vim', 0, 60, { postings: 1, docs: 1, lastDoc: 60 }, list([[60, 2, 3, 2]]))
    later.head('w:bittorrent', 1, 120, { postings: 1, docs: 1, lastDoc: 120 }, list([[120, 5, 5, 4]]))
    for (const s of [rare, ref]) await s.applyEncoded(later)
    expect(await rare.heads(names)).toEqual(await ref.heads(names))
    expect(await rare.termHeads({ prefix: '' })).toEqual(await ref.termHeads({ prefix: '' }))
    expect((await statsOf(rare)).postings).toBe((await statsOf(ref)).postings)
    expect(await headTerms(rare)).toEqual(await headTerms(ref))
  })

  it('sends what it holds as a write another store takes (repair, catch-up)', async () => {
    const a = await openStore('a')
    await a.applyEncoded(withRuns(run()))
    const entries = (await headTerms(a)).map((term): ShardEntry => ({ kind: 'head', term }))
    const b = await openStore('b')
    await b.applyEncoded(await a.exportEncoded(entries))
    expect(await b.heads(names)).toEqual(await a.heads(names))
    const c = await openStore('c')
    const since = new WriteBuilder()
    for await (const { key, value } of a.rawSince(0)) since.raw(key, value)
    await c.applyEncoded(since)
    expect(await c.heads(names)).toEqual(await a.heads(names))
  })

  it('takes head chunks a repair or catch-up sends over its records: the same bytes change nothing, other bytes are read and counted once', async () => {
    let s = await openStore('a')
    await s.applyEncoded(withRuns(run()))
    const stats = await statsOf(s)
    const before = await s.heads(names)
    // a repair right after a publish sends what this store holds already, as head chunks
    await s.applyEncoded(asHeads())
    expect(await statsOf(s)).toEqual(stats)
    expect(await s.heads(names)).toEqual(before)
    expect(await headTerms(s)).toEqual([...names].sort())
    // one sent with other postings (a co-holder's newer copy) is the one read, and the record leaves the counts
    const grown: Array<[string, P[]]> = TERMS.map(([t, ps]) => t === 'v:name=vim' ? [t, [...ps, [60, 2, 3, 2]]] : [t, ps])
    const ref = await openStore('ref')
    await ref.applyEncoded(asHeads(grown))
    for (let i = 0; i < 2; i++) {
      await s.applyEncoded(asHeads(grown.filter(([t]) => t === 'v:name=vim')))
      expect(await s.heads(names)).toEqual(await ref.heads(names))
      expect(await statsOf(s)).toEqual(await statsOf(ref))
    }
    await s.close(); open.splice(open.indexOf(s), 1)
    s = await openStore('a')
    expect(await statsOf(s)).toEqual(await statsOf(ref))
    expect(await headTerms(s)).toEqual([...names].sort())
  })

  it('keeps the newest of a record and the head chunks sent over it: record, other head, the record\'s bytes again', async () => {
    const s = await openStore('a')
    const ref = await openStore('ref')
    await s.applyEncoded(withRuns(run()))
    const other: Array<[string, P[]]> = TERMS.map(([t, ps]) => t === 'v:name=vim' ? [t, [...ps, [60, 2, 3, 2]]] : [t, ps])
    await s.applyEncoded(asHeads(other.filter(([t]) => t === 'v:name=vim')))
    // the record's own bytes once more, as a head: they must win over the head chunk sent before
    await s.applyEncoded(asHeads(TERMS.filter(([t]) => t === 'v:name=vim')))
    await ref.applyEncoded(asHeads())
    expect(await s.heads(names)).toEqual(await ref.heads(names))
    expect(await statsOf(s)).toEqual(await statsOf(ref))
  })

  it('names a term with several chunks in packs while its first chunk is written again during the walk', async () => {
    const s = await openStore('a')
    const spread = (d: number): Array<[string, P[]]> => [['w:spread', [[d, 1, 1, 1]]]]
    // its first chunk in key order lies in the last pack: the walk reads a later chunk first, then the first one is written again
    await s.applyEncoded(asHeads(spread(150)))
    await s.applyEncoded(asHeads([['a:first', [[1, 1, 1, 1]]]]))
    await s.applyEncoded(asHeads(spread(1)))
    const seen: string[] = []
    for await (const e of s.entries() as AsyncIterable<ShardEntry>) {
      if (e.kind !== 'head') continue
      seen.push(e.term)
      if (e.term === 'a:first') await s.applyEncoded(asHeads([['w:spread', [[1, 1, 2, 1]]]]))
    }
    expect(new Set(seen)).toEqual(new Set(['a:first', 'w:spread']))
  })

  it('names every rare term in a walk while head chunks of the same terms are written (a repair during the walk)', async () => {
    const s = await openStore('a')
    await s.applyEncoded(asHeads([['a:first', [[1, 1, 1, 1]]]]))
    await s.applyEncoded(withRuns(run()))
    const seen: string[] = []
    let wrote = false
    for await (const e of s.entries() as AsyncIterable<ShardEntry>) {
      if (e.kind !== 'head') continue
      seen.push(e.term)
      // the walk has read the packs' first chunk: head chunks of the rare terms land in a pack it will not read
      if (!wrote) { wrote = true; await s.applyEncoded(asHeads(TERMS.map(([t, ps]): [string, P[]] => [t, ps.map(([d, st, e, l]) => [d, st, e + 1, l])]))) }
    }
    expect(seen.sort()).toEqual(['a:first', ...names].sort())
  })

  it('refuses a corrupt run whole and stores nothing', async () => {
    const s = await openStore('a')
    const good = run()
    const bad = good.slice(0, good.length - 1)
    await expect(s.applyEncoded(withRuns(good, bad))).rejects.toThrow(/rare run 1/)
    expect(s.empty).toBe(true)
    expect(await s.heads(names)).toEqual(names.map(() => undefined))
  })
})
