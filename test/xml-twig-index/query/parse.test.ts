import { describe, expect, it } from 'vitest'
import { QueryParseError } from '../../../src/xml-twig-index/errors.ts'
import { formatQuery, MAX_QUERY_DEPTH, MAX_QUERY_LENGTH, parseQuery, type Expr, type PathExpr, type Query, type Step } from '../../../src/xml-twig-index/query/index.ts'
import { DIFFERENTIAL_PATTERNS } from '../../oracle/patterns.ts'

/** The AST without offsets and source, for shape comparisons. */
function shape (x: unknown): unknown {
  if (Array.isArray(x)) return x.map(shape)
  if (x != null && typeof x === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(x)) if (k !== 'offset' && k !== 'source') out[k] = shape(v)
    return out
  }
  return x
}

const el = (name: string, axis: Step['axis'] = 'child', predicates: Expr[] = []): Omit<Step, 'offset'> => ({ axis, test: { kind: 'element', name }, predicates })
const rel = (...steps: Array<Omit<Step, 'offset'>>): Omit<PathExpr, 'steps'> & { steps: unknown[] } => ({ type: 'path', absolute: false, steps })
const pathOf = (q: Query): unknown => shape(q.path)
const predicate = (pattern: string, step = 0, i = 0): unknown => shape(parseQuery(pattern).path.steps[step].predicates[i])

function parseError (pattern: string): QueryParseError {
  try {
    parseQuery(pattern)
  } catch (e) {
    expect(e).toBeInstanceOf(QueryParseError)
    return e as QueryParseError
  }
  throw new Error(`parsed: ${pattern}`)
}

describe('parseQuery: paths', () => {
  it('parses absolute child paths with offsets', () => {
    const q = parseQuery('/package/name')
    expect(q.source).toBe('/package/name')
    expect(q.path.absolute).toBe(true)
    expect(q.path.steps.map((s) => [s.axis, s.test, s.offset])).toEqual([
      ['child', { kind: 'element', name: 'package' }, 1], ['child', { kind: 'element', name: 'name' }, 9]])
  })

  it('folds // into the next step as the descendant axis', () => {
    expect(pathOf(parseQuery('//release//package/@name'))).toEqual({
      type: 'path', absolute: true, steps: [el('release', 'descendant'), el('package', 'descendant'), { axis: 'child', test: { kind: 'attribute', name: 'name' }, predicates: [] }] })
    expect(shape(parseQuery('/a//@*').path.steps[1])).toEqual({ axis: 'descendant', test: { kind: 'attribute', name: '*' }, predicates: [] })
    expect(shape(parseQuery('//text()').path.steps[0])).toEqual({ axis: 'descendant', test: { kind: 'text' }, predicates: [] })
  })

  it('parses ., .// , * , text() and prefixed names', () => {
    expect(pathOf(parseQuery('/package/./name'))).toEqual({ type: 'path', absolute: true, steps: [el('package'), { axis: 'self', test: { kind: 'node' }, predicates: [] }, el('name')] })
    expect(shape(parseQuery('/a//.').path.steps[1])).toEqual({ axis: 'descendant', test: { kind: 'node' }, predicates: [] })
    expect(shape(parseQuery('/*/text()').path.steps)).toEqual([el('*'), { axis: 'child', test: { kind: 'text' }, predicates: [] }])
    expect(shape(parseQuery('//rpm:entry/@rpm:name').path.steps.map((s) => s.test))).toEqual([{ kind: 'element', name: 'rpm:entry' }, { kind: 'attribute', name: 'rpm:name' }])
    expect(parseQuery('//installed-size.x_1/text').path.steps.map((s) => s.test)).toEqual([{ kind: 'element', name: 'installed-size.x_1' }, { kind: 'element', name: 'text' }])
  })

  it('treats a top-level relative path as starting at the document node (absolute)', () => {
    expect(pathOf(parseQuery('package/name'))).toEqual(pathOf(parseQuery('/package/name')))
    expect(parseQuery('.//dep').path).toMatchObject({ absolute: true, steps: [{ axis: 'self' }, { axis: 'descendant' }] })
  })

  it('allows whitespace between tokens', () => {
    expect(pathOf(parseQuery(' // package [ name = "vim" ] / @ arch '))).toEqual(pathOf(parseQuery('//package[name="vim"]/@arch')))
    expect(pathOf(parseQuery('//a[\n\tb\r\n and text ( ) ]'))).toEqual(pathOf(parseQuery('//a[b and text()]')))
  })
})

