/**
 * A ShardWrite on the wire (appends and replication). The JSON header only
 * counts; the keys go in a compact binary part (a batch names tens of
 * thousands of keys: as JSON it would be megabytes to parse and to
 * canonicalise for the signature), followed by one part per chunk's
 * postings, one per inline head's postings and one per document text. Decoding checks shapes; the shard
 * store checks content (sortedness, ranges) before it writes anything.
 *
 * Key part: for each chunk (term, range, firstDoc), each head (term,
 * range, firstDoc, postings, docs, lastDoc, inline 0/1), each document (docId, id),
 * each id (id, docId); strings as varint length + UTF-8, numbers as varints.
 */
import { ByteWriter } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'
import type { HeadChunk, PostingChunk, ShardWrite } from './shard-store.ts'
import type { HeldDocument } from './types.ts'
import { VarintReader, WriteBuilder } from './shard-keys.ts'
import { MAX_ID_BYTES, MAX_TERM_BYTES } from './shard-write.ts'

/**
 * The fast form: the shard store's own entries, as the sender's
 * WriteBuilder laid them out. Three parts whatever the number of chunks,
 * so signing hashes three buffers, and the receiver stores the values
 * without decoding a chunk:
 *   - key suffixes: each key without the prefix it shares with the key
 *     before it (a batch's keys come in term order: R1's keys shrink ~2x);
 *   - values, back to back;
 *   - per entry, varints: shared prefix length, suffix length, value length
 *     (~3 bytes an entry where uint32 bounds took 16: R1's 1.4M entries a
 *     copy were 22 MB of bounds).
 * `keys: 'shared'` in the header says so; the older form (keys whole,
 * uint32 bounds) is still read.
 */
export function encodeEntries (b: WriteBuilder): { header: Record<string, unknown>, parts: Uint8Array[] } {
  const n = b.length
  const suffixes = new Uint8Array(b.keyBytes)
  const lengths = new ByteWriter(n * 4 + 8)
  const keys = b.keyBuf
  let at = 0
  let prevStart = 0; let prevLength = 0
  for (let i = 0; i < n; i++) {
    const start = b.keyStart(i); const length = b.keyEnd(i) - start
    const max = Math.min(prevLength, length)
    let shared = 0
    while (shared < max && keys[prevStart + shared] === keys[start + shared]) shared++
    lengths.varint(shared); lengths.varint(length - shared); lengths.varint(b.valueEnd(i) - b.valueStart(i))
    for (let j = start + shared, end = start + length; j < end; j++) suffixes[at++] = keys[j]
    prevStart = start; prevLength = length
  }
  return { header: { encoding: 'entries', entries: n, keys: 'shared' }, parts: [suffixes.subarray(0, at), b.toParts()[1], lengths.buf.subarray(0, lengths.pos)] }
}

/** Longest key a compact write may rebuild (a prefix byte, a term or id of at most 4 KiB, 00 and two uint32), and all of them together. */
const MAX_KEY_BYTES = 1 + Math.max(MAX_TERM_BYTES, MAX_ID_BYTES) + 9
const MAX_KEYS_BYTES = 64 * 1024 * 1024

/** True when a write frame carries entries (encodeEntries) rather than keys and postings (encodeWrite). */
export function isEntries (h: Record<string, unknown>): boolean { return h.encoding === 'entries' }

export function decodeEntries (h: Record<string, unknown>, parts: Uint8Array[]): WriteBuilder {
  if (parts.length !== 3) throw new ProtocolError(`write: entries need 3 parts (keys, values, ${h.keys === 'shared' ? 'lengths' : 'bounds'}), got ${parts.length}`)
  const b = h.keys === 'shared' ? rebuild(parts[0], parts[1], parts[2]) : WriteBuilder.fromParts(parts[0], parts[1], parts[2])
  if (h.entries !== b.length) throw new ProtocolError(`write: header says ${String(h.entries)} entries, the parts hold ${b.length}`)
  return b
}

