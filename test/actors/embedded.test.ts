import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EmbeddedPeer, type DownloadRecord, type PeerEvent } from '../../src/actors/index.ts'
import { FIXTURES, stanza, take, tempDir, upload } from '../roles/helpers.ts'

describe('EmbeddedPeer', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let peer: EmbeddedPeer | undefined
  beforeEach(async () => { ({ dir, cleanup } = await tempDir('peer')) })
  afterEach(async () => {
    await peer?.stop()
    peer = undefined
    await cleanup()
  })

  it('writes the api token 0600 at first start and keeps it and the peer id across restarts', async () => {
    peer = await EmbeddedPeer.start({ data: dir, graphqlUrl: 'http://127.0.0.1:4000/graphql' })
    const token = (await readFile(join(dir, 'api-token'), 'utf8')).trim()
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    expect((await stat(join(dir, 'api-token'))).mode & 0o777).toBe(0o600)
    const id = peer.info.id
    expect(id).toMatch(/^peer-[0-9a-f]{32}$/)
    expect(peer.authenticate(token)).toBe(true)
    expect(peer.authenticate(`Bearer ${token}`)).toBe(true)
    expect(peer.authenticate(undefined)).toBe(false)
    expect(peer.authenticate(token.slice(1))).toBe(false)
    expect(await peer.network()).toEqual({ self: { id, role: 'publisher', addresses: [], graphql: 'http://127.0.0.1:4000/graphql' }, peers: [], indexPeers: 1 })
    await peer.stop()
    await peer.stop() // idempotent
    peer = await EmbeddedPeer.start({ data: dir })
    expect(peer.info.id).toBe(id)
    expect(peer.authenticate(token)).toBe(true)
    expect((await readdir(dir)).sort()).toEqual(['api-token', 'content', 'index', 'peer-id', 'state'])
  })

  it('publishes uploads into the latest release (else main), emits events and cleans DATA/tmp', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const ac = new AbortController()
    const seen: PeerEvent[] = []
    const reading = (async () => { for await (const e of peer.events(ac.signal)) seen.push(e) })()
    const s1 = await peer.publish([upload('Packages', stanza('alpha', '1.0') + '\n' + stanza('beta', '2.0', { arch: 'amd64' }))], {})
    expect(s1).toMatchObject({ release: 'main', units: 2, rejected: 0 })
    const xz = await readFile(join(FIXTURES, 'bookworm-updates.Packages.xz'))
    const s2 = await peer.publish([{ kind: 'upload', name: '../../evil/Packages.xz', bytes: async () => xz }], { release: 'updates' })
    expect(s2).toMatchObject({ release: 'updates', units: 38 })
    const s3 = await peer.publish([upload('Packages', stanza('gamma', '1.0'))], {})
    expect(s3.release).toBe('updates') // the most recently published release
    expect((await readdir(join(dir, 'tmp'))).length).toBe(0)
    ac.abort()
    await reading
    const types = new Set(seen.map((e) => e.type))
    expect(types).toEqual(new Set(['publish-progress', 'release-published', 'notification']))
    const published = seen.filter((e) => e.type === 'release-published')
    expect(published.map((e) => e.type === 'release-published' ? [e.release.name, e.summary.units] : [])).toEqual([['main', 2], ['updates', 38], ['updates', 1]])
  })

  it('names a broken upload by its file name, never by its place in the data folder', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const broken = new Uint8Array([0x1f, 0x8b, 0x08, 0x00, 1, 2, 3, 4, 5, 6, 7, 8])
    const err = await peer.publish([{ kind: 'upload', name: 'Packages.gz', bytes: async () => broken }], { release: 'r' }).catch((e: unknown) => e as Error)
    expect(err).toBeInstanceOf(Error)
    expect((err as Error).message).toMatch(/^upload Packages\.gz: corrupt gzip/)
    expect((err as Error).message).not.toContain(dir)
  })

  it('reports rejected units with their messages, and refuses bad input', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const bad = stanza('ok', '1.0') + '\nPackage: broken\nVersion: 1.0\nArchitecture: all\nSize: lots\n'
    const s = await peer.publish([upload('Packages', bad)], { release: 'r1' })
    expect(s.units).toBe(1)
    expect(s.rejected).toBe(1)
    expect(s.rejections[0]).toMatch(/broken/)
    await expect(peer.publish([], {})).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.publish([{ kind: 'path', path: join(dir, 'missing') }], {})).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.publish([upload('Packages', stanza('x', '1'))], { release: 'a/b' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
  })

  it('publishes RPM metadata from paths', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const s = await peer.publish([{ kind: 'path', path: join(FIXTURES, 'rpm', 'createrepo_c-modified_repo_files-long_primary.xml') }], { release: 'fedora' })
    expect(s.units).toBe(2)
    const bash = await peer.package('fake_bash')
    expect(bash).toMatchObject({ version: '1.1.1-1', epoch: '0', release: '1', arch: 'x86_64' })
    expect(bash!.files).toContain('/usr/bin/fake_bash')
    const viaProvides = await peer.satisfiers(bash!, { name: 'bash' })
    expect(viaProvides.map((x) => [x.package.name, x.via])).toEqual([['fake_bash', 'provides']])
    expect((await peer.satisfiers(bash!, { name: 'fake_bash', op: '>=', version: '1.1' })).map((x) => x.via)).toEqual(['name'])
  })

  it('cuts a release from the latest one, which then becomes the current release', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    await expect(peer.cutRelease('v1')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await peer.publish([upload('Packages', stanza('alpha', '1.0') + '\n' + stanza('beta', '1.0', { arch: 'amd64', section: 'net' }))], { release: 'rolling' })
    const v1 = await peer.cutRelease('v1')
    expect(v1).toMatchObject({ name: 'v1', version: '1', units: 2 })
    expect(v1.root.collections.map((c) => c.name).sort()).toEqual(['all', 'amd64'])
    await expect(peer.cutRelease('v1')).rejects.toMatchObject({ code: 'CONFLICT' })
    await expect(peer.cutRelease('v2', 'nope')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    // updates go into the current release (v1 now); rolling keeps its composition
    await peer.publish([upload('Packages', stanza('alpha', '2.0'))], {})
    expect((await peer.release('v1'))?.units).toBe(2)
    expect((await peer.packages({ name: 'alpha', release: 'v1' }, 5)).items.map((i) => i.node.version)).toEqual(['2.0'])
    expect((await peer.packages({ name: 'alpha', release: 'rolling' }, 5)).items.map((i) => i.node.version)).toEqual(['1.0'])
    const v2 = await peer.cutRelease('v2', 'rolling')
    expect(v2.units).toBe(2)
    expect((await peer.releases()).map((r) => r.name)).toEqual(['rolling', 'v1', 'v2'])
    const [n] = await take(peer.follow('releases', 2, AbortSignal.timeout(5000))[Symbol.asyncIterator](), 1)
    expect(n).toMatchObject({ release: 'v1', seq: 3 }) // seq 1: rolling; 2: v1 cut; 3: alpha 2.0 into v1
  })

  it('a client peer cannot publish, cut or own channels', async () => {
    peer = await EmbeddedPeer.start({ data: dir, role: 'client' })
    expect(peer.info.role).toBe('client')
    await expect(peer.publish([upload('Packages', stanza('x', '1'))], {})).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(peer.cutRelease('v1')).rejects.toMatchObject({ code: 'FORBIDDEN' })
    await expect(peer.createChannel('c', '')).rejects.toMatchObject({ code: 'FORBIDDEN' })
  })

  it('records downloads, fails them with a typed reason when no peer holds the content, persists them and streams their progress', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    await peer.publish([upload('Packages', stanza('alpha', '1.0', { size: 1500 }) + '\n' + stanza('beta', '1.0', { size: 500 }))], { release: 'r' })
    const started = await peer.download({ pattern: '//package[name = "alpha" or name = "beta"]/name' })
    expect(started).toMatchObject({ state: 'QUEUED', units: ['pkg/alpha/1.0/all', 'pkg/beta/1.0/all'], bytesTotal: 2000, bytesDone: 0 })
    const progress: DownloadRecord[] = []
    for await (const p of peer.downloadProgress(started.id, AbortSignal.timeout(10_000))) progress.push(p)
    const d = progress.at(-1)!
    // An embedded peer has no other holder to ask: a typed failure naming each unit.
    expect(d).toMatchObject({ state: 'FAILED', bytesDone: 0, unitsDone: 0 })
    expect(d.error).toMatch(/^2 of 2 units failed; first: pkg\/(alpha|beta)\/1.0\/all: no peer holds content for pkg\/(alpha|beta)\/1.0\/all/)
    const byId = await peer.download({ units: ['pkg/beta/1.0/all'] })
    expect(byId.bytesTotal).toBe(500)
    await expect(peer.download({ units: ['pkg/none/1/all'] })).rejects.toMatchObject({ code: 'NOT_FOUND' })
    await expect(peer.download({})).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.download({ units: ['x'], pattern: '//x' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.download({ pattern: '//nothing' })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.download({ units: ['release/r'] })).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    expect(await peer.cancelDownload(d.id)).toEqual(d) // finished: stays as it is
    await expect(peer.cancelDownload('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' })
    const again: DownloadRecord[] = []
    for await (const p of peer.downloadProgress(d.id, AbortSignal.timeout(5000))) again.push(p)
    expect(again).toEqual([d]) // current record, then ends: FAILED is terminal
    await expect(take(peer.downloadProgress('nope', AbortSignal.timeout(1000))[Symbol.asyncIterator](), 1)).rejects.toMatchObject({ code: 'NOT_FOUND' })
    for await (const _ of peer.downloadProgress(byId.id, AbortSignal.timeout(10_000))) { /* until it ends */ }
    await peer.stop()
    peer = await EmbeddedPeer.start({ data: dir })
    expect((await peer.downloads()).map((x) => x.id).sort()).toEqual([d.id, byId.id].sort())
  })

  it('stores and seeds published content (format dir), exposes its torrent and statistics, and downloads held units at once', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const files = join(dir, 'files')
    await mkdir(files)
    await writeFile(join(files, 'tool.bin'), Buffer.alloc(70_000, 7))
    await writeFile(join(files, 'other.bin'), Buffer.alloc(1_000, 1))
    const s = await peer.publish([{ kind: 'path', path: files }], { release: 'tools', format: 'dir' })
    expect(s.content).toEqual({ stored: 2, unmatched: [] })
    const unit = (await peer.search('/utility[name = "tool.bin"]', 1)).items[0]?.node.doc ?? ''
    expect(unit).toMatch(/^util\/tool\.bin/)
    const t = await peer.torrent(unit)
    expect(t?.infoHash).toMatch(/^[0-9a-f]{40}$/)
    expect(t?.magnetURI).toContain(t?.infoHash)
    expect(await peer.replicas(unit)).toEqual([peer.info.id])
    const held = await peer.download({ units: [unit] })
    let last = held
    for await (const p of peer.downloadProgress(held.id, AbortSignal.timeout(10_000))) last = p
    expect(last).toMatchObject({ state: 'COMPLETED', bytesDone: 70_000, bytesReceived: 0, unitsDone: 1 })
    expect(await peer.contentStats({ release: 'tools' })).toMatchObject({ held: 2 })
    // A file no unit names is reported, not stored.
    await writeFile(join(dir, 'stray.bin'), 'stray')
    const extra = await peer.publish([upload('Packages', stanza('gamma', '1.0'))], { release: 'tools', content: [{ kind: 'path', path: join(dir, 'stray.bin') }] })
    expect(extra.content).toEqual({ stored: 0, unmatched: [join(dir, 'stray.bin')] })
  })

  it('notifies channels only once the content given with the publish is held', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const p = peer
    const ac = new AbortController()
    // Checked the moment each notification is seen: a subscriber downloading on notification asks then.
    const seen: Array<{ release: string, units: string[], held: boolean[] }> = []
    const watching = (async () => {
      for await (const e of p.events(ac.signal)) {
        if (e.type !== 'notification' || e.notification.channel !== 'releases') continue
        const units = e.notification.added.map((u) => u.id)
        seen.push({ release: e.notification.release, units, held: await Promise.all(units.map(async (u) => await p.content.has(u))) })
      }
    })()
    const files = join(dir, 'files')
    await mkdir(files)
    for (let i = 0; i < 4; i++) await writeFile(join(files, `part-${i}.bin`), Buffer.alloc(512 * 1024, i + 1))
    expect((await p.publish([{ kind: 'path', path: files }], { release: 'tools', format: 'dir' })).content).toEqual({ stored: 4, unmatched: [] })
    // Metadata naming a file by its sha256 (the stanza's SHA256 is that of "gamma 1.0 all"), the file given as `content`.
    const body = 'gamma 1.0 all'
    const s = await p.publish([upload('Packages', stanza('gamma', '1.0', { size: body.length }))], { release: 'debs', content: [upload('gamma_1.0_all.deb', body)] })
    expect(s.content).toEqual({ stored: 1, unmatched: [] })
    ac.abort()
    await watching
    expect(seen.map((n) => [n.release, n.units.length])).toEqual([['tools', 4], ['debs', 1]])
    for (const n of seen) expect(n.held).toEqual(n.units.map(() => true))
  })

  it('still notifies when the content fails to attach, and rejects the publish with the reason', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    const err = await peer.publish([upload('Packages', stanza('delta', '1.0'))], { release: 'r', content: [{ kind: 'path', path: join(dir, 'missing') }] }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'BAD_USER_INPUT', message: expect.stringMatching(/missing' does not exist/) })
    expect((await peer.release('r'))?.units).toBe(1)
    const [n] = await take(peer.follow('releases', 0, AbortSignal.timeout(5000))[Symbol.asyncIterator](), 1)
    expect(n).toMatchObject({ release: 'r', added: [{ name: 'delta' }] })
  })

  it('records a wish list: the release minus what the peer holds (nothing yet)', async () => {
    peer = await EmbeddedPeer.start({ data: dir })
    await peer.publish([{ kind: 'path', path: join(FIXTURES, 'bookworm-updates.Packages.xz') }], { release: 'bookworm-updates' })
    const w = await peer.submitWishList('bookworm-updates')
    expect(w.units).toHaveLength(38)
    expect(w.state).toBe('RECORDED')
    const sizes = (await peer.packages({ release: 'bookworm-updates' }, 100)).items.reduce((s, i) => s + (i.node.size ?? 0), 0)
    expect(w.bytes).toBe(sizes)
    await expect(peer.submitWishList('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })
})
