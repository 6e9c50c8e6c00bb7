/**
 * The publisher's Ed25519 key is the root of trust of the index. Mirrors
 * hold a certificate (the publisher's signature over their peer id) that lets
 * them serve as index peers; batches and catalogs travel in envelopes signed by
 * the publisher, addressed to one peer, with a nonce and an expiry so a
 * recorded batch cannot be replayed to that peer or to another.
 *
 * Signatures are checked with node:crypto directly (not the libp2p key's
 * `verify`, typed `boolean | Promise<boolean>`) so that verification is
 * synchronous: membership checks certificates inside gossip handlers.
 */
import * as nodeCrypto from 'node:crypto'
import { mkdir, open, readFile, link, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import type { Ed25519PeerId, PeerId, PrivateKey } from '@libp2p/interface'
import { EdosError } from '../xml-twig-index/errors.ts'
import { BadSignatureError, CertificateError, ProtocolError, ReplayError } from './errors.ts'
import type { MirrorCertificate } from './types.ts'

/** A key or publisher-id file that is missing, unreadable or holds something else. */
export class KeyFileError extends EdosError {
  constructor (message: string, readonly file: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, 'ERR_KEY_FILE', options)
    this.name = 'KeyFileError'
  }
}

const utf8 = new TextEncoder()
const YEAR_MS = 365 * 24 * 3600 * 1000

// ---------------------------------------------------------------- key files

/**
 * Reads this peer's Ed25519 private key (protobuf bytes), or creates one.
 * Creation writes a temporary file and links it into place, so a crash never
 * leaves a half-written key and two processes starting at once end up with the
 * same identity.
 */
export async function loadOrCreatePrivateKey (file: string): Promise<PrivateKey> {
  const existing = await readKeyFile(file)
  if (existing != null) return existing
  try {
    return await createKeyFile(file)
  } catch (err) {
    if (err instanceof KeyFileError) throw err
    throw new KeyFileError('cannot create the private key', file, { cause: err })
  }
}

async function createKeyFile (file: string): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  const tmp = `${file}.${process.pid}.${nodeCrypto.randomBytes(6).toString('hex')}.tmp`
  await writeDurably(tmp, privateKeyToProtobuf(key), 0o600)
  try {
    await link(tmp, file)
  } catch (err) {
    if (errno(err) !== 'EEXIST') {
      // Filesystems without hard links: a plain rename (last writer wins, still never half-written).
      await rename(tmp, file)
      return key
    }
    const winner = await readKeyFile(file)
    if (winner == null) throw new KeyFileError('private key file appeared and vanished while creating it', file, { cause: err })
    return winner
  } finally {
    await unlink(tmp).catch(() => {})
  }
  return key
}

async function readKeyFile (file: string): Promise<PrivateKey | null> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(file)
  } catch (err) {
    if (errno(err) === 'ENOENT') return null
    throw new KeyFileError('cannot read the private key', file, { cause: err })
  }
  let key: PrivateKey
  try {
    key = privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new KeyFileError(`not a libp2p private key (protobuf, ${bytes.length} bytes)`, file, { cause: err })
  }
  if (key.type !== 'Ed25519') throw new KeyFileError(`holds a ${key.type} key, expected Ed25519`, file)
  return key
}

