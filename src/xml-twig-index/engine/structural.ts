import { PostingBuffer, type PostingList } from '../postings/codec.ts'

/**
 * Structural semi-joins over node lists sorted by (doc, start), the building
 * blocks of the twig evaluation. Each runs in one merge pass with a stack of
 * open ancestors (Al-Khalifa et al.'s stack-tree join, reduced to semi-joins):
 * O(|A| + |B|) for both the ancestor-descendant and the parent-child axis.
 *
 * Containment: `a` contains `b` when same doc and a.start < b.start < a.end.
 * Parent-child additionally needs b.level = a.level + 1 (attributes are
 * "children" structurally; the term of the list already says which kind).
 */
export type StructuralAxis = 'child' | 'descendant' | 'self'

/** Nodes of `b` that have a parent (axis child) / an ancestor (descendant) / themselves (self) in `a`. */
export function descendantsIn (a: PostingList, b: PostingList, axis: StructuralAxis): PostingList {
  if (axis === 'self') return intersect(a, b)
  if (a.length * 32 < b.length) return descendantsBySearch(a, b, axis)
  const out = new PostingBuffer(Math.min(b.length, 1024))
  const stack: number[] = [] // indexes into a
  let i = 0
  for (let j = 0; j < b.length; j++) {
    const bd = b.docs[j]; const bs = b.starts[j]
    // open every a-node that starts before b (same or earlier doc), keeping only a chain of nested nodes
    while (i < a.length && (a.docs[i] < bd || (a.docs[i] === bd && a.starts[i] < bs))) {
      while (stack.length > 0 && !contains(a, stack[stack.length - 1], a.docs[i], a.starts[i])) stack.pop()
      stack.push(i++)
    }
    while (stack.length > 0 && !contains(a, stack[stack.length - 1], bd, bs)) stack.pop()
    if (stack.length === 0) continue
    if (axis === 'descendant' || a.levels[stack[stack.length - 1]] === b.levels[j] - 1) out.push(bd, bs, b.ends[j], b.levels[j])
  }
  return out
}

/**
 * The same join when `a` is much smaller than `b` (a few collections of a
 * release, many packages): each a-node binary-searches its region in `b`
 * instead of the merge walking all of `b`. Nested a-nodes are skipped
 * (their region is inside their ancestor's) so no b-node is emitted twice.
 */
function descendantsBySearch (a: PostingList, b: PostingList, axis: StructuralAxis): PostingList {
  const out = new PostingBuffer(64)
  let coveredDoc = -1; let coveredEnd = -1
  for (let i = 0; i < a.length; i++) {
    const doc = a.docs[i]; const start = a.starts[i]; const end = a.ends[i]
    if (axis === 'descendant' && doc === coveredDoc && start < coveredEnd) continue
    let lo = lowerBound(b, doc, start + 1)
    for (; lo < b.length && b.docs[lo] === doc && b.starts[lo] < end; lo++) {
      if (axis === 'child' && b.levels[lo] !== a.levels[i] + 1) continue
      if (axis === 'child' && lastEmitted(out, doc, b.starts[lo])) continue
      out.push(doc, b.starts[lo], b.ends[lo], b.levels[lo])
    }
    if (axis === 'descendant') { coveredDoc = doc; coveredEnd = end }
  }
  // Child joins from nested a-nodes can interleave: restore (doc, start) order.
  return axis === 'child' ? sortedUnique(out) : out
}

function lastEmitted (out: PostingBuffer, doc: number, start: number): boolean {
  return out.length > 0 && out.docs[out.length - 1] === doc && out.starts[out.length - 1] === start
}

function sortedUnique (l: PostingBuffer): PostingList {
  let ordered = true
  for (let i = 1; i < l.length && ordered; i++) if (l.docs[i] < l.docs[i - 1] || (l.docs[i] === l.docs[i - 1] && l.starts[i] <= l.starts[i - 1])) ordered = false
  if (ordered) return l
  const idx = Array.from({ length: l.length }, (_, i) => i).sort((x, y) => (l.docs[x] - l.docs[y]) || (l.starts[x] - l.starts[y]))
  const out = new PostingBuffer(l.length)
  for (const i of idx) if (!lastEmitted(out, l.docs[i], l.starts[i])) out.push(l.docs[i], l.starts[i], l.ends[i], l.levels[i])
  return out
}

/** First index of `b` at or after (doc, start). */
function lowerBound (b: PostingList, doc: number, start: number): number {
  let lo = 0; let hi = b.length
  while (lo < hi) {
    const m = (lo + hi) >>> 1
    if (b.docs[m] < doc || (b.docs[m] === doc && b.starts[m] < start)) lo = m + 1
    else hi = m
  }
  return lo
}

