import type { XNode, XElement } from './tree.ts'

const TEXT_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#13;' }
const ATTR_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\t': '&#9;', '\n': '&#10;', '\r': '&#13;' }

/** Escapes character data; `\r` as a reference so that it survives end-of-line normalisation. */
export function escapeText (s: string): string {
  return /[&<>\r]/.test(s) ? s.replace(/[&<>\r]/g, (c) => TEXT_ESCAPES[c]) : s
}

/** Escapes an attribute value; whitespace other than space as references so that it survives attribute-value normalisation. */
export function escapeAttribute (s: string): string {
  return /[&<>"\t\n\r]/.test(s) ? s.replace(/[&<>"\t\n\r]/g, (c) => ATTR_ESCAPES[c]) : s
}

/**
 * Serialises a node exactly (no indentation added): parsing the output gives
 * back the same tree, so structural ids computed on either agree. An
 * attribute serialises as `name="value"`, a text node as its escaped text.
 */
export function serialize (node: XNode): string {
  if (node.kind === 'text') return escapeText(node.value)
  if (node.kind === 'attribute') return `${node.name}="${escapeAttribute(node.value)}"`
  const parts: string[] = []
  writeElement(node, parts)
  return parts.join('')
}

function writeElement (root: XElement, out: string[]): void {
  // Explicit stack: documents may nest deeper than the call stack allows.
  const stack: Array<{ el: XElement, i: number }> = []
  const open = (el: XElement): boolean => {
    out.push('<', el.name)
    for (const a of el.attributes) out.push(' ', a.name, '="', escapeAttribute(a.value), '"')
    if (el.children.length === 0) { out.push('/>'); return false }
    out.push('>')
    stack.push({ el, i: 0 })
    return true
  }
  open(root)
  while (stack.length > 0) {
    const top = stack[stack.length - 1]
    if (top.i < top.el.children.length) {
      const c = top.el.children[top.i++]
      if (c.kind === 'text') out.push(escapeText(c.value))
      else open(c)
    } else {
      out.push('</', top.el.name, '>')
      stack.pop()
    }
  }
}
