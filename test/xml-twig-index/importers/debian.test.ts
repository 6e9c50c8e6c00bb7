import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'
import { readStanzas, type Stanza } from '../../../src/xml-twig-index/importers/deb822.ts'
import { parseRelations, renderDescription, importPackages } from '../../../src/xml-twig-index/importers/debian.ts'
import { InvalidDocumentError, ImportError } from '../../../src/xml-twig-index/errors.ts'
import type { ImportedUnit } from '../../../src/xml-twig-index/documents/index.ts'
import { FIXTURES, SHARED, collect, hasCommand, tempDir, writeFile } from './helpers.ts'
import { readUnits, type ImportProgress } from '../../../src/xml-twig-index/importers/index.ts'

const SLICE = join(FIXTURES, 'bookworm-slice.Packages.xz')
const SLICE_TR = join(FIXTURES, 'bookworm-slice.Translation-en.xz')
const UPDATES = join(FIXTURES, 'bookworm-updates.Packages.xz')
const sliceText = execFileSync('xz', ['-dc', SLICE], { maxBuffer: 64 << 20 }).toString('utf8')
const tmp = tempDir()
afterAll(tmp.cleanup)

function byName (units: ImportedUnit[], name: string): ImportedUnit {
  const u = units.find((x) => x.name === name)
  if (u == null) throw new Error(`no unit ${name}`)
  return u
}

/** Child element text of a document, by element name. */
function field (u: ImportedUnit, name: string): string | undefined {
  for (const c of u.root.children) {
    if (c.kind === 'element' && c.name === name) return c.children[0]?.kind === 'text' ? c.children[0].value : ''
  }
  return undefined
}

async function stanzasOf (chunks: Uint8Array[]): Promise<Stanza[]> {
  const out: Stanza[] = []
  async function * gen (): AsyncGenerator<Uint8Array> { for (const c of chunks) yield c }
  for await (const b of readStanzas(gen(), 'test')) out.push(...b)
  return out
}

