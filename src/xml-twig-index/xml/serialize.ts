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

/** Escape of each ASCII code unit in text (`TEXT`) or attribute values (`ATTRIBUTE`), as UTF-8 bytes; undefined: written as is. */
const asciiEscapes = (table: Record<string, string>): Array<Uint8Array | undefined> =>
  Array.from({ length: 128 }, (_, c) => table[String.fromCharCode(c)] === undefined ? undefined : Buffer.from(table[String.fromCharCode(c)], 'latin1'))
const TEXT_BYTES = asciiEscapes(TEXT_ESCAPES)
const ATTRIBUTE_BYTES = asciiEscapes(ATTR_ESCAPES)
/** 1 for each ASCII code unit written as is: one typed-array load per character on the common path. */
const plain = (escapes: Array<Uint8Array | undefined>): Uint8Array => Uint8Array.from(escapes, (e) => (e === undefined ? 1 : 0))
const TEXT_PLAIN = plain(TEXT_BYTES)
const ATTRIBUTE_PLAIN = plain(ATTRIBUTE_BYTES)

const TEXT_SPECIAL = /[&<>\r]/
const ATTRIBUTE_SPECIAL = /[&<>"\t\n\r]/
const encoder = new TextEncoder()
/** Length from which a string is scanned and encoded natively (below, the calls cost more than the loop). */
const NATIVE_FROM = 32

/** What writeEscaped writes into: a growable byte buffer (postings/codec.ts, ByteWriter). */
export interface ByteSink { buf: Uint8Array, pos: number, ensure: (n: number) => void }

/**
 * Writes `s` escaped as serialize() escapes text (or an attribute value),
 * encoded as UTF-8 (a lone surrogate as U+FFFD, as TextEncoder does), to
 * `w`: the bytes of serialize()'s output without making its string.
 */
export function writeEscaped (w: ByteSink, s: string, attribute: boolean): void {
  const n = s.length
  // At most 6 bytes a code unit: `&quot;`; UTF-8 needs at most 3 (4 for a pair).
  w.ensure(n * 6)
  const buf = w.buf
  let pos = w.pos
  // Long texts without a character to escape (descriptions): the native encoder, after a native scan.
  if (n >= NATIVE_FROM && !(attribute ? ATTRIBUTE_SPECIAL : TEXT_SPECIAL).test(s)) {
    w.pos = pos + encoder.encodeInto(s, buf.subarray(pos)).written
    return
  }
  const escapes = attribute ? ATTRIBUTE_BYTES : TEXT_BYTES
  const asIs = attribute ? ATTRIBUTE_PLAIN : TEXT_PLAIN
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      if (asIs[c] === 1) { buf[pos++] = c; continue }
      const e = escapes[c]!
      for (let k = 0; k < e.length; k++) buf[pos++] = e[k]
    } else if (c < 0x800) {
      buf[pos++] = 0xc0 | (c >> 6); buf[pos++] = 0x80 | (c & 0x3f)
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0
      if (d >= 0xdc00 && d <= 0xdfff) {
        const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00)
        buf[pos++] = 0xf0 | (cp >> 18); buf[pos++] = 0x80 | ((cp >> 12) & 0x3f); buf[pos++] = 0x80 | ((cp >> 6) & 0x3f); buf[pos++] = 0x80 | (cp & 0x3f)
        i++
      } else {
        buf[pos++] = 0xef; buf[pos++] = 0xbf; buf[pos++] = 0xbd
      }
    } else {
      buf[pos++] = 0xe0 | (c >> 12); buf[pos++] = 0x80 | ((c >> 6) & 0x3f); buf[pos++] = 0x80 | (c & 0x3f)
    }
  }
  w.pos = pos
}
