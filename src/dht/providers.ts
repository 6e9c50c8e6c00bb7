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
import { callRpc, serveRpc } from './rpc.ts'

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

/**
 * What a holder tells a peer that wants some content: the unit's torrent
 * (deterministic, so every holder sends the same info), where its
 * BitTorrent port listens, its web seed and tracker. A provider record
 * says who holds the bytes; this says how to fetch them.
 */
export interface ContentOffer {
  /** The holder's libp2p peer id. */
  peer: string
  /** The .torrent for the unit (single-file, deterministic infohash). */
  torrent: Uint8Array
  /** BitTorrent addresses, `ip:port`. */
  bittorrent: string[]
  /** Web seed base URL (files served by name, with range requests), when the holder serves HTTP. */
  webSeed?: string
  /** Tracker announce URL, when the holder runs one (publisher, mirrors). */
  tracker?: string
}

export const CONTENT_PROTOCOL = '/edos/content/1.0.0'

/** A peer's answer to an offer request: undefined when it does not hold (or seed) the content. */
export type OfferSource = (key: string) => Promise<Omit<ContentOffer, 'peer'> | undefined>

const INFO_HASH = /^[0-9a-f]{40}$/

/**
 * Answers offer requests: by sha256 for one unit's content (`offer`), or by
 * infohash for a torrent this peer seeds (`torrentOffer`: set torrents such
 * as flash-crowd clusters, whose .torrent no one can rebuild without the bytes).
 */
export async function serveContentOffers (libp2p: EdosLibp2p, offer: OfferSource, torrentOffer?: OfferSource): Promise<void> {
  await serveRpc(libp2p, CONTENT_PROTOCOL, async (req) => {
    if (req.header.infoHash !== undefined) {
      const ih = String(req.header.infoHash).toLowerCase()
      if (!INFO_HASH.test(ih)) throw new ProtocolError(`'${ih.slice(0, 64)}' is not an infohash (40 hex digits)`)
      const o = await torrentOffer?.(ih)
      if (o === undefined) return { header: { held: false } }
      return { header: { held: true, bittorrent: o.bittorrent, webSeed: o.webSeed, tracker: o.tracker }, parts: [o.torrent] }
    }
    const sha = String(req.header.sha256 ?? '')
    contentCid(sha)
    const o = await offer(sha.toLowerCase())
    if (o === undefined) return { header: { held: false } }
    return { header: { held: true, bittorrent: o.bittorrent, webSeed: o.webSeed, tracker: o.tracker }, parts: [o.torrent] }
  }, { timeoutMs: 30_000 })
}

/** Asks one peer for its offer; undefined when it does not hold the content or does not answer. */
export async function askForContent (libp2p: EdosLibp2p, peer: string, sha256Hex: string, options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<ContentOffer | undefined> {
  return await ask(libp2p, peer, { sha256: sha256Hex }, options)
}

/** Asks one peer for a torrent it seeds, by infohash; undefined when it does not or does not answer. */
export async function askForTorrent (libp2p: EdosLibp2p, peer: string, infoHash: string, options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<ContentOffer | undefined> {
  return await ask(libp2p, peer, { infoHash }, options)
}

async function ask (libp2p: EdosLibp2p, peer: string, request: Record<string, string>, options: { timeoutMs?: number, signal?: AbortSignal }): Promise<ContentOffer | undefined> {
  try {
    const res = await callRpc(libp2p, peer, CONTENT_PROTOCOL, request, [], { timeoutMs: options.timeoutMs ?? 20_000, signal: options.signal })
    if (res.header.held !== true || res.parts[0] === undefined) return undefined
    const h = res.header
    const strings = (v: unknown): string[] => Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
    return {
      peer,
      torrent: res.parts[0],
      bittorrent: strings(h.bittorrent),
      ...(typeof h.webSeed === 'string' ? { webSeed: h.webSeed } : {}),
      ...(typeof h.tracker === 'string' ? { tracker: h.tracker } : {})
    }
  } catch {
    return undefined
  }
}

/**
 * Offers for some content from every peer that can give one: holders from
 * provider records, plus the peers this one is connected to (a provider
 * record may not have spread yet; asking a neighbour is one round trip).
 * Asked in parallel, each bounded by its timeout.
 */
export async function findContentOffers (libp2p: EdosLibp2p, sha256Hex: string, options: { limit?: number, signal?: AbortSignal, timeoutMs?: number } = {}): Promise<ContentOffer[]> {
  const self = libp2p.peerId.toString()
  const limit = options.limit ?? 16
  const asked = new Set<string>([self])
  const offers: ContentOffer[] = []
  const ask = async (peers: string[]): Promise<void> => {
    const fresh = peers.filter((p) => !asked.has(p)).slice(0, Math.max(0, limit + 1 - asked.size))
    for (const p of fresh) asked.add(p)
    for (const o of await Promise.all(fresh.map(async (p) => await askForContent(libp2p, p, sha256Hex, { timeoutMs: options.timeoutMs, signal: options.signal })))) if (o !== undefined) offers.push(o)
  }
  // Neighbours are asked at once, while the provider lookup runs.
  await Promise.all([
    ask(libp2p.getPeers().map(String)),
    (async () => { await ask((await findContentHolders(libp2p, sha256Hex, { limit, signal: options.signal ?? AbortSignal.timeout(options.timeoutMs ?? 10_000) })).map((h) => h.peer)) })()
  ])
  return offers
}

/**
 * Offers of a torrent (by infohash) from `first` (e.g. the publisher that
 * built it) and from the peers this one is connected to (those that already
 * joined its swarm), asked in parallel, each bounded by its timeout.
 */
export async function findTorrentOffers (libp2p: EdosLibp2p, infoHash: string, first: string[], options: { limit?: number, signal?: AbortSignal, timeoutMs?: number } = {}): Promise<ContentOffer[]> {
  const self = libp2p.peerId.toString()
  const peers = [...new Set([...first, ...libp2p.getPeers().map(String)])].filter((p) => p !== self).slice(0, options.limit ?? 16)
  const offers = await Promise.all(peers.map(async (p) => await askForTorrent(libp2p, p, infoHash, { timeoutMs: options.timeoutMs, signal: options.signal })))
  return offers.filter((o): o is ContentOffer => o !== undefined)
}
