/**
 * Checking a write before the shard store stores it: a write from the
 * network (the publisher's batch, a co-holder's repair) is validated whole,
 * so a bad one is refused before anything is written. Decoded writes
 * (ShardWrite) are checked field by field; encoded ones (WriteBuilder
 * entries from a signed or certified sender) for shape.
 */
import { ProtocolError } from './errors.ts'
import type { Catalog } from './types.ts'
import { CHUNK_VERSION, INLINE_POSTINGS_MAX, MAX_ID_BYTES, MAX_TERM_BYTES, P_BLOCK, P_DOC, P_HEAD, P_ID, P_RARE, VarintReader, WriteBuilder, chunkHeader, decodeChunkBody, enc, readU32be, supersededIn } from './shard-keys.ts'
import type { HeadChunk, PostingChunk, ShardWrite } from './shard-store.ts'
import { CorruptBlockError, PostingBuffer } from '../xml-twig-index/postings/codec.ts'
import { RareReader, checkRareRun } from './rare-runs.ts'

export { MAX_ID_BYTES, MAX_TERM_BYTES }
const U32 = 0x100000000
const SURROGATE = /[\uD800-\uDFFF]/
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

const isU32 = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < U32
export const show = (s: string): string => JSON.stringify(s.length > 80 ? `${s.slice(0, 80)}…` : s)

/** A term or id that can be a key: non-empty, well-formed (lone surrogates would collide as U+FFFD), no U+0000 (the key separator). */
export function checkText (s: unknown, what: string, max: number): asserts s is string {
  if (typeof s !== 'string' || s.length === 0) throw new ProtocolError(`${what} must be a non-empty string`)
  if (s.includes('\u0000')) throw new ProtocolError(`${what} ${show(s)} contains U+0000`)
  if (SURROGATE.test(s) && LONE_SURROGATE.test(s)) throw new ProtocolError(`${what} ${show(s)} contains a lone surrogate`)
  // UTF-8 takes at most 3 bytes per UTF-16 unit: measure only strings that might be too long
  if (s.length * 3 > max && Buffer.byteLength(s) > max) throw new ProtocolError(`${what} ${show(s)} is ${Buffer.byteLength(s)} bytes long (at most ${max})`)
}
/** UTF-8 of a valid key text. */
export function keyText (s: unknown, what: string, max: number): Uint8Array {
  checkText(s, what, max)
  return enc.encode(s)
}
export function u32 (n: unknown, what: string): number {
  if (!isU32(n)) throw new ProtocolError(`${what} ${String(n)} is not an integer in [0, 2^32)`)
  return n
}

const chunkName = (c: PostingChunk): string => `chunk (${show(c.term)}, range ${String(c.range)}, firstDoc ${String(c.firstDoc)})`

/** Checks a chunk's postings: sorted by (doc, start), docs in [max(firstDoc, range start), range end), ends >= starts. */
function checkPostings (c: PostingChunk, rangeDocs: number): void {
  const l = c.postings
  if (l == null || typeof l !== 'object') throw new ProtocolError(`${chunkName(c)}: postings missing`)
  const n = l.length
  if (!(l.docs instanceof Uint32Array) || !(l.starts instanceof Uint32Array) || !(l.ends instanceof Uint32Array) || !(l.levels instanceof Uint16Array)) {
    throw new ProtocolError(`${chunkName(c)}: postings are not columnar typed arrays`)
  }
  if (!Number.isInteger(n) || n < 1 || l.docs.length < n || l.starts.length < n || l.ends.length < n || l.levels.length < n) {
    throw new ProtocolError(`${chunkName(c)}: posting count ${String(n)} is not a positive integer within its arrays`)
  }
  const lo = Math.max(c.firstDoc, c.range * rangeDocs)
  const hi = (c.range + 1) * rangeDocs // exclusive
  const { docs, starts, ends } = l
  let prevDoc = -1; let prevStart = -1
  for (let i = 0; i < n; i++) {
    const d = docs[i]; const s = starts[i]
    if (d < lo || d >= hi) throw new ProtocolError(`${chunkName(c)}: posting ${i} has doc ${d} outside [${lo}, ${hi}) (firstDoc and range of ${rangeDocs} docs)`)
    if (d < prevDoc || (d === prevDoc && s < prevStart)) throw new ProtocolError(`${chunkName(c)}: posting ${i} (doc ${d}, start ${s}) is out of (doc, start) order`)
    if (ends[i] < s) throw new ProtocolError(`${chunkName(c)}: posting ${i} (doc ${d}) ends at ${ends[i]} before its start ${s}`)
    prevDoc = d; prevStart = s
  }
}

