import { forEachToken } from '../tokens.ts'
import type { XElement } from '../xml/tree.ts'
import { VALUE_MAX, sortableNumber } from './terms.ts'
import { xsNumber } from '../query/evaluate.ts'

/**
 * Receives the postings of one document. A term is `prefix + suffix`
 * (terms.ts): the two come apart so that a writer can key its tables by
 * the shared prefix (`e:package`, `v:section=`) and the value, and not
 * build one new string per posting.
 */
export type PostingSink = (prefix: string, suffix: string, start: number, end: number, level: number) => void

/** Term prefixes of one element or attribute name, made once per name. */
interface NamePrefixes { node: string, text: string, value: string, number: string, long: string }
const elementPrefixes = new Map<string, NamePrefixes>()
const attributePrefixes = new Map<string, NamePrefixes>()

function prefixesOf (name: string, attribute: boolean): NamePrefixes {
  const cache = attribute ? attributePrefixes : elementPrefixes
  let p = cache.get(name)
  if (p === undefined) {
    const at = attribute ? '@' : ''
    p = { node: attribute ? `a:${name}` : `e:${name}`, text: `t:${name}`, value: `v:${at}${name}=`, number: `N:${at}${name}=`, long: `L:${at}${name}` }
    if (cache.size < 10_000) cache.set(name, p) // names are few in real metadata; hostile input cannot grow this without bound
  }
  return p
}

/**
 * Sortable key of a value that the language reads as a number (fn:number,
 * see query/evaluate.ts); a cheap reject first since most values are words.
 */
function numeric (value: string): string | undefined {
  // Only digits, signs, '.', 'e'/'E', 'INF' and XML whitespace can make a number.
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || c === 46 || c === 43 || c === 45 || c === 101 || c === 69 || c === 73 || c === 78 || c === 70 || c === 32 || c === 9 || c === 10 || c === 13)) return undefined
  }
  const n = xsNumber(value)
  return Number.isNaN(n) ? undefined : sortableNumber(n)
}

/**
 * Emits every posting of a numbered document tree (see terms.ts). Iterative
 * post-order walk: string-values are built bottom-up, capped at VALUE_MAX + 1
 * characters since longer ones only need to be known as long.
 * Returns the number of postings emitted.
 */
export function extractPostings (root: XElement, sink: PostingSink): number {
  let count = 0
  // One posting per distinct token of a text node: `seen` maps a token to the last node that emitted it.
  const seen = new Map<string, number>()
  let wPrefix = ''; let wStart = 0; let wLevel = 0
  const visit = (t: string): void => {
    if (seen.get(t) === wStart) return
    seen.set(t, wStart)
    sink(wPrefix, t, wStart, wStart, wLevel)
    count++
  }
  const words = (text: string, prefix: string, start: number, level: number): void => {
    wPrefix = prefix; wStart = start; wLevel = level
    forEachToken(text, visit)
  }
  // Frame: element, its prefixes, next child index, accumulated (capped) string value, its true length.
  const stack: Array<{ el: XElement, p: NamePrefixes, i: number, value: string, length: number }> = []
  const open = (el: XElement): void => {
    const p = prefixesOf(el.name, false)
    sink(p.node, '', el.start, el.end, el.level); count++
    for (const a of el.attributes) {
      const ap = prefixesOf(a.name, true)
      sink(ap.node, '', a.start, a.end, a.level); count++
      if (a.value.length <= VALUE_MAX) {
        sink(ap.value, a.value, a.start, a.end, a.level); count++
        const num = numeric(a.value)
        if (num !== undefined) { sink(ap.number, num, a.start, a.end, a.level); count++ }
      } else {
        sink(ap.long, '', a.start, a.end, a.level); count++
      }
      words(a.value, 'w:@', a.start, a.level)
    }
    stack.push({ el, p, i: 0, value: '', length: 0 })
  }
  open(root)
  while (stack.length > 0) {
    const f = stack[stack.length - 1]
    if (f.i < f.el.children.length) {
      const c = f.el.children[f.i++]
      if (c.kind === 'text') {
        sink(f.p.text, '', c.start, c.end, c.level); count++
        words(c.value, 'w:', c.start, c.level)
        f.length += c.value.length
        if (f.value.length <= VALUE_MAX) f.value += c.value.length <= VALUE_MAX + 1 - f.value.length ? c.value : c.value.slice(0, VALUE_MAX + 1 - f.value.length)
      } else {
        open(c)
      }
      continue
    }
    stack.pop()
    const el = f.el
    if (f.length > VALUE_MAX) {
      sink(f.p.long, '', el.start, el.end, el.level); count++
    } else if (f.length > 0) {
      sink(f.p.value, f.value, el.start, el.end, el.level); count++
      const num = numeric(f.value)
      if (num !== undefined) { sink(f.p.number, num, el.start, el.end, el.level); count++ }
    }
    const parent = stack[stack.length - 1]
    if (parent != null) {
      parent.length += f.length
      if (parent.value.length <= VALUE_MAX) parent.value += f.value.slice(0, VALUE_MAX + 1 - parent.value.length)
    }
  }
  return count
}
