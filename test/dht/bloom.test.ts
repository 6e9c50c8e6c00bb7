import { describe, expect, it } from 'vitest'
import { BloomFilter, chooseFilter, decodeDocSet, decodeFilter, encodeDocSet } from '../../src/dht/bloom.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { SortedDocSet } from '../../src/xml-twig-index/engine/source.ts'

/** Deterministic pseudo-random docs (xorshift), so a failure reproduces. */
function randomDocs (n: number, max: number, seed = 12345): Uint32Array {
  const out = new Set<number>()
  let x = seed
  while (out.size < n) { x ^= x << 13; x ^= x >>> 17; x ^= x << 5; out.add((x >>> 0) % max) }
  return Uint32Array.from([...out].sort((a, b) => a - b))
}

describe('BloomFilter', () => {
  it('has no false negatives and a false positive rate near the target', () => {
    const docs = randomDocs(20_000, 1_000_000)
    const f = BloomFilter.forDocs(docs, 0.01)
    expect(f.size).toBe(20_000)
    for (const d of docs) expect(f.has(d)).toBe(true)
    const members = new Set(docs)
    let fp = 0; let asked = 0
    for (let d = 0; d < 1_000_000; d += 7) { if (members.has(d)) continue; asked++; if (f.has(d)) fp++ }
    const rate = fp / asked
    expect(rate).toBeGreaterThan(0.003)
    expect(rate).toBeLessThan(0.02)
  })

  it('keeps the rate at other targets', () => {
    const docs = randomDocs(5000, 10_000_000, 99)
    const f = BloomFilter.forDocs(docs, 0.001)
    const members = new Set(docs)
    let fp = 0; let asked = 0
    for (let d = docs[0]; d < docs[docs.length - 1]; d += 97) { if (members.has(d)) continue; asked++; if (f.has(d)) fp++ }
    expect(fp / asked).toBeLessThan(0.004)
  })

  it('answers intersects from its bounds and, for narrow ranges, doc by doc', () => {
    const f = BloomFilter.forDocs(Uint32Array.of(100, 200, 5000))
    expect(f.intersects(0, 99)).toBe(false)
    expect(f.intersects(5001, 9000)).toBe(false)
    expect(f.intersects(90, 100)).toBe(true)
    expect(f.intersects(5000, 5000)).toBe(true)
    expect(f.intersects(10, 4000)).toBe(true) // wide: answered by the bounds
    let narrowHits = 0
    for (let a = 300; a < 4000; a += 20) if (f.intersects(a, a + 10)) narrowHits++
    // 185 ranges of 11 absent docs at a 1% rate: ~20 false hits at worst
    expect(narrowHits).toBeLessThan(20)
    expect(f.intersects(50, 10)).toBe(false)
  })

  it('tests sequentially as has does, and an empty filter holds nothing', () => {
    const docs = randomDocs(300, 10_000)
    const f = BloomFilter.forDocs(docs)
    const seq = f.sequential()
    const diff: number[] = []
    for (let d = 0; d < 10_000; d++) if (seq(d) !== f.has(d)) diff.push(d)
    expect(diff).toEqual([])
    const empty = BloomFilter.forDocs(new Uint32Array(0))
    expect(empty.size).toBe(0)
    expect(empty.has(0)).toBe(false)
    expect(empty.intersects(0, 0xffffffff)).toBe(false)
    expect(BloomFilter.fromBytes(empty.toBytes()).has(0)).toBe(false)
  })

  it('counts duplicates once and accepts unsorted input', () => {
    const f = BloomFilter.forDocs(Uint32Array.of(9, 3, 9, 3, 0xffffffff))
    expect(f.size).toBe(3)
    for (const d of [3, 9, 0xffffffff]) expect(BloomFilter.fromBytes(f.toBytes()).has(d)).toBe(true)
  })

  it('round-trips through bytes', () => {
    const docs = randomDocs(1000, 100_000)
    const f = BloomFilter.forDocs(docs)
    const g = BloomFilter.fromBytes(f.toBytes())
    expect(g.size).toBe(f.size)
    const diff: number[] = []
    for (let d = 0; d < 100_000; d++) if (g.has(d) !== f.has(d)) diff.push(d)
    expect(diff).toEqual([])
    expect(g.toBytes()).toEqual(f.toBytes())
  })

  it('rejects malformed bytes with a ProtocolError naming the fault', () => {
    const good = BloomFilter.forDocs(Uint32Array.of(1, 2, 3)).toBytes()
    const bad = (mutate: (b: Uint8Array, v: DataView) => Uint8Array | undefined, message: RegExp): void => {
      const b = good.slice()
      const out = mutate(b, new DataView(b.buffer)) ?? b
      expect(() => BloomFilter.fromBytes(out)).toThrow(ProtocolError)
      expect(() => BloomFilter.fromBytes(out)).toThrow(message)
    }
    bad((b) => b.subarray(0, 10), /shorter than its 18-byte header/)
    bad((b) => { b[0] = 2; return undefined }, /version 2/)
    bad((b) => { b[1] = 0; return undefined }, /hash count 0/)
    bad((b) => { b[1] = 200; return undefined }, /hash count 200/)
    bad((_b, v) => { v.setUint32(2, 12, true); return undefined }, /bit count 12/)
    bad((_b, v) => { v.setUint32(2, 1 << 20, true); return undefined }, /needs/)
    bad((b) => b.subarray(0, b.length - 1), /needs/)
    bad((_b, v) => { v.setUint32(10, 50, true); return undefined }, /min doc 50 is above/)
    bad((_b, v) => { v.setUint32(6, 100, true); return undefined }, /claims 100 docs/)
    bad((_b, v) => { v.setUint32(6, 0, true); return undefined }, /empty Bloom filter/)
    expect(() => BloomFilter.fromBytes('x' as unknown as Uint8Array)).toThrow(ProtocolError)
  })
})

