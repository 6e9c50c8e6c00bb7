/**
 * Prints a pattern back in canonical form: single spaces around operators,
 * double quotes unless the literal holds one, parentheses only where the
 * tree needs them. parseQuery(formatQuery(q)) equals q except for offsets
 * and source, which makes the output a stable cache key and explain text.
 */
import type { CompareExpr, Expr, PathExpr, Query, Step } from './ast.ts'

export function formatQuery (q: Query): string {
  return formatPath(q.path)
}

export function formatPath (p: PathExpr): string {
  let out = ''
  p.steps.forEach((s, i) => {
    if (i > 0 || p.absolute) out += s.axis === 'descendant' ? '//' : '/'
    else if (s.axis === 'descendant') out += './/' // not produced by the parser
    out += formatStep(s)
  })
  return out
}

function formatStep (s: Step): string {
  let out: string
  switch (s.test.kind) {
    case 'element': out = s.test.name; break
    case 'attribute': out = '@' + s.test.name; break
    case 'text': out = 'text()'; break
    default: out = '.'
  }
  for (const p of s.predicates) out += '[' + formatExpr(p) + ']'
  return out
}

export function formatExpr (e: Expr): string {
  switch (e.type) {
    case 'path': return formatPath(e)
    case 'not': return `not(${formatExpr(e.arg)})`
    case 'function': return `${e.name}(${formatPath(e.path)}, ${formatString(e.arg)})`
    case 'compare': return formatCompare(e)
    // Left-associative chains print flat; a right operand of the same kind keeps its parentheses.
    case 'or': return `${formatExpr(e.left)} or ${wrapIf(e.right, e.right.type === 'or')}`
    case 'and': return `${wrapIf(e.left, e.left.type === 'or')} and ${wrapIf(e.right, e.right.type === 'or' || e.right.type === 'and')}`
  }
}

function wrapIf (e: Expr, wrap: boolean): string {
  return wrap ? `(${formatExpr(e)})` : formatExpr(e)
}

function formatCompare (e: CompareExpr): string {
  const v = typeof e.value === 'string' ? formatString(e.value) : formatNumber(e.value)
  return `${formatPath(e.path)} ${e.op} ${v}`
}

/** A literal in double quotes, or single ones when it holds '"'; a quote is escaped by doubling it (XPath 2.0+). */
export function formatString (s: string): string {
  if (!s.includes('"')) return `"${s}"`
  if (!s.includes("'")) return `'${s}'`
  return `"${s.replace(/"/g, '""')}"`
}

/** Decimal digits only (the language has no exponent form), exact for every double the parser can produce. */
export function formatNumber (n: number): string {
  if (Object.is(n, -0)) return '-0'
  if (!Number.isFinite(n)) return String(n)
  const s = String(n)
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s)
  if (m == null) return s
  const [, sign, d, frac = '', expText] = m
  const exp = Number(expText)
  const digits = d + frac
  if (exp >= 0) return sign + digits.padEnd(exp + 1, '0').slice(0, Math.max(exp + 1, digits.length)) + (digits.length > exp + 1 ? '.' + digits.slice(exp + 1) : '')
  return sign + '0.' + '0'.repeat(-exp - 1) + digits
}
