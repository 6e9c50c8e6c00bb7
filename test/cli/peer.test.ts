/**
 * The CLI against a running peer: `edos serve` in a child process on
 * 127.0.0.1 port 0, and `edos query/stats/export/publish --peer` spawned as
 * a user would run them. A second store, imported offline with the same
 * file, is the oracle: `--peer` must print what `--data` prints.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURE = join(ROOT, 'test', 'fixtures', 'bookworm-updates.Packages.xz')
const EDOS = join(ROOT, 'bin', 'edos.js')

interface Run { code: number, stdout: string, stderr: string }

async function edos (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [EDOS, ...args], { cwd: ROOT, timeout: 90_000, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, EDOS_TOKEN: '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
const lines = (s: string): any[] => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))

/** `edos serve` until killed; resolves with its GraphQL URL once it prints it. */
async function serve (data: string): Promise<{ child: ChildProcess, url: string }> {
  const child = spawn(process.execPath, [EDOS, 'serve', '--data', data, '--http', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`edos serve printed no URL within 120 s: ${text}`)) }, 120_000)
    child.stdout!.on('data', (chunk) => {
      text += String(chunk)
      const m = /^graphql: (\S+)$/m.exec(text)
      if (m !== null) { clearTimeout(timer); resolve(m[1]) }
    })
    child.stderr!.on('data', (chunk) => { text += String(chunk) })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`edos serve exited with ${code}: ${text}`)) })
  })
  return { child, url }
}

/** A port nothing listens on: bound, then released. */
async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

