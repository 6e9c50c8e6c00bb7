/**
 * The distributed index in one process: a publisher and three mirrors as
 * real libp2p hosts over TCP on 127.0.0.1, the bookworm fixture slice
 * published, every differential pattern answered through a mirror exactly
 * as the publisher's local store answers it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { EmbeddedIndex } from '../../src/xml-twig-index/embedded.ts'
import { readUnits } from '../../src/xml-twig-index/importers/index.ts'
import { createPeerHost, IndexNode, type PeerHost } from '../../src/dht/index.ts'
import { ENGINE_SUITE } from '../oracle/patterns.ts'
import { headKey } from '../../src/dht/placement.ts'

const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

async function waitFor (what: string, ok: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const until = Date.now() + ms
  while (!(await ok())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('distributed index (in-process peers)', () => {
  let dir: string
  let local: EmbeddedIndex
  const nodes: IndexNode[] = []
  let publisher: IndexNode
  let mirrors: IndexNode[]

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-dht-'))
    local = await EmbeddedIndex.open({ path: join(dir, 'pub', 'index') })
    await local.import(readUnits([join(FIXTURES, 'bookworm-slice.Packages.xz')], { translations: [join(FIXTURES, 'bookworm-slice.Translation-en.xz')] }), { release: 'bookworm', date: '2026-11-25' })
    await local.import(readUnits([join(FIXTURES, 'bookworm-updates.Packages.xz')]), { release: 'bookworm-updates', date: '2026-11-25' })
    const pubHost = await createPeerHost({ data: join(dir, 'pub'), role: 'publisher' })
    const publisherId = peerIdFromString(pubHost.peerId)
    publisher = await IndexNode.start({ host: pubHost, data: join(dir, 'pub'), publisher: publisherId, local: local.store, announceMs: 300, repairSettleMs: 300, log: process.env.EDOS_TEST_LOG === '1' ? (m: string) => { console.error(m) } : undefined })
    nodes.push(publisher)
    mirrors = []
    for (let i = 0; i < 3; i++) {
      const host: PeerHost = await createPeerHost({ data: join(dir, `m${i}`), role: 'mirror', bootstrap: pubHost.multiaddrs() })
      const m = await IndexNode.start({ host, data: join(dir, `m${i}`), publisher: publisherId, announceMs: 300, repairSettleMs: 300, log: process.env.EDOS_TEST_LOG === '1' ? (m: string) => { console.error(m) } : undefined })
      nodes.push(m); mirrors.push(m)
      await publisher.admitMirror(host.peerId)
    }
    await waitFor('4 index peers in every view', () => nodes.every((n) => n.membership.placement().size === 4))
    const summary = await publisher.disseminate()
    expect(summary?.docs).toBeGreaterThan(2000)
    await waitFor('catalog at every mirror', () => mirrors.every((m) => m.catalog.seq === 1))
  }, 120_000)

  afterAll(async () => {
    for (const n of nodes) await n.stop()
    await local?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('answers every differential pattern through a mirror exactly as the local store', async () => {
    const m = mirrors[1]
    for (const pattern of ENGINE_SUITE) {
      const want = await local.engine.answers(pattern)
      const got = await m.engine.answers(pattern)
      expect({ pattern, n: got.nodes.length, docs: [...got.nodes.docs.subarray(0, got.nodes.length)], starts: [...got.nodes.starts.subarray(0, got.nodes.length)] })
        .toEqual({ pattern, n: want.nodes.length, docs: [...want.nodes.docs.subarray(0, want.nodes.length)], starts: [...want.nodes.starts.subarray(0, want.nodes.length)] })
    }
  }, 120_000)

  it('confirms its local placement with a kad-dht lookup', async () => {
    const m = mirrors[0]
    const key = headKey('e:package')
    const found = await m.membership.confirm(key)
    expect(found.length).toBeGreaterThan(0)
    const view = new Set(m.membership.placement().peers)
    for (const p of found) expect(view.has(p)).toBe(true)
    // The r closest in the local view are among the closest kad-dht knows (kad never returns the asker itself).
    const owners = m.membership.placement().owners(key).filter((p) => p !== m.membership.self)
    expect(owners.every((p) => found.includes(p))).toBe(true)
  }, 30_000)

  it('spreads postings over the index peers', async () => {
    const infos = await Promise.all(nodes.map(async (n) => await n.info()))
    for (const i of infos) expect(i.held?.postings ?? 0).toBeGreaterThan(0)
  })
})
