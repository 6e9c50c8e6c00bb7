/**
 * The oracle: an independent XPath 3.1 engine (fontoxpath over a slimdom
 * document) that must return exactly what evaluateOnDocument returns.
 *
 * The pattern goes to fontoxpath as written, except for the constructs the
 * edos language defines differently from XPath 3.1 (DESIGN.md "Query
 * language"; src/xml-twig-index/query/evaluate.ts). The rewrites are
 * textual, over a small lexer of our own, so that no part of the edos parser
 * is shared with the oracle:
 *
 * 1. `contains(P, S)` / `starts-with(P, S)` become
 *    `(some $n in (P) satisfies contains($n, S))`: the language makes them
 *    existential (false on an empty P), where XPath gives contains((), "")
 *    = true and raises XPTY0004 when P has several nodes.
 * 2. `contains-word(P, W)` does not exist in XPath. It becomes a quantified
 *    expression in which XPath selects the texts (an attribute's value, a
 *    text node, or each descendant text node of an element) and a custom
 *    function Q{urn:edos}has-token tokenises one string. The tokenizer is
 *    written out here, not imported, because fontoxpath's own regex classes
 *    (`[^\p{L}\p{N}]`) mis-tokenise, and custom functions cannot take
 *    attribute nodes.
 * 3. `P op N` with a number literal N becomes `P ! number(.) op N` (and
 *    `N op P` becomes `N op P ! number(.)`): XPath 3.1 casts each string to
 *    xs:double and raises FORG0001 on a non-numeric one; the language
 *    converts it as fn:number does (NaN when not a number).
 * 4. Results: the document node is dropped (`//.`), as it has no canonical
 *    path and is never an answer.
 * 5. Results: attributes of one element are put in source order. XPath
 *    leaves their relative order to the implementation (fontoxpath sorts
 *    them by name); edos fixes it as the order of the structural ids.
 * Input: CDATA sections are turned into text before evaluation (mergeCdata).
 * Known fontoxpath deviation from XPath: it reads "1e" as the number 1
 * (xs:double says NaN). Test data avoids it.
 */
import fontoxpath from 'fontoxpath'
import { sync as parseSlimdom } from 'slimdom-sax-parser'

type DomNode = {
  nodeType: number
  nodeName: string
  parentNode: DomNode | null
  ownerElement?: DomNode | null
  attributes?: ArrayLike<DomNode>
  childNodes: ArrayLike<DomNode>
}

const EDOS_NS = 'urn:edos'
const TOKEN = /[\p{L}\p{N}]+/gu
let registered = false

/** Registers the oracle's custom function with fontoxpath (idempotent). */
export function registerOracleFunctions (): void {
  if (registered) return
  registered = true
  fontoxpath.registerCustomXPathFunction({ namespaceURI: EDOS_NS, localName: 'has-token' }, ['xs:string', 'xs:string'], 'xs:boolean',
    (_: unknown, text: string, word: string) => {
      const w = word.toLowerCase()
      for (const t of text.match(TOKEN) ?? []) if (t.toLowerCase() === w) return true
      return false
    })
}

/** Answers of `pattern` on the document `xml`, by fontoxpath, as canonical paths in document order. */
export function oracleEvaluate (pattern: string, xml: string): Array<{ path: string }> {
  registerOracleFunctions()
  const doc = parsed(xml)
  const nodes = fontoxpath.evaluateXPathToNodes(toXPath(pattern), doc) as unknown as DomNode[]
  return attributesInSourceOrder(nodes.filter((n) => n.nodeType !== 9)).map((n) => ({ path: domCanonicalPath(n) }))
}

