/**
 * Membership under silence: a member whose announcements stop is probed
 * before it leaves the view. One that still answers (a busy peer) stays
 * and the placement does not change; one whose connection is refused
 * (stopped) or whose probe times out leaves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { createPeerHost, type PeerHost } from '../../src/dht/host.ts'
import { MEMBERS_PROTOCOL, MEMBERS_TOPIC, Membership, type MembershipInit } from '../../src/dht/membership.ts'
import { issueCertificate } from '../../src/dht/trust.ts'

async function waitFor (what: string, ok: () => boolean, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

describe('membership: silent members are probed before they leave', () => {
  let dir: string
  const hosts: PeerHost[] = []
  const views: Membership[] = []
  let pub: Membership
  const EXPIRE = 1000
  const PROBE = 1500

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-members-'))
    const pubHost = await createPeerHost({ data: join(dir, 'pub'), role: 'publisher' })
    const publisher = peerIdFromString(pubHost.peerId)
    hosts.push(pubHost)
    // keep-alive at every period: these tests time silence from the last announcement
    pub = new Membership({ host: pubHost, publisher, intervalMs: 200, keepAliveMs: 200, expireMs: EXPIRE, probeTimeoutMs: PROBE })
    views.push(pub)
    await pub.start()
    for (const label of ['m0', 'm1', 'm2']) {
      const host = await createPeerHost({ data: join(dir, label), role: 'mirror', bootstrap: pubHost.multiaddrs() })
      hosts.push(host)
      const certificate = await issueCertificate(pubHost.privateKey, host.peerId)
      const m = new Membership({ host, publisher, certificate, intervalMs: 200, keepAliveMs: 200, expireMs: EXPIRE, probeTimeoutMs: PROBE })
      views.push(m)
      await m.start()
    }
    await waitFor('4 members in every view', () => views.every((v) => v.placement().size === 4))
  }, 60_000)

  afterAll(async () => {
    for (const v of views) v.stop()
    for (const h of hosts) await h.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('keeps a member that stopped announcing but answers its probe', async () => {
    const silent = views[1]
    let changes = 0
    const off = pub.onChange(() => { changes++ })
    const probes = pub.probes
    silent.stop()
    await sleep(EXPIRE * 3)
    off()
    expect(pub.probes).toBeGreaterThan(probes)
    expect(pub.probesFailed).toBe(0)
    expect(changes).toBe(0)
    expect(pub.placement().has(silent.self)).toBe(true)
    // The probe refreshed it: not older than one expiry plus a probe.
    const record = pub.view().find((m) => m.peer === silent.self)
    expect(Date.now() - (record?.lastSeen ?? 0)).toBeLessThan(EXPIRE + PROBE)
  }, 30_000)

  it('drops a silent member once its connection is refused', async () => {
    const gone = views[1]
    const t0 = Date.now()
    await hosts[1].stop()
    await waitFor('the stopped member gone from every other view', () => [0, 2, 3].every((i) => !views[i].placement().has(gone.self)), 10_000)
    expect(Date.now() - t0).toBeLessThan(EXPIRE + 3000)
    expect(pub.probesFailed).toBeGreaterThan(0)
  }, 30_000)

  it('drops a member that is silent and does not answer its probe in time', async () => {
    const hung = views[2]
    const host = hosts[2]
    // Connected, but the members protocol never answers (and it no longer announces).
    hung.stop()
    await host.libp2p.unhandle(MEMBERS_PROTOCOL)
    await host.libp2p.handle(MEMBERS_PROTOCOL, () => {}, { runOnLimitedConnection: false })
    const t0 = Date.now()
    await waitFor('the hung member gone from the publisher view', () => !pub.placement().has(hung.self), 15_000)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(EXPIRE + PROBE - 300)
    // The other view probes on its own clock (its ticks are not the publisher's): it drops the member within a period.
    await waitFor('the hung member gone from the other view', () => !views[3].placement().has(hung.self), 5_000)
    // The others stay.
    expect(pub.placement().size).toBe(2)
  }, 30_000)
})

/**
 * A publisher and one mirror with these Membership options; `run` gets the
 * mirror's announcements as the publisher hears them (arrival times).
 */
async function withAnnouncer (opts: Partial<MembershipInit>, run: (t: { pub: Membership, mirror: string, seen: number[] }) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'edos-members-'))
  const hosts: PeerHost[] = []
  const views: Membership[] = []
  try {
    const pubHost = await createPeerHost({ data: join(dir, 'pub'), role: 'publisher' })
    hosts.push(pubHost)
    const publisher = peerIdFromString(pubHost.peerId)
    const pub = new Membership({ host: pubHost, publisher, intervalMs: 100, keepAliveMs: 1500, expireMs: 20_000 })
    views.push(pub)
    await pub.start()
    const host = await createPeerHost({ data: join(dir, 'm0'), role: 'mirror', bootstrap: pubHost.multiaddrs() })
    hosts.push(host)
    const m = new Membership({ host, publisher, certificate: await issueCertificate(pubHost.privateKey, host.peerId), intervalMs: 100, keepAliveMs: 1500, expireMs: 20_000, ...opts })
    views.push(m)
    await m.start()
    await waitFor('the mirror in the publisher view', () => pub.placement().size === 2)
    const seen: number[] = []
    pubHost.libp2p.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === MEMBERS_TOPIC && evt.detail.type === 'signed' && evt.detail.from.toString() === host.peerId) seen.push(Date.now()) })
    await run({ pub, mirror: host.peerId, seen })
  } finally {
    for (const v of views) v.stop()
    for (const h of hosts) await h.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  }
}

