import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import {
  KeyFileError, ReplayGuard, canonicalJson, deliveryFields, issueCertificate, loadOrCreatePrivateKey, readPublisherKey,
  signEnvelope, verifyCertificate, verifyEnvelope, writePublisherKey, type SignedEnvelope
} from '../../src/dht/trust.ts'
import { BadSignatureError, CertificateError, ProtocolError, ReplayError } from '../../src/dht/errors.ts'
import { decodeFrame, encodeFrame } from '../../src/dht/wire.ts'
import type { MirrorCertificate } from '../../src/dht/types.ts'

let dir: string
let publisher: PrivateKey
let other: PrivateKey
let mirror: string
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'edos-trust-'))
  publisher = await generateKeyPair('Ed25519')
  other = await generateKeyPair('Ed25519')
  mirror = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const pubId = (): ReturnType<typeof peerIdFromPrivateKey> => peerIdFromPrivateKey(publisher)

async function rejects (p: Promise<unknown> | (() => unknown), cls: new (...a: never[]) => Error, code?: string): Promise<Error> {
  let err: unknown
  try { await (typeof p === 'function' ? p() : p) } catch (e) { err = e }
  expect(err).toBeInstanceOf(cls)
  if (code !== undefined) expect((err as { code: string }).code).toBe(code)
  return err as Error
}

describe('key files', () => {
  it('creates an Ed25519 key with mode 0600 in a new folder, then loads the same key', async () => {
    const file = join(dir, 'a', 'b', 'peer.key')
    const k1 = await loadOrCreatePrivateKey(file)
    expect(k1.type).toBe('Ed25519')
    if (process.platform !== 'win32') expect((await stat(file)).mode & 0o777).toBe(0o600)
    const k2 = await loadOrCreatePrivateKey(file)
    expect(k2.equals(k1)).toBe(true)
  })

  it('gives one identity to concurrent creators', async () => {
    const file = join(dir, 'race', 'peer.key')
    const keys = await Promise.all(Array.from({ length: 6 }, async () => await loadOrCreatePrivateKey(file)))
    const ids = new Set(keys.map(k => peerIdFromPrivateKey(k).toString()))
    expect(ids.size).toBe(1)
    expect(peerIdFromPrivateKey(await loadOrCreatePrivateKey(file)).toString()).toBe([...ids][0])
  })

  it('refuses a corrupt key file, naming it', async () => {
    const file = join(dir, 'corrupt.key')
    await writeFile(file, 'not a key')
    const err = await rejects(loadOrCreatePrivateKey(file), KeyFileError, 'ERR_KEY_FILE')
    expect(err.message).toContain(file)
    expect(await readFile(file, 'utf8')).toBe('not a key')
  })

  it('names the file when it cannot be created', async () => {
    const blocker = join(dir, 'blocker')
    await writeFile(blocker, 'a file, not a folder')
    const err = await rejects(loadOrCreatePrivateKey(join(blocker, 'peer.key')), KeyFileError, 'ERR_KEY_FILE')
    expect(err.message).toContain(join(blocker, 'peer.key'))
  })

  it('writes and reads the publisher id, tolerating whitespace', async () => {
    const file = join(dir, 'pub', 'publisher.id')
    await writePublisherKey(file, pubId())
    expect((await readPublisherKey(file)).toString()).toBe(pubId().toString())
    await writeFile(file, `\n  ${pubId().toString()} \r\n\n`)
    const id = await readPublisherKey(file)
    expect(id.equals(pubId())).toBe(true)
    expect(id.publicKey.raw).toEqual(publisher.publicKey.raw)
    await writePublisherKey(file, peerIdFromPrivateKey(other).toString())
    expect((await readPublisherKey(file)).toString()).toBe(peerIdFromPrivateKey(other).toString())
  })

  it('refuses bad publisher files, naming them', async () => {
    const file = join(dir, 'bad.id')
    await writeFile(file, 'garbage!')
    expect((await rejects(readPublisherKey(file), KeyFileError, 'ERR_KEY_FILE')).message).toContain(file)
    await writeFile(file, '')
    await rejects(readPublisherKey(file), KeyFileError)
    const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
    await writeFile(file, secp)
    expect((await rejects(readPublisherKey(file), KeyFileError)).message).toMatch(/Ed25519/)
    expect((await rejects(readPublisherKey(join(dir, 'missing.id')), KeyFileError)).message).toMatch(/missing\.id.*not found/)
    await rejects(writePublisherKey(file, secp), TypeError)
  })
})

