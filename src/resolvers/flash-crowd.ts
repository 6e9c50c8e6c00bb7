/**
 * Flash crowds in GraphQL: the publisher opens (and may close early) a
 * collection window, any peer reads or follows its side of a release's
 * flash crowd (wish lists, clusters with sizes and waste, per-cluster
 * progress), and the `releases` channel's notifications carry the
 * announcements.
 */
import { builder, notFound, requireAuth } from './builder.ts'
import { abortable } from './abortable.ts'
import type { FlashCrowdAnnouncement, FlashCrowdStatus } from '../actors/types.ts'
import { NotificationType } from './types/peer.ts'

type ClusterStatus = FlashCrowdStatus['clusters'][number]
type RequesterStatus = FlashCrowdStatus['requesters'][number]
type AnnouncedCluster = NonNullable<FlashCrowdAnnouncement['clusters']>[number]
type WishSummary = NonNullable<FlashCrowdStatus['wishList']>

const FlashCrowdStateType = builder.enumType('FlashCrowdState', {
  values: {
    COLLECTING: { value: 'collecting', description: 'Publisher: the window is open. Peer: its wish list is sent, the clusters are not announced yet.' },
    CLUSTERING: { value: 'clustering' },
    SEEDING: { value: 'seeding', description: 'Publisher: building and seeding the cluster torrents.' },
    ANNOUNCED: { value: 'announced', description: 'Publisher: the clusters are announced and seeded.' },
    DOWNLOADING: { value: 'downloading' },
    COMPLETED: { value: 'completed' },
    FAILED: { value: 'failed' }
  } as const
})

const FlashCrowdSideType = builder.enumType('FlashCrowdSide', {
  values: { PUBLISHER: { value: 'publisher' }, PEER: { value: 'peer' } } as const
})

const ClusterStateType = builder.enumType('FlashCrowdClusterState', {
  values: { WAITING: { value: 'waiting' }, DOWNLOADING: { value: 'downloading' }, DONE: { value: 'done' }, FAILED: { value: 'failed' } } as const
})

const FlashCrowdClusterType = builder.objectRef<ClusterStatus>('FlashCrowdCluster').implement({
  description: 'One cluster torrent: units wanted by (nearly) the same peers.',
  fields: (t) => ({
    id: t.exposeString('id'),
    infoHash: t.exposeString('infoHash', { nullable: true }),
    units: t.exposeInt('units'),
    bytes: t.exposeFloat('bytes'),
    pieceLength: t.exposeInt('pieceLength'),
    requesters: t.exposeInt('requesters', { description: 'Peers whose wish list it covers in part (publisher).' }),
    waste: t.exposeFloat('waste', { description: 'Bytes its requesters receive without wanting them, with per-file selection (the clustering\'s exact figure).' }),
    uploaded: t.exposeFloat('uploaded', { nullable: true, description: 'Publisher: bytes uploaded on this torrent.' }),
    selected: t.exposeInt('selected', { nullable: true, description: 'Peer: units of it this peer selected.' }),
    bytesDone: t.exposeFloat('bytesDone', { nullable: true }),
    bytesTotal: t.exposeFloat('bytesTotal', { nullable: true }),
    peers: t.exposeInt('peers', { nullable: true }),
    rate: t.exposeFloat('rate', { nullable: true, description: 'Bytes per second.' }),
    state: t.field({ type: ClusterStateType, nullable: true, resolve: (c) => c.state ?? null }),
    wasteMeasured: t.exposeFloat('wasteMeasured', { nullable: true, description: 'Peer: bytes of verified pieces beyond its selected files, measured.' })
  })
})

const FlashCrowdRequesterType = builder.objectRef<RequesterStatus>('FlashCrowdRequester').implement({
  fields: (t) => ({
    peer: t.exposeString('peer'),
    units: t.exposeInt('units'),
    bytes: t.exposeFloat('bytes'),
    late: t.exposeBoolean('late', { description: 'Sent after the window closed: joins the existing clusters.' }),
    bytesDone: t.exposeFloat('bytesDone', { nullable: true, description: 'Publisher: bytes of this peer\'s wish list it holds in the cluster torrents, as its BitTorrent HAVE messages tell the publisher (pieces straddling a boundary count in part). Null until it joins a torrent.' })
  })
})

