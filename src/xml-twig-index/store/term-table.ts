/**
 * The term dictionary of one import: (prefix id, suffix code units) -> term
 * id, in an open-addressing hash table over typed arrays. A lookup hashes
 * the suffix where it lies in a record buffer (postings/extract.ts,
 * TermRecords), so no string is made per posting; one is made per new term
 * only (its sort key). Two-level Maps of strings cost more than a third of
 * R1's import: a fresh string per posting, and three or more cache misses
 * per lookup in maps of hundreds of thousands of entries.
 *
 * Sort keys: a term's UTF-8 bytes as a one-byte (latin1) string, so that
 * the engine's native string order is byte order (the order of LevelDB
 * keys), followed by NUL and the term id in four chars. Terms hold no NUL
 * (XML characters exclude it; block keys rely on that too), so the tag
 * never changes the order, and a sorted key gives its id back.
 */
/** Per term in `meta`: prefix id, offset and length of its suffix in `pool`, offset of its UTF-8 bytes in `bytes` (the length is in `byteLengths`). */
const META = 4

export class TermTable {
  /** Distinct terms. */
  count = 0
  /** Each term's UTF-8 bytes: bytes[byteOffset(t), byteOffset(t) + byteLength(t)). */
  bytes = Buffer.alloc(1 << 20)
  byteLengths = new Int32Array(1 << 14)
  /** Slot pairs: hash, term id + 1 (0: empty). The hash is checked before the term's own data is touched: one cache miss per lookup. */
  private slots = new Int32Array(2 << 16)
  private mask = (1 << 16) - 1
  private meta = new Int32Array(META << 14)
  private pool = new Uint16Array(1 << 18)
  private poolUsed = 0
  private bytesUsed = 0
  /** Term id of each prefix alone (an empty suffix), -1 until seen. */
  private bare = new Int32Array(256).fill(-1)
  /** Each prefix's UTF-8 bytes. */
  private readonly prefixBytes: Uint8Array[] = []

  /** Learns the prefixes `all` holds beyond those it knows (ids are their indexes). */
  prefixes (all: readonly string[]): void {
    for (let p = this.prefixBytes.length; p < all.length; p++) this.prefixBytes.push(Buffer.from(all[p], 'utf8'))
  }

  byteOffset (t: number): number { return this.meta[t * META + 3] }

  /** The id of prefix `p` with an empty suffix. */
  bareTerm (p: number): number {
    if (p >= this.bare.length) { const b = new Int32Array(Math.max(p + 1, this.bare.length * 2)).fill(-1); b.set(this.bare); this.bare = b }
    let t = this.bare[p]
    if (t < 0) { t = this.add(p, this.pool, 0, 0); this.bare[p] = t }
    return t
  }

