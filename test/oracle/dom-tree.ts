/**
 * Builds an edos tree (xml/tree.ts) from XML through slimdom-sax-parser, the
 * parser the oracle uses, so both sides see the same nodes: whitespace-only
 * text is kept, adjacent text and CDATA merge as in the XPath data model.
 * Comments and processing instructions are dropped; test documents have
 * none (between two texts they would split what the edos tree merges).
 */
import { sync as parseSlimdom } from 'slimdom-sax-parser'
import { appendChild, element, numberTree, type XElement } from '../../src/xml-twig-index/xml/tree.ts'

interface DomLike {
  nodeType: number
  nodeName: string
  nodeValue: string | null
  childNodes: ArrayLike<DomLike>
  attributes?: ArrayLike<{ name: string, value: string }>
  documentElement?: DomLike | null
}

export function treeFromXml (xml: string): XElement {
  const doc = parseSlimdom(xml) as unknown as DomLike
  if (doc.documentElement == null) throw new Error('no root element')
  const root = convert(doc.documentElement)
  numberTree(root)
  return root
}

function convert (el: DomLike): XElement {
  const attrs: Record<string, string> = {}
  for (const a of Array.from(el.attributes ?? [])) attrs[a.name] = a.value
  const out = element(el.nodeName, attrs)
  for (const c of Array.from(el.childNodes)) {
    if (c.nodeType === 1) appendChild(out, convert(c))
    else if (c.nodeType === 3 || c.nodeType === 4) appendChild(out, c.nodeValue ?? '')
  }
  return out
}