describe('edos --peer URL', () => {
  let dir: string
  let peerData: string
  let localData: string
  let server: { child: ChildProcess, url: string }
  let tokenFile: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-cli-peer-'))
    peerData = join(dir, 'peer')
    localData = join(dir, 'local')
    tokenFile = join(peerData, 'api-token')
    const local = await edos(['import', '--data', localData, '--release', 'bookworm-updates', FIXTURE])
    expect(local.code).toBe(0)
    server = await serve(peerData)
  })
  afterAll(async () => {
    if (server?.child.exitCode === null) {
      const exited = new Promise((resolve) => server.child.once('exit', resolve))
      server.child.kill('SIGTERM')
      await exited
    }
    await rm(dir, { recursive: true, force: true })
  })

  it('refuses to publish without the token: exit 2, UNAUTHENTICATED', async () => {
    const r = await edos(['publish', '--peer', server.url, '--release', 'bookworm-updates', FIXTURE])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/UNAUTHENTICATED/)
    expect(r.stderr).toMatch(/--token-file/)
    const wrong = await edos(['publish', '--peer', server.url, '--release', 'bookworm-updates', FIXTURE], { EDOS_TOKEN: 'not-the-token' })
    expect(wrong.code).toBe(2)
    expect(wrong.stderr).toMatch(/UNAUTHENTICATED/)
  })

  it('publishes with --token-file: one summary line like import', async () => {
    const r = await edos(['publish', '--peer', server.url, '--token-file', tokenFile, '--release', 'bookworm-updates', '--format', 'debian', FIXTURE])
    expect(r.stderr).toMatch(/^published 38 units into bookworm-updates \(0 rejected, 0 replaced\), \d+ postings, [\d.]+ s\n$/)
    expect(r.code).toBe(0)
    expect(r.stdout).toBe('')
  })

  it('queries: the same lines as the local query, paged past the server page size', async () => {
    // One pattern at a time: the machine running the suite may have few cores.
    for (const pattern of ['//package/name', '//*', '//package[section = "libs"]']) {
      const [remote, local] = await Promise.all([edos(['query', '--peer', server.url, pattern]), edos(['query', '--data', localData, pattern])])
      expect(remote.stderr).toBe('')
      expect(remote.code).toBe(0)
      expect(remote.stdout).toBe(local.stdout)
      // More than two pages of the server's 500: the paging loop ran.
      if (pattern === '//*') expect(lines(remote.stdout).length).toBeGreaterThan(1000)
    }
  }, 180_000)

  it('pages with --limit and --after', async () => {
    const [allRun, first, none] = await Promise.all([
      edos(['query', '--peer', server.url, '//package/name']),
      edos(['query', '--peer', server.url, '--limit', '2', '//package/name']),
      edos(['query', '--peer', server.url, '--limit', '0', '//package/name'])
    ])
    const all = lines(allRun.stdout)
    expect(lines(first.stdout)).toEqual(all.slice(0, 2))
    const cursor = /more with --after (\S+)/.exec(first.stderr)?.[1]
    expect(cursor).toBeDefined()
    const next = await edos(['query', '--peer', server.url, '--limit', '2', '--after', cursor!, '//package/name'])
    expect(lines(next.stdout)).toEqual(all.slice(2, 4))
    expect(none.stdout).toBe('')
  })

  it('explains a plan through the peer', async () => {
    const r = await edos(['query', '--peer', server.url, '--explain', '//package[section = "libs"]/name'])
    expect(r.code).toBe(0)
    const plan = lines(r.stdout)[0]
    expect(plan.strategy).toBe('postings')
    expect(plan.terms.map((t: { term: string }) => t.term)).toContain('v:section=libs')
  })

  it('prints stats', async () => {
    const r = await edos(['stats', '--peer', server.url])
    expect(r.code).toBe(0)
    const [s] = lines(r.stdout)
    expect(s.documents).toBe(39)
    expect(s.postings).toBeGreaterThan(0)
    expect(s.releases).toEqual([expect.objectContaining({ name: 'bookworm-updates', units: 38 })])
  })

  it('exports documents by id (packages and releases) and all of them, as the local export', async () => {
    const [localAll, remoteAll] = (await Promise.all([edos(['export', '--data', localData]), edos(['export', '--peer', server.url])])).map((r) => lines(r.stdout))
    expect(remoteAll.map((d) => d.id).sort()).toEqual(localAll.map((d) => d.id).sort())
    const pkg = localAll.find((d) => d.id.startsWith('pkg/'))
    const ids = [pkg.id, 'release/bookworm-updates']
    const [remote, local, missing] = await Promise.all([
      edos(['export', '--peer', server.url, ...ids]),
      edos(['export', '--data', localData, ...ids]),
      edos(['export', '--peer', server.url, 'pkg/no-such/1/amd64'])
    ])
    expect(remote.code).toBe(0)
    expect(lines(remote.stdout)).toEqual(lines(local.stdout))
    expect(missing.code).toBe(2)
    expect(missing.stderr).toMatch(/no document with id 'pkg\/no-such\/1\/amd64'/)
  })

  it('reports a bad pattern with its position: exit 2', async () => {
    const r = await edos(['query', '--peer', server.url, '//package['])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/BAD_USER_INPUT/)
    expect(r.stderr).toMatch(/position 10/)
    expect(r.stdout).toBe('')
  })

  it('takes the token from EDOS_TOKEN too', async () => {
    const token = (await readFile(tokenFile, 'utf8')).trim()
    const r = await edos(['publish', '--peer', server.url, '--release', 'bookworm-updates', FIXTURE], { EDOS_TOKEN: token })
    expect(r.code).toBe(0)
    expect(r.stderr).toMatch(/^published 38 units into bookworm-updates/)
  })

  it('rejects --data with --peer, and bad arguments: exit 2', async () => {
    const [both, badUrl, noTokenFile, noFile] = await Promise.all([
      edos(['stats', '--data', localData, '--peer', server.url]),
      edos(['stats', '--peer', 'not a url']),
      edos(['publish', '--peer', server.url, '--token-file', join(dir, 'missing'), '--release', 'x', FIXTURE]),
      edos(['publish', '--peer', server.url, '--token-file', tokenFile, '--release', 'x', join(dir, 'missing.xz')])
    ])
    expect(both.code).toBe(2)
    expect(both.stderr).toMatch(/not both/)
    expect(badUrl.code).toBe(2)
    expect(noTokenFile.code).toBe(2)
    expect(noTokenFile.stderr).toMatch(/cannot read --token-file/)
    expect(noFile.code).toBe(2)
    expect(noFile.stderr).toMatch(/cannot read/)
  })

  it('refuses to admit a mirror by an empty or malformed peer id: exit 2, the peer says BAD_USER_INPUT', async () => {
    const rsa = 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N'
    const garbled = 'z'.repeat(52)
    const [empty, notEd25519, notAnId] = await Promise.all([
      edos(['mirror', 'admit', '--peer', server.url, '--token-file', tokenFile, '']),
      edos(['mirror', 'admit', '--peer', server.url, '--token-file', tokenFile, rsa]),
      edos(['mirror', 'admit', '--peer', server.url, '--token-file', tokenFile, garbled])
    ])
    expect(empty.code).toBe(2)
    expect(empty.stderr).toContain("'' is not a peer id")
    // Base58 of peer-id length passes the CLI's own check: the publisher refuses them.
    expect(notEd25519.code).toBe(2)
    expect(notEd25519.stderr).toMatch(/BAD_USER_INPUT/)
    expect(notEd25519.stderr).toContain(`'${rsa}' is a RSA peer id; a mirror has an Ed25519 one`)
    expect(notAnId.code).toBe(2)
    expect(notAnId.stderr).toMatch(/BAD_USER_INPUT/)
    expect(notAnId.stderr).toContain(`'${garbled}' is not a peer id`)
  })

  it('says when the peer cannot be reached: exit 1', async () => {
    const url = `http://127.0.0.1:${await freePort()}/graphql`
    const r = await edos(['query', '--peer', url, '//package'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`cannot reach peer at ${url}`)
  })

  it('tells the offline commands that the running peer owns its folder', async () => {
    const r = await edos(['stats', '--data', peerData])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/--peer URL/)
  })
})
