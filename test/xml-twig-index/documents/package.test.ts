import { describe, expect, it } from 'vitest'
import {
  buildPackage, buildUtility, packageId, releaseId, rpmEvr, utilityId, illegalXmlCharAt, unitChecksum,
  type PackageFields
} from '../../../src/xml-twig-index/documents/index.ts'
import { InvalidDocumentError } from '../../../src/xml-twig-index/errors.ts'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { element, textElement, type XElement } from '../../../src/xml-twig-index/xml/tree.ts'

const SHA = 'c8aa62868f9cb2ddea4e9096715e4654c31d99b726861329f9b21e51f7044fca'

const vim: PackageFields = {
  name: 'vim',
  version: '2:9.0.1378-2',
  arch: 'amd64',
  summary: 'Vi IMproved - enhanced vi editor',
  description: 'Vim is an almost compatible version of the UNIX editor Vi.\n\nMany new features.',
  section: 'editors',
  priority: 'optional',
  license: 'Vim',
  maintainer: 'Debian Vim Maintainers <team+vim@tracker.debian.org>',
  homepage: 'https://www.vim.org/',
  source: 'vim',
  size: 1568412,
  installedSize: 3966,
  checksum: { type: 'sha256', value: SHA.toUpperCase() },
  location: 'pool/main/v/vim/vim_9.0.1378-2_amd64.deb',
  depends: [{ name: 'libc6', op: '>=', version: '2.34' }, { anyOf: [{ name: 'vim-common' }, { name: 'vim-tiny' }] }],
  recommends: [],
  tags: ['role::program', 'use::editing']
}

/** The error a builder throws, for inspection. */
function errorOf (f: () => unknown): InvalidDocumentError {
  try {
    f()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidDocumentError)
    return err as InvalidDocumentError
  }
  throw new Error('expected an InvalidDocumentError')
}

/** Every text node non-empty, no two adjacent, parent links right: what tree.ts calls normalised. */
function expectNormalised (el: XElement): void {
  let prevText = false
  for (const a of el.attributes) expect(a.parent).toBe(el)
  for (const c of el.children) {
    expect(c.parent).toBe(el)
    if (c.kind === 'text') {
      expect(c.value).not.toBe('')
      expect(prevText).toBe(false)
      prevText = true
    } else {
      prevText = false
      expectNormalised(c)
    }
  }
}

describe('ids', () => {
  it('formats package, utility and release ids', () => {
    expect(packageId('vim', '2:9.0', 'amd64')).toBe('pkg/vim/2:9.0/amd64')
    expect(utilityId('grub.cfg', 'sha256-abc')).toBe('util/grub.cfg/sha256-abc')
    expect(releaseId('bookworm')).toBe('release/bookworm')
  })

  it('composes RPM versions, leaving epoch 0 out', () => {
    expect(rpmEvr('0', '1.1.1', '1')).toBe('1.1.1-1')
    expect(rpmEvr(undefined, '1.1.1', '1')).toBe('1.1.1-1')
    expect(rpmEvr('2', '1.0', '3.fc40')).toBe('2:1.0-3.fc40')
    expect(rpmEvr('1', '5.8.0', undefined)).toBe('1:5.8.0')
    expect(rpmEvr('0', '5.8.0', '')).toBe('5.8.0')
  })
})

