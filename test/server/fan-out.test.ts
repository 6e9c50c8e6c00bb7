/**
 * The shared fan-out of channel notifications (src/server/fan-out.ts) over
 * real sockets on 127.0.0.1: one execution per notification for like
 * subscribers, frames identical to graphql-ws's own, catch-up then live
 * with no gap or duplicate, and a stalled socket that holds no one back.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { attachGraphQLWs, type GraphQLWs } from '../../src/server/ws.ts'
import { createEdosYoga, DEFAULT_LIMITS } from '../../src/server/yoga.ts'
import type { FanOutInit } from '../../src/server/fan-out.ts'
import { eventually, RawClient } from './helpers.ts'
import { FakePeer, stubSchema, TOKEN } from './stub-schema.ts'

const SUB = 'subscription ($name: String!, $since: Int) { channel(name: $name, since: $since) { channel seq release secret } }'
const SEQ = 'subscription ($name: String!, $since: Int) { channel(name: $name, since: $since) { seq } }'
const SEQ_RELEASE = 'subscription ($name: String!, $since: Int) { channel(name: $name, since: $since) { seq release } }'

interface Served { url: string, ws: GraphQLWs, close: () => Promise<void> }

async function serve (peer: FakePeer, fanOut: FanOutInit | false = {}): Promise<Served> {
  const yoga = createEdosYoga({ peer: peer.asPeerApi(), schema: stubSchema(), limits: DEFAULT_LIMITS })
  const server = createServer((req, res) => { void yoga(req, res) })
  const ws = attachGraphQLWs({ server, yoga, fanOut })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const { port } = server.address() as AddressInfo
  return {
    url: `ws://127.0.0.1:${port}/graphql`,
    ws,
    close: async () => {
      await ws.close()
      server.closeAllConnections()
      await new Promise((resolve) => { server.close(resolve) })
    }
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i)
const pause = async (): Promise<void> => { await new Promise((resolve) => setImmediate(resolve)) }

describe('shared fan-out of channel notifications', () => {
  const cleanup: Array<() => Promise<void> | void> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })
  const open = async (url: string, token?: string): Promise<RawClient> => {
    const c = await RawClient.open(url, token)
    cleanup.push(() => { c.close() })
    return c
  }
  const start = async (peer: FakePeer, fanOut?: FanOutInit | false): Promise<Served> => {
    const s = await serve(peer, fanOut)
    cleanup.push(s.close)
    return s
  }

  it('executes once per notification for like subscribers and sends graphql-ws\'s own frame to each', async () => {
    const peer = new FakePeer()
    const shared = await start(peer)
    const alone = await start(peer, false)
    const clients = await Promise.all(range(1, 10).map(async () => await open(shared.url)))
    clients.forEach((c, i) => { c.subscribe(`op-${i}`, SUB, { name: 'shared', since: 0 }) })
    const reference = await open(alone.url)
    reference.subscribe('op-0', SUB, { name: 'shared', since: 0 })
    // Ten members, and two streams on the peer: the group's and the lone subscriber's.
    await eventually(() => shared.ws.fanOutStats().members === 10 && peer.openFollows === 2)
    expect(shared.ws.fanOutStats().groups).toBe(1)
    peer.executions = 0
    for (const r of ['a', 'b', 'c']) peer.notify('shared', r)
    await eventually(() => clients.every((c, i) => c.frames(`op-${i}`).length === 3) && reference.frames('op-0').length === 3)
    // Three for the group, three for the lone subscriber: not one per member.
    expect(peer.executions).toBe(6)
    const expected = reference.frames('op-0')
    clients.forEach((c, i) => { expect(c.frames(`op-${i}`).map((f) => f.replace(`"op-${i}"`, '"op-0"'))).toEqual(expected) })
    // Masked like any result: the message says nothing of the crash.
    expect(expected[0]).toContain('Internal server error')
    expect(expected.join('')).not.toContain('signing key')
    expect(clients[0].data('op-0').map((n: { seq: number }) => n.seq)).toEqual([1, 2, 3])
  })

  it('frames payloads of every length class and non-ASCII text exactly as graphql-ws does', async () => {
    const peer = new FakePeer()
    const shared = await start(peer)
    const alone = await start(peer, false)
    const clients = await Promise.all(range(1, 3).map(async () => await open(shared.url)))
    clients.forEach((c, i) => { c.subscribe(`op-${i}`, SEQ_RELEASE, { name: 'sizes', since: 0 }) })
    const reference = await open(alone.url)
    reference.subscribe('op-0', SEQ_RELEASE, { name: 'sizes', since: 0 })
    await eventually(() => shared.ws.fanOutStats().members === 3 && peer.openFollows === 2)
    // 7-bit, 16-bit and 64-bit payload lengths (RFC 6455 5.2), in multi-byte UTF-8.
    const releases = ['é', 'ü'.repeat(40), 'ß'.repeat(200), '€'.repeat(30_000)]
    for (const r of releases) peer.notify('sizes', r)
    await eventually(() => clients.every((c, i) => c.frames(`op-${i}`).length === releases.length) && reference.frames('op-0').length === releases.length)
    const expected = reference.frames('op-0')
    clients.forEach((c, i) => { expect(c.frames(`op-${i}`).map((f) => f.replace(`"op-${i}"`, '"op-0"'))).toEqual(expected) })
    expect(clients[2].data<{ release: string }>('op-2').map((n) => n.release)).toEqual(releases)
  })

  it('keeps different selections, rights and channels in separate groups; since alone does not split', async () => {
    const peer = new FakePeer()
    peer.notify('g', 'old-1')
    peer.notify('g', 'old-2')
    const s = await start(peer)
    const a = await open(s.url)
    const authed = await open(s.url, TOKEN)
    a.subscribe('seq', SEQ, { name: 'g', since: 2 })
    a.subscribe('seq-from-0', SEQ, { name: 'g', since: 0 })
    a.subscribe('seq-release', SEQ_RELEASE, { name: 'g', since: 2 })
    a.subscribe('other-channel', SEQ, { name: 'h', since: 0 })
    authed.subscribe('seq', SEQ, { name: 'g', since: 2 })
    // seq-from-0 catches up from the log on its own, then joins `seq`'s group.
    await eventually(() => s.ws.fanOutStats().members === 5)
    expect(s.ws.fanOutStats().groups).toBe(4)
    peer.notify('g', 'live')
    peer.notify('h', 'elsewhere')
    await eventually(() => a.frames('seq').length === 1 && a.frames('seq-from-0').length === 3 && a.frames('seq-release').length === 1 && a.frames('other-channel').length === 1 && authed.frames('seq').length === 1)
    expect(a.data('seq')).toEqual([{ seq: 3 }])
    expect(a.data('seq-from-0')).toEqual([{ seq: 1 }, { seq: 2 }, { seq: 3 }])
    expect(a.data('seq-release')).toEqual([{ seq: 3, release: 'live' }])
    expect(a.data('other-channel')).toEqual([{ seq: 1 }])
    expect(authed.data('seq')).toEqual([{ seq: 3 }])
  })

  it('hands subscribers over from catch-up to the group with no gap and no duplicate while notifications race', async () => {
    const peer = new FakePeer()
    for (let i = 0; i < 20; i++) peer.notify('race', `pre-${i}`)
    const s = await start(peer)
    const subscribers: Array<{ client: RawClient, since: number }> = []
    const TOTAL = 220
    for (let i = 21; i <= TOTAL; i++) {
      peer.notify('race', `live-${i}`)
      // A new subscriber every tenth notification, resuming from somewhere in the log.
      if (i % 10 === 0) {
        const since = Math.floor((i * ((i / 10) % 3)) / 3) // 0, a third or two thirds of the way
        const client = await open(s.url)
        client.subscribe('op', SEQ, { name: 'race', since })
        subscribers.push({ client, since })
      }
      await pause()
    }
    await eventually(() => subscribers.every(({ client }) => client.frames('op').length > 0 && client.data<{ seq: number }>('op').at(-1)?.seq === TOTAL), 20_000)
    for (const { client, since } of subscribers) expect(client.data<{ seq: number }>('op').map((n) => n.seq)).toEqual(range(since + 1, TOTAL))
    await eventually(() => s.ws.fanOutStats().members === subscribers.length)
  })

  it('evicts a stalled socket to its own stream without holding the others back, then delivers it everything', async () => {
    const peer = new FakePeer()
    const s = await start(peer, { highWaterBytes: 64 * 1024 })
    const fast = [await open(s.url), await open(s.url)]
    const stalled = await open(s.url)
    for (const c of [...fast, stalled]) c.subscribe('op', SEQ_RELEASE, { name: 'slow', since: 0 })
    await eventually(() => s.ws.fanOutStats().members === 3)
    stalled.socket.pause()
    const big = 'x'.repeat(128 * 1024)
    let sent = 0
    let evictedAt: number | undefined
    // Enough to fill the loopback socket buffers of the stalled client (a few MB), bounded.
    while (sent < 400 && (evictedAt === undefined || sent < evictedAt + 5)) {
      peer.notify('slow', `${big}${++sent}`)
      // Each notification reaches the readers while the stalled one reads nothing.
      await eventually(() => fast.every((c) => c.frames('op').length === sent))
      if (evictedAt === undefined && s.ws.fanOutStats().evictions > 0) evictedAt = sent
    }
    expect(evictedAt).toBeDefined()
    expect(s.ws.fanOutStats().members).toBe(2)
    stalled.socket.resume()
    await eventually(() => stalled.frames('op').length === sent, 20_000)
    expect(stalled.data<{ seq: number }>('op').map((n) => n.seq)).toEqual(range(1, sent))
    for (const c of fast) expect(c.data<{ seq: number }>('op').map((n) => n.seq)).toEqual(range(1, sent))
    // Caught up with a drained socket: back in the group.
    await eventually(() => s.ws.fanOutStats().members === 3)
    peer.notify('slow', 'small')
    await eventually(() => [...fast, stalled].every((c) => c.frames('op').length === sent + 1))
  })

  it('stops sending to an operation once completed and ends the group with its last member', async () => {
    const peer = new FakePeer()
    const s = await start(peer)
    const c = await open(s.url)
    c.subscribe('one', SEQ, { name: 'done', since: 0 })
    c.subscribe('two', SEQ, { name: 'done', since: 0 })
    await eventually(() => s.ws.fanOutStats().members === 2)
    peer.notify('done', 'r1')
    await eventually(() => c.frames('one').length === 1 && c.frames('two').length === 1)
    c.complete('one')
    await eventually(() => s.ws.fanOutStats().members === 1)
    peer.notify('done', 'r2')
    await eventually(() => c.frames('two').length === 2)
    expect(c.frames('one')).toHaveLength(1)
    c.close()
    await eventually(() => s.ws.fanOutStats().groups === 0 && peer.openFollows === 0)
  })
})
