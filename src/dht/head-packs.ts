/**
 * Head chunks stored many to one LevelDB entry, a "pack" (shard store
 * format 3).
 *
 * Why: every term has a head chunk on each of its r holders, so R1's
 * ~850 K terms made ~2.55 M head entries a publish, 86% of every entry
 * written. Per entry LevelDB inserts into its memtable, logs and compacts,
 * and the store pays a batch call: a mirror's share of R1 (402 K entries)
 * took 2.0-2.2 s of CPU to apply one head an entry, 1.3-1.7 s in packs of
 * ~4 KiB (bench/README, dht, session 20).
 *
 * Pack key: P_PACK, seq (uint32 big-endian). Seq grows with every pack
 * written, so the copy of a head chunk in a later pack (a re-run publish,
 * a repair) is the one that counts: the store's key directory says, for
 * every head chunk, which pack holds its live copy.
 * Pack value: records back to back, each a head chunk's key and value:
 *   varint shared (bytes shared with the previous record's key),
 *   varint suffix length, suffix, varint value length, value.
 * A pack holds one write's heads in the order they came (a publish sends
 * terms in byte order); its lowest and highest key are kept in memory
 * (PackSpans) so that a term range scan reads only packs that can hold
 * terms of its range.
 */
import { ByteWriter, CorruptBlockError } from '../xml-twig-index/postings/codec.ts'
import { VarintReader, putU32be } from './shard-keys.ts'

export const P_PACK = 0x50
/** A pack is closed once its records reach this many bytes (LevelDB's block size: a read of one head reads about one block). */
export const PACK_BYTES = 4096

export function packKey (seq: number): Uint8Array { const k = new Uint8Array(5); k[0] = P_PACK; putU32be(k, 1, seq); return k }

const compare = (a: Uint8Array, b: Uint8Array): number => Buffer.compare(a, b)

/**
 * Builds one pack from head chunks (key, value), in any key order. Keys and
 * values may be ranges of larger buffers (addRange): a write's heads are
 * packed from its key and value buffers, no view made per head.
 */
export class PackBuilder {
  private readonly w = new ByteWriter(PACK_BYTES + 1024)
  // the previous key as a range of the buffer it was given in (a caller's buffer must not change while the pack is built)
  private prev: Uint8Array = new Uint8Array(0)
  private prevStart = 0
  private prevEnd = 0
  // the lowest and highest key so far, likewise
  private lo: Uint8Array | undefined
  private loStart = 0
  private loEnd = 0
  private hi: Uint8Array | undefined
  private hiStart = 0
  private hiEnd = 0
  private sorted = true
  /** Records added since the last reset. */
  count = 0

  get bytes (): number { return this.w.pos }

  /** Adds a record; returns the byte its value starts at (its length's varint: valueAt reads it). */
  add (key: Uint8Array, value: Uint8Array): number {
    return this.addRange(key, 0, key.length, value, 0, value.length)
  }

  /** add(keys[ks, ke), values[vs, ve)). */
  addRange (keys: Uint8Array, ks: number, ke: number, values: Uint8Array, vs: number, ve: number): number {
    const prev = this.prev; const ps = this.prevStart; const pl = this.prevEnd - ps
    const length = ke - ks
    const max = pl < length ? pl : length
    let shared = 0
    while (shared < max && prev[ps + shared] === keys[ks + shared]) shared++
    const w = this.w
    const vn = ve - vs
    // room for three varints and both byte runs, then written through locals (a field load and store per byte otherwise)
    w.ensure(15 + length - shared + vn)
    const buf = w.buf
    let pos = w.pos
    for (let v = shared; ; v >>>= 7) { if (v < 0x80) { buf[pos++] = v; break } buf[pos++] = (v & 0x7f) | 0x80 }
    for (let v = length - shared; ; v >>>= 7) { if (v < 0x80) { buf[pos++] = v; break } buf[pos++] = (v & 0x7f) | 0x80 }
    for (let j = ks + shared; j < ke; j++) buf[pos++] = keys[j]
    const at = pos
    for (let v = vn; ; v >>>= 7) { if (v < 0x80) { buf[pos++] = v; break } buf[pos++] = (v & 0x7f) | 0x80 }
    if (vn > 64) { buf.set(values.subarray(vs, ve), pos); pos += vn } else for (let j = vs; j < ve; j++) buf[pos++] = values[j]
    w.pos = pos
    // keys that come in order (a publish's do) need no comparison: the first is the lowest, the last the highest
    const after = shared === pl ? length > shared : shared < length && keys[ks + shared] > prev[ps + shared]
    if (this.lo === undefined) {
      this.lo = this.hi = keys; this.loStart = this.hiStart = ks; this.loEnd = this.hiEnd = ke; this.sorted = true
    } else if (this.sorted && after) {
      this.hi = keys; this.hiStart = ks; this.hiEnd = ke
    } else {
      this.sorted = false
      if (compareRanges(keys, ks, ke, this.lo, this.loStart, this.loEnd) < 0) { this.lo = keys; this.loStart = ks; this.loEnd = ke }
      if (compareRanges(keys, ks, ke, this.hi as Uint8Array, this.hiStart, this.hiEnd) > 0) { this.hi = keys; this.hiStart = ks; this.hiEnd = ke }
    }
    this.prev = keys; this.prevStart = ks; this.prevEnd = ke
    this.count++
    return at
  }

