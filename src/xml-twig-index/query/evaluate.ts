/**
 * The reference evaluator: runs a parsed pattern over one document tree.
 * The index uses it to verify candidates that postings cannot decide and to
 * materialise answers, so it must agree exactly with an XPath 3.1 engine
 * (test/oracle) and stay cheap (microseconds on a package document).
 *
 * Semantics, where the language fixes what XPath leaves open or differs:
 * - Context: absolute (and top-level relative) paths start at the document
 *   node, a virtual parent of the root element, so `/package` matches a root
 *   named package and `//package` any package element including the root.
 *   The document node itself is never an answer (`//.` returns elements and
 *   text nodes only), since an answer needs a canonical path.
 * - `a//x` is `a/descendant-or-self::node()/x`: a step on the `descendant`
 *   axis selects proper descendants for element and text() tests, the
 *   attributes of the context or of any element below it for `@` tests, and
 *   the context plus everything below it (no attributes) for `.`.
 * - Comparisons are existential over the path's nodes (XPath general
 *   comparisons). With a string literal, `=`/`!=` compare string-values.
 *   With a number literal, each node's string-value is converted as XPath
 *   3.1 fn:number does (the xs:double lexical space after trimming XML
 *   whitespace: `12`, ` 12 `, `-3.5`, `.5`, `5.`, `+5`, `1e3`, `INF`,
 *   `-INF`; anything else, `NaN` included, is NaN). NaN satisfies `!=` and
 *   nothing else, as in XPath 1.0. XPath 3.1 itself raises FORG0001 on
 *   `size > 5` when some size is not numeric; the language defines that
 *   case instead (the oracle evaluates `size ! number(.) > 5`).
 * - contains, starts-with and contains-word are existential too: true when
 *   some node of the path satisfies them, so an empty path gives false (XPath
 *   would say contains((), "") is true, and raise on several nodes).
 * - contains-word(p, "w"): some node of p has a text with token lower(w)
 *   (tokens.ts): an element's descendant text nodes, each tokenised on its
 *   own; an attribute's value; a text node's value.
 * Predicates have no position, so a node's predicates depend on that node
 * alone: that is what lets the index check them per node (evaluateExprOn).
 */
import type { CompareExpr, Expr, FunctionExpr, NodeTest, PathExpr, Query, Step } from './ast.ts'
import { numberTree, stringValue, type XElement, type XNode } from '../xml/tree.ts'

type Leaf = CompareExpr | FunctionExpr
/** End condition of a top-level existence check: any node but the document node. */
const ANSWER = 'answer'

/** Answers of `query` on the document whose root element is `root`, in document order, without duplicates. */
export function evaluateOnDocument (query: Query, root: XElement): XNode[] {
  return evaluatePath(query.path, root)
}

/** Node set of a top-level path (absolute or not: both start at the document node). */
export function evaluatePath (path: PathExpr, root: XElement): XNode[] {
  ensureNumbered(root)
  const doc = documentNode(root)
  let current: XNode[] = [doc]
  for (const step of path.steps) {
    const next: XNode[] = []
    const candidates: XNode[] = []
    let covered = -Infinity
    for (const ctx of current) {
      // Below a context already expanded on the descendant axis, a nested
      // element context adds nothing new (current is in document order).
      if (step.axis === 'descendant' && ctx.kind === 'element') {
        if (ctx.start < covered) continue
        covered = ctx.end
      }
      candidates.length = 0
      axisNodes(step, ctx, candidates)
      for (const c of candidates) if (predicatesHold(step, c)) next.push(c)
    }
    current = inDocumentOrder(next)
    if (current.length === 0) return current
  }
  return current[0] === doc ? current.slice(1) : current
}

/** True when the pattern has at least one answer in the document (stops at the first). */
export function hasAnswer (query: Query, root: XElement): boolean {
  ensureNumbered(root)
  return someFrom(query.path.steps, 0, documentNode(root), ANSWER)
}

/**
 * Whether a predicate expression holds with `context` as the context node.
 * Relative paths start at `context`; absolute ones at its document node.
 */