const FlashCrowdWishType = builder.objectRef<WishSummary>('FlashCrowdWishList').implement({
  fields: (t) => ({
    units: t.exposeInt('units'),
    bytes: t.exposeFloat('bytes'),
    held: t.exposeInt('held', { description: 'Units of the release left out: this peer holds them, identical.' }),
    heldBytes: t.exposeFloat('heldBytes')
  })
})

export const FlashCrowdType = builder.objectRef<FlashCrowdStatus>('FlashCrowd').implement({
  description: 'A release\'s flash crowd as this peer sees it: the publisher\'s collection and clusters, or a peer\'s wish list and downloads.',
  fields: (t) => ({
    release: t.exposeString('release'),
    side: t.field({ type: FlashCrowdSideType, resolve: (s) => s.side }),
    state: t.field({ type: FlashCrowdStateType, resolve: (s) => s.state }),
    startedAt: t.exposeString('startedAt'),
    updatedAt: t.exposeString('updatedAt'),
    closesAt: t.exposeString('closesAt', { nullable: true }),
    wishLists: t.exposeInt('wishLists'),
    expectedPeers: t.exposeInt('expectedPeers', { nullable: true }),
    requesters: t.field({ type: [FlashCrowdRequesterType], resolve: (s) => s.requesters }),
    clusters: t.field({ type: [FlashCrowdClusterType], resolve: (s) => s.clusters }),
    maxTorrents: t.exposeInt('maxTorrents', { nullable: true, description: 'K: the most torrents the clustering may produce.' }),
    exactClusters: t.exposeInt('exactClusters', { nullable: true, description: 'Distinct requester sets: the torrents an unbounded clustering would seed.' }),
    wantedBytes: t.exposeFloat('wantedBytes', { nullable: true }),
    wasteBytes: t.exposeFloat('wasteBytes', { nullable: true }),
    wastePercent: t.exposeFloat('wastePercent', { nullable: true }),
    wasteWithoutSelection: t.exposeFloat('wasteWithoutSelection', { nullable: true, description: 'The waste if every requester downloaded its clusters whole.' }),
    clusteringMs: t.exposeInt('clusteringMs', { nullable: true }),
    uploaded: t.exposeFloat('uploaded', { nullable: true, description: 'Publisher: bytes uploaded over every cluster torrent.' }),
    uncovered: t.exposeInt('uncovered', { description: 'Wanted units no cluster covers (fetched one by one).' }),
    wishList: t.field({ type: FlashCrowdWishType, nullable: true, resolve: (s) => s.wishList ?? null }),
    bytesDone: t.exposeFloat('bytesDone'),
    bytesTotal: t.exposeFloat('bytesTotal'),
    received: t.exposeFloat('received'),
    wasteMeasured: t.exposeFloat('wasteMeasured'),
    peers: t.exposeInt('peers'),
    rate: t.exposeFloat('rate'),
    error: t.exposeString('error', { nullable: true })
  })
})

const AnnouncedClusterType = builder.objectRef<AnnouncedCluster>('FlashCrowdAnnouncedCluster').implement({
  fields: (t) => ({
    id: t.exposeString('id'),
    infoHash: t.exposeString('infoHash'),
    units: t.exposeStringList('units', { description: 'Unit ids in torrent file order.' }),
    bytes: t.exposeFloat('bytes'),
    pieceLength: t.exposeInt('pieceLength')
  })
})

