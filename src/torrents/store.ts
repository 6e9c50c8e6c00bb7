/**
 * The content store: files addressed by sha256 under DATA/content, their
 * metadata (which unit, its file name, torrent infohashes, statistics) in
 * LevelDB beside them. A file enters only through a verifying path: bytes
 * are hashed while written to a temporary name and renamed into place only
 * when sha256 and size match what the signed metadata says, so a reader
 * never sees a partial or wrong file under a content address.
 *
 * DATA/content/aa/<sha256>       verified files (aa: the first two hex digits)
 * DATA/content/partial/<sha256>  downloads in progress (kept across restarts: resume)
 * DATA/content/meta              LevelDB: units, names, torrents, stats
 */
import { createHash, randomUUID } from 'node:crypto'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, rename, rm, stat, link, copyFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { Transform } from 'node:stream'
import { ClassicLevel } from 'classic-level'
import { ChecksumMismatchError, ContentInputError } from './errors.ts'

/** What the metadata says of a unit's content: enough to verify and to name it. */
export interface UnitContent {
  /** Document id (`pkg/NAME/VERSION/ARCH`, `util/NAME/VERSION`). */
  unit: string
  sha256: string
  size: number
  /** The file name in torrents and on web seeds (the basename of the unit's location). */
  name: string
}

export interface StoredUnit extends UnitContent {
  storedAt: string
  /** Where the bytes came from: 'publish', 'download', 'import'. */
  source: string
}

/** Changing properties of a unit on this peer (DESIGN: computed, never in the document). */
export interface UnitStats {
  /** Completed downloads of this unit by this peer. */
  downloads: number
  /** Bytes this peer received for it, over BitTorrent and web seeds. */
  bytesDownloaded: number
  /** Bytes this peer served of it (BitTorrent uploads and web seed responses). */
  bytesUploaded: number
}

export interface ContentStoreInit {
  /** The content folder (DATA/content), created when missing. */
  path: string
}

const SHA256 = /^[0-9a-f]{64}$/

export function checkSha256 (value: string, what: string): string {
  const v = value.toLowerCase()
  if (!SHA256.test(v)) throw new ContentInputError(`${what}: '${value.slice(0, 80)}' is not a sha256 (64 hex digits)`)
  return v
}

/** A name safe as one path segment in torrents and URLs: no separators, no dot names, no controls. */
export function checkFileName (name: string, what: string): string {
  // eslint-disable-next-line no-control-regex
  if (name === '' || name === '.' || name === '..' || /[/\\\x00-\x1f]/.test(name) || name.length > 255) {
    throw new ContentInputError(`${what}: '${name.slice(0, 80)}' is not a usable file name`)
  }
  return name
}

/** The file name of a unit: its location's basename, else name_version[_arch]. */
export function unitFileName (doc: { id: string, name: string, version: string, arch?: string, location?: string }): string {
  if (doc.location !== undefined && doc.location !== '') {
    const b = basename(doc.location)
    if (b !== '' && b !== '.' && b !== '..') return b
  }
  return `${doc.name}_${doc.version.replace(/:/g, '%3a')}${doc.arch !== undefined ? `_${doc.arch}` : ''}`.replace(/[/\\]/g, '_')
}

export class ContentStore {
  private readonly units
  private readonly bySha
  private readonly names
  private readonly stats
  private readonly torrents

  private constructor (readonly path: string, private readonly db: ClassicLevel<string, string>) {
    this.units = db.sublevel<string, StoredUnit>('units', { valueEncoding: 'json' })
    // sha256 -> unit ids holding those bytes (two units may share a file).
    this.bySha = db.sublevel<string, string[]>('sha', { valueEncoding: 'json' })
    // file name -> sha256: how the web seed finds a file from the path a torrent client asks for.
    this.names = db.sublevel<string, string>('names', { valueEncoding: 'utf8' })
    this.stats = db.sublevel<string, UnitStats>('stats', { valueEncoding: 'json' })
    // key -> .torrent bytes (base64): deterministic, so cached rather than rehashed.
    this.torrents = db.sublevel<string, string>('torrents', { valueEncoding: 'utf8' })
  }

  static async open (init: ContentStoreInit): Promise<ContentStore> {
    await mkdir(join(init.path, 'partial'), { recursive: true })
    await mkdir(join(init.path, 'tmp'), { recursive: true })
    const db = new ClassicLevel<string, string>(join(init.path, 'meta'), { keyEncoding: 'utf8', valueEncoding: 'utf8' })
    await db.open()
    return new ContentStore(init.path, db)
  }

  /** Where verified bytes with this sha256 live (whether or not they are there). */
  filePath (sha256: string): string {
    const s = checkSha256(sha256, 'content address')
    return join(this.path, s.slice(0, 2), s)
  }

  /** Where a download of these bytes accumulates until verified. */
  partialPath (sha256: string): string { return join(this.path, 'partial', checkSha256(sha256, 'content address')) }

  async has (sha256: string): Promise<boolean> {
    try { return (await stat(this.filePath(sha256))).isFile() } catch { return false }
  }

  async unit (id: string): Promise<StoredUnit | undefined> { return await this.units.get(id) }

  async byName (name: string): Promise<string | undefined> { return await this.names.get(name) }

