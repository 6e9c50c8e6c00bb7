/**
 * The portal's own subgraph: what a distribution's web portal knows that
 * the edos network does not (popularity contest counts, user reviews),
 * attached to edos' Package entity by its key `name version arch`.
 *
 * Federation v2 through @apollo/subgraph's buildSubgraphSchema, served by
 * graphql-yoga on node:http. The portal keys its data by package name only
 * (popularity does not change with a version bump), so any version the
 * gateway asks about gets the name's figures.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildSubgraphSchema } from '@apollo/subgraph'
import { parse } from 'graphql'
import { createYoga } from 'graphql-yoga'

export const typeDefs = parse(`
  extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])

  "A package as edos identifies it; the portal adds what its users say about it."
  type Package @key(fields: "name version arch") {
    name: String!
    version: String!
    arch: String!
    "Installations reported by the popularity contest (0: none reported)."
    popularity: Int
    reviews: [Review!]!
  }

  type Review {
    author: String!
    "1..5"
    rating: Int!
    text: String!
  }

  type Query {
    "Packages the portal's editors feature on the front page."
    featured: [Package!]!
  }
`)

export interface PackageKey { name: string, version: string, arch: string }
export interface Review { author: string, rating: number, text: string }

export interface PortalData {
  popularity: Record<string, number>
  reviews: Record<string, Review[]>
  featured: PackageKey[]
}

/** A few figures for the bundled sample (bookworm-updates), enough to see a join. */
export const SAMPLE_DATA: PortalData = {
  popularity: { 'openssh-client': 201344, 'openssh-server': 140221, tzdata: 210987, 'ca-certificates': 209113 },
  reviews: { 'openssh-client': [{ author: 'ana', rating: 5, text: 'ssh just works' }] },
  featured: []
}

export function portalSchema (data: PortalData = SAMPLE_DATA): ReturnType<typeof buildSubgraphSchema> {
  const extend = (key: PackageKey): PackageKey & { popularity: number, reviews: Review[] } => ({
    name: key.name, version: key.version, arch: key.arch, popularity: data.popularity[key.name] ?? 0, reviews: data.reviews[key.name] ?? []
  })
  return buildSubgraphSchema({
    typeDefs,
    resolvers: {
      Query: { featured: () => data.featured.map(extend) },
      // The gateway sends {__typename, name, version, arch} for every Package edos returned.
      Package: { __resolveReference: (ref: PackageKey) => extend(ref) }
    } as any // buildSubgraphSchema's resolver map type does not know __resolveReference's argument shape
  })
}

export interface PortalSubgraph { url: string, close: () => Promise<void> }

/** Serves the subgraph at http://HOST:PORT/graphql (port 0 picks one). */
export async function startPortalSubgraph (opts: { host?: string, port?: number, data?: PortalData } = {}): Promise<PortalSubgraph> {
  const host = opts.host ?? '127.0.0.1'
  const yoga = createYoga({ schema: portalSchema(opts.data), graphqlEndpoint: '/graphql', landingPage: false, graphiql: false, logging: false })
  const server = createServer(yoga)
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}/graphql`,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => { resolve() }))
      server.closeAllConnections()
      await closed
    }
  }
}
