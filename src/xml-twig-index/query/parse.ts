/**
 * Recursive-descent parser for the edos tree-pattern language
 * (DESIGN.md "Query language"): abbreviated XPath 1.0 paths with
 * predicates. Everything outside the language is rejected with a
 * QueryParseError that names the construct, instead of being half-supported.
 *
 * Decisions (kept in step with evaluate.ts and the fontoxpath oracle):
 * - A top-level relative path (`package/name`, `.//dep`) is evaluated with
 *   the document node as context, as an XPath engine given the document
 *   does; so the parser marks every top-level path `absolute: true`, and
 *   `package/name` means `/package/name`. Engines never see a relative
 *   top-level path.
 * - Paths inside predicates and function arguments must be relative: a
 *   predicate constrains the twig below its step, never a second document
 *   walk.
 * - `<` `<=` `>` `>=` need a number literal (XPath 3.1 would compare a string
 *   literal as a string, XPath 1.0 as a number: rejecting avoids both traps).
 *   `=` `!=` take a string (string comparison) or a number (numeric).
 * - String literals may double their quote to include it (`'it''s'`), as in
 *   XPath 2.0+; there are no other escapes.
 * - Bounds: at most MAX_QUERY_LENGTH characters and MAX_QUERY_DEPTH nested
 *   predicates/parentheses/function calls, checked before the recursion can
 *   grow, so hostile patterns fail fast with a clear error.
 */
import { QueryParseError } from '../errors.ts'
import { tokenize } from '../tokens.ts'
import type { CompareOp, Expr, FunctionName, PathExpr, Query, Step } from './ast.ts'

export const MAX_QUERY_LENGTH = 10_000
export const MAX_QUERY_DEPTH = 64

const NCNAME = /[\p{L}_][\p{L}\p{N}\p{M}_.\-\u00B7]*/uy
const NAME_CHAR = /[\p{L}\p{N}\p{M}_.\-\u00B7]/u
const NUMBER = /-?(?:\d+(?:\.\d*)?|\.\d+)/y
const WS = new Set([' ', '\t', '\n', '\r'])
const FUNCTIONS = new Set<string>(['contains', 'starts-with', 'contains-word'])
const KNOWN_AXES = new Set(['ancestor', 'ancestor-or-self', 'attribute', 'child', 'descendant', 'descendant-or-self',
  'following', 'following-sibling', 'namespace', 'parent', 'preceding', 'preceding-sibling', 'self'])

type Operand =
  | { kind: 'path', path: PathExpr, offset: number }
  | { kind: 'literal', value: string | number, offset: number }

export function parseQuery (text: string): Query {
  if (typeof text !== 'string') throw new QueryParseError('A pattern must be a string', 0, 'a pattern')
  if (text.length > MAX_QUERY_LENGTH) {
    throw new QueryParseError(`Pattern is too long: ${text.length} characters, at most ${MAX_QUERY_LENGTH} are allowed`, MAX_QUERY_LENGTH, 'a shorter pattern')
  }
  const p = new Parser(text)
  p.skipWs()
  if (p.atEnd()) p.fail('a path such as //package[name = "vim"]')
  const path = p.parsePath(true)
  p.skipWs()
  if (!p.atEnd()) {
    const c = text[p.pos]
    if (c === '|') p.fail('end of pattern', "Unions ('|') are not supported; run one pattern per branch")
    if (p.peekCompareOp() != null || p.peekKeyword('and') || p.peekKeyword('or')) {
      p.fail('end of pattern', 'A pattern must be a path; put conditions inside a predicate, e.g. //package[size > 1000]')
    }
    p.fail("'/', '//', '[' or end of pattern")
  }
  return { source: text, path }
}

class Parser {
  pos = 0
  private depth = 0
  constructor (readonly src: string) {}

  atEnd (): boolean { return this.pos >= this.src.length }

  skipWs (): void {
    while (this.pos < this.src.length && WS.has(this.src[this.pos])) this.pos++
  }

  fail (expected: string, message?: string, at = this.pos): never {
    const head = message != null
      ? `${message} (at position ${at})`
      : `Expected ${expected} at position ${at}, found ${this.describe(at)}`
    throw new QueryParseError(`${head}\n${excerpt(this.src, at)}`, at, expected)
  }

  private describe (at: number): string {
    if (at >= this.src.length) return 'end of pattern'
    NCNAME.lastIndex = at
    const m = NCNAME.exec(this.src)
    if (m != null) return `'${m[0].slice(0, 40)}'`
    NUMBER.lastIndex = at
    const n = NUMBER.exec(this.src)
    if (n != null) return `the number ${n[0].slice(0, 40)}`
    return `'${this.src[at]}'`
  }

