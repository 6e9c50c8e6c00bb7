import { describe, expect, it } from 'vitest'
import { buildPattern, caretAt, headline, literal, PatternFormError, tokens } from '../../src/server/console/web/pattern.ts'
import { compileFilter } from '../../src/roles/querying.ts'
import { formatString } from '../../src/xml-twig-index/query/format.ts'
import { tokenize } from '../../src/xml-twig-index/tokens.ts'
import { parseQuery } from '../../src/xml-twig-index/query/index.ts'

describe('console pattern builder', () => {
  it('writes the pattern the peer compiles for the same filter', () => {
    const cases: Array<[Parameters<typeof buildPattern>[0], Parameters<typeof compileFilter>[0]]> = [
      [{}, {}],
      [{ name: 'vim' }, { name: 'vim' }],
      [{ name: 'lib*' }, { nameStartsWith: 'lib' }],
      [{ section: 'editors', words: 'text editor' }, { section: 'editors', words: ['text', 'editor'] }],
      [{ depends: 'libc6' }, { dependsOn: 'libc6' }],
      [{ name: 'vim', section: 'editors', words: 'Vi IMproved', depends: 'libc6' }, { name: 'vim', section: 'editors', words: ['vi', 'improved'], dependsOn: 'libc6' }],
      [{ words: 'x-window c++' }, { words: ['x-window', 'c++'] }]
    ]
    for (const [form, filter] of cases) expect(buildPattern(form)).toBe(compileFilter(filter))
  })

  it('ignores blank fields, appends the selected step and parses', () => {
    expect(buildPattern({ name: '  ', section: '', words: ' ', depends: '' })).toBe('/package')
    const p = buildPattern({ section: 'net', select: 'name' })
    expect(p).toBe('/package[section = "net"]/name')
    for (const select of ['package', 'name', 'version', 'summary', 'size'] as const) {
      expect(() => parseQuery(buildPattern({ name: 'a"b\'c', words: 'déjà vu', depends: 'x', select }))).not.toThrow()
    }
  })

  it('drops repeated words and names the field of a bad form', () => {
    expect(buildPattern({ words: 'editor Editor' })).toBe(compileFilter({ words: ['editor'] }))
    expect(() => buildPattern({ words: '!!' })).toThrow(PatternFormError)
    try { buildPattern({ name: 'l*b' }) } catch (err) { expect((err as PatternFormError).field).toBe('name'); expect((err as PatternFormError).code).toBe('ERR_PATTERN_FORM') }
    expect(() => buildPattern({ name: '*' })).toThrow(/prefix/)
    expect(() => buildPattern({ select: 'xml' as never })).toThrow(/select/)
  })

  it('quotes and tokenizes as the engine does', () => {
    for (const s of ['plain', 'say "hi"', "it's", 'both " and \'', '']) expect(literal(s)).toBe(formatString(s))
    for (const s of ['Vi IMproved 9.0', 'x-window_system c++', 'Übersetzung für Ärzte', '日本語 text', '']) expect(tokens(s)).toEqual(tokenize(s))
  })
})

describe('console pattern errors', () => {
  it('puts the caret at the position, past the end when the pattern ended early', () => {
    expect(caretAt('//package[name = ', 17)).toEqual({ before: '//package[name = ', at: ' ', after: '', line: 1, column: 18 })
    expect(caretAt('//a[b', 3)).toEqual({ before: '//a', at: '[', after: 'b', line: 1, column: 4 })
    expect(caretAt('//a\n[b', 5)).toMatchObject({ at: 'b', line: 2, column: 2 })
    expect(caretAt('ab', 99).before).toBe('ab')
    expect(caretAt('ab', -3).at).toBe('a')
  })

  it('keeps the first line of the peer message', () => {
    expect(headline('Expected a path at position 3, found end\n  //a[\n     ^')).toBe('Expected a path at position 3, found end')
  })
})
