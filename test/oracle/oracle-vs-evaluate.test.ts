import { describe, expect, it } from 'vitest'
import { evaluateOnDocument, parseQuery } from '../../src/xml-twig-index/query/index.ts'
import { canonicalPath } from '../../src/xml-twig-index/xml/canonical-path.ts'
import { parseXml } from '../../src/xml-twig-index/xml/parse.ts'
import { DOCUMENTS } from './documents.ts'
import { treeFromXml } from './dom-tree.ts'
import { oracleEvaluate, toXPath } from './fontoxpath-oracle.ts'
import { DIFFERENTIAL_PATTERNS } from './patterns.ts'
import { mulberry32, randomPattern } from './random-patterns.ts'

const trees = DOCUMENTS.map(([label, xml]) => ({ label, xml, tree: treeFromXml(xml) }))

describe('evaluateOnDocument agrees with fontoxpath', () => {
  it('has enough patterns and documents', () => {
    expect(DIFFERENTIAL_PATTERNS.length).toBeGreaterThanOrEqual(40)
    expect(DOCUMENTS.length).toBeGreaterThanOrEqual(30)
  })

  it.each(DIFFERENTIAL_PATTERNS)('%s', (pattern) => {
    const q = parseQuery(pattern)
    let answered = 0
    for (const { label, xml, tree } of trees) {
      const ours = evaluateOnDocument(q, tree).map(canonicalPath)
      const oracle = oracleEvaluate(pattern, xml).map((r) => r.path)
      expect(ours, `${label}: ${toXPath(pattern)}`).toEqual(oracle)
      if (ours.length > 0) answered++
    }
    // Every pattern but the deliberately empty ones selects something somewhere.
    if (!pattern.includes('daemon')) expect(answered, 'documents with answers').toBeGreaterThan(0)
  })

  it('gives the same answers on the trees of xml/parse.ts as on the oracle-side trees', () => {
    for (const pattern of DIFFERENTIAL_PATTERNS) {
      const q = parseQuery(pattern)
      for (const { label, xml, tree } of trees) {
        const viaParser = evaluateOnDocument(q, parseXml(xml)).map(canonicalPath)
        expect(viaParser, `${label}: ${pattern}`).toEqual(evaluateOnDocument(q, tree).map(canonicalPath))
      }
    }
  })
})

describe('oracle rewrites', () => {
  it('leaves plain XPath alone', () => {
    const p = '//package[section = "editors"][.//dep/@name = "libc6"]/name'
    expect(toXPath(p)).toBe(p)
  })
  it('makes string functions existential', () => {
    expect(toXPath('//p[contains(a/b, "x")]')).toBe('//p[(some $n in (a/b) satisfies contains($n, "x"))]')
    expect(toXPath("//p[starts-with(., 'x')]")).toBe("//p[(some $n in (.) satisfies starts-with($n, 'x'))]")
  })
  it('converts numeric comparisons with number() on either side', () => {
    expect(toXPath('//p[size > 5]')).toBe('//p[size ! number(.) > 5]')
    expect(toXPath('//p[5 < a/b[c = 1] and d]')).toBe('//p[5 < a/b[c ! number(.) = 1] ! number(.) and d]')
    expect(toXPath('//p[-1.5 = x/and]')).toBe('//p[-1.5 = x/and ! number(.)]')
  })
  it('nests rewrites inside function arguments', () => {
    expect(toXPath('//p[contains(a[n > 1], "x")]')).toBe('//p[(some $n in (a[n ! number(.) > 1]) satisfies contains($n, "x"))]')
  })
})

describe('random patterns agree with fontoxpath', () => {
  const rnd = mulberry32(20070923)
  const patterns = Array.from({ length: 250 }, () => randomPattern(rnd))
  const sample = trees.filter((_, i) => i % 3 === 0 || i >= trees.length - 4)
  it.each(patterns.map((p, i) => [i, p]))('#%i %s', (_, pattern) => {
    const q = parseQuery(pattern as string)
    for (const { label, xml, tree } of sample) {
      const ours = evaluateOnDocument(q, tree).map(canonicalPath)
      expect(ours, `${label}: ${toXPath(pattern as string)}`).toEqual(oracleEvaluate(pattern as string, xml).map((r) => r.path))
    }
  })
})
