/**
 * Who wants what of a super-seeded set torrent (a flash-crowd cluster): the
 * publisher knows each peer's wish list by its identity, and each wire's
 * downloader by the BitTorrent peer id derived from that identity.
 */
import { bittorrentPeerId, wantedPieceRuns } from './client.ts'
import type { TorrentMeta } from './torrent-file.ts'

/** Who wants what of a set torrent, by peer identity (the peers' `peerId`). */
export interface SetWants {
  /** Peers that may join. */
  peers: () => Iterable<string>
  /** Units of the set a peer wants; undefined for a peer not known. */
  units: (peer: string) => ReadonlySet<string> | undefined
}

/** A downloader of a super-seeded set, as the seed sees it. */
export interface SetDownloader { peer: string, wantedBytes: number, heldBytes: number }

/** The peers that may join, by the BitTorrent peer id their wires show. */
export function peersByBittorrentId (wants: SetWants): Map<string, string> {
  return new Map([...wants.peers()].map((p) => [bittorrentPeerId(p), p]))
}

/** For super-seeding: a downloader's (by BitTorrent peer id) wanted pieces, those overlapping its units' files. */
export function wantedPieces (meta: TorrentMeta, units: readonly string[], wants: SetWants): (bittorrentId: string) => ReadonlySet<number> | undefined {
  let byBittorrentId = new Map<string, string>()
  return (bittorrentId) => {
    // Late peers join after the torrent was seeded: look them up again when one is not known.
    if (!byBittorrentId.has(bittorrentId)) byBittorrentId = peersByBittorrentId(wants)
    const peer = byBittorrentId.get(bittorrentId)
    const wanted = peer === undefined ? undefined : wants.units(peer)
    if (wanted === undefined) return undefined
    const pieces = new Set<number>()
    for (const [from, to] of wantedPieceRuns(meta, units.map((u) => wanted.has(u) ? u : undefined))) for (let p = from; p <= to; p++) pieces.add(p)
    return pieces
  }
}
