/**
 * Channels and notifications, downloads and wish lists, the peer network and
 * statistics, publishing summaries and progress.
 */
import { builder } from '../builder.ts'
import type { ChannelRecord, ChannelTransportRecord, DownloadRecord, IndexPeerRecord, IndexStateRecord, MirrorAdmission, NetworkRecord, NotificationRecord, PeerInfo, PublishProgress, PublishSummary, PublishTimes, RepairRecord, WishListRecord } from '../../actors/types.ts'
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
    lastSeq: t.exposeInt('lastSeq', { description: 'Sequence number of the newest notification (0: none yet).' }),
    signature: t.exposeString('signature', { nullable: true, description: 'Publisher signature over name, description, filter and createdAt (null on an embedded peer).' })
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
    part: t.exposeInt('part', { nullable: true, description: 'A publish that changes more units than one notification carries (1,000) is announced in parts with consecutive seqs: this one is part `part` of `parts` (null on a whole one).' }),
    parts: t.exposeInt('parts', { nullable: true, description: 'How many notifications this publish was announced in (null on a whole one).' }),
    signature: t.exposeString('signature', { description: 'base64url Ed25519 signature by the publisher key over the notification\'s other fields (empty on an embedded peer).' }),
    download: t.field({ type: DownloadType, nullable: true, description: 'With autoDownload: the download this notification started.', resolve: (n) => n.download ?? null }),
    downloadError: t.exposeString('downloadError', { nullable: true, description: 'With autoDownload: why no download could start.' })
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
    startedAt: t.exposeString('startedAt'),
    unitsDone: t.int({ description: 'Units verified and stored so far.', resolve: (d) => d.unitsDone ?? 0 }),
    bytesReceived: t.float({ description: 'Bytes received over the network by this run (held or resumed content adds less than its size).', resolve: (d) => d.bytesReceived ?? 0 }),
    peers: t.int({ description: 'Peers and web seeds the running transfers are connected to.', resolve: (d) => d.peers ?? 0 }),
    rate: t.float({ description: 'Receive rate, bytes per second.', resolve: (d) => d.rate ?? 0 }),
    etaSeconds: t.float({ nullable: true, description: 'Seconds left at the current rate (null when nothing is moving).', resolve: (d) => d.etaSeconds ?? null }),
    completedAt: t.string({ nullable: true, resolve: (d) => d.completedAt ?? null })
  })
})

