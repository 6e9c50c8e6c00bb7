/**
 * Word tokens, as the query language defines them for `contains-word` and
 * the index for `w:` postings: maximal runs of Unicode letters and digits,
 * lower-cased.
 */
const TOKEN = /[\p{L}\p{N}]+/gu

export function tokenize (text: string): string[] {
  const m = text.match(TOKEN)
  if (m == null) return []
  for (let i = 0; i < m.length; i++) m[i] = m[i].toLowerCase()
  return m
}

/** Distinct tokens of a text, in first-occurrence order. */
export function distinctTokens (text: string): string[] {
  return [...new Set(tokenize(text))]
}