describe('mirror certificates', () => {
  const now = new Date('2030-01-01T00:00:00.000Z')
  let cert: MirrorCertificate
  beforeAll(async () => { cert = await issueCertificate(publisher, mirror, 3600_000, now) })

  it('verifies a valid certificate, also after a JSON round trip', () => {
    expect(cert).toMatchObject({ publisher: pubId().toString(), mirror, issued: now.toISOString(), expires: '2030-01-01T01:00:00.000Z' })
    expect(verifyCertificate(cert, pubId(), mirror, now)).toEqual(cert)
    expect(verifyCertificate(JSON.parse(JSON.stringify({ ...cert, extra: 1 })), pubId().toString(), undefined, new Date('2030-01-01T00:59:59Z'))).toEqual(cert)
  })

  it('defaults to a one-year validity', async () => {
    const c = await issueCertificate(publisher, mirror, undefined, now)
    expect(c.expires).toBe('2031-01-01T00:00:00.000Z')
  })

  it('refuses an expired certificate', async () => {
    await rejects(() => verifyCertificate(cert, pubId(), mirror, new Date('2030-01-01T01:00:00.001Z')), CertificateError, 'ERR_CERT_EXPIRED')
  })

  it('refuses a certificate from another publisher', async () => {
    const foreign = await issueCertificate(other, mirror, 3600_000, now)
    await rejects(() => verifyCertificate(foreign, pubId(), mirror, now), CertificateError, 'ERR_CERT_WRONG_PUBLISHER')
    // Claiming the publisher's name does not help: the signature is not the publisher's.
    await rejects(() => verifyCertificate({ ...foreign, publisher: pubId().toString() }, pubId(), mirror, now), CertificateError, 'ERR_CERT_INVALID')
  })

  it('refuses altered fields and bad signatures', async () => {
    const otherMirror = peerIdFromPrivateKey(other).toString()
    for (const altered of [
      { ...cert, mirror: otherMirror },
      { ...cert, expires: '2040-01-01T00:00:00.000Z' },
      { ...cert, issued: '2029-12-31T00:00:00.000Z' },
      { ...cert, signature: cert.signature.slice(0, -2) + (cert.signature.endsWith('AA') ? 'BA' : 'AA') },
      { ...cert, signature: cert.signature.slice(0, 40) },
      { ...cert, signature: '!'.repeat(86) }
    ]) {
      await rejects(() => verifyCertificate(altered, pubId(), undefined, now), CertificateError, 'ERR_CERT_INVALID')
    }
  })

  it('refuses a certificate for another mirror than expected', async () => {
    const err = await rejects(() => verifyCertificate(cert, pubId(), peerIdFromPrivateKey(other).toString(), now), CertificateError, 'ERR_CERT_INVALID')
    expect(err.message).toMatch(/not for/)
  })

  it('refuses garbage', async () => {
    for (const g of [null, undefined, 'cert', 42, [], {}, { ...cert, mirror: 'nope' }, { ...cert, expires: 'tomorrow' },
      { ...cert, expires: '2030-01-01T01:00:00Z' }, { ...cert, issued: 5 }, { ...cert, signature: undefined },
      { ...cert, expires: '2029-01-01T00:00:00.000Z' }]) {
      await rejects(() => verifyCertificate(g, pubId(), undefined, now), CertificateError, 'ERR_CERT_INVALID')
    }
  })
})

