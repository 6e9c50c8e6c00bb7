import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open, readdir, stat } from 'node:fs/promises'
import { basename, join, relative, sep } from 'node:path'
import { ImportError, InvalidDocumentError } from '../errors.ts'
import { buildPackage, buildUtility, type ImportedUnit, type PackageFields } from '../documents/index.ts'
import { AR_MAGIC, CorruptPackageError, MAX_CONTROL_MEMBER, arMembers, readAt, tarFile } from './archives.ts'
import { parseStanzas } from './deb822.ts'
import { debianFields } from './debian.ts'
import { decompressBuffer } from './decompress.ts'
import { RPM_LEAD_MAGIC, readRpm, rpmHeaderFields } from './rpm-header.ts'
import { rejectAt, tryUnit, type UnitResult } from './common.ts'

export interface DirFile {
  /** Absolute (or as given) path to read. */
  path: string
  /** Path relative to the imported directory, '/'-separated: the document's location. */
  location: string
  size: number
}

// Code-unit order, not localeCompare: the import order must not depend on the locale.
function byName (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * Lists the files under `root`, recursively, sorted by name at each level
 * (deterministic). Hidden entries (".git", ".DS_Store") are skipped;
 * symbolic links to files are followed, links to directories are not (no
 * cycles).
 */
export async function listFiles (root: string): Promise<DirFile[]> {
  const out: DirFile[] = []
  const walk = async (dir: string): Promise<void> => {
    let entries
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      throw new ImportError(`cannot read directory: ${(err as Error).message}`, dir, { cause: err })
    }
    entries.sort((a, b) => byName(a.name, b.name))
    for (const e of entries) {
      if (e.name.startsWith('.')) continue
      const path = join(dir, e.name)
      if (e.isDirectory()) { await walk(path); continue }
      if (!e.isFile() && !e.isSymbolicLink()) continue
      const st = await stat(path).catch(() => undefined)
      if (st == null || !st.isFile()) continue
      out.push({ path, location: relative(root, path).split(sep).join('/'), size: st.size })
    }
  }
  await walk(root)
  return out
}

/** A lone file given to the dir importer: its location is its base name. */
export async function singleFile (path: string): Promise<DirFile> {
  const st = await stat(path)
  return { path, location: basename(path), size: st.size }
}

/** sha256 and size of a file, streamed. */
async function hashFile (path: string, onBytes: (n: number) => void, signal?: AbortSignal): Promise<{ sha256: string, size: number }> {
  const h = createHash('sha256')
  let size = 0
  const stream = createReadStream(path, { highWaterMark: 1 << 20 })
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      signal?.throwIfAborted()
      h.update(chunk)
      size += chunk.length
      onBytes(chunk.length)
    }
  } finally {
    stream.destroy()
  }
  return { sha256: h.digest('hex'), size }
}

/** What kind of file it is, by magic bytes (names lie; extensions are only used in messages). */
export type FileKind = 'deb' | 'rpm' | 'other'

export function fileKind (head: Uint8Array): FileKind {
  if (head.length >= 8 && Buffer.from(head.subarray(0, 8)).toString('latin1') === AR_MAGIC) return 'deb'
  if (head.length >= 4 && RPM_LEAD_MAGIC.every((b, i) => head[i] === b)) return 'rpm'
  return 'other'
}

