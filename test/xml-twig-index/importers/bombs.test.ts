import { gzipSync, zstdCompressSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { decompressBuffer } from '../../../src/xml-twig-index/importers/decompress.ts'
import { ImportError } from '../../../src/xml-twig-index/errors.ts'

describe('decompressBuffer bounds', () => {
  const zeros = new Uint8Array(8 * 1024 * 1024)

  it('stops a gzip member that expands past the bound', async () => {
    const bomb = gzipSync(zeros)
    expect(bomb.length).toBeLessThan(64 * 1024)
    await expect(decompressBuffer(bomb, 'control.tar.gz', 1024 * 1024)).rejects.toThrow(ImportError)
    expect((await decompressBuffer(bomb, 'control.tar.gz')).length).toBe(zeros.length)
  })

  it.skipIf(typeof zstdCompressSync !== 'function')('stops a zstd member that expands past the bound', async () => {
    const bomb = zstdCompressSync(zeros)
    await expect(decompressBuffer(bomb, 'control.tar.zst', 1024 * 1024)).rejects.toThrow(/expands past/)
  })
})