describe('Debian Packages import of the bookworm slice', async () => {
  const { units, rejected } = await collect([SLICE], { translations: [SLICE_TR] })

  it('imports every stanza', () => {
    expect(rejected).toEqual([])
    expect(units.length).toBe(2115)
    expect(new Set(units.map((u) => u.id)).size).toBe(2115)
  })

  it('agrees with the Packages text on identity, size, checksum, section and location', () => {
    const stanzas = sliceText.split('\n\n').filter((s) => s.trim() !== '')
    expect(stanzas.length).toBe(units.length)
    const get = (s: string, f: string): string | undefined => new RegExp(`^${f}: (.*)$`, 'm').exec(s)?.[1]
    stanzas.forEach((s, i) => {
      const u = units[i]
      expect(u.id).toBe(`pkg/${get(s, 'Package')}/${get(s, 'Version')}/${get(s, 'Architecture')}`)
      expect(field(u, 'size')).toBe(get(s, 'Size'))
      expect(field(u, 'installedSize')).toBe(get(s, 'Installed-Size'))
      expect(field(u, 'checksum')).toBe(get(s, 'SHA256'))
      expect(field(u, 'location')).toBe(get(s, 'Filename'))
      expect(field(u, 'section')).toBe(get(s, 'Section'))
      expect(field(u, 'summary')).toBe(get(s, 'Description'))
      expect(u.collection).toEqual([get(s, 'Architecture'), get(s, 'Section')])
    })
  })

  it('maps acpid: source without its version, Pre-Depends, Breaks with <<, multi-line tags', () => {
    const u = byName(units, 'acpid')
    expect(serialize(u.root)).toBe(
      '<package><name>acpid</name><version>1:2.0.33-2+b1</version><arch>amd64</arch>' +
      '<summary>Advanced Configuration and Power Interface event daemon</summary>' +
      `<description>${field(u, 'description')!}</description>` +
      '<section>admin</section><priority>optional</priority><maintainer>Josue Ortega &lt;josue@debian.org&gt;</maintainer>' +
      '<homepage>http://sourceforge.net/projects/acpid2/</homepage><source>acpid</source>' +
      '<size>45864</size><installedSize>154</installedSize>' +
      '<checksum type="sha256">3a7d7dc329af106b99da6cf4c553a09d564070cd97e9975df14e8438c0da8941</checksum>' +
      '<location>pool/main/a/acpid/acpid_2.0.33-2+b1_amd64.deb</location>' +
      '<depends><dep name="libc6" op="&gt;=" version="2.34"/><dep name="runit-helper" op="&gt;=" version="2.14.0~"/><dep name="lsb-base" op="&gt;=" version="3.2-14"/><dep name="kmod"/></depends>' +
      '<preDepends><dep name="init-system-helpers" op="&gt;=" version="1.54~"/></preDepends>' +
      '<recommends><dep name="acpi-support-base" op="&gt;=" version="0.114-1"/></recommends>' +
      '<breaks><dep name="runit" op="&lt;&lt;" version="2.1.2-46~"/></breaks>' +
      '<tags><tag>admin::power-management</tag><tag>hardware::power</tag><tag>hardware::power:acpi</tag>' +
      '<tag>implemented-in::c</tag><tag>interface::daemon</tag><tag>role::program</tag></tags></package>'
    )
  })

  it('joins long descriptions from Translation-en by name + Description-md5', () => {
    const u = byName(units, '9mount')
    expect(field(u, 'summary')).toBe('Plan 9 filesystem (v9fs) user mount utilities')
    expect(field(u, 'description')).toBe(
      "9mount is a set of SUID mounting tools for use with v9fs to help\ncope with Linux's poor mount support.\n\n" +
      'The tools offer a level of security - 9mount will only let you\nmount over non-sticky directories you have write access to, and\n' +
      '9umount will only let you unmount 9p partitions that you mounted\nyourself.'
    )
    expect(units.filter((x) => field(x, 'description') != null).length).toBe(2115)
  })

  it('keeps alternatives as anyOf and a package without Source as its own source', async () => {
    const libc = byName(units, 'libc6')
    expect(serialize(libc.root)).toContain('<suggests><dep name="glibc-doc"/><anyOf><dep name="debconf"/><dep name="debconf-2.0"/></anyOf><dep name="libc-l10n"/>')
    expect(field(libc, 'source')).toBe('glibc')
    expect(field(byName(units, '9mount'), 'source')).toBe('9mount')
    const vam = byName(units, 'vim-addon-manager')
    expect(vam.collection).toEqual(['all', 'editors'])
    expect(serialize(vam.root)).toContain('<recommends><anyOf><dep name="vim"/><dep name="gvim"/></anyOf></recommends>')
  })

  it('without translations, keeps only the summary', async () => {
    const plain = await collect([SLICE])
    expect(plain.units.length).toBe(2115)
    expect(field(byName(plain.units, '9mount'), 'description')).toBeUndefined()
    expect(field(byName(plain.units, '9mount'), 'summary')).toBe('Plan 9 filesystem (v9fs) user mount utilities')
  })

  it('gives equal documents from plain, gzip, xz and zstd input', async () => {
    const plain = writeFile(join(tmp.dir, 'Packages'), sliceText)
    const gz = writeFile(join(tmp.dir, 'Packages.gz'), gzipSync(sliceText))
    const files = [plain, gz, SLICE]
    if (hasCommand('zstd')) {
      execFileSync('zstd', ['-q', '-3', plain, '-o', join(tmp.dir, 'Packages.zst')])
      files.push(join(tmp.dir, 'Packages.zst'))
    }
    const expected = units.map((u) => serialize(u.root))
    for (const f of files) {
      const got = await collect([f], { translations: [SLICE_TR] })
      expect(got.units.map((u) => serialize(u.root)), f).toEqual(expected)
    }
  })
})