function checkHead (h: HeadChunk, rangeDocs: number, where: string): void {
  u32(h.postings, `${where}: postings`); u32(h.docs, `${where}: docs`); u32(h.lastDoc, `${where}: lastDoc`)
  if (h.postings < 1 || h.docs < 1 || h.docs > h.postings) throw new ProtocolError(`${where}: ${h.docs} docs and ${h.postings} postings (need 1 <= docs <= postings)`)
  const lo = Math.max(h.firstDoc, h.range * rangeDocs)
  if (h.lastDoc < lo || h.lastDoc >= (h.range + 1) * rangeDocs) throw new ProtocolError(`${where}: lastDoc ${h.lastDoc} outside [${lo}, ${(h.range + 1) * rangeDocs})`)
  if (h.docs > h.lastDoc - lo + 1) throw new ProtocolError(`${where}: ${h.docs} docs cannot fit in [${lo}, ${h.lastDoc}]`)
}

export function checkCatalog (c: Catalog): void {
  if (c == null || typeof c !== 'object') throw new ProtocolError('catalog is not an object')
  for (const f of ['seq', 'nextDocId', 'live', 'postings', 'rangeDocs', 'replicas'] as const) {
    if (!Number.isSafeInteger(c[f]) || c[f] < 0) throw new ProtocolError(`catalog ${f} ${String(c[f])} is not a non-negative integer`)
  }
  if (c.rangeDocs < 1) throw new ProtocolError('catalog rangeDocs must be at least 1')
  if (typeof c.publisher !== 'string' || typeof c.date !== 'string') throw new ProtocolError('catalog publisher and date must be strings')
  if (!Array.isArray(c.releases)) throw new ProtocolError('catalog releases must be an array')
  if (c.placement !== undefined && (!Number.isSafeInteger(c.placement) || c.placement < 1)) throw new ProtocolError(`catalog placement ${String(c.placement)} is not a positive integer`)
  if (!Array.isArray(c.dead) || c.dead.some((d, i) => !isU32(d) || (i > 0 && d <= c.dead[i - 1]))) throw new ProtocolError('catalog dead must be strictly increasing docIds')
}

/** One validated write, encoded; a key written twice counts once (the last write wins in the batch as in LevelDB). */
export interface Prepared {
  b: WriteBuilder
  /** Entry indexes in `b` of the chunks, heads, docs and ids (chunks first: entry i < chunkCounts.length is a chunk of chunkCounts[i] postings). */
  chunks: number[]
  chunkCounts: number[]
  heads: number[]
  /** Postings a head carries inline, by entry index (absent: none). */
  headCounts: number[]
  /** Entry indexes of rare runs (rare-runs.ts), checked whole. */
  rares: number[]
  docs: number[]
  ids: number[]
}

