import { describe, expect, it } from 'vitest'
import { evaluateExprOn, evaluateOnDocument, hasAnswer, parseQuery, xsNumber } from '../../../src/xml-twig-index/query/index.ts'
import { canonicalPath } from '../../../src/xml-twig-index/xml/canonical-path.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { element, numberTree, textElement, type XElement } from '../../../src/xml-twig-index/xml/tree.ts'

const VIM = `<package>
  <name>vim</name><version>2:9.0.1378-2</version><arch>amd64</arch>
  <summary>Vi IMproved - enhanced vi editor</summary>
  <description>Vim is an almost compatible version of the UNIX editor Vi.
Many new features have been added: multi level undo, syntax highlighting.</description>
  <section>editors</section><priority>optional</priority>
  <maintainer>Debian Vim Maintainers &lt;team+vim@tracker.debian.org&gt;</maintainer>
  <size>1568412</size><installedSize>3966</installedSize>
  <checksum type="sha256">3a2118df</checksum>
  <depends><dep name="libc6" op="&gt;=" version="2.34"/>
           <anyOf><dep name="vim-common"/><dep name="vim-tiny"/></anyOf></depends>
  <recommends/><provides><dep name="editor"/></provides>
  <tags><tag>role::program</tag><tag>use::editing</tag></tags>
</package>`

const RELEASE = `<release name="trixie" version="13">
  <collection name="main">
    <collection name="editors"><package name="vim" version="2:9.1" arch="amd64"/><package name="nano" version="8.4" arch="amd64"/></collection>
    <collection name="libs"><package name="libc6" version="2.41" arch="amd64"/><package name="vim" version="2:9.1" arch="arm64"/></collection>
  </collection>
</release>`

const vim = parseXml(VIM)
const release = parseXml(RELEASE)
const run = (pattern: string, root: XElement = vim): string[] => evaluateOnDocument(parseQuery(pattern), root).map(canonicalPath)

describe('evaluateOnDocument: steps', () => {
  it('starts absolute paths at the document node', () => {
    expect(run('/package')).toEqual(['/package[1]'])
    expect(run('/name')).toEqual([])
    expect(run('//package')).toEqual(['/package[1]'])
    expect(run('package/name')).toEqual(['/package[1]/name[1]'])
    expect(run('/*')).toEqual(['/package[1]'])
    expect(run('/@x')).toEqual([])
  })

  it('follows child, descendant, attribute and wildcard steps', () => {
    expect(run('/package/depends/dep/@name')).toEqual(['/package[1]/depends[1]/dep[1]/@name'])
    expect(run('//dep/@name')).toEqual(['/package[1]/depends[1]/dep[1]/@name', '/package[1]/depends[1]/anyOf[1]/dep[1]/@name', '/package[1]/depends[1]/anyOf[1]/dep[2]/@name', '/package[1]/provides[1]/dep[1]/@name'])
    expect(run('/package/depends//@*')).toHaveLength(5)
    expect(run('/package/*')).toHaveLength(15)
    expect(run('/package/depends/*')).toEqual(['/package[1]/depends[1]/dep[1]', '/package[1]/depends[1]/anyOf[1]'])
  })

  it('selects text nodes, including whitespace-only ones', () => {
    expect(run('/package/name/text()')).toEqual(['/package[1]/name[1]/text()[1]'])
    expect(run('/package/text()')[0]).toBe('/package[1]/text()[1]')
    expect(run('/package/depends/text()')).toEqual(['/package[1]/depends[1]/text()[1]'])
    expect(run('//tag//text()')).toEqual(['/package[1]/tags[1]/tag[1]/text()[1]', '/package[1]/tags[1]/tag[2]/text()[1]'])
  })

  it('handles the self step and //. (never returning the document node)', () => {
    expect(run('/package/name/.')).toEqual(['/package[1]/name[1]'])
    expect(run('/.')).toEqual([])
    expect(run('/package/tags//.')).toEqual(['/package[1]/tags[1]', '/package[1]/tags[1]/tag[1]', '/package[1]/tags[1]/tag[1]/text()[1]', '/package[1]/tags[1]/tag[2]', '/package[1]/tags[1]/tag[2]/text()[1]'])
    expect(run('//.')[0]).toBe('/package[1]')
    expect(run('//@name/.')).toHaveLength(4)
  })

  it('returns document order without duplicates through nested descendant steps', () => {
    const nested = parseXml('<a><b><b><c>1</c></b><c>2</c></b><c>3</c></a>')
    expect(run('//b//c', nested)).toEqual(['/a[1]/b[1]/b[1]/c[1]', '/a[1]/b[1]/c[1]'])
    expect(run('//*//c/text()', nested)).toEqual(['/a[1]/b[1]/b[1]/c[1]/text()[1]', '/a[1]/b[1]/c[1]/text()[1]', '/a[1]/c[1]/text()[1]'])
    expect(run('//b/.//.', nested)).toHaveLength(6)
  })
})