/** Whole keys and uint32 bounds from a compact write's parts, checked as they are read (then as any write: WriteBuilder.fromParts). */
function rebuild (suffixes: Uint8Array, values: Uint8Array, lengths: Uint8Array): WriteBuilder {
  let keys = new Uint8Array(Math.min(MAX_KEYS_BYTES, Math.max(64, suffixes.length * 3)))
  // an entry takes 3 bytes of lengths at least
  const bounds = new Uint32Array(4 * Math.ceil(lengths.length / 3))
  let kp = 0; let sp = 0; let vp = 0; let n = 0; let prevStart = 0; let prevLength = 0
  const r = new VarintReader(lengths)
  // three varints an entry; most take one byte, read without the reader (a batch holds ~10^5 entries)
  const next = (): number => {
    const x = r.p < lengths.length ? lengths[r.p] : 0x80
    if (x < 0x80) { r.p++; return x }
    try { return r.next() } catch { throw new ProtocolError(`write: entry lengths truncated or overlong at byte ${r.p}`) }
  }
  while (!r.done) {
    const shared = next(); const suffix = next(); const value = next()
    const length = shared + suffix
    if (shared > prevLength || length === 0 || length > MAX_KEY_BYTES || sp + suffix > suffixes.length || vp + value > values.length) {
      throw new ProtocolError(`write: entry ${n / 4} (shared ${shared}, suffix ${suffix}, value ${value}) does not fit the previous key or the parts`)
    }
    if (kp + length > keys.length) {
      if (kp + length > MAX_KEYS_BYTES) throw new ProtocolError(`write: keys of more than ${MAX_KEYS_BYTES} bytes`)
      const grown = new Uint8Array(Math.min(MAX_KEYS_BYTES, Math.max(keys.length * 2, kp + length))); grown.set(keys.subarray(0, kp)); keys = grown
    }
    // byte loops: keys are tens of bytes, where copyWithin and set cost a runtime call (and set a view) each
    for (let j = 0; j < shared; j++) keys[kp + j] = keys[prevStart + j]
    for (let j = 0; j < suffix; j++) keys[kp + shared + j] = suffixes[sp + j]
    bounds[n++] = kp; bounds[n++] = kp + length; bounds[n++] = vp; bounds[n++] = vp + value
    prevStart = kp; prevLength = length
    kp += length; sp += suffix; vp += value
  }
  if (sp !== suffixes.length || vp !== values.length) throw new ProtocolError('write: bytes after the last entry')
  return WriteBuilder.fromBounds(keys.subarray(0, kp), values, bounds.subarray(0, n))
}

import { decodePostingList, encodePostingList } from './wire.ts'

const enc = new TextEncoder()

function putString (w: ByteWriter, s: string): void {
  const b = enc.encode(s)
  w.varint(b.length)
  w.bytes(b)
}

export function encodeWrite (write: ShardWrite): { header: Record<string, unknown>, parts: Uint8Array[] } {
  const chunks = write.chunks ?? []
  const heads = write.heads ?? []
  const docs = write.docs ?? []
  const ids = write.ids ?? []
  const w = new ByteWriter(1024 + chunks.length * 24 + heads.length * 32)
  for (const c of chunks) { putString(w, c.term); w.varint(c.range); w.varint(c.firstDoc) }
  // after lastDoc, 1 when the head carries its postings inline (their part follows the chunks')
  for (const h of heads) { putString(w, h.term); w.varint(h.range); w.varint(h.firstDoc); w.varint(h.postings); w.varint(h.docs); w.varint(h.lastDoc); w.varint(h.inline === undefined ? 0 : 1) }
  for (const d of docs) { w.varint(d.docId); putString(w, d.id) }
  for (const x of ids) { putString(w, x.id); w.varint(x.docId) }
  const parts: Uint8Array[] = [w.result()]
  for (const c of chunks) parts.push(encodePostingList(c.postings))
  for (const h of heads) if (h.inline !== undefined) parts.push(encodePostingList(h.inline))
  for (const d of docs) parts.push(enc.encode(d.xml))
  return { header: { chunks: chunks.length, heads: heads.length, docs: docs.length, ids: ids.length }, parts }
}

