import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseHttp, runServe } from '../../src/cli/serve.ts'
import { eventually, gql } from './helpers.ts'

describe('edos serve', () => {
  let data: string
  beforeAll(async () => { data = await mkdtemp(join(tmpdir(), 'edos-serve-')) })
  afterAll(async () => { await rm(data, { recursive: true, force: true }); await rm(data + '-net', { recursive: true, force: true }) })

  it('parses --http HOST:PORT', () => {
    expect(parseHttp('127.0.0.1:4000')).toEqual({ host: '127.0.0.1', port: 4000 })
    expect(parseHttp('[::1]:0')).toEqual({ host: '::1', port: 0 })
    expect(() => parseHttp('localhost')).toThrow(/HOST:PORT/)
    expect(() => parseHttp('h:99999')).toThrow(/HOST:PORT/)
  })

  it('prints peer id, multiaddrs and GraphQL URL for a networked peer, one per line', async () => {
    let text = ''
    const out = new Writable({ write (chunk, _enc, done) { text += String(chunk); done() } })
    let stop!: () => void
    const until = new Promise<void>((resolve) => { stop = resolve })
    const running = runServe({ data: data + '-net', http: '127.0.0.1:0', until, out, network: {} })
    await eventually(() => text.split('\n').length >= 5, 30_000)
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[0]).toMatch(/^peer id: 12D3KooW\S+$/)
    expect(lines[1]).toMatch(/^multiaddrs: \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3KooW\S+$/)
    const url = lines[2].slice('graphql: '.length)
    const r = await gql(url, '{ network { indexPeers index { indexPeer catalogSeq } } }')
    expect(r.body.data.network).toEqual({ indexPeers: 1, index: { indexPeer: true, catalogSeq: 0 } })
    stop()
    expect(await running).toBe(0)
  }, 60_000)

  it('prints four lines, serves GraphQL, and stops cleanly', async () => {
    let text = ''
    const out = new Writable({ write (chunk, _enc, done) { text += String(chunk); done() } })
    let stop!: () => void
    const until = new Promise<void>((resolve) => { stop = resolve })
    const running = runServe({ data, http: '127.0.0.1:0', until, out })
    await eventually(() => text.split('\n').length >= 5, 20_000)
    const lines = text.trimEnd().split('\n')
    expect(lines).toHaveLength(4)
    expect(lines[0]).toMatch(/^peer id: \S+$/)
    expect(lines[1]).toBe('multiaddrs: (none: embedded, no network)')
    expect(lines[2]).toMatch(/^graphql: http:\/\/127\.0\.0\.1:\d+\/graphql$/)
    expect(lines[3]).toBe(`console: ${lines[2].slice('graphql: '.length).replace(/graphql$/, 'console/')}`)
    const url = lines[2].slice('graphql: '.length)
    const r = await gql(url, '{ stats { documents } }')
    expect(r.body.data.stats.documents).toBe(0)
    stop()
    expect(await running).toBe(0)
    await expect(fetch(url)).rejects.toThrow()
  })
})
