/**
 * The contract between the GraphQL layer and the peer. The records live
 * with the roles that produce them (src/roles/types.ts); the actor layer
 * re-exports them so resolvers and the server depend on actors only.
 */
export * from '../roles/types.ts'
