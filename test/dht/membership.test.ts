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
import { createPeerHost, type PeerHost } from '../../src/dht/host.ts'
import { MEMBERS_PROTOCOL, MEMBERS_TOPIC, Membership } from '../../src/dht/membership.ts'
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

describe('membership: announcements on change, a keep-alive otherwise', () => {
  it('announces an unchanged record only every keepAliveMs, a changed one at the next period', async () => {
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
      let held = { heads: 0, blocks: 0, docs: 0, postings: 0 }
      const m = new Membership({ host, publisher, certificate: await issueCertificate(pubHost.privateKey, host.peerId), intervalMs: 100, keepAliveMs: 1500, expireMs: 20_000, held: async () => held })
      views.push(m)
      await m.start()
      await waitFor('the mirror in the publisher view', () => pub.placement().size === 2)
      const seen: number[] = []
      pubHost.libp2p.services.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === MEMBERS_TOPIC && evt.detail.type === 'signed' && evt.detail.from.toString() === host.peerId) seen.push(Date.now()) })
      await sleep(2000)
      // 20 periods with nothing new: one or two keep-alives, not 20 announcements
      expect(seen.length).toBeGreaterThanOrEqual(1)
      expect(seen.length).toBeLessThanOrEqual(2)
      const before = seen.length
      held = { ...held, postings: 5 }
      await waitFor('the changed record announced', () => seen.length > before, 1000)
      expect(pub.view().find((r) => r.peer === host.peerId)?.held?.postings).toBe(5)
    } finally {
      for (const v of views) v.stop()
      for (const h of hosts) await h.stop().catch(() => {})
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
