/**
 * Flash crowds (the paper's IDiP scenario): wish lists, their collection
 * window, clustering into at most K shared torrents, the publisher's
 * coordinator and a peer's participation. Built on the content node
 * (src/torrents) and the libp2p RPC of src/dht; the roles layer wires it
 * to the release channel and to GraphQL.
 */
export { clusterWishLists, defaultPieceLength, runWaste, ClusterSettingsError, UnknownUnitError, MAX_PIECES, type Cluster, type ClusterInit, type ClusterUnit, type ClusteringResult, type WishList } from './cluster.ts'
export { WishListCollector, WishListRefusedError, assignClusters, type ClusterAssignment, type CollectorInit, type SubmitResult } from './collector.ts'
export { computeWishList, type HeldUnit, type ReleaseUnitInfo, type WishListComputation } from './wish-list.ts'
export { serveWishLists, sendWishList, WISHLIST_PROTOCOL, MAX_WISH_UNITS, type WishListServerInit, type WishListSink } from './protocol.ts'
export { FlashCrowdCoordinator, clusterTorrentName, type CoordinatedUnit, type CoordinatorInit, type FlashCrowdSettings } from './coordinator.ts'
export { FlashCrowdParticipant, type ParticipantInit } from './participant.ts'
export { FlashCrowdError, type AnnouncedCluster, type ClusterStatus, type FlashCrowdAnnouncement, type FlashCrowdSide, type FlashCrowdState, type FlashCrowdStatus, type RequesterStatus } from './types.ts'
