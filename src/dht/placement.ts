/**
 * Where keys live, computed locally. Every index peer knows the full set of
 * index peers (membership), so the r closest peers to a key are found without
 * a network lookup per term; kad-dht's `getClosestPeers(key)` answers the same
 * set (it is what a node that lacks membership, or a test, asks).
 *
 * kad-dht does not compare raw keys with raw peer ids: it maps both to a "kad
 * id" first (@libp2p/kad-dht utils `convertBuffer` / `convertPeerId`):
 *   kadId(key)  = sha256(key)
 *   kadId(peer) = sha256(peerId.toMultihash().bytes)
 * and orders peers by XOR of kad ids compared as big-endian bytes
 * (uint8arrays `xorCompare`). We reproduce exactly that. A placement key is
 * the UTF-8 of a text that names what it places (`edos/term/<term>`, ...),
 * not a digest of it: kad-dht hashes it anyway, and a digest first was a
 * second sha256 for each of the ~2 M keys a release places.
 */
import * as nodeCrypto from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { DEFAULT_REPLICAS } from './types.ts'

// crypto.hash (one-shot, no Hash object) arrived in Node 20.12; older runtimes get createHash.
// Strings go to the hash as they are (UTF-8), which skips a TextEncoder copy per key.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array | string, enc: 'buffer') => Buffer }).hash
const digest: (data: Uint8Array | string) => Buffer = typeof oneShot === 'function'
  ? (data) => oneShot('sha256', data, 'buffer')
  : (data) => nodeCrypto.createHash('sha256').update(data).digest()

/** sha256 of bytes or of a UTF-8 string, as a plain Uint8Array (a view, not a copy). */
export function sha256 (data: Uint8Array | string): Uint8Array {
  const b = digest(data)
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function be32 (b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0
}

// Int32Array: the constants stay small integers in V8 (a Uint32Array or plain array yields doubles above 2^31).
const K256 = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
])
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])
const W64 = new Int32Array(64)

const STATE = new Int32Array(8)
const TEXT = new Uint8Array(1024)
const encoder = new TextEncoder()

/** One sha256 compression of the block in w[0..15] into `st`. */
function compress (st: Int32Array, w: Int32Array): void {
  for (let i = 16; i < 64; i++) {
    const a = w[i - 15]
    const b = w[i - 2]
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3)
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10)
    w[i] = (w[i - 16] + s0 + w[i - 7] + s1) | 0
  }
  let a = st[0]; let b = st[1]; let c = st[2]; let d = st[3]; let e = st[4]; let f = st[5]; let g = st[6]; let h = st[7]
  for (let i = 0; i < 64; i++) {
    const t1 = (h + (((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))) + ((e & f) ^ (~e & g)) + K256[i] + w[i]) | 0
    const t2 = ((((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))) + ((a & b) ^ (a & c) ^ (b & c))) | 0
    h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0
  }
  st[0] = (st[0] + a) | 0; st[1] = (st[1] + b) | 0; st[2] = (st[2] + c) | 0; st[3] = (st[3] + d) | 0
  st[4] = (st[4] + e) | 0; st[5] = (st[5] + f) | 0; st[6] = (st[6] + g) | 0; st[7] = (st[7] + h) | 0
}

/** Writes the UTF-8 of `s` (ASCII as is, the rest as TextEncoder encodes it) to TEXT at `at`; returns where it ends. */
function putText (s: string, at: number): number {
  let n = at
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i)
    if (ch > 0x7f) return at + encoder.encodeInto(s, TEXT.subarray(at)).written
    TEXT[n++] = ch
  }
  return n
}

/**
 * Writes the UTF-8 of prefix + s + suffix to TEXT (no string is made of
 * them). Returns its length, or -1 when it might not fit with the padding:
 * the caller hashes natively then.
 */
function textInto (prefix: string, s: string, suffix: string): number {
  if ((prefix.length + s.length + suffix.length) * 3 + 72 > TEXT.length) return -1
  return putText(suffix, putText(s, putText(prefix, 0)))
}

/**
 * sha256 of TEXT[0, n) into STATE (TEXT has room for the padding: see
 * textInto). In JS: a publish places millions of short keys, and the native
 * one-shot hash costs ~4x this, mostly in call overhead and the Buffer it
 * allocates. Checked against node:crypto in tests.
 */
function hashText (n: number): void {
  const total = (n + 9 + 63) & ~63
  TEXT[n] = 0x80
  for (let i = n + 1; i < total - 4; i++) TEXT[i] = 0
  const bits = n * 8
  TEXT[total - 4] = bits >>> 24; TEXT[total - 3] = (bits >>> 16) & 0xff; TEXT[total - 2] = (bits >>> 8) & 0xff; TEXT[total - 1] = bits & 0xff
  STATE.set(IV)
  const w = W64
  for (let off = 0; off < total; off += 64) {
    for (let i = 0; i < 16; i++) { const o = off + 4 * i; w[i] = (TEXT[o] << 24) | (TEXT[o + 1] << 16) | (TEXT[o + 2] << 8) | TEXT[o + 3] }
    compress(STATE, w)
  }
}

