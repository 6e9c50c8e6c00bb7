import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { decompressBuffer, detectCompression, openDecompressed, peek } from '../../../src/xml-twig-index/importers/decompress.ts'
import { ImportError } from '../../../src/xml-twig-index/errors.ts'
import { FIXTURES, hasCommand, tempDir, writeFile } from './helpers.ts'

const tmp = tempDir()
afterAll(tmp.cleanup)
const XZ = join(FIXTURES, 'bookworm-updates.Packages.xz')
const plain = execFileSync('xz', ['-dc', XZ])
const ZSTD = hasCommand('zstd')

async function bytesOf (chunks: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}

describe('decompression by magic bytes', () => {
  const files: Record<string, string> = {}
  files.none = writeFile(join(tmp.dir, 'p'), plain)
  files.gzip = writeFile(join(tmp.dir, 'p.gz'), gzipSync(plain))
  files.xz = XZ
  if (ZSTD) {
    execFileSync('zstd', ['-q', files.none, '-o', join(tmp.dir, 'p.zst')])
    files.zstd = join(tmp.dir, 'p.zst')
  }

  it('detects xz, gzip, zstd and plain', () => {
    for (const [kind, f] of Object.entries(files)) expect(detectCompression(readFileSync(f).subarray(0, 8))).toBe(kind)
    expect(detectCompression(new Uint8Array([0x28, 0xB5]))).toBe('none')
  })

  it('streams the same bytes from every compression, in the thread and in a worker', async () => {
    for (const [kind, f] of Object.entries(files)) {
      for (const worker of [false, true]) {
        const d = await openDecompressed(f, { worker })
        expect(d.compression).toBe(kind)
        expect((await bytesOf(d.chunks)).equals(plain), `${kind} worker=${String(worker)}`).toBe(true)
      }
    }
  })

  it('streams whatever the read-ahead budget (one chunk in flight at the least)', async () => {
    for (const readAhead of [0, 1, 64 << 20]) {
      const d = await openDecompressed(XZ, { readAhead })
      expect((await bytesOf(d.chunks)).equals(plain), `readAhead ${readAhead}`).toBe(true)
    }
  })

  it('reports stored bytes read, up to the file size', async () => {
    const reads: number[] = []
    const d = await openDecompressed(files.gzip, { onRead: (n) => reads.push(n) })
    await bytesOf(d.chunks)
    expect(reads[reads.length - 1]).toBe(readFileSync(files.gzip).length)
  })

  it('decompresses in-memory members', async () => {
    expect(Buffer.from(await decompressBuffer(gzipSync(plain), 'm')).equals(plain)).toBe(true)
    expect(Buffer.from(await decompressBuffer(readFileSync(XZ), 'm')).equals(plain)).toBe(true)
    if (ZSTD) expect(Buffer.from(await decompressBuffer(readFileSync(files.zstd), 'm')).equals(plain)).toBe(true)
    expect(await decompressBuffer(plain, 'm')).toBe(plain)
    await expect(decompressBuffer(gzipSync(plain).subarray(0, 100), 'control.tar.gz')).rejects.toThrow(/control\.tar\.gz: corrupt gzip data/)
  })

  it('names the file of corrupt or truncated compressed data', async () => {
    const xz = readFileSync(XZ)
    const cut = writeFile(join(tmp.dir, 'cut.xz'), xz.subarray(0, xz.length - 100))
    const flipped = Buffer.from(xz)
    flipped[200] ^= 0xFF
    const bad = writeFile(join(tmp.dir, 'bad.xz'), flipped)
    const badGz = writeFile(join(tmp.dir, 'bad.gz'), Buffer.concat([gzipSync(plain).subarray(0, 50), Buffer.alloc(50)]))
    for (const f of [cut, bad, badGz]) {
      const d = await openDecompressed(f)
      const err = await bytesOf(d.chunks).then(() => undefined, (e: unknown) => e)
      expect(err, f).toBeInstanceOf(ImportError)
      expect((err as ImportError).file).toBe(f)
      expect((err as Error).message).toMatch(/corrupt (xz|gzip) data/)
    }
  })

  it('says which file cannot be opened', async () => {
    await expect(openDecompressed(join(tmp.dir, 'missing'))).rejects.toThrow(/missing: cannot open/)
  })

  it('lets several xz streams be open at once (one worker each)', async () => {
    const a = await peek((await openDecompressed(XZ)).chunks)
    const b = await openDecompressed(XZ)
    expect((await bytesOf(b.chunks)).equals(plain)).toBe(true)
    expect((await bytesOf(a.chunks)).equals(plain)).toBe(true)
  })

  it('stops the worker when the reader stops early', async () => {
    const d = await openDecompressed(XZ, { worker: true })
    for await (const c of d.chunks) { expect(c.length).toBeGreaterThan(0); break }
    // Nothing to assert beyond not hanging: an unterminated worker would keep vitest's fork alive.
  })
})
