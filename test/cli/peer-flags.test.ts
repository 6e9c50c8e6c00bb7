/**
 * The places that spell out a peer's node flags by hand (a shebang and an
 * npm script cannot import them) say what src/cli/peer-flags.ts says, and
 * node accepts them.
 */
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { PEER_NODE_FLAGS } from '../../src/cli/peer-flags.ts'

const ROOT = join(fileURLToPath(import.meta.url), '..', '..', '..')

describe('peer node flags', () => {
  it('are the shebang of bin/edos.js', async () => {
    const first = (await readFile(join(ROOT, 'bin', 'edos.js'), 'utf8')).split('\n')[0]
    expect(first).toBe(`#!/usr/bin/env -S node ${PEER_NODE_FLAGS.join(' ')}`)
  })

  it('are in npm start', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    expect(pkg.scripts.start).toBe(`node ${PEER_NODE_FLAGS.join(' ')} bin/edos.js start`)
  })

  it('are flags this node accepts', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [...PEER_NODE_FLAGS, '-e', 'process.stdout.write("ok")'], { timeout: 30_000 }, (err, stdout) => { if (err !== null) reject(err); else resolve(stdout) })
    })
    expect(out).toBe('ok')
  })
})