  private enter (at: number): void {
    if (++this.depth > MAX_QUERY_DEPTH) {
      this.fail('a less deeply nested pattern', `Pattern nests more than ${MAX_QUERY_DEPTH} predicates, parentheses or function calls`, at)
    }
  }

  private leave (): void { this.depth-- }

  private expectChar (c: string, expected: string): void {
    this.skipWs()
    if (this.src[this.pos] !== c) this.fail(expected)
    this.pos++
  }

  /** A keyword only when not the prefix of a longer name (`order` is a name, not `or`). */
  peekKeyword (k: string): boolean {
    this.skipWs()
    if (!this.src.startsWith(k, this.pos)) return false
    const next = this.src[this.pos + k.length]
    return next === undefined || (!NAME_CHAR.test(next) && next !== ':')
  }

  peekCompareOp (): CompareOp | null {
    this.skipWs()
    const s = this.src
    const c = s[this.pos]
    const d = s[this.pos + 1]
    if (c === '=') return '='
    if (c === '!' && d === '=') return '!='
    if (c === '<') return d === '=' ? '<=' : '<'
    if (c === '>') return d === '=' ? '>=' : '>'
    return null
  }

  private readName (): string | null {
    NCNAME.lastIndex = this.pos
    const m = NCNAME.exec(this.src)
    if (m == null) return null
    let name = m[0]
    let end = this.pos + name.length
    // Prefixed name: one ':' between two NCNames; '::' is an axis.
    if (this.src[end] === ':' && this.src[end + 1] !== ':') {
      NCNAME.lastIndex = end + 1
      const local = NCNAME.exec(this.src)
      if (local != null) { name += ':' + local[0]; end += 1 + local[0].length }
    }
    this.pos = end
    return name
  }

  parsePath (topLevel: boolean): PathExpr {
    this.skipWs()
    const start = this.pos
    let axis: 'child' | 'descendant' = 'child'
    let absolute = false
    if (this.src.startsWith('//', this.pos)) { absolute = true; axis = 'descendant'; this.pos += 2 } else if (this.src[this.pos] === '/') { absolute = true; this.pos += 1 }
    if (absolute && !topLevel) {
      this.fail('a relative path', "Paths inside predicates and functions must be relative: use './/x' or 'x', not '//x' or '/x'", start)
    }
    const steps: Step[] = []
    for (;;) {
      steps.push(this.parseStep(axis, absolute && steps.length === 0))
      this.skipWs()
      if (this.src.startsWith('//', this.pos)) { axis = 'descendant'; this.pos += 2 } else if (this.src[this.pos] === '/') { axis = 'child'; this.pos += 1 } else break
    }
    return { type: 'path', absolute: absolute || topLevel, steps }
  }

  private parseStep (axis: 'child' | 'descendant', afterRoot: boolean): Step {
    this.skipWs()
    const offset = this.pos
    const s = this.src
    const c = s[this.pos]
    let step: Step
    if (c === '@') {
      this.pos++
      this.skipWs()
      if (s[this.pos] === '*') { this.pos++; step = { axis, test: { kind: 'attribute', name: '*' }, predicates: [], offset } } else {
        const name = this.readName()
        if (name == null) this.fail("an attribute name or '*' after '@'")
        step = { axis, test: { kind: 'attribute', name }, predicates: [], offset }
      }
    } else if (c === '*') {
      this.pos++
      step = { axis, test: { kind: 'element', name: '*' }, predicates: [], offset }
    } else if (c === '.') {
      if (s[this.pos + 1] === '.') this.fail('a step', "The parent step '..' is not supported; the language has child, descendant and attribute steps only")
      if (/\d/.test(s[this.pos + 1] ?? '')) this.fail("a step name, '*', '@', '.' or 'text()'")
      this.pos++
      step = { axis: axis === 'child' ? 'self' : 'descendant', test: { kind: 'node' }, predicates: [], offset }
    } else {
      const name = this.readName()
      if (name == null) {
        if (c === '[') this.fail('a step before \'[\'', "Expected a step before '['", offset)
        if (c === '(') this.fail("a step name, '*', '@', '.' or 'text()'", 'Parenthesised paths are not supported', offset)
        if (c === '$') this.fail('a path', 'Variables are not supported', offset)
        this.fail(afterRoot ? "a step name, '*', '@', '.' or 'text()' after '/'" : "a step name, '*', '@', '.' or 'text()'")
      }
      this.skipWs()
      if (s.startsWith('::', this.pos)) {
        const hint = KNOWN_AXES.has(name) ? `Axis '${name}::' is not supported` : `Unknown axis '${name}::'`
        this.fail('a step', `${hint}; use '/', '//', '@' and '.'`, offset)
      }
      if (s[this.pos] === '(') {
        if (name !== 'text') this.failFunction(name, offset, 'here; expected a step')
        this.pos++
        this.expectChar(')', "')' after 'text('")
        step = { axis, test: { kind: 'text' }, predicates: [], offset }
      } else {
        step = { axis, test: { kind: 'element', name }, predicates: [], offset }
      }
    }
    for (;;) {
      this.skipWs()
      if (s[this.pos] !== '[') break
      step.predicates.push(this.parsePredicate())
    }
    return step
  }

