/**
 * Word tokens, as the query language defines them for `contains-word` and
 * the index for `w:` postings: maximal runs of Unicode letters and digits,
 * lower-cased.
 */
const TOKEN = /[\p{L}\p{N}]+/gu

/** Tokens of a text in order (with repeats). */
export function tokenize (text: string): string[] {
  const out: string[] = []
  forEachToken(text, (t) => { out.push(t) })
  return out
}

/**
 * Calls `visit` for each token of `text`. An ASCII scan handles the common
 * case without a regular expression or per-token allocation beyond the
 * token itself; a text with any non-ASCII character takes the Unicode
 * regular expression (letters and digits of every script).
 */
export function forEachToken (text: string, visit: (token: string) => void): void {
  const n = text.length
  let start = -1
  let upper = false
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x80) { unicodeTokens(text, visit); return }
    const lower = c >= 97 && c <= 122
    const digit = c >= 48 && c <= 57
    const cap = c >= 65 && c <= 90
    if (lower || digit || cap) {
      if (start < 0) { start = i; upper = false }
      if (cap) upper = true
    } else if (start >= 0) {
      const t = text.slice(start, i)
      visit(upper ? t.toLowerCase() : t)
      start = -1
    }
  }
  if (start >= 0) {
    const t = text.slice(start)
    visit(upper ? t.toLowerCase() : t)
  }
}

function unicodeTokens (text: string, visit: (token: string) => void): void {
  const m = text.match(TOKEN)
  if (m == null) return
  for (const t of m) visit(t.toLowerCase())
}

/** Distinct tokens of a text, in first-occurrence order. */
export function distinctTokens (text: string): string[] {
  return [...new Set(tokenize(text))]
}
