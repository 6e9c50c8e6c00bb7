/**
 * The term dictionary of one import: (prefix id, suffix code units) -> term
 * id, in an open-addressing hash table over typed arrays. A lookup hashes
 * the suffix where it lies in a record buffer (postings/extract.ts,
 * TermRecords), so no string is made per posting, nor per term. Two-level
 * Maps of strings cost more than a third of R1's import: a fresh string per
 * posting, and three or more cache misses per lookup in maps of hundreds of
 * thousands of entries.
 *
 * Each term owns TERM_STRIDE ints of `data` (64 bytes, one cache line): its
 * own fields first, then TERM_USER_FIELDS that the table's user keeps per
 * term (the run builder's per-run state). A posting then touches its slot,
 * its term's line and, on a hit, the suffix it is compared with.
 *
 * A suffix is compared where the term's UTF-8 bytes already hold it when it
 * is ASCII (almost every term): a second copy in UTF-16 was R1's largest
 * array after the term lines (45 MB, and as much again copied while it
 * grew), and every page of new memory costs a page fault.
 */
export const TERM_STRIDE = 16
/**
 * Prefix id; SUFFIX: where the suffix is, >= 0 an offset in `bytes` (an
 * ASCII suffix, one byte a code unit), < 0 -1 - its offset in `wide` (UTF-16
 * code units); suffix length in code units; offset and length of the term's
 * UTF-8 bytes in `bytes`.
 */
const PREFIX = 0
const SUFFIX = 1
const LENGTH = 2
const BYTES = 3
const BYTE_LENGTH = 4
/** First field of `data` a user may keep per term; fields [TERM_USER, TERM_STRIDE) start at 0. */
export const TERM_USER = 5

export class TermTable {
  /** Distinct terms. */
  count = 0
  /** Each term's UTF-8 bytes: bytes[byteOffset(t), byteOffset(t) + byteLength(t)). */
  bytes: Buffer
  /** TERM_STRIDE ints per term (see above). Replaced when it grows: read it again after adding terms. */
  data: Int32Array
  /** Slot pairs: hash, term id + 1 (0: empty). The hash is checked before the term's own data is touched. */
  private slots = new Int32Array(2 << 16)
  private mask = (1 << 16) - 1
  /** Suffixes with a code unit >= 0x80, as UTF-16. */
  private wide = new Uint16Array(1 << 12)
  private wideUsed = 0
  private bytesUsed = 0
  /** Term id of each prefix alone (an empty suffix), -1 until seen. */
  private bare = new Int32Array(256).fill(-1)
  /** Each prefix's UTF-8 bytes. */
  private readonly prefixBytes: Uint8Array[] = []

  /**
   * Room for `terms` terms and `bytes` bytes of them before the arrays grow.
   * A large import reserves room for all it may need: memory not yet
   * written costs no page (nor fault), and growing copies every page
   * written so far into a new array.
   */
  constructor (terms = 1 << 14, bytes = 1 << 20) {
    this.data = new Int32Array(TERM_STRIDE * terms)
    this.bytes = Buffer.alloc(bytes)
  }

  /** Learns the prefixes `all` holds beyond those it knows (ids are their indexes). */
  prefixes (all: readonly string[]): void {
    for (let p = this.prefixBytes.length; p < all.length; p++) this.prefixBytes.push(Buffer.from(all[p], 'utf8'))
  }

  byteOffset (t: number): number { return this.data[t * TERM_STRIDE + BYTES] }
  byteLength (t: number): number { return this.data[t * TERM_STRIDE + BYTE_LENGTH] }

