import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { materialize, syntheticRelease, type SyntheticRelease, type SyntheticStanza } from '../../scripts/synthetic-release.ts'
import { EmbeddedIndex } from '../../src/xml-twig-index/embedded.ts'
import { readUnits } from '../../src/xml-twig-index/importers/index.ts'
import { parseXml } from '../../src/xml-twig-index/xml/parse.ts'
import type { XElement } from '../../src/xml-twig-index/xml/tree.ts'
import { unitFileName } from '../../src/torrents/store.ts'

/**
 * The synthetic-release generator on real Debian metadata: slices of
 * bookworm (R1) and trixie (R2) cut by fixtures/make-fixtures.sh, 30 games
 * and 30 perl packages of R1 and the R2 stanzas of the same names.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = join(ROOT, 'test/scripts/fixtures')
const R1 = join(FIXTURES, 'bookworm-games-perl.Packages.xz')
const R2 = join(FIXTURES, 'trixie-games-perl.Packages.xz')
const games = (s: SyntheticStanza): boolean => s.section === 'games'

let tmp: string
beforeAll(async () => { tmp = await mkdtemp(join(tmpdir(), 'edos-synth-')) })
afterAll(async () => { await rm(tmp, { recursive: true, force: true }) })

const sha256 = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex')
const key = (u: SyntheticStanza): string => `${u.package} ${u.version} ${u.arch} ${u.realSha256}`

describe('synthetic content from R1 and R2', () => {
  let r1: SyntheticRelease
  let r2: SyntheticRelease
  beforeAll(async () => {
    r1 = await syntheticRelease({ packages: R1, out: join(tmp, 'r1'), select: games })
    r2 = await syntheticRelease({ packages: R2, out: join(tmp, 'r2'), select: games })
  })

  it('selects the stanzas asked for and sizes each file real size / scale, at least minBytes', () => {
    expect(r1.units.length).toBe(30)
    expect(r2.units.length).toBe(28)
    for (const u of [...r1.units, ...r2.units]) {
      expect(u.section).toBe('games')
      expect(u.size).toBe(Math.max(512, Math.round(u.realSize / 1000)))
    }
    // Both the floor and the proportional rule occur in the slice.
    expect(r1.units.some((u) => u.size === 512)).toBe(true)
    expect(r1.units.some((u) => u.size > 512)).toBe(true)
    expect(r1.bytes).toBe(r1.units.reduce((n, u) => n + u.size, 0))
  })

  it('gives the same real package in both releases byte-identical content, and different ones different content', async () => {
    const inR1 = new Map(r1.units.map((u) => [key(u), u]))
    const same = r2.units.filter((u) => inR1.has(key(u)))
    expect(same.length).toBeGreaterThanOrEqual(5)
    for (const u of same) {
      const v = inR1.get(key(u))!
      expect(u.sha256).toBe(v.sha256)
      expect((await readFile(u.file!)).equals(await readFile(v.file!)), u.filename).toBe(true)
    }
    const all = [...r1.units, ...r2.units]
    expect(new Set(all.map((u) => u.sha256)).size).toBe(new Set(all.map((u) => u.realSha256)).size)
  })

  it('writes each file under the basename of Filename, with the unit\'s SHA256 and size, and nothing else', async () => {
    for (const r of [r1, r2]) {
      expect((await readdir(r.filesDir)).sort()).toEqual(r.units.map((u) => basename(u.filename)).sort())
      for (const u of r.units) {
        expect(u.file).toBe(join(r.filesDir, basename(u.filename)))
        const data = await readFile(u.file!)
        expect(data.length).toBe(u.size)
        expect(sha256(data)).toBe(u.sha256)
      }
    }
  })

  it('is deterministic: a second run writes the same Packages and files', async () => {
    const again = await syntheticRelease({ packages: R1, out: join(tmp, 'r1-again'), select: games })
    expect(await readFile(again.packagesFile, 'utf8')).toBe(await readFile(r1.packagesFile, 'utf8'))
    expect(again.units.map((u) => u.sha256)).toEqual(r1.units.map((u) => u.sha256))
  })

  it('imports with the embedded engine: every package document carries the synthetic size and SHA256 and names its file', async () => {
    for (const [name, r] of [['r1', r1], ['r2', r2]] as const) {
      const dir = await mkdtemp(join(tmp, `index-${name}-`))
      const index = await EmbeddedIndex.open({ path: dir })
      try {
        const summary = await index.import(readUnits([r.packagesFile]), { release: name, date: '2026-11-26' })
        expect({ units: summary.units, rejected: summary.rejected }).toEqual({ units: r.units.length, rejected: 0 })
        const byId = new Map(r.units.map((u) => [`pkg/${u.package}/${u.version}/${u.arch}`, u]))
        let seen = 0
        for await (const d of index.export()) {
          if (!d.id.startsWith('pkg/')) continue
          const u = byId.get(d.id)
          expect(u, d.id).toBeDefined()
          const root = parseXml(d.xml, { where: d.id })
          const checksum = child(root, 'checksum')
          expect(text(checksum)).toBe(u!.sha256)
          expect(checksum?.attributes.find((a) => a.name === 'type')?.value).toBe('sha256')
          expect(Number(text(child(root, 'size')))).toBe(u!.size)
          const file = unitFileName({ id: d.id, name: u!.package, version: u!.version, arch: u!.arch, location: text(child(root, 'location')) })
          expect(file).toBe(basename(u!.file!))
          expect(sha256(await readFile(join(r.filesDir, file)))).toBe(text(checksum))
          seen++
        }
        expect(seen).toBe(r.units.length)
      } finally {
        await index.close()
      }
    }
  })

  it('materialize() writes the same files elsewhere, and refuses units made at another scale', async () => {
    const cache = join(tmp, 'cache')
    const some = r2.units.slice(0, 5)
    const paths = await materialize(some, cache)
    expect(paths).toEqual(some.map((u) => join(cache, basename(u.filename))))
    // Buffer.equals: a deep toEqual walks megabytes element by element.
    for (const [i, u] of some.entries()) expect((await readFile(paths[i])).equals(await readFile(u.file!)), u.filename).toBe(true)
    const other = join(tmp, 'cache-wrong-scale')
    await expect(materialize(some, other, 10)).rejects.toMatchObject({ name: 'SyntheticReleaseError', code: 'ERR_SYNTHETIC_MISMATCH' })
    expect(await readdir(other)).toEqual([])
  })
})

/** A hand-written index: multi-line fields, every checksum field, odd field-name case, a comment. */
const PLAIN = `Package: alpha
Version: 1.0-1
Architecture: amd64
Section: utils
Description: first line
 second line
 .
 third line
Tag: role::program,
 use::testing
# a comment line stays
Filename: pool/main/a/alpha/alpha_1.0-1_amd64.deb
size: 2048000
MD5sum: 0123456789abcdef0123456789abcdef
SHA1: 0123456789abcdef0123456789abcdef01234567
sha256: ${'ab'.repeat(32)}
SHA512: ${'cd'.repeat(64)}
Priority: optional

Package: beta
Version: 2:3.4
Architecture: all
Filename: pool/main/b/beta/beta_3.4_all.deb
Size: 10
SHA256: ${'EF'.repeat(32)}
`

