/**
 * A peer's local identity files: the API token that guards publisher-only
 * operations, and a stable peer id (until libp2p keys replace it).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { PeerError } from './errors.ts'

/**
 * Reads a secret-ish file, creating it with `make()` on first use. The
 * exclusive create (`wx`) means two starts racing on a fresh folder agree
 * on one value instead of overwriting each other.
 */
async function readOrCreate (file: string, make: () => string, mode: number): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await mkdir(dirname(file), { recursive: true })
  const value = make()
  try {
    await writeFile(file, value + '\n', { mode, flag: 'wx' })
    // The umask may have narrowed the mode, never widened it; chmod makes it exact.
    await chmod(file, mode)
    return value
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return (await readFile(file, 'utf8')).trim()
    throw err
  }
}

/** DATA/api-token: 32 random bytes in hex, owner-only (0600). */
export async function loadApiToken (file: string): Promise<string> {
  const token = await readOrCreate(file, () => randomBytes(32).toString('hex'), 0o600)
  if (token.length < 32) throw new PeerError(`${file} holds no usable token (expected 64 hex digits); delete it to get a new one`, 'UNAVAILABLE')
  return token
}

/** DATA/peer-id: a random, stable id (`peer-` + 32 hex digits). */
export async function loadPeerId (file: string): Promise<string> {
  return await readOrCreate(file, () => `peer-${randomBytes(16).toString('hex')}`, 0o644)
}

/** Constant-time token check; an optional `Bearer ` prefix is accepted. */
export function tokenMatches (expected: string, given: string | undefined): boolean {
  if (given === undefined) return false
  const t = given.startsWith('Bearer ') ? given.slice(7).trim() : given.trim()
  const a = Buffer.from(expected); const b = Buffer.from(t)
  return a.length === b.length && timingSafeEqual(a, b)
}
