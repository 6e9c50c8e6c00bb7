/**
 * Synthetic release content sized after a real Debian release, for the
 * flash-crowd e2e test, benchmark and demo: the real .debs are neither
 * available nor small enough, but the metadata is.
 *
 * From a real Packages file (xz, gzip, zstd or plain) each selected stanza
 * gets a synthetic file of max(minBytes, round(Size / scale)) bytes: an
 * AES-128-CTR keystream keyed by a hash of (real SHA256, scale). The same
 * real package in two releases (same real checksum) therefore gets the same
 * synthetic bytes in both, which is what makes content shared between
 * releases shareable between peers. The Packages file written next to the
 * files is the input with `Size:` and `SHA256:` replaced by the synthetic
 * file's and the weaker checksums dropped (they would no longer match);
 * every other line is kept verbatim, so the importer maps each document to
 * its file by the basename of `Filename:`.
 *
 * CLI: node bin/run-ts.js scripts/synthetic-release.ts --packages FILE --out DIR
 *      [--scale N] [--min-bytes N] [--sections a,b] [--limit N]
 * prints a one-line JSON summary.
 */
import { createCipheriv, createHash } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, open, writeFile } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import { basename, join, resolve } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { openDecompressed } from '../src/xml-twig-index/importers/decompress.ts'
import { detach } from '../src/xml-twig-index/documents/index.ts'
import { EdosError } from '../src/xml-twig-index/errors.ts'

export interface SyntheticStanza {
  package: string
  version: string
  arch: string
  section?: string
  /** `Size:` of the real .deb. */
  realSize: number
  /** `SHA256:` of the real .deb (lower case). */
  realSha256: string
  /** `Filename:` as in the index (an archive path; the synthetic file is named by its basename). */
  filename: string
}

export interface SyntheticReleaseInit {
  /** A real Packages file (.xz, .gz or plain). */
  packages: string
  /** Output folder: writes `Packages` and `files/`. Files already there under other names are left alone. */
  out: string
  /** Which stanzas go in (default all). Called once per stanza, in file order. */
  select?: (s: SyntheticStanza) => boolean
  /** Real size / scale = synthetic size. Default 1000. */
  scale?: number
  /** Smallest synthetic file, in bytes (at least 1). Default 512. */
  minBytes?: number
  /** Which selected stanzas get their file written (default all); the others appear in Packages only. */
  materialize?: (s: SyntheticStanza) => boolean
  /** Stop reading after this many selected stanzas (default: read the whole file). */
  limit?: number
}

export interface SyntheticUnit extends SyntheticStanza {
  /** Synthetic size and SHA256 (lower-case hex), as the written Packages says. */
  size: number
  sha256: string
  /** Absolute path of the written file; absent when the unit was not materialized. */
  file?: string
}

export interface SyntheticRelease {
  /** Absolute path of the written Packages file (plain text). */
  packagesFile: string
  filesDir: string
  /** Every selected stanza, in file order. */
  units: SyntheticUnit[]
  /** Synthetic bytes of all units (materialized or not). */
  bytes: number
}

/** Bad options, a stanza the generator cannot use, a name clash or a unit whose bytes do not match. */
export class SyntheticReleaseError extends EdosError {
  constructor (message: string, code: 'ERR_SYNTHETIC_INIT' | 'ERR_SYNTHETIC_STANZA' | 'ERR_SYNTHETIC_NAME' | 'ERR_SYNTHETIC_MISMATCH', options?: { cause?: unknown }) {
    super(message, code, options)
    this.name = 'SyntheticReleaseError'
  }
}

export const DEFAULT_SCALE = 1000
export const DEFAULT_MIN_BYTES = 512

/** Keystream produced per cipher call: bounds memory for any file size (scale 1 makes GB files). */
const CHUNK = 1 << 20
/** Files up to this size are generated in one buffer and written concurrently; larger ones stream. */
const WHOLE_FILE = 4 << 20
/** Concurrent small-file writes: overlaps the file system with keystream generation. */
const WRITES_IN_FLIGHT = 16
const ZEROS = Buffer.alloc(CHUNK)
/** Checksums that would no longer match the synthetic file and have no synthetic counterpart. */
const DROPPED = new Set(['md5sum', 'sha1', 'sha512'])

function checkScale (scale: number): number {
  if (!Number.isFinite(scale) || scale <= 0) throw new SyntheticReleaseError(`scale must be a positive number, got ${scale}`, 'ERR_SYNTHETIC_INIT')
  return scale
}

/** The synthetic size of a real size. */
export function syntheticSize (realSize: number, scale = DEFAULT_SCALE, minBytes = DEFAULT_MIN_BYTES): number {
  return Math.max(minBytes, Math.round(realSize / scale))
}