/**
 * The placement scheme catalogs carry (types.ts Catalog.placement): 2 since
 * keys are their texts' UTF-8; 1 (no field) when they were sha256 digests.
 */
export const PLACEMENT_SCHEME = 2

/** The texts placement keys are made of: a term's head, a term's block, a document by docId and by id. */
const TERM = 'edos/term/'
const DOC = 'edos/doc/'

/** The UTF-8 of prefix + s + suffix (no string is made of them when it is short). */
function keyOfText (prefix: string, s: string, suffix: string): Uint8Array {
  const n = textInto(prefix, s, suffix)
  return n < 0 ? encoder.encode(prefix + s + suffix) : TEXT.slice(0, n)
}

/** Placement key of a term's head (its ranges with sizes). */
export function headKey (term: string): Uint8Array { return keyOfText(TERM, term, '') }

/** Placement key of one docId range of a term's posting list. */
export function blockKey (term: string, range: number): Uint8Array { return keyOfText(TERM, term, `#${range}`) }

/** Placement key of a document by its numeric docId. */
export function docKey (docId: number): Uint8Array { return keyOfText(DOC, `#${docId}`, '') }

/** Placement key of a document by its identifier (name + version (+ arch)): the id -> docId map. */
export function idKey (id: string): Uint8Array { return keyOfText(DOC, id, '') }

/** kad-dht's id of a key (`convertBuffer`). */
export function kadIdOfKey (key: Uint8Array): Uint8Array { return sha256(key) }

/** kad-dht's id of a peer (`convertPeerId`). */
export function kadIdOfPeer (peer: PeerId | string): Uint8Array {
  const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  return sha256(id.toMultihash().bytes)
}

/** -1 when `a` is closer to `target` than `b`, 1 when farther, 0 when equal (XOR distance, big-endian). */
export function compareDistance (target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  if (a.length !== target.length || b.length !== target.length) throw new RangeError('kad ids must have the same length')
  for (let i = 0; i < target.length; i++) {
    const da = a[i] ^ target[i]
    const db = b[i] ^ target[i]
    if (da !== db) return da < db ? -1 : 1
  }
  return 0
}

/**
 * The index peers and r. Immutable: churn builds a new Placement and
 * compares (`gained`, `lost`).
 */
export class Placement {
  /** Index peer ids, sorted and deduplicated (so two peers that know the same set agree on indexes). */
  readonly peers: readonly string[]
  /** Requested replication factor. */
  readonly replicas: number
  /** Owners per key: min(replicas, peers.length). */
  readonly width: number
  // Peers' kad ids as 8 big-endian words each (peer p at 8p).
  private readonly words: Uint32Array
  // Their first two words apart: nearly every comparison ends there.
  private readonly hi: Uint32Array
  private readonly lo: Uint32Array
  private readonly indexOf: Map<string, number>
  // Scratch reused by every call so placing a key allocates nothing.
  private readonly target = new Uint32Array(8)
  private readonly scratch: Uint32Array
  private readonly dh: Uint32Array
  private readonly dl: Uint32Array

  constructor (peers: Iterable<string | PeerId>, replicas = DEFAULT_REPLICAS) {
    if (!Number.isInteger(replicas) || replicas < 1) throw new RangeError(`replicas must be a positive integer, got ${replicas}`)
    const parsed = new Map<string, PeerId>()
    for (const p of peers) {
      const id = typeof p === 'string' ? peerIdFromString(p) : p
      parsed.set(id.toString(), id)
    }
    this.peers = [...parsed.keys()].sort()
    const n = this.peers.length
    this.replicas = replicas
    this.width = Math.min(replicas, n)
    this.words = new Uint32Array(8 * n)
    this.hi = new Uint32Array(n)
    this.lo = new Uint32Array(n)
    this.peers.forEach((p, i) => {
      const k = kadIdOfPeer(parsed.get(p) as PeerId)
      for (let j = 0; j < 8; j++) this.words[8 * i + j] = be32(k, 4 * j)
      this.hi[i] = this.words[8 * i]; this.lo[i] = this.words[8 * i + 1]
    })
    this.indexOf = new Map(this.peers.map((p, i) => [p, i]))
    this.scratch = new Uint32Array(Math.max(this.width, 1))
    this.dh = new Uint32Array(Math.max(this.width, 1))
    this.dl = new Uint32Array(Math.max(this.width, 1))
  }

  get size (): number { return this.peers.length }

  has (peer: string): boolean { return this.indexOf.has(peer) }

  /** Index of `peer` in `peers`, or -1. */
  index (peer: string): number { return this.indexOf.get(peer) ?? -1 }

  /** The min(r, n) peers closest to `key`, nearest first. */
  owners (key: Uint8Array): string[] {
    const n = this.ownerIndexes(key, this.scratch)
    const out = new Array<string>(n)
    for (let i = 0; i < n; i++) out[i] = this.peers[this.scratch[i]]
    return out
  }

