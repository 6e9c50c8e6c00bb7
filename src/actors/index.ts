/** Actors: a role set plus its configuration, what `edos serve` starts. */
export { EmbeddedPeer, type EmbeddedPeerInit } from './embedded.ts'
export { PeerError } from './errors.ts'
export type * from './types.ts'
export { RELATION_KINDS } from './types.ts'
