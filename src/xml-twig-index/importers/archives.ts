import type { FileHandle } from 'node:fs/promises'

/**
 * Tiny readers for the containers a .deb is made of: an ar archive whose
 * members are `debian-binary`, `control.tar[.gz|.xz|.zst]` and `data.tar.*`,
 * and the ustar archive inside the control member. Only what is needed to
 * reach `./control` is implemented, with bounds on every size read from the
 * file so that a hostile archive cannot make us allocate or loop at will.
 */

/** A package file that is not what its name or magic says: the unit is rejected, the import goes on. */
export class CorruptPackageError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CorruptPackageError'
  }
}

/** Reads exactly `length` bytes at `offset`, or says the file is truncated. */
export async function readAt (fh: FileHandle, offset: number, length: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(length)
  let done = 0
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, offset + done)
    if (bytesRead === 0) throw new CorruptPackageError(`truncated: ${what} needs ${length} bytes at offset ${offset}, the file ends ${done} bytes in`)
    done += bytesRead
  }
  return buf
}

export const AR_MAGIC = '!<arch>\n'
const AR_HEADER = 60
/** Members to look at before giving up: a .deb has three (plus an optional signature). */
const AR_MAX_MEMBERS = 16
/** Largest control member read into memory. */
export const MAX_CONTROL_MEMBER = 64 << 20

export interface ArMember {
  name: string
  /** Offset of the member's data in the archive file. */
  offset: number
  size: number
}

function decimal (field: string, what: string): number {
  const t = field.trim()
  if (!/^\d+$/.test(t)) throw new CorruptPackageError(`ar member header: ${what} ${JSON.stringify(t)} is not a decimal number`)
  return Number(t)
}

/** Lists the members of an ar archive (headers only; data is not read). */
export async function arMembers (fh: FileHandle, fileSize: number): Promise<ArMember[]> {
  const magic = await readAt(fh, 0, 8, 'ar magic')
  if (magic.toString('latin1') !== AR_MAGIC) throw new CorruptPackageError('not an ar archive (no "!<arch>" magic)')
  const out: ArMember[] = []
  let pos = 8
  while (pos < fileSize && out.length < AR_MAX_MEMBERS) {
    const h = await readAt(fh, pos, AR_HEADER, `ar member header ${out.length + 1}`)
    if (h[58] !== 0x60 || h[59] !== 0x0A) throw new CorruptPackageError(`ar member header at offset ${pos}: bad terminator`)
    let name = h.toString('latin1', 0, 16).trimEnd()
    let size = decimal(h.toString('latin1', 48, 58), 'size')
    let offset = pos + AR_HEADER
    if (name.startsWith('#1/')) {
      // BSD long name: stored at the start of the data.
      const len = decimal(name.slice(3), 'name length')
      if (len > 4096 || len > size) throw new CorruptPackageError(`ar member at offset ${pos}: bad long name length ${len}`)
      name = (await readAt(fh, offset, len, 'ar long name')).toString('latin1').replace(/\0+$/, '')
      offset += len
      size -= len
    }
    if (name.endsWith('/') && name !== '/' && name !== '//') name = name.slice(0, -1) // GNU ar terminates names with '/'
    if (offset + size > fileSize) throw new CorruptPackageError(`ar member ${JSON.stringify(name)} runs past the end of the file`)
    out.push({ name, offset, size })
    pos = offset + size + (size % 2) // members are 2-byte aligned
  }
  return out
}

function octal (h: Uint8Array, at: number, len: number): number {
  // GNU base-256 for sizes >= 8 GiB: high bit of the first byte set.
  if ((h[at] & 0x80) !== 0) {
    let n = h[at] & 0x7F
    for (let i = 1; i < len; i++) n = n * 256 + h[at + i]
    return n
  }
  let s = ''
  for (let i = at; i < at + len && h[i] !== 0; i++) s += String.fromCharCode(h[i])
  s = s.trim()
  if (s === '') return 0
  if (!/^[0-7]+$/.test(s)) throw new CorruptPackageError(`tar header: ${JSON.stringify(s)} is not an octal number`)
  return parseInt(s, 8)
}

function cstring (h: Uint8Array, at: number, len: number): string {
  let end = at
  while (end < at + len && h[end] !== 0) end++
  return Buffer.from(h.buffer, h.byteOffset + at, end - at).toString('utf8')
}

function checksumOk (h: Uint8Array): boolean {
  let sum = 0
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]
  return sum === octal(h, 148, 8)
}

/** Normalises a member path: `./control`, `control` and `/control` are the same file. */
function normalName (name: string): string {
  return name.replace(/^(\.?\/)+/, '')
}

/**
 * Finds one regular file in a ustar/GNU/pax tar image and returns its
 * bytes (a view into `tar`), or undefined when the archive ends without it.
 */
export function tarFile (tar: Uint8Array, wanted: string): Uint8Array | undefined {
  const want = normalName(wanted)
  let pos = 0
  let longName: string | undefined
  while (pos + 512 <= tar.length) {
    const h = tar.subarray(pos, pos + 512)
    if (h.every((b) => b === 0)) return undefined // end-of-archive block
    if (!checksumOk(h)) throw new CorruptPackageError(`tar header at offset ${pos}: checksum mismatch`)
    const size = octal(h, 124, 12)
    const type = String.fromCharCode(h[156] === 0 ? 0x30 : h[156])
    const data = pos + 512
    if (data + size > tar.length) throw new CorruptPackageError(`tar member at offset ${pos} runs past the end of the archive`)
    const body = tar.subarray(data, data + size)
    let name = cstring(h, 0, 100)
    const magic = cstring(h, 257, 6)
    if (magic.startsWith('ustar')) {
      const prefix = cstring(h, 345, 155)
      if (prefix !== '' && magic === 'ustar') name = `${prefix}/${name}`
    }
    if (longName != null) { name = longName; longName = undefined }
    if (type === 'L') {
      longName = Buffer.from(body).toString('utf8').replace(/\0+$/, '')
    } else if (type === 'x') {
      const path = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(body).toString('utf8'))
      if (path != null) longName = path[1]
    } else if ((type === '0' || type === '7') && normalName(name) === want) {
      return body
    }
    pos = data + Math.ceil(size / 512) * 512
  }
  return undefined
}
