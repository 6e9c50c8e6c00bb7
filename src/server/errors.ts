/**
 * Which thrown errors the client may see. Coded edos errors are meant for
 * the caller (a bad pattern, a missing token) and are mapped by the
 * resolvers' toGraphQLError; anything else is a bug or an environment
 * failure and yoga masks it.
 */
import type { GraphQLError } from 'graphql'
import { toGraphQLError as resolversToGraphQLError } from '../resolvers/index.ts'

/**
 * `instanceof GraphQLError` is not reliable here: graphql 16 ships CJS
 * (index.js) and ESM (index.mjs) copies with no "exports" map, so vite
 * (under vitest) may load a source file's `graphql` from index.mjs while
 * yoga, graphql-ws and Pothos, loaded by Node, get index.js: two
 * GraphQLError classes. Recognise GraphQL errors by shape, and create ours
 * with yoga's createGraphQLError so yoga and graphql-ws recognise them.
 */
export function isGraphQLError (err: unknown): err is GraphQLError {
  return err instanceof Error && err.name === 'GraphQLError' && 'extensions' in err && 'path' in err
}

/** A string `code` (EdosError, PeerError, QueryParseError, ...) is the contract for "meant for the caller". */
function isCoded (err: unknown): boolean {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'string'
}

/**
 * The client-facing error for the innermost cause of a failure, or
 * undefined when it must be masked. GraphQL errors with no cause of their
 * own were written for the client (the resolvers' mapped errors, graphql's
 * coercion errors); a coded error maps through the resolvers' toGraphQLError
 * unless that makes it internal.
 */
export function toGraphQLError (err: unknown): GraphQLError | undefined {
  if (isGraphQLError(err)) return err.originalError == null ? err : undefined
  if (!isCoded(err)) return undefined
  const mapped = resolversToGraphQLError(err)
  return mapped.extensions.code === 'INTERNAL_SERVER_ERROR' ? undefined : mapped
}