/** Attributes of one element are adjacent in document order; sorts each such run by source position. */
function attributesInSourceOrder (nodes: DomNode[]): DomNode[] {
  const out = nodes.slice()
  for (let i = 0; i < out.length;) {
    const owner = out[i].nodeType === 2 ? out[i].ownerElement : null
    let j = i + 1
    while (owner != null && j < out.length && out[j].nodeType === 2 && out[j].ownerElement === owner) j++
    if (owner != null && j - i > 1) {
      const order = Array.from(owner.attributes ?? [])
      const run = out.slice(i, j).sort((a, b) => order.indexOf(a) - order.indexOf(b))
      out.splice(i, j - i, ...run)
    }
    i = j
  }
  return out
}

// Differential runs evaluate many patterns per document: keep the last documents parsed.
const docCache = new Map<string, unknown>()
function parsed (xml: string): unknown {
  let doc = docCache.get(xml)
  if (doc === undefined) {
    if (docCache.size >= 64) docCache.delete(docCache.keys().next().value as string)
    doc = parseSlimdom(xml)
    mergeCdata(doc as unknown as MutableDocument)
    docCache.set(xml, doc)
  }
  return doc
}

interface MutableNode {
  nodeType: number
  data?: string
  childNodes: ArrayLike<MutableNode>
  replaceChild: (n: MutableNode, old: MutableNode) => void
}
interface MutableDocument extends MutableNode {
  createTextNode: (data: string) => MutableNode
  normalize: () => void
}

/**
 * The XPath data model has no CDATA sections: their text merges with the
 * adjacent text (and xml/parse.ts does so), but fontoxpath over slimdom
 * sees separate text nodes. This fixes the input, not the language.
 */
function mergeCdata (doc: MutableDocument): void {
  const visit = (n: MutableNode): void => {
    for (const c of Array.from(n.childNodes)) {
      if (c.nodeType === 4) n.replaceChild(doc.createTextNode(c.data ?? ''), c)
      else if (c.nodeType === 1) visit(c)
    }
  }
  visit(doc)
  doc.normalize()
}

// ---------------------------------------------------------------- rewriting

interface Tok { kind: 'str' | 'num' | 'name' | 'punct', text: string, start: number, end: number }

const LEX = /\s*(?:("(?:[^"]|"")*"|'(?:[^']|'')*')|(-?(?:\d+(?:\.\d*)?|\.\d+))|([\p{L}_][\p{L}\p{N}\p{M}_.\-\u00B7]*(?::[\p{L}_][\p{L}\p{N}\p{M}_.\-\u00B7]*)?)|(\/\/|!=|<=|>=|::|[/@*.\[\]()=<>,|$!]))/uy

function lex (src: string): Tok[] {
  const out: Tok[] = []
  let pos = 0
  for (;;) {
    LEX.lastIndex = pos
    const m = LEX.exec(src)
    if (m == null) break
    const kind = m[1] != null ? 'str' : m[2] != null ? 'num' : m[3] != null ? 'name' : 'punct'
    const text = m[1] ?? m[2] ?? m[3] ?? m[4]
    out.push({ kind, text, start: pos + m[0].length - text.length, end: pos + m[0].length })
    pos += m[0].length
  }
  if (src.slice(pos).trim() !== '') throw new Error(`oracle lexer stuck at ${pos} in ${src}`)
  return out
}

const COMPARE = new Set(['=', '!=', '<', '<=', '>', '>='])
const OPERAND_END = new Set(['name', 'str', 'num'])

/** The pattern rewritten for fontoxpath (see the header). */
export function toXPath (pattern: string): string {
  const toks = lex(pattern)
  return emit(pattern, toks, 0, toks.length)
}