  async unitsOf (sha256: string): Promise<string[]> { return (await this.bySha.get(checkSha256(sha256, 'content address'))) ?? [] }

  async * list (): AsyncGenerator<StoredUnit> { for await (const v of this.units.values()) yield v }

  /** Verifies a file on disk against `expected` and stores a copy (hard link when possible); the source is left alone. */
  async putFile (file: string, expected: UnitContent, source: string): Promise<StoredUnit> {
    const tmp = join(this.path, 'tmp', randomUUID())
    try {
      await link(file, tmp).catch(async () => { await copyFile(file, tmp) })
      return await this.adopt(tmp, expected, source)
    } finally {
      await rm(tmp, { force: true })
    }
  }

  /** Hashes a stream into the store; kept only when it matches `expected`. */
  async putStream (input: NodeJS.ReadableStream, expected: UnitContent, source: string): Promise<StoredUnit> {
    const tmp = join(this.path, 'tmp', randomUUID())
    try {
      await pipeline(input, createWriteStream(tmp))
      return await this.adopt(tmp, expected, source)
    } finally {
      await rm(tmp, { force: true })
    }
  }

  /**
   * Takes a complete file (a finished download, a temp copy) into the store:
   * hashes it, and on a match renames it into place; on a mismatch deletes it
   * and throws ChecksumMismatchError. The file is consumed either way.
   */
  async adopt (file: string, expected: UnitContent, source: string): Promise<StoredUnit> {
    const sha = checkSha256(expected.sha256, expected.unit)
    checkFileName(expected.name, expected.unit)
    const actual = await sha256File(file)
    if (actual.sha256 !== sha || actual.size !== expected.size) {
      await rm(file, { force: true })
      throw new ChecksumMismatchError(`${expected.unit} (${expected.name})`, `${sha} (${expected.size} bytes)`, `${actual.sha256} (${actual.size} bytes)`)
    }
    const dest = this.filePath(sha)
    await mkdir(join(this.path, sha.slice(0, 2)), { recursive: true })
    if (await this.has(sha)) await rm(file, { force: true })
    else await rename(file, dest)
    return await this.record(expected, source)
  }

  /** Records a unit whose bytes are already in the store (same sha256 as another unit's). */
  async record (expected: UnitContent, source: string): Promise<StoredUnit> {
    const sha = checkSha256(expected.sha256, expected.unit)
    const stored: StoredUnit = { unit: expected.unit, sha256: sha, size: expected.size, name: expected.name, storedAt: new Date().toISOString(), source }
    const holders = new Set(await this.unitsOf(sha))
    holders.add(expected.unit)
    await this.db.batch()
      .put(expected.unit, stored, { sublevel: this.units as never })
      .put(sha, [...holders], { sublevel: this.bySha as never })
      .put(expected.name, sha, { sublevel: this.names as never })
      .write()
    return stored
  }

  async getStats (unit: string): Promise<UnitStats> {
    return (await this.stats.get(unit)) ?? { downloads: 0, bytesDownloaded: 0, bytesUploaded: 0 }
  }

  /** Adds to a unit's counters (serialised per store by the caller's single writer: counters are advisory). */
  async addStats (unit: string, delta: Partial<UnitStats>): Promise<void> {
    const s = await this.getStats(unit)
    await this.stats.put(unit, {
      downloads: s.downloads + (delta.downloads ?? 0),
      bytesDownloaded: s.bytesDownloaded + (delta.bytesDownloaded ?? 0),
      bytesUploaded: s.bytesUploaded + (delta.bytesUploaded ?? 0)
    })
  }

  /** Adds to many units' counters in one write (a set torrent's transfer is shared by hundreds of units). */
  async addStatsMany (deltas: ReadonlyMap<string, Partial<UnitStats>>): Promise<void> {
    if (deltas.size === 0) return
    const keys = [...deltas.keys()]
    const current = await this.stats.getMany(keys)
    await this.stats.batch(keys.map((unit, i) => {
      const s = current[i] ?? { downloads: 0, bytesDownloaded: 0, bytesUploaded: 0 }
      const d = deltas.get(unit) ?? {}
      return { type: 'put' as const, key: unit, value: { downloads: s.downloads + (d.downloads ?? 0), bytesDownloaded: s.bytesDownloaded + (d.bytesDownloaded ?? 0), bytesUploaded: s.bytesUploaded + (d.bytesUploaded ?? 0) } }
    }))
  }

  async getTorrent (key: string): Promise<Uint8Array | undefined> {
    const v = await this.torrents.get(key)
    return v === undefined ? undefined : Buffer.from(v, 'base64')
  }

  async putTorrent (key: string, torrent: Uint8Array): Promise<void> { await this.torrents.put(key, Buffer.from(torrent).toString('base64')) }

  async close (): Promise<void> { await this.db.close() }
}

/** sha256 and size of a file, streamed. */
export async function sha256File (file: string): Promise<{ sha256: string, size: number }> {
  const hash = createHash('sha256')
  let size = 0
  await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), new Transform({
    transform (chunk: Buffer, _enc, cb) { hash.update(chunk); size += chunk.length; cb() }
  }))
  return { sha256: hash.digest('hex'), size }
}
