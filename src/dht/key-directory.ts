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

// A slot is 4 words (hash hi, hash lo, 1 + newest entry, unused) and an entry 6 (next, range, firstDoc, where, at, weight), each
// in one array: a probe or an insert then touches one cache line, where an array per field touched one each (a mirror's share of
// R1 records ~300 K heads, every one a miss in tables of megabytes).
const SLOT = 4
const S_HI = 0; const S_LO = 1; const S_HEAD = 2
const ENTRY = 6
const E_NEXT = 0; const E_RANGE = 1; const E_FIRST = 2; const E_WHERE = 3; const E_AT = 4; const E_WEIGHT = 5

export class KeyDirectory {
  private slots = new Uint32Array(1024 * SLOT)
  private capacity = 1024
  private entries = new Uint32Array(1024 * ENTRY)
  /** Distinct units. */
  size = 0
  /** Distinct chunk keys. */
  chunks = 0
  /** The weight the last `add` replaced (the chunk was recorded before), or -1 when it added a new chunk. */
  replaced = -1
  /** Where the chunk the last `add` replaced was (meaningful when `replaced` >= 0). */
  replacedWhere = 0

  /** The slot (its first word) of `bytes[from, to)`'s hash, inserted when `add`, else -1 when absent. */
  private slot (bytes: Uint8Array, from: number, to: number, add: boolean): number {
    hash64(bytes, from, to)
    const a = hashOut[0]; const b = hashOut[1]
    const mask = this.capacity - 1
    const slots = this.slots
    let i = (a ^ Math.imul(b, 0x9e3779b1)) & mask
    for (;;) {
      const w = i * SLOT
      const h = slots[w + S_HI]; const l = slots[w + S_LO]
      if (h === EMPTY && l === EMPTY) {
        if (!add) return -1
        slots[w + S_HI] = a; slots[w + S_LO] = b; this.size++
        return w
      }
      if (h === a && l === b) return w
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
    if ((this.size + 1) * 2 > this.capacity) this.grow()
    const before = this.size
    const s = this.slot(bytes, from, to, true)
    const slots = this.slots
    let entries = this.entries
    for (let e = slots[s + S_HEAD] - 1; e >= 0; e = entries[e * ENTRY + E_NEXT] - 1) {
      const o = e * ENTRY
      if (entries[o + E_RANGE] === range && entries[o + E_FIRST] === firstDoc) {
        this.replaced = entries[o + E_WEIGHT]; this.replacedWhere = entries[o + E_WHERE]
        entries[o + E_WHERE] = where; entries[o + E_WEIGHT] = weight; entries[o + E_AT] = at
        return false
      }
    }
    this.replaced = -1
    if ((this.chunks + 1) * ENTRY > entries.length) entries = this.growEntries()
    const e = this.chunks++
    const o = e * ENTRY
    entries[o + E_NEXT] = slots[s + S_HEAD]; entries[o + E_RANGE] = range; entries[o + E_FIRST] = firstDoc
    entries[o + E_WHERE] = where; entries[o + E_AT] = at; entries[o + E_WEIGHT] = weight
    slots[s + S_HEAD] = e + 1
    return this.size > before
  }

  /** The chunk (range, firstDoc) of the unit `bytes[from, to)`, or -1 when not recorded. */
  find (bytes: Uint8Array, from: number, to: number, range: number, firstDoc: number): number {
    const s = this.slot(bytes, from, to, false)
    if (s < 0) return -1
    const entries = this.entries
    for (let e = this.slots[s + S_HEAD] - 1; e >= 0; e = entries[e * ENTRY + E_NEXT] - 1) {
      if (entries[e * ENTRY + E_RANGE] === range && entries[e * ENTRY + E_FIRST] === firstDoc) return e
    }
    return -1
  }

  /** Where chunk `e` (from find) is, as last recorded. */
  whereOf (e: number): number { return this.entries[e * ENTRY + E_WHERE] }
  /** At which byte of its pack chunk `e` (from find) is, as last recorded. */
  atOf (e: number): number { return this.entries[e * ENTRY + E_AT] }

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
    const entries = this.entries
    for (let e = this.slots[s + S_HEAD] - 1; e >= 0; e = entries[e * ENTRY + E_NEXT] - 1) {
      const o = e * ENTRY
      if (range === undefined || entries[o + E_RANGE] === range) out.push([entries[o + E_RANGE], entries[o + E_FIRST], entries[o + E_WHERE], entries[o + E_AT]])
    }
    if (out.length > 1) out.sort((x, y) => x[0] - y[0] || x[1] - y[1])
    return out
  }

  private grow (): void {
    const old = this.slots
    const capacity = this.capacity * 2
    const slots = new Uint32Array(capacity * SLOT)
    const mask = capacity - 1
    for (let w = 0; w < old.length; w += SLOT) {
      const h = old[w + S_HI]; const l = old[w + S_LO]
      if (h === EMPTY && l === EMPTY) continue
      let i = (h ^ Math.imul(l, 0x9e3779b1)) & mask
      while (slots[i * SLOT + S_HI] !== EMPTY || slots[i * SLOT + S_LO] !== EMPTY) i = (i + 1) & mask
      slots[i * SLOT + S_HI] = h; slots[i * SLOT + S_LO] = l; slots[i * SLOT + S_HEAD] = old[w + S_HEAD]
    }
    this.slots = slots
    this.capacity = capacity
  }

  private growEntries (): Uint32Array<ArrayBuffer> {
    const entries = new Uint32Array(this.entries.length * 2)
    entries.set(this.entries)
    this.entries = entries
    return entries
  }
}
