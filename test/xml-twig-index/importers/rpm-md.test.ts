import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { parseXml } from '../../../src/xml-twig-index/xml/parse.ts'
import { stringValue, type XElement } from '../../../src/xml-twig-index/xml/tree.ts'
import { importPrimary } from '../../../src/xml-twig-index/importers/rpm-md.ts'
import { ImportError } from '../../../src/xml-twig-index/errors.ts'
import type { ImportedUnit } from '../../../src/xml-twig-index/documents/index.ts'
import { FIXTURES, collect, tempDir, writeFile } from './helpers.ts'

const RPM = join(FIXTURES, 'rpm')
const file = (name: string): string => join(RPM, readdirSync(RPM).find((f) => f.includes(name))!)
const tmp = tempDir()
afterAll(tmp.cleanup)

function child (u: ImportedUnit | XElement, name: string): XElement | undefined {
  const root = 'root' in u ? u.root : u
  return root.children.find((c): c is XElement => c.kind === 'element' && c.name === name)
}
const text = (u: ImportedUnit, name: string): string | undefined => {
  const c = child(u, name)
  return c == null ? undefined : stringValue(c)
}

const HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="1">\n'
function pkg (inner = '', name = 'p', version = '<version epoch="0" ver="1.0" rel="1"/>'): string {
  return `<package type="rpm"><name>${name}</name><arch>x86_64</arch>${version}<checksum type="sha256" pkgid="YES">${'a'.repeat(64)}</checksum>` +
    `<summary>s</summary><size package="10" installed="20" archive="0"/><location href="${name}.rpm"/><format>${inner}</format></package>\n`
}
const primary = (body: string, declared = 1): string => HEAD.replace('packages="1"', `packages="${declared}"`) + body + '</metadata>\n'
const save = (name: string, content: string | Uint8Array): string => writeFile(join(tmp.dir, name), content)

async function units (content: string, chunk = 1 << 20): Promise<ImportedUnit[]> {
  const bytes = Buffer.from(content)
  async function * gen (): AsyncGenerator<Uint8Array> { for (let i = 0; i < bytes.length; i += chunk) yield bytes.subarray(i, i + chunk) }
  const out: ImportedUnit[] = []
  for await (const batch of importPrimary(gen(), 'test.xml')) for (const u of batch) if (u.kind !== 'rejected') out.push(u)
  return out
}