/** Writes the publisher's peer id (which embeds its public key) for peers to trust. */
export async function writePublisherKey (file: string, peerId: PeerId | string): Promise<void> {
  const id = ed25519PeerId(peerId, `publisher ${String(peerId)}`)
  await mkdir(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.${nodeCrypto.randomBytes(6).toString('hex')}.tmp`
  await writeDurably(tmp, utf8.encode(id.toString() + '\n'), 0o644)
  await rename(tmp, file)
}

/** Reads the publisher's peer id written by `writePublisherKey` (or by hand: surrounding whitespace is fine). */
export async function readPublisherKey (file: string): Promise<Ed25519PeerId> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    throw new KeyFileError(errno(err) === 'ENOENT' ? 'publisher key file not found' : 'cannot read the publisher key', file, { cause: err })
  }
  const s = text.trim()
  let id: PeerId
  try {
    id = peerIdFromString(s)
  } catch (err) {
    throw new KeyFileError(`not a peer id: ${JSON.stringify(s.slice(0, 80))}`, file, { cause: err })
  }
  if (id.type !== 'Ed25519') throw new KeyFileError(`publisher ${s} is a ${id.type} peer id, expected Ed25519 (its id embeds the public key)`, file)
  return id
}

async function writeDurably (file: string, bytes: Uint8Array, mode: number): Promise<void> {
  const fh = await open(file, 'wx', mode)
  try {
    await fh.writeFile(bytes)
    await fh.sync()
  } finally {
    await fh.close()
  }
}

function errno (err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code
}

// ---------------------------------------------------------------- signatures

function ed25519PeerId (peer: PeerId | string, what: string): Ed25519PeerId {
  let id: PeerId
  try {
    id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  } catch (err) {
    throw new TypeError(`${what} is not a peer id`, { cause: err })
  }
  if (id.type !== 'Ed25519') throw new TypeError(`${what} is a ${id.type} peer id, expected Ed25519`)
  return id
}

// KeyObjects are cached by peer id: the same publisher key verifies every batch.
const keyCache = new Map<string, nodeCrypto.KeyObject>()

function verifyBy (peer: Ed25519PeerId, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.length !== 64) return false
  const name = peer.toString()
  let key = keyCache.get(name)
  if (key === undefined) {
    key = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(peer.publicKey.raw).toString('base64url') }, format: 'jwk' })
    if (keyCache.size >= 256) keyCache.clear()
    keyCache.set(name, key)
  }
  return nodeCrypto.verify(null, data, key, signature)
}

async function signBy (key: PrivateKey, data: Uint8Array): Promise<string> {
  if (key.type !== 'Ed25519') throw new TypeError(`signing needs an Ed25519 key, got ${key.type}`)
  return Buffer.from(await key.sign(data)).toString('base64url')
}

const B64URL = /^[A-Za-z0-9_-]*$/

/** The 64 bytes of a base64url Ed25519 signature, or null when it cannot be one. */
function signatureBytes (s: unknown): Uint8Array | null {
  if (typeof s !== 'string' || s.length !== 86 || !B64URL.test(s)) return null
  return Buffer.from(s, 'base64url')
}

/** An ISO time in the exact form `toISOString` prints, so the signed bytes have one spelling. */
function isoTime (s: unknown): number | null {
  if (typeof s !== 'string') return null
  const ms = Date.parse(s)
  return Number.isFinite(ms) && new Date(ms).toISOString() === s ? ms : null
}

// ---------------------------------------------------------------- certificates

const CERT_DOMAIN = 'edos-mirror-cert/1\n'

function certificateBytes (c: Omit<MirrorCertificate, 'signature'>): Uint8Array {
  return utf8.encode(`${CERT_DOMAIN}publisher=${c.publisher}\nmirror=${c.mirror}\nissued=${c.issued}\nexpires=${c.expires}\n`)
}

/** The publisher vouches for `mirror` as an index peer until now + ttlMs. */
export async function issueCertificate (publisherKey: PrivateKey, mirror: PeerId | string, ttlMs = YEAR_MS, now = new Date()): Promise<MirrorCertificate> {
  if (!(ttlMs > 0)) throw new RangeError(`certificate ttl must be positive, got ${ttlMs}`)
  const publisher = peerIdFromPrivateKey(publisherKey).toString()
  const fields = {
    publisher,
    mirror: ed25519PeerId(mirror, `mirror ${String(mirror)}`).toString(),
    issued: now.toISOString(),
    expires: new Date(now.getTime() + ttlMs).toISOString()
  }
  return { ...fields, signature: await signBy(publisherKey, certificateBytes(fields)) }
}

/**
 * Checks a certificate received from anywhere (gossip, a file, a frame) and
 * returns a clean copy. Order matters: the signature is checked before the
 * expiry, so "expired" is only ever said of a certificate the publisher did sign.
 */
export function verifyCertificate (cert: unknown, publisher: PeerId | string, expectedMirror?: string, now = new Date()): MirrorCertificate {
  if (cert == null || typeof cert !== 'object' || Array.isArray(cert)) throw new CertificateError('certificate is not an object')
  const c = cert as Record<string, unknown>
  for (const f of ['publisher', 'mirror', 'issued', 'expires', 'signature'] as const) {
    if (typeof c[f] !== 'string') throw new CertificateError(`certificate field ${f} is missing or not a string`)
  }
  const fields = { publisher: c.publisher as string, mirror: c.mirror as string, issued: c.issued as string, expires: c.expires as string }
  const pub = ed25519PeerId(publisher, 'the trusted publisher')
  if (fields.publisher !== pub.toString()) {
    throw new CertificateError(`certificate issued by ${fields.publisher.slice(0, 64)}, not by the publisher ${pub.toString()}`, 'ERR_CERT_WRONG_PUBLISHER')
  }
  let mirror: PeerId
  try { mirror = peerIdFromString(fields.mirror) } catch { throw new CertificateError(`certificate mirror ${JSON.stringify(fields.mirror.slice(0, 64))} is not a peer id`) }
  if (mirror.toString() !== fields.mirror) throw new CertificateError(`certificate mirror ${fields.mirror} is not in canonical form`)
  if (expectedMirror !== undefined && fields.mirror !== expectedMirror) {
    throw new CertificateError(`certificate is for ${fields.mirror}, not for ${expectedMirror}`)
  }
  const issued = isoTime(fields.issued)
  const expires = isoTime(fields.expires)
  if (issued == null || expires == null) throw new CertificateError('certificate times are not ISO times (toISOString form)')
  if (expires < issued) throw new CertificateError('certificate expires before it was issued')
  const sig = signatureBytes(c.signature)
  if (sig == null || !verifyBy(pub, certificateBytes(fields), sig)) {
    throw new CertificateError(`certificate signature for mirror ${fields.mirror} does not verify`)
  }
  if (now.getTime() > expires) throw new CertificateError(`certificate of mirror ${fields.mirror} expired at ${fields.expires}`, 'ERR_CERT_EXPIRED')
  return { ...fields, signature: c.signature as string }
}

// ---------------------------------------------------------------- envelopes

/**
 * A signed message: a JSON header and binary parts carried beside it (in a
 * wire frame: the envelope is the frame header, the parts are its parts).
 * The signature covers the kind, the signer, the canonical JSON of the header
 * and the sha256 of each part, so parts never have to be re-encoded as JSON.
 */
export interface SignedEnvelope {
  kind: string
  header: Record<string, unknown>
  /** Peer id of the signer. */
  signer: string
  /** base64url Ed25519 signature. */
  signature: string
}

const ENVELOPE_DOMAIN = 'edos-envelope/1\n'
const KIND = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$/

/**
 * JSON with object keys sorted at every depth: the one spelling of a value
 * that both signer and verifier compute. Keys whose value is undefined are
 * dropped (as JSON.stringify does); other non-JSON values are refused.
 */
export function canonicalJson (value: unknown): string {
  // A value whose objects already list their keys in sorted order (what a verifier builds, and what JSON.parse gives back of
  // canonical JSON) is spelled canonically by the native JSON.stringify: checking that is a walk, much cheaper than building
  // the string here (a 1,000-unit notification: ~4.5 ms this way round, ~1 ms checked and stringified).
  return inCanonicalOrder(value) ? JSON.stringify(value) : canonicalSpelling(value)
}

/** True when JSON.stringify spells `value` canonically; throws what canonicalJson throws for a value JSON cannot carry. */
function inCanonicalOrder (value: unknown): boolean {
  switch (typeof value) {
    case 'string': case 'boolean': return true
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${value}`)
      return true
    case 'object': {
      if (value === null) return true
      let ordered = true
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          if (!(i in value)) return false
          if (!inCanonicalOrder(value[i])) ordered = false
        }
        return ordered
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) throw new TypeError(`canonical JSON takes plain objects, got ${(proto as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'an object'}`)
      const o = value as Record<string, unknown>
      let previous: string | undefined
      for (const k in o) {
        if (!Object.hasOwn(o, k)) continue
        const v = o[k]
        if (v === undefined || (previous !== undefined && !(previous < k))) ordered = false
        else if (!inCanonicalOrder(v)) ordered = false
        previous = k
      }
      return ordered
    }
  }
  throw new TypeError(`canonical JSON has no ${typeof value}`)
}

