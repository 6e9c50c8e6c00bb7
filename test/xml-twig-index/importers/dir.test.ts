import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { stringValue, type XElement } from '../../../src/xml-twig-index/xml/tree.ts'
import { debianUnit } from '../../../src/xml-twig-index/importers/debian.ts'
import { parseStanzas } from '../../../src/xml-twig-index/importers/deb822.ts'
import { readUnits, type ImportProgress } from '../../../src/xml-twig-index/importers/index.ts'
import { ImportError } from '../../../src/xml-twig-index/errors.ts'
import type { ImportedUnit } from '../../../src/xml-twig-index/documents/index.ts'
import {
  RPM_I18NSTRING, RPM_INT32, RPM_STRING, RPM_STRING_ARRAY, collect, deb, hasCommand, rpm, tempDir, writeFile
} from './helpers.ts'

const tmp = tempDir()
const root = join(tmp.dir, 'repo')
const DPKG = hasCommand('dpkg-deb')
afterAll(tmp.cleanup)

const CONTROL = (name: string): string => `Package: ${name}
Version: 1:2.0-3
Architecture: amd64
Maintainer: Edos Tests <tests@edos.invalid>
Installed-Size: 12
Depends: libc6 (>= 2.34), python3:any | perl
Section: utils
Priority: optional
Homepage: https://edos.invalid/
Description: says hello
 A longer text about saying hello,
 on two lines.
 .
 And a second paragraph.
`

const RPM_TAGS = [
  { tag: 1000, type: RPM_STRING, value: 'kernel-tools' },
  { tag: 1001, type: RPM_STRING, value: '6.0.1' },
  { tag: 1002, type: RPM_STRING, value: '2.fc40' },
  { tag: 1003, type: RPM_INT32, value: [1] },
  { tag: 1004, type: RPM_I18NSTRING, value: ['Kernel tools', 'Kernelwerkzeuge'] },
  { tag: 1005, type: RPM_I18NSTRING, value: ['Tools for the kernel & friends.'] },
  { tag: 1009, type: RPM_INT32, value: [4096] },
  { tag: 1014, type: RPM_STRING, value: 'GPLv2' },
  { tag: 1016, type: RPM_I18NSTRING, value: ['System Environment/Base'] },
  { tag: 1020, type: RPM_STRING, value: 'https://kernel.org/' },
  { tag: 1022, type: RPM_STRING, value: 'x86_64' },
  { tag: 1044, type: RPM_STRING, value: 'kernel-6.0.1-2.fc40.src.rpm' },
  { tag: 1047, type: RPM_STRING_ARRAY, value: ['kernel-tools', 'kernel-tools(x86-64)'] },
  { tag: 1112, type: RPM_INT32, value: [8, 8] },
  { tag: 1113, type: RPM_STRING_ARRAY, value: ['1:6.0.1-2.fc40', '1:6.0.1-2.fc40'] },
  { tag: 1049, type: RPM_STRING_ARRAY, value: ['libc.so.6()(64bit)', 'rpmlib(CompressedFileNames)', 'bash', 'bash', 'python3'] },
  { tag: 1048, type: RPM_INT32, value: [0, (1 << 24) | 8 | 2, 4 | 8, 4 | 8, 2] },
  { tag: 1050, type: RPM_STRING_ARRAY, value: ['', '3.0.4-1', '5.0', '5.0', '4'] },
  { tag: 1054, type: RPM_STRING_ARRAY, value: ['old-tools'] },
  { tag: 1053, type: RPM_INT32, value: [4] },
  { tag: 1055, type: RPM_STRING_ARRAY, value: ['1.0'] },
  { tag: 1090, type: RPM_STRING_ARRAY, value: ['kernel-utils'] },
  { tag: 1114, type: RPM_INT32, value: [2 | 8] },
  { tag: 1115, type: RPM_STRING_ARRAY, value: ['5.0'] },
  { tag: 1116, type: RPM_INT32, value: [0, 1, 2] },
  { tag: 1117, type: RPM_STRING_ARRAY, value: ['tools.conf', 'turbostat', 'README'] },
  { tag: 1118, type: RPM_STRING_ARRAY, value: ['/etc/', '/usr/bin/', '/usr/share/doc/kernel-tools/'] }
]

