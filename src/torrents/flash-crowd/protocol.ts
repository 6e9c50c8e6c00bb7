/**
 * `/edos/wishlist/1.0.0`: a peer sends its wish list for a release to the
 * publisher (the paper's step 3). The list is signed by the peer's own key
 * and bound to the publisher and a short window (target, nonce, expiry), so
 * the publisher can prove who asked for what, and a captured list can
 * neither be replayed nor sent on someone else's behalf: the signer must be
 * the peer at the other end of the (noise-authenticated) connection.
 */
import { createHash } from 'node:crypto'
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

/**
 * The unit ids travel as one newline-separated part (a release's wish list
 * is megabytes, past any frame header limit); the signed header carries
 * their count and sha256, so the signature covers them all the same.
 */
function encodeUnits (units: readonly string[]): { text: Uint8Array, digest: string } {
  const text = Buffer.from(units.join('\n'))
  return { text, digest: createHash('sha256').update(text).digest('hex') }
}

function decodeUnits (part: Uint8Array | undefined, count: unknown, digest: unknown, what: string): string[] {
  if (part === undefined || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || count > MAX_WISH_UNITS || typeof digest !== 'string') {
    throw new ProtocolError(`${what} carries no unit list of at most ${MAX_WISH_UNITS} ids`)
  }
  if (createHash('sha256').update(part).digest('hex') !== digest) throw new ProtocolError(`${what}: the unit list does not match its signed digest`)
  const units = count === 0 ? [] : Buffer.from(part).toString('utf8').split('\n')
  if (units.length !== count || !units.every((v) => v.length > 0 && v.length <= 512)) throw new ProtocolError(`${what}: the unit list does not hold ${count} unit ids`)
  return units
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
      const units = decodeUnits(req.parts[0], env.header.count, env.header.units, `wish list of ${req.from} for ${release}`)
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
  if (units.length > MAX_WISH_UNITS) throw new WishListRefusedError(`a wish list names at most ${MAX_WISH_UNITS} units, not ${units.length}`)
  const { text, digest } = encodeUnits(units)
  const envelope = await signEnvelope(key, KIND, { release, units: digest, count: units.length, ...deliveryFields(publisher) })
  const { header } = await callRpc(libp2p, publisher, WISHLIST_PROTOCOL, { envelope }, [text], { timeoutMs: 30_000, ...options })
  const r = header.result as SubmitResult | undefined
  if (r == null || r.release !== release || (r.state !== 'open' && r.state !== 'closed') || typeof r.replaced !== 'boolean' || (r.assignment !== undefined && !isAssignment(r.assignment))) {
    throw new ProtocolError(`publisher ${publisher} answered a wish list with no valid result`)
  }
  return r
}
