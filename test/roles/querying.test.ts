import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import type { PackageRecord, PublishSummary } from '../../src/actors/index.ts'
import { compileFilter } from '../../src/roles/querying.ts'
import { releaseUnits } from '../../src/roles/records.ts'

const FIX = join(import.meta.dirname, '..', 'fixtures')

describe('compileFilter', () => {
  it('compiles each field to a predicate on /package', () => {
    expect(compileFilter({})).toBe('/package')
    expect(compileFilter({ name: 'vim', arch: 'amd64' })).toBe('/package[name = "vim"][arch = "amd64"]')
    expect(compileFilter({ nameStartsWith: 'lib', section: 'libs', license: 'GPL', version: '1.0' }))
      .toBe('/package[starts-with(name, "lib")][version = "1.0"][section = "libs"][license = "GPL"]')
    expect(compileFilter({ words: ['Editor', 'x-window'] })).toBe('/package' +
      '[contains-word(description, "editor") or contains-word(summary, "editor")]' +
      '[contains-word(description, "x") or contains-word(summary, "x")]' +
      '[contains-word(description, "window") or contains-word(summary, "window")]')
    expect(compileFilter({ dependsOn: 'libc6' })).toBe('/package[.//depends//dep/@name = "libc6" or .//preDepends//dep/@name = "libc6"]')
    expect(compileFilter({ minSize: 10, maxSize: 2000 })).toBe('/package[size >= 10][size <= 2000]')
  })

  it('escapes literals as the language reads them', () => {
    expect(compileFilter({ name: 'it"s' })).toBe(`/package[name = 'it"s']`)
    expect(compileFilter({ name: `it's "x"` })).toBe('/package[name = "it\'s ""x"""]')
  })

  it('refuses sizes that are not numbers', () => {
    expect(() => compileFilter({ minSize: Number.NaN })).toThrow(expect.objectContaining({ code: 'BAD_USER_INPUT' }))
    expect(() => compileFilter({ maxSize: -1 })).toThrow(/maxSize/)
  })
})

