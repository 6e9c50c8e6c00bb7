/**
 * Content distribution (src/torrents): the content store (files by sha256,
 * verified before kept), deterministic torrents per unit and per set, the
 * WebTorrent client, the peer's tracker and web seed, and the content node
 * that composes them with replica discovery. See ContentNode for the flow.
 */
export { ContentStore, checkSha256, sha256File, unitFileName, type ContentStoreInit, type StoredUnit, type UnitContent, type UnitStats } from './store.ts'
export { buildTorrent, magnetURI, pieceLengthFor, rewrap, type BuildOptions, type TorrentEntry, type TorrentMeta } from './torrent-file.ts'
export { TorrentClient, bittorrentPeerId, type FetchOutcome, type FetchSpec, type TorrentClientInit, type TransferProgress } from './client.ts'
export { ChecksumMismatchError, ContentInputError, ContentUnavailableError, DownloadCancelledError } from './errors.ts'
export { ContentNode, type ContentDiscovery, type ContentNodeInit, type ContentOffer, type FetchResult, type SeedPolicy, type SeedSetOptions, type SetDownloader, type SetTorrent, type SetWants, type UnitTorrent } from './node.ts'
export { handleContentHttp, parseRange, type ContentHttpSource } from './http.ts'
export { SuperSeeder, type SuperSeedInit, type SuperSeedPeer } from './super-seed.ts'
