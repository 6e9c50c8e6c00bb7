import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { EmbeddedPeer, type NotificationRecord } from '../../src/actors/index.ts'
import { FIXTURES, stanza, take, tempDir, upload } from './helpers.ts'

describe('channels on the embedded peer', () => {
  let dir: string
  let cleanup: () => Promise<void>
  let peer: EmbeddedPeer
  beforeEach(async () => {
    ({ dir, cleanup } = await tempDir('channels'))
    peer = await EmbeddedPeer.start({ data: dir })
  })
  afterEach(async () => {
    await peer.stop()
    await cleanup()
  })

  it('validates names and filters, and keeps the releases channel', async () => {
    expect((await peer.channels()).map((c) => c.name)).toEqual(['releases'])
    await expect(peer.createChannel('Bad Name', '')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.createChannel('x'.repeat(65), '')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    const bad = await peer.createChannel('net', 'net things', '//package[section = ').catch((e: unknown) => e)
    expect(bad).toMatchObject({ code: 'BAD_USER_INPUT', name: 'ChannelFilterError', position: 20 })
    expect((bad as Error).message).toMatch(/position 20/)
    const net = await peer.createChannel('net', 'net things', '/package[section = "net"]')
    expect(net).toMatchObject({ name: 'net', description: 'net things', filter: '/package[section = "net"]', lastSeq: 0 })
    await expect(peer.createChannel('net', 'again')).rejects.toMatchObject({ code: 'CONFLICT' })
    await expect(peer.deleteChannel('releases')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    expect(await peer.deleteChannel('nope')).toBe(false)
    expect(await peer.deleteChannel('net')).toBe(true)
    expect(await peer.channel('net')).toBeUndefined()
  })

  it('notifies added and updated units, filtered, numbered and logged', async () => {
    await peer.createChannel('ssl', 'OpenSSL', '/package[starts-with(name, "libssl")]')
    await peer.createChannel('misc', 'misc section', '//package[section = "misc"]')
    await peer.publish([{ kind: 'path', path: join(FIXTURES, 'bookworm-updates.Packages.xz') }], { release: 'bookworm-updates' })
    // an update: a new ca-certificates (misc) and a new package, uploaded
    await peer.publish([upload('Packages', stanza('ca-certificates', '20240203', { section: 'misc' }) + '\n' + stanza('brand-new', '1.0', { section: 'net' }))], { release: 'bookworm-updates' })
    const log = async (name: string): Promise<NotificationRecord[]> => await take(peer.follow(name, 0, AbortSignal.timeout(5000))[Symbol.asyncIterator](), (await peer.channel(name))!.lastSeq)

    const releases = await log('releases')
    expect(releases.map((n) => [n.seq, n.release, n.added.length, n.updated.length])).toEqual([[1, 'bookworm-updates', 38, 0], [2, 'bookworm-updates', 1, 1]])
    expect(releases[1].added[0]).toMatchObject({ kind: 'package', id: 'pkg/brand-new/1.0/all', name: 'brand-new', version: '1.0', arch: 'all' })
    expect(releases[1].added[0].checksum).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(releases[1].updated.map((u) => u.id)).toEqual(['pkg/ca-certificates/20240203/all'])
    expect(releases[1]).toMatchObject({ removed: [], signature: '' })

    const ssl = await log('ssl')
    expect(ssl).toHaveLength(1) // the update touched no libssl package: no notification
    expect(ssl[0].added.map((u) => u.name).sort()).toEqual(['libssl-dev', 'libssl-doc', 'libssl3'])
    const misc = await log('misc')
    expect(misc.map((n) => [n.seq, n.added.map((u) => u.name), n.updated.map((u) => u.name)])).toEqual([[1, ['ca-certificates'], []], [2, [], ['ca-certificates']]])
    expect((await peer.channel('misc'))?.lastSeq).toBe(2)

    // resume: only what follows `since`
    const after1 = await take(peer.follow('releases', 1, AbortSignal.timeout(5000))[Symbol.asyncIterator](), 1)
    expect(after1.map((n) => n.seq)).toEqual([2])
    await expect(take(peer.follow('nope', 0, AbortSignal.timeout(1000))[Symbol.asyncIterator](), 1)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('announces a publish of more than UNITS_PER_PART units in parts with consecutive seqs, each unit once and in order', async () => {
    await peer.publish([{ kind: 'path', path: join(FIXTURES, 'bookworm-slice.Packages.xz') }], { release: 'bookworm' })
    const last = (await peer.channel('releases'))!.lastSeq
    const parts = await take(peer.follow('releases', 0, AbortSignal.timeout(5000))[Symbol.asyncIterator](), last)
    expect(parts.map((n) => [n.seq, n.part, n.parts, n.added.length])).toEqual([[1, 1, 3, 1000], [2, 2, 3, 1000], [3, 3, 3, 115]])
    const ids = parts.flatMap((n) => n.added.map((u) => u.id))
    expect(new Set(ids).size).toBe(2115)
    // checksums taken from the import's trees: each is its stored document's
    for (const u of parts.flatMap((n) => n.added)) {
      const m = /<checksum type="([a-z0-9]+)">([0-9a-f]+)<\/checksum>/.exec((await peer.document(u.id) as { xml: string }).xml)
      expect(u.checksum, u.id).toBe(`${m![1]}:${m![2]}`)
    }
    // a small publish afterwards is one notification again (no part fields)
    await peer.publish([upload('Packages', stanza('brand-new', '1.0'))], { release: 'extra' })
    const [next] = await take(peer.follow('releases', last, AbortSignal.timeout(5000))[Symbol.asyncIterator](), 1)
    expect(next).toMatchObject({ seq: 4, added: [{ name: 'brand-new' }] })
    expect(next.part).toBeUndefined()
    expect(next.parts).toBeUndefined()
  })

  it('follow() has no gap and no duplicate when a publish races the catch-up', async () => {
    for (let i = 1; i <= 3; i++) await peer.publish([upload('Packages', stanza('pkg-a', `${i}.0`))], { release: 'r' })
    const ac = new AbortController()
    const it = peer.follow('releases', 0, ac.signal)[Symbol.asyncIterator]()
    const first = await take(it, 1) // subscribed, catching up from the log
    const racing = [peer.publish([upload('Packages', stanza('pkg-a', '4.0'))], { release: 'r' }), peer.publish([upload('Packages', stanza('pkg-a', '5.0'))], { release: 'r' })]
    const rest = await take(it, 4)
    await Promise.all(racing)
    expect([...first, ...rest].map((n) => n.seq)).toEqual([1, 2, 3, 4, 5])
    expect(rest.map((n) => n.updated[0]?.version ?? n.added[0]?.version)).toEqual(['2.0', '3.0', '4.0', '5.0'])
    // live afterwards
    const next = take(it, 1)
    await peer.publish([upload('Packages', stanza('pkg-a', '6.0'))], { release: 'r' })
    expect((await next).map((n) => n.seq)).toEqual([6])
    ac.abort()
    expect((await it.next()).done).toBe(true)
  })

  it('refills from the log when a slow follower dropped live events', async () => {
    await peer.stop()
    peer = await EmbeddedPeer.start({ data: dir, eventCapacity: 1 })
    const it = peer.follow('releases', 0, AbortSignal.timeout(10_000))[Symbol.asyncIterator]()
    const pending = it.next() // opens the live subscription
    await peer.publish([upload('Packages', stanza('pkg-b', '1.0'))], { release: 'r' })
    expect((await pending).value?.seq).toBe(1)
    // three publishes while the follower reads nothing: its buffer of 1 keeps only the last
    for (let i = 2; i <= 4; i++) await peer.publish([upload('Packages', stanza('pkg-b', `${i}.0`))], { release: 'r' })
    expect((await take(it, 3)).map((n) => n.seq)).toEqual([2, 3, 4])
  })

  it('keeps channels and logs across a restart', async () => {
    await peer.createChannel('net', 'net', '//package[section = "net"]')
    await peer.publish([{ kind: 'path', path: join(FIXTURES, 'bookworm-updates.Packages.xz') }], { release: 'u' })
    await peer.stop()
    peer = await EmbeddedPeer.start({ data: dir })
    expect((await peer.channels()).map((c) => [c.name, c.lastSeq])).toEqual([['net', 1], ['releases', 1]])
    const [n] = await take(peer.follow('net', 0, AbortSignal.timeout(5000))[Symbol.asyncIterator](), 1)
    expect(n.added.length).toBe(18) // the net section of bookworm-updates
    await peer.publish([upload('Packages', stanza('net-tool', '1.0', { section: 'net' }))], { release: 'u' })
    expect((await peer.channel('net'))?.lastSeq).toBe(2)
  })
})