describe('querying and relations on the bookworm slice', () => {
  let dir: string
  let peer: EmbeddedPeer
  let slice: PublishSummary
  const progress: number[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'edos-roles-q-'))
    peer = await EmbeddedPeer.start({ data: dir })
    slice = await peer.publish([{ kind: 'path', path: join(FIX, 'bookworm-slice.Packages.xz') }], {
      release: 'bookworm',
      translations: [{ kind: 'path', path: join(FIX, 'bookworm-slice.Translation-en.xz') }],
      onProgress: (p) => { progress.push(p.bytesRead) }
    })
    await peer.publish([{ kind: 'path', path: join(FIX, 'bookworm-updates.Packages.xz') }], { release: 'bookworm-updates' })
  })
  afterAll(async () => {
    await peer.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('published from paths, with progress', () => {
    expect(slice).toMatchObject({ release: 'bookworm', units: 2115, rejected: 0, rejections: [] })
    expect(progress.length).toBeGreaterThan(0)
    expect(progress[progress.length - 1]).toBeGreaterThan(0)
  })

  it('searches with a cursor per answer and pages without gaps', async () => {
    const pattern = '//package[section = "editors"]/name'
    const all = await peer.search(pattern, 1000)
    expect(all.total).toBeGreaterThan(3)
    expect(all.items.every((i) => i.node.path === '/package[1]/name[1]' && i.node.xml.startsWith('<name>'))).toBe(true)
    const first = await peer.search(pattern, 2)
    expect(first).toMatchObject({ hasNextPage: true, hasPreviousPage: false, startCursor: first.items[0].cursor, endCursor: first.items[1].cursor })
    const second = await peer.search(pattern, 2, first.endCursor!)
    expect(second.hasPreviousPage).toBe(true)
    expect([...first.items, ...second.items].map((i) => i.node.doc)).toEqual(all.items.slice(0, 4).map((i) => i.node.doc))
    // a cursor from the middle of a page resumes right after that answer
    const fromMiddle = await peer.search(pattern, 1, first.items[0].cursor)
    expect(fromMiddle.items[0].node.doc).toBe(first.items[1].node.doc)
    await expect(peer.search(pattern, 2, 'nonsense')).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    await expect(peer.search('//package[', 2)).rejects.toMatchObject({ code: 'ERR_QUERY_PARSE' })
    await expect(peer.search(pattern, -1)).rejects.toMatchObject({ code: 'BAD_USER_INPUT' })
    const plan = await peer.explain(pattern)
    expect(plan.answers).toBe(all.total)
  })

  it('answers structured filters with full records', async () => {
    const libs = await peer.packages({ section: 'libs', dependsOn: 'libc6', minSize: 100_000 }, 50)
    expect(libs.total).toBeGreaterThan(5)
    for (const { node } of libs.items) {
      expect(node.section).toBe('libs')
      expect(node.size).toBeGreaterThanOrEqual(100_000)
      const deps = [...node.relations.depends, ...node.relations.preDepends].flatMap((c) => c.alternatives.map((a) => a.name))
      expect(deps).toContain('libc6')
    }
    const words = await peer.packages({ words: ['shared', 'libraries'], name: 'libc6' }, 5)
    expect(words.items.map((i) => i.node.id)).toEqual(['pkg/libc6/2.36-9+deb12u14/amd64'])
    const libc = words.items[0].node
    expect(libc).toMatchObject({ name: 'libc6', arch: 'amd64', section: 'libs', source: 'glibc', installedSize: 13001, checksum: { type: 'sha256' } })
    expect(libc.relations.suggests.some((c) => c.alternatives.map((a) => a.name).join('|') === 'debconf|debconf-2.0')).toBe(true)
    expect(libc.relations.recommends[0].alternatives[0]).toEqual({ name: 'libidn2-0', op: '>=', version: '2.0.5~' })
    const prefixed = await peer.packages({ nameStartsWith: 'openssh-' }, 100)
    expect(prefixed.items.length).toBeGreaterThan(0)
    expect(prefixed.items.every((i) => i.node.name.startsWith('openssh-'))).toBe(true)
    const none = await peer.packages({ name: 'no-such-package' }, 10)
    expect(none).toMatchObject({ total: 0, items: [], startCursor: null, endCursor: null, hasNextPage: false })
  })

  it('restricts packages to a release', async () => {
    const all = await peer.packages({ name: 'ssh' }, 10)
    expect(all.total).toBe(2) // the slice's ssh and the update's
    const updates = await peer.packages({ name: 'ssh', release: 'bookworm-updates' }, 10)
    expect(updates.items.map((i) => i.node.version)).toEqual(['1:9.2p1-2+deb12u7'])
    const inUpdates = await peer.packages({ release: 'bookworm-updates' }, 100)
    expect(inUpdates.total).toBe(38)
    await expect(peer.packages({ release: 'nope' }, 10)).rejects.toMatchObject({ code: 'NOT_FOUND' })
  })

  it('package() without a version takes the highest by version ordering', async () => {
    // the slice (cut later) holds deb12u10, the updates deb12u7: a string order would pick u7
    const latest = await peer.package('ssh')
    expect(latest?.version).toBe('1:9.2p1-2+deb12u10')
    const older = (await peer.packages({ name: 'ssh', release: 'bookworm-updates' }, 1)).items[0].node
    expect(older.version).toBe('1:9.2p1-2+deb12u7')
    const exact = await peer.package('ssh', older.version, 'all')
    expect(exact?.id).toBe(older.id)
    expect(await peer.package('ssh', '0.0')).toBeUndefined()
  })

  it('documents and releases come back as records', async () => {
    const libc = await peer.document('pkg/libc6/2.36-9+deb12u14/amd64') as PackageRecord
    expect(libc.name).toBe('libc6')
    expect(await peer.document('pkg/none/1/amd64')).toBeUndefined()
    const releases = await peer.releases()
    expect(releases.map((r) => r.name)).toEqual(['bookworm', 'bookworm-updates'])
    const updates = await peer.release('bookworm-updates')
    expect(updates?.units).toBe(38)
    expect(updates?.root.path).toEqual(['bookworm-updates'])
    expect(updates?.root.collections.map((c) => c.name).sort()).toEqual(['all', 'amd64'])
    const amd64 = updates!.root.collections.find((c) => c.name === 'amd64')!
    expect(amd64.collections[0].path[0]).toBe('bookworm-updates')
    expect(amd64.collections[0].path[1]).toBe('amd64')
    expect(releaseUnits(updates!).length).toBe(38)
    expect(await peer.document('release/bookworm-updates')).toMatchObject({ name: 'bookworm-updates', units: 38 })
  })

  it('resolves libc6 (>= 2.34) to the slice libc6 within the same release', async () => {
    const zeroad = (await peer.packages({ name: '0ad' }, 1)).items[0].node
    const rel = zeroad.relations.depends.flatMap((c) => c.alternatives).find((a) => a.name === 'libc6')!
    expect(rel).toMatchObject({ op: '>=', version: '2.34' })
    const sat = await peer.satisfiers(zeroad, rel)
    expect(sat.map((s) => [s.package.id, s.via])).toEqual([['pkg/libc6/2.36-9+deb12u14/amd64', 'name']])
    expect(await peer.satisfiers(zeroad, { name: 'libc6', op: '>=', version: '2.37' })).toEqual([])
    expect(await peer.satisfiers(zeroad, { name: 'libc6', op: '<<', version: '2.37' })).toHaveLength(1)
    // bookworm-updates lists no libc6: same-release resolution finds nothing there
    const sftp = await peer.package('openssh-sftp-server')
    expect(await peer.satisfiers(sftp!, { name: 'libc6', op: '>=', version: '2.34' })).toEqual([])
    const client = await peer.satisfiers(sftp!, { name: 'openssh-client', op: '=', version: '1:9.2p1-2+deb12u7' })
    expect(client.map((s) => s.package.id)).toEqual(['pkg/openssh-client/1:9.2p1-2+deb12u7/amd64'])
  })

  it('resolves through provides: versioned provides compare, unversioned ones only satisfy unversioned relations', async () => {
    const pkg = (await peer.packages({ name: 'librust-data-encoding-macro-internal-dev' }, 1)).items[0].node
    const viaProvide = await peer.satisfiers(pkg, { name: 'librust-syn-1+default-dev', op: '>=', version: '1.0.60' })
    expect(viaProvide.map((s) => [s.package.name, s.via])).toEqual([['librust-syn-dev', 'provides']])
    expect(await peer.satisfiers(pkg, { name: 'librust-syn-1+default-dev', op: '>=', version: '2' })).toEqual([])
    const octaveUser = (await peer.packages({ name: 'octave-sparsersb' }, 1)).items[0].node
    expect((await peer.satisfiers(octaveUser, { name: 'octave-abi-57' })).map((s) => s.package.name)).toEqual(['octave'])
    expect(await peer.satisfiers(octaveUser, { name: 'octave-abi-57', op: '>=', version: '0' })).toEqual([])
    // updates: ssh-client is provided by openssh-client
    const askpass = await peer.package('ssh-askpass-gnome')
    expect((await peer.satisfiers(askpass!, { name: 'ssh-client' })).map((s) => s.package.name)).toEqual(['openssh-client'])
  })

  it('reports stats and network', async () => {
    const s = await peer.stats()
    expect(s.documents).toBe(2115 + 38 + 2)
    expect(s.releases).toBe(2)
    expect(s.postings).toBeGreaterThan(0)
    const n = await peer.network()
    expect(n).toMatchObject({ self: { role: 'publisher', addresses: [] }, peers: [], indexPeers: 1 })
  })
})