/**
 * The synthetic bytes of one unit, chunk by chunk. The key covers the
 * scale too: the same package at another scale is a different file, and
 * must not pass for a prefix of it. Sizes are not keyed, so minBytes only
 * lengthens or shortens the same stream.
 */
function * keystream (realSha256: string, scale: number, size: number): Generator<Buffer> {
  const h = createHash('sha256').update(`edos-synthetic-v1\n${realSha256}\n${scale}`).digest()
  const cipher = createCipheriv('aes-128-ctr', h.subarray(0, 16), h.subarray(16, 32))
  for (let left = size; left > 0; left -= CHUNK) yield cipher.update(ZEROS.subarray(0, Math.min(CHUNK, left)))
}

/** Bounded set of pending writes; the first failure is thrown by the next add or by drain. */
class WritePool {
  private readonly pending = new Set<Promise<void>>()
  private failure: unknown
  private failed = false

  async add (write: Promise<void>): Promise<void> {
    this.rethrow()
    const p: Promise<void> = write.catch((err: unknown) => { if (!this.failed) { this.failed = true; this.failure = err } })
      .finally(() => { this.pending.delete(p) })
    this.pending.add(p)
    if (this.pending.size >= WRITES_IN_FLIGHT) await Promise.race(this.pending)
    this.rethrow()
  }

  async drain (): Promise<void> {
    await Promise.all(this.pending)
    this.rethrow()
  }

  private rethrow (): void {
    if (this.failed) throw this.failure
  }
}

/** A unit's SHA256 and, up to WHOLE_FILE bytes, the bytes themselves (larger ones are regenerated while written). */
function unitBytes (realSha256: string, scale: number, size: number): { sha256: string, data?: Buffer } {
  const hash = createHash('sha256')
  const parts: Buffer[] = []
  for (const chunk of keystream(realSha256, scale, size)) {
    hash.update(chunk)
    if (size <= WHOLE_FILE) parts.push(chunk)
  }
  const sha256 = hash.digest('hex')
  if (size > WHOLE_FILE) return { sha256 }
  return { sha256, data: parts.length === 1 ? parts[0] : Buffer.concat(parts) }
}

/** Writes a unit's file: small ones through the pool, large ones streamed through one handle (memory: one chunk). */
async function writeUnit (path: string, realSha256: string, scale: number, size: number, data: Buffer | undefined, pool: WritePool): Promise<void> {
  if (data !== undefined) { await pool.add(writeFile(path, data)); return }
  const fh = await open(path, 'w')
  try {
    for (const chunk of keystream(realSha256, scale, size)) await fh.write(chunk)
  } finally {
    await fh.close()
  }
}

/** Remembers which content each file name got: two different units under one name would overwrite each other. */
class FileNames {
  private readonly sums = new Map<string, { sha256: string, label: string }>()

  /** The unit's file name, and whether it is new (false: the same content already has that name). */
  claim (u: SyntheticStanza, sha256: string): { name: string, fresh: boolean } {
    const name = basename(u.filename)
    if (name === '' || name === '.' || name === '..') throw new SyntheticReleaseError(`${label(u)}: Filename ${JSON.stringify(u.filename)} has no file name`, 'ERR_SYNTHETIC_NAME')
    const before = this.sums.get(name)
    if (before === undefined) {
      this.sums.set(name, { sha256, label: label(u) })
      return { name, fresh: true }
    }
    if (sha256 !== before.sha256) throw new SyntheticReleaseError(`${label(u)} and ${before.label} would both be written as ${name} with different content`, 'ERR_SYNTHETIC_NAME')
    return { name, fresh: false }
  }
}

function label (s: Pick<SyntheticStanza, 'package' | 'version' | 'arch'>): string {
  return `${s.package}/${s.version}/${s.arch}`
}

/** One stanza's text, its lines and the fields the generator reads. */
interface RawStanza {
  lines: string[]
  line: number
  stanza: SyntheticStanza
}