function emit (src: string, toks: Tok[], from: number, to: number): string {
  let out = ''
  let last = from < toks.length ? toks[from].start : src.length
  for (let k = from; k < to; k++) {
    const t = toks[k]
    out += src.slice(last, t.start)
    last = t.end
    if (t.kind === 'name' && toks[k + 1]?.text === '(' && (t.text === 'contains' || t.text === 'starts-with' || t.text === 'contains-word')) {
      const close = matching(toks, k + 1)
      const comma = topLevel(toks, k + 2, close, ',')
      const path = emit(src, toks, k + 2, comma)
      const literal = src.slice(toks[comma + 1].start, toks[close - 1].end)
      out += t.text === 'contains-word'
        ? `(some $n in (${path}) satisfies (some $t in (if ($n instance of attribute()) then string($n) else $n/descendant-or-self::text() ! string(.)) satisfies Q{${EDOS_NS}}has-token($t, ${literal})))`
        : `(some $n in (${path}) satisfies ${t.text}($n, ${literal}))`
      k = close
      last = toks[close].end
      continue
    }
    if (t.kind === 'punct' && COMPARE.has(t.text)) {
      if (toks[k + 1]?.kind === 'num') {
        out = out.trimEnd() + ' ! number(.) ' + t.text
      } else if (toks[k - 1]?.kind === 'num') {
        const end = operandEnd(toks, k + 1, to)
        out += t.text + ' ' + emit(src, toks, k + 1, end) + ' ! number(.)'
        k = end - 1
        last = toks[end - 1].end
      } else {
        out += t.text
      }
      continue
    }
    out += t.text
  }
  return out
}

function matching (toks: Tok[], open: number): number {
  let depth = 0
  for (let k = open; k < toks.length; k++) {
    const t = toks[k].text
    if (toks[k].kind !== 'punct') continue
    if (t === '(' || t === '[') depth++
    else if (t === ')' || t === ']') { if (--depth === 0) return k }
  }
  throw new Error('oracle: unbalanced pattern')
}

function topLevel (toks: Tok[], from: number, to: number, text: string): number {
  let depth = 0
  for (let k = from; k < to; k++) {
    const t = toks[k]
    if (t.kind !== 'punct') continue
    if (t.text === '(' || t.text === '[') depth++
    else if (t.text === ')' || t.text === ']') depth--
    else if (depth === 0 && t.text === text) return k
  }
  throw new Error(`oracle: no top-level '${text}'`)
}

/**
 * End (exclusive) of the path operand that starts at `from`: the first
 * token at bracket depth 0 that cannot continue a path. `and`/`or` are
 * operators only after a complete operand (`a/and` is a step named and).
 */
function operandEnd (toks: Tok[], from: number, to: number): number {
  let depth = 0
  for (let k = from; k < to; k++) {
    const t = toks[k]
    if (t.kind === 'punct') {
      if (t.text === '(' || t.text === '[') { depth++; continue }
      if (t.text === ')' || t.text === ']') { if (depth === 0) return k; depth--; continue }
      if (depth === 0 && (t.text === ',' || COMPARE.has(t.text))) return k
      continue
    }
    if (depth === 0 && t.kind === 'name' && (t.text === 'and' || t.text === 'or') && k > from) {
      const prev = toks[k - 1]
      if (OPERAND_END.has(prev.kind) || prev.text === '*' || prev.text === '.' || prev.text === ')' || prev.text === ']') return k
    }
  }
  return to
}

// ---------------------------------------------------------------- canonical paths

/** canonical-path.ts, on DOM nodes: positions among same-named element siblings, text() among text siblings, @name. */
export function domCanonicalPath (node: DomNode): string {
  const steps: string[] = []
  let n: DomNode | null = node
  while (n != null && n.nodeType !== 9) {
    if (n.nodeType === 2) {
      steps.push('@' + n.nodeName)
      n = n.ownerElement ?? null
      continue
    }
    const parent: DomNode | null = n.parentNode
    const isText = n.nodeType === 3 || n.nodeType === 4
    let pos = 1
    if (parent != null && parent.nodeType !== 9) {
      pos = 0
      for (const s of Array.from(parent.childNodes)) {
        const sText = s.nodeType === 3 || s.nodeType === 4
        if (isText ? sText : (s.nodeType === 1 && s.nodeName === n.nodeName)) pos++
        if (s === n) break
      }
    }
    steps.push(`${isText ? 'text()' : n.nodeName}[${pos}]`)
    n = parent
  }
  return '/' + steps.reverse().join('/')
}
