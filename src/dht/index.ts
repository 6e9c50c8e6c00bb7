/**
 * The distributed index (KadoP on libp2p): what the actors use. A peer
 * starts a libp2p host (createPeerHost), then its part of the index
 * (IndexNode.start); the query engine over the network is `node.engine`.
 * See types.ts for the layout and the contracts between the pieces.
 */
export { createPeerHost, KAD_PROTOCOL, type PeerHost, type PeerHostInit, type PeerRoleName, type AddressScope } from './host.ts'
export { IndexNode, ADMIT_PROTOCOL, type IndexNodeInit, type IndexNetworkInfo } from './index-node.ts'
export type { MemberRecord, RepairState, HeldSummary } from './membership.ts'
export type { DisseminationProgress, DisseminationSummary } from './dissemination.ts'
export { PublishIncompleteError } from './dissemination.ts'
export type { ReadTrace } from './remote-source.ts'
export { readPublisherKey, writePublisherKey, loadOrCreatePrivateKey } from './trust.ts'
export { contentCid, provideContent, findContentHolders } from './providers.ts'
export { POSTINGS_PROTOCOL, DOCS_PROTOCOL } from './protocols.ts'
export * from './errors.ts'
export * from './types.ts'
