/** Replica locations: a holder provides the CID of a unit's sha256; another peer finds it on kad-dht. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { contentCid, createPeerHost, findContentHolders, provideContent, type PeerHost } from '../../src/dht/index.ts'

describe('provider records', () => {
  let dir: string
  const hosts: PeerHost[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-providers-'))
    const a = await createPeerHost({ data: join(dir, 'a'), role: 'publisher' })
    hosts.push(a)
    for (const n of ['b', 'c']) hosts.push(await createPeerHost({ data: join(dir, n), role: 'mirror', bootstrap: a.multiaddrs() }))
    hosts.push(await createPeerHost({ data: join(dir, 'client'), role: 'client', bootstrap: a.multiaddrs() }))
    // kad-dht adds peers to its routing table once identify ran.
    const until = Date.now() + 15_000
    while (hosts[0].libp2p.getPeers().length < 3 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100))
  }, 60_000)

  afterAll(async () => {
    for (const h of hosts) await h.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('keys a unit by a CIDv1 (raw) of its sha256 and rejects anything else', () => {
    const sha = createHash('sha256').update('unit').digest('hex')
    const cid = contentCid(sha)
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(sha)
    expect(() => contentCid('nope')).toThrow(/not a sha256/)
  })

  it('finds the peer that provides a unit, from a client', async () => {
    const sha = createHash('sha256').update(`unit-${Date.now()}`).digest('hex')
    await provideContent(hosts[1].libp2p, sha)
    const found = await findContentHolders(hosts[3].libp2p, sha, { signal: AbortSignal.timeout(10_000) })
    expect(found.map((f) => f.peer)).toContain(hosts[1].peerId)
  }, 30_000)
})