/**
 * The canonical spelling built key by key (objects whose keys are not in
 * order). It recurses into itself, not canonicalJson: a walk per level
 * would cost depth^2 on a deep value (headers are canonicalised before
 * their signature is checked, so a hostile one gets here).
 */
function canonicalSpelling (value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`canonical JSON has no ${value}`)
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) return '[' + value.map(canonicalSpelling).join(',') + ']'
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) throw new TypeError(`canonical JSON takes plain objects, got ${proto?.constructor?.name ?? 'an object'}`)
    const o = value as Record<string, unknown>
    const keys = Object.keys(o).filter(k => o[k] !== undefined).sort()
    return '{' + keys.map(k => JSON.stringify(k) + ':' + canonicalSpelling(o[k])).join(',') + '}'
  }
  throw new TypeError(`canonical JSON has no ${typeof value}`)
}

function envelopeBytes (kind: string, signer: string, headerJson: string, parts: readonly Uint8Array[]): Uint8Array {
  const head = utf8.encode(`${ENVELOPE_DOMAIN}${kind}\n${signer}\n${headerJson}\n${parts.length}\n`)
  const out = new Uint8Array(head.length + 32 * parts.length)
  out.set(head)
  parts.forEach((p, i) => out.set(nodeCrypto.createHash('sha256').update(p).digest(), head.length + 32 * i))
  return out
}