describe('parseQuery: predicates', () => {
  it('parses existence paths of every relative form', () => {
    const q = parseQuery('//p[name][./name][.//dep/@name][@arch][.][text()][*][@*]')
    expect(q.path.steps[0].predicates).toHaveLength(8)
    expect(shape(q.path.steps[0].predicates[2])).toEqual(rel({ axis: 'self', test: { kind: 'node' }, predicates: [] }, el('dep', 'descendant'), { axis: 'child', test: { kind: 'attribute', name: 'name' }, predicates: [] }))
  })

  it('keeps several predicates per step and predicates on intermediate steps', () => {
    const q = parseQuery('//release[@name = "trixie"]//package[@name = "vim"][@arch]/@version')
    expect(q.path.steps.map((s) => s.predicates.length)).toEqual([1, 2, 0])
  })

  it('parses comparisons and normalises a literal on the left', () => {
    expect(predicate('//p[name = "vim"]')).toEqual({ type: 'compare', op: '=', path: rel(el('name')), value: 'vim' })
    expect(predicate("//p[name != 'it''s']")).toEqual({ type: 'compare', op: '!=', path: rel(el('name')), value: "it's" })
    expect(predicate('//p["a""b" = name]')).toEqual({ type: 'compare', op: '=', path: rel(el('name')), value: 'a"b' })
    expect(predicate('//p[size > 1000000]')).toMatchObject({ op: '>', value: 1000000 })
    expect(predicate('//p[5 < size]')).toMatchObject({ op: '>', value: 5 })
    expect(predicate('//p[5 <= size]')).toMatchObject({ op: '>=', value: 5 })
    expect(predicate('//p[-2.5 > size]')).toMatchObject({ op: '<', value: -2.5 })
    expect(predicate('//p[.5 >= size]')).toMatchObject({ op: '<=', value: 0.5 })
    expect(predicate('//p[3 = size]')).toMatchObject({ op: '=', value: 3 })
    expect(predicate('//p[size != 7.]')).toMatchObject({ op: '!=', value: 7 })
  })

  it('gives and precedence over or, left-associative', () => {
    const a = rel(el('a')); const b = rel(el('b')); const c = rel(el('c'))
    expect(predicate('//p[a or b and c]')).toEqual({ type: 'or', left: a, right: { type: 'and', left: b, right: c } })
    expect(predicate('//p[a and b or c]')).toEqual({ type: 'or', left: { type: 'and', left: a, right: b }, right: c })
    expect(predicate('//p[(a or b) and c]')).toEqual({ type: 'and', left: { type: 'or', left: a, right: b }, right: c })
    expect(predicate('//p[a and b and c]')).toEqual({ type: 'and', left: { type: 'and', left: a, right: b }, right: c })
  })

  it('parses not() and the three functions', () => {
    expect(predicate('//p[not(a = "x")]')).toEqual({ type: 'not', arg: { type: 'compare', op: '=', path: rel(el('a')), value: 'x' } })
    expect(predicate('//p[contains(maintainer, "@debian.org")]')).toEqual({ type: 'function', name: 'contains', path: rel(el('maintainer')), arg: '@debian.org' })
    expect(predicate("//p[starts-with(@name, 'lib')]")).toMatchObject({ type: 'function', name: 'starts-with', arg: 'lib' })
    expect(predicate('//p[contains-word(description, "Editor")]')).toMatchObject({ type: 'function', name: 'contains-word', arg: 'Editor' })
    expect(predicate('//p[contains-word(., "Ελληνικά")]')).toMatchObject({ arg: 'Ελληνικά' })
  })

  it('reads keywords as names where a name is expected', () => {
    expect(predicate('//p[and or or]')).toEqual({ type: 'or', left: rel(el('and')), right: rel(el('or')) })
    expect(predicate('//p[not]')).toEqual(rel(el('not')))
    expect(predicate('//p[order and nothing]')).toEqual({ type: 'and', left: rel(el('order')), right: rel(el('nothing')) })
    expect(predicate('//p[contains/x]')).toEqual(rel(el('contains'), el('x')))
  })
})

