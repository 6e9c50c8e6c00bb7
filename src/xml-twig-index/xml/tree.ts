/**
 * The XML data model of edos documents: elements, attributes and text nodes
 * (XPath's data model restricted to what metadata documents use: no
 * comments, processing instructions or namespaces nodes are kept).
 *
 * Structural ids: one counter walks the document in document order. An
 * element takes `start` when it opens, then its attributes and children take
 * theirs, and it takes `end` when it closes. Attributes and text nodes are
 * leaves with `start === end`. So `d` is a descendant (or attribute) of `a`
 * exactly when `a.start < d.start && d.start < a.end`, and a child when in
 * addition `d.level === a.level + 1`. The root element has level 1.
 */
export interface XElement {
  kind: 'element'
  name: string
  attributes: XAttribute[]
  children: XChild[]
  parent: XElement | null
  start: number
  end: number
  level: number
}

export interface XAttribute {
  kind: 'attribute'
  name: string
  value: string
  parent: XElement | null
  start: number
  end: number
  level: number
}

export interface XText {
  kind: 'text'
  value: string
  parent: XElement | null
  start: number
  end: number
  level: number
}

export type XChild = XElement | XText
export type XNode = XElement | XAttribute | XText

/** Creates an element; children and attributes get their parent links. Ids come from {@link numberTree}. */
export function element (name: string, attributes: Record<string, string | undefined> | XAttribute[] = [], children: Array<XChild | string | null | undefined> = []): XElement {
  const el: XElement = { kind: 'element', name, attributes: [], children: [], parent: null, start: 0, end: 0, level: 0 }
  if (Array.isArray(attributes)) {
    for (const a of attributes) { a.parent = el; el.attributes.push(a) }
  } else {
    for (const [k, v] of Object.entries(attributes)) {
      if (v != null) el.attributes.push({ kind: 'attribute', name: k, value: v, parent: el, start: 0, end: 0, level: 0 })
    }
  }
  for (const c of children) appendChild(el, c)
  return el
}

/**
 * Appends a child, keeping the tree normalised as XPath sees it: no empty
 * text nodes and no two adjacent text nodes (they are merged).
 */
export function appendChild (parent: XElement, child: XChild | string | null | undefined): void {
  if (child == null) return
  if (typeof child === 'string') {
    if (child === '') return
    const last = parent.children[parent.children.length - 1]
    if (last?.kind === 'text') { last.value += child; return }
    parent.children.push({ kind: 'text', value: child, parent, start: 0, end: 0, level: 0 })
    return
  }
  if (child.kind === 'text') {
    appendChild(parent, child.value)
    return
  }
  child.parent = parent
  parent.children.push(child)
}

/** Element with a single text child (or none when the text is empty). */
export function textElement (name: string, text: string | number | undefined | null, attributes: Record<string, string | undefined> = {}): XElement {
  return element(name, attributes, text == null ? [] : [String(text)])
}

/**
 * Assigns structural ids (start, end, level) in document order. Iterative so
 * that deep documents cannot overflow the call stack. Returns the next free id.
 */
export function numberTree (root: XElement, firstId = 0): number {
  let next = firstId
  const stack: Array<{ el: XElement, i: number }> = []
  const open = (el: XElement, level: number): void => {
    el.start = next++
    el.level = level
    for (const a of el.attributes) {
      a.start = a.end = next++
      a.level = level + 1
      a.parent = el
    }
    stack.push({ el, i: 0 })
  }
  open(root, 1)
  while (stack.length > 0) {
    const top = stack[stack.length - 1]
    if (top.i < top.el.children.length) {
      const c = top.el.children[top.i++]
      c.parent = top.el
      if (c.kind === 'text') {
        c.start = c.end = next++
        c.level = top.el.level + 1
      } else {
        open(c, top.el.level + 1)
      }
    } else {
      top.el.end = next++
      stack.pop()
    }
  }
  return next
}

/** XPath string-value of a node: an element's is the concatenation of its descendant text. */
export function stringValue (node: XNode): string {
  if (node.kind !== 'element') return node.value
  let out = ''
  const stack: XChild[] = [node]
  while (stack.length > 0) {
    const n = stack.pop()!
    if (n.kind === 'text') out += n.value
    else for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i])
  }
  return out
}

/** Visits every node in document order (elements, then their attributes, then children). */
export function * walk (root: XElement): Generator<XNode> {
  const stack: XNode[] = [root]
  while (stack.length > 0) {
    const n = stack.pop()!
    yield n
    if (n.kind === 'element') {
      for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i])
      for (let i = n.attributes.length - 1; i >= 0; i--) stack.push(n.attributes[i])
    }
  }
}

/** Finds the node with structural id `start` (binary descent through the tree). */
export function nodeAt (root: XElement, start: number): XNode | undefined {
  let el: XElement = root
  for (;;) {
    if (el.start === start) return el
    if (start < el.start || start > el.end) return undefined
    for (const a of el.attributes) if (a.start === start) return a
    let next: XElement | undefined
    for (const c of el.children) {
      if (c.kind === 'text') { if (c.start === start) return c; continue }
      if (c.start <= start && start <= c.end) { next = c; break }
    }
    if (next == null) return undefined
    el = next
  }
}
