/**
 * The cols form of a `blocks` answer: round trips with and without the asked
 * docs, each column's mode chosen by size, and every malformed answer refused.
 */
import { describe, expect, it } from 'vitest'
import { decodeCols, encodeCols } from '../../src/dht/cols-codec.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { encodePostingList } from '../../src/dht/wire.ts'
import { PostingBuffer, type PostingList } from '../../src/xml-twig-index/postings/codec.ts'

const rows = (l: PostingList): number[][] => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i], l.ends[i], l.levels[i]])
const list = (r: number[][]): PostingBuffer => { const b = new PostingBuffer(r.length); for (const [d, s, e, l] of r) b.push(d, s, e, l); return b }

describe('cols codec', () => {
  it('round trips lists, counting docs in the asked set when there is one', () => {
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    for (let t = 0; t < 200; t++) {
      const docs = [...new Set(Array.from({ length: 1 + rand(40) }, () => rand(100_000)))].sort((a, b) => a - b)
      const r: number[][] = []
      for (const d of docs) {
        if (rand(3) === 0) continue
        let s = rand(50)
        for (let k = 0, m = 1 + rand(3); k < m; k++) { r.push([d, s, s + rand(4), 1 + rand(2)]); s += 1 + rand(9) }
      }
      const l = list(r)
      expect(rows(decodeCols(encodeCols(l, Uint32Array.from(docs)), Uint32Array.from(docs), l.length, 't')), `asked #${t}`).toEqual(r)
      expect(rows(decodeCols(encodeCols(l), undefined, l.length, 't')), `whole #${t}`).toEqual(r)
    }
    expect(decodeCols(encodeCols(list([])), undefined, 0, 't').length).toBe(0)
  })

  it('is far shorter where columns repeat: one `name` per asked package, the leaves of one document', () => {
    const asked = Uint32Array.from({ length: 500 }, (_, i) => 17 + i * 97)
    const names = list(Array.from(asked, (d) => [d, 1, 3, 2]))
    expect(encodeCols(names, asked).length).toBeLessThan(16)
    expect(encodePostingList(names).length).toBeGreaterThan(1500)
    const leaves = list(Array.from({ length: 300 }, (_, i) => [40_000, 100 + 4 * i, 100 + 4 * i, 5]))
    expect(encodeCols(leaves, Uint32Array.of(40_000)).length).toBeLessThan(24)
    expect(() => encodeCols(names, asked.subarray(1))).toThrow(/not among the asked docs/)
  })

  it('refuses answers that do not hold', () => {
    const asked = Uint32Array.of(5, 9)
    const good = encodeCols(list([[5, 1, 3, 2], [9, 1, 3, 2]]), asked)
    const refuse = (bytes: Uint8Array, most = 10, docs: Uint32Array | undefined = asked): unknown => decodeCols(bytes, docs, most, 'test')
    expect(() => refuse(good, 1)).toThrow(/2 postings from a block of 1/)
    expect(() => refuse(good.subarray(0, good.length - 1))).toThrow(/truncated/)
    expect(() => refuse(Uint8Array.from([...good, 0]))).toThrow(/past its columns/)
    expect(() => refuse(Uint8Array.of(9, 0))).toThrow(/version 9/)
    // count 2; doc steps: each 1, 5 (index 5 of 2 asked)
    expect(() => refuse(Uint8Array.of(1, 2, 1, 1, 5, 0, 1, 0, 2, 0, 2))).toThrow(/names doc 5 of 2 asked/)
    // first doc step 0
    expect(() => refuse(Uint8Array.of(1, 1, 0, 0, 0, 1, 0, 2, 0, 2))).toThrow(/first doc step is 0/)
    // two postings of one doc at the same start
    expect(() => refuse(Uint8Array.of(1, 2, 1, 1, 0, 1, 3, 0, 0, 2, 0, 2))).toThrow(/at the start of the one before/)
    // a mode that does not exist, and runs that do not cover the postings
    expect(() => refuse(Uint8Array.of(1, 1, 7))).toThrow(/mode 7/)
    expect(() => refuse(Uint8Array.of(1, 2, 2, 1, 1, 3))).toThrow(/do not cover/)
    expect(() => refuse(Uint8Array.of(1, 2, 2, 1, 1, 1, 0, 1, 0, 2, 0, 2))).toThrow(/cover 1 of its 2/)
    expect(() => refuse(Uint8Array.of(1, 1, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 1, 0, 1), 10, undefined)).toThrow(/out of range/)
    expect(() => refuse(Uint8Array.of(1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).toThrow(ProtocolError)
  })
})
