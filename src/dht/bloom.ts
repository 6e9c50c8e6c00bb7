/**
 * Semi-join reducers sent with a fetch: a peer holding a long posting list
 * returns only the postings of docs the asker may still need. Two wire
 * forms: an exact docId set (delta varints) and a Bloom filter; the sender
 * picks the smaller (chooseFilter). False positives of a Bloom filter cost
 * bytes only: the twig join drops postings of docs that do not match.
 */
import { ProtocolError } from './errors.ts'
import { SortedDocSet, type DocFilter } from '../xml-twig-index/engine/source.ts'

const BLOOM_VERSION = 1
const DOCSET_VERSION = 1
/** version u8, k u8, bit count u32, n u32, min u32, max u32 (little-endian). */
const BLOOM_HEADER = 18
const MAX_K = 32
/** Narrower ranges are tested doc by doc: cheaper than decoding a block that the filter would empty. */
const PROBE_WIDTH = 64

/** murmur3's finaliser: full avalanche of a 32-bit key in a few multiplies. */
function fmix32 (h: number): number {
  h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
const SEED_A = 0x9e3779b9
const SEED_B = 0x7f4a7c15

/** A Bloom filter over docIds (uint32) that also knows the smallest and largest doc. */
export class BloomFilter implements DocFilter {
  private constructor (
    private readonly bits: Uint8Array,
    private readonly bitCount: number,
    private readonly k: number,
    /** Docs inserted (the filter's `size`). */
    private readonly n: number,
    private readonly min: number,
    private readonly max: number
  ) {}

  /** A filter for `docs` (any order; duplicates count once) sized for `falsePositiveRate`. */
  static forDocs (docs: Uint32Array, falsePositiveRate = 0.01): BloomFilter {
    if (!(falsePositiveRate > 0 && falsePositiveRate < 1)) throw new RangeError(`false positive rate ${falsePositiveRate} is not in (0, 1)`)
    const distinct = sortedDistinct(docs)
    const n = distinct.length
    // m = -n ln p / ln2^2 and k = m/n ln2 minimise the bits for the rate.
    const ideal = Math.ceil(-Math.max(n, 1) * Math.log(falsePositiveRate) / (Math.LN2 * Math.LN2))
    const bitCount = Math.max(64, Math.ceil(ideal / 8) * 8)
    const k = Math.min(MAX_K, Math.max(1, Math.round(bitCount / Math.max(n, 1) * Math.LN2)))
    const bits = new Uint8Array(bitCount / 8)
    let min = 0xffffffff; let max = 0
    for (let i = 0; i < n; i++) {
      const doc = distinct[i]
      if (doc < min) min = doc
      if (doc > max) max = doc
      let h = fmix32(doc ^ SEED_A)
      const step = fmix32(doc ^ SEED_B) | 1
      for (let j = 0; j < k; j++) {
        const bit = h % bitCount
        bits[bit >>> 3] |= 1 << (bit & 7)
        h = (h + step) >>> 0
      }
    }
    return n === 0 ? new BloomFilter(bits, bitCount, k, 0, 0xffffffff, 0) : new BloomFilter(bits, bitCount, k, n, min, max)
  }

  get size (): number { return this.n }

  has (doc: number): boolean {
    if (doc < this.min || doc > this.max) return false
    const bits = this.bits; const m = this.bitCount
    let h = fmix32(doc ^ SEED_A)
    const step = fmix32(doc ^ SEED_B) | 1
    for (let j = 0; j < this.k; j++) {
      const bit = h % m
      if ((bits[bit >>> 3] & (1 << (bit & 7))) === 0) return false
      h = (h + step) >>> 0
    }
    return true
  }

  intersects (from: number, to: number): boolean {
    const lo = Math.max(from, this.min); const hi = Math.min(to, this.max)
    if (lo > hi) return false
    if (hi - lo >= PROBE_WIDTH) return true
    for (let d = lo; d <= hi; d++) if (this.has(d)) return true
    return false
  }

  /** Hashing does not profit from ordered asks: the same test. */
  sequential (): (doc: number) => boolean { return (doc) => this.has(doc) }

  toBytes (): Uint8Array {
    const out = new Uint8Array(BLOOM_HEADER + this.bits.length)
    const v = new DataView(out.buffer)
    v.setUint8(0, BLOOM_VERSION); v.setUint8(1, this.k)
    v.setUint32(2, this.bitCount, true); v.setUint32(6, this.n, true)
    v.setUint32(10, this.min, true); v.setUint32(14, this.max, true)
    out.set(this.bits, BLOOM_HEADER)
    return out
  }

  /** Decodes bytes from a peer; everything is checked, since a bad filter would silently drop answers. */
  static fromBytes (bytes: Uint8Array): BloomFilter {
    if (!(bytes instanceof Uint8Array)) throw new ProtocolError('Bloom filter is not a byte array')
    if (bytes.length < BLOOM_HEADER) throw new ProtocolError(`Bloom filter of ${bytes.length} bytes is shorter than its ${BLOOM_HEADER}-byte header`)
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const version = v.getUint8(0)
    if (version !== BLOOM_VERSION) throw new ProtocolError(`Bloom filter version ${version} is not supported (expected ${BLOOM_VERSION})`)
    const k = v.getUint8(1)
    if (k < 1 || k > MAX_K) throw new ProtocolError(`Bloom filter hash count ${k} is not in 1..${MAX_K}`)
    const bitCount = v.getUint32(2, true)
    if (bitCount === 0 || bitCount % 8 !== 0) throw new ProtocolError(`Bloom filter bit count ${bitCount} is not a positive multiple of 8`)
    if (bytes.length !== BLOOM_HEADER + bitCount / 8) throw new ProtocolError(`Bloom filter of ${bitCount} bits needs ${BLOOM_HEADER + bitCount / 8} bytes, got ${bytes.length}`)
    const n = v.getUint32(6, true)
    const min = v.getUint32(10, true)
    const max = v.getUint32(14, true)
    if (n === 0) {
      if (min !== 0xffffffff || max !== 0) throw new ProtocolError(`empty Bloom filter must have min 4294967295 and max 0, got min ${min} and max ${max}`)
    } else {
      if (min > max) throw new ProtocolError(`Bloom filter min doc ${min} is above its max doc ${max}`)
      if (n > max - min + 1) throw new ProtocolError(`Bloom filter claims ${n} docs within [${min}, ${max}]`)
    }
    return new BloomFilter(new Uint8Array(bytes.subarray(BLOOM_HEADER)), bitCount, k, n, min, max) // a copy: Buffer#slice would share a frame buffer
  }
}

function varintLength (v: number): number { return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5 }

/** Sorted distinct docs: the input itself when it already is, else a sorted deduplicated copy. */
function sortedDistinct (docs: Uint32Array): Uint32Array {
  let ok = true
  for (let i = 1; i < docs.length; i++) if (docs[i] <= docs[i - 1]) { ok = false; break }
  if (ok) return docs
  const s = docs.slice().sort()
  let n = 0
  for (let i = 0; i < s.length; i++) if (i === 0 || s[i] !== s[n - 1]) s[n++] = s[i]
  return s.subarray(0, n)
}

/** An exact docId set: version byte, varint count, the first doc, then varint gaps (each >= 1). */
export function encodeDocSet (docs: Uint32Array): Uint8Array {
  const s = sortedDistinct(docs)
  let size = 1 + varintLength(s.length)
  for (let i = 0; i < s.length; i++) size += varintLength(i === 0 ? s[0] : s[i] - s[i - 1])
  const out = new Uint8Array(size)
  out[0] = DOCSET_VERSION
  let p = 1
  const put = (v: number): void => { while (v >= 0x80) { out[p++] = (v & 0x7f) | 0x80; v >>>= 7 } out[p++] = v }
  put(s.length)
  for (let i = 0; i < s.length; i++) put(i === 0 ? s[0] : s[i] - s[i - 1])
  return out
}

export function decodeDocSet (bytes: Uint8Array): SortedDocSet {
  if (!(bytes instanceof Uint8Array)) throw new ProtocolError('docId set is not a byte array')
  if (bytes.length < 2) throw new ProtocolError(`docId set of ${bytes.length} bytes is shorter than its header`)
  if (bytes[0] !== DOCSET_VERSION) throw new ProtocolError(`docId set version ${bytes[0]} is not supported (expected ${DOCSET_VERSION})`)
  let p = 1
  const get = (what: string): number => {
    let v = 0
    for (let shift = 0, mul = 1; shift < 35; shift += 7, mul *= 128) {
      if (p >= bytes.length) throw new ProtocolError(`docId set truncated in ${what}`)
      const b = bytes[p++]
      v += (b & 0x7f) * mul
      if (b < 0x80) {
        if (v > 0xffffffff) throw new ProtocolError(`docId set ${what} ${v} exceeds 2^32-1`)
        return v
      }
    }
    throw new ProtocolError(`docId set ${what} is a varint longer than 5 bytes`)
  }
  const count = get('count')
  // every doc takes at least one byte: a larger count is a lie that would allocate without bound
  if (count > bytes.length - p) throw new ProtocolError(`docId set claims ${count} docs in ${bytes.length} bytes`)
  const docs = new Uint32Array(count)
  let doc = 0
  for (let i = 0; i < count; i++) {
    const gap = get(`doc ${i}`)
    if (i > 0 && gap === 0) throw new ProtocolError(`docId set is not strictly increasing at doc ${i} (${doc} repeated)`)
    doc += gap
    if (doc > 0xffffffff) throw new ProtocolError(`docId set doc ${i} (${doc}) exceeds 2^32-1`)
    docs[i] = doc
  }
  if (p !== bytes.length) throw new ProtocolError(`docId set has ${bytes.length - p} trailing bytes after ${count} docs`)
  return new SortedDocSet(docs)
}

export type FilterKind = 'docs' | 'bloom'

/** The smaller wire form of a reducer for `docs`: exact sets win for small or dense sets. */
export function chooseFilter (docs: Uint32Array, falsePositiveRate = 0.01): { kind: FilterKind, bytes: Uint8Array } {
  const exact = encodeDocSet(docs)
  // a Bloom filter costs ~ -ln p / ln2^2 bits per doc: skip building one that cannot win
  const bloomEstimate = BLOOM_HEADER + Math.ceil(-docs.length * Math.log(falsePositiveRate) / (Math.LN2 * Math.LN2) / 8)
  if (exact.length <= bloomEstimate) return { kind: 'docs', bytes: exact }
  const bloom = BloomFilter.forDocs(docs, falsePositiveRate).toBytes()
  return bloom.length < exact.length ? { kind: 'bloom', bytes: bloom } : { kind: 'docs', bytes: exact }
}

export function decodeFilter (kind: string, bytes: Uint8Array): DocFilter {
  if (kind === 'docs') return decodeDocSet(bytes)
  if (kind === 'bloom') return BloomFilter.fromBytes(bytes)
  throw new ProtocolError(`unknown filter kind ${JSON.stringify(kind)} (expected "docs" or "bloom")`)
}
