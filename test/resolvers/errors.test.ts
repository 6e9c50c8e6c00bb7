import { describe, expect, it } from 'vitest'
import { GraphQLError } from '../../src/resolvers/graphql.ts'
import { toGraphQLError } from '../../src/resolvers/index.ts'
import { PeerError } from '../../src/actors/errors.ts'
import { QueryParseError, XmlParseError, StoreError } from '../../src/xml-twig-index/errors.ts'
import { FakePeer } from './fake-peer.ts'
import { context, data, error, run } from './helpers.ts'

const upload = (name: string, text: string): { name: string, arrayBuffer: () => Promise<ArrayBuffer> } =>
  ({ name, arrayBuffer: async () => new TextEncoder().encode(text).buffer as ArrayBuffer })

describe('error paths', () => {
  it('reports a bad pattern as BAD_USER_INPUT with position and expected', async () => {
    const e = await error(context(new FakePeer()), '{ search(pattern: "//package[[x]") { totalCount } }')
    expect(e.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ERR_QUERY_PARSE', position: 10, expected: 'a name test' })
    expect(e.path).toEqual(['search'])
    const ex = await error(context(new FakePeer()), '{ explain(pattern: "//a[[") { answers } }')
    expect(ex.extensions).toMatchObject({ code: 'BAD_USER_INPUT', position: 4 })
  })

  it('rejects empty patterns, bad page sizes, bad cursors and backward paging', async () => {
    const ctx = context(new FakePeer())
    expect((await error(ctx, '{ search(pattern: " ") { totalCount } }')).extensions.code).toBe('BAD_USER_INPUT')
    for (const first of [0, 501, -1]) {
      const e = await error(ctx, `{ packages(first: ${first}) { totalCount } }`)
      expect(e.extensions).toMatchObject({ code: 'BAD_USER_INPUT', argument: 'first' })
      expect(e.message).toMatch(/between 1 and 500/)
    }
    const c = await error(ctx, '{ search(pattern: "//package/name", after: "bm9wZQ") { totalCount } }')
    expect(c.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ERR_INVALID_CURSOR' })
    const r = await run(ctx, '{ search(pattern: "//package/name", last: 2) { totalCount } }')
    expect(r.errors?.[0].message).toMatch(/Unknown argument "last"/)
  })

  it('hides internal errors behind a generic message', async () => {
    const peer = new FakePeer()
    const secret = new Error('ENOENT: /var/lib/edos/secret/path at Store.open (store.ts:12)')
    peer.failNext = { op: 'stats', error: secret }
    const e = await error(context(peer), '{ stats { documents } }')
    expect(e.message).toBe('Internal server error')
    expect(e.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' })
    expect(JSON.stringify(e.toJSON())).not.toMatch(/secret|store\.ts/)
    expect(e.originalError?.message).toBe('Internal server error')
  })

  it('maps every error kind in toGraphQLError', () => {
    expect(toGraphQLError(new PeerError('no such release', 'NOT_FOUND')).extensions).toEqual({ code: 'NOT_FOUND' })
    expect(toGraphQLError(new PeerError('exists', 'CONFLICT')).extensions.code).toBe('CONFLICT')
    expect(toGraphQLError(new PeerError('no', 'FORBIDDEN')).extensions.code).toBe('FORBIDDEN')
    expect(toGraphQLError(new PeerError('later', 'UNAVAILABLE')).extensions.code).toBe('UNAVAILABLE')
    const q = toGraphQLError(new QueryParseError('expected ]', 7, "']'"))
    expect(q.extensions).toEqual({ code: 'BAD_USER_INPUT', reason: 'ERR_QUERY_PARSE', position: 7, expected: "']'" })
    const x = toGraphQLError(new XmlParseError('unclosed tag', { offset: 3, line: 1, column: 4 }, 'Packages'))
    expect(x.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ERR_XML_PARSE', location: { line: 1, column: 4 }, where: 'Packages' })
    const s = toGraphQLError(new StoreError('/secret/db is locked', 'ERR_STORE_LOCKED'))
    expect(s.extensions.code).toBe('UNAVAILABLE')
    expect(s.message).not.toMatch(/secret/)
    expect(toGraphQLError(new StoreError('corrupt /x')).extensions.code).toBe('INTERNAL_SERVER_ERROR')
    expect(toGraphQLError('a string').message).toBe('Internal server error')
    const own = new GraphQLError('mine', { extensions: { code: 'NOT_FOUND' } })
    expect(toGraphQLError(own)).toBe(own)
    // A located error that wraps an engine error is mapped by what it wraps.
    const located = new GraphQLError('x', { path: ['a'], originalError: new PeerError('nope', 'NOT_FOUND') })
    expect(toGraphQLError(located)).toMatchObject({ path: ['a'], extensions: { code: 'NOT_FOUND' } })
  })

  it('requires the API token for publishing, with a hint', async () => {
    const peer = new FakePeer()
    const e = await error(context(peer), 'mutation ($f: [File!]) { publishPackages(input: { files: $f }) { summary { units } } }', { f: [upload('Packages', 'x')] })
    expect(e.extensions.code).toBe('UNAUTHENTICATED')
    expect(e.message).toBe("Publishing needs the peer's API token: send Authorization: Bearer <token from DATA/api-token>")
    for (const m of ['cutRelease(name: "x") { release { name } }', 'createChannel(name: "x") { channel { name } }', 'deleteChannel(name: "x") { deleted }',
      'submitWishList(release: "bookworm") { wishList { bytes } }', 'download(pattern: "//package") { download { id } }', 'cancelDownload(id: "d1") { download { id } }']) {
      expect((await error(context(peer), `mutation { ${m} }`)).extensions.code).toBe('UNAUTHENTICATED')
    }
    expect(peer.calls.filter((c) => c.op !== 'document')).toEqual([])
  })

  it('forbids server-side paths unless authenticated on the same machine', async () => {
    const peer = new FakePeer()
    const q = 'mutation { publishRelease(input: { name: "trixie", paths: ["/etc/passwd"] }) { summary { units } } }'
    const e = await error(context(peer, { authenticated: true }), q)
    expect(e.extensions.code).toBe('FORBIDDEN')
    expect(e.message).toMatch(/upload the files instead/)
    const t = await error(context(peer, { authenticated: true }), 'mutation { publishPackages(input: { translationPaths: ["/x"], files: [] }) { summary { units } } }')
    expect(t.extensions.code).toBe('FORBIDDEN')
    expect(peer.calls.some((c) => c.op === 'publish')).toBe(false)
    const ok = await data(context(peer, { authenticated: true, sameMachine: true }), q)
    expect(ok.publishRelease.summary.units).toBe(1)
    expect(peer.calls.find((c) => c.op === 'publish')?.args).toEqual([[{ path: '/etc/passwd' }], { release: 'trixie', format: undefined, translations: 0 }])
  })

  it('reports not found, conflicts and bad mutation input', async () => {
    const ctx = context(new FakePeer(), { authenticated: true })
    expect((await error(ctx, 'mutation { cancelDownload(id: "nope") { download { id } } }')).extensions.code).toBe('NOT_FOUND')
    expect((await error(ctx, 'mutation { cutRelease(name: "x", from: "sid") { release { name } } }')).extensions.code).toBe('NOT_FOUND')
    expect((await error(ctx, 'mutation { createChannel(name: "releases") { channel { name } } }')).extensions.code).toBe('CONFLICT')
    expect((await error(ctx, '{ packages(where: { release: "sid" }) { totalCount } }')).extensions).toEqual({ code: 'NOT_FOUND' })
    expect((await error(ctx, 'mutation { download(units: ["a"], pattern: "//a") { download { id } } }')).extensions.code).toBe('BAD_USER_INPUT')
    expect((await error(ctx, 'mutation { download { download { id } } }')).extensions.code).toBe('BAD_USER_INPUT')
    expect((await error(ctx, 'mutation { publishPackages(input: {}) { summary { units } } }')).message).toMatch(/nothing to publish/)
    const inline = await run(ctx, 'mutation { publishPackages(input: { files: ["x"] }) { summary { units } } }')
    expect(inline.errors?.[0].message).toMatch(/multipart/)
    const bad = await run(ctx, 'mutation ($f: [File!]) { publishPackages(input: { files: $f }) { summary { units } } }', { f: ['just a string'] })
    expect(bad.errors?.[0].message).toMatch(/uploaded file/)
    expect((await data(ctx, '{ release(name: "sid") { name } package(name: "nope") { name } channel(name: "x") { name } }'))).toEqual({ release: null, package: null, channel: null })
  })
})

describe('mutations', () => {
  it('publishes uploads, with translations and format', async () => {
    const peer = new FakePeer()
    const d = await data(context(peer, { authenticated: true }), `mutation ($f: [File!], $t: [File!]) {
      publishPackages(input: { release: "bookworm", format: DEBIAN, files: $f, translations: $t }) {
        summary { release units rejected replaced postings seconds rejections } release { name } } }`,
    { f: [upload('Packages', 'Package: vim\n')], t: [upload('Translation-en', 'x')] })
    expect(d.publishPackages).toEqual({ summary: { release: 'bookworm', units: 1, rejected: 0, replaced: 0, postings: 42, seconds: 0.01, rejections: [] }, release: { name: 'bookworm' } })
    expect(peer.calls.find((c) => c.op === 'publish')?.args).toEqual([[{ name: 'Packages', text: 'Package: vim\n' }], { release: 'bookworm', format: 'debian', translations: 1 }])
  })

  it('cuts releases, manages channels, wish lists and downloads', async () => {
    const peer = new FakePeer()
    const ctx = context(peer, { authenticated: true })
    const d = await data(ctx, `mutation {
      cutRelease(name: "bookworm-2", from: "bookworm") { release { name doc } }
      createChannel(name: "editors", description: "Editors", filter: "//package[section = \\"editors\\"]") { channel { name description filter lastSeq } }
      submitWishList(release: "bookworm") { wishList { release units bytes state } }
      download(units: ["pkg/vim/2:9.0.1378-2/amd64"]) { download { id downloadId state units bytesTotal bytesDone } } }`)
    expect(d.cutRelease.release).toEqual({ name: 'bookworm-2', doc: 'release/bookworm-2' })
    expect(d.createChannel.channel).toEqual({ name: 'editors', description: 'Editors', filter: '//package[section = "editors"]', lastSeq: 0 })
    expect(d.submitWishList.wishList.state).toBe('RECORDED')
    expect(d.download.download).toMatchObject({ downloadId: 'd1', state: 'QUEUED', bytesTotal: 100 })
    // cancelDownload takes the global id or the peer's id.
    const c = await data(ctx, 'mutation ($id: ID!) { cancelDownload(id: $id) { download { state } } }', { id: d.download.download.id })
    expect(c.cancelDownload.download.state).toBe('CANCELLED')
    expect(peer.calls.find((x) => x.op === 'cancelDownload')?.args).toEqual(['d1'])
    expect((await data(ctx, 'mutation { deleteChannel(name: "editors") { name deleted } }')).deleteChannel).toEqual({ name: 'editors', deleted: true })
  })
})
