import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURES = join(ROOT, 'test', 'fixtures')
const exec = promisify(execFile)

async function edos (...args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const r = await exec(process.execPath, [join(ROOT, 'bin', 'edos.js'), ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, stdout: r.stdout, stderr: r.stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}
const lines = (s: string): unknown[] => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown)

describe('edos CLI', () => {
  let data: string
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-cli-'))
    const r = await edos('import', '--data', data, '--release', 'bookworm-updates', join(FIXTURES, 'bookworm-updates.Packages.xz'))
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/imported \d+ units into bookworm-updates .* postings, [\d.]+ s/)
  })
  afterAll(async () => { await rm(data, { recursive: true, force: true }) })

  it('queries: one JSON object per line', async () => {
    const r = await edos('query', '--data', data, '//package/name')
    expect(r.code).toBe(0)
    const out = lines(r.stdout) as Array<{ doc: string, path: string, xml: string }>
    expect(out.length).toBeGreaterThan(10)
    expect(Object.keys(out[0])).toEqual(['doc', 'path', 'xml'])
    expect(out[0].doc).toMatch(/^pkg\/[^/]+\/[^/]+\/[^/]+$/)
    expect(out[0].path).toBe('/package[1]/name[1]')
    expect(out[0].xml).toMatch(/^<name>.+<\/name>$/)
    const limited = await edos('query', '--data', data, '--limit', '2', '//package/name')
    expect(lines(limited.stdout)).toEqual(out.slice(0, 2))
    const cursor = /--after (\S+)/.exec(limited.stderr)?.[1]
    expect(cursor).toBeDefined()
    const next = await edos('query', '--data', data, '--limit', '2', '--after', cursor!, '//package/name')
    expect(lines(next.stdout)).toEqual(out.slice(2, 4))
  })

  it('explains a plan', async () => {
    const r = await edos('query', '--data', data, '--explain', '//package[section = "libs"]/name')
    const plan = lines(r.stdout)[0] as { strategy: string, terms: Array<{ term: string }> }
    expect(plan.strategy).toBe('postings')
    expect(plan.terms.map((t) => t.term)).toContain('v:section=libs')
  })

  it('exports documents by id and all of them', async () => {
    const all = lines((await edos('export', '--data', data)).stdout) as Array<{ id: string, xml: string }>
    expect(all.some((d) => d.id === 'release/bookworm-updates')).toBe(true)
    const one = all.find((d) => d.id.startsWith('pkg/'))!
    const r = await edos('export', '--data', data, one.id)
    expect(lines(r.stdout)).toEqual([one])
    const missing = await edos('export', '--data', data, 'pkg/nope/1/amd64')
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no document with id 'pkg\/nope\/1\/amd64'/)
  })

  it('prints stats', async () => {
    const s = lines((await edos('stats', '--data', data)).stdout)[0] as { documents: number, releases: Array<{ name: string }> }
    expect(s.documents).toBeGreaterThan(30)
    expect(s.releases.map((r) => r.name)).toEqual(['bookworm-updates'])
  })

  it('exits 2 with the reason on bad input', async () => {
    const bad = await edos('query', '--data', data, '//package[section = ')
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/position \d+/)
    expect(bad.stdout).toBe('')
    expect((await edos('query', '--data', data)).code).toBe(2)
    expect((await edos('import', '--data', data, 'x')).code).toBe(2)
    expect((await edos('frobnicate')).code).toBe(2)
    expect((await edos('query', '--data', data, '--limit', '-1', '//x')).code).toBe(2)
    const malformed = join(data, 'bad.xml')
    await (await import('node:fs/promises')).writeFile(malformed, '<metadata xmlns="http://linux.duke.edu/metadata/common"><package type="rpm"><name>x</nam></package></metadata>')
    const r = await edos('import', '--data', data, '--release', 'r', '--format', 'rpm-md', malformed)
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/bad\.xml/)
    // the failed import left the store as it was
    const s = lines((await edos('stats', '--data', data)).stdout)[0] as { releases: Array<{ name: string }> }
    expect(s.releases.map((x) => x.name)).toEqual(['bookworm-updates'])
  })
})