describe('signed envelopes', () => {
  const parts = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(1000).fill(7)]
  const header = { b: [1, { z: 'é', a: null }], a: { y: true, x: 2.5 }, skipped: undefined }

  it('canonical JSON sorts keys at every depth and refuses non-JSON values', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { f: 1, e: 2 }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"e":2,"f":1}]},"b":1}')
    for (const bad of [Number.NaN, Infinity, new Date(), [undefined], () => 1, 1n, new Uint8Array(1)]) expect(() => canonicalJson(bad)).toThrow(TypeError)
  })

  it('canonical JSON is the same string whether keys come sorted (native stringify) or not (built key by key)', () => {
    // The reference: every object's keys sorted, undefined values dropped, built by hand.
    const reference = (v: unknown): string => {
      if (Array.isArray(v)) return '[' + v.map(reference).join(',') + ']'
      if (v !== null && typeof v === 'object') {
        const o = v as Record<string, unknown>
        return '{' + Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => JSON.stringify(k) + ':' + reference(o[k])).join(',') + '}'
      }
      return JSON.stringify(v)
    }
    let seed = 7
    const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
    const keys = ['a', 'b', 'Z', '10', '9', '__proto__', 'é', 'aa', '', 'k\u0000']
    const value = (depth: number): unknown => {
      switch (depth > 3 ? rand(4) : rand(7)) {
        case 0: return rand(2) === 0 ? -rand(1000) / 7 : rand(100)
        case 1: return ['x', 'é"\\', '', '\u2028'][rand(4)]
        case 2: return rand(3) === 0 ? null : rand(2) === 0
        case 3: return -0
        case 4: return Array.from({ length: rand(4) }, () => value(depth + 1))
        default: {
          const o: Record<string, unknown> = rand(4) === 0 ? Object.create(null) as Record<string, unknown> : {}
          const ks = keys.filter(() => rand(2) === 0)
          if (rand(2) === 0) ks.sort()
          for (const k of ks) Object.defineProperty(o, k, { value: rand(8) === 0 ? undefined : value(depth + 1), enumerable: true, writable: true, configurable: true })
          return o
        }
      }
    }
    for (let i = 0; i < 2000; i++) {
      const v = value(0)
      expect(canonicalJson(v)).toBe(reference(v))
      // What JSON.parse gives back of canonical JSON is in canonical order: the native spelling is taken, and is the same.
      const again = JSON.parse(reference(v)) as unknown
      expect(canonicalJson(again)).toBe(reference(v))
    }
    // a deep chain whose disorder is at the bottom is spelled in one walk, not a walk per level
    // (each object counts its key listings: a walk per level would list a chain's objects depth/2 times each)
    let listings = 0
    const counted = (o: Record<string, unknown>): Record<string, unknown> => new Proxy(o, { ownKeys: (t) => { listings++; return Reflect.ownKeys(t) } })
    let deep = counted({ b: 0, a: 0 })
    for (let i = 0; i < 1000; i++) deep = counted({ a: deep })
    expect(canonicalJson(deep)).toBe('{"a":'.repeat(1000) + '{"a":0,"b":0}' + '}'.repeat(1000))
    expect(listings).toBeLessThanOrEqual(3 * 1001)
    expect(() => canonicalJson({ a: 1, b: { c: [1, Number.NaN] } })).toThrow(TypeError)
    expect(() => canonicalJson({ a: 1, b: [new Map()] })).toThrow(TypeError)
  })

  it('verifies through JSON and a wire frame, whatever the key order', async () => {
    const env = await signEnvelope(publisher, 'batch', header, parts)
    expect(env.signer).toBe(pubId().toString())
    expect(env.header).toEqual({ a: { x: 2.5, y: true }, b: [1, { a: null, z: 'é' }] })
    const frame = decodeFrame(encodeFrame(env, parts))
    expect(verifyEnvelope(frame.header, frame.parts, pubId(), 'batch')).toEqual(env)
    const reordered = { ...env, header: { b: [1, { a: null, z: 'é' }], a: { y: true, x: 2.5 } } }
    expect(() => verifyEnvelope(reordered, parts, pubId().toString(), 'batch')).not.toThrow()
  })

  it('refuses an altered header or part, and missing or extra parts', async () => {
    const env = await signEnvelope(publisher, 'batch', header, parts)
    const tamper: Array<[unknown, Uint8Array[]]> = [
      [{ ...env, header: { ...env.header, a: { x: 2.5, y: false } } }, parts],
      [{ ...env, header: { ...env.header, c: 1 } }, parts],
      [env, [parts[0], parts[1], new Uint8Array(1000).fill(8)]],
      [env, parts.slice(0, 2)],
      [env, [...parts, new Uint8Array(0)]],
      [env, [parts[1], parts[0], parts[2]]],
      [{ ...env, signature: env.signature.replace(/^./, c => c === 'A' ? 'B' : 'A') }, parts],
      [{ ...env, signature: 'short' }, parts]
    ]
    for (const [e, p] of tamper) await rejects(() => verifyEnvelope(e, p, pubId(), 'batch'), BadSignatureError, 'ERR_BAD_SIGNATURE')
  })

  it('refuses another signer, even under the publisher name', async () => {
    const env = await signEnvelope(other, 'batch', header, parts)
    await rejects(() => verifyEnvelope(env, parts, pubId(), 'batch'), BadSignatureError)
    await rejects(() => verifyEnvelope({ ...env, signer: pubId().toString() }, parts, pubId(), 'batch'), BadSignatureError)
  })

  it('refuses another kind and malformed envelopes', async () => {
    const env = await signEnvelope(publisher, 'catalog', { seq: 1 })
    await rejects(() => verifyEnvelope(env, [], pubId(), 'batch'), ProtocolError)
    for (const g of [null, 'x', [], { kind: 'catalog' }, { ...env, header: [] }, { ...env, signer: 3 }, { ...env, header: { n: Number.NaN } }]) {
      await rejects(() => verifyEnvelope(g, [], pubId(), 'catalog'), ProtocolError)
    }
    await rejects(signEnvelope(publisher, 'bad kind\n', {}), TypeError)
  })
})

