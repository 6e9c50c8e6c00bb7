/**
 * Index terms (DESIGN.md "Index"). One posting per
 * - element:            `e:<tag>`
 * - attribute:          `a:<name>`
 * - text node:          `t:<parent tag>` (lets `tag/text()` be answered from postings)
 * - word in a text node: `w:<token>`, in an attribute value: `w:@<token>` (tokens
 *   are letters/digits only, so `@` cannot collide; the query language counts
 *   only text nodes for contains-word, so the two must stay apart)
 * - exact short value:  `v:<tag>=<string-value>` for elements whose string-value
 *   has 1..VALUE_MAX characters, `v:@<name>=<value>` for attributes up to VALUE_MAX
 * - long value marker:  `L:<tag>` / `L:@<name>` when the value is longer, so that the
 *   evaluator knows which nodes a value term cannot decide.
 */
export const VALUE_MAX = 100

export const elementTerm = (tag: string): string => `e:${tag}`
export const attributeTerm = (name: string): string => `a:${name}`
export const textTerm = (parentTag: string): string => `t:${parentTag}`
/** Whether a term's postings are element or attribute nodes (not text, words or values). */
export const isNodeTerm = (term: string): boolean => term.startsWith('e:') || term.startsWith('a:')
export const wordTerm = (token: string): string => `w:${token}`
export const attributeWordTerm = (token: string): string => `w:@${token}`
export const elementValueTerm = (tag: string, value: string): string => `v:${tag}=${value}`
export const attributeValueTerm = (name: string, value: string): string => `v:@${name}=${value}`
export const elementValuePrefix = (tag: string): string => `v:${tag}=`
export const attributeValuePrefix = (name: string): string => `v:@${name}=`
export const elementLongTerm = (tag: string): string => `L:${tag}`
export const attributeLongTerm = (name: string): string => `L:@${name}`

/**
 * Numeric values get `N:<tag>=<key>` / `N:@<name>=<key>` postings where the
 * key is the IEEE-754 double as 16 hex digits with the sign bit flipped
 * (all bits for negatives), so byte order of terms is numeric order and a
 * range predicate is one scan over a term range.
 */
export function sortableNumber (n: number): string {
  const view = new DataView(new ArrayBuffer(8))
  view.setFloat64(0, n === 0 ? 0 : n) // -0 and 0 are one value
  let hi = view.getUint32(0); let lo = view.getUint32(4)
  if ((hi & 0x80000000) !== 0) { hi = ~hi >>> 0; lo = ~lo >>> 0 } else { hi = (hi | 0x80000000) >>> 0 }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}
export const elementNumberPrefix = (tag: string): string => `N:${tag}=`
export const attributeNumberPrefix = (name: string): string => `N:@${name}=`
