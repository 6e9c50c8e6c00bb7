/**
 * The reducers of a `blocks` request (/edos/postings/1.0.0): per key, the
 * docIds its postings may have (an exact set or a Bloom filter) and, for a
 * related read, the nodes they must lie below or above. A request carries
 * each distinct reducer once, as one part described in `reducers`, and
 * `reducerOf` says which key uses which (-1: none), so every list a query
 * reads from one holder in one round travels in one request, whatever its
 * range and filter. When one reducer serves every key, the request says
 * `filter` (its kind, and `relation` and `axis` for a related read) instead.
 * Keys may be asked other than for their postings (`having`, `roots`), and
 * postings may come in columns (`cols`): see blockAnswers.
 */
import { SortedDocSet, docsOf, type DocFilter, type RelatedNodes } from '../xml-twig-index/engine/source.ts'
import { ancestorsIn, descendantsIn } from '../xml-twig-index/engine/structural.ts'
import { ByteWriter, PostingBuffer, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { decodeDocSet, decodeFilter, encodeDocSet } from './bloom.ts'
import { encodeCols } from './cols-codec.ts'
import { ProtocolError } from './errors.ts'
import { decodePostingList, encodePostingList, intArray, optIntArray, optStr, str, type Header } from './wire.ts'
import type { PositionRegion } from './shard-keys.ts'

/** How one reducer part reads: a docId filter, or nodes the postings must relate to (their documents are the filter). */
export type ReducerSpec = { kind: 'docs' | 'bloom' } | { kind: 'related', relation: RelatedNodes['relation'], axis: RelatedNodes['axis'] }

/** A key's reducer as a holder applies it. */
export interface KeyReducer {
  docs: DocFilter
  related?: RelatedNodes
}

/** Most nodes one related reducer may carry (a reader sends at most a few thousand). */
export const MAX_RELATED_NODES = 16_384
/** Most (key, related node) pairs one request may ask a holder to join: bounds the work a request can cost. */
export const MAX_RELATED_WORK = 2_000_000

function decodeOne (spec: unknown, part: Uint8Array | undefined, at: string): KeyReducer {
  if (spec == null || typeof spec !== 'object' || Array.isArray(spec)) throw new ProtocolError(`blocks: ${at} is not an object`)
  if (part === undefined) throw new ProtocolError(`blocks: ${at} has no part`)
  const s = spec as Header
  const kind = str(s, 'kind')
  if (kind === 'docs' || kind === 'bloom') return { docs: decodeFilter(kind, part) }
  if (kind !== 'related') throw new ProtocolError(`blocks: unknown filter kind '${kind}' in ${at}`)
  const relation = str(s, 'relation')
  const axis = str(s, 'axis')
  if (relation !== 'below' && relation !== 'above') throw new ProtocolError(`blocks: unknown relation '${relation}' in ${at}`)
  if (axis !== 'child' && axis !== 'descendant') throw new ProtocolError(`blocks: unknown axis '${axis}' in ${at}`)
  let nodes: PostingList
  try {
    nodes = decodePostingList(part)
  } catch (err) {
    throw new ProtocolError(`blocks: the nodes of ${at}: ${(err as Error).message}`)
  }
  if (nodes.length > MAX_RELATED_NODES) throw new ProtocolError(`blocks: ${nodes.length} related nodes in ${at}, more than ${MAX_RELATED_NODES}`)
  checkNested(nodes, at)
  return { docs: new SortedDocSet(docsOf(nodes)), related: { relation, axis, nodes } }
}

/**
 * Nodes as a document has them: distinct starts, and a node that starts
 * inside another ends inside it one level deeper or more. The joins rely on
 * it; overlapping nodes of one level would make a child join emit a region
 * once per node.
 */
function checkNested (nodes: PostingList, at: string): void {
  const open: number[] = []
  for (let i = 0; i < nodes.length; i++) {
    const doc = nodes.docs[i]; const start = nodes.starts[i]
    if (i > 0 && doc === nodes.docs[i - 1] && start === nodes.starts[i - 1]) throw new ProtocolError(`blocks: ${at} has node ${i} twice (doc ${doc}, start ${start})`)
    while (open.length > 0) {
      const j = open[open.length - 1]
      if (nodes.docs[j] === doc && start <= nodes.ends[j]) break
      open.pop()
    }
    const parent = open[open.length - 1]
    if (parent !== undefined && (nodes.ends[i] > nodes.ends[parent] || nodes.levels[i] <= nodes.levels[parent])) {
      throw new ProtocolError(`blocks: ${at}: node ${i} (doc ${doc}, ${start}-${nodes.ends[i]}, level ${nodes.levels[i]}) overlaps node ${parent} without nesting in it`)
    }
    open.push(i)
  }
}

/** Each key's reducer (undefined: the whole block); keys sharing a part share the object. */
export function decodeReducers (h: Header, parts: Uint8Array[], keys: number): Array<KeyReducer | undefined> {
  const specs = h.reducers
  if (specs == null) {
    const kind = optStr(h, 'filter')
    if (kind === undefined) return new Array<undefined>(keys).fill(undefined)
    const one = decodeOne({ kind, relation: h.relation, axis: h.axis }, parts[0], 'the filter')
    return checkWork(new Array<KeyReducer>(keys).fill(one))
  }
  if (!Array.isArray(specs)) throw new ProtocolError('blocks: reducers is not an array')
  if (specs.length !== parts.length) throw new ProtocolError(`blocks: ${specs.length} reducers but ${parts.length} parts`)
  const decoded = specs.map((spec: unknown, i) => decodeOne(spec, parts[i], `reducer ${i}`))
  const of = intArray(h, 'reducerOf', -1, specs.length - 1)
  if (of.length !== keys) throw new ProtocolError(`blocks: ${keys} keys but ${of.length} reducerOf entries`)
  return checkWork(of.map((i) => i < 0 ? undefined : decoded[i]))
}

function checkWork (reducers: Array<KeyReducer | undefined>): Array<KeyReducer | undefined> {
  let work = 0
  for (const r of reducers) work += r?.related?.nodes.length ?? 0
  if (work > MAX_RELATED_WORK) throw new ProtocolError(`blocks: ${work} (key, related node) pairs to join, more than ${MAX_RELATED_WORK}`)
  return reducers
}

/** What a holder ships of a block read with `r`: the postings related to its nodes, or the block as its docId filter left it. */
export function applyRelated (list: PostingList, r: KeyReducer | undefined): PostingList {
  const related = r?.related
  if (related === undefined || list.length === 0) return list
  return relatedIn(list, related)
}

/**
 * The positions where postings below `related`'s nodes can lie (a node's
 * descendants start inside it), for a holder to skip sub-blocks outside
 * them; undefined for postings above nodes (an ancestor starts anywhere
 * before its descendant).
 */
export function regionOf (related: RelatedNodes | undefined): PositionRegion | undefined {
  if (related === undefined || related.relation !== 'below') return undefined
  const { docs, starts, ends, length } = related.nodes
  return (fromDoc, fromStart, toDoc, toStart) => {
    // the first node of fromDoc: one starting before fromStart may still contain it
    let lo = 0; let hi = length
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (docs[mid] < fromDoc) lo = mid + 1; else hi = mid }
    for (let i = lo; i < length && docs[i] <= toDoc; i++) {
      const d = docs[i]
      if (d === toDoc && starts[i] >= toStart) break
      // its descendants start in (start, end)
      const first = d === fromDoc ? Math.max(fromStart, starts[i] + 1) : starts[i] + 1
      const last = d === toDoc ? Math.min(toStart, ends[i] - 1) : ends[i] - 1
      if (first <= last) return true
    }
    return false
  }
}

