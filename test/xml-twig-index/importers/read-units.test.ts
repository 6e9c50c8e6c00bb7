import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { readUnits, sniffFormat, type ImportProgress } from '../../../src/xml-twig-index/importers/index.ts'
import { ImportError } from '../../../src/xml-twig-index/errors.ts'
import { FIXTURES, SHARED, collect, tempDir, writeFile } from './helpers.ts'

const tmp = tempDir()
afterAll(tmp.cleanup)
const SLICE = join(FIXTURES, 'bookworm-slice.Packages.xz')
const SLICE_TR = join(FIXTURES, 'bookworm-slice.Translation-en.xz')
const UPDATES = join(FIXTURES, 'bookworm-updates.Packages.xz')
const PRIMARY = join(FIXTURES, 'rpm/createrepo_c-modified_repo_files-long_primary.xml')

describe('readUnits', () => {
  it('sniffs deb822 and XML content', () => {
    const enc = (s: string): Uint8Array => Buffer.from(s)
    expect(sniffFormat(enc('Package: a\nVersion: 1\n'))).toBe('debian')
    expect(sniffFormat(enc('\uFEFF\n\nPackage: a'))).toBe('debian')
    expect(sniffFormat(enc('<?xml version="1.0"?>\n<metadata xmlns="x">'))).toBe('rpm-md')
    expect(sniffFormat(enc('hello world'))).toBeUndefined()
    expect(sniffFormat(enc('\u0000\u0001binary'))).toBeUndefined()
  })

  it('reads mixed formats in one call, in file order', async () => {
    const { units, rejected } = await collect([UPDATES, PRIMARY, join(FIXTURES, 'rpm/dnf-tests-repos-rpm-primary.xml.gz')])
    expect(rejected).toEqual([])
    expect(units.length).toBe(38 + 2 + 3)
    expect(units[0].collection[0]).toBe('all')
    expect(units[38].id).toBe('pkg/fake_bash/1.1.1-1/x86_64')
  })

  it('drops the same packages read twice, so ids are unique per call', async () => {
    const { units, rejected } = await collect([UPDATES, UPDATES])
    expect([units.length, rejected.length]).toEqual([38, 0])
  })

  it('honours an explicit format and explains what it found instead', async () => {
    await expect(collect([UPDATES], { format: 'rpm-md' })).rejects.toThrow(/line 1: content before the root element: not XML/)
    await expect(collect([PRIMARY], { format: 'debian' })).rejects.toThrow(/line 1: expected "Field: value", got "<\?xml/)
  })

  it('throws ImportError naming the file for missing, unknown and binary inputs', async () => {
    const cases: Array<[string, RegExp]> = [
      [join(tmp.dir, 'missing.xz'), /missing\.xz: cannot read/],
      [writeFile(join(tmp.dir, 'prose.gz'), gzipSync('Just some prose, not metadata.\n')), /prose\.gz: unknown format \(gzip-compressed content/],
      [writeFile(join(tmp.dir, 'noise'), Buffer.from([0, 1, 2, 3, 255, 254])), /noise: unknown format/]
    ]
    for (const [f, re] of cases) {
      const err = await collect([f]).then(() => undefined, (e: unknown) => e)
      expect(err, f).toBeInstanceOf(ImportError)
      expect((err as Error).message).toMatch(re)
      expect((err as ImportError).file).toBe(f)
    }
  })

  it('names a translation file that cannot be read, and leaves no worker behind', async () => {
    const missing = join(tmp.dir, 'Translation-xx.xz')
    await expect(collect([SLICE], { translations: [missing] })).rejects.toThrow(/Translation-xx\.xz: cannot open/)
    const cut = writeFile(join(tmp.dir, 'Translation-cut.xz'), readFileSync(SLICE_TR).subarray(0, 50_000))
    await expect(collect([SLICE], { translations: [cut] })).rejects.toThrow(/Translation-cut\.xz: corrupt xz data: unexpected end of file \(truncated\?\)/)
  })

  it('reads an empty index (plain or compressed) as no units', async () => {
    const empty = writeFile(join(tmp.dir, 'empty'), '')
    const emptyGz = writeFile(join(tmp.dir, 'empty.gz'), gzipSync(''))
    expect(await collect([empty, emptyGz, UPDATES])).toMatchObject({ rejected: [] })
    expect((await collect([empty, emptyGz])).units).toEqual([])
  })

  it('reports progress per file: translations first, then the index, ending at the file size', async () => {
    const progress: ImportProgress[] = []
    const { units } = await collect([SLICE], { translations: [SLICE_TR], onProgress: (p) => progress.push(p) })
    const tr = progress.filter((p) => p.file === SLICE_TR)
    const pk = progress.filter((p) => p.file === SLICE)
    expect(tr.length).toBeGreaterThan(0)
    expect(progress.indexOf(tr[tr.length - 1])).toBeLessThan(progress.indexOf(pk.find((p) => p.units > 0)!))
    expect(tr[tr.length - 1]).toEqual({ file: SLICE_TR, bytesRead: statSync(SLICE_TR).size, bytesTotal: statSync(SLICE_TR).size, units: 0 })
    expect(pk[pk.length - 1]).toEqual({ file: SLICE, bytesRead: statSync(SLICE).size, bytesTotal: statSync(SLICE).size, units: units.length })
    for (let i = 1; i < pk.length; i++) expect(pk[i].bytesRead).toBeGreaterThanOrEqual(pk[i - 1].bytesRead)
  })

  it('stops on abort with the signal\'s reason', async () => {
    const ac = new AbortController()
    let n = 0
    const run = async (): Promise<void> => {
      for await (const u of readUnits([SLICE], { signal: ac.signal })) {
        expect(u.kind).toBe('package')
        if (++n === 10) ac.abort(new Error('enough'))
      }
    }
    await expect(run()).rejects.toThrow('enough')
    expect(n).toBe(10)
    const pre = new AbortController()
    pre.abort()
    await expect(collect([SLICE], { signal: pre.signal })).rejects.toThrow(/abort/i)
  })

  const BIG = join(SHARED, 'debian-bookworm-main-amd64.Packages.xz')
  const BIG_TR = join(SHARED, 'debian-bookworm-main-Translation-en.xz')
  it.skipIf(!existsSync(BIG) || !existsSync(BIG_TR))('imports all of bookworm main with its translations', async () => {
    let units = 0
    let rejected = 0
    let described = 0
    for await (const u of readUnits([BIG], { translations: [BIG_TR] })) {
      if (u.kind === 'rejected') { rejected++; continue }
      units++
      if (u.root.children.some((c) => c.kind === 'element' && c.name === 'description')) described++
    }
    // The count ../shared/data/README.md gives for this file.
    const expected = 63_440
    expect({ units, rejected }).toEqual({ units: expected, rejected: 0 })
    expect(described).toBeGreaterThan(expected * 0.99)
  }, 60_000)
})
