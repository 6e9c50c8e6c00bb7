/**
 * Channels over the network: signed definitions and notifications
 * (signing.ts), the gossipsub transport, per-peer durable logs fed in seq
 * order and catch-up from other peers over /edos/channels/1.0.0
 * (network.ts). The roles layer (src/roles/channels.ts) decides what a
 * publish announces and serves `follow`; this layer moves and checks it.
 *
 * Start one per networked peer: `const net = new ChannelNetwork({ host,
 * publisher, store, onNotification }); await net.start()`.
 */
export { ChannelNetwork, CHANNELS_PROTOCOL, DIRECTORY_TOPIC, RANGE_LIMIT, RANGE_BYTES, topicOf, type ChannelNetworkInit } from './network.ts'
export { channelUnit, signNotification, signDefinition, verifyNotification, verifyDefinition, KIND_NOTIFICATION, KIND_DEFINITION, CHANNEL_NAME, UNITS_PER_PART } from './signing.ts'
export { ForgedNotificationError, ChannelSyncError } from './errors.ts'
export type { ChannelDefinition, ChannelFlashCrowd, ChannelNotification, ChannelUnit, ChannelUnitKind, ChannelStore, StoredChannel, ChannelNetworkStats } from './types.ts'