describe('formatQuery', () => {
  const cases = [
    ...DIFFERENTIAL_PATTERNS,
    '//p[a or (b or c)]', '//p[(a or b) and (c and d)]', '//p[not(a and (b or c))]', 'package/name',
    "//p[a = 'say \"hi\"']", '//p[a = "it\'s ""quoted"""]', '//p[a > 0.000001]', '//p[a < -0]', '//p[a = 123456789012345678901234]', '/a/./b//.',
  ]
  it.each(cases)('round-trips %s', (pattern) => {
    const q = parseQuery(pattern)
    const printed = formatQuery(q)
    expect(shape(parseQuery(printed))).toEqual(shape(q))
    expect(formatQuery(parseQuery(printed))).toBe(printed)
  })
  it('prints canonically', () => {
    expect(formatQuery(parseQuery("package[ 5<size and name='vim' ]/name"))).toBe('/package[size > 5 and name = "vim"]/name')
  })
})

describe('parseQuery: errors name position and expectation', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['', 0, /Expected a path .* at position 0, found end of pattern/],
    ['/', 1, /after '\/' at position 1, found end of pattern/],
    ['//package[', 10, /Expected a path, a string or a number at position 10, found end of pattern/],
    ['//package[]', 10, /condition inside '\[\]'/],
    ['//package[1]', 10, /Positional predicates like \[1\] are not supported/],
    ['//package[last()]', 10, /Positional predicates \(last\(\)\)/],
    ['//package[position() = 1]', 10, /Positional predicates \(position\(\)\)/],
    ['//package[count(dep) > 1]', 10, /Unknown function 'count\(\)'/],
    ['//a | //b', 4, /Unions \('\|'\) are not supported/],
    ['//a/ancestor::b', 4, /Axis 'ancestor::' is not supported/],
    ['//a/following-sibling::b', 4, /Axis 'following-sibling::' is not supported/],
    ['//a/..', 4, /parent step '\.\.' is not supported/],
    ['//package[name = ]', 17, /Expected a path, a string or a number at position 17, found '\]'/],
    ['//package[name = "vim"', 22, /Unclosed '\[' opened at position 9/],
    ['//package[name = "vim]', 17, /Unterminated string literal/],
    ['//package[contains-word(description, "two words")]', 37, /exactly one word.*2 words/],
    ['//package[contains-word(description, "c++")]', 37, /exactly one word/],
    ['//package[name < "vim"]', 17, /'<' compares numbers/],
    ['//package[name = version]', 17, /Comparing two paths is not supported/],
    ['//package[1 = 1]', 14, /Comparing two literals/],
    ['//package["vim"]', 10, /string literal alone is not a condition/],
    ['//package[//dep]', 10, /must be relative/],
    ['//package]', 9, /Expected '\/', '\/\/', '\[' or end of pattern at position 9, found '\]'/],
    ['package and name', 8, /A pattern must be a path/],
    ['//package[contains(name)]', 23, /Expected ',' and a string literal/],
    ['//package[contains("x", name)]', 19, /first argument of contains\(\) must be a path/],
    ['//package[contains(name, "a", "b")]', 28, /takes exactly two arguments/],
    ['//package[not(a) = 1]', 17, /result of not\(\) cannot be compared/],
    ['//package[a = 1 = 2]', 16, /cannot be chained/],
    ['//node()', 2, /node\(\) is not supported/],
    ['//a[$x]', 4, /Variables are not supported/],
    ['(//a)', 0, /Parenthesised paths are not supported/],
    ['//a[b ! 1]', 6, /Expected '!='/],
    ['//a[. = 1e3]', 9, /found 'e3'/],
    ['//a/@', 5, /attribute name or '\*' after '@'/],
  ]
  it.each(cases)('%s', (pattern, position, message) => {
    const e = parseError(pattern)
    expect(e.position).toBe(position)
    expect(e.message).toMatch(message)
    expect(e.expected.length).toBeGreaterThan(0)
    expect(e.code).toBe('ERR_QUERY_PARSE')
  })

  it('shows a caret under the position', () => {
    const e = parseError('//package[name = ]')
    const [, line, caret] = e.message.split('\n')
    expect(line).toBe('  //package[name = ]')
    expect(caret.indexOf('^')).toBe(2 + 17)
  })

  it('windows the excerpt of a long pattern around the position', () => {
    const pattern = '//package[' + Array.from({ length: 40 }, (_, i) => `name = "p${i}"`).join(' or ') + ' or ]'
    const e = parseError(pattern)
    const [, line, caret] = e.message.split('\n')
    expect(line.length).toBeLessThan(80)
    expect(line[caret.indexOf('^')]).toBe(']')
  })
})

