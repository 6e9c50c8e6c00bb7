/**
 * The network part of a peer: its libp2p host and its part of the
 * distributed index. The publisher's key is the root of trust: the
 * publisher writes its id to DATA/publisher-key for mirrors and clients to
 * be started with (`--publisher-key FILE`).
 */
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { createPeerHost, IndexNode, type PeerHost, readPublisherKey, writePublisherKey, type AddressScope, type IndexNodeInit } from '../dht/index.ts'
import type { TwigStore } from '../xml-twig-index/store/store.ts'
import { PeerError } from './errors.ts'
import type { PeerRole } from './types.ts'

/** A peer's network settings: where it listens and whom it trusts, plus the index settings of IndexNodeInit (same defaults). */
export interface NetworkInit extends Pick<IndexNodeInit, 'replicas' | 'announceMs' | 'repairSettleMs' | 'repairRestartGraceMs' | 'callTimeoutMs' | 'reducers' | 'log'> {
  /** Listen multiaddrs. Default ['/ip4/127.0.0.1/tcp/0']. */
  listen?: string[]
  /** Peers dialled at start (the publisher's or a mirror's multiaddr). */
  bootstrap?: string[]
  /** A file holding the publisher's peer id (its public key). Required for mirrors and clients; the publisher writes DATA/publisher-key. */
  publisherKeyFile?: string
  /** Default 'private' (loopback and LAN addresses kept by kad-dht): 'public' for peers on the internet. */
  addressScope?: AddressScope
  /** Channel anti-entropy period (catch-up of missed notifications from other peers). Default 5000 ms. */
  channelSyncMs?: number
}

/** What a networked peer runs on: its index node, the libp2p host under it (channels use it too) and the publisher it trusts. */
export interface PeerNetwork { node: IndexNode, host: PeerHost, publisher: PeerId }

export async function startNetwork (data: string, role: PeerRole, init: NetworkInit, local: TwigStore | undefined): Promise<PeerNetwork> {
  let publisher: PeerId | undefined
  if (role !== 'publisher') {
    if (init.publisherKeyFile === undefined) throw new PeerError(`a ${role} needs the publisher's key: --publisher-key FILE (the publisher writes it to its DATA/publisher-key)`, 'BAD_USER_INPUT')
    try { publisher = await readPublisherKey(init.publisherKeyFile) } catch (err) { throw new PeerError((err as Error).message, 'BAD_USER_INPUT') }
  }
  const host = await createPeerHost({ data, role, listen: init.listen, bootstrap: init.bootstrap, addressScope: init.addressScope })
  try {
    if (role === 'publisher') {
      publisher = peerIdFromString(host.peerId)
      await writePublisherKey(join(data, 'publisher-key'), publisher)
    }
    const node = await IndexNode.start({
      host,
      data,
      publisher: publisher as PeerId,
      local,
      replicas: init.replicas,
      announceMs: init.announceMs,
      repairSettleMs: init.repairSettleMs,
      repairRestartGraceMs: init.repairRestartGraceMs,
      callTimeoutMs: init.callTimeoutMs,
      reducers: init.reducers,
      log: init.log
    })
    return { node, host, publisher: publisher as PeerId }
  } catch (err) {
    await host.stop().catch(() => {})
    throw err
  }
}
