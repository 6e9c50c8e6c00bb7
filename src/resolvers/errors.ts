/**
 * One mapping from peer/engine errors to GraphQL errors, used by every
 * resolver (wrapped in once, see wrapResolvers) and exported for the server
 * (graphql-ws and yoga's error masking). Callers see a stable
 * `extensions.code`; nothing else of an unexpected error leaves the peer.
 */
import { GraphQLError, defaultFieldResolver, isObjectType } from './graphql.ts'
import type { GraphQLFieldResolver, GraphQLSchema } from 'graphql'

export type EdosErrorCode = 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'UNAVAILABLE' | 'CONFLICT' | 'INTERNAL_SERVER_ERROR'

/** PeerError codes: already GraphQL codes. */
const PASS_THROUGH = new Set(['UNAUTHENTICATED', 'FORBIDDEN', 'BAD_USER_INPUT', 'NOT_FOUND', 'UNAVAILABLE', 'CONFLICT'])

/** Engine codes that mean "your input is wrong": their messages name the document/position and are safe to show. */
const INPUT_ERRORS = new Set(['ERR_QUERY_PARSE', 'ERR_XML_PARSE', 'ERR_INVALID_DOCUMENT', 'ERR_IMPORT', 'ERR_INVALID_CURSOR', 'ERR_USAGE'])

/** Store states that pass: the caller may retry; their messages carry paths, so they get a fixed one. */
const BUSY_ERRORS = new Set(['ERR_STORE_BUSY', 'ERR_STORE_LOCKED'])

/** The network could not do it now (index peers down, a publish not taken): the message names the peers and says what to do. */
const NETWORK_ERRORS = new Set(['ERR_PUBLISH_INCOMPLETE', 'ERR_PEER_UNAVAILABLE'])

export const INTERNAL_MESSAGE = 'Internal server error'

interface CodedError { message: string, code: string, position?: unknown, expected?: unknown, where?: unknown }

function coded (err: unknown): CodedError | undefined {
  if (!(err instanceof Error)) return undefined
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? err as unknown as CodedError : undefined
}

/**
 * Maps anything a resolver may throw to a GraphQLError with
 * `extensions.code`. GraphQLErrors that already carry a code pass as they are.
 * Unknown errors become INTERNAL_SERVER_ERROR with a generic message; the
 * original stays on `originalError` (never serialised) so the server can log it.
 */
export function toGraphQLError (err: unknown): GraphQLError {
  if (err instanceof GraphQLError) {
    if (typeof err.extensions.code === 'string') return err
    // A GraphQLError without code wraps something (locatedError): map what it wraps.
    if (err.originalError != null && !(err.originalError instanceof GraphQLError)) {
      const inner = toGraphQLError(err.originalError)
      return new GraphQLError(inner.message, { nodes: err.nodes, source: err.source, positions: err.positions, path: err.path, extensions: inner.extensions, originalError: inner.originalError ?? undefined })
    }
    // graphql-js's own errors (coercion, validation) are about the request: safe to show.
    return new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, path: err.path, extensions: { ...err.extensions, code: 'BAD_USER_INPUT' } })
  }
  const c = coded(err)
  if (c !== undefined) {
    if (c.code === 'ERR_QUERY_PARSE') {
      return new GraphQLError(c.message, { extensions: { code: 'BAD_USER_INPUT', reason: c.code, position: c.position, expected: c.expected } })
    }
    if (c.code === 'ERR_XML_PARSE') {
      return new GraphQLError(c.message, { extensions: { code: 'BAD_USER_INPUT', reason: c.code, ...(c.position != null ? { location: c.position } : {}), ...(c.where != null ? { where: c.where } : {}) } })
    }
    if (INPUT_ERRORS.has(c.code)) return new GraphQLError(c.message, { extensions: { code: 'BAD_USER_INPUT', reason: c.code } })
    if (PASS_THROUGH.has(c.code)) return new GraphQLError(c.message, { extensions: { code: c.code } })
    if (c.code === 'ERR_NOT_FOUND') return new GraphQLError(c.message, { extensions: { code: 'NOT_FOUND', reason: c.code } })
    if (NETWORK_ERRORS.has(c.code)) return new GraphQLError(c.message, { extensions: { code: 'UNAVAILABLE', reason: c.code } })
    if (BUSY_ERRORS.has(c.code)) return new GraphQLError('The peer\'s store is busy; try again', { extensions: { code: 'UNAVAILABLE', reason: c.code } })
  }
  return new GraphQLError(INTERNAL_MESSAGE, { extensions: { code: 'INTERNAL_SERVER_ERROR' }, originalError: err instanceof Error ? err : new Error(String(err)) })
}

function isPromiseLike (value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function mapErrors<S, C> (resolve: GraphQLFieldResolver<S, C>): GraphQLFieldResolver<S, C> {
  return (source, args, context, info) => {
    try {
      const out = resolve(source, args, context, info)
      // Stay synchronous when the resolver is: wrapping every field in a promise would cost on big lists.
      return isPromiseLike(out) ? Promise.resolve(out).catch((err: unknown) => { throw toGraphQLError(err) }) : out
    } catch (err) {
      throw toGraphQLError(err)
    }
  }
}

/** An iterator whose errors are mapped too (a subscription's event stream can fail after it started). */
function mapIteratorErrors<T> (iterable: AsyncIterable<T>): AsyncIterableIterator<T> {
  const it = iterable[Symbol.asyncIterator]()
  const wrap = async (step: () => Promise<IteratorResult<T>>): Promise<IteratorResult<T>> => {
    try { return await step() } catch (err) { throw toGraphQLError(err) }
  }
  return {
    next: async () => await wrap(async () => await it.next()),
    return: async () => await wrap(async () => await (it.return?.() ?? Promise.resolve({ done: true as const, value: undefined }))),
    throw: async (e?: unknown) => await wrap(async () => { if (it.throw != null) return await it.throw(e); throw e }),
    [Symbol.asyncIterator] () { return this }
  }
}

function isAsyncIterable (value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
}

/**
 * Wraps every field resolver (and subscribe) of the built schema so that all
 * errors, including those of plugin-made fields (node, _entities), go
 * through toGraphQLError. Mutates the schema's field configs in place: it
 * runs once, on a schema nobody else holds yet.
 */
export function wrapResolvers (schema: GraphQLSchema): GraphQLSchema {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type.name.startsWith('__')) continue
    for (const field of Object.values(type.getFields())) {
      if (field.resolve != null && field.resolve !== defaultFieldResolver) field.resolve = mapErrors(field.resolve)
      const subscribe = field.subscribe
      if (subscribe != null) {
        field.subscribe = async (source, args, context, info) => {
          const out: unknown = await mapErrors(subscribe)(source, args, context, info)
          return isAsyncIterable(out) ? mapIteratorErrors(out) : out
        }
      }
    }
  }
  return schema
}