/** Nodes of `a` that have a child (axis child) / a descendant (descendant) / themselves (self) in `b`. */
export function ancestorsIn (a: PostingList, b: PostingList, axis: StructuralAxis): PostingList {
  if (axis === 'self') return intersect(a, b)
  const marked = new Uint8Array(a.length)
  const stack: number[] = []
  let i = 0
  for (let j = 0; j < b.length; j++) {
    const bd = b.docs[j]; const bs = b.starts[j]
    while (i < a.length && (a.docs[i] < bd || (a.docs[i] === bd && a.starts[i] < bs))) {
      while (stack.length > 0 && !contains(a, stack[stack.length - 1], a.docs[i], a.starts[i])) stack.pop()
      stack.push(i++)
    }
    while (stack.length > 0 && !contains(a, stack[stack.length - 1], bd, bs)) stack.pop()
    if (stack.length === 0) continue
    if (axis === 'child') {
      const top = stack[stack.length - 1]
      if (a.levels[top] === b.levels[j] - 1) marked[top] = 1
    } else {
      // Every entry below a marked one was marked with it (it contains the same node), so stop there.
      for (let k = stack.length - 1; k >= 0 && marked[stack[k]] === 0; k--) marked[stack[k]] = 1
    }
  }
  return select(a, marked, 1)
}

function contains (a: PostingList, k: number, doc: number, start: number): boolean {
  return a.docs[k] === doc && a.starts[k] < start && start < a.ends[k]
}

function select (a: PostingList, marks: Uint8Array, want: number): PostingList {
  const out = new PostingBuffer(64)
  for (let k = 0; k < a.length; k++) if (marks[k] === want) out.push(a.docs[k], a.starts[k], a.ends[k], a.levels[k])
  return out
}

const before = (a: PostingList, i: number, b: PostingList, j: number): boolean =>
  a.docs[i] < b.docs[j] || (a.docs[i] === b.docs[j] && a.starts[i] < b.starts[j])

/** Nodes in both lists (same doc and start). */
export function intersect (a: PostingList, b: PostingList): PostingList {
  const out = new PostingBuffer(Math.min(a.length, b.length, 1024))
  let i = 0; let j = 0
  while (i < a.length && j < b.length) {
    if (before(a, i, b, j)) i++
    else if (before(b, j, a, i)) j++
    else { out.push(a.docs[i], a.starts[i], a.ends[i], a.levels[i]); i++; j++ }
  }
  return out
}

/** Nodes in either list, without duplicates. */
export function union (a: PostingList, b: PostingList): PostingList {
  if (a.length === 0) return b
  if (b.length === 0) return a
  const out = new PostingBuffer(a.length + b.length)
  let i = 0; let j = 0
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && before(a, i, b, j))) { out.push(a.docs[i], a.starts[i], a.ends[i], a.levels[i]); i++ } else if (i >= a.length || before(b, j, a, i)) { out.push(b.docs[j], b.starts[j], b.ends[j], b.levels[j]); j++ } else { out.push(a.docs[i], a.starts[i], a.ends[i], a.levels[i]); i++; j++ }
  }
  return out
}

/** Nodes of `a` not in `b`. */
export function difference (a: PostingList, b: PostingList): PostingList {
  const marks = new Uint8Array(a.length)
  let i = 0; let j = 0
  while (i < a.length && j < b.length) {
    if (before(a, i, b, j)) i++
    else if (before(b, j, a, i)) j++
    else { marks[i] = 1; i++; j++ }
  }
  return select(a, marks, 0)
}

/** Nodes at a given level (absolute child steps from the document node). */
export function atLevel (a: PostingList, level: number): PostingList {
  const out = new PostingBuffer(64)
  for (let k = 0; k < a.length; k++) if (a.levels[k] === level) out.push(a.docs[k], a.starts[k], a.ends[k], a.levels[k])
  return out
}

/** Nodes whose doc satisfies `keep`. */
export function inDocs (a: PostingList, keep: (doc: number) => boolean): PostingList {
  const out = new PostingBuffer(64)
  for (let k = 0; k < a.length; k++) if (keep(a.docs[k])) out.push(a.docs[k], a.starts[k], a.ends[k], a.levels[k])
  return out
}

/** The postings of `l` at the given indexes, in that order. */
export function sliceOf (l: PostingList, idx: ArrayLike<number>): PostingList {
  const n = idx.length
  const out = { length: n, docs: new Uint32Array(n), starts: new Uint32Array(n), ends: new Uint32Array(n), levels: new Uint16Array(n) }
  for (let k = 0; k < n; k++) {
    const i = idx[k]
    out.docs[k] = l.docs[i]; out.starts[k] = l.starts[i]; out.ends[k] = l.ends[i]; out.levels[k] = l.levels[i]
  }
  return out
}

/** Indexes of `context`'s document roots (level 1), and of its other nodes. */
export function splitRoots (context: PostingList): { roots: Int32Array, others: Int32Array } {
  let n = 0
  for (let i = 0; i < context.length; i++) if (context.levels[i] === 1) n++
  const roots = new Int32Array(n); const others = new Int32Array(context.length - n)
  for (let i = 0, r = 0, o = 0; i < context.length; i++) { if (context.levels[i] === 1) roots[r++] = i; else others[o++] = i }
  return { roots, others }
}

/** The roots (indexes into `context`, in order) whose document is in the sorted `docs`: a merge walk, both in doc order. */
export function rootsIn (context: PostingList, roots: Int32Array, docs: Uint32Array): Int32Array {
  const out = new Int32Array(roots.length)
  let n = 0; let j = 0
  for (let k = 0; k < roots.length; k++) {
    const d = context.docs[roots[k]]
    while (j < docs.length && docs[j] < d) j++
    if (j < docs.length && docs[j] === d) out[n++] = roots[k]
  }
  return out.subarray(0, n)
}

