import { describe, expect, it } from 'vitest'
import { FakePeer } from './fake-peer.ts'
import { context, data } from './helpers.ts'

describe('queries over a fake peer', () => {
  it('pages search answers with the peer\'s cursors', async () => {
    const peer = new FakePeer()
    const ctx = context(peer)
    const q = `query ($after: String) { search(pattern: "//package/name", first: 2, after: $after) {
      totalCount edges { cursor node { doc path xml } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`
    const seen: string[] = []
    let after: string | null = null
    let pages = 0
    for (;;) {
      const d: { search: any } = await data(ctx, q, { after })
      const conn: any = d.search
      expect(conn.totalCount).toBe(5)
      seen.push(...conn.edges.map((e: { node: { xml: string } }) => e.node.xml))
      expect(conn.pageInfo.startCursor).toBe(conn.edges[0].cursor)
      expect(conn.pageInfo.endCursor).toBe(conn.edges.at(-1).cursor)
      pages++
      if (!conn.pageInfo.hasNextPage) break
      after = conn.pageInfo.endCursor
    }
    expect(pages).toBe(3)
    expect(seen).toEqual(['<name>libc6</name>', '<name>nano</name>', '<name>vim</name>', '<name>vim-common</name>', '<name>zsh</name>'])
    // The peer got the cursor untouched.
    expect(peer.calls.filter((c) => c.op === 'search').map((c) => c.args[2])).toEqual([undefined, expect.any(String), expect.any(String)])
  })

  it('resolves a match\'s document by id', async () => {
    const d = await data(context(new FakePeer()), `{ search(pattern: "//package[section = \\"shells\\"]/name") {
      edges { node { doc document { __typename ... on Package { name size } } } } } }`)
    expect(d.search.edges).toEqual([{ node: { doc: 'pkg/zsh/5.9-4/amd64', document: { __typename: 'Package', name: 'zsh', size: 5_000_000_000 } } }])
  })

  it('filters packages with a structured filter, dropping explicit nulls', async () => {
    const peer = new FakePeer()
    const d = await data(context(peer), `{ packages(where: { section: "editors", dependsOn: "libc6", arch: null }, first: 10) {
      totalCount edges { node { name version arch section } } } compileFilter(where: { section: "editors" }) }`)
    expect(d.packages.totalCount).toBe(2)
    expect(d.packages.edges.map((e: { node: { name: string } }) => e.node.name)).toEqual(['nano', 'vim'])
    expect(peer.calls.find((c) => c.op === 'packages')?.args[0]).toEqual({ section: 'editors', dependsOn: 'libc6' })
    expect(d.compileFilter).toBe('//package[section = "editors"]')
  })

  it('gives every package field and relations with satisfiers, resolved lazily', async () => {
    const peer = new FakePeer()
    const ctx = context(peer)
    const plain = await data(ctx, '{ package(name: "vim") { name depends { alternatives { name op version } } } }')
    expect(plain.package.depends).toEqual([
      { alternatives: [{ name: 'libc6', op: '>=', version: '2.34' }] },
      { alternatives: [{ name: 'vim-common', op: null, version: null }, { name: 'vim-tiny', op: null, version: null }] }
    ])
    expect(peer.calls.some((c) => c.op === 'satisfiers')).toBe(false)
    const d = await data(ctx, `{ package(name: "vim", version: "2:9.0.1378-2", arch: "amd64") {
      id doc name version arch summary description section priority license maintainer homepage source size installedSize
      checksum { type value } location group epoch release files tags xml
      preDepends { alternatives { name } } recommends { alternatives { name } } enhances { alternatives { name } } provides { alternatives { name } }
      conflicts { alternatives { name } } breaks { alternatives { name } } replaces { alternatives { name } } obsoletes { alternatives { name } }
      depends { alternatives { name satisfiedBy { via package { name version } } } }
      suggests { alternatives { name satisfiedBy { via package { name } } } } } }`)
    const p = d.package
    expect(p).toMatchObject({ doc: 'pkg/vim/2:9.0.1378-2/amd64', summary: 'Vi IMproved - enhanced vi editor', priority: 'optional', checksum: { type: 'sha256', value: 'ab'.repeat(32) }, tags: ['role::program', 'use::editing'], license: null, preDepends: [] })
    expect(p.depends[0].alternatives[0].satisfiedBy).toEqual([{ via: 'NAME', package: { name: 'libc6', version: '2.36-9' } }])
    expect(p.depends[1].alternatives.map((a: { satisfiedBy: unknown[] }) => a.satisfiedBy.length)).toEqual([1, 0])
    expect(p.suggests[0].alternatives[0].satisfiedBy).toEqual([{ via: 'PROVIDES', package: { name: 'nano' } }])
  })

  it('walks a release\'s collection tree and its packages', async () => {
    const d = await data(context(new FakePeer()), `{ releases { name } release(name: "bookworm") {
      name version date units doc root { name collections { name path units { __typename kind doc name
        ... on PackageRef { package { name } } ... on UtilityRef { utility { name } } } } }
      packages(first: 1) { totalCount edges { node { name } } pageInfo { hasNextPage } } } }`)
    expect(d.releases).toEqual([{ name: 'bookworm' }])
    const r = d.release
    expect(r).toMatchObject({ name: 'bookworm', version: '12', units: 6, doc: 'release/bookworm' })
    expect(r.root.collections[0].units[0]).toEqual({ __typename: 'PackageRef', kind: 'PACKAGE', doc: 'pkg/nano/7.2-1/amd64', name: 'nano', package: { name: 'nano' } })
    expect(r.root.collections[1]).toEqual({ name: 'tools', path: ['bookworm', 'tools'], units: [{ __typename: 'UtilityRef', kind: 'UTILITY', doc: 'util/install.sh/1', name: 'install.sh', utility: { name: 'install.sh' } }] })
    expect(r.packages).toEqual({ totalCount: 3, edges: [{ node: { name: 'nano' } }], pageInfo: { hasNextPage: true } })
  })

  it('refetches every node kind by global id', async () => {
    const peer = new FakePeer()
    const ctx = context(peer, { authenticated: true })
    await data(ctx, 'mutation { download(units: ["pkg/vim/2:9.0.1378-2/amd64"]) { download { id } } }')
    const ids = await data(ctx, `{ package(name: "vim") { id } release(name: "bookworm") { id root { collections { units { ... on UtilityRef { utility { id } } } } } }
      channel(name: "releases") { id } downloads { id } }`)
    const list = [ids.package.id, ids.release.id, ids.release.root.collections[1].units[0].utility.id, ids.channel.id, ids.downloads[0].id]
    const d = await data(ctx, `query ($ids: [ID!]!) { nodes(ids: $ids) { __typename id
      ... on Package { name } ... on Release { name } ... on Utility { name } ... on Channel { name } ... on Download { downloadId } } }`, { ids: list })
    expect(d.nodes.map((n: { __typename: string }) => n.__typename)).toEqual(['Package', 'Release', 'Utility', 'Channel', 'Download'])
    expect(d.nodes.map((n: { id: string }) => n.id)).toEqual(list)
    const one = await data(ctx, 'query ($id: ID!) { node(id: $id) { ... on Package { version } } }', { id: ids.package.id })
    expect(one.node).toEqual({ version: '2:9.0.1378-2' })
  })

  it('answers explain, network, stats, channels, document', async () => {
    const d = await data(context(new FakePeer()), `{ explain(pattern: "//package") { pattern strategy reason terms { term postings docs blocks } candidateDocs verifiedDocs answers ms { plan candidates join verify total } reads { term postings ms } }
      network { self { peerId role addresses graphql } peers { peerId } indexPeers } stats { documents postings terms bytes releases }
      channels { name description filter lastSeq } document(doc: "util/install.sh/1") { __typename ... on Utility { name } } }`)
    expect(d.explain).toMatchObject({ strategy: 'postings', terms: [{ term: 'e:package', docs: 5 }], ms: { total: 0.6 } })
    expect(d.network.self).toEqual({ peerId: '12D3KooWFake', role: 'PUBLISHER', addresses: ['/ip4/127.0.0.1/tcp/4001'], graphql: 'http://127.0.0.1:4000/graphql' })
    expect(d.stats.bytes).toBe(3_000_000_000)
    expect(d.channels).toEqual([{ name: 'releases', description: 'New releases', filter: null, lastSeq: 0 }])
    expect(d.document).toEqual({ __typename: 'Utility', name: 'install.sh' })
  })
})