export const WishListType = builder.objectRef<WishListRecord>('WishList').implement({
  description: 'A wish list: the release composition (narrowed to a pattern) minus what this peer holds identically.',
  fields: (t) => ({
    release: t.exposeString('release'),
    units: t.exposeStringList('units'),
    bytes: t.exposeFloat('bytes'),
    held: t.exposeInt('held', { description: 'Units of the release (within the pattern) left out: this peer holds them, identical (name, version, arch, sha256).' }),
    heldBytes: t.exposeFloat('heldBytes'),
    pattern: t.exposeString('pattern', { nullable: true, description: 'The pattern that narrowed the release, if any.' }),
    submittedAt: t.exposeString('submittedAt'),
    state: t.exposeString('state', { description: 'RECORDED (kept here), SENT (in the window), LATE (after it: existing clusters joined), DOWNLOADING, COMPLETED, FAILED.' })
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

const RepairStateType = builder.objectRef<RepairRecord>('RepairState').implement({
  description: 'Churn repair: after index peers join or leave, keys are sent to their new closest peers.',
  fields: (t) => ({
    running: t.exposeBoolean('running'),
    checked: t.exposeInt('checked', { description: 'Keys checked in the last (or current) pass.' }),
    sent: t.exposeInt('sent', { description: 'Keys sent to new holders in that pass.' }),
    lastRun: t.exposeString('lastRun', { nullable: true }),
    error: t.exposeString('error', { nullable: true })
  })
})

const HeldType = builder.objectRef<{ heads: number, blocks: number, docs: number, postings: number, bytes?: number }>('HeldIndexData').implement({
  description: 'What an index peer holds of the distributed index.',
  fields: (t) => ({
    heads: t.exposeInt('heads', { description: 'Term heads (one per term placed here).' }),
    blocks: t.exposeInt('blocks', { description: 'Posting blocks (term, docId range).' }),
    postings: t.exposeFloat('postings'),
    docs: t.exposeInt('docs'),
    bytes: t.field({ type: 'Float', nullable: true, resolve: (h) => h.bytes ?? null })
  })
})

const IndexPeerType = builder.objectRef<IndexPeerRecord>('IndexPeer').implement({
  description: 'A peer holding index data: the publisher or a certified mirror.',
  fields: (t) => ({
    peerId: t.exposeString('id'),
    role: t.field({ type: PeerRoleType, resolve: (p) => p.role }),
    addresses: t.exposeStringList('addresses'),
    certificateExpires: t.exposeString('certificateExpires', { nullable: true }),
    held: t.field({ type: HeldType, nullable: true, resolve: (p) => p.held ?? null }),
    repair: t.field({ type: RepairStateType, nullable: true, resolve: (p) => p.repair ?? null }),
    lastSeen: t.exposeString('lastSeen')
  })
})

const IndexStateType = builder.objectRef<IndexStateRecord>('IndexState').implement({
  description: 'This peer\'s part in the distributed index.',
  fields: (t) => ({
    indexPeer: t.exposeBoolean('indexPeer', { description: 'Holds index data (the publisher, an admitted mirror).' }),
    admittedUntil: t.exposeString('admittedUntil', { nullable: true, description: 'Expiry of this mirror\'s certificate.' }),
    members: t.field({ type: [IndexPeerType], resolve: (s) => s.members }),
    replicas: t.exposeInt('replicas', { description: 'Copies of each key (r).' }),
    catalogSeq: t.exposeInt('catalogSeq', { description: 'Publishes visible to this peer.' }),
    documents: t.exposeInt('documents'),
    postings: t.exposeFloat('postings'),
    held: t.field({ type: HeldType, nullable: true, resolve: (s) => s.held ?? null }),
    repair: t.field({ type: RepairStateType, nullable: true, resolve: (s) => s.repair ?? null }),
    refused: t.exposeInt('refused', { description: 'Writes and announcements refused (forged, replayed, unauthorised).' })
  })
})

const ChannelTransportType = builder.objectRef<ChannelTransportRecord>('ChannelTransport').implement({
  description: 'This peer\'s channel transport: signed notifications on gossipsub, logged here in order.',
  fields: (t) => ({
    refused: t.exposeInt('refused', { description: 'Notifications and definitions refused: bad signature or malformed (forgeries).' }),
    live: t.exposeInt('live', { description: 'Received live on gossipsub and logged.' }),
    fetched: t.exposeInt('fetched', { description: 'Fetched from other peers\' logs (gaps, restarts).' }),
    pending: t.exposeInt('pending', { description: 'Received ahead of a gap, waiting for the range before them.' }),
    topics: t.exposeInt('topics')
  })
})

export const NetworkType = builder.objectRef<NetworkRecord>('Network').implement({
  fields: (t) => ({
    self: t.field({ type: PeerType, resolve: (n) => n.self }),
    peers: t.field({ type: [PeerType], resolve: (n) => n.peers }),
    indexPeers: t.exposeInt('indexPeers', { description: 'Peers holding index data (publisher + mirrors).' }),
    index: t.field({ type: IndexStateType, nullable: true, description: 'Null on an embedded peer (no network).', resolve: (n) => n.index ?? null }),
    channels: t.field({ type: ChannelTransportType, nullable: true, description: 'Channels over gossipsub; null on an embedded peer.', resolve: (n) => n.channels ?? null })
  })
})

export const MirrorAdmissionType = builder.objectRef<MirrorAdmission>('MirrorAdmission').implement({
  description: 'A mirror certificate the publisher signed and delivered.',
  fields: (t) => ({
    mirror: t.exposeString('mirror'),
    publisher: t.exposeString('publisher'),
    issued: t.exposeString('issued'),
    expires: t.exposeString('expires')
  })
})

const PostingsSentType = builder.objectRef<{ peer: string, postings: number }>('PostingsSent').implement({
  fields: (t) => ({ peer: t.exposeString('peer'), postings: t.exposeFloat('postings') })
})

const PublishPhaseType = builder.enumType('PublishPhase', {
  values: { READ: { value: 'read' }, INDEX: { value: 'index' }, CATALOG: { value: 'catalog' }, DONE: { value: 'done' } } as const
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

export const PublishTimesType = builder.objectRef<PublishTimes>('PublishTimes').implement({
  description: 'Wall-clock seconds of each step of a publish.',
  fields: (t) => ({
    importSeconds: t.exposeFloat('importSeconds', { description: 'Reading the files into the local store.' }),
    indexSeconds: t.exposeFloat('indexSeconds', { description: 'Sending the new postings and documents to the index peers (0 without a network).' }),
    contentSeconds: t.exposeFloat('contentSeconds', { description: 'Storing and seeding the content given with the publish.' }),
    notifySeconds: t.exposeFloat('notifySeconds', { description: "Building, signing, logging and sending the channels' notifications." }),
    totalSeconds: t.exposeFloat('totalSeconds')
  })
})

export const PublishSummaryType = builder.objectRef<PublishSummary>('PublishSummary').implement({
  fields: (t) => ({
    release: t.exposeString('release'),
    units: t.exposeInt('units', { description: 'Units published.' }),
    rejected: t.exposeInt('rejected'),
    replaced: t.exposeInt('replaced', { description: 'Units whose earlier version this publish replaced.' }),
    postings: t.exposeFloat('postings'),
    seconds: t.exposeFloat('seconds', { description: 'Seconds of the local import (times has every step).' }),
    times: t.field({ type: PublishTimesType, nullable: true, resolve: (s) => s.times ?? null }),
    rejections: t.exposeStringList('rejections', { description: 'Why units were rejected (document and position).' }),
    contentStored: t.int({ description: 'Content files stored and seeded, matched to units by sha256 (format dir, or content given).', resolve: (s) => s.content?.stored ?? 0 }),
    contentUnmatched: t.stringList({ description: 'Content files that no unit names (not stored).', resolve: (s) => s.content?.unmatched ?? [] })
  })
})

export const PublishProgressType = builder.objectRef<PublishProgressEvent>('PublishProgress').implement({
  fields: (t) => ({
    release: t.exposeString('release'),
    bytesRead: t.exposeFloat('bytesRead'),
    bytesTotal: t.exposeFloat('bytesTotal'),
    units: t.exposeInt('units'),
    phase: t.field({ type: PublishPhaseType, nullable: true, resolve: (p) => p.phase ?? null }),
    postingsSent: t.field({ type: [PostingsSentType], nullable: true, description: 'Postings each index peer acknowledged (networked publisher).', resolve: (p) => p.postingsSent ?? null })
  })
})
