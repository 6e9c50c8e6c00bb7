import { attributeLongTerm, attributeNumberPrefix, attributeValuePrefix, elementLongTerm, elementNumberPrefix, elementValuePrefix, sortableNumber } from '../postings/terms.ts'
import type { TermRange } from './source.ts'

/**
 * Term ranges that answer a value test on the nodes named `name` (`tag` or
 * `@attr`): a numeric range over `N:` terms, a prefix over `v:` terms.
 * The planner uses them to find candidate documents and the evaluator to
 * join; one label names one range so both share a single scan.
 */
export interface ValueRange { label: string, range: TermRange, long: string }

function prefixes (name: string): { number: string, value: string, long: string } {
  if (name.startsWith('@')) {
    const a = name.slice(1)
    return { number: attributeNumberPrefix(a), value: attributeValuePrefix(a), long: attributeLongTerm(a) }
  }
  return { number: elementNumberPrefix(name), value: elementValuePrefix(name), long: elementLongTerm(name) }
}

/** Nodes whose value compares to the number `n` by `op` (`<`, `<=`, `>`, `>=`). */
export function numericRange (name: string, op: '<' | '<=' | '>' | '>=', n: number): ValueRange {
  const p = prefixes(name)
  const key = p.number + sortableNumber(n)
  const range: TermRange = { prefix: p.number }
  if (op === '<') range.lt = key
  else if (op === '<=') range.lte = key
  else if (op === '>') range.gt = key
  else range.gte = key
  return { label: `${p.number}* ${op} ${n}`, range, long: p.long }
}

/** Nodes whose (short) value starts with `s`. */
export function prefixRange (name: string, s: string): ValueRange {
  const p = prefixes(name)
  return { label: `${p.value}${s}*`, range: { prefix: p.value + s }, long: p.long }
}