describe('docId sets', () => {
  it('round-trip, sorting and deduplicating the input', () => {
    for (const docs of [new Uint32Array(0), Uint32Array.of(0), Uint32Array.of(0xffffffff), Uint32Array.of(0, 1, 2, 300, 70000, 0xfffffffe, 0xffffffff), randomDocs(5000, 1 << 30)]) {
      const set = decodeDocSet(encodeDocSet(docs))
      expect(set).toBeInstanceOf(SortedDocSet)
      expect(Array.from(set.docs)).toEqual(Array.from(docs))
    }
    expect(Array.from(decodeDocSet(encodeDocSet(Uint32Array.of(5, 1, 5, 3))).docs)).toEqual([1, 3, 5])
  })

  it('rejects malformed bytes', () => {
    const cases: Array<[number[], RegExp]> = [
      [[], /shorter than its header/],
      [[2, 0], /version 2/],
      [[1, 3, 1, 1], /claims 3 docs/],
      [[1, 2, 1, 0], /not strictly increasing at doc 1/],
      [[1, 1, 0x80], /truncated/],
      [[1, 1, 0xff, 0xff, 0xff, 0xff, 0x1f], /exceeds 2\^32-1/],
      [[1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01], /longer than 5 bytes/],
      [[1, 2, 0xff, 0xff, 0xff, 0xff, 0x0f, 1], /doc 1 \(4294967296\) exceeds/],
      [[1, 1, 5, 0], /1 trailing bytes/]
    ]
    for (const [bytes, message] of cases) {
      expect(() => decodeDocSet(Uint8Array.from(bytes))).toThrow(ProtocolError)
      expect(() => decodeDocSet(Uint8Array.from(bytes))).toThrow(message)
    }
  })
})

describe('chooseFilter', () => {
  it('sends small and dense sets exactly and large sparse ones as a Bloom filter', () => {
    const small = chooseFilter(Uint32Array.of(1, 5, 9))
    expect(small.kind).toBe('docs')
    const dense = Uint32Array.from({ length: 10_000 }, (_, i) => 1000 + i)
    expect(chooseFilter(dense).kind).toBe('docs')
    const sparse = randomDocs(10_000, 1 << 30)
    const chosen = chooseFilter(sparse)
    expect(chosen.kind).toBe('bloom')
    expect(chosen.bytes.length).toBeLessThan(encodeDocSet(sparse).length)
    const f = decodeFilter(chosen.kind, chosen.bytes)
    for (const d of sparse) expect(f.has(d)).toBe(true)
    const exact = decodeFilter(small.kind, small.bytes)
    expect([0, 1, 5, 6, 9].map((d) => exact.has(d))).toEqual([false, true, true, false, true])
    expect(() => decodeFilter('zstd', small.bytes)).toThrow(/unknown filter kind "zstd"/)
  })
})
