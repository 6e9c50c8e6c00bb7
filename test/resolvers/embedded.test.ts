/**
 * The schema over a real EmbeddedPeer (LevelDB on disk), publishing the
 * bookworm-updates fixture through the publishRelease mutation as an upload.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { File } from 'node:buffer'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ExecutionResult } from 'graphql'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { context, data, error, subscription } from './helpers.ts'

let dir: string
let peer: EmbeddedPeer

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edos-resolvers-'))
  peer = await EmbeddedPeer.start({ data: dir, role: 'publisher' })
})
afterAll(async () => {
  await peer?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('schema over EmbeddedPeer', () => {
  it('publishes an upload, announces it, then answers queries', async () => {
    const ctx = context(peer, { authenticated: true })
    const released = await subscription(ctx, 'subscription { releasePublished { name units } }')
    if (!(Symbol.asyncIterator in released)) throw new Error(JSON.stringify(released))
    const next = (released as AsyncIterableIterator<ExecutionResult>).next()
    const bytes = await readFile(new URL('../fixtures/bookworm-updates.Packages.xz', import.meta.url))
    const file = new File([bytes], 'Packages.xz')
    const d = await data(ctx, 'mutation ($f: [File!]) { publishRelease(input: { name: "bookworm-updates", format: DEBIAN, files: $f }) { summary { release units rejected } release { name units } } }', { f: [file] })
    expect(d.publishRelease.summary).toMatchObject({ release: 'bookworm-updates', units: 38, rejected: 0 })
    expect(d.publishRelease.release).toMatchObject({ name: 'bookworm-updates', units: 38 })
    expect((await next).value?.data).toEqual({ releasePublished: { name: 'bookworm-updates', units: 38 } })
    await released.return?.()

    // Search pages through every package name with the engine's cursors.
    const names: string[] = []
    let after: string | null = null
    for (;;) {
      const r: { search: any } = await data(ctx, 'query ($a: String) { search(pattern: "//package/name", first: 15, after: $a) { totalCount edges { node { xml doc } } pageInfo { hasNextPage endCursor } } }', { a: after })
      expect(r.search.totalCount).toBe(38)
      names.push(...r.search.edges.map((e: { node: { xml: string } }) => e.node.xml))
      if (!r.search.pageInfo.hasNextPage) break
      after = r.search.pageInfo.endCursor
    }
    expect(names).toHaveLength(38)
    expect(new Set(names).size).toBe(38)
  })

  it('filters packages and resolves relations to satisfiers', async () => {
    const ctx = context(peer)
    const all = await data(ctx, '{ packages(first: 500) { totalCount edges { node { name version arch section depends { alternatives { name op version satisfiedBy { via package { name version } } } } } } } }')
    expect(all.packages.totalCount).toBe(38)
    const withSatisfier = all.packages.edges.flatMap((e: any) => e.node.depends.flatMap((c: any) => c.alternatives)).filter((a: any) => a.satisfiedBy.length > 0)
    expect(withSatisfier.length).toBeGreaterThan(0)
    const some = all.packages.edges[0].node
    const one = await data(ctx, 'query ($n: String!, $s: String!) { packages(where: { name: $n, section: $s }) { totalCount edges { node { name } } } }', { n: some.name, s: some.section })
    expect(one.packages.edges.map((e: any) => e.node.name)).toEqual([some.name])
    const ent = await data(ctx, 'query ($r: [_Any!]!) { _entities(representations: $r) { ... on Package { name version arch xml } } }', { r: [{ __typename: 'Package', name: some.name, version: some.version, arch: some.arch }] })
    expect(ent._entities[0]).toMatchObject({ name: some.name, version: some.version })
    expect(ent._entities[0].xml).toMatch(/^<package>/)
  })

  it('walks the release tree, explains, and reports bad patterns with their position', async () => {
    const ctx = context(peer)
    const r = await data(ctx, '{ release(name: "bookworm-updates") { id name root { name collections { name } units { __typename name ... on PackageRef { package { name } } } } } }')
    expect(r.release.root.name).toBe('bookworm-updates')
    const n = await data(ctx, 'query ($id: ID!) { node(id: $id) { ... on Release { name } } }', { id: r.release.id })
    expect(n.node).toEqual({ name: 'bookworm-updates' })
    const plan = await data(ctx, '{ explain(pattern: "//package[section = \\"libs\\"]/name") { strategy answers terms { term } } }')
    expect(plan.explain.terms.length).toBeGreaterThan(0)
    const e = await error(ctx, '{ search(pattern: "//package[") { totalCount } }')
    expect(e.extensions).toMatchObject({ code: 'BAD_USER_INPUT', reason: 'ERR_QUERY_PARSE', position: expect.any(Number), expected: expect.any(String) })
    const c = await error(ctx, '{ search(pattern: "//package", after: "garbage") { totalCount } }')
    expect(c.extensions.code).toBe('BAD_USER_INPUT')
  })

  it('replays the releases channel from since: 0 over the peer\'s log', async () => {
    const ctx = context(peer)
    const channels = await data(ctx, '{ channels { name lastSeq } }')
    const releases = channels.channels.find((c: { name: string }) => c.name === 'releases')
    expect(releases?.lastSeq).toBeGreaterThan(0)
    const it = await subscription(ctx, 'subscription { channel(name: "releases", since: 0) { seq release added { name } } }')
    if (!(Symbol.asyncIterator in it)) throw new Error(JSON.stringify(it))
    const first = await (it as AsyncIterableIterator<ExecutionResult>).next()
    expect(first.value?.data?.channel).toMatchObject({ seq: 1, release: 'bookworm-updates' })
    await it.return?.()
  })

  it('refuses to admit a mirror whose id is no Ed25519 peer id: BAD_USER_INPUT naming it', async () => {
    const ctx = context(peer, { authenticated: true })
    const admit = 'mutation ($id: String!) { admitMirror(peerId: $id) { mirror } }'
    const empty = await error(ctx, admit, { id: '' })
    expect(empty.extensions.code).toBe('BAD_USER_INPUT')
    expect(empty.message).toBe("'' is not a peer id")
    expect((await error(ctx, admit, { id: 'peer-0123' })).message).toBe("'peer-0123' is not a peer id")
    const rsa = await error(ctx, admit, { id: 'QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N' })
    expect(rsa.extensions.code).toBe('BAD_USER_INPUT')
    expect(rsa.message).toMatch(/is a RSA peer id; a mirror has an Ed25519 one/)
    // A well-formed id reaches the next check: this publisher has no network to admit it into.
    expect((await error(ctx, admit, { id: '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA' })).extensions.code).toBe('UNAVAILABLE')
  })
})