describe('deb822 reading', () => {
  const text = sliceText.slice(0, sliceText.indexOf('\n\n', 200_000) + 2)
  const bytes = Buffer.from(text)

  it('gives the same stanzas whatever the chunk boundaries (multi-byte characters split too)', async () => {
    const whole = await stanzasOf([bytes])
    expect(whole.length).toBeGreaterThan(50)
    for (const size of [1, 7, 509, 4096, 65_537]) {
      const chunks: Uint8Array[] = []
      for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size))
      const got = await stanzasOf(chunks)
      expect(got.map((s) => [s.line, [...s.fields]]), `chunk size ${size}`).toEqual(whole.map((s) => [s.line, [...s.fields]]))
    }
  })

  it('keeps line numbers and syntax errors of the whole file when a consumer reads only part of each batch', async () => {
    const whole = await stanzasOf([bytes])
    const chunks: Uint8Array[] = []
    for (let i = 0; i < bytes.length; i += 4096) chunks.push(bytes.subarray(i, i + 4096))
    chunks.push(Buffer.from('\nPackage: z\nno colon here\n'))
    // Read whole, the error names the line of `no colon here`.
    const lines = text.split('\n').length + 2
    await expect(stanzasOf(chunks)).rejects.toThrow(new RegExp(`test: line ${lines}: expected "Field: value"`))
    async function * gen (): AsyncGenerator<Uint8Array> { for (const c of chunks) yield c }
    const firsts: Stanza[] = []
    const read = async (): Promise<void> => {
      for await (const batch of readStanzas(gen(), 'test')) {
        for (const s of batch) { firsts.push(s); break }
      }
    }
    await expect(read()).rejects.toThrow(new RegExp(`test: line ${lines}: expected "Field: value"`))
    expect(firsts.length).toBeGreaterThan(10)
    for (const s of firsts) expect(whole.find((w) => w.line === s.line)?.fields).toEqual(s.fields)
  })

  it('reads CRLF, comments, whitespace-only separators, case-insensitive names and a missing final newline', async () => {
    const s = await stanzasOf([Buffer.from('# comment\r\nPACKAGE: a\r\nversion:1\r\nDescription: x\r\n more\r\n  \t\r\nPackage: b\r\nTag: t1,\r\n t2')])
    expect(s.map((x) => Object.fromEntries(x.fields))).toEqual([
      { package: 'a', version: '1', description: 'x\n more' },
      { package: 'b', tag: 't1,\n t2' }
    ])
    expect(s.map((x) => x.line)).toEqual([2, 7])
  })

  it('throws an ImportError naming file and line for syntax errors', async () => {
    await expect(stanzasOf([Buffer.from('Package: a\n\n continuation\n')])).rejects.toThrow(/test: line 3: continuation line outside any field/)
    await expect(stanzasOf([Buffer.from('Package: a\nno colon here\n')])).rejects.toThrow(/line 2: expected "Field: value"/)
    await expect(stanzasOf([Buffer.from([0x50, 0x3a, 0x20, 0xff, 0x0a])])).rejects.toBeInstanceOf(ImportError)
  })

  it('flags a repeated field for rejection', async () => {
    const [s] = await stanzasOf([Buffer.from('Package: a\nVersion: 1\nversion: 2\n')])
    expect(s.duplicate).toBe('version')
  })
})

describe('relations and descriptions', () => {
  it('parses groups, alternatives, operators, arch qualifiers and restrictions', () => {
    expect(parseRelations('libc6 (>= 2.34), python3:any (>= 3.9~), gcc:i386, foo [amd64 i386], a (<< 1) | b:native | c (= 2:1.0-1),', 'u', 'depends')).toEqual([
      { name: 'libc6', op: '>=', version: '2.34' },
      { name: 'python3', op: '>=', version: '3.9~' },
      { name: 'gcc', arch: 'i386' },
      { name: 'foo', arch: 'amd64 i386' },
      { anyOf: [{ name: 'a', op: '<<', version: '1' }, { name: 'b' }, { name: 'c', op: '=', version: '2:1.0-1' }] }
    ])
    // Legacy < and > meant <= and >= (policy 7.1); continuation lines fold.
    expect(parseRelations('a (< 1),\n b (>2)', 'u', 'depends')).toEqual([{ name: 'a', op: '<=', version: '1' }, { name: 'b', op: '>=', version: '2' }])
  })

  it('rejects what is not a relation, naming unit and field', () => {
    for (const bad of ['a (>= )', 'a | | b', 'a (~ 1)', 'a b']) {
      try {
        parseRelations(bad, 'pkg/x/1/amd64', 'breaks')
        throw new Error(`accepted ${bad}`)
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidDocumentError)
        expect((err as InvalidDocumentError).unit).toBe('pkg/x/1/amd64')
        expect((err as InvalidDocumentError).field).toBe('breaks')
      }
    }
  })

  it('renders long descriptions: one leading space dropped, " ." is an empty line, end trimmed', () => {
    expect(renderDescription('Summary here')).toEqual({ summary: 'Summary here' })
    expect(renderDescription('Sum\n para one\n .\n   indented\n para two\n .\n')).toEqual({ summary: 'Sum', description: 'para one\n\n  indented\npara two' })
  })
})

