import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { deepQuery, eventually, next, sse, wsClient } from './helpers.ts'
import { FakePeer, stubSchema, TOKEN } from './stub-schema.ts'

const CHANNEL = 'subscription ($name: String!, $since: Int) { channel(name: $name, since: $since) { channel seq release } }'

describe('edos server subscriptions', () => {
  let server: EdosServer
  let peer: FakePeer
  beforeAll(async () => {
    peer = new FakePeer()
    server = await startServer({ peer: peer.asPeerApi(), schema: stubSchema(), port: 0 })
  })
  afterAll(async () => { await server.close() })

  it('delivers channel notifications over graphql-ws', async () => {
    const client = wsClient(server.wsUrl)
    try {
      const it = client.iterate<{ channel: { seq: number, release: string } }>({ query: CHANNEL, variables: { name: 'ws-live' } })
      const first = next(it)
      await eventually(() => peer.openFollows === 1)
      peer.notify('ws-live', 'r1')
      expect((await first).data?.channel).toEqual({ channel: 'ws-live', seq: 1, release: 'r1' })
      peer.notify('ws-live', 'r2')
      expect((await next(it)).data?.channel.seq).toBe(2)
      await it.return?.()
      // Completing the operation aborts ctx.signal: the peer's stream ends.
      await eventually(() => peer.openFollows === 0)
    } finally {
      await client.dispose()
    }
  })

  it('resumes after a client drops, missing nothing', async () => {
    const first = wsClient(server.wsUrl)
    const it1 = first.iterate<{ channel: { seq: number } }>({ query: CHANNEL, variables: { name: 'resume', since: 0 } })
    const got: number[] = []
    const p1 = next(it1)
    await eventually(() => peer.openFollows === 1)
    peer.notify('resume', 'a')
    got.push((await p1).data!.channel.seq)
    peer.notify('resume', 'b')
    got.push((await next(it1)).data!.channel.seq)
    // The connection drops with no goodbye (no `complete`, no close frame).
    first.drop()
    await eventually(() => peer.openFollows === 0)
    peer.notify('resume', 'c')
    peer.notify('resume', 'd')
    const second = wsClient(server.wsUrl)
    try {
      const it2 = second.iterate<{ channel: { seq: number } }>({ query: CHANNEL, variables: { name: 'resume', since: got[got.length - 1] } })
      got.push((await next(it2)).data!.channel.seq)
      got.push((await next(it2)).data!.channel.seq)
      peer.notify('resume', 'e')
      got.push((await next(it2)).data!.channel.seq)
      expect(got).toEqual([1, 2, 3, 4, 5])
    } finally {
      await second.dispose()
    }
  })

  it('delivers notifications over SSE and ends the stream when the client leaves', async () => {
    const abort = new AbortController()
    const events = sse(server.url, CHANNEL, { name: 'sse', since: 0 }, abort.signal)
    peer.notify('sse', 'x')
    expect((await next(events)).data.channel).toEqual({ channel: 'sse', seq: 1, release: 'x' })
    peer.notify('sse', 'y')
    expect((await next(events)).data.channel.seq).toBe(2)
    abort.abort()
    await events.return(undefined).catch(() => {})
    await eventually(() => peer.openFollows === 0)
  })

  it('answers a document over the limits with an error message and keeps the socket', async () => {
    const client = wsClient(server.wsUrl)
    try {
      const deep = client.iterate({ query: deepQuery('tree', 'child', 14) })
      const err = await next(deep).then(() => undefined, (e: unknown) => e)
      expect(Array.isArray(err)).toBe(true)
      const errors = err as Array<{ message: string, extensions?: { code?: string } }>
      expect(errors[0].message).toMatch(/depth limit of 12/)
      expect(errors[0].extensions?.code).toBe('QUERY_TOO_COMPLEX')
      const tokens = client.iterate({ query: `{ stats { ${'documents '.repeat(2100)} } }` })
      const tokenErr = await next(tokens).then(() => undefined, (e: unknown) => e) as Array<{ message: string }>
      expect(tokenErr[0].message).toMatch(/token limit/i)
      // Same socket, still usable.
      const ok = client.iterate<{ stats: { documents: number } }>({ query: '{ stats { documents } }' })
      expect((await next(ok)).data?.stats.documents).toBe(42)
    } finally {
      await client.dispose()
    }
  })

  it('authenticates a WebSocket caller from connectionParams', async () => {
    const anon = wsClient(server.wsUrl)
    const authed = wsClient(server.wsUrl, TOKEN)
    try {
      const q = '{ caller { authenticated sameMachine } }'
      expect((await next(anon.iterate<any>({ query: q }))).data.caller).toEqual({ authenticated: false, sameMachine: true })
      expect((await next(authed.iterate<any>({ query: q }))).data.caller).toEqual({ authenticated: true, sameMachine: true })
      const denied = await next(anon.iterate<any>({ query: 'mutation { publishPackages(files: []) { units } }' }))
      expect(denied.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED')
      const masked = await next(anon.iterate<any>({ query: '{ boom }' }))
      expect(masked.errors?.[0].message).toBe('Internal server error')
    } finally {
      await anon.dispose()
      await authed.dispose()
    }
  })

  it('refuses a WebSocket upgrade from another origin', async () => {
    const { default: WebSocket } = await import('ws')
    const ws = new WebSocket(server.wsUrl, 'graphql-transport-ws', { origin: 'http://evil.example' })
    const status = await new Promise<number>((resolve) => {
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0) })
      ws.on('open', () => { resolve(101) })
      ws.on('error', () => { resolve(-1) })
    })
    ws.terminate()
    expect(status).toBe(401)
  })
})
