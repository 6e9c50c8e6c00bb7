import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { buildTorrent, ContentNode, parseRange, type ContentDiscovery, type ContentOffer } from '../../src/torrents/index.ts'
import { randomUnit, tempDir } from './helpers.ts'

/** Offers straight from other nodes' offer(): the torrents layer without libp2p (src/dht/providers.ts carries these between processes). */
function directDiscovery (holders: () => Array<{ id: string, node: ContentNode, mangle?: (o: Omit<ContentOffer, 'peer'>) => Omit<ContentOffer, 'peer'> }>): ContentDiscovery & { provided: string[] } {
  const provided: string[] = []
  return {
    provided,
    provide: async (sha) => { provided.push(sha) },
    holders: async (sha) => { const out = []; for (const h of holders()) if (await h.node.offer(sha) !== undefined) out.push(h.id); return out },
    offers: async (sha) => {
      const out: ContentOffer[] = []
      for (const h of holders()) {
        const o = await h.node.offer(sha)
        if (o !== undefined) out.push({ peer: h.id, ...(h.mangle?.(o) ?? o) })
      }
      return out
    }
  }
}

describe('content node: offers, BitTorrent, web seed, verification', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

  async function node (what: string, discovery?: ContentDiscovery, tracker = false): Promise<{ dir: string, node: ContentNode, base: string }> {
    const { dir, cleanup } = await tempDir(what)
    const n = await ContentNode.start({ path: join(dir, 'content'), discovery, tracker, stallMs: 20_000 })
    const server: Server = createServer((req, res) => { if (!n.handleHttp(req, res)) { res.writeHead(404); res.end() } })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    n.setHttpBase(base)
    cleanups.push(cleanup, async () => { await n.stop() }, async () => { server.closeAllConnections(); await new Promise((resolve) => server.close(resolve)) })
    return { dir, node: n, base }
  }

  it('parses range headers as RFC 9110 says', () => {
    expect(parseRange(undefined, 10)).toBeUndefined()
    expect(parseRange('bytes=0-3', 10)).toEqual({ start: 0, end: 3 })
    expect(parseRange('bytes=5-', 10)).toEqual({ start: 5, end: 9 })
    expect(parseRange('bytes=-4', 10)).toEqual({ start: 6, end: 9 })
    expect(parseRange('bytes=3-100', 10)).toEqual({ start: 3, end: 9 })
    expect(parseRange('bytes=10-12', 10)).toBe('bad')
    expect(parseRange('bytes=4-2', 10)).toBe('bad')
    expect(parseRange('items=1-2', 10)).toBe('bad')
  })

  it('publishes, serves the torrent and the web seed over HTTP, and a second node fetches it verified', async () => {
    const pub = await node('pub', undefined, true)
    const u = await randomUnit(pub.dir, 'hello_1.0_amd64.deb', 900_000)
    await pub.node.putFile(u.file, { ...u.unit, unit: 'pkg/hello/1.0/amd64' }, 'publish')
    const t = await pub.node.torrentOf('pkg/hello/1.0/amd64')
    expect(t).toMatchObject({ name: 'hello_1.0_amd64.deb', length: 900_000, url: `${pub.base}/torrents/${t?.infoHash}.torrent` })
    expect(t?.magnetURI).toContain(`xt=urn:btih:${t?.infoHash}`)
    expect(t?.magnetURI).toContain(encodeURIComponent(`${pub.base}/announce`))
    const res = await fetch(t!.url!)
    expect(res.headers.get('content-type')).toBe('application/x-bittorrent')
    const again = await buildTorrent([{ name: 'hello_1.0_amd64.deb', length: 900_000, file: u.file }])
    expect(again.infoHash).toBe(t?.infoHash)
    const ranged = await fetch(`${pub.base}/content/hello_1.0_amd64.deb`, { headers: { range: 'bytes=10-19' } })
    expect(ranged.status).toBe(206)
    expect(Buffer.from(await ranged.arrayBuffer()).equals(u.bytes.subarray(10, 20))).toBe(true)
    expect((await fetch(`${pub.base}/content/nope.deb`)).status).toBe(404)
    expect((await fetch(`${pub.base}/content/hello_1.0_amd64.deb`, { headers: { range: 'bytes=900000-' } })).status).toBe(416)

    const d = directDiscovery(() => [{ id: 'pub', node: pub.node }])
    const client = await node('client', d)
    const r = await client.node.fetch({ ...u.unit, unit: 'pkg/hello/1.0/amd64' })
    expect(r.sources).toEqual(['pub'])
    expect(r.received).toBeGreaterThanOrEqual(900_000)
    expect((await readFile(client.node.store.filePath(u.unit.sha256))).equals(u.bytes)).toBe(true)
    expect(d.provided).toEqual([u.unit.sha256])
    expect((await client.node.stats('pkg/hello/1.0/amd64')).downloads).toBe(1)
    // Held now: nothing moves.
    expect((await client.node.fetch({ ...u.unit, unit: 'pkg/hello/1.0/amd64' })).received).toBe(0)
  })

  it('completes from the web seed alone when no BitTorrent peer is reachable', async () => {
    const mirror = await node('mirror')
    const u = await randomUnit(mirror.dir, 'web.deb', 600_000)
    await mirror.node.putFile(u.file, u.unit, 'publish')
    const client = await node('client', directDiscovery(() => [{ id: 'mirror', node: mirror.node, mangle: (o) => ({ ...o, bittorrent: [] }) }]))
    // Its BitTorrent side is gone: only HTTP remains.
    await mirror.node.client.unseed((await mirror.node.torrentOf(u.unit.unit))!.infoHash)
    const r = await client.node.fetch(u.unit)
    expect(r.received).toBeGreaterThanOrEqual(600_000)
    expect((await readFile(client.node.store.filePath(u.unit.sha256))).equals(u.bytes)).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 2500))
    expect((await mirror.node.stats(u.unit.unit)).bytesUploaded).toBeGreaterThanOrEqual(600_000)
  })

  it('discards bytes whose sha256 differs from the metadata and takes them from another torrent', async () => {
    const liar = await node('liar')
    const honest = await node('honest')
    const good = await randomUnit(honest.dir, 'x.deb', 200_000)
    const bad = await randomUnit(liar.dir, 'x.deb', 200_000)
    await honest.node.putFile(good.file, good.unit, 'publish')
    // The liar holds other bytes under the same name and claims they are the unit.
    await liar.node.putFile(bad.file, bad.unit, 'publish')
    const lieTorrent = (await liar.node.offer(bad.unit.sha256))!
    const client = await node('client', {
      provide: async () => {},
      holders: async () => [],
      offers: async (sha) => {
        const h = (await honest.node.offer(sha))!
        // Two liars agree, so their torrent is tried first.
        return [{ peer: 'liar1', ...lieTorrent }, { peer: 'liar2', ...lieTorrent }, { peer: 'honest', ...h }]
      }
    })
    const r = await client.node.fetch(good.unit)
    expect(r.sources).toEqual(['honest'])
    expect((await readFile(client.node.store.filePath(good.unit.sha256))).equals(good.bytes)).toBe(true)
    expect(await client.node.store.has(bad.unit.sha256)).toBe(false)
  })

  it('fails with a typed error when no peer holds the content', async () => {
    const client = await node('alone', directDiscovery(() => []))
    await expect(client.node.fetch({ unit: 'util/x/1', sha256: 'ab'.repeat(32), size: 10, name: 'x' })).rejects.toMatchObject({ code: 'ERR_CONTENT_UNAVAILABLE' })
  })
})
