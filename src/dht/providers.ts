/**
 * Replica locations: a peer that holds a data unit's content writes a DHT
 * provider record keyed by a CID of the unit's sha256 (CIDv1, raw codec),
 * and readers find more peers from it. The content layer (torrents) uses
 * these; the index only defines the key.
 */
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { ProtocolError } from './errors.ts'
import { guardSignal, type EdosLibp2p } from './host.ts'

const RAW = 0x55
const SHA2_256 = 0x12

/** The CID under which holders of the content with this sha256 (64 hex chars) are recorded. */
export function contentCid (sha256Hex: string): CID {
  if (!/^[0-9a-f]{64}$/i.test(sha256Hex)) throw new ProtocolError(`not a sha256 (64 hex digits): '${sha256Hex.slice(0, 80)}'`)
  return CID.createV1(RAW, Digest.create(SHA2_256, Buffer.from(sha256Hex, 'hex')))
}

/** Records this peer as a holder of the content. */
export async function provideContent (libp2p: EdosLibp2p, sha256Hex: string, signal?: AbortSignal): Promise<void> {
  await libp2p.contentRouting.provide(contentCid(sha256Hex), { signal: guardSignal(signal ?? AbortSignal.timeout(30_000)) })
}

/** Peers recorded as holders (at most `limit`), with their addresses. */
export async function findContentHolders (libp2p: EdosLibp2p, sha256Hex: string, options: { limit?: number, signal?: AbortSignal } = {}): Promise<Array<{ peer: string, addrs: string[] }>> {
  const out = new Map<string, string[]>()
  const limit = options.limit ?? 20
  try {
    for await (const p of libp2p.contentRouting.findProviders(contentCid(sha256Hex), { signal: guardSignal(options.signal ?? AbortSignal.timeout(10_000)) })) {
      out.set(p.id.toString(), p.multiaddrs.map(String))
      if (out.size >= limit) break
    }
  } catch (err) {
    // A lookup cut short by its deadline still returns what it found.
    if (out.size === 0 && (err as Error).name !== 'AbortError' && (err as Error).name !== 'TimeoutError') throw err
  }
  return [...out].map(([peer, addrs]) => ({ peer, addrs }))
}