/** Signs a header and parts. The returned header is the JSON form the receiver will see. */
export async function signEnvelope (key: PrivateKey, kind: string, header: Record<string, unknown>, parts: readonly Uint8Array[] = []): Promise<SignedEnvelope> {
  const json = canonicalJson(header)
  const { signer, signature } = await signCanonical(key, kind, json, parts)
  return { kind, header: JSON.parse(json) as Record<string, unknown>, signer, signature }
}

/** Only the signature signEnvelope would give (for callers that send the header as they hold it: no parse of it back). */
export async function signatureOf (key: PrivateKey, kind: string, header: Record<string, unknown>, parts: readonly Uint8Array[] = []): Promise<string> {
  return (await signCanonical(key, kind, canonicalJson(header), parts)).signature
}

async function signCanonical (key: PrivateKey, kind: string, json: string, parts: readonly Uint8Array[]): Promise<{ signer: string, signature: string }> {
  if (!KIND.test(kind)) throw new TypeError(`bad envelope kind ${JSON.stringify(kind)}`)
  const signer = peerIdFromPrivateKey(key).toString()
  return { signer, signature: await signBy(key, envelopeBytes(kind, signer, json, parts)) }
}

/**
 * Checks that `env` (as received, untrusted) is of `expectedKind` and was
 * signed by the publisher over exactly this header and these parts. Returns
 * the envelope typed; does not check delivery fields (see ReplayGuard).
 */
export function verifyEnvelope (env: unknown, parts: readonly Uint8Array[], publisher: PeerId | string, expectedKind: string): SignedEnvelope {
  if (env == null || typeof env !== 'object' || Array.isArray(env)) throw new ProtocolError('signed envelope is not an object')
  const e = env as Record<string, unknown>
  if (typeof e.kind !== 'string') throw new ProtocolError('signed envelope has no kind')
  if (e.kind !== expectedKind) throw new ProtocolError(`signed envelope is a ${JSON.stringify(e.kind.slice(0, 64))}, expected ${expectedKind}`)
  if (typeof e.signer !== 'string') throw new ProtocolError('signed envelope has no signer')
  if (e.header == null || typeof e.header !== 'object' || Array.isArray(e.header)) throw new ProtocolError('signed envelope header is not an object')
  const pub = ed25519PeerId(publisher, 'the trusted publisher')
  if (e.signer !== pub.toString()) throw new BadSignatureError(`${expectedKind} signed by ${e.signer.slice(0, 64)}, not by the publisher ${pub.toString()}`)
  const sig = signatureBytes(e.signature)
  let json: string
  try { json = canonicalJson(e.header) } catch (err) { throw new ProtocolError(`signed envelope header: ${(err as Error).message}`) }
  if (sig == null || !verifyBy(pub, envelopeBytes(e.kind, e.signer, json, parts), sig)) {
    throw new BadSignatureError(`${expectedKind} signature does not verify (altered header or parts, or another key)`)
  }
  return { kind: e.kind, header: e.header as Record<string, unknown>, signer: e.signer, signature: e.signature as string }
}

