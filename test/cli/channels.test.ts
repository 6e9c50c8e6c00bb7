/**
 * `edos channel create|list` and `edos subscribe` against a running peer
 * (`edos serve --embedded` in a child process on 127.0.0.1): one JSON
 * object per line, exit 2 with the reason on stderr for bad input.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
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
    execFile(process.execPath, [EDOS, ...args], { cwd: ROOT, timeout: 90_000, env: { ...process.env, EDOS_TOKEN: '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
const lines = (s: string): any[] => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))

describe('edos channel / subscribe --peer URL', () => {
  let dir: string
  let child: ChildProcess
  let url: string
  let token: string

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-cli-channels-'))
    child = spawn(process.execPath, [EDOS, 'serve', '--embedded', '--data', join(dir, 'peer'), '--http', '127.0.0.1:0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`edos serve printed no URL within 150 s: ${text}`)) }, 150_000)
      child.stdout!.on('data', (chunk) => {
        text += String(chunk)
        const m = /^graphql: (\S+)$/m.exec(text)
        if (m !== null) { clearTimeout(timer); resolve(m[1]) }
      })
      child.stderr!.on('data', (chunk) => { text += String(chunk) })
    })
    token = (await readFile(join(dir, 'peer', 'api-token'), 'utf8')).trim()
  }, 180_000)

  afterAll(async () => {
    child?.kill('SIGTERM')
    await new Promise((resolve) => { child?.once('exit', resolve); setTimeout(resolve, 10_000) })
    await rm(dir, { recursive: true, force: true })
  })

  it('creates a channel (token needed, filter checked) and lists channels', async () => {
    const noToken = await edos(['channel', 'create', '--peer', url, 'misc'])
    expect(noToken.code).toBe(2)
    expect(noToken.stderr).toMatch(/UNAUTHENTICATED/)
    const bad = await edos(['channel', 'create', '--peer', url, 'bad', '--filter', '//package[section = '], { EDOS_TOKEN: token })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/BAD_USER_INPUT: invalid channel filter at position 20/)
    const ok = await edos(['channel', 'create', '--peer', url, 'misc', '--filter', '//package[section = "misc"]', '--description', 'misc things'], { EDOS_TOKEN: token })
    expect(ok.code, ok.stderr).toBe(0)
    expect(lines(ok.stdout)).toEqual([expect.objectContaining({ name: 'misc', description: 'misc things', filter: '//package[section = "misc"]', lastSeq: 0 })])
    const list = await edos(['channel', 'list', '--peer', url])
    expect(lines(list.stdout).map((c) => c.name).sort()).toEqual(['misc', 'releases'])
    expect((await edos(['channel', 'drop', '--peer', url, 'misc'])).code).toBe(2)
  }, 120_000)

  it('follows a channel: live, then resumed with --since; bad input exits 2', async () => {
    const sub = spawn(process.execPath, [EDOS, 'subscribe', '--peer', url, 'releases', '--count', '1'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    sub.stdout!.on('data', (c) => { out += String(c) })
    const exited = new Promise<number | null>((resolve) => sub.once('exit', resolve))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const pub = await edos(['publish', '--peer', url, '--release', 'bookworm-updates', FIXTURE], { EDOS_TOKEN: token })
    expect(pub.code, pub.stderr).toBe(0)
    expect(await exited).toBe(0)
    const [n] = lines(out)
    expect(n).toMatchObject({ channel: 'releases', seq: 1, release: 'bookworm-updates', removed: [] })
    expect(n.added).toHaveLength(38)
    expect(n.added[0]).toMatchObject({ kind: 'PACKAGE', doc: expect.stringMatching(/^pkg\//), checksum: expect.stringMatching(/^sha256:/) })
    const misc = await edos(['subscribe', '--peer', url, 'misc', '--since', '0', '--count', '1'])
    expect(lines(misc.stdout).map((m) => [m.seq, m.added.map((u: { name: string }) => u.name)])).toEqual([[1, ['ca-certificates']]])
    const nope = await edos(['subscribe', '--peer', url, 'nope', '--count', '1'])
    expect(nope).toMatchObject({ code: 2, stderr: expect.stringMatching(/NOT_FOUND: no channel 'nope'/) })
    expect((await edos(['subscribe', '--peer', url, 'misc', '--since=-1'])).stderr).toMatch(/--since must be an integer >= 0, got '-1'/)
    const auto = await edos(['subscribe', '--peer', url, 'misc', '--since', '0', '--count', '1', '--auto-download'])
    expect(auto).toMatchObject({ code: 2, stderr: expect.stringMatching(/UNAUTHENTICATED/) })
  }, 180_000)
})