class KeyReader {
  pos = 0
  private readonly dec = new TextDecoder('utf-8', { fatal: true })
  constructor (private readonly b: Uint8Array) {}
  varint (what: string): number {
    let v = 0; let shift = 0; let mul = 1
    for (;;) {
      if (this.pos >= this.b.length) throw new ProtocolError(`write: key part truncated reading ${what} at byte ${this.pos}`)
      const x = this.b[this.pos++]
      v += (x & 0x7f) * mul
      if ((x & 0x80) === 0) break
      shift += 7; mul *= 128
      if (shift > 28) throw new ProtocolError(`write: ${what} at byte ${this.pos} is not a 32-bit varint`)
    }
    if (v > 0xffffffff) throw new ProtocolError(`write: ${what} at byte ${this.pos} exceeds 2^32-1`)
    return v
  }

  string (what: string): string {
    const n = this.varint(`${what} length`)
    if (this.pos + n > this.b.length) throw new ProtocolError(`write: ${what} at byte ${this.pos} runs past the key part`)
    try { return this.dec.decode(this.b.subarray(this.pos, this.pos + n)) } catch { throw new ProtocolError(`write: ${what} at byte ${this.pos} is not UTF-8`) } finally { this.pos += n }
  }
}

function count (h: Record<string, unknown>, field: string): number {
  const v = h[field]
  if (v === undefined) return 0
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 1_000_000) throw new ProtocolError(`write: '${field}' must be a count from 0 to 1000000`)
  return v
}

export function decodeWrite (h: Record<string, unknown>, parts: Uint8Array[]): ShardWrite {
  const nChunks = count(h, 'chunks')
  const nHeads = count(h, 'heads')
  const nDocs = count(h, 'docs')
  const nIds = count(h, 'ids')
  if (parts.length < 1 + nChunks + nDocs) throw new ProtocolError(`write: ${nChunks} chunks and ${nDocs} documents need at least ${1 + nChunks + nDocs} parts, got ${parts.length}`)
  const r = new KeyReader(parts[0])
  const chunks: PostingChunk[] = []
  for (let i = 0; i < nChunks; i++) {
    const term = r.string(`chunks[${i}].term`)
    chunks.push({ term, range: r.varint(`chunks[${i}].range`), firstDoc: r.varint(`chunks[${i}].firstDoc`), postings: decodePostingList(parts[1 + i]) })
  }
  const heads: HeadChunk[] = []
  let inlines = 0
  for (let i = 0; i < nHeads; i++) {
    const term = r.string(`heads[${i}].term`)
    const h: HeadChunk = { term, range: r.varint('range'), firstDoc: r.varint('firstDoc'), postings: r.varint('postings'), docs: r.varint('docs'), lastDoc: r.varint('lastDoc') }
    const inline = r.varint(`heads[${i}].inline`)
    if (inline > 1) throw new ProtocolError(`write: heads[${i}].inline is ${inline}, not 0 or 1`)
    if (inline === 1) {
      const part = parts[1 + nChunks + inlines++]
      if (part === undefined || 1 + nChunks + inlines + nDocs > parts.length) throw new ProtocolError(`write: heads[${i}] carries postings inline but the write has no part left for them`)
      h.inline = decodePostingList(part)
    }
    heads.push(h)
  }
  if (parts.length !== 1 + nChunks + inlines + nDocs) throw new ProtocolError(`write: ${nChunks} chunks, ${inlines} inline heads and ${nDocs} documents need ${1 + nChunks + inlines + nDocs} parts, got ${parts.length}`)
  const dec = new TextDecoder('utf-8', { fatal: true })
  const docs: HeldDocument[] = []
  for (let i = 0; i < nDocs; i++) {
    const docId = r.varint(`docs[${i}].docId`)
    const id = r.string(`docs[${i}].id`)
    let xml: string
    try { xml = dec.decode(parts[1 + nChunks + inlines + i]) } catch { throw new ProtocolError(`write: document ${id} is not UTF-8`) }
    docs.push({ docId, id, xml })
  }
  const ids: Array<{ id: string, docId: number }> = []
  for (let i = 0; i < nIds; i++) { const id = r.string(`ids[${i}].id`); ids.push({ id, docId: r.varint(`ids[${i}].docId`) }) }
  if (r.pos !== parts[0].length) throw new ProtocolError(`write: ${parts[0].length - r.pos} bytes after the last key`)
  return { chunks, heads, docs, ids }
}