describe('membership: announcements on change, a keep-alive otherwise', () => {
  it('announces an unchanged record only every keepAliveMs, a changed one at the next period', async () => {
    let held = { heads: 0, blocks: 0, docs: 0, postings: 0 }
    await withAnnouncer({ held: async () => held }, async ({ pub, mirror, seen }) => {
      await sleep(2000)
      // 20 periods with nothing new: one or two keep-alives, not 20 announcements
      expect(seen.length).toBeGreaterThanOrEqual(1)
      expect(seen.length).toBeLessThanOrEqual(2)
      const before = seen.length
      held = { ...held, postings: 5 }
      // (an announcement already in flight may carry the old record: the view is what counts)
      await waitFor('the changed record announced', () => pub.view().find((r) => r.peer === mirror)?.held?.postings === 5, 1000)
      expect(seen.length).toBeGreaterThan(before)
    })
  }, 60_000)

  it('announces a changing held at most every infoMs, a new catalog at the next period', async () => {
    let postings = 0
    let catalogSeq = 1
    const opts = { keepAliveMs: 10_000, infoMs: 2000, expireMs: 30_000, held: async () => ({ heads: 0, blocks: 0, docs: 0, postings: postings++ }), catalogSeq: () => catalogSeq }
    await withAnnouncer(opts, async ({ pub, mirror, seen }) => {
      // ~40 periods in which held changes at each: about one announcement per infoMs, not 40
      await sleep(4000)
      expect(seen.length).toBeGreaterThanOrEqual(1)
      expect(seen.length).toBeLessThanOrEqual(3)
      const t0 = Date.now()
      catalogSeq = 2
      await waitFor('the new catalog announced', () => pub.view().find((r) => r.peer === mirror)?.catalogSeq === 2, 3000)
      // at the next period, not after infoMs
      expect(Date.now() - t0).toBeLessThan(1500)
    })
  }, 60_000)
})

describe('membership: a member whose connections closed', () => {
  let dir: string
  const hosts: PeerHost[] = []
  const views: Membership[] = []
  let pub: Membership
  let publisher: ReturnType<typeof peerIdFromString>
  // silence alone would take expireMs (11 s) to notice
  const opts = { intervalMs: 100, keepAliveMs: 5000, disconnectedMs: 5000, probeTimeoutMs: 1500 }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-members-'))
    const pubHost = await createPeerHost({ data: join(dir, 'pub'), role: 'publisher' })
    publisher = peerIdFromString(pubHost.peerId)
    hosts.push(pubHost)
    pub = new Membership({ host: pubHost, publisher, ...opts })
    views.push(pub)
    await pub.start()
    for (const label of ['m0', 'm1']) {
      const host = await createPeerHost({ data: join(dir, label), role: 'mirror', bootstrap: pubHost.multiaddrs() })
      hosts.push(host)
      const m = new Membership({ host, publisher, certificate: await issueCertificate(pubHost.privateKey, host.peerId), ...opts })
      views.push(m)
      await m.start()
    }
    await waitFor('3 members in every view', () => views.every((v) => v.placement().size === 3))
  }, 60_000)

  afterAll(async () => {
    for (const v of views) v.stop()
    for (const h of hosts) await h.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('stays in the view when it is back and announces within disconnectedMs (a restart)', async () => {
    let changes = 0
    const off = pub.onChange(() => { changes++ })
    const failed = pub.probesFailed
    const certificate = views[2].admitted
    views[2].stop()
    await hosts[2].stop()
    const host = await createPeerHost({ data: join(dir, 'm1'), role: 'mirror', bootstrap: hosts[0].multiaddrs() })
    hosts[2] = host
    views[2] = new Membership({ host, publisher, certificate, ...opts })
    await views[2].start()
    // connected to m0 too, so that it sees m0 go in the next test (bootstrapped to the publisher only)
    await host.libp2p.dial(multiaddr(hosts[1].multiaddrs()[0]))
    await sleep(opts.disconnectedMs + 1000)
    off()
    expect(changes).toBe(0)
    expect(pub.probesFailed).toBe(failed)
    expect(pub.placement().has(host.peerId)).toBe(true)
  }, 30_000)

  it('leaves once disconnectedMs passed without a word, long before expireMs', async () => {
    const gone = views[1]
    gone.stop()
    const t0 = Date.now()
    await hosts[1].stop()
    await waitFor('the stopped member gone from the publisher view', () => !pub.placement().has(gone.self), 10_000)
    const took = Date.now() - t0
    expect(took).toBeGreaterThanOrEqual(opts.disconnectedMs - 200)
    expect(took).toBeLessThan(opts.disconnectedMs + 2000)
    await waitFor('and from the other mirror view', () => !views[2].placement().has(gone.self), 3000)
  }, 30_000)

  it('probes a member a read found unreachable once disconnectedMs passed without a word; one that answers stays', async () => {
    const quiet = views[2]
    // It stops announcing (its protocol still answers): only the probe tells it is alive.
    quiet.stop()
    const probes = pub.probes
    const failed = pub.probesFailed
    const t0 = Date.now()
    pub.suspect(quiet.self)
    await waitFor('the suspect probed', () => pub.probes > probes, opts.disconnectedMs + 3000)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(opts.disconnectedMs - 200)
    await sleep(500)
    expect(pub.probesFailed).toBe(failed)
    expect(pub.placement().has(quiet.self)).toBe(true)
  }, 30_000)
})
