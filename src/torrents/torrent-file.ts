/**
 * Deterministic torrents. The info dictionary holds only what the bytes and
 * their names fix (name, piece length, piece hashes, file lengths and
 * paths): no creation date, no creator, no trackers inside `info`. So any
 * peer holding the same files computes the same infohash and can seed the
 * swarm without asking anyone. Trackers and web seeds go outside `info`
 * (they differ per peer and do not change the infohash); public trackers are
 * never added.
 */
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import bencode from 'bencode'
import { ContentInputError } from './errors.ts'
import { checkFileName } from './store.ts'

/** One file of a torrent: its name in the torrent and where its bytes are. */
export interface TorrentEntry {
  name: string
  length: number
  /** A readable file holding exactly `length` bytes. */
  file: string
}

export interface TorrentMeta {
  infoHash: string
  name: string
  pieceLength: number
  /** Files in torrent order, with their byte offsets in the torrent. */
  files: Array<{ name: string, length: number, offset: number }>
  length: number
  /** The whole .torrent (bencoded). */
  torrent: Uint8Array
  /** Tracker announce URLs outside `info` (announce-list, else announce). */
  announce: string[]
}

export const MIN_PIECE_LENGTH = 16 * 1024
export const MAX_PIECE_LENGTH = 4 * 1024 * 1024

/** Piece length for a torrent of `total` bytes: a power of two aiming at ~1,000 pieces, 16 KiB to 4 MiB. Fixed here (not the library's default) so infohashes never change with a dependency upgrade. */
export function pieceLengthFor (total: number): number {
  let p = MIN_PIECE_LENGTH
  while (p < MAX_PIECE_LENGTH && total / p > 1024) p *= 2
  return p
}

