import { tokenize } from '../tokens.ts'
import type { XElement } from '../xml/tree.ts'
import {
  VALUE_MAX, attributeLongTerm, attributeNumberPrefix, attributeTerm, attributeValueTerm, attributeWordTerm,
  elementLongTerm, elementNumberPrefix, elementTerm, elementValueTerm, sortableNumber, textTerm, wordTerm
} from './terms.ts'
import { xsNumber } from '../query/evaluate.ts'

/**
 * Sortable key of a value that the language reads as a number (fn:number,
 * see query/evaluate.ts); a cheap reject first since most values are words.
 */
function numeric (value: string): string | undefined {
  const c = value.charCodeAt(value.length - 1)
  if (!(c >= 48 && c <= 57) && c !== 46 && c !== 70 && c !== 32 && c !== 9 && c !== 10 && c !== 13) return undefined
  const n = xsNumber(value)
  return Number.isNaN(n) ? undefined : sortableNumber(n)
}

/** Receives the postings of one document, in document order per term. */
export type PostingSink = (term: string, start: number, end: number, level: number) => void

/**
 * Emits every posting of a numbered document tree (see terms.ts). Iterative
 * post-order walk: string-values are built bottom-up, capped at VALUE_MAX + 1
 * characters since longer ones only need to be known as long.
 * Returns the number of postings emitted.
 */
export function extractPostings (root: XElement, sink: PostingSink): number {
  let count = 0
  const emit = (term: string, start: number, end: number, level: number): void => { sink(term, start, end, level); count++ }
  const seen = new Set<string>()
  const words = (text: string, attribute: boolean, start: number, level: number): void => {
    const tokens = tokenize(text)
    if (tokens.length === 0) return
    seen.clear()
    for (const t of tokens) {
      if (seen.has(t)) continue
      seen.add(t)
      emit(attribute ? attributeWordTerm(t) : wordTerm(t), start, start, level)
    }
  }
  // Frame: element, next child index, accumulated (capped) string value, its true length.
  const stack: Array<{ el: XElement, i: number, value: string, length: number }> = []
  const open = (el: XElement): void => {
    emit(elementTerm(el.name), el.start, el.end, el.level)
    for (const a of el.attributes) {
      emit(attributeTerm(a.name), a.start, a.end, a.level)
      if (a.value.length <= VALUE_MAX) {
        emit(attributeValueTerm(a.name, a.value), a.start, a.end, a.level)
        const num = numeric(a.value)
        if (num !== undefined) emit(attributeNumberPrefix(a.name) + num, a.start, a.end, a.level)
      } else emit(attributeLongTerm(a.name), a.start, a.end, a.level)
      words(a.value, true, a.start, a.level)
    }
    stack.push({ el, i: 0, value: '', length: 0 })
  }
  open(root)
  while (stack.length > 0) {
    const f = stack[stack.length - 1]
    if (f.i < f.el.children.length) {
      const c = f.el.children[f.i++]
      if (c.kind === 'text') {
        emit(textTerm(f.el.name), c.start, c.end, c.level)
        words(c.value, false, c.start, c.level)
        f.length += c.value.length
        if (f.value.length <= VALUE_MAX) f.value += c.value.slice(0, VALUE_MAX + 1 - f.value.length)
      } else {
        open(c)
      }
      continue
    }
    stack.pop()
    const el = f.el
    if (f.length > VALUE_MAX) emit(elementLongTerm(el.name), el.start, el.end, el.level)
    else if (f.length > 0) {
      emit(elementValueTerm(el.name, f.value), el.start, el.end, el.level)
      const num = numeric(f.value)
      if (num !== undefined) emit(elementNumberPrefix(el.name) + num, el.start, el.end, el.level)
    }
    const parent = stack[stack.length - 1]
    if (parent != null) {
      parent.length += f.length
      if (parent.value.length <= VALUE_MAX) parent.value += f.value.slice(0, VALUE_MAX + 1 - parent.value.length)
    }
  }
  return count
}