  /** The pack's value and its lowest and highest key (copies, whatever buffers the keys came in: the builder is reused). */
  finish (): { value: Uint8Array, lo: Uint8Array, hi: Uint8Array } {
    if (this.lo === undefined || this.hi === undefined) throw new RangeError('an empty pack')
    const out = { value: this.w.buf.slice(0, this.w.pos), lo: new Uint8Array(this.lo.subarray(this.loStart, this.loEnd)), hi: new Uint8Array(this.hi.subarray(this.hiStart, this.hiEnd)) }
    this.w.pos = 0; this.prev = new Uint8Array(0); this.prevStart = this.prevEnd = 0; this.lo = undefined; this.hi = undefined; this.count = 0
    return out
  }
}

function compareRanges (a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const al = ae - as; const bl = be - bs
  const n = al < bl ? al : bl
  for (let i = 0; i < n; i++) if (a[as + i] !== b[bs + i]) return a[as + i] - b[bs + i]
  return al - bl
}

/**
 * Walks a pack's records. `key` is a view of a buffer the reader reuses
 * (valid until the next `next()`); `value` is a view of the pack.
 */
export class PackReader {
  private readonly r: VarintReader
  private buf = new Uint8Array(256)
  private len = 0
  key: Uint8Array = this.buf.subarray(0, 0)
  value: Uint8Array = this.buf.subarray(0, 0)
  /** The byte the current record's value starts at (as PackBuilder.add returns it). */
  at = 0

  constructor (private readonly pack: Uint8Array) { this.r = new VarintReader(pack) }

  /** Moves to the next record; false after the last. */
  next (): boolean {
    const { r, pack } = this
    if (r.done) return false
    const shared = r.next()
    const suffix = r.next()
    if (shared > this.len || r.p + suffix > pack.length) throw new CorruptBlockError(`head pack record at byte ${r.p} overruns its pack or shares more than the key before it`)
    const n = shared + suffix
    if (n > this.buf.length) { const grown = new Uint8Array(Math.max(n, this.buf.length * 2)); grown.set(this.buf.subarray(0, this.len)); this.buf = grown }
    this.buf.set(pack.subarray(r.p, r.p + suffix), shared)
    r.p += suffix
    this.len = n
    this.at = r.p
    const vn = r.next()
    if (r.p + vn > pack.length) throw new CorruptBlockError(`head pack value at byte ${r.p} overruns its pack`)
    this.key = this.buf.subarray(0, n)
    this.value = pack.subarray(r.p, r.p + vn)
    r.p += vn
    return true
  }
}

/** The value whose record starts its value at byte `at` of `pack` (a place PackBuilder.add or PackReader gave). */
export function valueAt (pack: Uint8Array, at: number): Uint8Array {
  const r = new VarintReader(pack, at)
  const n = r.next()
  if (r.p + n > pack.length) throw new CorruptBlockError(`head pack value at byte ${at} overruns its pack`)
  return pack.subarray(r.p, r.p + n)
}

/**
 * The key span (lowest, highest head key) of every pack, for range scans.
 * Sorted by lowest key, with the running maximum of highest keys, the
 * packs a range [gte, lt) may meet are a short run found by two binary
 * searches (one publish's packs do not overlap; later publishes add runs).
 */
export class PackSpans {
  private readonly seqs: number[] = []
  private readonly los: Uint8Array[] = []
  private readonly his: Uint8Array[] = []
  private order: number[] | undefined
  private reach: Uint8Array[] = []

  get size (): number { return this.seqs.length }

  add (seq: number, lo: Uint8Array, hi: Uint8Array): void {
    this.seqs.push(seq); this.los.push(lo); this.his.push(hi)
    this.order = undefined
  }

  /** Forgets the packs of `dead` (deleted). */
  remove (dead: ReadonlySet<number>): void {
    for (let i = this.seqs.length - 1; i >= 0; i--) {
      if (!dead.has(this.seqs[i])) continue
      this.seqs.splice(i, 1); this.los.splice(i, 1); this.his.splice(i, 1)
    }
    this.order = undefined
  }

  /** Seqs of the packs whose span meets [gte, lt), ascending. */
  meeting (gte: Uint8Array, lt: Uint8Array): number[] {
    const order = this.sorted()
    const { los, his, reach } = this
    // first position whose lowest key is >= lt: every pack before it starts below lt
    let a = 0; let b = order.length
    while (a < b) { const m = (a + b) >>> 1; if (compare(los[order[m]], lt) < 0) a = m + 1; else b = m }
    const end = a
    // first position whose running highest key is >= gte: no pack before it reaches gte
    a = 0; b = end
    while (a < b) { const m = (a + b) >>> 1; if (compare(reach[m], gte) < 0) a = m + 1; else b = m }
    const out: number[] = []
    for (let i = a; i < end; i++) if (compare(his[order[i]], gte) >= 0) out.push(this.seqs[order[i]])
    return out.sort((x, y) => x - y)
  }

  private sorted (): number[] {
    if (this.order !== undefined) return this.order
    const order = this.seqs.map((_, i) => i).sort((x, y) => compare(this.los[x], this.los[y]))
    const reach: Uint8Array[] = new Array(order.length)
    let top: Uint8Array | undefined
    order.forEach((i, j) => { const hi = this.his[i]; if (top === undefined || compare(hi, top) > 0) top = hi; reach[j] = top })
    this.reach = reach
    this.order = order
    return order
  }
}
