import type { FileHandle } from 'node:fs/promises'
import { rpmEvr, type PackageFields, type Relation, type RelationOp } from '../documents/index.ts'
import { CorruptPackageError, readAt } from './archives.ts'
import { isRpmlib } from './rpm-md.ts'

/**
 * Reader for the metadata of an RPM v3/v4 package file: the 96-byte lead,
 * the signature header (padded to 8 bytes), then the main header (magic
 * 8E AD E8 01, index entries of tag/type/offset/count, then the data
 * store). Only the header is read; the payload is left alone.
 */

export const RPM_LEAD_MAGIC = [0xED, 0xAB, 0xEE, 0xDB]
const HEADER_MAGIC = [0x8E, 0xAD, 0xE8, 0x01]
/** Bounds on what a header may claim, so that a corrupt one cannot make us allocate gigabytes. */
const MAX_INDEX = 1 << 16
const MAX_STORE = 64 << 20

export const TAG = {
  NAME: 1000, VERSION: 1001, RELEASE: 1002, EPOCH: 1003, SUMMARY: 1004, DESCRIPTION: 1005,
  SIZE: 1009, LICENSE: 1014, PACKAGER: 1015, GROUP: 1016, URL: 1020, ARCH: 1022,
  OLDFILENAMES: 1027, SOURCERPM: 1044, PROVIDENAME: 1047, REQUIREFLAGS: 1048, REQUIRENAME: 1049,
  REQUIREVERSION: 1050, CONFLICTFLAGS: 1053, CONFLICTNAME: 1054, CONFLICTVERSION: 1055,
  OBSOLETENAME: 1090, SOURCEPACKAGE: 1106, PROVIDEFLAGS: 1112, PROVIDEVERSION: 1113,
  OBSOLETEFLAGS: 1114, OBSOLETEVERSION: 1115, DIRINDEXES: 1116, BASENAMES: 1117, DIRNAMES: 1118,
  RECOMMENDNAME: 5046, RECOMMENDVERSION: 5047, RECOMMENDFLAGS: 5048,
  SUGGESTNAME: 5049, SUGGESTVERSION: 5050, SUGGESTFLAGS: 5051,
  ENHANCENAME: 5055, ENHANCEVERSION: 5056, ENHANCEFLAGS: 5057, LONGSIZE: 5009
} as const

const TYPE = { INT8: 2, INT16: 3, INT32: 4, INT64: 5, STRING: 6, BIN: 7, STRING_ARRAY: 8, I18NSTRING: 9 } as const

interface Entry { type: number, offset: number, count: number }

/** A parsed header: typed accessors over its data store. */
export class RpmHeader {
  constructor (private readonly entries: Map<number, Entry>, private readonly store: Buffer) {}

  has (tag: number): boolean { return this.entries.has(tag) }

  /** Strings of a STRING, STRING_ARRAY or I18NSTRING entry (NUL-terminated, in the store). */
  strings (tag: number): string[] {
    const e = this.entries.get(tag)
    if (e == null) return []
    if (e.type !== TYPE.STRING && e.type !== TYPE.STRING_ARRAY && e.type !== TYPE.I18NSTRING) throw new CorruptPackageError(`header tag ${tag}: type ${e.type} is not a string`)
    const n = e.type === TYPE.STRING ? 1 : e.count
    const out: string[] = []
    let pos = e.offset
    for (let i = 0; i < n; i++) {
      const end = this.store.indexOf(0, pos)
      if (end < 0) throw new CorruptPackageError(`header tag ${tag}: string runs past the data store`)
      out.push(this.store.toString('utf8', pos, end))
      pos = end + 1
    }
    return out
  }

  /** First string: an I18NSTRING's first entry is the untranslated (C locale) text. */
  string (tag: number): string | undefined {
    return this.has(tag) ? this.strings(tag)[0] : undefined
  }