  isOwner (key: Uint8Array, peer: string): boolean {
    const want = this.indexOf.get(peer)
    if (want === undefined) return false
    const n = this.ownerIndexes(key, this.scratch)
    for (let i = 0; i < n; i++) if (this.scratch[i] === want) return true
    return false
  }

  /**
   * Bulk form: writes the owners' indexes into `peers` to `out` (nearest
   * first) and returns how many (min(r, n)). Allocates nothing for keys of
   * up to 952 bytes (hashed in JS), for a peer placing millions of them.
   */
  ownerIndexes (key: Uint8Array, out: Uint32Array | number[]): number {
    if (key.length + 72 <= TEXT.length) {
      TEXT.set(key)
      this.hashedTarget(key.length)
    } else {
      this.setTarget(digest(key))
    }
    return this.select(out)
  }

  /**
   * ownerIndexes(headKey(term), out), and likewise for blockKey, docKey and
   * idKey, without making the key: its text is written to the hash's
   * buffer. The publisher places every term of a release this way.
   */
  headOwnerIndexes (term: string, out: Uint32Array | number[]): number { return this.textOwnerIndexes(TERM, term, '', out) }
  blockOwnerIndexes (term: string, range: number, out: Uint32Array | number[]): number { return this.textOwnerIndexes(TERM, term, `#${range}`, out) }
  docOwnerIndexes (docId: number, out: Uint32Array | number[]): number { return this.textOwnerIndexes(DOC, `#${docId}`, '', out) }
  idOwnerIndexes (id: string, out: Uint32Array | number[]): number { return this.textOwnerIndexes(DOC, id, '', out) }

  /** ownerIndexes(keyOfText(prefix, s, suffix), out). */
  private textOwnerIndexes (prefix: string, s: string, suffix: string, out: Uint32Array | number[]): number {
    const n = textInto(prefix, s, suffix)
    if (n < 0) this.setTarget(digest(prefix + s + suffix))
    else this.hashedTarget(n)
    return this.select(out)
  }

  /** Targets the kad id of TEXT[0, n): its sha256, in JS (see hashText). */
  private hashedTarget (n: number): void {
    hashText(n)
    for (let j = 0; j < 8; j++) this.target[j] = STATE[j]
  }

  /** As `ownerIndexes`, for a key already mapped to its kad id (kadIdOfKey). */
  ownerIndexesOfKadId (kadId: Uint8Array, out: Uint32Array | number[]): number {
    if (kadId.length !== 32) throw new RangeError(`a kad id has 32 bytes, got ${kadId.length}`)
    this.setTarget(kadId)
    return this.select(out)
  }

  private setTarget (kadId: Uint8Array): void {
    for (let j = 0; j < 8; j++) this.target[j] = be32(kadId, 4 * j)
  }

  private select (out: Uint32Array | number[]): number {
    const w = this.width
    if (out.length < w && out instanceof Uint32Array) throw new RangeError(`out holds ${out.length} indexes, need ${w}`)
    const th = this.target[0]
    const tl = this.target[1]
    const { hi, lo, dh, dl } = this
    let filled = 0
    // w is tiny (r = 3): insertion into the kept list beats a heap or a sort.
    for (let p = 0; p < hi.length; p++) {
      const xh = (hi[p] ^ th) >>> 0
      const xl = (lo[p] ^ tl) >>> 0
      let pos = filled
      while (pos > 0) {
        const j = pos - 1
        if (dh[j] < xh || (dh[j] === xh && (dl[j] < xl || (dl[j] === xl && this.tieNearer(out[j], p))))) break
        pos--
      }
      if (pos >= w) continue
      for (let j = filled < w ? filled : w - 1; j > pos; j--) { out[j] = out[j - 1]; dh[j] = dh[j - 1]; dl[j] = dl[j - 1] }
      out[pos] = p; dh[pos] = xh; dl[pos] = xl
      if (filled < w) filled++
    }
    return filled
  }

  /** Whether kept peer `a` is at least as near as candidate `b` when their first 8 bytes of distance tie. */
  private tieNearer (a: number, b: number): boolean {
    const { words, target } = this
    for (let j = 0; j < 8; j++) {
      const da = (words[8 * a + j] ^ target[j]) >>> 0
      const db = (words[8 * b + j] ^ target[j]) >>> 0
      if (da !== db) return da < db
    }
    return true
  }
}

/** Peers that own `key` under `next` but did not under `prev`: they must receive it on churn. */
export function gained (key: Uint8Array, prev: Placement, next: Placement): string[] {
  const before = new Set(prev.owners(key))
  return next.owners(key).filter(p => !before.has(p))
}

/** Peers that owned `key` under `prev` and no longer do under `next`: they may drop it once it is re-homed. */
export function lost (key: Uint8Array, prev: Placement, next: Placement): string[] {
  const after = new Set(next.owners(key))
  return prev.owners(key).filter(p => !after.has(p))
}
