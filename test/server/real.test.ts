/**
 * The server over the real schema (src/resolvers) and a real embedded peer
 * (src/actors) on a temporary data folder: what `edos serve` runs.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { gql, next, wsClient } from './helpers.ts'

const FIXTURE = fileURLToPath(new URL('../fixtures/bookworm-updates.Packages.xz', import.meta.url))
const CHANNEL = 'subscription ($since: Int) { channel(name: "releases", since: $since) { channel seq release } }'

describe('edos server over an embedded peer', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let token: string
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-server-'))
    peer = await EmbeddedPeer.start({ data, role: 'publisher' })
    token = (await readFile(join(data, 'api-token'), 'utf8')).trim()
    server = await startServer({ peer, port: 0 })
  })
  afterAll(async () => {
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  const publish = async (release: string, auth?: string): Promise<{ status: number, body: any }> => {
    const form = new FormData()
    form.set('operations', JSON.stringify({
      query: 'mutation ($input: PublishPackagesInput!) { publishPackages(input: $input) { summary { release units rejected } } }',
      variables: { input: { release, format: 'DEBIAN', files: [null] } }
    }))
    form.set('map', JSON.stringify({ 0: ['variables.input.files.0'] }))
    form.set('0', new Blob([await readFile(FIXTURE)]), 'bookworm-updates.Packages.xz')
    const res = await fetch(server.url, { method: 'POST', body: form, headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` }, signal: AbortSignal.timeout(30_000) })
    return { status: res.status, body: await res.json() }
  }

  it('answers stats on an empty peer', async () => {
    const r = await gql(server.url, '{ stats { documents } }')
    expect(r.status).toBe(200)
    expect(r.body.data.stats.documents).toBe(0)
  })

  it('refuses publishPackages without the token', async () => {
    const r = await publish('bookworm-updates')
    expect(r.body.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    // refused before the body is read: yoga would buffer every upload first
    expect(r.status).toBe(401)
    const wrong = await publish('bookworm-updates', 'not-the-token')
    expect(wrong.body.errors[0].extensions.code).toBe('UNAUTHENTICATED')
  })

  it('publishes an uploaded Packages.xz, announces it, and a dropped subscriber resumes', async () => {
    const first = wsClient(server.wsUrl)
    const it1 = first.iterate<{ channel: { seq: number, release: string } }>({ query: CHANNEL, variables: { since: 0 } })
    const firstEvent = next(it1, 30_000)
    firstEvent.catch(() => {}) // awaited below; a failure before that must not go unhandled
    // Let the subscription reach the peer before publishing.
    await new Promise((resolve) => setTimeout(resolve, 200))
    const r = await publish('bookworm-updates', token)
    expect(r.status).toBe(200)
    expect(r.body.errors).toBeUndefined()
    expect(r.body.data.publishPackages.summary.units).toBeGreaterThan(10)
    const e1 = (await firstEvent).data!.channel
    expect(e1).toMatchObject({ channel: 'releases', release: 'bookworm-updates' })
    const stats = await gql(server.url, '{ stats { documents } }')
    expect(stats.body.data.stats.documents).toBeGreaterThan(10)

    first.drop()
    await first.dispose()
    const again = await publish('second', token)
    expect(again.body.errors).toBeUndefined()

    const second = wsClient(server.wsUrl)
    try {
      const it2 = second.iterate<{ channel: { seq: number, release: string } }>({ query: CHANNEL, variables: { since: e1.seq } })
      const e2 = (await next(it2, 30_000)).data!.channel
      expect(e2.seq).toBeGreaterThan(e1.seq)
      expect(e2.release).toBe('second')
    } finally {
      await second.dispose()
    }
  })

  it('rejects a too deep query with 400 over HTTP and an error message over WebSocket', async () => {
    const deep = `{ releases { root { ${'collections { '.repeat(12)}name${' }'.repeat(12)} } } }`
    const r = await gql(server.url, deep)
    expect(r.status).toBe(400)
    expect(r.body.errors?.[0].extensions?.code).toBe('QUERY_TOO_COMPLEX')
    const client = wsClient(server.wsUrl)
    try {
      const err = await next(client.iterate({ query: deep })).then(() => undefined, (e: unknown) => e) as Array<{ message: string }>
      expect(err[0].message).toMatch(/depth limit/)
      const ok = await next(client.iterate<any>({ query: '{ stats { documents } }' }))
      expect(ok.data.stats.documents).toBeGreaterThan(0)
    } finally {
      await client.dispose()
    }
  })

  it('reports a bad pattern with its code and position', async () => {
    const r = await gql(server.url, 'query ($p: String!) { search(pattern: $p) { totalCount } }', { p: '//package[' })
    expect(r.body.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT')
    expect(JSON.stringify(r.body)).not.toMatch(/\.ts:\d|node_modules/)
  })

  it('passes the GraphQL over HTTP MUST audits on the real schema', async () => {
    const { serverAudits } = await import('graphql-http')
    const results = await Promise.all(serverAudits({ url: server.url, fetchFn: fetch }).map(async (a) => await a.fn()))
    const failed = results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok').map((r) => r.name)
    expect(failed).toEqual([])
  })

  it('refuses an oversized JSON body before reading it', async () => {
    const big = JSON.stringify({ query: '{ stats { documents } }', variables: { pad: 'x'.repeat(2 * 1024 * 1024) } })
    const res = await fetch(server.url, { method: 'POST', body: big, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(30_000) })
    expect(res.status).toBe(413)
    expect((await res.json() as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE')
  })
})
