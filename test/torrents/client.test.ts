import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import parseTorrent from 'parse-torrent'
import { buildTorrent, ChecksumMismatchError, ContentStore, TorrentClient } from '../../src/torrents/index.ts'
import { randomUnit, tempDir } from './helpers.ts'

describe('content store and torrents', () => {
  const cleanups: Array<() => Promise<void>> = []
  afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

  async function setup (what: string): Promise<{ dir: string, store: ContentStore }> {
    const { dir, cleanup } = await tempDir(what)
    const store = await ContentStore.open({ path: join(dir, 'content') })
    cleanups.push(cleanup, async () => { await store.close() })
    return { dir, store }
  }

  it('keeps a file only when its sha256 and size match', async () => {
    const { dir, store } = await setup('store')
    const { file, unit, bytes } = await randomUnit(dir, 'a.deb', 100_000)
    await expect(store.putFile(file, { ...unit, sha256: 'ab'.repeat(32) }, 'test')).rejects.toBeInstanceOf(ChecksumMismatchError)
    await expect(store.putFile(file, { ...unit, size: 5 }, 'test')).rejects.toMatchObject({ code: 'ERR_CHECKSUM_MISMATCH' })
    expect(await store.has(unit.sha256)).toBe(false)
    await expect(store.putFile(file, { ...unit, sha256: 'zz' }, 'test')).rejects.toMatchObject({ code: 'ERR_CONTENT_INPUT' })
    await expect(store.putFile(file, { ...unit, name: '../x' }, 'test')).rejects.toMatchObject({ code: 'ERR_CONTENT_INPUT' })
    const stored = await store.putFile(file, unit, 'test')
    expect(stored).toMatchObject({ unit: unit.unit, sha256: unit.sha256, size: 100_000, source: 'test' })
    expect((await readFile(store.filePath(unit.sha256))).equals(bytes)).toBe(true)
    expect(await store.byName('a.deb')).toBe(unit.sha256)
    expect(await store.unitsOf(unit.sha256)).toEqual([unit.unit])
    // The original stays where it was.
    expect(await readFile(file)).toEqual(bytes)
  })

  it('builds the same infohash for the same bytes anywhere, whatever the trackers', async () => {
    const { dir } = await setup('det')
    const a = await randomUnit(dir, 'x.deb', 300_000)
    await writeFile(join(dir, 'copy'), a.bytes)
    const t1 = await buildTorrent([{ name: 'x.deb', length: a.unit.size, file: a.file }], { announce: ['http://127.0.0.1:1/announce'] })
    const t2 = await buildTorrent([{ name: 'x.deb', length: a.unit.size, file: join(dir, 'copy') }], { urlList: ['http://127.0.0.1:2/content/x.deb'] })
    expect(t1.infoHash).toBe(t2.infoHash)
    const parsed = await parseTorrent(Buffer.from(t1.torrent)) as { infoHash: string, announce: string[], pieceLength: number, length: number }
    expect(parsed.infoHash).toBe(t1.infoHash)
    expect(parsed.announce).toEqual(['http://127.0.0.1:1/announce'])
    expect(parsed.length).toBe(300_000)
    // No public tracker ever slips in.
    const bare = await parseTorrent(Buffer.from((await buildTorrent([{ name: 'x.deb', length: a.unit.size, file: a.file }])).torrent)) as { announce: string[] }
    expect(bare.announce).toEqual([])
    await expect(buildTorrent([{ name: 'x.deb', length: 5, file: a.file }])).rejects.toMatchObject({ code: 'ERR_CONTENT_INPUT' })
  })

  it('seeds from one client and downloads into another over TCP on 127.0.0.1, verified; a set torrent with per-file selection', async () => {
    const seedSide = await setup('seed')
    const leechSide = await setup('leech')
    const units = [await randomUnit(seedSide.dir, 'one.deb', 700_000), await randomUnit(seedSide.dir, 'two.deb', 333_333), await randomUnit(seedSide.dir, 'three.deb', 50_000)]
    for (const u of units) await seedSide.store.putFile(u.file, u.unit, 'publish')
    const seeder = await TorrentClient.start({ store: seedSide.store })
    const leecher = await TorrentClient.start({ store: leechSide.store })
    cleanups.push(async () => { await seeder.stop() }, async () => { await leecher.stop() })

    const single = await buildTorrent([{ name: 'one.deb', length: 700_000, file: seedSide.store.filePath(units[0].unit.sha256) }])
    await seeder.seed(single, [units[0].unit.sha256], [units[0].unit.unit])
    const progress: number[] = []
    const got = await leecher.fetch({ meta: single, wanted: [units[0].unit], peers: [`127.0.0.1:${seeder.port}`], onProgress: (p) => progress.push(p.bytesDone), progressMs: 50 })
    expect(got.stored.map((s) => s.unit)).toEqual([units[0].unit.unit])
    expect((await readFile(leechSide.store.filePath(units[0].unit.sha256))).equals(units[0].bytes)).toBe(true)
    expect(got.received).toBeGreaterThanOrEqual(700_000)
    expect(progress.at(-1)).toBe(700_000)

    const set = await buildTorrent(units.map((u) => ({ name: u.unit.name, length: u.unit.size, file: seedSide.store.filePath(u.unit.sha256) })), { name: 'edos-set-test' })
    expect(set.files.map((f) => f.name)).toEqual(['one.deb', 'two.deb', 'three.deb'])
    await seeder.seed(set, units.map((u) => u.unit.sha256), units.map((u) => u.unit.unit))
    const sel = await leecher.fetch({ meta: set, wanted: [undefined, units[1].unit, undefined], peers: [`127.0.0.1:${seeder.port}`] })
    expect(sel.stored.map((s) => s.unit)).toEqual([units[1].unit.unit])
    expect((await readFile(leechSide.store.filePath(units[1].unit.sha256))).equals(units[1].bytes)).toBe(true)
    expect(await leechSide.store.has(units[2].unit.sha256)).toBe(false)
  })
})