/** The postings of `list` below or above the given nodes (as `related` says). */
export function relatedIn (list: PostingList, related: RelatedNodes): PostingList {
  return related.relation === 'below' ? descendantsIn(related.nodes, list, related.axis) : ancestorsIn(list, related.nodes, related.axis)
}

/** A key asked for existence only: `level`, when given, asks too which of the docs have a posting at that level (a root's child). */
export interface HavingAsk { level?: number }

/**
 * The keys of a `blocks` request asked for existence only (see above), with
 * the level each asks about (`havingLevel`, aligned with `having`; 0: none).
 * A key with a docId reducer needs an exact set; one with related nodes is
 * asked which of those nodes relate to a posting (no level).
 */
export function havingKeys (h: Header, reducers: Array<KeyReducer | undefined>): Map<number, HavingAsk> {
  const keys = optIntArray(h, 'having', 0, Math.max(0, reducers.length - 1))
  if (keys === undefined) return new Map()
  if (reducers.length === 0) throw new ProtocolError('blocks: having names keys of a request without keys')
  const levels = optIntArray(h, 'havingLevel', 0, 0xffff) ?? []
  if (levels.length > 0 && levels.length !== keys.length) throw new ProtocolError(`blocks: ${keys.length} having keys but ${levels.length} havingLevel entries`)
  const out = new Map<number, HavingAsk>()
  keys.forEach((i, k) => {
    const r = reducers[i]
    if (r !== undefined && r.related === undefined && !(r.docs instanceof SortedDocSet)) throw new ProtocolError(`blocks: key ${i} is asked for existence (having) without an exact docId set`)
    if (r?.related !== undefined && levels[k] > 0) throw new ProtocolError(`blocks: key ${i} asks a level of related nodes`)
    out.set(i, levels[k] > 0 ? { level: levels[k] } : {})
  })
  return out
}

