import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { UnitContent } from '../../src/torrents/index.ts'

export async function tempDir (what: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `edos-${what}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** A file of random bytes and the metadata that describes it. */
export async function randomUnit (dir: string, name: string, size: number): Promise<{ file: string, unit: UnitContent, bytes: Buffer }> {
  const bytes = randomBytes(size)
  const file = join(dir, name)
  await writeFile(file, bytes)
  return { file, bytes, unit: { unit: `util/${name}/1`, sha256: createHash('sha256').update(bytes).digest('hex'), size, name } }
}