describe('buildPackage', () => {
  it('builds the DESIGN.md document, compact, in the fixed element order', () => {
    const u = buildPackage(vim)
    expect(u.kind).toBe('package')
    expect(u.id).toBe('pkg/vim/2:9.0.1378-2/amd64')
    expect([u.name, u.version, u.arch]).toEqual(['vim', '2:9.0.1378-2', 'amd64'])
    expect(u.collection).toEqual(['amd64', 'editors'])
    expect(serialize(u.root)).toBe(
      '<package><name>vim</name><version>2:9.0.1378-2</version><arch>amd64</arch>' +
      '<summary>Vi IMproved - enhanced vi editor</summary>' +
      '<description>Vim is an almost compatible version of the UNIX editor Vi.\n\nMany new features.</description>' +
      '<section>editors</section><priority>optional</priority><license>Vim</license>' +
      '<maintainer>Debian Vim Maintainers &lt;team+vim@tracker.debian.org&gt;</maintainer>' +
      '<homepage>https://www.vim.org/</homepage><source>vim</source>' +
      '<size>1568412</size><installedSize>3966</installedSize>' +
      `<checksum type="sha256">${SHA}</checksum>` +
      '<location>pool/main/v/vim/vim_9.0.1378-2_amd64.deb</location>' +
      '<depends><dep name="libc6" op="&gt;=" version="2.34"/><anyOf><dep name="vim-common"/><dep name="vim-tiny"/></anyOf></depends>' +
      '<tags><tag>role::program</tag><tag>use::editing</tag></tags></package>'
    )
    expectNormalised(u.root)
  })

  it('gives the same tree as element()/textElement() would', () => {
    const u = buildPackage({ name: 'a', version: '1', arch: 'all', summary: 's', depends: [{ name: 'b', op: '<<', version: '2', arch: 'i386' }] })
    const expected = element('package', [], [
      textElement('name', 'a'), textElement('version', '1'), textElement('arch', 'all'), textElement('summary', 's'),
      element('depends', [], [element('dep', { name: 'b', op: '<<', version: '2', arch: 'i386' })])
    ])
    expect(serialize(u.root)).toBe(serialize(expected))
    expect(u.root).toEqual(expected)
  })

  it('round-trips through the XML parser', () => {
    const u = buildPackage({ ...vim, summary: 'a & b < c > d "e"', depends: [{ name: 'x&y', op: '<=', version: '1' }] })
    const back = parseXml(serialize(u.root))
    expect(serialize(back)).toBe(serialize(u.root))
  })

  it('puts the RPM parts after location and before relations, every relation kind in order', () => {
    const u = buildPackage({
      name: 'super_kernel', version: '1:6.0.1-2', arch: 'x86_64', epoch: '1', release: '2', group: 'Applications/System',
      location: 'k.rpm', files: ['/usr/bin/k'],
      obsoletes: [{ name: 'o' }], replaces: [{ name: 'r' }], breaks: [{ name: 'b' }], conflicts: [{ name: 'c' }],
      provides: [{ name: 'p', op: '=', version: '1' }], enhances: [{ name: 'e' }], suggests: [{ name: 's' }],
      recommends: [{ name: 'rc' }], preDepends: [{ name: 'pd' }], depends: [{ name: 'd' }]
    })
    const names = u.root.children.map((c) => (c as XElement).name)
    expect(names).toEqual(['name', 'version', 'arch', 'location', 'epoch', 'release', 'group', 'files',
      'depends', 'preDepends', 'recommends', 'suggests', 'enhances', 'provides', 'conflicts', 'breaks', 'replaces', 'obsoletes'])
    expect(u.collection).toEqual(['x86_64', 'Applications/System'])
  })

  it('omits empty optional fields and lists, and collapses a one-way anyOf', () => {
    const u = buildPackage({ name: 'a', version: '1', arch: 'amd64', summary: '', tags: [], depends: [{ anyOf: [{ name: 'b' }] }], suggests: [] })
    expect(serialize(u.root)).toBe('<package><name>a</name><version>1</version><arch>amd64</arch><depends><dep name="b"/></depends></package>')
    expect(u.collection).toEqual(['amd64'])
  })

  it('accepts tabs, newlines and astral characters', () => {
    const u = buildPackage({ name: 'a', version: '1', arch: 'amd64', description: 'tab\there\nline 😀' })
    expect(serialize(u.root)).toContain('tab\there\nline 😀')
  })

  it('names the unit and the field of every invalid value', () => {
    const cases: Array<[Partial<PackageFields>, string, string]> = [
      [{ name: '' }, '(unnamed package)', 'name'],
      [{ name: 'v m' }, 'pkg/v m/2:9.0.1378-2/amd64', 'name'],
      [{ name: 'a/b' }, 'pkg/a/b/2:9.0.1378-2/amd64', 'name'],
      [{ version: '' }, 'vim', 'version'],
      [{ version: '1 2' }, 'pkg/vim/1 2/amd64', 'version'],
      [{ arch: '' }, 'vim', 'arch'],
      [{ arch: 'amd/64' }, 'pkg/vim/2:9.0.1378-2/amd/64', 'arch'],
      [{ size: -1 }, 'pkg/vim/2:9.0.1378-2/amd64', 'size'],
      [{ installedSize: 1.5 }, 'pkg/vim/2:9.0.1378-2/amd64', 'installedSize'],
      [{ size: Number.NaN }, 'pkg/vim/2:9.0.1378-2/amd64', 'size'],
      [{ checksum: { type: 'crc32', value: 'abcd' } }, 'pkg/vim/2:9.0.1378-2/amd64', 'checksum'],
      [{ checksum: { type: 'sha256', value: SHA.slice(1) } }, 'pkg/vim/2:9.0.1378-2/amd64', 'checksum'],
      [{ checksum: { type: 'md5', value: 'z'.repeat(32) } }, 'pkg/vim/2:9.0.1378-2/amd64', 'checksum'],
      [{ summary: 'bell \u0007' }, 'pkg/vim/2:9.0.1378-2/amd64', 'summary'],
      [{ description: 'nul \u0000' }, 'pkg/vim/2:9.0.1378-2/amd64', 'description'],
      [{ maintainer: 'bad \uFFFE' }, 'pkg/vim/2:9.0.1378-2/amd64', 'maintainer'],
      [{ homepage: 'lone \uD800 surrogate' }, 'pkg/vim/2:9.0.1378-2/amd64', 'homepage'],
      [{ location: 'trailing \uDC00' }, 'pkg/vim/2:9.0.1378-2/amd64', 'location'],
      [{ tags: ['ok', 'b\u0001d'] }, 'pkg/vim/2:9.0.1378-2/amd64', 'tags'],
      [{ files: [''] }, 'pkg/vim/2:9.0.1378-2/amd64', 'files'],
      [{ depends: [{ name: '' }] }, 'pkg/vim/2:9.0.1378-2/amd64', 'depends'],
      [{ breaks: [{ name: 'x', op: '<' as never, version: '1' }] }, 'pkg/vim/2:9.0.1378-2/amd64', 'breaks'],
      [{ conflicts: [{ name: 'x', op: '>=' }] }, 'pkg/vim/2:9.0.1378-2/amd64', 'conflicts'],
      [{ provides: [{ anyOf: [] }] }, 'pkg/vim/2:9.0.1378-2/amd64', 'provides'],
      [{ summary: 'x'.repeat((1 << 20) + 1) }, 'pkg/vim/2:9.0.1378-2/amd64', 'summary']
    ]
    for (const [patch, unit, field] of cases) {
      const err = errorOf(() => buildPackage({ ...vim, ...patch }))
      expect({ unit: err.unit, field: err.field }, JSON.stringify(patch).slice(0, 80)).toEqual({ unit, field })
      expect(err.message.startsWith(`${unit} (field ${field}): `)).toBe(true)
      expect(err.code).toBe('ERR_INVALID_DOCUMENT')
    }
  })

  it('says which character XML cannot hold and where', () => {
    const err = errorOf(() => buildPackage({ ...vim, summary: 'ab\u001Bc' }))
    expect(err.message).toContain('U+001B at offset 2')
    expect(illegalXmlCharAt('ok \uD83D\uDE00 ok')).toBe(-1)
    expect(illegalXmlCharAt('\uDE00')).toBe(0)
    expect(illegalXmlCharAt('a\uD83D')).toBe(1)
    expect(illegalXmlCharAt('\uFFFF')).toBe(0)
    expect(illegalXmlCharAt('\t\n\r')).toBe(-1)
  })

  it('normalises checksums to lower case', () => {
    const u = buildPackage(vim)
    expect(serialize(u.root)).toContain(`<checksum type="sha256">${SHA}</checksum>`)
  })
})