describe('rewriting a Packages file', () => {
  it('replaces Size and SHA256, drops the other checksums and keeps every other line verbatim', async () => {
    const src = join(tmp, 'plain.Packages')
    await writeFile(src, PLAIN)
    const r = await syntheticRelease({ packages: src, out: join(tmp, 'plain'), scale: 1000 })
    const [a, b] = r.units
    expect({ size: a.size, realSize: a.realSize, section: a.section }).toEqual({ size: 2048, realSize: 2048000, section: 'utils' })
    expect({ size: b.size, realSha256: b.realSha256, section: b.section }).toEqual({ size: 512, realSha256: 'ef'.repeat(32), section: undefined })
    // Only these lines change; continuation lines, the comment and the field names' case stay.
    const expected = PLAIN.replace(/^(MD5sum|SHA1|SHA512): .*\n/gm, '')
      .replace('size: 2048000', 'size: 2048').replace(/^sha256: .*$/m, `sha256: ${a.sha256}`)
      .replace('Size: 10\n', 'Size: 512\n').replace(/^SHA256: .*$/m, `SHA256: ${b.sha256}`)
    expect(expected.split('\n').length).toBe(PLAIN.split('\n').length - 3)
    expect(await readFile(r.packagesFile, 'utf8')).toBe(expected)
  })

  it('reads gzip as it reads plain text, and writes only the materialized units\' files', async () => {
    const src = join(tmp, 'plain.Packages.gz')
    await writeFile(src, gzipSync(PLAIN))
    const plain = await syntheticRelease({ packages: join(tmp, 'plain.Packages'), out: join(tmp, 'plain') })
    const r = await syntheticRelease({ packages: src, out: join(tmp, 'gz'), materialize: (s) => s.package === 'beta' })
    expect(await readFile(r.packagesFile, 'utf8')).toBe(await readFile(plain.packagesFile, 'utf8'))
    expect(r.units.map((u) => u.file)).toEqual([undefined, join(r.filesDir, 'beta_3.4_all.deb')])
    expect(await readdir(r.filesDir)).toEqual(['beta_3.4_all.deb'])
  })

  it('streams files larger than one buffer, with the same bytes materialize() writes', async () => {
    const src = join(tmp, 'plain.Packages')
    // 2,048,000 bytes at scale 0.25: 8 MB, past the one-buffer size.
    const r = await syntheticRelease({ packages: src, out: join(tmp, 'big'), scale: 0.25, select: (s) => s.package === 'alpha' })
    const data = await readFile(r.units[0].file!)
    expect(data.length).toBe(8_192_000)
    expect(sha256(data)).toBe(r.units[0].sha256)
    const [copy] = await materialize(r.units, join(tmp, 'big-copy'), 0.25)
    expect(sha256(await readFile(copy))).toBe(r.units[0].sha256)
  })

  it('scale and minBytes change the content; limit stops early', async () => {
    const src = join(tmp, 'plain.Packages')
    const a = await syntheticRelease({ packages: src, out: join(tmp, 's1'), scale: 1000 })
    const b = await syntheticRelease({ packages: src, out: join(tmp, 's2'), scale: 999 })
    const c = await syntheticRelease({ packages: src, out: join(tmp, 's3'), minBytes: 1, limit: 1 })
    expect(a.units[0].sha256).not.toBe(b.units[0].sha256)
    expect(c.units.map((u) => u.size)).toEqual([2048])
  })

  it('names what is wrong: bad options, a stanza without SHA256, two packages under one file name', async () => {
    const src = join(tmp, 'plain.Packages')
    await expect(syntheticRelease({ packages: src, out: join(tmp, 'e1'), scale: 0 })).rejects.toMatchObject({ code: 'ERR_SYNTHETIC_INIT' })
    await expect(syntheticRelease({ packages: src, out: join(tmp, 'e1'), minBytes: 0 })).rejects.toMatchObject({ code: 'ERR_SYNTHETIC_INIT' })
    const noSum = join(tmp, 'nosum.Packages')
    await writeFile(noSum, PLAIN.replace(/^SHA256: .*\n/m, ''))
    await expect(syntheticRelease({ packages: noSum, out: join(tmp, 'e2') })).rejects.toMatchObject({ code: 'ERR_SYNTHETIC_STANZA', message: expect.stringMatching(/nosum\.Packages, stanza at line 20: no sha256/) })
    const clash = join(tmp, 'clash.Packages')
    await writeFile(clash, PLAIN.replace('pool/main/b/beta/beta_3.4_all.deb', 'pool/main/a/alpha/alpha_1.0-1_amd64.deb'))
    await expect(syntheticRelease({ packages: clash, out: join(tmp, 'e3') })).rejects.toMatchObject({ code: 'ERR_SYNTHETIC_NAME' })
  })

  it('runs as a CLI and prints a one-line JSON summary', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'bin/run-ts.js'), join(ROOT, 'scripts/synthetic-release.ts'),
      '--packages', R1, '--out', join(tmp, 'cli'), '--sections', 'perl,games', '--limit', '40', '--scale', '2000'], { cwd: ROOT, timeout: 30_000 })
    const lines = stdout.trim().split('\n')
    expect(lines.length).toBe(1)
    const summary = JSON.parse(lines[0]) as Record<string, unknown>
    expect(summary).toMatchObject({ units: 40, files: 40, scale: 2000, packagesFile: join(tmp, 'cli', 'Packages') })
    expect((await readdir(join(tmp, 'cli', 'files'))).length).toBe(40)
  })
})

function child (el: XElement, name: string): XElement | undefined {
  return el.children.find((c): c is XElement => c.kind === 'element' && c.name === name)
}

function text (el: XElement | undefined): string | undefined {
  const t = el?.children[0]
  return t?.kind === 'text' ? t.value : undefined
}
