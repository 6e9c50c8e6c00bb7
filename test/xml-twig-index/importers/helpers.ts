import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { readUnits, type ImportInit } from '../../../src/xml-twig-index/importers/index.ts'
import type { ImportedUnit, UnitRejection } from '../../../src/xml-twig-index/documents/index.ts'

/**
 * Writers for the test inputs of the importers: tiny ar, tar and RPM
 * writers (independent of the readers under test), temp directories, and
 * a collector for readUnits.
 */

const HERE = fileURLToPath(new URL('.', import.meta.url))
export const FIXTURES = join(HERE, '../../fixtures')
export const SHARED = join(HERE, '../../../../shared/data')

export function tempDir (): { dir: string, cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'edos-import-'))
  return { dir, cleanup: () => { rmSync(dir, { recursive: true, force: true }) } }
}

export function writeFile (path: string, data: string | Uint8Array): string {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, data)
  return path
}

export function hasCommand (cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

export async function collect (files: string[], init?: ImportInit): Promise<{ units: ImportedUnit[], rejected: UnitRejection[] }> {
  const units: ImportedUnit[] = []
  const rejected: UnitRejection[] = []
  for await (const u of readUnits(files, init)) {
    if (u.kind === 'rejected') rejected.push(u)
    else units.push(u)
  }
  return { units, rejected }
}

/** An ar archive (the .deb container): "!<arch>\n", 60-byte headers, 2-byte aligned members. */
export function ar (members: Array<{ name: string, data: Uint8Array }>): Buffer {
  const parts: Buffer[] = [Buffer.from('!<arch>\n', 'latin1')]
  for (const m of members) {
    const h = `${m.name.padEnd(16)}${'0'.padEnd(12)}${'0'.padEnd(6)}${'0'.padEnd(6)}${'100644'.padEnd(8)}${String(m.data.length).padEnd(10)}\`\n`
    parts.push(Buffer.from(h, 'latin1'), Buffer.from(m.data))
    if (m.data.length % 2 === 1) parts.push(Buffer.from('\n'))
  }
  return Buffer.concat(parts)
}

/** A ustar archive of regular files. */
export function tar (files: Array<{ name: string, data: Uint8Array }>): Buffer {
  const parts: Buffer[] = []
  for (const f of files) {
    const h = Buffer.alloc(512)
    h.write(f.name, 0, 100, 'utf8')
    h.write('0000644\0', 100, 'latin1')
    h.write('0000000\0', 108, 'latin1')
    h.write('0000000\0', 116, 'latin1')
    h.write(f.data.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1')
    h.write('00000000000\0', 136, 'latin1')
    h.write('        ', 148, 'latin1')
    h.write('0', 156, 'latin1')
    h.write('ustar\0', 257, 'latin1')
    h.write('00', 263, 'latin1')
    let sum = 0
    for (const b of h) sum += b
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1')
    parts.push(h, Buffer.from(f.data), Buffer.alloc((512 - (f.data.length % 512)) % 512))
  }
  parts.push(Buffer.alloc(1024))
  return Buffer.concat(parts)
}

/** A .deb from a control file, with our own ar/tar writers (dpkg-deb may be absent). */
export function deb (control: string, compress: (b: Buffer) => Buffer = gzipSync, memberName = 'control.tar.gz'): Buffer {
  const controlTar = compress(tar([{ name: './control', data: Buffer.from(control) }, { name: './md5sums', data: Buffer.from('') }]))
  const dataTar = gzipSync(tar([{ name: './usr/share/doc/x/copyright', data: Buffer.from('free\n') }]))
  return ar([
    { name: 'debian-binary', data: Buffer.from('2.0\n') },
    { name: memberName, data: controlTar },
    { name: 'data.tar.gz', data: dataTar }
  ])
}

// RPM header data types.
export const RPM_INT32 = 4
export const RPM_STRING = 6
export const RPM_STRING_ARRAY = 8
export const RPM_I18NSTRING = 9

export interface RpmTag { tag: number, type: number, value: string | string[] | number[] }

/** One header structure: magic, index entries (tag, type, offset, count), then the data store. */
export function rpmHeader (tags: RpmTag[]): Buffer {
  const index: Buffer[] = []
  const store: Buffer[] = []
  let size = 0
  for (const t of [...tags].sort((a, b) => a.tag - b.tag)) {
    let data: Buffer
    let count: number
    if (t.type === RPM_INT32) {
      const nums = t.value as number[]
      const pad = (4 - (size % 4)) % 4
      if (pad > 0) { store.push(Buffer.alloc(pad)); size += pad }
      data = Buffer.alloc(4 * nums.length)
      nums.forEach((n, i) => data.writeUInt32BE(n >>> 0, i * 4))
      count = nums.length
    } else {
      const strs = Array.isArray(t.value) ? t.value as string[] : [t.value as string]
      data = Buffer.concat(strs.map((s) => Buffer.from(s + '\0')))
      count = t.type === RPM_STRING ? 1 : strs.length
    }
    const e = Buffer.alloc(16)
    e.writeUInt32BE(t.tag, 0)
    e.writeUInt32BE(t.type, 4)
    e.writeUInt32BE(size, 8)
    e.writeUInt32BE(count, 12)
    index.push(e)
    store.push(data)
    size += data.length
  }
  const intro = Buffer.alloc(16)
  Buffer.from([0x8E, 0xAD, 0xE8, 0x01]).copy(intro, 0)
  intro.writeUInt32BE(index.length, 8)
  intro.writeUInt32BE(size, 12)
  return Buffer.concat([intro, ...index, ...store])
}

/** A v3 RPM file: 96-byte lead, signature header padded to 8 bytes, main header, payload. */
export function rpm (tags: RpmTag[], opts: { source?: boolean, payload?: Buffer } = {}): Buffer {
  const lead = Buffer.alloc(96)
  Buffer.from([0xED, 0xAB, 0xEE, 0xDB, 3, 0]).copy(lead, 0)
  lead.writeUInt16BE(opts.source === true ? 1 : 0, 6)
  lead.writeUInt16BE(1, 8)
  lead.write('test-package', 10, 65, 'latin1')
  lead.writeUInt16BE(1, 76)
  lead.writeUInt16BE(5, 78)
  // A signature with an odd-sized store, so that the 8-byte padding matters.
  const sig = rpmHeader([{ tag: 1000, type: RPM_INT32, value: [12345] }, { tag: 1004, type: RPM_STRING, value: 'abc' }])
  const pad = Buffer.alloc((8 - (sig.length % 8)) % 8)
  return Buffer.concat([lead, sig, pad, rpmHeader(tags), opts.payload ?? gzipSync(Buffer.from('payload'))])
}