/**
 * The parts of a `blocks` answer, each key's as it was asked (postings,
 * existence, roots), and the header fields naming the parts that are not
 * posting lists: a reader cannot tell them apart, and a holder from before
 * an ask ships postings. With `cols`, postings go in the cols form where
 * it is shorter, docs counted in the key's exact docId set when it has one
 * (a `docs` reducer, or the docs of related nodes).
 */
export function blockAnswers (lists: PostingList[], reducers: Array<KeyReducer | undefined>, having: Map<number, HavingAsk>, roots: Set<number>, cols: boolean): { parts: Uint8Array[], answered: Record<string, number[]> } {
  const colsParts: number[] = []
  const parts = lists.map((l, i) => {
    const exact = reducers[i]?.docs instanceof SortedDocSet ? (reducers[i]?.docs as SortedDocSet).docs : undefined
    if (roots.has(i)) return rootsAnswer(l, exact as Uint32Array)
    const ask = having.get(i)
    if (ask !== undefined) {
      const related = reducers[i]?.related
      return related !== undefined ? relatedHavingAnswer(l, related) : havingAnswer(l, ask, exact)
    }
    if (!cols) return encodePostingList(l)
    let c: Uint8Array
    try { c = encodeCols(l, exact) } catch { return encodePostingList(l) }
    // a posting list spends 4 bytes a posting at least; its index in the answer's `cols` costs a byte or two
    const plain = c.length + 2 < 4 * l.length ? undefined : encodePostingList(l)
    if (plain !== undefined && c.length + 2 >= plain.length) return plain
    colsParts.push(i)
    return c
  })
  const answered: Record<string, number[]> = {}
  if (having.size > 0) answered.having = [...having.keys()]
  if (roots.size > 0) answered.roots = [...roots]
  if (colsParts.length > 0) answered.cols = colsParts
  return { parts, answered }
}

/**
 * The keys of a `blocks` request asked for their nodes as rootNodes reads
 * them (`roots`): each needs an exact docId set, and is not an existence ask.
 */
export function rootKeys (h: Header, reducers: Array<KeyReducer | undefined>, having: Map<number, HavingAsk>): Set<number> {
  const keys = optIntArray(h, 'roots', 0, Math.max(0, reducers.length - 1))
  if (keys === undefined) return new Set()
  if (reducers.length === 0) throw new ProtocolError('blocks: roots names keys of a request without keys')
  for (const i of keys) {
    const r = reducers[i]
    if (r === undefined || r.related !== undefined || !(r.docs instanceof SortedDocSet)) throw new ProtocolError(`blocks: key ${i} is asked for roots without an exact docId set`)
    if (having.has(i)) throw new ProtocolError(`blocks: key ${i} is asked for roots and existence`)
  }
  return new Set(keys)
}

/**
 * The answer to a roots ask over the asked docs (the key's exact docId
 * set): a bitmap (LSB first) of the docs whose only posting is their root
 * (level 1, start 0), then the postings of the other docs as a posting list.
 */