export function evaluateExprOn (expr: Expr, context: XNode): boolean {
  switch (expr.type) {
    case 'and': return evaluateExprOn(expr.left, context) && evaluateExprOn(expr.right, context)
    case 'or': return evaluateExprOn(expr.left, context) || evaluateExprOn(expr.right, context)
    case 'not': return !evaluateExprOn(expr.arg, context)
    case 'path': return someFrom(expr.steps, 0, start(expr, context), null)
    default: return someFrom(expr.path.steps, 0, start(expr.path, context), expr)
  }
}

/** Whether `node` passes a step's node test and all its predicates (the axis is not checked). */
export function stepAccepts (step: Step, node: XNode): boolean {
  return testMatches(step.test, node) && predicatesHold(step, node)
}

/** Whether a node passes a node test. */
export function testMatches (test: NodeTest, n: XNode): boolean {
  switch (test.kind) {
    case 'element': return n.kind === 'element' && (test.name === '*' || n.name === test.name)
    case 'attribute': return n.kind === 'attribute' && (test.name === '*' || n.name === test.name)
    case 'text': return n.kind === 'text'
    default: return true
  }
}

/** Whether one node satisfies a comparison or function on its own (the existential step is the caller's). */
export function leafHolds (e: Leaf, n: XNode): boolean {
  if (e.type === 'function') {
    switch (e.name) {
      case 'contains': return nodeString(n).includes(e.arg)
      case 'starts-with': return nodeString(n).startsWith(e.arg)
      default: return hasWord(n, lowerArg(e))
    }
  }
  const v = e.value
  if (typeof v === 'string') {
    const s = nodeString(n)
    switch (e.op) {
      case '=': return s === v
      case '!=': return s !== v
      // Not produced by the parser; XPath 3.1 compares untyped with string as strings.
      case '<': return s < v
      case '<=': return s <= v
      case '>': return s > v
      default: return s >= v
    }
  }
  const x = xsNumber(nodeString(n))
  switch (e.op) {
    case '=': return x === v
    case '!=': return x !== v // NaN !== v is true, as XPath's NaN != v
    case '<': return x < v
    case '<=': return x <= v
    case '>': return x > v
    default: return x >= v
  }
}

const XML_WS = /^[ \t\n\r]+|[ \t\n\r]+$/g
const DOUBLE = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/

/** XPath 3.1 fn:number of a string: xs:double lexical forms, else NaN. */
export function xsNumber (s: string): number {
  const t = s.replace(XML_WS, '')
  if (DOUBLE.test(t)) return Number(t)
  if (t === 'INF' || t === '+INF') return Infinity
  if (t === '-INF') return -Infinity
  return NaN
}

function start (path: PathExpr, context: XNode): XNode {
  if (!path.absolute) return context
  let top: XNode = context
  while (top.parent != null) top = top.parent
  return top.kind === 'element' ? documentNode(top) : top
}

/**
 * The document node, as an element without a name whose only child is the
 * root (the root's parent link stays null: the tree is not touched).
 */
function documentNode (root: XElement): XElement {
  return { kind: 'element', name: '', attributes: [], children: [root], parent: null, start: root.start - 1, end: root.end + 1, level: 0 }
}

function ensureNumbered (root: XElement): void {
  if (root.end <= root.start) numberTree(root)
}

function predicatesHold (step: Step, n: XNode): boolean {
  const ps = step.predicates
  for (let i = 0; i < ps.length; i++) if (!evaluateExprOn(ps[i], n)) return false
  return true
}

/** Is there a path from ctx through steps[i..] whose last node satisfies leaf (or any node, when leaf is null)? */
function someFrom (steps: Step[], i: number, ctx: XNode, leaf: Leaf | null | typeof ANSWER): boolean {
  if (i === steps.length) return leaf === null || (leaf === ANSWER ? ctx.level > 0 : leafHolds(leaf, ctx))
  const step = steps[i]
  if (step.axis === 'self') {
    return testMatches(step.test, ctx) && predicatesHold(step, ctx) && someFrom(steps, i + 1, ctx, leaf)
  }
  if (ctx.kind !== 'element') {
    // Attributes and text nodes have no children; descendant-or-self::node() is the node itself.
    return step.axis === 'descendant' && step.test.kind === 'node' && predicatesHold(step, ctx) && someFrom(steps, i + 1, ctx, leaf)
  }
  if (step.axis === 'child') {
    const list: XNode[] = step.test.kind === 'attribute' ? ctx.attributes : ctx.children
    for (let k = 0; k < list.length; k++) {
      const c = list[k]
      if (testMatches(step.test, c) && predicatesHold(step, c) && someFrom(steps, i + 1, c, leaf)) return true
    }
    return false
  }
  const found: XNode[] = []
  axisNodes(step, ctx, found)
  for (let k = 0; k < found.length; k++) {
    const c = found[k]
    if (predicatesHold(step, c) && someFrom(steps, i + 1, c, leaf)) return true
  }
  return false
}