  private failFunction (name: string, offset: number, where: string): never {
    if (name === 'last' || name === 'position') {
      this.fail('a condition', `Positional predicates (${name}()) are not supported`, offset)
    }
    if (name === 'node') this.fail('a step', "node() is not supported; use '.' for the context node", offset)
    if (FUNCTIONS.has(name) || name === 'not') this.fail('a step', `Function '${name}()' is not allowed ${where}`, offset)
    this.fail('a known function', `Unknown function '${name}()'; the functions are not, contains, starts-with and contains-word`, offset)
  }

  private parsePredicate (): Expr {
    const open = this.pos
    this.enter(open)
    this.pos++
    this.skipWs()
    if (this.src[this.pos] === ']') this.fail('a condition inside \'[]\'')
    const e = this.parseOr()
    this.skipWs()
    if (this.src[this.pos] !== ']') {
      if (this.atEnd()) this.fail("']'", `Unclosed '[' opened at position ${open}: expected ']'`)
      if (this.src[this.pos] === '|') this.fail("']'", "Unions ('|') are not supported")
      this.fail("'and', 'or', a comparison or ']'")
    }
    this.pos++
    this.leave()
    return e
  }

  parseOr (): Expr {
    let left = this.parseAnd()
    while (this.peekKeyword('or')) {
      this.pos += 2
      left = { type: 'or', left, right: this.parseAnd() }
    }
    return left
  }

  private parseAnd (): Expr {
    let left = this.parseUnary()
    while (this.peekKeyword('and')) {
      this.pos += 3
      left = { type: 'and', left, right: this.parseUnary() }
    }
    return left
  }

  private parseUnary (): Expr {
    this.skipWs()
    const offset = this.pos
    const s = this.src
    if (s[this.pos] === '(') {
      this.enter(offset)
      this.pos++
      const e = this.parseOr()
      this.expectChar(')', "')' or an operator")
      this.leave()
      this.noComparisonAfter('a parenthesised condition')
      return e
    }
    NCNAME.lastIndex = this.pos
    const m = NCNAME.exec(s)
    if (m != null) {
      let after = this.pos + m[0].length
      while (WS.has(s[after])) after++
      if (s[after] === '(' && m[0] !== 'text') {
        const name = m[0]
        if (name !== 'not' && !FUNCTIONS.has(name)) this.failFunction(name, offset, 'here')
        this.enter(offset)
        this.pos = after + 1
        let e: Expr
        if (name === 'not') {
          this.skipWs()
          if (s[this.pos] === ')') this.fail('a condition inside not()')
          e = { type: 'not', arg: this.parseOr() }
          this.expectChar(')', "')' to close not(")
        } else {
          e = this.parseFunctionArgs(name as FunctionName)
        }
        this.leave()
        this.noComparisonAfter(`${name}()`)
        return e
      }
    }
    return this.parseComparison()
  }

  private noComparisonAfter (what: string): void {
    const at = this.pos
    if (this.peekCompareOp() != null) this.fail("'and', 'or' or ']'", `The result of ${what} cannot be compared; compare a path with a literal`, this.pos)
    this.pos = at
  }

