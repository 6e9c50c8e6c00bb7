/** /edos/wishlist/1.0.0 between real libp2p hosts on 127.0.0.1: signed by the sender, refused when forged or replayed. */
import { createHash } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { createPeerHost, type PeerHost } from '../../../src/dht/index.ts'
import { callRpc } from '../../../src/dht/rpc.ts'
import { deliveryFields, signEnvelope } from '../../../src/dht/trust.ts'
import { WishListCollector } from '../../../src/torrents/flash-crowd/collector.ts'
import { WISHLIST_PROTOCOL, sendWishList, serveWishLists } from '../../../src/torrents/flash-crowd/protocol.ts'

/** A wish list as the protocol carries it: the ids in one part, their count and sha256 in the signed header. */
async function signed (host: PeerHost, to: string, units: string[], tamper?: string): Promise<{ header: Record<string, unknown>, parts: Uint8Array[] }> {
  const text = Buffer.from(units.join('\n'))
  const envelope = await signEnvelope(host.privateKey, 'edos/wishlist', { release: 'trixie', units: createHash('sha256').update(text).digest('hex'), count: units.length, ...deliveryFields(to) })
  return { header: { envelope }, parts: [tamper === undefined ? text : Buffer.from(tamper)] }
}

describe('wish list protocol', () => {
  let dir: string
  let publisher: PeerHost; let alice: PeerHost; let mallory: PeerHost
  const refused: string[] = []
  let collector: WishListCollector

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-wishlist-'))
    publisher = await createPeerHost({ data: join(dir, 'p'), role: 'publisher' })
    alice = await createPeerHost({ data: join(dir, 'a'), role: 'client', bootstrap: publisher.multiaddrs() })
    mallory = await createPeerHost({ data: join(dir, 'm'), role: 'client', bootstrap: publisher.multiaddrs() })
    collector = new WishListCollector({ release: 'trixie', windowMs: 60_000 })
    await serveWishLists({
      libp2p: publisher.libp2p,
      sink: (peer, release, units) => {
        if (release !== collector.release) throw new Error(`no flash crowd for ${release}`)
        return collector.submit(peer, units)
      },
      onRefused: (peer, reason) => refused.push(`${peer}: ${reason}`)
    })
  }, 60_000)

  afterAll(async () => {
    collector.close()
    for (const h of [alice, mallory, publisher]) await h?.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })

  it('delivers a signed wish list and replaces an earlier one', async () => {
    const first = await sendWishList(alice.libp2p, alice.privateKey, publisher.peerId, 'trixie', ['pkg/a', 'pkg/b'])
    expect(first).toEqual({ release: 'trixie', state: 'open', replaced: false })
    const second = await sendWishList(alice.libp2p, alice.privateKey, publisher.peerId, 'trixie', ['pkg/c'])
    expect(second.replaced).toBe(true)
    collector.close()
    expect(await collector.closed).toEqual([{ peer: alice.peerId, units: ['pkg/c'] }])
  }, 30_000)

  it('carries a release-sized wish list (70,000 ids, past any frame header limit)', async () => {
    const big = new WishListCollector({ release: 'trixie', windowMs: 60_000 })
    const before = collector
    collector = big
    try {
      const units = Array.from({ length: 70_000 }, (_, i) => `pkg/some-package-name-${i}/1.2.3-4/amd64`)
      await sendWishList(alice.libp2p, alice.privateKey, publisher.peerId, 'trixie', units)
      big.close()
      expect((await big.closed)[0].units.length).toBe(70_000)
    } finally {
      collector = before
    }
  }, 60_000)

  it('refuses a wish list signed for someone else, and a replayed one', async () => {
    // Mallory relays a list Alice signed: the signer is not the peer on the connection.
    const relayed = await signed(alice, publisher.peerId, ['pkg/x'])
    await expect(callRpc(mallory.libp2p, publisher.peerId, WISHLIST_PROTOCOL, relayed.header, relayed.parts)).rejects.toThrow(/not by the publisher|signed by/)
    // Alice's own list, sent twice: the second is a replay.
    const own = await signed(alice, publisher.peerId, ['pkg/y'])
    await callRpc(alice.libp2p, publisher.peerId, WISHLIST_PROTOCOL, own.header, own.parts)
    await expect(callRpc(alice.libp2p, publisher.peerId, WISHLIST_PROTOCOL, own.header, own.parts)).rejects.toThrow(/already received/)
    // Addressed to another publisher.
    const elsewhere = await signed(alice, mallory.peerId, ['pkg/z'])
    await expect(callRpc(alice.libp2p, publisher.peerId, WISHLIST_PROTOCOL, elsewhere.header, elsewhere.parts)).rejects.toThrow(/addressed to/)
    // The signed digest covers the list: other ids in the part are refused.
    const altered = await signed(alice, publisher.peerId, ['pkg/w'], 'pkg/everything')
    await expect(callRpc(alice.libp2p, publisher.peerId, WISHLIST_PROTOCOL, altered.header, altered.parts)).rejects.toThrow(/does not match its signed digest/)
    expect(refused.length).toBeGreaterThanOrEqual(4)
    expect(peerIdFromString(publisher.peerId).type).toBe('Ed25519')
  }, 30_000)
})
