import { describe, expect, it } from 'vitest'
import { decodeHeads, encodeHeads } from '../../src/dht/head-codec.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { encodePostingList } from '../../src/dht/wire.ts'
import { PostingBuffer } from '../../src/xml-twig-index/postings/codec.ts'
import type { TermHead } from '../../src/dht/types.ts'

const list = (docs: number[]): PostingBuffer => { const b = new PostingBuffer(docs.length); for (const d of docs) b.push(d, 1, 2, 1); return b }

describe('term heads on the wire', () => {
  it('carries inline postings in one part, named by index, and reads them back', () => {
    const heads: Array<TermHead | undefined> = [
      { term: 'w:vim', ranges: [{ range: 0, postings: 2, docs: 2, inline: list([3, 7]) }, { range: 2, postings: 900, docs: 800 }] },
      undefined,
      { term: 'w:emacs', ranges: [{ range: 1, postings: 1, docs: 1, inline: list([150]) }] }
    ]
    const { heads: wire, parts } = encodeHeads(heads)
    expect(parts).toHaveLength(1)
    const back = decodeHeads(JSON.parse(JSON.stringify(wire)), parts, 100, 'test')
    expect(back[1]).toBeNull()
    expect(back[0]?.ranges[1]).toEqual({ range: 2, postings: 900, docs: 800 })
    expect(Array.from(back[0]?.ranges[0].inline?.docs ?? [])).toEqual([3, 7])
    expect(Array.from(back[2]?.ranges[0].inline?.docs ?? [])).toEqual([150])
    expect(encodeHeads([{ term: 'a', ranges: [{ range: 0, postings: 9, docs: 9 }] }]).parts).toEqual([])
  })

  it('refuses heads that lie about their inline postings, naming the term and range', () => {
    const part = (docs: number[]): Uint8Array => { const bytes = encodePostingList(list(docs)); return Uint8Array.of(bytes.length, ...bytes) }
    const bad: Array<[unknown, Uint8Array[], RegExp]> = [
      ['nope', [], /heads is not an array/],
      [[['a']], [], /head 0 has no term or ranges/],
      [[['a', [0, 1, 1, -1]]], [], /head 0 has no term or ranges/],
      [[['a', [-1, 1, 1, -1, -1]]], [], /"a" has a malformed range/],
      [[['a', [0, 1, 1, -1, 3]]], [part([1])], /"a" range 0: inline postings name list 3 of 1/],
      [[['a', [0, 1, 1, -1, 0]]], [part([1, 2])], /2 inline postings for a range of 1/],
      [[['a', [1, 5, 5, -1, 0]]], [part([3])], /outside docs \[100, 200\)/],
      [[['a', [0, 5, 5, -1, 0]]], [Uint8Array.of(200, 1, 1)], /truncated/],
      [[['a', [1, 5, 5, 250, -1]]], [], /range 1 has lastDoc 250 outside it/]
    ]
    for (const [value, parts, message] of bad) {
      const err = (() => { try { decodeHeads(value, parts, 100, 'heads from p'); return undefined } catch (e) { return e } })()
      expect(err, String(message)).toBeInstanceOf(ProtocolError)
      expect((err as Error).message).toMatch(message)
    }
  })
})