describe('unit rejections', () => {
  const good = 'Package: ok\nVersion: 1\nArchitecture: amd64\nSHA256: ' + 'a'.repeat(64) + '\n'
  const run = async (text: string) => await collect([writeFile(join(tmp.dir, `bad-${Math.random()}.Packages`), text)])

  it('rejects one bad stanza, names it, and imports the rest', async () => {
    const { units, rejected } = await run([
      'Package: nover\nArchitecture: amd64\nSHA256: ' + 'b'.repeat(64),
      'Package: badsize\nVersion: 1\nArchitecture: amd64\nSize: 12k\nSHA256: ' + 'b'.repeat(64),
      'Package: nosum\nVersion: 1\nArchitecture: amd64',
      'Package: twice\nVersion: 1\nVersion: 2\nArchitecture: amd64\nSHA256: ' + 'b'.repeat(64),
      'Package: baddep\nVersion: 1\nArchitecture: amd64\nDepends: a (>> )\nSHA256: ' + 'b'.repeat(64),
      'Version: 1\nArchitecture: amd64',
      good
    ].join('\n\n'))
    expect(units.map((u) => u.id)).toEqual(['pkg/ok/1/amd64'])
    expect(rejected.map((r) => [r.error.unit, r.error.field])).toEqual([
      ['nover', 'version'], ['pkg/badsize/1/amd64', 'size'], ['pkg/nosum/1/amd64', 'checksum'],
      ['pkg/twice/1/amd64', 'version'], ['pkg/baddep/1/amd64', 'depends'], ['(unnamed package)', 'name']
    ])
    expect(rejected[1].error.message).toMatch(/"12k" is not a non-negative integer \(.*bad-.*\.Packages, stanza at line 5\)$/)
  })

  it('falls back to the strongest checksum present', async () => {
    const { units } = await run('Package: m\nVersion: 1\nArchitecture: amd64\nMD5sum: ' + 'c'.repeat(32) + '\nSHA1: ' + 'd'.repeat(40))
    expect(serialize(units[0].root)).toContain(`<checksum type="sha1">${'d'.repeat(40)}</checksum>`)
  })
})

describe('bookworm-updates and streaming', () => {
  it('imports the 38 packages of bookworm-updates', async () => {
    const { units, rejected } = await collect([UPDATES])
    expect(rejected).toEqual([])
    expect(units.length).toBe(38)
    expect(units.map((u) => u.id)).toContain('pkg/openssh-client/1:9.2p1-2+deb12u7/amd64')
  })

  it('yields from a stream without reading it all (units of each chunk as soon as it is parsed)', async () => {
    let fed = 0
    async function * slowly (): AsyncGenerator<Uint8Array> {
      const b = Buffer.from(sliceText)
      for (let i = 0; i < b.length; i += 8192) { fed = i + 8192; yield b.subarray(i, i + 8192) }
    }
    for await (const units of importPackages(slowly(), 'x', undefined)) {
      const batch = [...units]
      expect(batch.length).toBeGreaterThan(0)
      expect(batch.every((u) => u.kind === 'package')).toBe(true)
      break
    }
    expect(fed).toBe(8192)
  })

  const BIG = join(SHARED, 'debian-bookworm-main-amd64.Packages.xz')
  it.skipIf(!existsSync(BIG))('yields the first units of the 50 MB bookworm index long before reading it all', async () => {
    const progress: ImportProgress[] = []
    let seenAtFirst: ImportProgress | undefined
    let n = 0
    for await (const u of readUnits([BIG], { onProgress: (p) => progress.push(p) })) {
      if (u.kind === 'rejected') continue
      if (n++ === 0) seenAtFirst = progress[progress.length - 1]
      if (n === 1000) break
    }
    expect(seenAtFirst).toBeDefined()
    expect(seenAtFirst!.bytesTotal).toBe(readFileSync(BIG).length)
    expect(seenAtFirst!.bytesRead).toBeLessThan(seenAtFirst!.bytesTotal / 8)
    expect(progress[progress.length - 1].bytesRead).toBeLessThan(seenAtFirst!.bytesTotal / 4)
  })
})