// ---------------------------------------------------------------- delivery and replay

/** Header fields that bind an envelope to one receiver and one short window (a type, not an interface, so it spreads into a header record). */
export type DeliveryFields = {
  /** Peer id of the receiver. */
  target: string
  /** 16 random bytes, base64url. */
  nonce: string
  /** ISO time after which the receiver refuses it. */
  expires: string
}

export function deliveryFields (target: string, ttlMs = 5 * 60_000, now = Date.now()): DeliveryFields {
  return { target, nonce: nodeCrypto.randomBytes(16).toString('base64url'), expires: new Date(now + ttlMs).toISOString() }
}

export interface ReplayGuardOptions {
  /** Refuse envelopes that expire further ahead than this (bounds how long a nonce is kept). Default 1 hour. */
  maxTtlMs?: number
  /** Clock difference tolerated between signer and receiver. Default 30 s. */
  skewMs?: number
}

/**
 * Refuses an envelope addressed to another peer, past its expiry, or seen
 * before. Call it after `verifyEnvelope`, or forged envelopes would burn
 * nonces. A nonce is remembered until its envelope expires (+ skew): after
 * that the expiry alone refuses it, so memory holds only live nonces.
 */
export class ReplayGuard {
  private readonly seen = new Map<string, number>()
  private readonly maxTtlMs: number
  private readonly skewMs: number
  private sweepAtSize = 1024
  private lastSweep = 0

  constructor (options: ReplayGuardOptions = {}) {
    this.maxTtlMs = options.maxTtlMs ?? 3600_000
    this.skewMs = options.skewMs ?? 30_000
  }

  /** Nonces currently remembered. */
  get size (): number { return this.seen.size }

  check (env: Pick<SignedEnvelope, 'kind' | 'header'>, self: string, now = Date.now()): void {
    const h = env.header
    const what = env.kind
    if (typeof h.target !== 'string') throw new ProtocolError(`${what} has no target`)
    if (typeof h.nonce !== 'string' || h.nonce.length !== 22 || !B64URL.test(h.nonce)) throw new ProtocolError(`${what} has no nonce (16 bytes, base64url)`)
    const expires = typeof h.expires === 'string' ? Date.parse(h.expires) : NaN
    if (!Number.isFinite(expires)) throw new ProtocolError(`${what} has no expiry (ISO time)`)
    if (h.target !== self) throw new ReplayError(`${what} is addressed to ${h.target.slice(0, 64)}, not to ${self}`)
    if (now > expires + this.skewMs) throw new ReplayError(`${what} expired at ${h.expires as string}`)
    if (expires - now > this.maxTtlMs + this.skewMs) throw new ReplayError(`${what} expires at ${h.expires as string}, further ahead than ${this.maxTtlMs} ms`)
    this.sweep(now)
    const prev = this.seen.get(h.nonce)
    if (prev !== undefined && prev >= now) throw new ReplayError(`${what} with nonce ${h.nonce} was already received`)
    this.seen.set(h.nonce, expires + this.skewMs)
  }

  // Sweeps when the map doubled or once a minute: amortised O(1) per check.
  private sweep (now: number): void {
    if (this.seen.size < this.sweepAtSize && now - this.lastSweep < 60_000) return
    for (const [nonce, until] of this.seen) if (until < now) this.seen.delete(nonce)
    this.lastSweep = now
    this.sweepAtSize = Math.max(1024, this.seen.size * 2)
  }
}
