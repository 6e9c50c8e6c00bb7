/**
 * client-examples/package-manager-subscriber as a user runs it (a child
 * process through bin/run-ts.js) against a real peer + server on 127.0.0.1:
 * it prints a notification, remembers its seq, resumes after a restart
 * from the state file (a publish made while it was down is not missed, an
 * old one is not repeated), and with --download prints the typed result.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const FIXTURE = join(ROOT, 'test', 'fixtures', 'bookworm-updates.Packages.xz')

async function subscriber (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'run-ts.js'), 'client-examples/package-manager-subscriber/index.ts', ...args], { cwd: ROOT, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr })
    })
  })
}
const lines = (s: string): any[] => s.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))

describe('client-examples/package-manager-subscriber', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  const publish = async (): Promise<unknown> => await peer.publish([{ kind: 'path', path: FIXTURE }], { release: 'bookworm-updates', format: 'debian' })

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-subscriber-'))
    peer = await EmbeddedPeer.start({ data, role: 'publisher' })
    server = await startServer({ peer, port: 0 })
  })
  afterAll(async () => {
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  it('prints notifications, resumes from its state file, and downloads', async () => {
    const state = join(data, 'subscriber-state.json')
    const common = ['--url', server.wsUrl, '--channel', 'releases', '--state', state, '--count', '1']
    await publish()
    const first = await subscriber([...common, '--download', '--token-file', join(data, 'api-token')])
    expect(first.code).toBe(0)
    const [one, download] = lines(first.stdout)
    expect(one.notification).toMatchObject({ channel: 'releases', seq: 1, release: 'bookworm-updates' })
    expect(one.notification.added.length).toBe(38)
    // The embedded peer has no content network yet: the typed Download comes back FAILED, with its reason.
    expect(download.download).toMatchObject({ units: one.notification.added.map((u: { doc: string }) => u.doc), state: expect.stringMatching(/^(QUEUED|RUNNING|COMPLETED|FAILED)$/) })
    expect(JSON.parse(await readFile(state, 'utf8'))).toEqual({ [`${server.wsUrl} releases`]: 1 })

    // Published while the subscriber was down: the restart picks it up from since = 1, not seq 1 again.
    await publish()
    const second = await subscriber(common)
    expect(second.code).toBe(0)
    const out = lines(second.stdout)
    expect(out).toHaveLength(1)
    expect(out[0].notification.seq).toBe(2)
    expect(JSON.parse(await readFile(state, 'utf8'))[`${server.wsUrl} releases`]).toBe(2)
  })

  it('stops with exit 2 on a channel that does not exist', async () => {
    const r = await subscriber(['--url', server.wsUrl, '--channel', 'no-such-channel', '--state', join(data, 'other.json'), '--count', '1'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/NOT_FOUND|BAD_USER_INPUT/)
  })
})