describe('buildUtility', () => {
  it('builds a <utility> with identifier, size and checksum', () => {
    const u = buildUtility({ name: 'grub.cfg', version: 'sha256-c8aa62868f9c', size: 12, checksum: { type: 'sha256', value: SHA }, location: 'boot/grub.cfg', summary: 'boot menu' })
    expect(u).toMatchObject({ kind: 'utility', id: 'util/grub.cfg/sha256-c8aa62868f9c', name: 'grub.cfg', version: 'sha256-c8aa62868f9c', collection: ['utilities'] })
    expect(u.arch).toBeUndefined()
    expect(serialize(u.root)).toBe(
      '<utility><name>grub.cfg</name><version>sha256-c8aa62868f9c</version><summary>boot menu</summary><size>12</size>' +
      `<checksum type="sha256">${SHA}</checksum><location>boot/grub.cfg</location></utility>`
    )
    expectNormalised(u.root)
  })

  it('requires size and checksum', () => {
    expect(errorOf(() => buildUtility({ name: 'f', version: '1', size: undefined as never, checksum: { type: 'sha256', value: SHA } })).field).toBe('size')
    const e = errorOf(() => buildUtility({ name: 'f', version: '1', size: 1, checksum: undefined as never }))
    expect([e.unit, e.field]).toEqual(['util/f/1', 'checksum'])
    expect(errorOf(() => buildUtility({ name: 'my file', version: '1', size: 1, checksum: { type: 'sha256', value: SHA } })).field).toBe('name')
  })
})

describe('unitChecksum', () => {
  it('reads the document\'s own checksum as type:hex, as a reader of its XML does', () => {
    const pkg = buildPackage(vim)
    const util = buildUtility({ name: 'f', version: '1', size: 1, checksum: { type: 'sha256', value: SHA } })
    for (const u of [pkg, util]) {
      const m = /<checksum type="([a-z0-9]+)">([0-9a-f]+)<\/checksum>/.exec(serialize(u.root))
      expect(unitChecksum(u.root)).toBe(`${m![1]}:${m![2]}`)
    }
    expect(unitChecksum(buildPackage({ ...vim, checksum: undefined }).root)).toBeUndefined()
    // only a direct child, and only one the builders could write
    expect(unitChecksum(element('package', [], [element('files', [], [textElement('checksum', 'ab', { type: 'sha256' })])]))).toBeUndefined()
    expect(unitChecksum(element('package', [], [textElement('checksum', 'AB', { type: 'sha256' }), textElement('checksum', 'cd', { type: 'md5' })]))).toBe('md5:cd')
  })
})
