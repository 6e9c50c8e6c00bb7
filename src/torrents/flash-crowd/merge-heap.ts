/**
 * The clustering's small data structures: sorted peer-index sets and a
 * min-heap of candidate merges in typed arrays (millions of candidates at
 * 10,000 peers: one object per candidate would be most of the run in GC).
 */

/** Size of the symmetric difference of two sorted index arrays. */
export function symmetricDifference (a: Int32Array, b: Int32Array): number {
  let i = 0; let j = 0; let common = 0
  while (i < a.length && j < b.length) {
    const x = a[i]; const y = b[j]
    if (x === y) { common++; i++; j++ } else if (x < y) i++; else j++
  }
  return a.length + b.length - 2 * common
}

/** Sets up to this size are compared exactly; larger ones by their sketches. */
export const EXACT_UP_TO = 96
/** Min-hashes per sketch: the Jaccard estimate's error is about 1/sqrt(SKETCH). */
export const SKETCH = 64

/** One min-hash per seed of a large set (undefined for a small one, compared exactly). */
export function sketch (set: Int32Array): Uint32Array | undefined {
  if (set.length <= EXACT_UP_TO) return undefined
  const out = new Uint32Array(SKETCH).fill(0xffffffff)
  for (const p of set) {
    let h = Math.imul(p + 1, 0x9e3779b1) >>> 0
    for (let k = 0; k < SKETCH; k++) {
      // A cheap independent-enough hash family: xorshift-multiply of the element hash, per slot.
      h = Math.imul(h ^ (h >>> 15), 0x85ebca6b) >>> 0
      if (h < out[k]) out[k] = h
    }
  }
  return out
}

/**
 * Size of the symmetric difference, exact for small sets, estimated from
 * the sketches' Jaccard similarity for large ones (|A n B| = J / (1 + J) x
 * (|A| + |B|)): a merge cost only needs to rank candidates.
 */
export function differenceOf (a: Int32Array, sa: Uint32Array | undefined, b: Int32Array, sb: Uint32Array | undefined): number {
  if (sa === undefined || sb === undefined) return symmetricDifference(a, b)
  let equal = 0
  for (let k = 0; k < SKETCH; k++) if (sa[k] === sb[k]) equal++
  const j = equal / SKETCH
  return (a.length + b.length) * (1 - 2 * j / (1 + j))
}

/** Union of two sorted index arrays, sorted. */
export function union (a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length)
  let i = 0; let j = 0; let n = 0
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out[n++] = a[i++]
    else if (i >= a.length || b[j] < a[i]) out[n++] = b[j++]
    else { out[n++] = a[i++]; j++ }
  }
  return out.slice(0, n)
}

/** Min-heap of (cost, a, b) with a < b, ordered by cost, then a, then b (deterministic ties). */
export class MergeHeap {
  private cost = new Float64Array(1024)
  private a = new Int32Array(1024)
  private b = new Int32Array(1024)
  private n = 0
  /** The last popped entry (overwritten by each pop: no allocation per pop). */
  readonly top = { cost: 0, a: 0, b: 0 }

  get size (): number { return this.n }

  private less (i: number, j: number): boolean {
    const ci = this.cost[i]; const cj = this.cost[j]
    if (ci !== cj) return ci < cj
    if (this.a[i] !== this.a[j]) return this.a[i] < this.a[j]
    return this.b[i] < this.b[j]
  }

  private swap (i: number, j: number): void {
    const c = this.cost[i]; this.cost[i] = this.cost[j]; this.cost[j] = c
    const a = this.a[i]; this.a[i] = this.a[j]; this.a[j] = a
    const b = this.b[i]; this.b[i] = this.b[j]; this.b[j] = b
  }

  push (cost: number, a: number, b: number): void {
    if (this.n === this.cost.length) {
      const grow = <T extends Float64Array | Int32Array>(old: T, make: (n: number) => T): T => { const x = make(old.length * 2); x.set(old); return x }
      this.cost = grow(this.cost, (n) => new Float64Array(n))
      this.a = grow(this.a, (n) => new Int32Array(n))
      this.b = grow(this.b, (n) => new Int32Array(n))
    }
    let i = this.n++
    this.cost[i] = cost; this.a[i] = Math.min(a, b); this.b[i] = Math.max(a, b)
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(i, p)) break
      this.swap(i, p); i = p
    }
  }

  /** Removes the cheapest entry into `top`; false when empty. */
  pop (): boolean {
    if (this.n === 0) return false
    this.top.cost = this.cost[0]; this.top.a = this.a[0]; this.top.b = this.b[0]
    this.n--
    if (this.n > 0) {
      this.cost[0] = this.cost[this.n]; this.a[0] = this.a[this.n]; this.b[0] = this.b[this.n]
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1; let m = i
        if (l < this.n && this.less(l, m)) m = l
        if (r < this.n && this.less(r, m)) m = r
        if (m === i) break
        this.swap(i, m); i = m
      }
    }
    return true
  }
}
