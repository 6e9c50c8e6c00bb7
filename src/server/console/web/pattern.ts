/**
 * The structured query form's compiler and the helpers that show a pattern
 * error where it is. DOM-free, so unit tests run it in Node as it runs in the
 * browser. The output follows the peer's own compileFilter (src/roles/
 * querying.ts) so a person who learns the language from the form sees the
 * patterns the peer would write; the browser cannot import that module (it
 * pulls in the index), hence this small twin, checked against it in tests.
 */

/** What the structured form asks for. Empty strings count as not given. */
export interface PatternForm {
  /** Exact package name; a trailing `*` means "starts with". */
  name?: string
  section?: string
  /** Free text: every word (index token) must be in the summary or description. */
  words?: string
  /** Depends (or pre-depends) on a package of this name. */
  depends?: string
  /** Answer step: the package documents themselves, or one field of each. */
  select?: PatternSelect
}

export const PATTERN_SELECTS = ['package', 'name', 'version', 'summary', 'size'] as const
export type PatternSelect = typeof PATTERN_SELECTS[number]

export class PatternFormError extends Error {
  readonly code = 'ERR_PATTERN_FORM'
  constructor (message: string, readonly field: keyof PatternForm) {
    super(message)
    this.name = 'PatternFormError'
  }
}

/** A string literal of the language: double quotes unless the text holds one; doubled quotes when it holds both. */
export function literal (s: string): string {
  if (!s.includes('"')) return `"${s}"`
  if (!s.includes("'")) return `'${s}'`
  return `"${s.replace(/"/g, '""')}"`
}

/** Index tokens: maximal runs of Unicode letters and digits, lower-cased (DESIGN.md, "Query language"). */
export function tokens (text: string): string[] {
  return (text.match(/[\p{L}\p{N}]+/gu) ?? []).map((t) => t.toLowerCase())
}

const given = (s: string | undefined): string | undefined => {
  const t = s?.trim()
  return t === undefined || t === '' ? undefined : t
}

/**
 * The tree pattern of a form: `/package` with one predicate per field
 * (`[a][b]` is `and`), then the selected field's step. A form with no field
 * selects every package.
 */
export function buildPattern (form: PatternForm): string {
  const p: string[] = []
  const name = given(form.name)
  if (name !== undefined) {
    if (name.endsWith('*')) {
      const prefix = name.slice(0, -1)
      if (prefix === '' || prefix.includes('*')) throw new PatternFormError(`name: '*' only works at the end of a prefix, as in 'lib*' (got '${name}')`, 'name')
      p.push(`starts-with(name, ${literal(prefix)})`)
    } else {
      if (name.includes('*')) throw new PatternFormError(`name: '*' only works at the end of a prefix, as in 'lib*' (got '${name}')`, 'name')
      p.push(`name = ${literal(name)}`)
    }
  }
  const section = given(form.section)
  if (section !== undefined) p.push(`section = ${literal(section)}`)
  const words = given(form.words)
  if (words !== undefined) {
    const ts = [...new Set(tokens(words))]
    if (ts.length === 0) throw new PatternFormError(`words: '${words}' has no letter or digit to search for`, 'words')
    for (const t of ts) p.push(`contains-word(description, ${literal(t)}) or contains-word(summary, ${literal(t)})`)
  }
  const depends = given(form.depends)
  if (depends !== undefined) p.push(`.//depends//dep/@name = ${literal(depends)} or .//preDepends//dep/@name = ${literal(depends)}`)
  const select = form.select ?? 'package'
  if (!PATTERN_SELECTS.includes(select)) throw new PatternFormError(`select: expected one of ${PATTERN_SELECTS.join(', ')}, got '${String(select)}'`, 'select')
  return '/package' + p.map((x) => `[${x}]`).join('') + (select === 'package' ? '' : `/${select}`)
}

/** A pattern error as the peer reports it (GraphQL `extensions` of BAD_USER_INPUT). */
export interface PatternError {
  message: string
  /** 0-based offset into the pattern, when the parser knows it. */
  position?: number
  expected?: string
}

/** The first line of the peer's message (the rest repeats the pattern with a caret, which the console draws itself). */
export function headline (message: string): string {
  return message.split('\n')[0]
}

/**
 * Where to draw the caret: the text before, the character at (a space past
 * the end, so the mark is visible) and after, plus the 1-based line and column.
 */
export function caretAt (pattern: string, position: number): { before: string, at: string, after: string, line: number, column: number } {
  const pos = Math.max(0, Math.min(Math.trunc(position), pattern.length))
  const before = pattern.slice(0, pos)
  const lines = before.split('\n')
  return {
    before,
    at: pos < pattern.length ? pattern[pos] : ' ',
    after: pattern.slice(pos + 1),
    line: lines.length,
    column: lines[lines.length - 1].length + 1
  }
}