export function prepare (write: ShardWrite, rangeDocs: number): Prepared {
  if (write == null || typeof write !== 'object') throw new ProtocolError('shard write is not an object')
  const b = new WriteBuilder()
  const list = <T>(xs: T[] | undefined, what: string): T[] => {
    if (xs === undefined) return []
    if (!Array.isArray(xs)) throw new ProtocolError(`shard write ${what} is not an array`)
    return xs
  }
  const chunks: number[] = []; const chunkCounts: number[] = []; const heads: number[] = []; const headCounts: number[] = []; const docs: number[] = []; const ids: number[] = []
  for (const c of list(write.chunks, 'chunks')) {
    checkText(c?.term, 'chunk term', MAX_TERM_BYTES)
    if (!isU32(c.range)) u32(c.range, `${chunkName(c)}: range`)
    if (!isU32(c.firstDoc)) u32(c.firstDoc, `${chunkName(c)}: firstDoc`)
    checkPostings(c, rangeDocs)
    chunks.push(b.chunk(c.term, c.range, c.firstDoc, c.postings)); chunkCounts.push(c.postings.length)
  }
  for (const h of list(write.heads, 'heads')) {
    checkText(h?.term, 'head term', MAX_TERM_BYTES)
    const where = `head chunk (${show(h.term)}, range ${String(h.range)}, firstDoc ${String(h.firstDoc)})`
    u32(h.range, `${where}: range`); u32(h.firstDoc, `${where}: firstDoc`)
    checkHead(h, rangeDocs, where)
    if (h.inline !== undefined) {
      checkPostings({ term: h.term, range: h.range, firstDoc: h.firstDoc, postings: h.inline }, rangeDocs)
      if (h.inline.length !== h.postings || h.inline.length > INLINE_POSTINGS_MAX) throw new ProtocolError(`${where}: ${h.inline.length} inline postings for a head of ${h.postings} (inline only when all of them, at most ${INLINE_POSTINGS_MAX})`)
      if (h.inline.docs[h.inline.length - 1] !== h.lastDoc) throw new ProtocolError(`${where}: inline postings end at doc ${h.inline.docs[h.inline.length - 1]}, the head says ${h.lastDoc}`)
    }
    const at = b.head(h.term, h.range, h.firstDoc, h, h.inline)
    heads.push(at)
    if (h.inline !== undefined) headCounts[at] = h.inline.length
  }
  for (const d of list(write.docs, 'docs')) {
    const docId = u32(d?.docId, 'document docId')
    checkText(d.id, `document ${docId} id`, MAX_ID_BYTES)
    if (typeof d.xml !== 'string') throw new ProtocolError(`document ${docId} (${show(d.id)}): xml is not a string`)
    if (SURROGATE.test(d.xml) && LONE_SURROGATE.test(d.xml)) throw new ProtocolError(`document ${docId} (${show(d.id)}): xml contains a lone surrogate`)
    docs.push(b.doc(docId, d.id, d.xml))
  }
  for (const e of list(write.ids, 'ids')) {
    checkText(e?.id, 'id map id', MAX_ID_BYTES)
    ids.push(b.id(e.id, u32(e.docId, `id map ${show(e.id)}: docId`)))
  }
  const superseded = supersededIn(b)
  const live = (xs: number[]): number[] => superseded.size === 0 ? xs : xs.filter((i) => !superseded.has(i))
  return { b, chunks: live(chunks), chunkCounts, heads: live(heads), headCounts, rares: [], docs: live(docs), ids: live(ids) }
}

/**
 * Checks the shape of received entries (trusted senders: signed by the
 * publisher or a certified mirror) and sorts them by kind. It reads the
 * write's buffers through offsets: a mirror's share of a release is ~450 K
 * entries, and two views an entry were a good part of its garbage.
 */