/** Piece hashes (SHA-1, BitTorrent v1) over the concatenation of the files. */
async function pieceHashes (entries: TorrentEntry[], pieceLength: number): Promise<Buffer> {
  const hashes: Buffer[] = []
  let piece = createHash('sha1')
  let inPiece = 0
  for (const e of entries) {
    let seen = 0
    for await (const chunk of createReadStream(e.file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      seen += chunk.length
      if (seen > e.length) throw new ContentInputError(`${e.file}: longer than the ${e.length} bytes expected for ${e.name}`)
      let off = 0
      while (off < chunk.length) {
        const take = Math.min(pieceLength - inPiece, chunk.length - off)
        piece.update(chunk.subarray(off, off + take))
        inPiece += take
        off += take
        if (inPiece === pieceLength) { hashes.push(piece.digest()); piece = createHash('sha1'); inPiece = 0 }
      }
    }
    if (seen !== e.length) throw new ContentInputError(`${e.file}: ${seen} bytes, expected ${e.length} for ${e.name}`)
  }
  if (inPiece > 0) hashes.push(piece.digest())
  return Buffer.concat(hashes)
}

export interface BuildOptions {
  /** Torrent name: a single-file torrent's file name, a multi-file torrent's folder. Default: the only file's name. */
  name?: string
  /** Force the multi-file layout even for one file (sets). Default: multi-file when more than one entry. */
  multi?: boolean
  /** Tracker announce URLs (outside info). */
  announce?: string[]
  /** BEP 19 web seeds (outside info). */
  urlList?: string[]
  /**
   * Piece length (a power of two, 16 KiB or more). Default `pieceLengthFor(total)`.
   * A flash-crowd cluster sets its own: its waste is counted in pieces.
   */
  pieceLength?: number
}

/** Builds the deterministic info dictionary for the entries and wraps it in a .torrent. */
export async function buildTorrent (entries: TorrentEntry[], options: BuildOptions = {}): Promise<TorrentMeta> {
  if (entries.length === 0) throw new ContentInputError('a torrent needs at least one file')
  const multi = options.multi ?? entries.length > 1
  const name = checkFileName(options.name ?? entries[0].name, 'torrent name')
  if (!multi && entries.length > 1) throw new ContentInputError('a single-file torrent takes one file')
  const seen = new Set<string>()
  for (const e of entries) {
    checkFileName(e.name, 'torrent file')
    if (seen.has(e.name)) throw new ContentInputError(`torrent '${name}': two files named '${e.name}'`)
    seen.add(e.name)
  }
  const length = entries.reduce((s, e) => s + e.length, 0)
  const pieceLength = options.pieceLength ?? pieceLengthFor(length)
  if (!Number.isSafeInteger(pieceLength) || pieceLength < MIN_PIECE_LENGTH || (pieceLength & (pieceLength - 1)) !== 0) {
    throw new ContentInputError(`torrent '${name}': piece length ${pieceLength} is not a power of two of at least ${MIN_PIECE_LENGTH}`)
  }
  const pieces = await pieceHashes(entries, pieceLength)
  const info: Record<string, unknown> = multi
    ? { files: entries.map((e) => ({ length: e.length, path: [Buffer.from(e.name)] })), name: Buffer.from(name), 'piece length': pieceLength, pieces }
    : { length, name: Buffer.from(name), 'piece length': pieceLength, pieces }
  return withInfo(info, options)
}

/** Re-wraps a torrent's info with other trackers and web seeds (same infohash). */
export function rewrap (torrent: Uint8Array, options: Pick<BuildOptions, 'announce' | 'urlList'>): TorrentMeta {
  let decoded: { info?: Record<string, unknown>, announce?: Uint8Array, 'announce-list'?: Uint8Array[][] }
  try { decoded = bencode.decode(torrent) as typeof decoded } catch (err) { throw new ContentInputError(`not a .torrent: ${(err as Error).message}`) }
  if (decoded.info === undefined || decoded.info === null || typeof decoded.info !== 'object') throw new ContentInputError('not a .torrent: no info dictionary')
  // Trackers the torrent names are kept unless the caller gives its own.
  const named = [...(decoded['announce-list'] ?? []).flat(), ...(decoded.announce !== undefined ? [decoded.announce] : [])]
    .filter((a) => a instanceof Uint8Array).map((a) => Buffer.from(a).toString())
  return withInfo(decoded.info, { ...options, announce: options.announce ?? named })
}

function withInfo (info: Record<string, unknown>, options: Pick<BuildOptions, 'announce' | 'urlList'>): TorrentMeta {
  const infoBytes = bencode.encode(info)
  const infoHash = createHash('sha1').update(infoBytes).digest('hex')
  const t: Record<string, unknown> = { info }
  const announce = [...new Set(options.announce ?? [])]
  if (announce.length > 0) {
    t.announce = Buffer.from(announce[0])
    t['announce-list'] = announce.map((a) => [Buffer.from(a)])
  }
  const urlList = [...new Set(options.urlList ?? [])]
  if (urlList.length > 0) t['url-list'] = urlList.map((u) => Buffer.from(u))
  const name = Buffer.from(info.name as Uint8Array).toString()
  const pieceLength = info['piece length'] as number
  const rawFiles = info.files as Array<{ length: number, path: Uint8Array[] }> | undefined
  let offset = 0
  const files = rawFiles === undefined
    ? [{ name, length: info.length as number, offset: 0 }]
    : rawFiles.map((f) => { const o = offset; offset += f.length; return { name: f.path.map((p) => Buffer.from(p).toString()).join('/'), length: f.length, offset: o } })
  const length = files.reduce((s, f) => s + f.length, 0)
  return { infoHash, name, pieceLength, files, length, torrent: bencode.encode(t), announce }
}

/** A magnet link with trackers (tr) and web seeds (ws). */
export function magnetURI (meta: Pick<TorrentMeta, 'infoHash' | 'name'>, announce: string[], urlList: string[]): string {
  const parts = [`xt=urn:btih:${meta.infoHash}`, `dn=${encodeURIComponent(meta.name)}`]
  for (const a of announce) parts.push(`tr=${encodeURIComponent(a)}`)
  for (const u of urlList) parts.push(`ws=${encodeURIComponent(u)}`)
  return `magnet:?${parts.join('&')}`
}
