import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PublishSource } from '../../src/actors/index.ts'

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures')

/** A minimal Debian Packages stanza (what a publisher uploads for a small update). */
export function stanza (name: string, version: string, init: { section?: string, arch?: string, size?: number, depends?: string, description?: string } = {}): string {
  const arch = init.arch ?? 'all'
  const sha = createHash('sha256').update(`${name} ${version} ${arch}`).digest('hex')
  return [
    `Package: ${name}`, `Version: ${version}`, `Architecture: ${arch}`, `Section: ${init.section ?? 'misc'}`,
    ...(init.depends !== undefined ? [`Depends: ${init.depends}`] : []),
    `Description: ${init.description ?? `the ${name} package`}`,
    `Filename: pool/main/${name[0]}/${name}/${name}_${version}_${arch}.deb`, `Size: ${init.size ?? 1000}`, `SHA256: ${sha}`
  ].join('\n') + '\n'
}

export function upload (name: string, text: string): PublishSource {
  return { kind: 'upload', name, bytes: async () => new TextEncoder().encode(text) }
}

export async function tempDir (label: string): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `edos-${label}-`))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

/** Takes items from an async iterator until `done` says so (or `max` items), with a timeout. */
export async function take<T> (it: AsyncIterator<T>, count: number, ms = 10_000): Promise<T[]> {
  const out: T[] = []
  const deadline = Date.now() + ms
  while (out.length < count) {
    const left = deadline - Date.now()
    if (left <= 0) throw new Error(`timed out after ${out.length} of ${count} items`)
    const r = await Promise.race([it.next(), new Promise<'timeout'>((resolve) => setTimeout(() => { resolve('timeout') }, left))])
    if (r === 'timeout') throw new Error(`timed out after ${out.length} of ${count} items`)
    if (r.done === true) break
    out.push(r.value)
  }
  return out
}