function child (u: ImportedUnit, name: string): XElement | undefined {
  return u.root.children.find((c): c is XElement => c.kind === 'element' && c.name === name)
}
const text = (u: ImportedUnit, name: string): string | undefined => {
  const c = child(u, name)
  return c == null ? undefined : stringValue(c)
}
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex')

beforeAll(() => {
  writeFile(join(root, 'pool/own.deb'), deb(CONTROL('hello-own')))
  writeFile(join(root, 'pool/own-plain-tar.deb'), deb(CONTROL('hello-tar'), (b) => b, 'control.tar'))
  writeFile(join(root, 'rpms/kernel-tools-6.0.1-2.fc40.x86_64.rpm'), rpm(RPM_TAGS))
  writeFile(join(root, 'boot/grub.cfg'), 'set default=0\n')
  writeFile(join(root, 'A-first.txt'), 'uppercase sorts before lowercase\n')
  writeFile(join(root, '.hidden'), 'not imported')
  writeFile(join(root, '.git/config'), 'not imported')
  writeFile(join(root, 'broken/bad-magic.deb'), Buffer.concat([Buffer.from('!<arch>\n'), Buffer.from('garbage that is not an ar member header at all, long enough............')]))
  const good = deb(CONTROL('hello-cut'))
  writeFile(join(root, 'broken/truncated.deb'), good.subarray(0, 200))
  writeFile(join(root, 'broken/bad-tar.deb'), deb(CONTROL('x'), (b) => { const c = Buffer.from(b); c[10] ^= 0xFF; return gzipSync(c) }))
  writeFile(join(root, 'broken/truncated.rpm'), rpm(RPM_TAGS).subarray(0, 300))
  mkdirSync(join(root, 'links'))
  symlinkSync(join(root, 'boot'), join(root, 'links/boot-dir'))
  symlinkSync(join(root, 'boot/grub.cfg'), join(root, 'links/grub-link.cfg'))
  if (DPKG) {
    for (const z of ['xz', 'gzip', 'zstd', 'none']) {
      const src = join(tmp.dir, `src-${z}`)
      writeFile(join(src, 'DEBIAN/control'), CONTROL(`hello-${z}`))
      writeFile(join(src, 'usr/bin/hello'), '#!/bin/sh\necho hello\n')
      mkdirSync(join(root, 'dpkg'), { recursive: true })
      execFileSync('dpkg-deb', [`-Z${z}`, '--root-owner-group', '--build', src, join(root, `dpkg/hello-${z}.deb`)], { stdio: 'ignore' })
    }
  }
})