describe('ReplayGuard', () => {
  const self = 'me'
  const now = Date.parse('2030-01-01T00:00:00Z')
  const env = (h: Record<string, unknown>): Pick<SignedEnvelope, 'kind' | 'header'> => ({ kind: 'batch', header: h })

  it('accepts once, then refuses the same nonce', () => {
    const g = new ReplayGuard()
    const d = deliveryFields(self, 60_000, now)
    expect(d.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/)
    g.check(env({ ...d, op: 'append' }), self, now)
    g.check(env(deliveryFields(self, 60_000, now)), self, now)
    expect(() => g.check(env(d), self, now + 1000)).toThrow(ReplayError)
  })

  it('refuses another target, an expired envelope and a far expiry', () => {
    const g = new ReplayGuard({ skewMs: 1000, maxTtlMs: 600_000 })
    expect(() => g.check(env(deliveryFields('you', 60_000, now)), self, now)).toThrow(/addressed to you/)
    expect(() => g.check(env(deliveryFields(self, 60_000, now)), self, now + 61_001)).toThrow(ReplayError)
    g.check(env(deliveryFields(self, 60_000, now)), self, now + 60_999)
    expect(() => g.check(env(deliveryFields(self, 3600_000, now)), self, now)).toThrow(ReplayError)
  })

  it('refuses envelopes without delivery fields', () => {
    const g = new ReplayGuard()
    const d = deliveryFields(self, 60_000, now)
    for (const h of [{ ...d, target: undefined }, { ...d, nonce: 'abc' }, { ...d, nonce: 5 }, { ...d, expires: 'soon' }, {}]) {
      expect(() => g.check(env(h), self, now)).toThrow(ProtocolError)
    }
  })

  it('forgets nonces once they expire', () => {
    const g = new ReplayGuard({ skewMs: 0 })
    for (let i = 0; i < 5000; i++) g.check(env(deliveryFields(self, 1000, now)), self, now)
    expect(g.size).toBe(5000)
    const later = now + 120_000
    g.check(env(deliveryFields(self, 1000, later)), self, later)
    expect(g.size).toBe(1)
    // Memory stays bounded under a steady stream of short-lived envelopes.
    let max = 0
    for (let i = 0; i < 20_000; i++) {
      const t = later + i * 10
      g.check(env(deliveryFields(self, 1000, t)), self, t)
      max = Math.max(max, g.size)
    }
    expect(max).toBeLessThan(2100)
  })
})