export function rootsAnswer (list: PostingList, docs: Uint32Array): Uint8Array {
  const bits = new Uint8Array((docs.length + 7) >>> 3)
  const others = new PostingBuffer(0)
  let j = 0
  for (let i = 0; i < docs.length && j < list.length; i++) {
    while (j < list.length && list.docs[j] < docs[i]) j++
    let k = j
    while (k < list.length && list.docs[k] === docs[i]) k++
    if (k === j + 1 && list.levels[j] === 1 && list.starts[j] === 0) bits[i >>> 3] |= 1 << (i & 7)
    else others.append(list, j, k)
    j = k
  }
  const nodes = encodePostingList(others)
  const out = new Uint8Array(bits.length + nodes.length)
  out.set(bits); out.set(nodes, bits.length)
  return out
}

/** Reads a roots answer (see rootsAnswer), checked against the docs asked: the other postings must be of asked docs not named roots. */
export function readRootsAnswer (part: Uint8Array, docs: Uint32Array, at: string): { roots: Uint32Array, nodes: PostingList } {
  const n = (docs.length + 7) >>> 3
  if (part.length < n + 1) throw new ProtocolError(`${at}: roots answer of ${part.length} bytes for ${docs.length} docs`)
  const roots = docsFromBitmap(docs, part.subarray(0, n), at)
  const nodes = decodePostingList(part.subarray(n))
  // both in doc order: every posting's doc is asked and not a named root
  for (let i = 0, a = 0, r = 0; i < nodes.length; i++) {
    const d = nodes.docs[i]
    while (a < docs.length && docs[a] < d) a++
    while (r < roots.length && roots[r] < d) r++
    if (a >= docs.length || docs[a] !== d) throw new ProtocolError(`${at}: roots answer has a posting of doc ${d}, which was not asked`)
    if (r < roots.length && roots[r] === d) throw new ProtocolError(`${at}: roots answer names doc ${d} a root and sends its postings`)
  }
  return { roots, nodes }
}

/**
 * The answer to an existence ask: over the asked docs (the key's exact
 * docId set), a bitmap of those with a posting, then, for a level, a bitmap
 * of those with one at that level; with no docs asked, the docs with a
 * posting as a docId set (varint length first), then the level's bitmap
 * over them. Bit i is LSB first.
 */
export function havingAnswer (list: PostingList, ask: HavingAsk, docs?: Uint32Array): Uint8Array {
  const level = ask.level
  const atLevel = level === undefined ? undefined : keepLevel(list, level)
  const w = new ByteWriter(64)
  if (docs !== undefined) {
    w.bytes(havingBitmap(docs, list))
    if (atLevel !== undefined) w.bytes(havingBitmap(docs, atLevel))
    return w.result()
  }
  const found = docsOf(list)
  const set = encodeDocSet(found)
  w.varint(set.length)
  w.bytes(set)
  if (atLevel !== undefined) w.bytes(havingBitmap(found, atLevel))
  return w.result()
}

/** The nodes of `related.nodes` that relate to a posting of `list` (below or above them, as `related` says). */
export function relatedNodes (list: PostingList, related: RelatedNodes): PostingList {
  return related.relation === 'below' ? ancestorsIn(related.nodes, list, related.axis) : descendantsIn(list, related.nodes, related.axis)
}

/** The answer to an existence ask with related nodes: bit i set when the i-th node relates to a posting of `list` (LSB first). */
export function relatedHavingAnswer (list: PostingList, related: RelatedNodes): Uint8Array {
  const nodes = related.nodes
  const hit = relatedNodes(list, related)
  const out = new Uint8Array((nodes.length + 7) >>> 3)
  // both sorted by (doc, start), and a node list has distinct positions (checkNested)
  let j = 0
  for (let i = 0; i < nodes.length && j < hit.length; i++) {
    if (nodes.docs[i] === hit.docs[j] && nodes.starts[i] === hit.starts[j]) { out[i >>> 3] |= 1 << (i & 7); j++ }
  }
  return out
}