  numbers (tag: number): number[] {
    const e = this.entries.get(tag)
    if (e == null) return []
    const width = e.type === TYPE.INT8 ? 1 : e.type === TYPE.INT16 ? 2 : e.type === TYPE.INT32 ? 4 : e.type === TYPE.INT64 ? 8 : 0
    if (width === 0) throw new CorruptPackageError(`header tag ${tag}: type ${e.type} is not an integer`)
    if (e.offset + width * e.count > this.store.length) throw new CorruptPackageError(`header tag ${tag}: runs past the data store`)
    const out: number[] = []
    for (let i = 0; i < e.count; i++) {
      const at = e.offset + i * width
      out.push(width === 1 ? this.store.readUInt8(at) : width === 2 ? this.store.readUInt16BE(at) : width === 4 ? this.store.readUInt32BE(at) : Number(this.store.readBigUInt64BE(at)))
    }
    return out
  }
}

/** Reads one header structure at `offset`; returns it and the offset just past it. */
async function readHeader (fh: FileHandle, offset: number, what: string): Promise<{ header: RpmHeader, end: number }> {
  const intro = await readAt(fh, offset, 16, `${what} header`)
  for (let i = 0; i < 4; i++) if (intro[i] !== HEADER_MAGIC[i]) throw new CorruptPackageError(`${what} header at offset ${offset}: bad magic`)
  const nindex = intro.readUInt32BE(8)
  const hsize = intro.readUInt32BE(12)
  if (nindex > MAX_INDEX || hsize > MAX_STORE) throw new CorruptPackageError(`${what} header claims ${nindex} entries and ${hsize} bytes, more than allowed`)
  const body = await readAt(fh, offset + 16, nindex * 16 + hsize, `${what} header data`)
  const store = body.subarray(nindex * 16)
  const entries = new Map<number, Entry>()
  for (let i = 0; i < nindex; i++) {
    const at = i * 16
    const e = { type: body.readUInt32BE(at + 4), offset: body.readUInt32BE(at + 8), count: body.readUInt32BE(at + 12) }
    if (e.offset > hsize) throw new CorruptPackageError(`${what} header entry ${i}: offset ${e.offset} outside the ${hsize}-byte data store`)
    entries.set(body.readUInt32BE(at), e)
  }
  return { header: new RpmHeader(entries, store), end: offset + 16 + nindex * 16 + hsize }
}

/** Reads the lead and both headers of an .rpm file; returns the main header and whether it is a source package. */
export async function readRpm (fh: FileHandle): Promise<{ header: RpmHeader, source: boolean }> {
  const lead = await readAt(fh, 0, 96, 'RPM lead')
  for (let i = 0; i < 4; i++) if (lead[i] !== RPM_LEAD_MAGIC[i]) throw new CorruptPackageError('not an RPM package (no lead magic ED AB EE DB)')
  if (lead[4] < 3) throw new CorruptPackageError(`RPM format ${lead[4]} is older than v3`)
  const sig = await readHeader(fh, 96, 'signature')
  // The signature header is padded to an 8-byte boundary; the main header is not.
  const main = await readHeader(fh, sig.end + ((8 - (sig.end % 8)) % 8), 'main')
  return { header: main.header, source: lead.readUInt16BE(6) === 1 || main.header.has(TAG.SOURCEPACKAGE) }
}

const SENSE_LESS = 0x02
const SENSE_GREATER = 0x04
const SENSE_EQUAL = 0x08
const SENSE_RPMLIB = 1 << 24

function senseOp (flags: number): RelationOp | undefined {
  const f = flags & (SENSE_LESS | SENSE_GREATER | SENSE_EQUAL)
  switch (f) {
    case SENSE_LESS: return '<<'
    case SENSE_LESS | SENSE_EQUAL: return '<='
    case SENSE_EQUAL: return '='
    case SENSE_GREATER | SENSE_EQUAL: return '>='
    case SENSE_GREATER: return '>>'
    default: return undefined
  }
}

