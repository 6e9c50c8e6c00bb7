/**
 * Federation end to end: a real peer + server on 127.0.0.1 port 0, the
 * portal subgraph from client-examples on port 0, composed by @apollo/gateway
 * (IntrospectAndCompose) and queried over HTTP. Telemetry is off before the
 * gateway loads, so nothing but 127.0.0.1 is contacted.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { startPortalSubgraph, type PortalData, type PortalSubgraph } from '../../client-examples/web-portal-gateway/portal-subgraph.ts'
import type { PortalGateway } from '../../client-examples/web-portal-gateway/index.ts'

process.env.APOLLO_TELEMETRY_DISABLED = 'true'
const { startPortalGateway } = await import('../../client-examples/web-portal-gateway/index.ts')

const FIXTURE = fileURLToPath(new URL('../fixtures/bookworm-updates.Packages.xz', import.meta.url))

async function post (url: string, query: string, variables: Record<string, unknown> = {}): Promise<{ status: number, body: any }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }), signal: AbortSignal.timeout(15_000) })
  return { status: res.status, body: await res.json() }
}

describe('web portal gateway: edos composed with the portal subgraph', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let portal: PortalSubgraph
  let gateway: PortalGateway
  const portalData: PortalData = {
    popularity: { 'openssh-client': 201344 },
    reviews: { 'openssh-client': [{ author: 'ana', rating: 5, text: 'ssh just works' }] },
    featured: []
  }

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-federation-'))
    peer = await EmbeddedPeer.start({ data, role: 'publisher' })
    await peer.publish([{ kind: 'path', path: FIXTURE }], { release: 'bookworm-updates', format: 'debian' })
    server = await startServer({ peer, port: 0 })
    const client = (await post(server.url, '{ package(name: "openssh-client") { name version arch } }')).body.data.package
    portalData.featured.push(client)
    portal = await startPortalSubgraph({ port: 0, data: portalData })
    gateway = await startPortalGateway({ edosUrl: server.url, portalUrl: portal.url, port: 0 })
  })
  afterAll(async () => {
    await gateway?.close()
    await portal?.close()
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  it('composes one schema holding both subgraphs\' fields', () => {
    const fields = gateway.schema.getType('Package') as any
    expect(Object.keys(fields.getFields())).toEqual(expect.arrayContaining(['summary', 'depends', 'popularity', 'reviews']))
    expect(gateway.schema.getQueryType()?.getFields()).toHaveProperty('featured')
    expect(gateway.schema.getQueryType()?.getFields()).toHaveProperty('search')
  })

  it('joins edos packages with the portal\'s popularity and reviews', async () => {
    const r = await post(gateway.url, `{ packages(where: { nameStartsWith: "openssh-" }) {
      edges { node { name version arch summary popularity reviews { author rating } } } } }`)
    expect(r.body.errors).toBeUndefined()
    const nodes = r.body.data.packages.edges.map((e: any) => e.node)
    expect(nodes.map((n: any) => n.name)).toEqual(expect.arrayContaining(['openssh-client', 'openssh-server']))
    const client = nodes.find((n: any) => n.name === 'openssh-client')
    expect(client.summary).toMatch(/secure shell/i)
    expect(client.popularity).toBe(201344)
    expect(client.reviews).toEqual([{ author: 'ana', rating: 5 }])
    // A package the portal has no figures for still joins, with its defaults.
    expect(nodes.find((n: any) => n.name === 'openssh-server').popularity).toBe(0)
  })

  it('goes the other way: the portal\'s featured list resolved to edos packages', async () => {
    const r = await post(gateway.url, '{ featured { name popularity summary depends { alternatives { name } } } }')
    expect(r.body.errors).toBeUndefined()
    expect(r.body.data.featured).toHaveLength(1)
    expect(r.body.data.featured[0]).toMatchObject({ name: 'openssh-client', popularity: 201344 })
    expect(r.body.data.featured[0].summary).toMatch(/secure shell/i)
    expect(r.body.data.featured[0].depends.length).toBeGreaterThan(0)
  })

  it('joins through search → document → Package', async () => {
    const r = await post(gateway.url, `query ($p: String!) { search(pattern: $p, first: 5) {
      edges { node { doc document { ... on Package { name popularity } } } } } }`, { p: '//package[name = "openssh-client"]' })
    expect(r.body.errors).toBeUndefined()
    expect(r.body.data.search.edges[0].node.document).toEqual({ name: 'openssh-client', popularity: 201344 })
  })

  it('passes edos errors through and refuses subscriptions', async () => {
    const bad = await post(gateway.url, '{ search(pattern: "//package[") { totalCount } }')
    expect(bad.body.errors[0].message).toMatch(/position 10/)
    const sub = await post(gateway.url, 'subscription { channel(name: "releases") { seq } }')
    expect(sub.status).toBe(400)
    expect(JSON.stringify(sub.body.errors)).toMatch(/subscri/)
  })
})
