/**
 * The edos GraphQL schema (Pothos, code-first): an Apollo Federation v2
 * subgraph over a PeerApi. The server (src/server) builds one EdosContext per
 * request and serves buildSchema(); `npm run schema` writes printEdosSchema()
 * to schema/edos.graphql.
 */
import type { GraphQLSchema } from 'graphql'
import { printSubgraphSchema } from '@apollo/subgraph'
import { builder } from './builder.ts'
import { wrapResolvers } from './errors.ts'
import './types/package.ts'
import './types/release.ts'
import './types/match.ts'
import './types/peer.ts'
import './types/connections.ts'
import './types/content.ts'
import './query.ts'
import './mutation.ts'
import './subscription.ts'
import './flash-crowd.ts'

export type { EdosContext, UploadedFile } from './builder.ts'
export { MAX_PAGE, DEFAULT_PAGE, TOKEN_HINT } from './builder.ts'
export { toGraphQLError, INTERNAL_MESSAGE, type EdosErrorCode } from './errors.ts'
export { FIELD_COSTS, fieldCost, queryCost } from './cost.ts'

let built: GraphQLSchema | undefined

/**
 * The subgraph schema (built once; resolvers are stateless, all state is in
 * the context). Federation v2.6 `@link`, `Package @key(fields: "name version
 * arch")`, `_service` and `_entities`; every resolver's errors go through
 * toGraphQLError.
 */
export function buildSchema (): GraphQLSchema {
  built ??= wrapResolvers(builder.toSubGraphSchema({ linkUrl: 'https://specs.apollo.dev/federation/v2.6', federationDirectives: ['@key'] }))
  return built
}

/**
 * The SDL a gateway composes: printSubgraphSchema (keeps @link/@key, which
 * graphql's printSchema drops) of the lexicographically sorted schema
 * (toSubGraphSchema sorts it), so it equals `{ _service { sdl } }` byte for
 * byte and diffs stay stable when code moves around.
 */
export function printEdosSchema (): string {
  return printSubgraphSchema(buildSchema()).trimEnd() + '\n'
}