  /** The id of prefix `p` + chars[from, from + length) (length > 0). */
  term (p: number, chars: Uint16Array, from: number, length: number): number {
    let h = Math.imul(p + 1, 0x9e3779b1)
    const to = from + length
    for (let i = from; i < to; i++) h = Math.imul(h ^ chars[i], 0x01000193)
    h ^= h >>> 15
    const mask = this.mask
    const slots = this.slots
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const t = slots[2 * s + 1] - 1
      if (t < 0) {
        const added = this.add(p, chars, from, length)
        slots[2 * s] = h; slots[2 * s + 1] = added + 1
        if (this.count * 2 > mask) this.rehash()
        return added
      }
      if (slots[2 * s] === h && this.same(t, p, chars, from, length)) return t
    }
  }

  private same (t: number, p: number, chars: Uint16Array, from: number, length: number): boolean {
    const m = t * META
    if (this.meta[m] !== p || this.meta[m + 2] !== length) return false
    const pool = this.pool
    let o = this.meta[m + 1]
    for (let i = from, to = from + length; i < to; i++) if (pool[o++] !== chars[i]) return false
    return true
  }

  private add (p: number, chars: Uint16Array, from: number, length: number): number {
    const t = this.count++
    if (t === this.byteLengths.length) this.growTerms()
    if (this.poolUsed + length > this.pool.length) {
      const pool = new Uint16Array(Math.max(this.pool.length * 2, this.poolUsed + length)); pool.set(this.pool.subarray(0, this.poolUsed)); this.pool = pool
    }
    const pool = this.pool
    let ascii = true
    for (let i = 0; i < length; i++) { const c = chars[from + i]; pool[this.poolUsed + i] = c; if (c >= 0x80) ascii = false }
    const m = t * META
    this.meta[m] = p; this.meta[m + 1] = this.poolUsed; this.meta[m + 2] = length; this.meta[m + 3] = this.bytesUsed
    this.poolUsed += length
    // The term's UTF-8 bytes: the prefix's, then the suffix's (ASCII as is; the rest as Buffer encodes it, a lone surrogate as U+FFFD like TextEncoder).
    const prefix = this.prefixBytes[p]
    const tail = ascii ? undefined : Buffer.from(String.fromCharCode.apply(null, Array.from(chars.subarray(from, from + length))), 'utf8')
    const size = prefix.length + (tail === undefined ? length : tail.length)
    if (this.bytesUsed + size > this.bytes.length) {
      const b = Buffer.alloc(Math.max(this.bytes.length * 2, this.bytesUsed + size)); this.bytes.copy(b, 0, 0, this.bytesUsed); this.bytes = b
    }
    const bytes = this.bytes
    let o = this.bytesUsed
    for (let i = 0; i < prefix.length; i++) bytes[o++] = prefix[i]
    if (tail === undefined) for (let i = 0; i < length; i++) bytes[o++] = chars[from + i]
    else { tail.copy(bytes, o); o += tail.length }
    this.byteLengths[t] = size
    this.bytesUsed = o
    return t
  }

  private growTerms (): void {
    const n = this.byteLengths.length * 2
    const l = new Int32Array(n); l.set(this.byteLengths); this.byteLengths = l
    const m = new Int32Array(n * META); m.set(this.meta); this.meta = m
  }

  private rehash (): void {
    const size = (this.mask + 1) * 2
    const slots = new Int32Array(2 * size)
    const mask = size - 1
    const old = this.slots
    for (let s = 0; s < old.length; s += 2) {
      if (old[s + 1] === 0) continue
      let n = old[s] & mask
      while (slots[2 * n + 1] !== 0) n = (n + 1) & mask
      slots[2 * n] = old[s]; slots[2 * n + 1] = old[s + 1]
    }
    this.slots = slots
    this.mask = mask
  }

  /** Sort keys (see above) of terms [from, to). */
  sortKeys (from: number, to: number): string[] {
    const out = new Array<string>(to - from)
    const bytes = this.bytes
    for (let t = from; t < to; t++) {
      const o = this.meta[t * META + 3]
      out[t - from] = bytes.toString('latin1', o, o + this.byteLengths[t]) + '\u0000' + String.fromCharCode(t >>> 24, (t >>> 16) & 0xff, (t >>> 8) & 0xff, t & 0xff)
    }
    return out
  }

  /** A term as text. */
  text (t: number): string {
    const o = this.meta[t * META + 3]
    return this.bytes.toString('utf8', o, o + this.byteLengths[t])
  }
}

/** The term id a sort key carries. */
export function keyTerm (key: string): number {
  const n = key.length
  return ((key.charCodeAt(n - 4) << 24) >>> 0) + (key.charCodeAt(n - 3) << 16) + (key.charCodeAt(n - 2) << 8) + key.charCodeAt(n - 1)
}

/**
 * Term ids in byte order of their terms, extended by the terms added since
 * the last call: those are sorted natively (by sort key) and merged with
 * the order so far (its keys kept alongside), so each term is sorted once
 * per import.
 */
export class TermOrder {
  ids: Uint32Array = new Uint32Array(0)
  private keys: string[] = []

  extend (table: TermTable): Uint32Array {
    const fresh = table.sortKeys(this.keys.length, table.count).sort()
    const old = this.keys
    const ids = new Uint32Array(old.length + fresh.length)
    const keys = new Array<string>(ids.length)
    let i = 0; let j = 0; let k = 0
    while (i < old.length && j < fresh.length) {
      if (old[i] < fresh[j]) { ids[k] = keyTerm(old[i]); keys[k++] = old[i++] } else { ids[k] = keyTerm(fresh[j]); keys[k++] = fresh[j++] }
    }
    while (i < old.length) { ids[k] = keyTerm(old[i]); keys[k++] = old[i++] }
    while (j < fresh.length) { ids[k] = keyTerm(fresh[j]); keys[k++] = fresh[j++] }
    this.ids = ids
    this.keys = keys
    return ids
  }
}
