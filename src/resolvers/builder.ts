/**
 * The one Pothos builder of the edos schema, its context and the helpers
 * every resolver module shares (auth checks, paging arguments, Page ->
 * connection). Type modules import `builder` and register on it; index.ts
 * imports them all and builds the subgraph schema once.
 */
import SchemaBuilder from '@pothos/core'
import RelayPlugin from '@pothos/plugin-relay'
import DirectivePlugin from '@pothos/plugin-directives'
import FederationPlugin from '@pothos/plugin-federation'
import { GraphQLError, Kind } from './graphql.ts'
import type { Page, PeerApi } from '../actors/types.ts'

/** What every resolver gets: the peer it serves, and who is asking. The server builds one per request/subscription. */
export interface EdosContext {
  peer: PeerApi
  /** The caller sent the peer's API token (Authorization: Bearer ...). */
  authenticated: boolean
  /** The caller is on the peer's machine (loopback): only then may it name server-side paths. */
  sameMachine: boolean
  /** Aborts when the request or the subscription's socket goes away. */
  signal?: AbortSignal
}

/**
 * A file of a GraphQL multipart request. graphql-yoga puts web `File`
 * objects (from @whatwg-node/fetch, not always node:buffer's class) into the
 * variables, so the scalar checks the shape, not the class.
 */
export interface UploadedFile {
  readonly name: string
  readonly size?: number
  arrayBuffer: () => Promise<ArrayBuffer>
}

/** The connection shape every connection resolver returns (Relay's plus totalCount). */
export interface ConnectionShape<T> {
  edges: Array<{ cursor: string, node: T }>
  pageInfo: { startCursor: string | null, endCursor: string | null, hasNextPage: boolean, hasPreviousPage: boolean }
  totalCount: number
}

export interface EdosSchemaTypes {
  Context: EdosContext
  Scalars: { File: { Input: UploadedFile, Output: never } }
  Connection: { totalCount: number }
  // Fields are non-null unless a resolver can fail on its own (lazy lookups,
  // root fields), so that one failing lookup does not null its parents.
  DefaultFieldNullability: false
  DefaultEdgesNullability: { list: false, items: false }
  DefaultNodeNullability: false
}

export const builder = new SchemaBuilder<EdosSchemaTypes>({
  // Federation after directives, as its README requires.
  plugins: [RelayPlugin, DirectivePlugin, FederationPlugin],
  defaultFieldNullability: false,
  relay: {
    // Cursors are the peer's opaque strings; ids stay the Relay `ID`.
    cursorType: 'String',
    edgesFieldOptions: { nullable: { list: false, items: false } },
    nodeFieldOptions: { nullable: false },
    nodeQueryOptions: { description: 'Any Package, Utility, Release, Channel or Download by its global id.' },
    nodesQueryOptions: { description: 'Several nodes by their global ids (null for ids that name nothing).' }
  }
})

/** GraphQL multipart spec upload (graphql-yoga's convention: the scalar is named File). */
builder.scalarType('File', {
  description: 'A file uploaded with a GraphQL multipart request (graphql-multipart-request-spec). Input only.',
  serialize: () => { throw new GraphQLError('File is an input-only scalar') },
  parseValue: (value) => {
    if (typeof value === 'object' && value !== null && typeof (value as UploadedFile).arrayBuffer === 'function' && typeof (value as UploadedFile).name === 'string') {
      return value as UploadedFile
    }
    throw new GraphQLError('File expects an uploaded file (send the request as multipart/form-data)', { extensions: { code: 'BAD_USER_INPUT' } })
  },
  parseLiteral: (ast) => {
    throw new GraphQLError(`File cannot be written inline (got ${ast.kind === Kind.STRING ? 'a string' : ast.kind}); upload it with a multipart request`, { extensions: { code: 'BAD_USER_INPUT' } })
  }
})

export const MAX_PAGE = 500
export const DEFAULT_PAGE = 20

/** Bounds `first` so a single request cannot ask the peer for an unbounded page. */
export function pageSize (first: number | null | undefined): number {
  const n = first ?? DEFAULT_PAGE
  if (!Number.isInteger(n) || n < 1 || n > MAX_PAGE) {
    throw new GraphQLError(`first must be between 1 and ${MAX_PAGE} (got ${n})`, { extensions: { code: 'BAD_USER_INPUT', argument: 'first' } })
  }
  return n
}

/** The peer's Page, as a Relay connection: its cursors pass through untouched. */
export function toConnection<T> (page: Page<T>): ConnectionShape<T> {
  return {
    edges: page.items.map((item) => ({ cursor: item.cursor, node: item.node })),
    pageInfo: { startCursor: page.startCursor, endCursor: page.endCursor, hasNextPage: page.hasNextPage, hasPreviousPage: page.hasPreviousPage },
    totalCount: page.total
  }
}

export const TOKEN_HINT = "send Authorization: Bearer <token from DATA/api-token>"

/** Operator-only operations: a clear UNAUTHENTICATED error that says how to authenticate. */
export function requireAuth (ctx: EdosContext, what: string): void {
  if (!ctx.authenticated) {
    throw new GraphQLError(`${what} needs the peer's API token: ${TOKEN_HINT}`, { extensions: { code: 'UNAUTHENTICATED' } })
  }
}

export function badInput (message: string, extra: Record<string, unknown> = {}): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'BAD_USER_INPUT', ...extra } })
}

export function notFound (message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: 'NOT_FOUND' } })
}