describe('evaluateOnDocument: predicates', () => {
  it('compares strings existentially', () => {
    expect(run('//package[name = "vim"]/version')).toEqual(['/package[1]/version[1]'])
    expect(run('//package[name = "Vim"]')).toEqual([])
    expect(run('//package[.//dep/@name = "vim-tiny"]/name')).toEqual(['/package[1]/name[1]'])
    expect(run('//package[.//dep/@name != "libc6"]/name')).toEqual(['/package[1]/name[1]']) // some dep is not libc6
    expect(run('//package[tags/tag != "x"]')).toHaveLength(1)
    expect(run('//package[nothing != "x"]')).toEqual([]) // empty node set: no comparison holds
    expect(run('//dep[@op = ">="]/@version')).toEqual(['/package[1]/depends[1]/dep[1]/@version'])
  })

  it('compares numbers as fn:number does', () => {
    expect(run('/package[size > 1000000]/checksum')).toEqual(['/package[1]/checksum[1]'])
    expect(run('/package[size < 1000000]')).toEqual([])
    expect(run('/package[1000000 < size]')).toHaveLength(1)
    expect(run('/package[installedSize = 3966]')).toHaveLength(1)
    expect(run('/package[installedSize >= 3966 and installedSize <= 3966.0]')).toHaveLength(1)
    expect(run('//dep[@version > 2.3]/@name')).toEqual(['/package[1]/depends[1]/dep[1]/@name'])
    expect(run('//dep[@version < 3]/@name')).toHaveLength(1) // deps without a version have no node to compare
    expect(run('/package[name > 0]')).toEqual([]) // NaN
    expect(run('/package[name != 0]')).toHaveLength(1) // NaN != 0, as XPath 1.0
    expect(run('/package[version = 2]')).toEqual([])
  })

  it('reads numbers in the xs:double lexical space', () => {
    expect([' 12\n', '-3.5', '.5', '5.', '+5', '1e3', '1E+3', 'INF', '+INF', '-INF'].map(xsNumber)).toEqual([12, -3.5, 0.5, 5, 5, 1000, 1000, Infinity, Infinity, -Infinity])
    for (const bad of ['', '.', '+', '1e', 'e3', 'Infinity', 'NaN', '0x10', '1,5', '12 3', '\u00a012', '١٢']) expect(xsNumber(bad)).toBeNaN()
  })

  it('evaluates contains, starts-with and contains-word existentially', () => {
    expect(run('//package[contains(maintainer, "@tracker.debian.org")]/name')).toHaveLength(1)
    expect(run('//package[contains(tags/tag, "edit")]')).toHaveLength(1)
    expect(run('//package[contains(nothing, "")]')).toEqual([])
    expect(run('//package[contains(name, "")]')).toHaveLength(1)
    expect(run('//package[starts-with(version, "2:")]')).toHaveLength(1)
    expect(run('//package[starts-with(.//dep/@name, "vim-")]')).toHaveLength(1)
    expect(run('//package[contains-word(description, "editor")]')).toHaveLength(1)
    expect(run('//package[contains-word(description, "EDITOR")]')).toHaveLength(1)
    expect(run('//package[contains-word(description, "edit")]')).toEqual([])
    expect(run('//package[contains-word(., "improved")]')).toHaveLength(1)
    expect(run('//package[contains-word(maintainer, "tracker")]')).toHaveLength(1)
    expect(run('//checksum[contains-word(@type, "sha256")]')).toHaveLength(1)
    expect(run('//text()[contains-word(., "program")]')).toEqual(['/package[1]/tags[1]/tag[1]/text()[1]'])
  })

  it('tokenises each text node of an element on its own', () => {
    const mixed = parseXml('<p><d>foo<b>bar</b> Σοφία-ΣΟΦΙΑΣ</d></p>')
    expect(run('//d[contains-word(., "foo")]', mixed)).toHaveLength(1)
    expect(run('//d[contains-word(., "bar")]', mixed)).toHaveLength(1)
    expect(run('//d[contains-word(., "foobar")]', mixed)).toEqual([])
    expect(run('//d[contains(., "foobar")]', mixed)).toHaveLength(1) // string-value concatenates
    expect(run('//d[contains-word(., "σοφία")]', mixed)).toHaveLength(1)
    expect(run('//d[contains-word(., "ΣΟΦΙΑΣ")]', mixed)).toHaveLength(1)
  })

  it('combines with and, or, not and parentheses', () => {
    expect(run('//package[contains-word(description, "editor") and priority = "optional"]')).toHaveLength(1)
    expect(run('//package[section = "libs" or priority = "optional"]')).toHaveLength(1)
    expect(run('//package[section = "libs" or priority = "required"]')).toEqual([])
    expect(run('//package[not(section = "libs")]')).toHaveLength(1)
    expect(run('//package[not(recommends/dep)]')).toHaveLength(1)
    expect(run('//package[not(depends)]')).toEqual([])
    expect(run('//package[(section = "libs" or name = "vim") and not(arch = "all")]')).toHaveLength(1)
    expect(run('//package[section = "libs" or name = "vim" and arch = "all"]')).toEqual([])
  })

  it('nests predicates and puts them on intermediate steps', () => {
    expect(run('//package[depends[anyOf[dep/@name = "vim-tiny"]]]/name')).toHaveLength(1)
    expect(run('/package[name = "vim"]/depends[anyOf]/dep/@name')).toEqual(['/package[1]/depends[1]/dep[1]/@name'])
    expect(run('//package[section = "editors"][.//dep/@name = "libc6"]/name')).toEqual(['/package[1]/name[1]'])
    expect(run('//tag[. = "role::program"]')).toEqual(['/package[1]/tags[1]/tag[1]'])
    expect(run('//tag/.[starts-with(., "use::")]')).toEqual(['/package[1]/tags[1]/tag[2]'])
  })

  it('finds packages inside release collections', () => {
    expect(run('//release[@name = "trixie"]//package[@name = "vim"]', release)).toEqual([
      '/release[1]/collection[1]/collection[1]/package[1]', '/release[1]/collection[1]/collection[2]/package[2]'])
    expect(run('//release[@name = "bookworm"]//package', release)).toEqual([])
    expect(run('//collection[@name = "libs"]/package[@arch = "arm64"]/@name', release)).toEqual(['/release[1]/collection[1]/collection[2]/package[2]/@name'])
    expect(run('//collection[package/@name = "nano"]/@name', release)).toEqual(['/release[1]/collection[1]/collection[1]/@name'])
    expect(run('/release/collection//collection/@name', release)).toHaveLength(2)
  })
})

describe('helpers', () => {
  it('evaluateExprOn checks one predicate at a node', () => {
    const pkg = vim
    const pred = parseQuery('//x[name = "vim" and .//dep/@name = "libc6"]').path.steps[0].predicates[0]
    expect(evaluateExprOn(pred, pkg)).toBe(true)
    expect(evaluateExprOn(pred, pkg.children[1])).toBe(false)
  })

  it('hasAnswer stops at the first answer and ignores the document node', () => {
    expect(hasAnswer(parseQuery('//dep[@name = "vim-tiny"]'), vim)).toBe(true)
    expect(hasAnswer(parseQuery('//dep[@name = "emacs"]'), vim)).toBe(false)
    expect(hasAnswer(parseQuery('/.'), vim)).toBe(false)
  })

  it('works on trees built with element() and numbers them when needed', () => {
    const root = element('package', {}, [textElement('name', 'vim'), element('depends', {}, [element('dep', { name: 'libc6' })])])
    expect(run('//dep/@name', root)).toEqual(['/package[1]/depends[1]/dep[1]/@name'])
    numberTree(root, 1000)
    expect(run('/package[depends/dep/@name = "libc6"]/name', root)).toEqual(['/package[1]/name[1]'])
  })
})