export function prepareEncoded (b: WriteBuilder): Prepared {
  const chunks: number[] = []; const chunkCounts: number[] = []; const heads: number[] = []; const headCounts: number[] = []; const docs: number[] = []; const ids: number[] = []
  const rares: number[] = []
  const keys = b.keyBuf; const values = b.valueBuf
  for (let i = 0; i < b.length; i++) {
    const ks = b.keyStart(i); const ke = b.keyEnd(i)
    const vs = b.valueStart(i); const ve = b.valueEnd(i)
    switch (keys[ks]) {
      case P_BLOCK: {
        checkTermKey(keys, ks, ke, i)
        const v = values.subarray(vs, ve)
        let h
        try { h = chunkHeader(v, readU32be(keys, ke - 4)) } catch (err) { throw new ProtocolError(`encoded write: chunk ${i}: ${(err as Error).message}`) }
        if (h.count === 0 || h.body > v.length) throw new ProtocolError(`encoded write: chunk ${i} is empty or truncated`)
        chunks.push(i); chunkCounts[i] = h.count
        break
      }
      case P_HEAD: {
        checkTermKey(keys, ks, ke, i)
        const n = checkHeadValue(values, vs, ve, readU32be(keys, ke - 4), i)
        heads.push(i)
        if (n > 0) headCounts[i] = n
        break
      }
      case P_DOC:
        if (ke - ks !== 5 || ve === vs) throw new ProtocolError(`encoded write: document entry ${i} is malformed`)
        docs.push(i)
        break
      case P_RARE:
        if (ke - ks !== 5) throw new ProtocolError(`encoded write: rare run entry ${i} has a ${ke - ks}-byte key`)
        checkRareRun(values, vs, ve, `encoded write: rare run ${i}`, rareReader)
        rares.push(i)
        break
      case P_ID:
        if (ke - ks < 2 || ve - vs !== 4) throw new ProtocolError(`encoded write: id entry ${i} is malformed`)
        ids.push(i)
        break
      default:
        throw new ProtocolError(`encoded write: entry ${i} has an unknown key kind 0x${keys[ks].toString(16)}`)
    }
  }
  const superseded = supersededIn(b)
  const live = (xs: number[]): number[] => superseded.size === 0 ? xs : xs.filter((i) => !superseded.has(i))
  return { b, chunks: live(chunks), chunkCounts, heads: live(heads), headCounts, rares: live(rares), docs: live(docs), ids: live(ids) }
}

/** Entry i's key keys[ks, ke) is `prefix term 00 range firstDoc` with no U+0000 in the term. */
function checkTermKey (keys: Uint8Array, ks: number, ke: number, i: number): void {
  if (ke - ks < 11 || keys[ke - 9] !== 0) throw new ProtocolError(`encoded write: entry ${i} is not a (term, range, firstDoc) key`)
  for (let j = ks + 1; j < ke - 9; j++) if (keys[j] === 0) throw new ProtocolError(`encoded write: entry ${i} has a term with U+0000`)
}

/** Where inline chunks are decoded to be checked: one buffer for every head of every write, not one per head (and one reader). */
const checked = new PostingBuffer(INLINE_POSTINGS_MAX)
const headReader = new VarintReader(new Uint8Array(0))
const rareReader = new RareReader()

/** Checks an encoded head value bytes[from, to) (three varints, then maybe its inline chunk); returns the postings it carries inline. */
function checkHeadValue (bytes: Uint8Array, from: number, to: number, firstDoc: number, i: number): number {
  try {
    const r = headReader.over(bytes, from, to)
    const postings = r.next(); r.next(); const lastDoc = firstDoc + r.next()
    const at = r.p
    if (at >= to) {
      if (to - from > 30) throw new ProtocolError(`a ${to - from}-byte value`)
      return 0
    }
    const length = to - at
    // bounded before it is decoded: at most INLINE_POSTINGS_MAX postings of a few varints each
    if (length > 32 + INLINE_POSTINGS_MAX * 24) throw new ProtocolError(`an inline chunk of ${length} bytes`)
    // the inline chunk's header as chunkHeader reads it (version, count, last doc), without the object it returns: one per head
    if (bytes[at] !== CHUNK_VERSION) throw new CorruptBlockError(`posting chunk version ${bytes[at]} is not ${CHUNK_VERSION}`)
    r.over(bytes, at + 1, to, at)
    const count = r.next()
    const chunkLast = firstDoc + r.next()
    // decoded whole: what the sub-blocks hold, not only what the chunk's header says, is what readers get
    const list = count === postings && count <= INLINE_POSTINGS_MAX && r.p < to ? decodeChunkBody(bytes.subarray(at, to), r.p - at, firstDoc, checked) : undefined
    if (list === undefined || list.length !== count || list.docs[list.length - 1] !== lastDoc || chunkLast !== lastDoc) {
      throw new ProtocolError(`an inline chunk of ${list?.length ?? count} postings to doc ${chunkLast} for a head of ${postings} to doc ${lastDoc} (at most ${INLINE_POSTINGS_MAX})`)
    }
    return count
  } catch (err) {
    throw new ProtocolError(`encoded write: head ${i} has ${(err as Error).message}`)
  }
}

