/**
 * Channels and notifications, downloads and wish lists, the peer network and
 * statistics, publishing summaries and progress.
 */
import { builder } from '../builder.ts'
import type { ChannelRecord, DownloadRecord, NetworkRecord, NotificationRecord, PeerInfo, PublishProgress, PublishSummary, WishListRecord } from '../../actors/types.ts'
import { UnitInterface } from './release.ts'

export type StatsRecord = Awaited<ReturnType<import('../../actors/types.ts').PeerApi['stats']>>
export type PublishProgressEvent = PublishProgress & { release: string }

export const ChannelType = builder.objectRef<ChannelRecord>('Channel')
builder.node(ChannelType, {
  description: 'A publish/subscribe channel: numbered, signed notifications, optionally filtered by a pattern.',
  id: { resolve: (c) => c.name },
  loadOne: async (name, ctx) => (await ctx.peer.channel(name)) ?? null,
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'lastSeq' in value,
  fields: (t) => ({
    name: t.exposeString('name'),
    description: t.exposeString('description'),
    filter: t.exposeString('filter', { nullable: true, description: 'Tree pattern: only units matching it are announced.' }),
    createdAt: t.exposeString('createdAt'),
    lastSeq: t.exposeInt('lastSeq', { description: 'Sequence number of the newest notification (0: none yet).' })
  })
})

export const NotificationType = builder.objectRef<NotificationRecord>('Notification').implement({
  description: 'One change of a release, announced on a channel. Resume a subscription with since: seq.',
  fields: (t) => ({
    channel: t.exposeString('channel'),
    seq: t.exposeInt('seq'),
    release: t.exposeString('release'),
    date: t.exposeString('date'),
    added: t.field({ type: [UnitInterface], resolve: (n) => n.added }),
    updated: t.field({ type: [UnitInterface], resolve: (n) => n.updated }),
    removed: t.field({ type: [UnitInterface], resolve: (n) => n.removed }),
    signature: t.exposeString('signature', { description: 'Publisher signature (empty on an embedded peer).' })
  })
})

export const DownloadStateType = builder.enumType('DownloadState', {
  values: ['QUEUED', 'RUNNING', 'COMPLETED', 'FAILED', 'CANCELLED'] as const
})

export const DownloadType = builder.objectRef<DownloadRecord>('Download')
builder.node(DownloadType, {
  description: 'Content this peer fetches, verified against the signed metadata.',
  id: { resolve: (d) => d.id },
  loadOne: async (id, ctx) => (await ctx.peer.downloads()).find((d) => d.id === id) ?? null,
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'bytesDone' in value,
  fields: (t) => ({
    downloadId: t.exposeString('id', { description: 'The peer\'s id of the download (cancelDownload, downloadProgress).' }),
    state: t.field({ type: DownloadStateType, resolve: (d) => d.state }),
    units: t.exposeStringList('units', { description: 'Document ids of the units downloaded.' }),
    bytesTotal: t.exposeFloat('bytesTotal'),
    bytesDone: t.exposeFloat('bytesDone'),
    error: t.exposeString('error', { nullable: true }),
    startedAt: t.exposeString('startedAt')
  })
})

export const WishListType = builder.objectRef<WishListRecord>('WishList').implement({
  description: 'A wish list sent to the publisher: the release composition minus what this peer holds.',
  fields: (t) => ({
    release: t.exposeString('release'),
    units: t.exposeStringList('units'),
    bytes: t.exposeFloat('bytes'),
    submittedAt: t.exposeString('submittedAt'),
    state: t.exposeString('state')
  })
})

export const PeerRoleType = builder.enumType('PeerRole', {
  values: { PUBLISHER: { value: 'publisher' }, MIRROR: { value: 'mirror' }, CLIENT: { value: 'client' } } as const
})

export const PeerType = builder.objectRef<PeerInfo>('Peer').implement({
  fields: (t) => ({
    peerId: t.exposeString('id', { description: 'libp2p peer id.' }),
    role: t.field({ type: PeerRoleType, resolve: (p) => p.role }),
    addresses: t.exposeStringList('addresses', { description: 'multiaddrs' }),
    graphql: t.exposeString('graphql', { nullable: true, description: 'Its GraphQL endpoint, when it serves one.' })
  })
})

export const NetworkType = builder.objectRef<NetworkRecord>('Network').implement({
  fields: (t) => ({
    self: t.field({ type: PeerType, resolve: (n) => n.self }),
    peers: t.field({ type: [PeerType], resolve: (n) => n.peers }),
    indexPeers: t.exposeInt('indexPeers', { description: 'Peers holding index data (publisher + mirrors).' })
  })
})

export const StatsType = builder.objectRef<StatsRecord>('Stats').implement({
  description: 'What this peer\'s store holds.',
  fields: (t) => ({
    documents: t.exposeInt('documents'),
    postings: t.exposeFloat('postings'),
    terms: t.exposeInt('terms'),
    bytes: t.exposeFloat('bytes'),
    releases: t.exposeInt('releases')
  })
})

export const PublishSummaryType = builder.objectRef<PublishSummary>('PublishSummary').implement({
  fields: (t) => ({
    release: t.exposeString('release'),
    units: t.exposeInt('units', { description: 'Units published.' }),
    rejected: t.exposeInt('rejected'),
    replaced: t.exposeInt('replaced', { description: 'Units whose earlier version this publish replaced.' }),
    postings: t.exposeFloat('postings'),
    seconds: t.exposeFloat('seconds'),
    rejections: t.exposeStringList('rejections', { description: 'Why units were rejected (document and position).' })
  })
})

export const PublishProgressType = builder.objectRef<PublishProgressEvent>('PublishProgress').implement({
  fields: (t) => ({
    release: t.exposeString('release'),
    bytesRead: t.exposeFloat('bytesRead'),
    bytesTotal: t.exposeFloat('bytesTotal'),
    units: t.exposeInt('units')
  })
})