/** The nodes a related existence bitmap marks (see relatedHavingAnswer), checked against the nodes it was asked with. */
export function readRelatedHaving (part: Uint8Array, nodes: PostingList, at: string): PostingList {
  if (part.length !== (nodes.length + 7) >>> 3) throw new ProtocolError(`${at}: existence bitmap of ${part.length} bytes for ${nodes.length} nodes`)
  if ((nodes.length & 7) !== 0 && (part[part.length - 1] >>> (nodes.length & 7)) !== 0) throw new ProtocolError(`${at}: existence bitmap has bits past its ${nodes.length} nodes`)
  const out = new PostingBuffer(0)
  for (let i = 0; i < nodes.length; i++) if ((part[i >>> 3] & (1 << (i & 7))) !== 0) out.push(nodes.docs[i], nodes.starts[i], nodes.ends[i], nodes.levels[i])
  return out
}

/** Reads an existence answer (see havingAnswer), checked against what was asked. */
export function readHavingAnswer (part: Uint8Array, ask: HavingAsk, docs: Uint32Array | undefined, at: string): { docs: Uint32Array, atLevel?: Uint32Array } {
  let asked: Uint32Array
  let p = 0
  let found: Uint32Array
  if (docs !== undefined) {
    asked = docs
    const n = (docs.length + 7) >>> 3
    if (part.length !== n * (ask.level === undefined ? 1 : 2)) throw new ProtocolError(`${at}: existence answer of ${part.length} bytes for ${docs.length} docs`)
    found = docsFromBitmap(docs, part.subarray(0, n), at)
    p = n
  } else {
    let len = 0; let mul = 1
    for (let shift = 0; ; shift += 7, mul *= 128) {
      if (p >= part.length || shift > 28) throw new ProtocolError(`${at}: existence answer truncated in its docId set's length`)
      const b = part[p++]
      len += (b & 0x7f) * mul
      if (b < 0x80) break
    }
    if (p + len > part.length) throw new ProtocolError(`${at}: existence answer announces a docId set of ${len} bytes, ${part.length - p} present`)
    found = asked = decodeDocSet(part.subarray(p, p + len)).docs
    p += len
    if (part.length - p !== (ask.level === undefined ? 0 : (found.length + 7) >>> 3)) throw new ProtocolError(`${at}: existence answer has ${part.length - p} bytes after its docId set of ${found.length} docs`)
  }
  if (ask.level === undefined) return { docs: found }
  const atLevel = docsFromBitmap(asked, part.subarray(p), at)
  // at a level implies a posting: a holder cannot name a doc at a level that it says has none (both sorted: a merge walk)
  for (let i = 0, j = 0; i < atLevel.length; i++) {
    while (j < found.length && found[j] < atLevel[i]) j++
    if (j >= found.length || found[j] !== atLevel[i]) throw new ProtocolError(`${at}: existence answer has doc ${atLevel[i]} at level ${ask.level} but not among the docs with a posting`)
  }
  return { docs: found, atLevel }
}

function keepLevel (list: PostingList, level: number): PostingList {
  const out = new PostingBuffer(0)
  for (let i = 0; i < list.length; i++) if (list.levels[i] === level) out.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i])
  return out
}

/** Bit i (LSB first) set when docs[i] has a posting in `list` (both sorted). */
export function havingBitmap (docs: Uint32Array, list: PostingList): Uint8Array {
  const out = new Uint8Array((docs.length + 7) >>> 3)
  let j = 0
  for (let i = 0; i < docs.length && j < list.length; i++) {
    const d = docs[i]
    while (j < list.length && list.docs[j] < d) j++
    if (j < list.length && list.docs[j] === d) out[i >>> 3] |= 1 << (i & 7)
  }
  return out
}

/** The docs a having bitmap marks, checked against the set it was asked with. */
export function docsFromBitmap (docs: Uint32Array, bitmap: Uint8Array, at: string): Uint32Array {
  if (bitmap.length !== (docs.length + 7) >>> 3) throw new ProtocolError(`${at}: existence bitmap of ${bitmap.length} bytes for ${docs.length} docs`)
  const out = new Uint32Array(docs.length)
  let n = 0
  for (let i = 0; i < docs.length; i++) if ((bitmap[i >>> 3] & (1 << (i & 7))) !== 0) out[n++] = docs[i]
  if ((docs.length & 7) !== 0 && (bitmap[bitmap.length - 1] >>> (docs.length & 7)) !== 0) throw new ProtocolError(`${at}: existence bitmap has bits past its ${docs.length} docs`)
  return out.subarray(0, n)
}
