import { describe, expect, it } from 'vitest'
import { parseXml, decodeUtf8 } from '../../../src/xml-twig-index/xml/parse.ts'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { canonicalPath } from '../../../src/xml-twig-index/xml/canonical-path.ts'
import { element, numberTree, walk, nodeAt, stringValue, textElement } from '../../../src/xml-twig-index/xml/tree.ts'
import { XmlParseError } from '../../../src/xml-twig-index/errors.ts'

function parseError (xml: string): XmlParseError {
  try { parseXml(xml, { where: 'doc.xml' }) } catch (err) { if (err instanceof XmlParseError) return err; throw err }
  throw new Error('expected an XmlParseError')
}

describe('parseXml', () => {
  it('builds the XPath data model with structural ids', () => {
    const root = parseXml('<?xml version="1.0"?><!-- c --><p a="1&amp;2"><n>x &lt; y</n> <d/>t<![CDATA[q<]]>u<n>z</n></p>')
    const nodes = [...walk(root)]
    expect(nodes.map((n) => canonicalPath(n))).toEqual([
      '/p[1]', '/p[1]/@a', '/p[1]/n[1]', '/p[1]/n[1]/text()[1]', '/p[1]/text()[1]', '/p[1]/d[1]', '/p[1]/text()[2]', '/p[1]/n[2]', '/p[1]/n[2]/text()[1]'
    ])
    // CDATA merges with the text around it, as in XPath.
    expect(nodes[6]).toMatchObject({ kind: 'text', value: 'tq<u' })
    for (const n of nodes) {
      if (n.parent == null) continue
      expect(n.parent.start < n.start && n.start < n.parent.end).toBe(true)
      expect(n.level).toBe(n.parent.level + 1)
    }
    expect(nodeAt(root, nodes[7].start)).toBe(nodes[7])
    expect(stringValue(root)).toBe('x < y tq<uz')
  })

  it('round-trips through serialize with identical ids', () => {
    const xml = '<a x="tab&#9;nl&#10;cr&#13;q&quot;">line1&#13;\nline2 &amp; <b y="&lt;"/>é😀</a>'
    const a = parseXml(xml)
    const b = parseXml(serialize(a))
    expect(serialize(b)).toBe(serialize(a))
    expect([...walk(b)].map((n) => [n.kind, n.start, n.end, n.level])).toEqual([...walk(a)].map((n) => [n.kind, n.start, n.end, n.level]))
    expect(a.attributes[0].value).toBe('tab\tnl\ncr\rq"')
  })

  it('numbers builder trees like parsed ones', () => {
    const built = element('package', {}, [textElement('name', 'vim'), element('depends', {}, [element('dep', { name: 'libc6', op: '>=' })])])
    numberTree(built)
    const parsed = parseXml(serialize(built))
    expect([...walk(parsed)].map((n) => n.start)).toEqual([...walk(built)].map((n) => n.start))
  })

  it.each([
    ['<a><b></a>', /does not match start tag 'b'.*line 1, column 7/],
    ['<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>', /DTDs and entity declarations are not allowed/],
    ['<a>&e;</a>', /undefined entity '&e;'/],
    ['<a>&#0;</a>', /invalid character reference/],
    ['<a/><b/>', /second root element/],
    ['<a', /unterminated start tag 'a'/],
    ['<a b="1" b="2"/>', /duplicate attribute 'b'/],
    ['<a>\u0001</a>', /U\+0001 is not allowed/],
    ['<a>\n  <b>\n</a>', /line 3, column 1/],
    ['', /no root element/],
    ['text', /expected the root element/],
    ['<a>x</a>junk', /text after the root element/],
    ['<a b=1/>', /expected a quoted value/],
    ['<a><!-- x -- y --></a>', /'--' is not allowed/]
  ])('rejects %j with a clear, positioned error', (xml, message) => {
    const err = parseError(xml)
    expect(err.code).toBe('ERR_XML_PARSE')
    expect(err.message).toMatch(message)
    expect(err.message).toMatch(/^doc\.xml: /)
  })

  it('refuses 10,000-deep nesting cleanly (no stack overflow)', () => {
    const deep = '<a>'.repeat(10_000) + '</a>'.repeat(10_000)
    expect(parseError(deep).message).toMatch(/nested deeper than 512/)
    // and accepts it when allowed, without recursion
    const root = parseXml(deep, { maxDepth: 20_000 })
    expect(root.end).toBe(19_999)
  })

  it('refuses a 100 MB text node by the size bound', () => {
    const huge = '<a>' + 'x'.repeat(100 * 1024 * 1024) + '</a>'
    expect(parseError(huge).message).toMatch(/exceeds the limit/)
  })

  it('names the byte offset of invalid UTF-8', () => {
    const bytes = new Uint8Array([...new TextEncoder().encode('<a>ok'), 0xff, ...new TextEncoder().encode('</a>')])
    expect(() => decodeUtf8(bytes, 'bad.xml')).toThrow(/bad.xml: invalid UTF-8 at byte 5/)
  })
})