describe('parseQuery: hostile input', () => {
  const quick = (f: () => unknown): QueryParseError => {
    const t0 = performance.now()
    let err: unknown
    try { f() } catch (e) { err = e }
    expect(performance.now() - t0).toBeLessThan(100)
    expect(err).toBeInstanceOf(QueryParseError)
    return err as QueryParseError
  }

  it('rejects a 100k-character pattern by length', () => {
    const e = quick(() => parseQuery('//package[name = "' + 'x'.repeat(100_000) + '"]'))
    expect(e.message).toMatch(/too long.*at most 10000/)
    expect(e.position).toBe(MAX_QUERY_LENGTH)
  })

  it('rejects 10,000 nested brackets or parentheses without overflowing the stack', () => {
    expect(quick(() => parseQuery('//a' + '[a'.repeat(10_000) + ']'.repeat(10_000))).message).toMatch(/too long/)
    expect(quick(() => parseQuery('//a[' + '('.repeat(10_000) + 'b' + ')'.repeat(10_000) + ']')).message).toMatch(/too long/)
    expect(quick(() => parseQuery('//a' + '['.repeat(9_000))).message).toMatch(/step before '\['/)
  })

  it('bounds nesting depth within the length limit', () => {
    const brackets = quick(() => parseQuery('//a' + '[a'.repeat(3_000) + ']'.repeat(3_000)))
    expect(brackets.message).toMatch(new RegExp(`nests more than ${MAX_QUERY_DEPTH}`))
    expect(brackets.position).toBe(3 + 2 * MAX_QUERY_DEPTH)
    expect(quick(() => parseQuery('//a[' + '('.repeat(4_000) + 'b' + ')'.repeat(4_000) + ']')).message).toMatch(/nests more than/)
    expect(quick(() => parseQuery('//a[' + 'not('.repeat(1_500) + 'b' + ')'.repeat(1_500) + ']')).message).toMatch(/nests more than/)
    const ok = '//a' + '[a'.repeat(MAX_QUERY_DEPTH) + ']'.repeat(MAX_QUERY_DEPTH)
    expect(parseQuery(ok).path.steps).toHaveLength(1)
  })

  it('accepts a long flat pattern', () => {
    const pattern = '//package[' + Array.from({ length: 500 }, (_, i) => `name = "p${i}"`).join(' or ') + ']'
    expect(pattern.length).toBeLessThan(MAX_QUERY_LENGTH)
    expect(parseQuery(pattern).path.steps[0].predicates[0].type).toBe('or')
  })
})