  /** The id of prefix `p` with an empty suffix. */
  bareTerm (p: number): number {
    if (p >= this.bare.length) { const b = new Int32Array(Math.max(p + 1, this.bare.length * 2)).fill(-1); b.set(this.bare); this.bare = b }
    let t = this.bare[p]
    if (t < 0) { t = this.add(p, this.wide, 0, 0); this.bare[p] = t }
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
    const m = t * TERM_STRIDE
    const data = this.data
    if (data[m + PREFIX] !== p || data[m + LENGTH] !== length) return false
    let o = data[m + SUFFIX]
    // A wide suffix differs from every ASCII one at its code unit >= 0x80: comparing with either copy needs no check of kinds.
    if (o >= 0) {
      const bytes = this.bytes
      for (let i = from, to = from + length; i < to; i++) if (bytes[o++] !== chars[i]) return false
    } else {
      const wide = this.wide
      o = -1 - o
      for (let i = from, to = from + length; i < to; i++) if (wide[o++] !== chars[i]) return false
    }
    return true
  }

  private add (p: number, chars: Uint16Array, from: number, length: number): number {
    const t = this.count++
    if ((t + 1) * TERM_STRIDE > this.data.length) {
      const d = new Int32Array(this.data.length * 2); d.set(this.data); this.data = d
    }
    let ascii = true
    for (let i = from, to = from + length; i < to; i++) if (chars[i] >= 0x80) { ascii = false; break }
    const prefix = this.prefixBytes[p]
    const m = t * TERM_STRIDE
    const data = this.data
    data[m + PREFIX] = p; data[m + LENGTH] = length; data[m + BYTES] = this.bytesUsed
    if (ascii) {
      data[m + SUFFIX] = this.bytesUsed + prefix.length
    } else {
      if (this.wideUsed + length > this.wide.length) {
        const wide = new Uint16Array(Math.max(this.wide.length * 2, this.wideUsed + length)); wide.set(this.wide.subarray(0, this.wideUsed)); this.wide = wide
      }
      this.wide.set(chars.subarray(from, from + length), this.wideUsed)
      data[m + SUFFIX] = -1 - this.wideUsed
      this.wideUsed += length
    }
    // The term's UTF-8 bytes: the prefix's, then the suffix's (ASCII as is; the rest as Buffer encodes it).
    const tail = ascii ? undefined : utf8(chars, from, length)
    const size = prefix.length + (tail === undefined ? length : tail.length)
    if (this.bytesUsed + size > this.bytes.length) {
      const b = Buffer.alloc(Math.max(this.bytes.length * 2, this.bytesUsed + size)); this.bytes.copy(b, 0, 0, this.bytesUsed); this.bytes = b
    }
    const bytes = this.bytes
    let o = this.bytesUsed
    for (let i = 0; i < prefix.length; i++) bytes[o++] = prefix[i]
    if (tail === undefined) for (let i = 0; i < length; i++) bytes[o++] = chars[from + i]
    else { tail.copy(bytes, o); o += tail.length }
    data[m + BYTE_LENGTH] = size
    this.bytesUsed = o
    return t
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

  /** A term as text. */
  text (t: number): string {
    const o = this.byteOffset(t)
    return this.bytes.toString('utf8', o, o + this.byteLength(t))
  }

  /**
   * Puts term ids ids[0, n) in byte order of their terms (the order of
   * LevelDB keys): an MSD radix sort on the UTF-8 bytes, insertion sort for
   * small buckets. Terms share long prefixes (`v:@version=`), which a
   * comparison sort would compare again and again; here each byte of a
   * shared prefix is looked at once per term.
   */
  sort (ids: Uint32Array, n: number): void {
    const bytes = this.bytes
    const offs = new Int32Array(n); const lens = new Int32Array(n)
    for (let i = 0; i < n; i++) { const m = ids[i] * TERM_STRIDE; offs[i] = this.data[m + BYTES]; lens[i] = this.data[m + BYTE_LENGTH] }
    const tIds = new Uint32Array(n); const tOffs = new Int32Array(n); const tLens = new Int32Array(n)
    // Each term's bucket at the current depth, read once by the counting pass: the distributing pass reads it here, not again
    // from the term's bytes (a cache miss per term).
    const digit = new Uint16Array(n)
    const counts = new Int32Array(258)
    // Work items (from, to, depth): every term in [from, to) has the same bytes before `depth`.
    const work: number[] = [0, n, 0]
    while (work.length > 0) {
      let depth = work.pop()!; const to = work.pop()!; const from = work.pop()!
      if (to - from <= 16) { insertionSort(bytes, ids, offs, lens, from, to, depth); continue }
      counts.fill(0)
      // Bucket 0: terms that end before `depth` (at most one: terms are distinct); byte b goes to bucket b + 1.
      for (let i = from; i < to; i++) { const d = depth < lens[i] ? bytes[offs[i] + depth] + 1 : 0; digit[i] = d; counts[d + 1]++ }
      let single = -1
      for (let b = 1; b < 258; b++) if (counts[b] === to - from) { single = b; break }
      if (single > 1) {
        // One shared byte: terms share long prefixes (`v:location=pool/main/`), so skip every byte they all share in one pass.
        depth += 1 + sharedAfter(bytes, offs, lens, from, to, depth + 1)
        work.push(from, to, depth)
        continue
      }
      for (let b = 1; b < 258; b++) counts[b] += counts[b - 1]
      for (let i = from; i < to; i++) {
        const j = from + counts[digit[i]]++
        tIds[j] = ids[i]; tOffs[j] = offs[i]; tLens[j] = lens[i]
      }
      ids.set(tIds.subarray(from, to), from); offs.set(tOffs.subarray(from, to), from); lens.set(tLens.subarray(from, to), from)
      // counts[b] is now the end of bucket b (relative to from); bucket 0 needs no further sorting.
      for (let b = 1; b < 257; b++) {
        const s = from + counts[b - 1]; const e = from + counts[b]
        if (e - s > 1) work.push(s, e, depth + 1)
      }
    }
  }
}

/** Bytes from `depth` on that every term of [from, to) shares with the first (they share all bytes before `depth`). */
function sharedAfter (bytes: Uint8Array, offs: Int32Array, lens: Int32Array, from: number, to: number, depth: number): number {
  const first = offs[from]
  let shared = lens[from] - depth
  for (let i = from + 1; i < to && shared > 0; i++) {
    const o = offs[i]
    const max = Math.min(shared, lens[i] - depth)
    let k = 0
    while (k < max && bytes[o + depth + k] === bytes[first + depth + k]) k++
    shared = k
  }
  return Math.max(0, shared)
}

function insertionSort (bytes: Uint8Array, ids: Uint32Array, offs: Int32Array, lens: Int32Array, from: number, to: number, depth: number): void {
  for (let i = from + 1; i < to; i++) {
    const id = ids[i]; const off = offs[i]; const len = lens[i]
    let j = i - 1
    while (j >= from && compareFrom(bytes, offs[j], lens[j], off, len, depth) > 0) {
      ids[j + 1] = ids[j]; offs[j + 1] = offs[j]; lens[j + 1] = lens[j]
      j--
    }
    ids[j + 1] = id; offs[j + 1] = off; lens[j + 1] = len
  }
}

/** Byte order of two terms known to be equal before `depth`. */
function compareFrom (bytes: Uint8Array, a: number, aLength: number, b: number, bLength: number, depth: number): number {
  const n = Math.min(aLength, bLength)
  for (let i = depth; i < n; i++) {
    const d = bytes[a + i] - bytes[b + i]
    if (d !== 0) return d
  }
  return aLength - bLength
}

/** UTF-8 of chars[from, from + length) as Buffer encodes it (a lone surrogate as U+FFFD, like TextEncoder). */
function utf8 (chars: Uint16Array, from: number, length: number): Buffer {
  return Buffer.from(String.fromCharCode.apply(null, Array.from(chars.subarray(from, from + length))), 'utf8')
}
