/**
 * Where a unit's chunks are stored, in memory: for a head (a term) or a
 * block (a term's range), the (range, firstDoc) suffixes of its chunk keys.
 * A read builds the exact keys and gets each with `db.getSync`, on the
 * calling thread. Through an iterator, every read is LevelDB work queued on
 * libuv's thread pool and a callback back: two thread wake-ups per read,
 * which on a busy 2-core machine (12 peer processes, all woken by the same
 * query) cost 2-7 ms each, many times the read itself.
 *
 * Units are found by a 64-bit hash of their key bytes; a collision merges
 * two units' suffix lists, and the keys built from the wrong unit's
 * suffixes are simply not found. The store is append-only (chunks are put,
 * never deleted), so the directory only grows with it.
 *
 * Each chunk may carry three numbers for its store: where it is and at
 * which byte (the head pack that holds a head chunk and its value's place
 * in it, head-packs.ts), and a weight (the postings a head carries inline),
 * so that a chunk is read without a search and one written again has its
 * old weight taken out of the counts without reading it back.
 */

import { hash64, hashOut } from './shard-keys.ts'

const EMPTY = 0

export class KeyDirectory {
  private hi = new Uint32Array(1024)
  private lo = new Uint32Array(1024)
  /** Slot -> 1 + index of the unit's newest entry (0: none). */
  private head = new Int32Array(1024)
  /** Entries: a linked list per unit, newest first. */
  private next = new Int32Array(1024)
  private ranges = new Uint32Array(1024)
  private firstDocs = new Uint32Array(1024)
  private wheres = new Uint32Array(1024)
  private ats = new Uint32Array(1024)
  private weights = new Uint32Array(1024)
  /** Distinct units. */
  size = 0
  /** Distinct chunk keys. */
  chunks = 0
  /** The weight the last `add` replaced (the chunk was recorded before), or -1 when it added a new chunk. */
  replaced = -1
  /** Where the chunk the last `add` replaced was (meaningful when `replaced` >= 0). */
  replacedWhere = 0

  /** The slot of `bytes[from, to)`'s hash, inserted when `add`, else -1 when absent. */
  private slot (bytes: Uint8Array, from: number, to: number, add: boolean): number {
    hash64(bytes, from, to)
    const a = hashOut[0]; const b = hashOut[1]
    const mask = this.hi.length - 1
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask
    for (;;) {
      const h = this.hi[i]; const l = this.lo[i]
      if (h === EMPTY && l === EMPTY) {
        if (!add) return -1
        this.hi[i] = a; this.lo[i] = b; this.size++
        return i
      }
      if (h === a && l === b) return i
      i = (i + 1) & mask
    }
  }

  /**
   * Records a chunk key: its unit is `key[1, unitEnd)`, its suffix the
   * (range, firstDoc) given, with where it is, at which byte, and its
   * weight (a chunk recorded again takes the new ones). Returns whether the
   * unit was new.
   */
  add (key: Uint8Array, unitEnd: number, range: number, firstDoc: number, where = 0, weight = 0, at = 0): boolean {
    return this.addUnit(key, 1, unitEnd, range, firstDoc, where, weight, at)
  }

  /** `add` for the unit bytes[from, to) (a key inside a larger buffer: no view of it is made). */
  addUnit (bytes: Uint8Array, from: number, to: number, range: number, firstDoc: number, where = 0, weight = 0, at = 0): boolean {
    if ((this.size + 1) * 2 > this.hi.length) this.grow()
    const before = this.size
    const s = this.slot(bytes, from, to, true)
    for (let e = this.head[s] - 1; e >= 0; e = this.next[e] - 1) {
      if (this.ranges[e] === range && this.firstDocs[e] === firstDoc) { this.replaced = this.weights[e]; this.replacedWhere = this.wheres[e]; this.wheres[e] = where; this.weights[e] = weight; this.ats[e] = at; return false }
    }
    this.replaced = -1
    if (this.chunks === this.next.length) this.growEntries()
    const e = this.chunks++
    this.ranges[e] = range; this.firstDocs[e] = firstDoc; this.wheres[e] = where; this.weights[e] = weight; this.ats[e] = at
    this.next[e] = this.head[s]
    this.head[s] = e + 1
    return this.size > before
  }

  /** The chunk (range, firstDoc) of the unit `bytes[from, to)`, or -1 when not recorded. */
  find (bytes: Uint8Array, from: number, to: number, range: number, firstDoc: number): number {
    const s = this.slot(bytes, from, to, false)
    if (s < 0) return -1
    for (let e = this.head[s] - 1; e >= 0; e = this.next[e] - 1) if (this.ranges[e] === range && this.firstDocs[e] === firstDoc) return e
    return -1
  }

  /** Where chunk `e` (from find) is, as last recorded. */
  whereOf (e: number): number { return this.wheres[e] }

  /** Whether the unit `bytes[from, to)` has a chunk (true for a hash collision too). */
  has (bytes: Uint8Array, from: number, to: number): boolean {
    return this.slot(bytes, from, to, false) >= 0
  }

  /**
   * The (range, firstDoc) suffixes recorded for the unit `bytes[from, to)`,
   * in key order (range, then firstDoc), `range` limited to one value when given.
   */
  suffixes (bytes: Uint8Array, from: number, to: number, range?: number): Array<[number, number]> {
    return this.located(bytes, from, to, range).map(([r, firstDoc]) => [r, firstDoc])
  }

  /** As suffixes, each with where its chunk is and at which byte: [range, firstDoc, where, at]. */
  located (bytes: Uint8Array, from: number, to: number, range?: number): Array<[number, number, number, number]> {
    const s = this.slot(bytes, from, to, false)
    const out: Array<[number, number, number, number]> = []
    if (s < 0) return out
    for (let e = this.head[s] - 1; e >= 0; e = this.next[e] - 1) {
      if (range === undefined || this.ranges[e] === range) out.push([this.ranges[e], this.firstDocs[e], this.wheres[e], this.ats[e]])
    }
    if (out.length > 1) out.sort((x, y) => x[0] - y[0] || x[1] - y[1])
    return out
  }

  private grow (): void {
    const { hi, lo, head } = this
    this.hi = new Uint32Array(hi.length * 2); this.lo = new Uint32Array(lo.length * 2); this.head = new Int32Array(head.length * 2)
    const mask = this.hi.length - 1
    for (let j = 0; j < hi.length; j++) {
      if (hi[j] === EMPTY && lo[j] === EMPTY) continue
      let i = (hi[j] ^ Math.imul(lo[j], 0x9e3779b1)) & mask
      while (this.hi[i] !== EMPTY || this.lo[i] !== EMPTY) i = (i + 1) & mask
      this.hi[i] = hi[j]; this.lo[i] = lo[j]; this.head[i] = head[j]
    }
  }

  private growEntries (): void {
    const n = this.next.length * 2
    const next = new Int32Array(n); next.set(this.next); this.next = next
    const ranges = new Uint32Array(n); ranges.set(this.ranges); this.ranges = ranges
    const firstDocs = new Uint32Array(n); firstDocs.set(this.firstDocs); this.firstDocs = firstDocs
    const wheres = new Uint32Array(n); wheres.set(this.wheres); this.wheres = wheres
    const ats = new Uint32Array(n); ats.set(this.ats); this.ats = ats
    const weights = new Uint32Array(n); weights.set(this.weights); this.weights = weights
  }
}