const FlashCrowdAnnouncementType = builder.objectRef<FlashCrowdAnnouncement>('FlashCrowdAnnouncement').implement({
  description: 'On the `releases` channel: a flash crowd\'s window opening (send wish lists), or its cluster torrents.',
  fields: (t) => ({
    phase: t.exposeString('phase', { description: '`open` or `clusters`.' }),
    release: t.exposeString('release'),
    closesAt: t.exposeString('closesAt', { nullable: true }),
    clusters: t.field({ type: [AnnouncedClusterType], nullable: true, resolve: (a) => a.clusters ?? null })
  })
})

builder.objectField(NotificationType, 'flashCrowd', (t) => t.field({ type: FlashCrowdAnnouncementType, nullable: true, resolve: (n) => n.flashCrowd ?? null }))

const FlashCrowdPayload = builder.objectRef<{ flashCrowd: FlashCrowdStatus }>('FlashCrowdPayload').implement({
  fields: (t) => ({ flashCrowd: t.field({ type: FlashCrowdType, resolve: (p) => p.flashCrowd }) })
})

builder.queryFields((t) => ({
  flashCrowd: t.field({
    type: FlashCrowdType,
    nullable: true,
    description: 'This peer\'s side of a release\'s flash crowd (null when it takes no part).',
    args: { release: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => (await ctx.peer.flashCrowd?.(args.release)) ?? null
  }),
  flashCrowds: t.field({
    type: [FlashCrowdType],
    description: 'Every flash crowd this peer runs or takes part in.',
    resolve: async (_root, _args, ctx) => (await ctx.peer.flashCrowds?.()) ?? []
  })
}))

builder.mutationFields((t) => ({
  startFlashCrowd: t.field({
    type: FlashCrowdPayload,
    nullable: true,
    description: 'Opens a flash crowd for a release: announced on `releases`, wish lists collected for the window (or until `expectedPeers` answered), clustered into at most `maxTorrents` torrents, seeded and announced. Publisher only.',
    args: {
      release: t.arg.string({ required: true }),
      windowSeconds: t.arg.float({ required: false, defaultValue: 30 }),
      maxTorrents: t.arg.int({ required: false, defaultValue: 16, description: 'K: the most cluster torrents.' }),
      wasteBudget: t.arg.float({ required: false, defaultValue: 0, description: 'Merge further below K while the waste stays within this fraction of the wanted bytes.' }),
      expectedPeers: t.arg.int({ required: false, description: 'Close the window once this many peers have sent wish lists.' })
    },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'startFlashCrowd')
      if (ctx.peer.startFlashCrowd === undefined) throw notFound('this peer runs no flash crowds')
      return {
        flashCrowd: await ctx.peer.startFlashCrowd({
          release: args.release,
          ...(args.windowSeconds != null ? { windowSeconds: args.windowSeconds } : {}),
          ...(args.maxTorrents != null ? { maxTorrents: args.maxTorrents } : {}),
          ...(args.wasteBudget != null ? { wasteBudget: args.wasteBudget } : {}),
          ...(args.expectedPeers != null ? { expectedPeers: args.expectedPeers } : {})
        })
      }
    }
  }),
  closeFlashCrowd: t.field({
    type: FlashCrowdPayload,
    nullable: true,
    description: 'Closes a running collection window now (clustering starts). Publisher only.',
    args: { release: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'closeFlashCrowd')
      if (ctx.peer.closeFlashCrowd === undefined) throw notFound('this peer runs no flash crowds')
      return { flashCrowd: await ctx.peer.closeFlashCrowd(args.release) }
    }
  })
}))

builder.subscriptionFields((t) => ({
  flashCrowd: t.field({
    type: FlashCrowdType,
    description: 'A release\'s flash crowd on this peer: its status now (when it takes part), then every change: wish lists arriving, clusters, per-cluster progress.',
    args: { release: t.arg.string({ required: true }) },
    subscribe: (_root, args, ctx) => {
      const follow = ctx.peer.followFlashCrowd
      if (follow === undefined) throw notFound('this peer runs no flash crowds')
      return abortable<FlashCrowdStatus>(ctx.signal, (signal) => follow.call(ctx.peer, args.release, signal))
    },
    resolve: (s) => s
  })
}))
