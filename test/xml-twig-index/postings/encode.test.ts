import { describe, expect, it } from 'vitest'
import { ByteWriter } from '../../../src/xml-twig-index/postings/codec.ts'
import { RECORD, TermRecords, WORDS, encodeDocument, extractPostings } from '../../../src/xml-twig-index/postings/extract.ts'
import { tokenize } from '../../../src/xml-twig-index/tokens.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { element, numberTree, walk, type XElement } from '../../../src/xml-twig-index/xml/tree.ts'

/** encodeDocument's three jobs against the plain functions that do each: numberTree, serialize (UTF-8), extractPostings. */
function check (root: XElement): void {
  const xml = new ByteWriter(16)
  const out = new TermRecords(4, 4)
  encodeDocument(root, 7, xml, out)
  const ids = [...walk(root)].map((n) => `${n.start}:${n.end}:${n.level}`)
  numberTree(root)
  expect([...walk(root)].map((n) => `${n.start}:${n.end}:${n.level}`)).toEqual(ids)
  expect(Buffer.from(xml.buf.subarray(0, xml.pos))).toEqual(Buffer.from(serialize(root), 'utf8'))
  const expected: string[] = []
  extractPostings(root, (prefix, suffix, start, end, level) => { expected.push(`${prefix}${suffix} ${start}:${end}:${level}`) })
  const got: string[] = []
  let c = 0
  for (let r = 1; r < out.n; r++) {
    const o = r * RECORD
    const code = out.recs[o]
    const length = out.recs[o + 1]
    const text = String.fromCharCode(...out.chars.subarray(c, c + length))
    const at = `${out.recs[o + 2]}:${out.recs[o + 3]}:${out.recs[o + 4]}`
    // A WORDS record: a text whose words the run builder cuts.
    if (code <= WORDS) for (const w of tokenize(text)) got.push(`${out.prefixes[WORDS - code]}${w} ${at}`)
    else got.push(`${out.prefixes[code >> 1]}${text} ${at}`)
    c += length
  }
  expect(out.recs[0]).toBe(-1)
  expect(out.recs[2]).toBe(7)
  // extractPostings keeps one posting per distinct word of a node; the records leave that to the run builder.
  expect([...new Set(got)]).toEqual(expected)
}

describe('encodeDocument', () => {
  it('numbers, writes the XML and records the postings of a document with everything that needs escaping or encoding', () => {
    check(parseXml('<p a="x &amp; &lt;y&gt; &quot;q&quot; &#9;&#10;&#13;" b="3.5"><n>caf\u00E9 \u{1D49C} \uFF41 &amp;&lt;&gt;&#13;</n><e/><d><d>v</d></d><s>42</s><t>one one Two</t></p>'))
  })

  it('agrees on built trees: attributes without children, long values, deep nesting', () => {
    const long = 'word '.repeat(40)
    let deep: XElement = element('leaf', { k: 'v' }, ['end'])
    for (let i = 0; i < 50; i++) deep = element('n', { i: String(i) }, [deep, i % 2 === 0 ? 'x' : null])
    check(element('root', { long, empty: '' }, [element('empty'), long, deep, element('utf', {}, ['\u00FF\u0100\u07FF\u0800\uFFFD\u{10FFFF}'])]))
  })

  it('copies long texts and values, ASCII or not, as short ones are copied', () => {
    // 24 code units and more go through Buffer.write: a non-ASCII character anywhere, a pair, a lone surrogate.
    const texts = ['Gr\u00FC\u00DFe aus K\u00F6ln, \u{1D49C} and caf\u00E9 au lait', 'x'.repeat(30) + '\uD800', '\uDC00' + 'Plain ASCII words, 24+ long', 'A-Z and 0-9: Mixed CASE words here', 'a'.repeat(23), 'b'.repeat(24)]
    check(element('root', { v: texts[0], w: texts[4] }, texts.map((t) => element('t', { a: t }, [t]))))
  })
})