/** Splits a stanza into lines and reads the fields the generator needs (all single-line in Packages files). */
function parseStanza (text: string, line: number, file: string): RawStanza {
  const lines = text.split('\n')
  const fields = new Map<string, string>()
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]
    const c = l.charCodeAt(0)
    if (c === 0x20 || c === 0x09 || c === 0x23) continue // continuation or comment: no field the generator reads spans lines
    const colon = l.indexOf(':')
    if (colon <= 0) throw new SyntheticReleaseError(`${file}, line ${line + i}: expected "Field: value", got ${JSON.stringify(l.slice(0, 60))}`, 'ERR_SYNTHETIC_STANZA')
    fields.set(l.slice(0, colon).toLowerCase(), l.slice(colon + 1).trim())
  }
  const where = `${file}, stanza at line ${line}`
  const need = (key: string): string => {
    const v = fields.get(key)
    if (v === undefined || v === '') throw new SyntheticReleaseError(`${where}: no ${key} field`, 'ERR_SYNTHETIC_STANZA')
    // A copy, not a slice: the stanza text is a slice of a decompressed chunk, and units outlive it.
    return detach(v)
  }
  const realSha256 = need('sha256').toLowerCase()
  if (!/^[0-9a-f]{64}$/.test(realSha256)) throw new SyntheticReleaseError(`${where}: SHA256 ${JSON.stringify(realSha256)} is not 64 hex digits`, 'ERR_SYNTHETIC_STANZA')
  const sizeText = need('size')
  if (!/^\d{1,15}$/.test(sizeText)) throw new SyntheticReleaseError(`${where}: Size ${JSON.stringify(sizeText)} is not a byte count`, 'ERR_SYNTHETIC_STANZA')
  const section = fields.get('section')
  const stanza: SyntheticStanza = {
    package: need('package'),
    version: need('version'),
    arch: need('architecture'),
    realSize: Number(sizeText),
    realSha256,
    filename: need('filename')
  }
  if (section !== undefined && section !== '') stanza.section = detach(section)
  return { lines, line, stanza }
}

/** The stanza with the synthetic Size and SHA256 (field names as written), weaker checksums dropped, all else verbatim. */
function rewrite (raw: RawStanza, size: number, sha256: string): string {
  const out: string[] = []
  let dropping = false
  for (const l of raw.lines) {
    const c = l.charCodeAt(0)
    if (c === 0x20 || c === 0x09) { if (!dropping) out.push(l); continue }
    dropping = false
    const colon = c === 0x23 ? -1 : l.indexOf(':')
    const key = colon > 0 ? l.slice(0, colon).toLowerCase() : ''
    if (key === 'size') out.push(`${l.slice(0, colon)}: ${size}`)
    else if (key === 'sha256') out.push(`${l.slice(0, colon)}: ${sha256}`)
    else if (DROPPED.has(key)) dropping = true
    else out.push(l)
  }
  return out.join('\n') + '\n'
}

/** Stanzas of a (possibly compressed) deb822 file, streamed: memory holds one decompressed chunk plus one stanza. */
async function * stanzas (file: string): AsyncGenerator<RawStanza> {
  const { chunks } = await openDecompressed(file)
  const decoder = new TextDecoder('utf-8', { fatal: true })
  const separator = /\n(?:[ \t]*\n)+/g
  let carry = ''
  let line = 1
  let first = true
  const flush = function * (text: string, last: boolean): Generator<RawStanza> {
    separator.lastIndex = 0
    let pos = 0
    for (let m = separator.exec(text); m !== null; m = separator.exec(text)) {
      const body = text.slice(pos, m.index)
      if (body.trim() !== '') yield parseStanza(body, line, file)
      line += body.split('\n').length - 1 + m[0].split('\n').length - 1
      pos = m.index + m[0].length
    }
    carry = text.slice(pos)
    if (last && carry.trim() !== '') yield parseStanza(carry.replace(/\n+$/, ''), line, file)
  }
  for await (const chunk of chunks) {
    let text = decoder.decode(chunk, { stream: true })
    if (first) { text = text.replace(/^\n+/, (m) => { line += m.length; return '' }); first = false }
    if (text.indexOf('\r') >= 0) text = text.replace(/\r\n/g, '\n')
    yield * flush(carry + text, false)
  }
  yield * flush(carry + decoder.decode(), true)
}

/** Writes one stanza's text to a stream, waiting when its buffer is full. */
async function put (stream: NodeJS.WritableStream, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain')
}

/**
 * Reads a real Packages file, writes `out/Packages` for the selected
 * stanzas and `out/files/<basename of Filename>` for the materialized ones.
 */