async function debFields (path: string, size: number): Promise<PackageFields> {
  const fh = await open(path, 'r')
  try {
    const members = await arMembers(fh, size)
    if (members[0]?.name !== 'debian-binary') throw new CorruptPackageError('not a Debian package: first ar member is not debian-binary')
    const version = (await readAt(fh, members[0].offset, Math.min(members[0].size, 16), 'debian-binary')).toString('latin1')
    if (!version.startsWith('2.')) throw new CorruptPackageError(`unsupported .deb format version ${JSON.stringify(version.trim())}`)
    const control = members.find((m) => /^control\.tar(\.(gz|xz|zst))?$/.test(m.name))
    if (control == null) throw new CorruptPackageError('no control.tar member')
    if (control.size > MAX_CONTROL_MEMBER) throw new CorruptPackageError(`control member is ${control.size} bytes, more than ${MAX_CONTROL_MEMBER}`)
    const packed = await readAt(fh, control.offset, control.size, control.name)
    let tar: Uint8Array
    try {
      tar = await decompressBuffer(packed, control.name)
    } catch (err) {
      throw new CorruptPackageError(`${control.name}: ${(err as Error).message}`)
    }
    const bytes = tarFile(tar, './control')
    if (bytes == null) throw new CorruptPackageError(`${control.name} has no ./control file`)
    const stanzas = await parseStanzas(bytes, `${path}:control`).catch((err: Error) => { throw new CorruptPackageError(`control file: ${err.message}`) })
    if (stanzas.length !== 1) throw new CorruptPackageError(`control file has ${stanzas.length} stanzas, expected 1`)
    return debianFields(stanzas[0], undefined)
  } finally {
    await fh.close()
  }
}

async function rpmFields (path: string): Promise<PackageFields> {
  const fh = await open(path, 'r')
  try {
    const { header, source } = await readRpm(fh)
    return rpmHeaderFields(header, source)
  } finally {
    await fh.close()
  }
}

/**
 * Builds the unit of one file: a .deb or .rpm becomes a package document
 * (from its control file or header, as a Packages index or primary.xml
 * would describe it), anything else a utility. Size and sha256 are always
 * computed from the bytes. A corrupt package file is a rejection naming it.
 */
export async function fileUnit (f: DirFile, onBytes: (n: number) => void, signal?: AbortSignal): Promise<UnitResult> {
  const fh = await open(f.path, 'r')
  let head: Buffer
  try {
    head = Buffer.alloc(Math.min(8, f.size))
    if (head.length > 0) await fh.read(head, 0, head.length, 0)
  } finally {
    await fh.close()
  }
  const kind = fileKind(head)
  let fields: PackageFields | undefined
  if (kind !== 'other') {
    try {
      fields = kind === 'deb' ? await debFields(f.path, f.size) : await rpmFields(f.path)
    } catch (err) {
      // A bad field in readable metadata names the package and field, like any importer would.
      if (err instanceof InvalidDocumentError) return rejectAt(err, f.path)
      if (!(err instanceof CorruptPackageError)) throw err
      // Unreadable metadata: the file itself is the unit, since there is no id to name.
      return { kind: 'rejected', error: new InvalidDocumentError(f.location, 'file', `corrupt .${kind}: ${err.message} (${f.path})`) }
    }
  }
  const { sha256, size } = await hashFile(f.path, onBytes, signal)
  const checksum = { type: 'sha256', value: sha256 }
  if (fields != null) {
    const pf = fields
    return tryUnit(f.path, () => buildPackage({ ...pf, size, checksum, location: f.location }))
  }
  return tryUnit(f.path, (): ImportedUnit => buildUtility({
    name: basename(f.location),
    // Content-derived: a changed file is a new version, the same file imported twice the same unit.
    version: 'sha256-' + sha256.slice(0, 12),
    size,
    checksum,
    location: f.location
  }))
}

export interface DirProgress { bytesRead: number, bytesTotal: number }

/** Units of a directory (or of a lone file), in listing order, one per batch (files are hashed one by one). */
export async function * importDir (root: string, isDirectory: boolean, onProgress: (p: DirProgress) => void, signal?: AbortSignal): AsyncGenerator<UnitResult[]> {
  const files = isDirectory ? await listFiles(root) : [await singleFile(root)]
  const bytesTotal = files.reduce((n, f) => n + f.size, 0)
  let bytesRead = 0
  onProgress({ bytesRead, bytesTotal })
  for (const f of files) {
    signal?.throwIfAborted()
    yield [await fileUnit(f, (n) => { bytesRead += n; onProgress({ bytesRead, bytesTotal }) }, signal)]
  }
}
