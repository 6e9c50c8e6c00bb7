/**
 * Channels over gossipsub in one process: a publisher, two mirrors and a
 * rogue peer as real libp2p hosts on 127.0.0.1, each ChannelNetwork over a
 * real LevelDB log (PeerState). Mirrors log exactly the signed sequence,
 * refuse forgeries (counted, never logged), and a mirror that was down
 * catches up from the other mirror while the publisher is gone.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createPeerHost, type PeerHost } from '../../src/dht/index.ts'
import { ChannelNetwork, signNotification, topicOf, verifyNotification, type ChannelNotification } from '../../src/channels/index.ts'
import { PeerState } from '../../src/roles/state.ts'
import { EventBus } from '../../src/roles/events.ts'
import { Channels } from '../../src/roles/channels.ts'
import type { IndexView } from '../../src/roles/index-view.ts'
import type { PeerEvent } from '../../src/roles/types.ts'

async function waitFor (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

interface Node { host: PeerHost, state: PeerState, net: ChannelNetwork, got: ChannelNotification[], dir: string, bus: EventBus<PeerEvent> }

async function logOf (state: PeerState, channel: string): Promise<ChannelNotification[]> {
  const out: ChannelNotification[] = []
  for await (const n of state.readLog(channel, 0)) out.push(n)
  return out
}

describe('channels over gossipsub (in-process peers)', () => {
  let dir: string
  let pub: Node
  const mirrors: Node[] = []
  let publisherId: ReturnType<typeof peerIdFromString>
  const log = process.env.EDOS_TEST_LOG === '1' ? (m: string) => { console.error(m) } : undefined

  async function start (name: string, role: 'publisher' | 'mirror' | 'client', bootstrap: string[] = [], init: { syncMs?: number, gapWaitMs?: number, syncFanout?: number } = {}): Promise<Node> {
    const d = join(dir, name)
    const host = await createPeerHost({ data: d, role, bootstrap })
    publisherId ??= peerIdFromString(host.peerId)
    const state = await PeerState.open(join(d, 'state'))
    const got: ChannelNotification[] = []
    const bus = new EventBus<PeerEvent>()
    const net = new ChannelNetwork({ host, publisher: publisherId, store: state, onNotification: (n) => { got.push(n); bus.publish({ type: 'notification', notification: n }) }, syncMs: 500, callTimeoutMs: 3000, log, ...init })
    await net.start()
    return { host, state, net, got, dir: d, bus }
  }
  async function stop (n: Node): Promise<void> {
    n.bus.close()
    await n.net.stop()
    await n.host.stop()
    await n.state.close()
  }

  /** What the publisher's channels role does: sign, log, then send. */
  async function publish (channel: string, release: string): Promise<ChannelNotification> {
    const c = (await pub.state.getChannel(channel))!
    const n = await pub.net.sign({ channel, seq: c.lastSeq + 1, release, date: new Date().toISOString(), added: [{ kind: 'package', id: `pkg/x/${c.lastSeq + 1}/all`, name: 'x', version: String(c.lastSeq + 1), arch: 'all', checksum: 'sha256:' + '0'.repeat(64) }], updated: [], removed: [] })
    await pub.state.appendNotifications([{ channel: { ...c, lastSeq: n.seq }, notification: n }])
    await pub.net.send(n)
    return n
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-channels-'))
    pub = await start('pub', 'publisher')
    for (let i = 0; i < 2; i++) mirrors.push(await start(`m${i}`, 'mirror', pub.host.multiaddrs()))
    // The mirrors know each other too (in a network, kad-dht and membership connect them).
    await mirrors[1].host.libp2p.dial(multiaddr(mirrors[0].host.multiaddrs()[0]))
    const def = await pub.net.signDefinition({ name: 'security', description: 'security updates', filter: '//package', createdAt: new Date().toISOString() })
    await pub.state.putChannel({ ...def, lastSeq: 0 })
    await pub.net.announce(def)
    await waitFor('the channel at both mirrors', async () => (await Promise.all(mirrors.map(async (m) => await m.state.getChannel('security')))).every((c) => c?.signature === def.signature))
    await waitFor('mirrors in the topic mesh', () => pub.host.libp2p.services.pubsub.getSubscribers(topicOf('security')).length === 2)
  }, 60_000)

  afterAll(async () => {
    for (const n of [pub, ...mirrors]) await stop(n).catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('logs every signed notification once, in order, at every mirror', async () => {
    const sent: ChannelNotification[] = []
    for (let i = 0; i < 20; i++) sent.push(await publish('security', 'bookworm-security'))
    await waitFor('20 notifications at both mirrors', async () => mirrors.every((m) => m.got.length === 20))
    for (const m of mirrors) {
      expect(m.got.map((n) => n.seq)).toEqual(sent.map((n) => n.seq))
      expect(await logOf(m.state, 'security')).toEqual(sent)
      expect((await m.state.getChannel('security'))?.lastSeq).toBe(20)
      // What a mirror logged verifies against the publisher key alone.
      for (const n of await logOf(m.state, 'security')) expect(verifyNotification(n, publisherId)).toEqual(n)
    }
  })

  it('drops and counts forgeries: another key, an altered body, a bad signature, not JSON of a notification', async () => {
    const rogue = await start('rogue', 'client', pub.host.multiaddrs())
    try {
      for (const m of mirrors) await rogue.host.libp2p.dial(multiaddr(m.host.multiaddrs()[0]))
      await waitFor('rogue in the mesh', () => rogue.host.libp2p.services.pubsub.getSubscribers(topicOf('security')).length >= 2, 60_000)
      const before = mirrors.map((m) => m.net.stats().refused)
      const last = (await logOf(pub.state, 'security')).at(-1)!
      const next = { channel: 'security', seq: last.seq + 1, release: 'evil', date: new Date().toISOString(), added: [{ kind: 'package' as const, id: 'pkg/evil/1/all', name: 'evil', version: '1' }], updated: [], removed: [] }
      const ps = rogue.host.libp2p.services.pubsub
      const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
      const forge = async (): Promise<void> => {
        await ps.publish(topicOf('security'), enc(await signNotification(rogue.host.privateKey, next)))
        await ps.publish(topicOf('security'), enc({ ...last, seq: last.seq + 1, release: 'altered' }))
        await ps.publish(topicOf('security'), enc({ ...next, signature: 'x'.repeat(86) }))
        await ps.publish(topicOf('security'), enc('not a notification'))
      }
      // A publish goes once to the peers the rogue knows then: on a loaded machine a mirror's stream may not be up yet, so the rogue tries again (each publish is a new message).
      await forge()
      let lastForge = Date.now()
      await waitFor('4 forgeries refused at each mirror', async () => {
        if (mirrors.every((m, i) => m.net.stats().refused >= before[i] + 4)) return true
        if (Date.now() - lastForge > 2000) { lastForge = Date.now(); await forge() }
        return false
      }, 60_000)
      const real = await publish('security', 'bookworm-security')
      await waitFor('the real one logged', () => mirrors.every((m) => m.got.at(-1)?.seq === real.seq), 60_000)
      for (const m of mirrors) {
        expect(m.got.filter((n) => n.seq === real.seq)).toEqual([real])
        expect((await logOf(m.state, 'security')).some((n) => n.release !== 'bookworm-security')).toBe(false)
      }
    } finally {
      await stop(rogue)
    }
  }, 180_000)

  it('serves a log whose notifications together exceed a frame in several range answers (a whole release announced in parts)', async () => {
    const c = (await pub.state.getChannel('security'))!
    const unit = (i: number): ChannelNotification['added'][number] => ({ kind: 'package', id: `pkg/big-${i}/1.0/amd64`, name: `big-${i}`, version: '1.0', arch: 'amd64', checksum: 'sha256:' + 'ab'.repeat(32) })
    // 8 parts of 1,000 units (~1.5 MB of JSON in all) logged at the publisher only, as if their gossip was lost: the mirror must fetch them.
    const parts: ChannelNotification[] = []
    for (let p = 0; p < 8; p++) parts.push(await pub.net.sign({ channel: 'security', seq: c.lastSeq + 1 + p, release: 'big', date: new Date().toISOString(), added: Array.from({ length: 1000 }, (_, i) => unit(p * 1000 + i)), updated: [], removed: [], part: p + 1, parts: 8 }))
    await pub.state.appendNotifications(parts.map((n) => ({ channel: { ...c, lastSeq: n.seq }, notification: n })))
    const want = parts.at(-1)!.seq
    await Promise.all(mirrors.map(async (x) => { await x.net.sync() }))
    await waitFor('the parts at both mirrors', async () => (await Promise.all(mirrors.map(async (x) => (await x.state.getChannel('security'))?.lastSeq === want))).every(Boolean), 30_000)
    for (const x of mirrors) expect((await logOf(x.state, 'security')).slice(-8)).toEqual(parts)
  }, 60_000)

  it('a periodic pass asks a few mirrors picked at random and the publisher, and still brings what gossip lost', async () => {
    // Peers whose periodic passes ask one mirror each (and the publisher); two notifications gossip lost: one logged at the mirrors and
    // the publisher, then one logged at the publisher only (the last of its channel: no gap will ever point at it).
    const c = await start('c-fan', 'client', pub.host.multiaddrs(), { syncMs: 300, syncFanout: 1 })
    const m = await start('m-fan', 'mirror', pub.host.multiaddrs(), { syncMs: 300, syncFanout: 1 })
    try {
      for (const x of mirrors) { await c.host.libp2p.dial(multiaddr(x.host.multiaddrs()[0])); await m.host.libp2p.dial(multiaddr(x.host.multiaddrs()[0])) }
      const inSync = async (x: Node): Promise<boolean> => (await x.state.getChannel('security'))?.lastSeq === (await pub.state.getChannel('security'))?.lastSeq
      await waitFor('the new peers in sync', async () => await inSync(c) && await inSync(m), 30_000)
      const lose = async (holders: Node[], release: string): Promise<ChannelNotification> => {
        const n = await pub.net.sign({ channel: 'security', seq: (await pub.state.getChannel('security'))!.lastSeq + 1, release, date: new Date().toISOString(), added: [], updated: [], removed: [] })
        for (const x of holders) {
          const held = (await x.state.getChannel('security'))!
          await x.state.appendNotifications([{ channel: { ...held, lastSeq: n.seq }, notification: n }])
        }
        return n
      }
      const first = await lose([pub, ...mirrors], 'lost-1')
      const last = await lose([pub], 'lost-2')
      await waitFor('both at the new peers', async () => await inSync(c) && await inSync(m), 30_000)
      for (const x of [c, m]) {
        expect((await logOf(x.state, 'security')).slice(-2)).toEqual([first, last])
        expect(x.got.filter((n) => n.seq >= first.seq)).toEqual([first, last])
      }
    } finally {
      await stop(c)
      await stop(m)
    }
  }, 60_000)

  it('a gap gossip reordered waits for gossip, and only the hole is fetched from a log', async () => {
    // A third mirror with no periodic pass in the test's time: only its gap timer fetches.
    const late = await start('m-gap', 'mirror', pub.host.multiaddrs(), { syncMs: 600_000, gapWaitMs: 300 })
    try {
      await waitFor('the late mirror in sync and in the mesh', async () =>
        (await late.state.getChannel('security'))?.lastSeq === (await pub.state.getChannel('security'))?.lastSeq &&
        pub.host.libp2p.services.pubsub.getSubscribers(topicOf('security')).length === 3)
      const c = (await pub.state.getChannel('security'))!
      const four: ChannelNotification[] = []
      for (let i = 1; i <= 4; i++) four.push(await pub.net.sign({ channel: 'security', seq: c.lastSeq + i, release: 'gap', date: new Date().toISOString(), added: [], updated: [], removed: [] }))
      await pub.state.appendNotifications(four.map((n) => ({ channel: { ...c, lastSeq: n.seq }, notification: n })))
      const before = late.net.stats()
      // The second one's gossip is lost; the third and fourth arrive ahead of it.
      await pub.net.send(four[0])
      await waitFor('the first live', async () => (await late.state.getChannel('security'))?.lastSeq === four[0].seq)
      await pub.net.send(four[2])
      await pub.net.send(four[3])
      await waitFor('the rest, the hole fetched', async () => (await late.state.getChannel('security'))?.lastSeq === four[3].seq, 10_000)
      const after = late.net.stats()
      expect(after.live - before.live).toBe(3)
      expect(after.fetched - before.fetched).toBe(1)
      expect(after.pending).toBe(0)
      expect((await logOf(late.state, 'security')).slice(-4)).toEqual(four)
      expect(late.got.slice(-4).map((n) => n.seq)).toEqual(four.map((n) => n.seq))
    } finally {
      await stop(late)
    }
  }, 60_000)

  it('a mirror that was down fetches the missed range from the other mirror (publisher gone)', async () => {
    const down = mirrors[1]
    // Down only once it holds what was published before (the previous test's hole is filled by a periodic pass): the 300 below
    // are then all it misses.
    const before = (await pub.state.getChannel('security'))!.lastSeq
    await waitFor('the mirror to stop holds everything so far', async () => (await down.state.getChannel('security'))?.lastSeq === before, 30_000)
    await stop(down)
    const missed: ChannelNotification[] = []
    for (let i = 0; i < 300; i++) missed.push(await publish('security', 'bookworm-security'))
    const want = missed.at(-1)!.seq
    await waitFor('the live mirror has all', async () => (await mirrors[0].state.getChannel('security'))?.lastSeq === want)
    // The publisher leaves: only the other mirror can serve the 300 missed (more than one range answer).
    await stop(pub)
    const back = await start('m1', 'mirror', mirrors[0].host.multiaddrs())
    mirrors[1] = back
    await waitFor('restarted mirror caught up', async () => (await back.state.getChannel('security'))?.lastSeq === want, 30_000)
    // Most come from the other mirror's log; gossip may bring the last few again (the other mirror's message cache answers the
    // restarted one's IWANT), and those are logged as live. Either way each is logged once, in order.
    const { fetched, live } = back.net.stats()
    expect(fetched + live).toBe(300)
    expect(fetched).toBeGreaterThan(0)
    const all = await logOf(back.state, 'security')
    expect(all.map((n) => n.seq)).toEqual(Array.from({ length: want }, (_, i) => i + 1))
    expect(all.slice(-300)).toEqual(missed)
    expect(back.got.map((n) => n.seq)).toEqual(missed.map((n) => n.seq))
  }, 60_000)

  it('a mirror\'s follow: the log, then live, no gap and no duplicate while publishes race the catch-up', async () => {
    const m = mirrors[0]
    const role = await Channels.open({ state: m.state, bus: m.bus, index: {} as IndexView, role: 'mirror' })
    const pubAgain = pub.host.libp2p.status === 'started'
    expect(pubAgain).toBe(false) // the previous test stopped the publisher: bring one up on its folder
    pub = await start('pub', 'publisher')
    await pub.host.libp2p.dial(multiaddr(m.host.multiaddrs()[0]))
    await waitFor('mirror in the topic mesh', () => pub.host.libp2p.services.pubsub.getSubscribers(topicOf('security')).length >= 1)
    const start0 = (await m.state.getChannel('security'))!.lastSeq
    const ac = new AbortController()
    const seen: number[] = []
    const reading = (async () => {
      for await (const n of role.follow('security', 5, ac.signal)) {
        seen.push(n.seq)
        if (seen.length % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 5)) // a slow reader
        if (n.seq === start0 + 60) break
      }
    })()
    for (let i = 0; i < 60; i++) await publish('security', 'bookworm-security')
    await Promise.race([reading, new Promise((_resolve, reject) => setTimeout(() => { reject(new Error(`follow stalled at ${seen.at(-1) ?? 'nothing'}`)) }, 20_000))])
    ac.abort()
    expect(seen).toEqual(Array.from({ length: start0 + 60 - 5 }, (_, i) => i + 6))
  }, 40_000)
})