export async function syntheticRelease (init: SyntheticReleaseInit): Promise<SyntheticRelease> {
  const scale = checkScale(init.scale ?? DEFAULT_SCALE)
  const minBytes = init.minBytes ?? DEFAULT_MIN_BYTES
  if (!Number.isInteger(minBytes) || minBytes < 1) throw new SyntheticReleaseError(`minBytes must be an integer >= 1, got ${minBytes}`, 'ERR_SYNTHETIC_INIT')
  const limit = init.limit ?? Infinity
  if (!(limit >= 0)) throw new SyntheticReleaseError(`limit must be >= 0, got ${limit}`, 'ERR_SYNTHETIC_INIT')
  const out = resolve(init.out)
  const filesDir = join(out, 'files')
  const packagesFile = join(out, 'Packages')
  await mkdir(filesDir, { recursive: true })

  const units: SyntheticUnit[] = []
  const names = new FileNames()
  const pool = new WritePool()
  let bytes = 0
  const stream = createWriteStream(packagesFile)
  // Listening from the start: an open or write error must reject here, not crash the process.
  const done = finished(stream)
  done.catch(() => {})
  try {
    for await (const raw of stanzas(init.packages)) {
      if (units.length >= limit) break
      const s = raw.stanza
      if (init.select !== undefined && !init.select(s)) continue
      const size = syntheticSize(s.realSize, scale, minBytes)
      const { sha256, data } = unitBytes(s.realSha256, scale, size)
      const unit: SyntheticUnit = { ...s, size, sha256 }
      if (init.materialize === undefined || init.materialize(s)) {
        const { name, fresh } = names.claim(s, sha256)
        unit.file = join(filesDir, name)
        if (fresh) await writeUnit(unit.file, s.realSha256, scale, size, data, pool)
      }
      units.push(unit)
      bytes += size
      await put(stream, (units.length > 1 ? '\n' : '') + rewrite(raw, size, unit.sha256))
    }
    await pool.drain()
    stream.end()
    await done
  } catch (err) {
    stream.destroy()
    await pool.drain().catch(() => {})
    throw err
  }
  return { packagesFile, filesDir, units, bytes }
}

/**
 * Writes the files of some units (by the same deterministic rule) into
 * another folder, e.g. a client's pre-loaded cache. `scale` must be the one
 * the units were made with: each unit's bytes are checked against its SHA256
 * before its file is written; a mismatch throws (ERR_SYNTHETIC_MISMATCH).
 */
export async function materialize (units: SyntheticUnit[], dir: string, scale = DEFAULT_SCALE): Promise<string[]> {
  checkScale(scale)
  const target = resolve(dir)
  await mkdir(target, { recursive: true })
  const names = new FileNames()
  const pool = new WritePool()
  const paths: string[] = []
  for (const u of units) {
    // Checked before writing, so that a wrong scale writes nothing.
    const { sha256, data } = unitBytes(u.realSha256, scale, u.size)
    if (sha256 !== u.sha256) {
      await pool.drain()
      throw new SyntheticReleaseError(`${label(u)}: synthetic bytes at scale ${scale} have SHA256 ${sha256}, not the unit's ${u.sha256} (made at another scale?)`, 'ERR_SYNTHETIC_MISMATCH')
    }
    const { name, fresh } = names.claim(u, sha256)
    const path = join(target, name)
    paths.push(path)
    if (fresh) await writeUnit(path, u.realSha256, scale, u.size, data, pool)
  }
  await pool.drain()
  return paths
}

async function main (argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { packages: { type: 'string' }, out: { type: 'string' }, scale: { type: 'string' }, 'min-bytes': { type: 'string' }, sections: { type: 'string' }, limit: { type: 'string' } },
    strict: true
  })
  if (values.packages === undefined || values.out === undefined) {
    throw new SyntheticReleaseError('usage: synthetic-release.ts --packages FILE --out DIR [--scale N] [--min-bytes N] [--sections a,b] [--limit N]', 'ERR_SYNTHETIC_INIT')
  }
  const number = (name: string, v: string | undefined): number | undefined => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (v.trim() === '' || !Number.isFinite(n)) throw new SyntheticReleaseError(`--${name} must be a number, got ${JSON.stringify(v)}`, 'ERR_SYNTHETIC_INIT')
    return n
  }
  const sections = values.sections === undefined ? undefined : new Set(values.sections.split(',').map((s) => s.trim()).filter((s) => s !== ''))
  const scale = number('scale', values.scale) ?? DEFAULT_SCALE
  const t0 = performance.now()
  const r = await syntheticRelease({
    packages: values.packages,
    out: values.out,
    scale,
    minBytes: number('min-bytes', values['min-bytes']),
    limit: number('limit', values.limit),
    select: sections === undefined ? undefined : (s) => sections.has(s.section ?? '')
  })
  process.stdout.write(JSON.stringify({
    packagesFile: r.packagesFile,
    filesDir: r.filesDir,
    units: r.units.length,
    files: r.units.filter((u) => u.file !== undefined).length,
    bytes: r.bytes,
    realBytes: r.units.reduce((n, u) => n + u.realSize, 0),
    scale,
    seconds: Math.round((performance.now() - t0) / 10) / 100
  }) + '\n')
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`)
    process.exit(1)
  })
}
