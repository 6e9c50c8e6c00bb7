/**
 * Content fields: a unit's torrent (so any BitTorrent client can join its
 * swarm), its replicas and download statistics (the paper's changing
 * properties: computed live, never stored in the document), and the same
 * statistics summed per release. Peers without a content store answer null.
 */
import { builder } from '../builder.ts'
import type { ContentStatsRecord, TorrentRecord } from '../../actors/types.ts'
import { PackageType, UtilityType } from './package.ts'
import { ReleaseType } from './release.ts'

export const TorrentType = builder.objectRef<TorrentRecord>('Torrent').implement({
  description: 'The deterministic torrent of a unit this peer holds: the same bytes give the same infohash on every peer.',
  fields: (t) => ({
    infoHash: t.exposeString('infoHash', { description: 'BitTorrent v1 infohash (40 hex digits).' }),
    magnetURI: t.exposeString('magnetURI', { description: 'Magnet link with this peer\'s tracker (tr) and web seed (ws), when it has them.' }),
    url: t.exposeString('url', { nullable: true, description: 'The .torrent file over this peer\'s HTTP (trackers and web seed included).' })
  })
})

export const ContentStatsType = builder.objectRef<ContentStatsRecord>('ContentStatistics').implement({
  description: 'Download statistics on this peer.',
  fields: (t) => ({
    downloads: t.exposeInt('downloads', { description: 'Completed downloads by this peer.' }),
    bytesDownloaded: t.exposeFloat('bytesDownloaded', { description: 'Bytes this peer received (BitTorrent and web seeds).' }),
    bytesUploaded: t.exposeFloat('bytesUploaded', { description: 'Bytes this peer served to others (BitTorrent and web seed).' }),
    held: t.exposeInt('held', { description: 'Units whose verified content this peer holds.' })
  })
})

const TORRENT_DOC = 'Its torrent, when this peer holds the content (null otherwise: see replicas).'
const REPLICAS_DOC = 'Peers that hold its content (DHT provider records; this peer first when it holds it).'
const STATS_DOC = 'Download statistics of its content on this peer.'

builder.objectFields(PackageType, (t) => ({
  torrent: t.field({ type: TorrentType, nullable: true, description: TORRENT_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.torrent?.(u.id)) ?? null }),
  replicas: t.stringList({ nullable: true, description: REPLICAS_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.replicas?.(u.id)) ?? null }),
  statistics: t.field({ type: ContentStatsType, nullable: true, description: STATS_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.contentStats?.({ unitId: u.id })) ?? null })
}))

builder.objectFields(UtilityType, (t) => ({
  torrent: t.field({ type: TorrentType, nullable: true, description: TORRENT_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.torrent?.(u.id)) ?? null }),
  replicas: t.stringList({ nullable: true, description: REPLICAS_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.replicas?.(u.id)) ?? null }),
  statistics: t.field({ type: ContentStatsType, nullable: true, description: STATS_DOC, resolve: async (u, _args, ctx) => (await ctx.peer.contentStats?.({ unitId: u.id })) ?? null })
}))

builder.objectFields(ReleaseType, (t) => ({
  statistics: t.field({
    type: ContentStatsType,
    nullable: true,
    description: 'Download statistics summed over the release\'s units on this peer.',
    resolve: async (r, _args, ctx) => (await ctx.peer.contentStats?.({ release: r.name })) ?? null
  })
}))
