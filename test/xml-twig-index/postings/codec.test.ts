import { describe, expect, it } from 'vitest'
import { PostingBuffer, decodeBlock, encodeBlock, CorruptBlockError } from '../../../src/xml-twig-index/postings/codec.ts'
import { extractPostings } from '../../../src/xml-twig-index/postings/extract.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { sortableNumber } from '../../../src/xml-twig-index/postings/terms.ts'

describe('posting codec', () => {
  it('round-trips postings with doc and start deltas', () => {
    const b = new PostingBuffer()
    const rows = [[5, 0, 20, 1], [5, 3, 3, 2], [5, 7, 9, 2], [9, 0, 4, 1], [70000, 123456, 123999, 7]]
    for (const r of rows) b.push(r[0], r[1], r[2], r[3])
    const bytes = encodeBlock(b, 0, b.length, 5)
    const out = new PostingBuffer()
    expect(decodeBlock(bytes, 0, 5, out)).toBe(bytes.length)
    expect(Array.from({ length: out.length }, (_, i) => [out.docs[i], out.starts[i], out.ends[i], out.levels[i]])).toEqual(rows)
    const some = new PostingBuffer()
    decodeBlock(bytes, 0, 5, some, (d) => d === 9)
    expect(some.length).toBe(1)
  })

  it('reports a truncated block instead of returning garbage', () => {
    const b = new PostingBuffer(); b.push(1, 300, 400, 2)
    const bytes = encodeBlock(b, 0, 1, 0)
    expect(() => decodeBlock(bytes.subarray(0, bytes.length - 2), 0, 0, new PostingBuffer())).toThrow(CorruptBlockError)
  })
})

describe('extractPostings', () => {
  it('emits element, attribute, text, word, value and number terms', () => {
    const root = parseXml('<package><name>vim</name><size>1568412</size><description>Vim is an editor. Vim!</description><depends><dep name="libc6" op="&gt;="/></depends></package>')
    const terms: string[] = []
    extractPostings(root, (p, s) => terms.push(p + s))
    expect(terms).toEqual(expect.arrayContaining([
      'e:package', 'e:name', 't:name', 'w:vim', 'v:name=vim', 'v:size=1568412', `N:size=${sortableNumber(1568412)}`,
      'w:editor', 'a:name', 'v:@name=libc6', 'w:@libc6', 'v:@op=>='
    ]))
    // a word appears once per text node; the description's value is short here
    expect(terms.filter((t) => t === 'w:vim').length).toBe(2) // name text + description text
    expect(terms).not.toContain('e:text')
  })

  it('marks long values instead of indexing them', () => {
    const root = parseXml(`<p><d>${'word '.repeat(30)}</d></p>`)
    const terms: string[] = []
    extractPostings(root, (p, s) => terms.push(p + s))
    expect(terms).toContain('L:d')
    expect(terms).toContain('L:p')
    expect(terms.some((t) => t.startsWith('v:d='))).toBe(false)
  })

  it('orders numeric keys like numbers', () => {
    const values = [-1e9, -2.5, -1, 0, 0.5, 1, 2, 10, 1568412, 1e12]
    const keys = values.map(sortableNumber)
    expect([...keys].sort()).toEqual(keys)
    expect(sortableNumber(-Infinity) < sortableNumber(-1e300)).toBe(true)
    expect(sortableNumber(Infinity) > sortableNumber(1e300)).toBe(true)
  })
})