function relations (h: RpmHeader, nameTag: number, flagsTag: number, versionTag: number, skipRpmlib = false): Relation[] | undefined {
  const names = h.strings(nameTag)
  if (names.length === 0) return undefined
  const flags = h.numbers(flagsTag)
  const versions = h.strings(versionTag)
  const out: Relation[] = []
  const seen = new Set<string>()
  for (let i = 0; i < names.length; i++) {
    const f = flags[i] ?? 0
    if (skipRpmlib && ((f & SENSE_RPMLIB) !== 0 || isRpmlib(names[i]))) continue
    const r: Relation = { name: names[i] }
    const op = senseOp(f)
    const v = versions[i] ?? ''
    if (op != null && v !== '') { r.op = op; r.version = v }
    // Headers repeat requirements (once per scriptlet that needs them); createrepo lists each once.
    const key = `${r.name}\0${r.op ?? ''}\0${r.version ?? ''}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(r)
  }
  return out
}

/** Files createrepo lists in primary.xml (the rest go to filelists.xml): under /etc, any bin/ directory, /usr/lib/sendmail. */
export function isPrimaryFile (path: string): boolean {
  return path.startsWith('/etc/') || path.includes('bin/') || path === '/usr/lib/sendmail'
}

function files (h: RpmHeader): string[] {
  let all: string[]
  if (h.has(TAG.BASENAMES)) {
    const base = h.strings(TAG.BASENAMES)
    const dirs = h.strings(TAG.DIRNAMES)
    const idx = h.numbers(TAG.DIRINDEXES)
    all = base.map((b, i) => (dirs[idx[i]] ?? '') + b)
  } else {
    all = h.strings(TAG.OLDFILENAMES)
  }
  return all.filter(isPrimaryFile)
}

/**
 * Maps a header to document fields the way createrepo would describe the
 * package in primary.xml, so that importing a directory of .rpm files and
 * importing its repodata give equal documents (but for location, which is
 * relative to what was imported). Size, checksum and location are the
 * caller's: they describe the file, not the header.
 */
export function rpmHeaderFields (h: RpmHeader, source: boolean): PackageFields {
  const epochs = h.numbers(TAG.EPOCH)
  const epoch = epochs.length > 0 ? String(epochs[0]) : '0'
  const ver = h.string(TAG.VERSION) ?? ''
  const rel = h.string(TAG.RELEASE)
  const installed = h.has(TAG.LONGSIZE) ? h.numbers(TAG.LONGSIZE)[0] : h.numbers(TAG.SIZE)[0]
  return {
    name: h.string(TAG.NAME) ?? '',
    version: ver !== '' ? rpmEvr(epoch, ver, rel) : '',
    arch: source ? 'src' : (h.string(TAG.ARCH) ?? ''),
    summary: h.string(TAG.SUMMARY),
    description: h.string(TAG.DESCRIPTION),
    license: h.string(TAG.LICENSE),
    maintainer: h.string(TAG.PACKAGER),
    homepage: h.string(TAG.URL),
    source: h.string(TAG.SOURCERPM),
    installedSize: installed,
    epoch,
    release: rel,
    group: h.string(TAG.GROUP),
    files: files(h),
    depends: relations(h, TAG.REQUIRENAME, TAG.REQUIREFLAGS, TAG.REQUIREVERSION, true),
    recommends: relations(h, TAG.RECOMMENDNAME, TAG.RECOMMENDFLAGS, TAG.RECOMMENDVERSION),
    suggests: relations(h, TAG.SUGGESTNAME, TAG.SUGGESTFLAGS, TAG.SUGGESTVERSION),
    enhances: relations(h, TAG.ENHANCENAME, TAG.ENHANCEFLAGS, TAG.ENHANCEVERSION),
    provides: relations(h, TAG.PROVIDENAME, TAG.PROVIDEFLAGS, TAG.PROVIDEVERSION),
    conflicts: relations(h, TAG.CONFLICTNAME, TAG.CONFLICTFLAGS, TAG.CONFLICTVERSION),
    obsoletes: relations(h, TAG.OBSOLETENAME, TAG.OBSOLETEFLAGS, TAG.OBSOLETEVERSION)
  }
}