/** Appends, in document order, the nodes on the step's axis from ctx that pass its node test. */
function axisNodes (step: Step, ctx: XNode, out: XNode[]): void {
  const test = step.test
  if (step.axis === 'self') { if (testMatches(test, ctx)) out.push(ctx); return }
  if (ctx.kind !== 'element') {
    if (step.axis === 'descendant' && test.kind === 'node') out.push(ctx)
    return
  }
  if (step.axis === 'child') {
    const list: XNode[] = test.kind === 'attribute' ? ctx.attributes : ctx.children
    for (let k = 0; k < list.length; k++) if (testMatches(test, list[k])) out.push(list[k])
    return
  }
  // Pre-order walk with an explicit stack: documents may be deeper than the call stack.
  const stack: XNode[] = [ctx]
  while (stack.length > 0) {
    const n = stack.pop()!
    if (n.kind === 'text') { if (test.kind === 'text' || test.kind === 'node') out.push(n); continue }
    if (n.kind !== 'element') continue
    if (n === ctx) {
      if (test.kind === 'node') out.push(n)
    } else if (test.kind === 'node' || (test.kind === 'element' && (test.name === '*' || n.name === test.name))) {
      out.push(n)
    }
    if (test.kind === 'attribute') {
      for (const a of n.attributes) if (test.name === '*' || a.name === test.name) out.push(a)
    }
    const ch = n.children
    for (let k = ch.length - 1; k >= 0; k--) {
      if (ch[k].kind === 'element' || test.kind === 'text' || test.kind === 'node') stack.push(ch[k])
    }
  }
}

/** Sorts by structural id and drops duplicates, unless already strictly ordered (the usual case). */
function inDocumentOrder (nodes: XNode[]): XNode[] {
  let ordered = true
  for (let k = 1; k < nodes.length; k++) if (nodes[k - 1].start >= nodes[k].start) { ordered = false; break }
  if (ordered) return nodes
  nodes.sort((a, b) => a.start - b.start)
  let w = 0
  for (let k = 0; k < nodes.length; k++) if (w === 0 || nodes[w - 1] !== nodes[k]) nodes[w++] = nodes[k]
  nodes.length = w
  return nodes
}

function nodeString (n: XNode): string {
  if (n.kind !== 'element') return n.value
  const ch = n.children
  if (ch.length === 1 && ch[0].kind === 'text') return ch[0].value
  return ch.length === 0 ? '' : stringValue(n)
}

const lowered = new WeakMap<FunctionExpr, string>()
function lowerArg (e: FunctionExpr): string {
  let w = lowered.get(e)
  if (w === undefined) { w = e.arg.toLowerCase(); lowered.set(e, w) }
  return w
}

function hasWord (n: XNode, w: string): boolean {
  if (n.kind !== 'element') return textHasToken(n.value, w)
  const stack: XNode[] = [n]
  while (stack.length > 0) {
    const m = stack.pop()!
    if (m.kind === 'text') { if (textHasToken(m.value, w)) return true } else if (m.kind === 'element') {
      for (let k = m.children.length - 1; k >= 0; k--) stack.push(m.children[k])
    }
  }
  return false
}

const TOKEN = /[\p{L}\p{N}]+/gu
const SIGMA = /[σς]/

function textHasToken (text: string, w: string): boolean {
  // Cheap rejection: lower-casing is context-free except for the Greek
  // final sigma, so unless w has a sigma, lower(text) must contain w.
  if (!SIGMA.test(w) && !text.toLowerCase().includes(w)) return false
  TOKEN.lastIndex = 0
  for (let m = TOKEN.exec(text); m != null; m = TOKEN.exec(text)) {
    if (m[0].toLowerCase() === w) { TOKEN.lastIndex = 0; return true }
  }
  return false
}
