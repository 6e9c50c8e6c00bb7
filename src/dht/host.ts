/**
 * The libp2p host of one peer: TCP + noise + yamux, identify, ping,
 * kad-dht on the private protocol /edos/kad/1.0.0 (server mode for the
 * publisher and mirrors, client mode for clients, which never hold index
 * data) and gossipsub. Identity (Ed25519) and the datastore (LevelDB) live
 * in the peer's folder, so a restarted peer keeps its id and routing table.
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { setMaxListeners } from 'node:events'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping, type Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, removePublicAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import type { PrivateKey } from '@libp2p/interface'
import { loadOrCreatePrivateKey } from './trust.ts'
import { PeerDatastore } from './peer-datastore.ts'
import { oneWritePerSend } from './libp2p-patches.ts'

export type PeerRoleName = 'publisher' | 'mirror' | 'client'

/** Which addresses kad-dht keeps: 'private' (loopback and LAN: tests, one machine) or 'public' (real use). */
export type AddressScope = 'private' | 'public' | 'any'

export const KAD_PROTOCOL = '/edos/kad/1.0.0'

export interface PeerHostInit {
  /** The peer folder: DATA/peer-key (Ed25519, 0600) and DATA/datastore (LevelDB). */
  data: string
  role: PeerRoleName
  /** Listen multiaddrs. Default ['/ip4/127.0.0.1/tcp/0'] (loopback, any port). */
  listen?: string[]
  /** Peers dialled at start. Default none. */
  bootstrap?: string[]
  /** Default 'private': kad-dht keeps 127.0.0.1 and LAN addresses (it drops them otherwise). */
  addressScope?: AddressScope
  /** Networks never throttled by the connection manager. Default loopback when the scope is private. */
  allow?: string[]
  /** Open connections before pruning. Default 300. */
  maxConnections?: number
}

// A type alias, not an interface: libp2p's ServiceMap needs an index signature.
export type PeerServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
  pubsub: GossipSub
}

export type EdosLibp2p = Libp2p<PeerServices>

export interface PeerHost {
  readonly libp2p: EdosLibp2p
  readonly privateKey: PrivateKey
  readonly role: PeerRoleName
  readonly peerId: string
  multiaddrs: () => string[]
  stop: () => Promise<void>
}

/**
 * A message's id before its signature is checked: (origin, seqno), the same
 * pair gossipsub's own message id (strict signing) is made of. Without it
 * every copy of a message (one per mesh peer) had its Ed25519 signature
 * verified before being found a duplicate: the largest cost of an idle peer
 * and ~15% of a mirror's time during a publish. A forged copy never enters
 * the cache (it fails verification first), so it cannot shadow the real one.
 */
function fastMsgIdFn (msg: { from?: Uint8Array, seqno?: Uint8Array, data?: Uint8Array }): string {
  if (msg.from != null && msg.seqno != null) return `${Buffer.from(msg.from.buffer, msg.from.byteOffset, msg.from.byteLength).toString('base64')}/${Buffer.from(msg.seqno.buffer, msg.seqno.byteOffset, msg.seqno.byteLength).toString('hex')}`
  return createHash('sha256').update(msg.data ?? new Uint8Array(0)).digest('base64')
}

/**
 * IDONTWANT (one control message to every mesh peer per message received)
 * pays off for large messages only; ours (announcements, catalogs, channel
 * notifications) are a few KiB at most, so it only doubled the frames sent.
 */
const IDONTWANT_MIN_BYTES = 64 * 1024


function mapperFor (scope: AddressScope): typeof passthroughMapper {
  if (scope === 'public') return removePrivateAddressesMapper
  if (scope === 'private') return removePublicAddressesMapper
  return passthroughMapper
}

export async function createPeerHost (init: PeerHostInit): Promise<PeerHost> {
  const scope = init.addressScope ?? 'private'
  const privateKey = await loadOrCreatePrivateKey(join(init.data, 'peer-key'))
  const datastore = new PeerDatastore(join(init.data, 'datastore'))
  await datastore.open()
  let libp2p: EdosLibp2p
  try {
    libp2p = await createLibp2p({
      privateKey,
      datastore,
      addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // A frame (up to 64 MiB) may arrive before the handler reads it: a smaller read buffer resets the stream.
      streamMuxers: [yamux({ streamOptions: { maxReadBufferLength: 80 * 1024 * 1024 } })],
      // A peer busy applying a batch can miss libp2p's 5 s ping deadline; aborting the connection then resets every stream on it (a publish
      // fails mid-batch). A ping slower than the 10 s interval also makes the next one fail at once ("Too many outbound protocol streams
      // for /ipfs/ping/1.0.0 - 2/1"), which aborted connections during admission on a loaded machine. So a failed ping never aborts: dead
      // peers still show, as their connections close, RPCs time out and membership drops them.
      // The monitor's pings are then only a keep-alive (TCP closes a socket idle for 5 minutes): one a minute per connection, not every
      // 10 s (each ping is a stream: negotiation, a peer store write and logger scopes at both ends).
      connectionMonitor: { pingInterval: 60_000, pingTimeout: { minTimeout: 30_000 }, abortConnectionOnPingFailure: false },
      connectionManager: {
        maxConnections: init.maxConnections ?? 300,
        // Every test peer dials from 127.0.0.1: without this the inbound threshold refuses the burst.
        allow: init.allow ?? (scope === 'public' ? [] : ['/ip4/127.0.0.0/ipcidr/8']),
        inboundConnectionThreshold: 100
      },
      services: {
        identify: identify(),
        // kad-dht pings a new contact through this service while the connection monitor may be pinging the same connection:
        // with one outbound stream allowed, one of the two failed at once. The listener accepts two (the ping spec's SHOULD).
        ping: ping({ maxOutboundStreams: 2 }),
        dht: kadDHT({
          protocol: KAD_PROTOCOL,
          clientMode: init.role === 'client',
          peerInfoMapper: mapperFor(scope),
          // Few trusted index peers: a small query timeout keeps a lookup from hanging on a dead one.
          querySelfInterval: 30_000,
          initialQuerySelfInterval: 500
        }),
        // The default heartbeat (1 s): at 500 ms its gossip (IHAVE to peers outside the mesh, sent whether or not they lack anything) was
        // the largest single cost of an idle peer. Messages are flood-published by their origin to every subscriber, so gossip only repairs.
        pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, heartbeatInterval: 1000, fastMsgIdFn, idontwantMinDataSize: IDONTWANT_MIN_BYTES })
      }
    })
  } catch (err) {
    await datastore.close()
    throw err
  }
  oneWritePerSend(libp2p)
  for (const addr of init.bootstrap ?? []) {
    try {
      await libp2p.dial(multiaddr(addr), { signal: guardSignal(AbortSignal.timeout(10_000)) })
    } catch {
      // A bootstrap peer that is down is not fatal: membership and kad-dht find others later.
    }
  }
  return {
    libp2p,
    privateKey,
    role: init.role,
    peerId: libp2p.peerId.toString(),
    multiaddrs: () => libp2p.getMultiaddrs().map(String),
    stop: async () => {
      await libp2p.stop()
      await datastore.close()
    }
  }
}

/** kad-dht adds an abort listener per query step: lift Node's leak warning on signals we pass it. */
export function guardSignal (signal: AbortSignal): AbortSignal {
  setMaxListeners(Infinity, signal)
  return signal
}