describe('RPM primary.xml fixtures', () => {
  it('imports every fixture, plain and gzip', async () => {
    const counts: Record<string, [number, number]> = {}
    for (const f of readdirSync(RPM)) {
      const { units, rejected } = await collect([join(RPM, f)])
      counts[f.replace(/-[0-9a-f]{64}/, '')] = [units.length, rejected.length]
    }
    expect(counts).toEqual({
      'createrepo_c-modified_repo_files-error_00-primary.xml': [1, 1],
      'createrepo_c-modified_repo_files-long_primary.xml': [2, 0],
      'createrepo_c-modified_repo_files-repo_01_ampersand-primary.xml': [1, 0],
      'createrepo_c-repo_koji_01-primary.xml.gz': [2, 0],
      // Four listed, two distinct: a repeated id with the same checksum is the same package.
      'createrepo_c-repo_with_duplicate_packages-primary.xml.gz': [2, 0],
      'createrepo_c-repodata_snippets-primary_snippet_01.xml': [1, 0],
      // Nine listed: three packages, each mirrored under three paths.
      'dnf-tests-repos-rpm-primary.xml.gz': [3, 0]
    })
  })

  it('rejects exactly the checksum-less unit of error_00, by name, and imports the other', async () => {
    const { units, rejected } = await collect([file('error_00')])
    expect(rejected).toHaveLength(1)
    expect(rejected[0].error.unit).toBe('pkg/fake_bash/1.1.1-1/x86_64')
    expect(rejected[0].error.field).toBe('checksum')
    expect(rejected[0].error.message).toMatch(/^pkg\/fake_bash\/1\.1\.1-1\/x86_64 \(field checksum\): missing \(.*error_00-primary\.xml, line 3\)$/)
    expect(units.map((u) => u.id)).toEqual(['pkg/super_kernel/6.0.1-2/x86_64'])
  })

  it('maps every field of super_kernel', async () => {
    const [u] = (await collect([file('error_00')])).units
    expect(u.collection).toEqual(['x86_64', 'Applications/System'])
    expect(serialize(u.root)).toBe(
      '<package><name>super_kernel</name><version>6.0.1-2</version><arch>x86_64</arch><summary>Test package</summary>' +
      '<description>This package has provides, requires, obsoletes, conflicts options.</description><license>LGPLv2</license>' +
      '<homepage>http://so_super_kernel.com/it_is_awesome/yep_it_really_is</homepage><source>super_kernel-6.0.1-2.src.rpm</source>' +
      '<size>2845</size><installedSize>0</installedSize><checksum type="sha256">6d43a638af70ef899933b1fd86a866f18f65b0e0e17dcbf2e42bfd0cdd7c63c3</checksum>' +
      '<location>super_kernel-6.0.1-2.x86_64.rpm</location><epoch>0</epoch><release>2</release><group>Applications/System</group>' +
      '<files><file>/usr/bin/super_kernel</file></files>' +
      '<depends><dep name="bzip2" op="&gt;=" version="1.0.0"/><dep name="expat"/><dep name="glib" op="&gt;=" version="2.26.0"/><dep name="zlib"/></depends>' +
      '<provides><dep name="not_so_super_kernel" op="&lt;&lt;" version="5.8.0"/><dep name="super_kernel" op="=" version="6.0.0"/>' +
      '<dep name="super_kernel" op="=" version="6.0.1-2"/><dep name="super_kernel(x86-64)" op="=" version="6.0.1-2"/></provides>' +
      '<conflicts><dep name="kernel"/><dep name="super_kernel" op="=" version="5.0.0"/><dep name="super_kernel" op="&lt;&lt;" version="4.0.0"/></conflicts>' +
      '<obsoletes><dep name="kernel"/><dep name="super_kernel" op="=" version="5.9.0"/></obsoletes></package>'
    )
  })

  it('round-trips the ampersands of repo_01_ampersand', async () => {
    const [u] = (await collect([file('ampersand')])).units
    expect(text(u, 'summary')).toBe('Tes&t package')
    expect(text(u, 'license')).toBe('LGPL&v2')
    expect(text(u, 'location')).toBe('super_kernel&-6.0.1-2.x86_64.rpm')
    const xml = serialize(u.root)
    expect(xml).toContain('<summary>Tes&amp;t package</summary>')
    expect(xml).toContain('<dep name="super_&amp;&amp;kernel(x86-64)" op="=" version="6.0.1-2"/>')
    expect(xml).toContain('<file>/usr/bin/supe&amp;&amp;r_kernel</file>')
    expect(serialize(parseXml(xml))).toBe(xml)
    const files = child(u, 'files')!.children.map((c) => stringValue(c))
    expect(files).toEqual(['/usr/bin&/super_kernel', '/usr/bin/supe&&r_kernel', '/usr/bin/super_kernel'])
  })

  it('reads gzip-compressed repodata (koji) and multi-line descriptions', async () => {
    const { units } = await collect([file('koji')])
    expect(units.map((u) => u.id)).toEqual(['pkg/dwm/6.1-6.fc27/x86_64', 'pkg/dwm/6.1-7.fc28/x86_64'])
    expect(text(units[0], 'description')).toMatch(/^dwm is a dynamic window manager for X\. .*\nfloating layouts\./)
    expect(text(units[0], 'maintainer')).toBe('Fedora Project')
  })

  it('gives the same documents whatever the chunk boundaries', async () => {
    const content = readFileSync(file('long_primary'), 'utf8')
    const whole = (await units(content)).map((u) => serialize(u.root))
    expect(whole).toHaveLength(2)
    for (const size of [1, 9, 10, 11, 100, 4096]) {
      expect((await units(content, size)).map((u) => serialize(u.root)), `chunk ${size}`).toEqual(whole)
    }
  })

  it('treats a duplicate id with a different checksum as a rejection', async () => {
    const xml = gunzipSync(readFileSync(file('repo_with_duplicate'))).toString('utf8')
    const changed = xml.replace('90f61e546938a11449b710160ad294618a5bd3062e46f8cf851fd0088af184b7</checksum>', 'f'.repeat(64) + '</checksum>')
    const { units, rejected } = await collect([save('dup.xml.gz', gzipSync(changed))])
    expect(units.map((u) => u.id)).toEqual(['pkg/fake_bash/1.1.1-1/x86_64', 'pkg/super_kernel/6.0.1-2/x86_64'])
    expect(rejected.map((r) => [r.error.unit, r.error.field])).toEqual([['pkg/fake_bash/1.1.1-1/x86_64', 'checksum']])
    expect(rejected[0].error.message).toMatch(/duplicate id with a different checksum/)
  })
})

