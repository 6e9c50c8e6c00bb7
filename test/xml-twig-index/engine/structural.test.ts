import { describe, expect, it } from 'vitest'
import { PostingBuffer, type PostingList } from '../../../src/xml-twig-index/postings/codec.ts'
import { ancestorsIn, descendantsIn, difference, intersect, union } from '../../../src/xml-twig-index/engine/structural.ts'
import { extractPostings } from '../../../src/xml-twig-index/postings/extract.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'

function lists (docs: string[]): Map<string, PostingBuffer> {
  const m = new Map<string, PostingBuffer>()
  docs.forEach((xml, i) => extractPostings(parseXml(xml), (prefix, suffix, s, e, l) => {
    const t = prefix + suffix
    if (!m.has(t)) m.set(t, new PostingBuffer())
    m.get(t)!.push(i + 1, s, e, l)
  }))
  return m
}
const rows = (l: PostingList): number[][] => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i]])

describe('structural semi-joins', () => {
  const m = lists([
    '<a><b><a><b/></a></b><c><b/></c></a>',
    '<x><b/></x>',
    '<a><c/></a>'
  ])
  const a = m.get('e:a')!; const b = m.get('e:b')!; const c = m.get('e:c')!

  it('finds children and descendants across documents', () => {
    expect(rows(descendantsIn(a, b, 'child'))).toEqual([[1, 1], [1, 3]])
    expect(rows(descendantsIn(a, b, 'descendant'))).toEqual([[1, 1], [1, 3], [1, 8]])
    expect(rows(descendantsIn(c, b, 'child'))).toEqual([[1, 8]])
  })

  it('finds parents and ancestors', () => {
    expect(rows(ancestorsIn(a, b, 'child'))).toEqual([[1, 0], [1, 2]])
    expect(rows(ancestorsIn(a, c, 'descendant'))).toEqual([[1, 0], [3, 0]])
    expect(rows(ancestorsIn(b, a, 'descendant'))).toEqual([[1, 1]])
  })

  it('combines sets', () => {
    const u = union(a, c)
    expect(u.length).toBe(a.length + c.length)
    expect(rows(intersect(u, c))).toEqual(rows(c))
    expect(rows(difference(u, c))).toEqual(rows(a))
  })
})

describe('structural joins with a small context', () => {
  it('agree with the merge join when the context is tiny', () => {
    const xml = '<r>' + Array.from({ length: 200 }, (_, i) => `<c n="${i}"><p/><c><p/></c></c>`).join('') + '</r>'
    const m = lists([xml])
    const c = m.get('e:c')!; const p = m.get('e:p')!; const r = m.get('e:r')!
    // one context node against 400 p nodes: the search path
    const first = { length: 1, docs: c.docs.subarray(0, 1), starts: c.starts.subarray(0, 1), ends: c.ends.subarray(0, 1), levels: c.levels.subarray(0, 1) }
    expect(rows(descendantsIn(first, p, 'descendant'))).toEqual([[1, 3], [1, 6]])
    expect(rows(descendantsIn(first, p, 'child'))).toEqual([[1, 3]])
    expect(rows(descendantsIn(r, p, 'descendant')).length).toBe(400)
    expect(rows(descendantsIn(r, c, 'child')).length).toBe(200)
  })
})
