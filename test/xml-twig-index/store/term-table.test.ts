import { describe, expect, it } from 'vitest'
import { TermTable } from '../../../src/xml-twig-index/store/term-table.ts'

/** Interns prefix id `p` + `suffix` through the record-buffer path: its UTF-16 code units in a Uint16Array. */
function intern (table: TermTable, p: number, suffix: string): number {
  if (suffix === '') return table.bareTerm(p)
  const units = new Uint16Array(suffix.length)
  for (let i = 0; i < suffix.length; i++) units[i] = suffix.charCodeAt(i)
  return table.term(p, units, 0, units.length)
}

describe('TermTable', () => {
  it('tells apart ASCII and non-ASCII suffixes of one length, and finds each again', () => {
    const table = new TermTable(2, 16) // tiny reservations: the arrays grow as terms come
    table.prefixes(['w:', 'v:name='])
    const suffixes = ['abc', 'abé', 'ébc', 'ab\u00ff', 'abd', '\ud83d\ude00x', 'x\ud83d', '', 'ab', 'abcd']
    const ids = new Map<string, number>()
    for (const p of [0, 1]) for (const s of suffixes) ids.set(`${p}|${s}`, intern(table, p, s))
    expect(new Set(ids.values()).size).toBe(suffixes.length * 2)
    for (const p of [0, 1]) {
      for (const s of suffixes) {
        const t = intern(table, p, s)
        expect(t).toBe(ids.get(`${p}|${s}`))
        // A lone surrogate is written as U+FFFD, as Buffer and TextEncoder do.
        expect(table.text(t)).toBe(Buffer.from(['w:', 'v:name='][p] + s, 'utf8').toString('utf8'))
      }
    }
  })

  it('keeps every term through growth of its arrays and hash slots', () => {
    const table = new TermTable(4, 32)
    table.prefixes(['w:'])
    const words = Array.from({ length: 20_000 }, (_, i) => (i % 7 === 0 ? `ü${i}` : `w${i}`))
    const ids = words.map((w) => intern(table, 0, w))
    expect(table.count).toBe(words.length)
    words.forEach((w, i) => { expect(intern(table, 0, w)).toBe(ids[i]); expect(table.text(ids[i])).toBe(`w:${w}`) })
  })

  it('sorts terms in byte order, long shared prefixes and terms that are prefixes of others included', () => {
    const table = new TermTable(4, 32)
    table.prefixes(['v:location=pool/main/', 'w:', 'v:name='])
    const terms: Array<[number, string]> = []
    // Groups far above the insertion sort's 16 terms, sharing up to ~40 bytes, some of them prefixes of others, non-ASCII too.
    for (let i = 0; i < 300; i++) terms.push([0, `libs/lib${i % 30}/lib${i % 30}-dev_1.${i}_amd64.deb`])
    for (let i = 0; i < 300; i++) terms.push([0, `libs/lib${i % 30}/lib${i % 30}-dev_1.${i}`])
    for (let i = 0; i < 200; i++) terms.push([1, 'x'.repeat(i % 50) + (i >= 50 ? String(i) : '')])
    for (let i = 0; i < 100; i++) terms.push([2, `na\u00efve-${i}`], [2, `naive-${i}`])
    terms.push([0, ''], [1, ''], [2, ''])
    const ids = [...new Set(terms.map(([p, s]) => intern(table, p, s)))]
    const sorted = Uint32Array.from(ids.reverse())
    table.sort(sorted, sorted.length)
    const bytes = Array.from(sorted, (t) => Buffer.from(table.text(t), 'utf8'))
    const expected = [...bytes].sort(Buffer.compare)
    expect(bytes.map((b) => b.toString('latin1'))).toEqual(expected.map((b) => b.toString('latin1')))
  })
})
