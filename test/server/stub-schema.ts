/**
 * A tiny schema with the real context type (EdosContext) and a fake peer
 * that implements just what it calls: tests the serving layer on its own
 * (transports, limits, auth, masking, uploads, subscriptions), including
 * what the real schema cannot provoke on demand (a raw crash to mask, a
 * follow() whose open streams can be counted). real.test.ts runs the same
 * server over src/resolvers and an EmbeddedPeer.
 */
import { EventEmitter, on } from 'node:events'
import { createSchema } from 'graphql-yoga'
import type { GraphQLSchema } from 'graphql'
import { PeerError } from '../../src/actors/errors.ts'
import type { NotificationRecord, PeerApi, PublishSource, PublishSummary } from '../../src/actors/types.ts'
import type { EdosContext } from '../../src/server/context.ts'

export const TOKEN = 'stub-token-0123456789'

/** The subset of PeerApi the stub schema uses, with probes for the tests. */
export class FakePeer {
  readonly info = { id: '12D3KooWStubPeer', role: 'publisher' as const, addresses: [] as string[] }
  readonly log = new Map<string, NotificationRecord[]>()
  readonly bus = new EventEmitter()
  /** follow() streams currently open: each must end when its client goes away. */
  openFollows = 0
  /** Executions of a Notification selection (its `release` field), shared or not. */
  executions = 0
  uploads: Array<{ name: string, bytes: number }> = []

  authenticate (token: string | undefined): boolean { return token === TOKEN }

  async stats (): Promise<{ documents: number, postings: number, terms: number, bytes: number, releases: number }> {
    return { documents: 42, postings: 1000, terms: 300, bytes: 4096, releases: 1 }
  }

  async publish (sources: PublishSource[], options: { release?: string }): Promise<PublishSummary> {
    let bytes = 0
    for (const s of sources) {
      if (s.kind !== 'upload') throw new PeerError('paths are not accepted by the stub', 'FORBIDDEN')
      const b = await s.bytes()
      bytes += b.length
      this.uploads.push({ name: s.name, bytes: b.length })
    }
    const release = options.release ?? 'current'
    this.notify('releases', release)
    return { release, units: sources.length, rejected: 0, replaced: 0, postings: bytes, seconds: 0, rejections: [] }
  }

  /** Appends a notification to a channel's log and wakes its followers. */
  notify (channel: string, release: string): NotificationRecord {
    const list = this.log.get(channel) ?? []
    this.log.set(channel, list)
    const n: NotificationRecord = { channel, seq: list.length + 1, release, date: new Date(0).toISOString(), added: [], updated: [], removed: [], signature: '' }
    list.push(n)
    this.bus.emit(channel, n)
    return n
  }

  async channel (name: string): Promise<{ name: string, lastSeq: number } | undefined> {
    return { name, lastSeq: this.log.get(name)?.length ?? 0 }
  }

  countExecution (): void { this.executions++ }

  /** Logged notifications after `since`, then live ones, until `signal` aborts. */
  async * follow (channel: string, since: number, signal: AbortSignal): AsyncGenerator<NotificationRecord> {
    this.openFollows++
    try {
      // Listen before replaying the log, so nothing appended meanwhile is lost.
      const live = on(this.bus, channel, { signal })
      let last = since
      for (const n of this.log.get(channel) ?? []) {
        if (n.seq > last) { last = n.seq; yield n }
      }
      for await (const [n] of live as AsyncIterable<[NotificationRecord]>) {
        if (n.seq > last) { last = n.seq; yield n }
      }
    } catch (err) {
      if ((err as Error).name !== 'AbortError') throw err
    } finally {
      this.openFollows--
    }
  }

  asPeerApi (): PeerApi { return this as unknown as PeerApi }
}

const typeDefs = /* GraphQL */ `
  scalar File
  type Stats { documents: Int!, postings: Int!, terms: Int!, bytes: Int!, releases: Int! }
  type Tree { name: String!, child: Tree }
  type Caller { authenticated: Boolean!, sameMachine: Boolean! }
  type PublishSummary { release: String!, units: Int!, postings: Int! }
  type Notification {
    channel: String!
    seq: Int!
    release: String!
    "Throws an unexpected error: the shared path must mask it like any other."
    secret: String
  }
  type Query {
    stats: Stats!
    tree: Tree!
    caller: Caller!
    "Throws an unexpected error whose message must not reach the client."
    boom: String
    "Throws a coded peer error whose message and code must reach the client."
    missing: String
  }
  type Mutation {
    "Publisher only: needs a bearer token."
    publishPackages(release: String, files: [File!]!): PublishSummary!
  }
  type Subscription { channel(name: String!, since: Int): Notification! }
`

interface FileLike { name: string, arrayBuffer: () => Promise<ArrayBuffer> }

export function stubSchema (): GraphQLSchema {
  const tree = (depth: number): unknown => ({ name: `level ${depth}`, child: () => tree(depth + 1) })
  return createSchema<EdosContext>({
    typeDefs,
    resolvers: {
      Query: {
        stats: async (_: unknown, __: unknown, ctx: EdosContext) => await ctx.peer.stats(),
        tree: () => tree(1),
        caller: (_: unknown, __: unknown, ctx: EdosContext) => ({ authenticated: ctx.authenticated, sameMachine: ctx.sameMachine }),
        boom: () => { throw new Error('database password is hunter2 at /etc/edos/secret') },
        missing: () => { throw new PeerError('no such release: sid', 'NOT_FOUND') }
      },
      Mutation: {
        publishPackages: async (_: unknown, args: { release?: string, files: FileLike[] }, ctx: EdosContext) => {
          if (!ctx.authenticated) throw new PeerError('publishPackages needs a bearer token (Authorization: Bearer <DATA/api-token>)', 'UNAUTHENTICATED')
          const sources: PublishSource[] = args.files.map((f) => ({ kind: 'upload', name: f.name, bytes: async () => new Uint8Array(await f.arrayBuffer()) }))
          return await ctx.peer.publish(sources, { release: args.release })
        }
      },
      Notification: {
        release: (n: NotificationRecord, _: unknown, ctx: EdosContext) => {
          (ctx.peer as unknown as FakePeer).countExecution()
          return n.release
        },
        secret: () => { throw new Error('signing key at /etc/edos/key') }
      },
      Subscription: {
        channel: {
          subscribe: (_: unknown, args: { name: string, since?: number | null }, ctx: EdosContext) =>
            ctx.peer.follow(args.name, args.since ?? 0, ctx.signal ?? new AbortController().signal),
          resolve: (n: NotificationRecord) => n
        }
      }
    }
  })
}
