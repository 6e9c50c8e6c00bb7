import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serverAudits } from 'graphql-http'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { deepQuery, gql } from './helpers.ts'
import { FakePeer, stubSchema, TOKEN } from './stub-schema.ts'

describe('edos server over HTTP', () => {
  let server: EdosServer
  let peer: FakePeer
  beforeAll(async () => {
    peer = new FakePeer()
    server = await startServer({ peer: peer.asPeerApi(), schema: stubSchema(), port: 0 })
  })
  afterAll(async () => { await server.close() })

  it('listens on loopback with an OS-chosen port', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/graphql$/)
    expect(server.wsUrl).toBe(server.url.replace('http:', 'ws:'))
  })

  it('answers a query by POST and GET', async () => {
    const r = await gql(server.url, '{ stats { documents } }')
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ data: { stats: { documents: 42 } } })
    const get = await fetch(`${server.url}?query=${encodeURIComponent('{ stats { terms } }')}`, { headers: { accept: 'application/json' } })
    expect(await get.json()).toEqual({ data: { stats: { terms: 300 } } })
  })

  it('passes every MUST of the GraphQL over HTTP audits', async () => {
    const results = await Promise.all(serverAudits({ url: server.url, fetchFn: fetch }).map(async (audit) => await audit.fn()))
    const musts = results.filter((r) => r.name.startsWith('MUST'))
    expect(musts.length).toBeGreaterThan(10)
    const failed = musts.filter((r) => r.status !== 'ok').map((r) => `${r.name}: ${'reason' in r ? r.reason : ''}`)
    expect(failed).toEqual([])
  })

  it('serves a landing page and a health check', async () => {
    const landing = await fetch(server.url.replace('/graphql', '/'))
    expect(landing.status).toBe(200)
    const html = await landing.text()
    expect(html).toContain('href="/graphql"')
    expect(html).toContain(peer.info.id)
    const health = await fetch(server.url.replace('/graphql', '/healthz'))
    expect(await health.json()).toEqual({ status: 'ok', peer: peer.info.id, role: 'publisher' })
    expect((await fetch(server.url.replace('/graphql', '/nowhere'))).status).toBe(404)
  })

  it('rejects a query deeper than maxDepth with 400 and a GraphQL error', async () => {
    const r = await gql(server.url, deepQuery('tree', 'child', 14))
    expect(r.status).toBe(400)
    expect(r.body.data).toBeUndefined()
    expect(r.body.errors?.[0].message).toMatch(/depth limit of 12/)
    expect(r.body.errors?.[0].extensions?.code).toBe('QUERY_TOO_COMPLEX')
    expect((await gql(server.url, deepQuery('tree', 'child', 8))).status).toBe(200)
  })

  it('rejects too many aliases, too many tokens and too costly queries', async () => {
    const aliases = `{ ${Array.from({ length: 16 }, (_, i) => `a${i}: stats { documents }`).join(' ')} }`
    const a = await gql(server.url, aliases)
    expect(a.status).toBe(400)
    expect(a.body.errors?.[0].message).toMatch(/aliases/i)
    const tokens = `{ stats { ${'documents '.repeat(2100)} } }`
    const t = await gql(server.url, tokens)
    expect(t.status).toBe(400)
    expect(t.body.errors?.[0].message).toMatch(/token limit/i)
    expect(t.body.errors?.[0].extensions?.code).toBe('QUERY_TOO_COMPLEX')
    const costly = `{ ${Array.from({ length: 15 }, (_, i) => `t${i}: ${deepQuery('tree', 'child', 11).slice(2, -2)}`).join(' ')} }`
    const c = await gql(server.url, costly)
    expect(c.status).toBe(400)
    expect(c.body.errors?.map((e) => e.message).join('\n')).toMatch(/cost limit/i)
  })

  it('does not suggest field names to a probing client', async () => {
    const r = await gql(server.url, '{ stat { documents } }')
    expect(r.status).toBe(400)
    expect(r.body.errors?.[0].message).not.toMatch(/Did you mean/)
  })

  it('masks unexpected errors and keeps coded ones', async () => {
    const boom = await gql(server.url, '{ boom }')
    expect(boom.body.errors?.[0].message).toBe('Internal server error')
    expect(JSON.stringify(boom.body)).not.toMatch(/hunter2|secret|stack|at /)
    const missing = await gql(server.url, '{ missing }')
    expect(missing.body.errors?.[0]).toMatchObject({ message: 'no such release: sid', extensions: { code: 'NOT_FOUND' } })
    expect(JSON.stringify(missing.body)).not.toMatch(/stack|\.ts:/)
  })

  it('authenticates with a bearer token and sees a loopback caller', async () => {
    const anon = await gql(server.url, '{ caller { authenticated sameMachine } }')
    expect(anon.body.data.caller).toEqual({ authenticated: false, sameMachine: true })
    const wrong = await gql(server.url, '{ caller { authenticated } }', {}, { authorization: 'Bearer nope' })
    expect(wrong.body.data.caller.authenticated).toBe(false)
    const ok = await gql(server.url, '{ caller { authenticated } }', {}, { authorization: `Bearer ${TOKEN}` })
    expect(ok.body.data.caller.authenticated).toBe(true)
  })

  const upload = async (token?: string): Promise<{ status: number, body: any }> => {
    const form = new FormData()
    form.set('operations', JSON.stringify({
      query: 'mutation ($files: [File!]!) { publishPackages(release: "sid", files: $files) { release units postings } }',
      variables: { files: [null] }
    }))
    form.set('map', JSON.stringify({ 0: ['variables.files.0'] }))
    form.set('0', new Blob([new Uint8Array([1, 2, 3, 4, 5])]), 'Packages')
    const res = await fetch(server.url, { method: 'POST', body: form, headers: token === undefined ? {} : { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() }
  }

  it('refuses a publisher mutation without a token (UNAUTHENTICATED)', async () => {
    const r = await upload()
    // refused before yoga reads (and buffers) the upload
    expect(r.status).toBe(401)
    expect(r.body.data).toBeUndefined()
    expect(r.body.errors[0].extensions.code).toBe('UNAUTHENTICATED')
    expect(r.body.errors[0].message).toMatch(/API token/)
  })

  it('takes a multipart upload from an authenticated caller', async () => {
    const r = await upload(TOKEN)
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ data: { publishPackages: { release: 'sid', units: 1, postings: 5 } } })
    expect(peer.uploads).toContainEqual({ name: 'Packages', bytes: 5 })
  })

  it('sends no CORS headers to another origin', async () => {
    const res = await fetch(server.url, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' } })
    expect(res.headers.get('access-control-allow-origin')).toBeNull()
  })
})