  private parseFunctionArgs (name: FunctionName): Expr {
    const first = this.parseOperand()
    if (first.kind !== 'path') this.fail('a path', `The first argument of ${name}() must be a path`, first.offset)
    this.skipWs()
    if (this.src[this.pos] !== ',') this.fail(`',' and a string literal (the second argument of ${name}())`)
    this.pos++
    const second = this.parseOperand()
    if (second.kind !== 'literal' || typeof second.value !== 'string') {
      this.fail('a string literal', `The second argument of ${name}() must be a string literal`, second.offset)
    }
    const arg = second.value
    if (name === 'contains-word' && !isSingleToken(arg)) {
      const n = tokenize(arg).length
      this.fail('a single word', `contains-word() takes exactly one word (a run of letters and digits); "${arg.slice(0, 40)}" has ${n === 1 ? 'other characters around its word' : `${n} words`}`, second.offset)
    }
    this.skipWs()
    if (this.src[this.pos] === ',') this.fail("')'", `${name}() takes exactly two arguments`)
    this.expectChar(')', `')' to close ${name}(`)
    return { type: 'function', name, path: first.path, arg }
  }

  private parseComparison (): Expr {
    const left = this.parseOperand()
    const op = this.peekCompareOp()
    if (op == null) {
      this.skipWs()
      if (this.src[this.pos] === '!') this.fail("'!='")
      if (left.kind === 'path') return left.path
      if (typeof left.value === 'number') {
        this.fail('a condition', 'Positional predicates like [1] are not supported; compare a path with a number instead, e.g. [size > 1]', left.offset)
      }
      this.fail('a condition', 'A string literal alone is not a condition; compare a path with it, e.g. [name = "vim"]', left.offset)
    }
    this.pos += op.length
    const right = this.parseOperand()
    let path: PathExpr
    let value: string | number
    let finalOp = op
    if (left.kind === 'path' && right.kind === 'literal') {
      path = left.path; value = right.value
    } else if (left.kind === 'literal' && right.kind === 'path') {
      path = right.path; value = left.value; finalOp = flip(op)
    } else if (left.kind === 'path') {
      this.fail('a string or number literal', 'Comparing two paths is not supported; compare a path with a literal', right.offset)
    } else {
      this.fail('a path', 'Comparing two literals is not supported; one side must be a path', right.offset)
    }
    if (typeof value === 'string' && op !== '=' && op !== '!=') {
      const lit = left.kind === 'literal' ? left : right
      this.fail('a number', `'${op}' compares numbers; expected a number, found a string literal`, lit.offset)
    }
    if (this.peekCompareOp() != null) this.fail("'and', 'or' or ']'", 'Comparisons cannot be chained', this.pos)
    return { type: 'compare', op: finalOp, path, value }
  }

  private parseOperand (): Operand {
    this.skipWs()
    const offset = this.pos
    const s = this.src
    const c = s[this.pos]
    if (c === '"' || c === "'") return { kind: 'literal', value: this.parseString(), offset }
    NUMBER.lastIndex = this.pos
    const n = NUMBER.exec(s)
    if (n != null) {
      this.pos += n[0].length
      return { kind: 'literal', value: Number(n[0]), offset }
    }
    if (c === undefined) this.fail('a path, a string or a number')
    if (c === '/') return { kind: 'path', path: this.parsePath(false), offset }
    if (c === '@' || c === '*' || c === '.' || c === '$' || c === '(' || c === '[') return { kind: 'path', path: this.parsePath(false), offset }
    NCNAME.lastIndex = this.pos
    if (NCNAME.test(s)) return { kind: 'path', path: this.parsePath(false), offset }
    this.fail('a path, a string or a number')
  }

  private parseString (): string {
    const s = this.src
    const q = s[this.pos]
    const open = this.pos
    let out = ''
    let i = this.pos + 1
    for (;;) {
      const j = s.indexOf(q, i)
      if (j < 0) this.fail(`a closing ${q}`, `Unterminated string literal: no closing ${q}`, open)
      out += s.slice(i, j)
      if (s[j + 1] === q) { out += q; i = j + 2; continue }
      this.pos = j + 1
      return out
    }
  }
}

function flip (op: CompareOp): CompareOp {
  switch (op) {
    case '<': return '>'
    case '<=': return '>='
    case '>': return '<'
    case '>=': return '<='
    default: return op
  }
}

function isSingleToken (w: string): boolean {
  return /^[\p{L}\p{N}]+$/u.test(w)
}

/** A one-line window of the pattern around `at`, with a caret under it. */
export function excerpt (src: string, at: number, width = 60): string {
  const from = Math.max(0, Math.min(at - Math.floor(width / 2), src.length - width))
  const to = Math.min(src.length, from + width)
  const line = (from > 0 ? '…' : '') + src.slice(from, to).replace(/[\t\n\r]/g, ' ') + (to < src.length ? '…' : '')
  const caret = ' '.repeat(at - from + (from > 0 ? 1 : 0)) + '^'
  return `  ${line}\n  ${caret}`
}
