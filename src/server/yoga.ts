/**
 * The yoga instance: one envelop pipeline (armor limits, error masking,
 * context) shared by HTTP, SSE and graphql-ws, so a limit or a masked error
 * is the same whatever the transport.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { GraphQLError, GraphQLSchema, ValidationContext } from 'graphql'
import { createGraphQLError, createYoga, maskError as yogaMaskError, type YogaServerInstance } from 'graphql-yoga'
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor'
import type { PeerApi } from '../actors/types.ts'
import { INTERNAL_MESSAGE } from '../resolvers/index.ts'
import { makeContext, remoteAddressOf, type CallerInit, type EdosContext } from './context.ts'
import { isGraphQLError, toGraphQLError } from './errors.ts'

/** Query limits (graphql-armor); every one is rejected as a validation error. */
export interface Limits {
  /** Deepest field nesting, fragments flattened (default 12). */
  maxDepth: number
  /** graphql-armor cost: objects 2, scalars 1, times depth factor 1.5 (default 5000). */
  maxCost: number
  /** Aliases per operation: each alias can multiply resolver work (default 15). */
  maxAliases: number
  /** Lexer tokens per document: bounds parse time before anything else runs (default 2000). */
  maxTokens: number
}

export const DEFAULT_LIMITS: Limits = { maxDepth: 12, maxCost: 5000, maxAliases: 15, maxTokens: 2000 }

/** The extensions.code of a document rejected by a limit. */
export const LIMIT_CODE = 'QUERY_TOO_COMPLEX'

/** What node:http gives yoga, plus what our graphql-ws bridge gives it instead. */
export interface ServerContext {
  req?: IncomingMessage
  res?: ServerResponse
  /** Set by the WebSocket bridge: HTTP headers do not carry the WS caller's token. */
  edosCaller?: CallerInit
}

export type EdosYoga = YogaServerInstance<ServerContext, EdosContext>

/**
 * A limit rejection with a stable code. Validation rules get a context and
 * report (graphql collects it, yoga answers 400); the token limit runs in the
 * parser with no context, so it throws (a parse error, also 400).
 */
function reject (ctx: ValidationContext | null, err: GraphQLError): void {
  // createGraphQLError: yoga's own graphql realm (see errors.ts), so yoga
  // recognises the parser's throw as a GraphQL error (400), not a crash (500).
  const error = createGraphQLError(err.message.replace(/^Syntax Error: /, ''), { nodes: err.nodes, extensions: { code: LIMIT_CODE } })
  if (ctx === null) throw error
  ctx.reportError(error)
}

export function armorPlugin (limits: Limits): ReturnType<typeof EnvelopArmorPlugin> {
  const common = { propagateOnRejection: false, onReject: [reject] }
  return EnvelopArmorPlugin({
    maxDepth: { n: limits.maxDepth, ignoreIntrospection: true, flattenFragments: true, ...common },
    costLimit: { maxCost: limits.maxCost, ignoreIntrospection: true, ...common },
    maxAliases: { n: limits.maxAliases, ...common },
    maxTokens: { n: limits.maxTokens, ...common },
    maxDirectives: { n: 50, ...common },
    // "Did you mean ...?" lets a hostile client map a schema with introspection off.
    blockFieldSuggestion: { enabled: true }
  })
}

/**
 * Errors a resolver throws reach the client only when they are meant for it:
 * GraphQLErrors and coded edos errors (PeerError, QueryParseError, ...) keep
 * their message and extensions.code; anything else becomes
 * INTERNAL_MESSAGE ("Internal server error") with no stack (isDev forced off: NODE_ENV=development
 * would otherwise attach the original error).
 */
function maskError (error: unknown, message: string): Error {
  if (isGraphQLError(error)) {
    // A GraphQL error of its own (validation, yoga's request errors with their
    // HTTP status): unchanged. Returning the same object also keeps yoga from
    // logging it as a masked crash.
    if (error.originalError == null) return error
    // Walk to the innermost cause: graphql wraps a resolver's throw once, and
    // a resolver may itself have wrapped a PeerError.
    let cause: unknown = error
    while (isGraphQLError(cause) && cause.originalError != null) cause = cause.originalError
    if (isGraphQLError(cause)) {
      // Written for the client (the resolvers' mapped errors, graphql's input
      // coercion): keep the outer error, whose message may add context
      // ("Variable $input got invalid value ..."), with the inner code.
      const code = cause.extensions?.code
      if (code !== undefined && error.extensions.code === undefined) Object.assign(error.extensions as Record<string, unknown>, cause.extensions)
      return error
    }
    const mapped = toGraphQLError(cause)
    if (mapped !== undefined && cause === error.originalError && mapped.message === error.message) {
      // A coded error thrown by a resolver: add its code in place (the same
      // object tells yoga nothing was masked, so it logs nothing).
      Object.assign(error.extensions as Record<string, unknown>, mapped.extensions)
      return error
    }
    if (mapped !== undefined) {
      return createGraphQLError(mapped.message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, extensions: { ...mapped.extensions } })
    }
  }
  return yogaMaskError(error, message, false)
}

/**
 * Aborts when the HTTP response closes (sent, or the client went away). An
 * SSE subscription's peer stream (peer.follow) waits on the peer, so return()
 * from yoga alone would not reach it: the signal ends it.
 */
function closeSignal (res: ServerResponse | undefined): AbortSignal | undefined {
  if (res === undefined) return undefined
  const controller = new AbortController()
  res.once('close', () => { controller.abort() })
  return controller.signal
}

export interface EdosYogaInit {
  peer: PeerApi
  schema: GraphQLSchema
  limits: Limits
  /** Where GraphiQL sends operations (default '/graphql'). */
  endpoint?: string
}

export function createEdosYoga (init: EdosYogaInit): EdosYoga {
  const endpoint = init.endpoint ?? '/graphql'
  return createYoga<ServerContext, EdosContext>({
    schema: init.schema,
    graphqlEndpoint: endpoint,
    // Same origin only: no CORS headers at all, so browsers on other origins
    // cannot read answers. Publisher calls need a bearer token (no cookies),
    // which keeps cross-site form posts (multipart) harmless too.
    cors: false,
    multipart: true,
    maskedErrors: { maskError, errorMessage: INTERNAL_MESSAGE, isDev: false },
    // The node:http front (index.ts) answers /, /healthz; everything else 404s plainly.
    landingPage: false,
    logging: process.env.EDOS_LOG_GRAPHQL === '1' ? 'debug' : 'error',
    // renderGraphiQL inlines GraphiQL's JS/CSS/workers: it works with no internet. Loaded when the page is first asked
    // for: its module is a few MB of source, ~0.6 s of every peer's start.
    graphiql: { title: 'edos GraphiQL', defaultQuery: '{\n  stats { documents }\n}\n' },
    renderGraphiQL: async (options) => (await import('@graphql-yoga/render-graphiql')).renderGraphiQL(options),
    plugins: [armorPlugin(init.limits)],
    context: (initial): EdosContext => {
      if (initial.edosCaller !== undefined) return makeContext(init.peer, initial.edosCaller)
      return makeContext(init.peer, {
        authorization: initial.request.headers.get('authorization'),
        remoteAddress: remoteAddressOf(initial.req),
        signal: closeSignal(initial.res)
      })
    }
  })
}
