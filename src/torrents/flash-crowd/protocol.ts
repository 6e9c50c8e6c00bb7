/**
 * `/edos/wishlist/1.0.0`: a peer sends its wish list for a release to the
 * publisher (the paper's step 3). The list is signed by the peer's own key
 * and bound to the publisher and a short window (target, nonce, expiry), so
 * the publisher can prove who asked for what, and a captured list can
 * neither be replayed nor sent on someone else's behalf: the signer must be
 * the peer at the other end of the (noise-authenticated) connection.
 */
import type { PrivateKey } from '@libp2p/interface'
import { callRpc, serveRpc, type CallOptions } from '../../dht/rpc.ts'
import { ProtocolError } from '../../dht/errors.ts'
import { ReplayGuard, deliveryFields, signEnvelope, verifyEnvelope } from '../../dht/trust.ts'
import type { EdosLibp2p } from '../../dht/host.ts'
import { WishListRefusedError, type ClusterAssignment, type SubmitResult } from './collector.ts'

export const WISHLIST_PROTOCOL = '/edos/wishlist/1.0.0'
const KIND = 'edos/wishlist'
/** Most units one wish list carries (R2 has about 69,000). */
export const MAX_WISH_UNITS = 1_000_000

/** What the publisher does with a verified wish list. */
export type WishListSink = (peer: string, release: string, units: string[]) => SubmitResult | Promise<SubmitResult>

export interface WishListServerInit {
  libp2p: EdosLibp2p
  sink: WishListSink
  /** Called with every refused wish list (for logs and counters). */
  onRefused?: (peer: string, reason: string) => void
}

function stringArray (value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length > MAX_WISH_UNITS || !value.every((v) => typeof v === 'string' && v.length > 0 && v.length <= 512)) {
    throw new ProtocolError(`${what} is not a list of at most ${MAX_WISH_UNITS} unit ids`)
  }
  return value
}

/** Serves wish lists on this (publisher) peer. */
export async function serveWishLists (init: WishListServerInit): Promise<void> {
  const self = init.libp2p.peerId.toString()
  const replay = new ReplayGuard()
  await serveRpc(init.libp2p, WISHLIST_PROTOCOL, async (req) => {
    try {
      // The signer must be the connection's authenticated peer: nobody submits for another.
      const env = verifyEnvelope(req.header.envelope, [], req.from, KIND)
      replay.check(env, self)
      const release = env.header.release
      if (typeof release !== 'string' || release.length === 0 || release.length > 256) throw new ProtocolError('wish list names no release')
      const units = stringArray(env.header.units, `wish list of ${req.from} for ${release}`)
      const result = await init.sink(req.from, release, units)
      return { header: { result } }
    } catch (err) {
      init.onRefused?.(req.from, (err as Error).message)
      if (err instanceof WishListRefusedError) throw new ProtocolError(err.message)
      throw err
    }
  }, { timeoutMs: 30_000 })
}

function isAssignment (v: unknown): v is ClusterAssignment {
  const a = v as ClusterAssignment
  return a != null && Array.isArray(a.clusters) && Array.isArray(a.uncovered)
}

/** Sends this peer's wish list for `release` to the publisher; the answer says whether the window was still open. */
export async function sendWishList (libp2p: EdosLibp2p, key: PrivateKey, publisher: string, release: string, units: readonly string[], options: CallOptions = {}): Promise<SubmitResult> {
  const envelope = await signEnvelope(key, KIND, { release, units: [...units], ...deliveryFields(publisher) })
  const { header } = await callRpc(libp2p, publisher, WISHLIST_PROTOCOL, { envelope }, [], { timeoutMs: 30_000, ...options })
  const r = header.result as SubmitResult | undefined
  if (r == null || r.release !== release || (r.state !== 'open' && r.state !== 'closed') || typeof r.replaced !== 'boolean' || (r.assignment !== undefined && !isAssignment(r.assignment))) {
    throw new ProtocolError(`publisher ${publisher} answered a wish list with no valid result`)
  }
  return r
}