describe('RPM versions and relations', () => {
  it('keeps epochs in the version when > 0 and in <epoch>', async () => {
    const [u] = await units(primary(pkg(
      '<rpm:provides><rpm:entry name="p" flags="EQ" epoch="2" ver="1.0" rel="1"/></rpm:provides>' +
      '<rpm:requires><rpm:entry name="q" flags="GE" epoch="1" ver="3"/><rpm:entry name="rpmlib(PayloadIsXz)" flags="LE" epoch="0" ver="5.2" rel="1"/>' +
      '<rpm:entry name="r" flags="GT" epoch="0" ver="4" rel="0"/><rpm:entry name="s" flags="LE" ver="9"/><rpm:entry name="/bin/sh"/></rpm:requires>' +
      '<rpm:recommends><rpm:entry name="w"/></rpm:recommends>',
      'p', '<version epoch="2" ver="1.0" rel="1"/>')))
    expect(u.id).toBe('pkg/p/2:1.0-1/x86_64')
    expect(text(u, 'epoch')).toBe('2')
    expect(text(u, 'release')).toBe('1')
    const xml = serialize(u.root)
    expect(xml).toContain('<provides><dep name="p" op="=" version="2:1.0-1"/></provides>')
    expect(xml).toContain('<depends><dep name="q" op="&gt;=" version="1:3"/><dep name="r" op="&gt;&gt;" version="4-0"/><dep name="s" op="&lt;=" version="9"/><dep name="/bin/sh"/></depends>')
    expect(xml).toContain('<recommends><dep name="w"/></recommends>')
    expect(xml).not.toContain('rpmlib')
  })

  it('decodes character references and accepts CDATA and comments', async () => {
    const [u] = await units(primary(pkg('<!-- a comment --><rpm:license>A&#38;B &#x263A;</rpm:license>').replace('<summary>s</summary>', '<summary><![CDATA[1 < 2 & 3]]></summary>')))
    expect(text(u, 'license')).toBe('A&B ☺')
    expect(text(u, 'summary')).toBe('1 < 2 & 3')
  })
})

describe('hostile and broken primary.xml', () => {
  const importError = async (content: string): Promise<ImportError> => {
    try {
      await collect([save(`bad-${Math.random()}.xml`, content)])
    } catch (err) {
      expect(err).toBeInstanceOf(ImportError)
      return err as ImportError
    }
    throw new Error('expected an ImportError')
  }

  it('refuses DTDs and entity declarations anywhere', async () => {
    const dtd = '<?xml version="1.0"?>\n<!DOCTYPE metadata [<!ENTITY x "boom">]>\n' + primary(pkg()).slice(HEAD.indexOf('<metadata'))
    expect((await importError(dtd)).message).toMatch(/line 2: <!DOCTYPE> is not accepted/)
    expect((await importError(primary(pkg() + '<!ENTITY y "z">\n' + pkg('', 'q'), 2))).message).toMatch(/line 4: <!ENTITY> is not accepted/)
    expect((await importError(primary(pkg('<!DOCTYPE x>')))).message).toMatch(/line 3: <!DOCTYPE> is not accepted/)
  })

  it('refuses undefined entities and bare ampersands as not well-formed', async () => {
    expect((await importError(primary(pkg('<rpm:license>&foo;</rpm:license>')))).message).toMatch(/undefined entity &foo;/)
    expect((await importError(primary(pkg('<rpm:license>a & b</rpm:license>')))).message).toMatch(/bare '&'|'&' is not expected/)
  })

  it('names the line of a malformed package', async () => {
    const err = await importError(primary(pkg() + '<package type="rpm">\n<name>q</nam>\n</package>\n', 2))
    expect(err.message).toMatch(/bad-.*\.xml: line 5: .*nam/)
  })

  it('refuses truncated files, wrong roots and package-count mismatches', async () => {
    expect((await importError(primary(pkg()).slice(0, -40))).message).toMatch(/unterminated <package>/)
    expect((await importError(primary(pkg()).replace('</metadata>\n', ''))).message).toMatch(/<metadata> is not closed/)
    expect((await importError(primary(pkg(), 3))).message).toMatch(/packages="3"> but 1 <package> elements found/)
    expect((await importError('<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="1"><package pkgid="x" name="p" arch="x86_64"></package></filelists>')).message).toMatch(/root element <filelists>/)
    expect((await importError(primary(pkg()).replace('metadata/common"', 'metadata/other"'))).message).toMatch(/namespace/)
  })

  it('rejects a unit with invalid fields and goes on', async () => {
    const bad = pkg().replace('<size package="10"', '<size package="ten"')
    const { units, rejected } = await collect([save('badunit.xml', primary(bad + pkg('', 'q'), 2))])
    expect(units.map((u) => u.id)).toEqual(['pkg/q/1.0-1/x86_64'])
    expect([rejected[0].error.unit, rejected[0].error.field]).toEqual(['pkg/p/1.0-1/x86_64', 'size'])
  })
})