describe('directory import', () => {
  it('walks sorted, skips hidden files and directory links, and imports every file', async () => {
    const got: string[] = []
    for await (const u of readUnits([root])) got.push(u.kind === 'rejected' ? `rejected ${u.error.unit}` : `${u.kind} ${u.id}`)
    const dpkg = DPKG ? ['gzip', 'none', 'xz', 'zstd'].map((z) => `package pkg/hello-${z}/1:2.0-3/amd64`) : []
    expect(got).toEqual([
      `utility util/A-first.txt/sha256-${sha256(join(root, 'A-first.txt')).slice(0, 12)}`,
      `utility util/grub.cfg/sha256-${sha256(join(root, 'boot/grub.cfg')).slice(0, 12)}`,
      'rejected broken/bad-magic.deb',
      'rejected broken/bad-tar.deb',
      'rejected broken/truncated.deb',
      'rejected broken/truncated.rpm',
      ...dpkg,
      // A link to a file is followed (a link to a directory is not): the file under the link's name.
      `utility util/grub-link.cfg/sha256-${sha256(join(root, 'boot/grub.cfg')).slice(0, 12)}`,
      'package pkg/hello-tar/1:2.0-3/amd64',
      'package pkg/hello-own/1:2.0-3/amd64',
      'package pkg/kernel-tools/1:6.0.1-2.fc40/x86_64'
    ])
  })

  it('describes a .deb exactly as a Packages index would, with computed size, sha256 and location', async () => {
    const { units } = await collect([root])
    const u = units.find((x) => x.name === 'hello-own')!
    const path = join(root, 'pool/own.deb')
    const stanza = `${CONTROL('hello-own')}Size: ${statSync(path).size}\nSHA256: ${sha256(path)}\nFilename: pool/own.deb\n`
    const [s] = await parseStanzas(Buffer.from(stanza), 'Packages')
    const fromIndex = debianUnit(s, 'Packages', undefined)
    expect(fromIndex.kind).toBe('package')
    expect(serialize(u.root)).toBe(serialize((fromIndex as ImportedUnit).root))
    expect(u.collection).toEqual(['amd64', 'utils'])
    expect(text(u, 'description')).toBe('A longer text about saying hello,\non two lines.\n\nAnd a second paragraph.')
    expect(serialize(u.root)).toContain('<depends><dep name="libc6" op="&gt;=" version="2.34"/><anyOf><dep name="python3"/><dep name="perl"/></anyOf></depends>')
  })

  it.skipIf(!DPKG)('reads .deb files built by dpkg-deb with xz, gzip, zstd and uncompressed control members', async () => {
    const { units } = await collect([join(root, 'dpkg')])
    expect(units.map((u) => u.name)).toEqual(['hello-gzip', 'hello-none', 'hello-xz', 'hello-zstd'])
    for (const u of units) {
      const path = join(root, 'dpkg', `${u.name}.deb`)
      expect(text(u, 'checksum')).toBe(sha256(path))
      expect(text(u, 'size')).toBe(String(statSync(path).size))
      expect(text(u, 'location')).toBe(`${u.name}.deb`)
      expect(text(u, 'summary')).toBe('says hello')
      expect(text(u, 'installedSize')).toBe('12')
    }
  })

  it('describes an .rpm from its header the way primary.xml does', async () => {
    const { units } = await collect([join(root, 'rpms')])
    const u = units[0]
    const path = join(root, 'rpms/kernel-tools-6.0.1-2.fc40.x86_64.rpm')
    expect(u.collection).toEqual(['x86_64', 'System Environment/Base'])
    expect(serialize(u.root)).toBe(
      '<package><name>kernel-tools</name><version>1:6.0.1-2.fc40</version><arch>x86_64</arch><summary>Kernel tools</summary>' +
      '<description>Tools for the kernel &amp; friends.</description><license>GPLv2</license><homepage>https://kernel.org/</homepage>' +
      `<source>kernel-6.0.1-2.fc40.src.rpm</source><size>${statSync(path).size}</size><installedSize>4096</installedSize>` +
      `<checksum type="sha256">${sha256(path)}</checksum><location>kernel-tools-6.0.1-2.fc40.x86_64.rpm</location>` +
      '<epoch>1</epoch><release>2.fc40</release><group>System Environment/Base</group>' +
      '<files><file>/etc/tools.conf</file><file>/usr/bin/turbostat</file></files>' +
      '<depends><dep name="libc.so.6()(64bit)"/><dep name="bash" op="&gt;=" version="5.0"/><dep name="python3" op="&lt;&lt;" version="4"/></depends>' +
      '<provides><dep name="kernel-tools" op="=" version="1:6.0.1-2.fc40"/><dep name="kernel-tools(x86-64)" op="=" version="1:6.0.1-2.fc40"/></provides>' +
      '<conflicts><dep name="old-tools" op="&gt;&gt;" version="1.0"/></conflicts>' +
      '<obsoletes><dep name="kernel-utils" op="&lt;=" version="5.0"/></obsoletes></package>'
    )
  })

  it('marks source RPMs as arch src', async () => {
    const path = writeFile(join(tmp.dir, 'srpm/kernel-tools-6.0.1-2.fc40.src.rpm'), rpm(RPM_TAGS.filter((t) => t.tag !== 1044), { source: true }))
    const { units } = await collect([path])
    expect(units[0].id).toBe('pkg/kernel-tools/1:6.0.1-2.fc40/src')
  })

  it('rejects corrupt package files by name, with the reason', async () => {
    const { rejected } = await collect([join(root, 'broken')])
    const byUnit = Object.fromEntries(rejected.map((r) => [r.error.unit, r.error.message]))
    expect(byUnit['bad-magic.deb']).toMatch(/corrupt \.deb: ar member header at offset 8: bad terminator/)
    expect(byUnit['truncated.deb']).toMatch(/corrupt \.deb: .*runs past the end of the file/)
    expect(byUnit['bad-tar.deb']).toMatch(/corrupt \.deb: tar header at offset 0: checksum mismatch/)
    expect(byUnit['truncated.rpm']).toMatch(/corrupt \.rpm: truncated: main header data needs \d+ bytes/)
    expect(rejected.every((r) => r.error.field === 'file')).toBe(true)
    expect(rejected).toHaveLength(4)
  })

  it('names the package and field of bad metadata inside a readable .deb', async () => {
    const path = writeFile(join(tmp.dir, 'badfield/bad-size.deb'), deb(CONTROL('hello-bad').replace('Installed-Size: 12', 'Installed-Size: twelve')))
    const { rejected } = await collect([path])
    expect([rejected[0].error.unit, rejected[0].error.field]).toEqual(['pkg/hello-bad/1:2.0-3/amd64', 'installedSize'])
    expect(rejected[0].error.message).toContain(path)
  })

  it('reports progress in bytes hashed, ending at the total', async () => {
    const progress: ImportProgress[] = []
    await collect([join(root, 'pool')], { onProgress: (p) => progress.push(p) })
    const total = statSync(join(root, 'pool/own.deb')).size + statSync(join(root, 'pool/own-plain-tar.deb')).size
    expect(progress.every((p) => p.bytesTotal === total && p.file === join(root, 'pool'))).toBe(true)
    expect(progress.map((p) => p.bytesRead)).toEqual([...progress.map((p) => p.bytesRead)].sort((a, b) => a - b))
    expect(progress[progress.length - 1]).toMatchObject({ bytesRead: total, units: 2 })
  })

  it('imports a lone .deb or .rpm given as a file, and refuses it under another format', async () => {
    const { units } = await collect([join(root, 'pool/own.deb'), join(root, 'rpms/kernel-tools-6.0.1-2.fc40.x86_64.rpm')])
    expect(units.map((u) => [u.name, text(u, 'location')])).toEqual([['hello-own', 'own.deb'], ['kernel-tools', 'kernel-tools-6.0.1-2.fc40.x86_64.rpm']])
    await expect(collect([join(root, 'pool/own.deb')], { format: 'debian' })).rejects.toThrow(/is a \.deb package, not debian metadata/)
    await expect(collect([root], { format: 'rpm-md' })).rejects.toBeInstanceOf(ImportError)
    const plain = await collect([join(root, 'boot/grub.cfg')], { format: 'dir' })
    expect(plain.units[0]).toMatchObject({ kind: 'utility', name: 'grub.cfg', collection: ['utilities'] })
    expect(serialize(plain.units[0].root)).toBe(
      `<utility><name>grub.cfg</name><version>sha256-${sha256(join(root, 'boot/grub.cfg')).slice(0, 12)}</version><size>14</size>` +
      `<checksum type="sha256">${sha256(join(root, 'boot/grub.cfg'))}</checksum><location>grub.cfg</location></utility>`
    )
  })
})
