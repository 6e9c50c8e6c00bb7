/**
 * Frames of the custom protocols (/edos/postings/1.0.0, /edos/docs/1.0.0):
 * one request frame and one response frame per stream, each sent as one
 * message of libp2p's length-prefixed stream. A frame is
 *
 *   varint headerLength, UTF-8 JSON header (an object),
 *   varint partCount, then per part: varint length, bytes.
 *
 * JSON keeps the small, evolving request fields readable; parts carry bulk
 * bytes (posting lists, XML) without base64. Everything here is bytes: the
 * caller does the I/O (and must raise the length-prefix decoder's
 * `maxDataLength`, 4 MiB by default in @libp2p/utils, to MAX_FRAME_BYTES).
 */
import { Uint8ArrayList } from 'uint8arraylist'
import { ByteWriter, CorruptBlockError, EMPTY_LIST, PostingBuffer, encodeBlock, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'

export interface FrameLimits {
  maxHeaderBytes: number
  maxParts: number
  maxTotalBytes: number
}

export const MAX_FRAME_BYTES = 64 * 1024 * 1024

export const DEFAULT_FRAME_LIMITS: Readonly<FrameLimits> = { maxHeaderBytes: 1024 * 1024, maxParts: 100_000, maxTotalBytes: MAX_FRAME_BYTES }

export type Header = Record<string, unknown>

export interface Frame {
  header: Header
  /** Views into the decoded bytes (no copies): copy one before keeping it beyond the buffer's life. */
  parts: Uint8Array[]
}

const utf8 = new TextEncoder()
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function varintLength (v: number): number {
  let n = 1
  while (v >= 0x80) { v = Math.floor(v / 128); n++ }
  return n
}

function putVarint (buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) { buf[pos++] = (v & 0x7f) | 0x80; v = Math.floor(v / 128) }
  buf[pos++] = v
  return pos
}

/** Reads an unsigned LEB128 varint of at most 5 bytes (< 2^35) for frame fields. */
function readVarint (bytes: Uint8Array, pos: number, what: string): [number, number] {
  let v = 0
  for (let shift = 0, mul = 1, i = pos; shift < 35; shift += 7, mul *= 128, i++) {
    if (i >= bytes.length) throw new ProtocolError(`frame truncated in ${what} at byte ${pos}`)
    const b = bytes[i]
    v += (b & 0x7f) * mul
    if (b < 0x80) return [v, i + 1]
  }
  throw new ProtocolError(`varint too long for ${what} at byte ${pos}`)
}

function limitsOf (limits?: Partial<FrameLimits>): FrameLimits {
  return { ...DEFAULT_FRAME_LIMITS, ...limits }
}

/** Encodes a header object and parts into one frame, refusing frames the receiver would refuse. */
export function encodeFrame (header: object, parts: readonly Uint8Array[] = [], limits?: Partial<FrameLimits>): Uint8Array {
  const { json, total } = frameHead(header, parts, limits)
  const out = new Uint8Array(total)
  let pos = putVarint(out, 0, json.length)
  out.set(json, pos); pos += json.length
  pos = putVarint(out, pos, parts.length)
  for (const p of parts) { pos = putVarint(out, pos, p.length); out.set(p, pos); pos += p.length }
  return out
}

/**
 * The same frame as a list of buffers that holds the parts themselves
 * (no copy of a 4 MiB batch): the caller must leave them unchanged until
 * the frame is sent.
 */
export function encodeFrameList (header: object, parts: readonly Uint8Array[] = [], limits?: Partial<FrameLimits>): Uint8ArrayList {
  const { json } = frameHead(header, parts, limits)
  const head = new Uint8Array(varintLength(json.length) + json.length + varintLength(parts.length) + (parts.length > 0 ? varintLength(parts[0].length) : 0))
  let pos = putVarint(head, 0, json.length)
  head.set(json, pos); pos += json.length
  pos = putVarint(head, pos, parts.length)
  const out = new Uint8ArrayList<ArrayBufferLike>(head.subarray(0, parts.length > 0 ? putVarint(head, pos, parts[0].length) : pos))
  parts.forEach((p, i) => {
    if (i > 0) { const v = new Uint8Array(varintLength(p.length)); putVarint(v, 0, p.length); out.append(v) }
    if (p.length > 0) out.append(p)
  })
  return out
}

function frameHead (header: object, parts: readonly Uint8Array[], limits?: Partial<FrameLimits>): { json: Uint8Array, total: number } {
  const lim = limitsOf(limits)
  if (header == null || typeof header !== 'object' || Array.isArray(header)) throw new ProtocolError('frame header must be an object')
  const json = utf8.encode(JSON.stringify(header))
  if (json.length > lim.maxHeaderBytes) throw new ProtocolError(`frame header of ${json.length} bytes exceeds ${lim.maxHeaderBytes}`)
  if (parts.length > lim.maxParts) throw new ProtocolError(`frame has ${parts.length} parts, more than ${lim.maxParts}`)
  let total = varintLength(json.length) + json.length + varintLength(parts.length)
  for (const p of parts) total += varintLength(p.length) + p.length
  if (total > lim.maxTotalBytes) throw new ProtocolError(`frame of ${total} bytes exceeds ${lim.maxTotalBytes}`)
  return { json, total }
}

/** Decodes one frame; every malformed input throws ProtocolError naming the fault and its byte offset. */
export function decodeFrame (input: Uint8Array | Uint8ArrayList, limits?: Partial<FrameLimits>): Frame {
  const lim = limitsOf(limits)
  if (input.byteLength > lim.maxTotalBytes) throw new ProtocolError(`frame of ${input.byteLength} bytes exceeds ${lim.maxTotalBytes}`)
  // A list of one chunk (the usual case) gives a view; several chunks are joined once.
  const bytes = input instanceof Uint8Array ? input : input.subarray()
  const [hlen, h0] = readVarint(bytes, 0, 'header length')
  if (hlen > lim.maxHeaderBytes) throw new ProtocolError(`frame header of ${hlen} bytes exceeds ${lim.maxHeaderBytes} (at byte 0)`)
  if (h0 + hlen > bytes.length) throw new ProtocolError(`frame truncated in header: ${hlen} bytes announced at byte ${h0}, ${bytes.length - h0} present`)
  let header: unknown
  try {
    header = JSON.parse(strictUtf8.decode(bytes.subarray(h0, h0 + hlen)))
  } catch (err) {
    throw new ProtocolError(`frame header at byte ${h0} is not UTF-8 JSON: ${(err as Error).message}`, { cause: err })
  }
  if (header == null || typeof header !== 'object' || Array.isArray(header)) {
    throw new ProtocolError(`frame header at byte ${h0} is ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}, not an object`)
  }
  let pos = h0 + hlen
  const countAt = pos
  const [count, c0] = readVarint(bytes, pos, 'part count')
  if (count > lim.maxParts) throw new ProtocolError(`frame has ${count} parts, more than ${lim.maxParts} (at byte ${countAt})`)
  // Each part takes at least its one-byte length: a larger count cannot be honest, and must not size an array.
  if (count > bytes.length - c0) throw new ProtocolError(`frame announces ${count} parts at byte ${countAt} but has ${bytes.length - c0} bytes left`)
  pos = c0
  const parts = new Array<Uint8Array>(count)
  for (let i = 0; i < count; i++) {
    const at = pos
    const [len, p0] = readVarint(bytes, pos, `length of part ${i}`)
    if (p0 + len > bytes.length) throw new ProtocolError(`frame truncated in part ${i}: ${len} bytes announced at byte ${at}, ${bytes.length - p0} present`)
    parts[i] = bytes.subarray(p0, p0 + len)
    pos = p0 + len
  }
  if (pos !== bytes.length) throw new ProtocolError(`frame has ${bytes.length - pos} trailing bytes at byte ${pos}`)
  return { header: header as Header, parts }
}

// ---------------------------------------------------------------- posting lists

/** Postings per codec block on the wire (a block is the unit a reader skips or decodes). */
export const WIRE_BLOCK_POSTINGS = 4096

/**
 * A posting list on the wire: varint count, then blocks until count postings:
 * varint baseDoc, varint byteLength, one codec block (codec.ts) whose deltas
 * start at baseDoc. The list must be sorted by (docId, start).
 */
export function encodePostingList (list: PostingList, blockPostings = WIRE_BLOCK_POSTINGS): Uint8Array {
  const n = list.length
  if (!Number.isInteger(blockPostings) || blockPostings < 1) throw new RangeError(`blockPostings must be a positive integer, got ${blockPostings}`)
  const { docs, starts, ends } = list
  for (let i = 0; i < n; i++) {
    if (ends[i] < starts[i]) throw new RangeError(`posting ${i} ends (${ends[i]}) before it starts (${starts[i]})`)
    if (i > 0 && (docs[i] < docs[i - 1] || (docs[i] === docs[i - 1] && starts[i] < starts[i - 1]))) {
      throw new RangeError(`posting list not sorted by (docId, start) at posting ${i}`)
    }
  }
  const w = new ByteWriter(Math.min(n, 1 << 20) * 5 + 16)
  w.varint(n)
  const scratch = new ByteWriter(Math.min(n, blockPostings) * 8 + 16)
  for (let from = 0; from < n; from += blockPostings) {
    const to = Math.min(n, from + blockPostings)
    scratch.pos = 0
    const block = encodeBlock(list, from, to, docs[from], scratch)
    w.varint(docs[from])
    w.varint(block.length)
    w.bytes(block)
  }
  return w.result()
}

/**
 * Decodes and validates a posting list from an untrusted peer: every value
 * fits its column (docs, starts and ends < 2^32, levels < 2^16), blocks hold
 * what they announce, and the list is sorted across blocks. The codec's own
 * decodeBlock trusts its input (local LevelDB), hence this stricter reader of
 * the same block format.
 */
export function decodePostingList (bytes: Uint8Array): PostingList {
  const [count, c0] = readVarint(bytes, 0, 'posting count')
  // A posting takes at least 4 bytes: a larger count is a lie and must not size the arrays.
  if (count > (bytes.length - c0) / 4) throw new ProtocolError(`posting list announces ${count} postings in ${bytes.length} bytes`)
  if (count === 0) {
    if (c0 !== bytes.length) throw new ProtocolError(`posting list has ${bytes.length - c0} trailing bytes at byte ${c0}`)
    return EMPTY_LIST
  }
  const out = new PostingBuffer(count)
  let pos = c0
  let filled = 0
  while (filled < count) {
    const at = pos
    let base: number, len: number
    [base, pos] = readVarint(bytes, pos, 'block base doc');
    [len, pos] = readVarint(bytes, pos, 'block length')
    if (base > 0xffffffff) throw new CorruptBlockError(`posting block at byte ${at}: base doc ${base} exceeds 2^32-1`)
    if (pos + len > bytes.length) throw new ProtocolError(`posting list truncated in the block at byte ${at}: ${len} bytes announced, ${bytes.length - pos} present`)
    filled = decodeChecked(bytes, pos, pos + len, base, out, filled, count)
    pos += len
  }
  if (pos !== bytes.length) throw new ProtocolError(`posting list has ${bytes.length - pos} trailing bytes at byte ${pos}`)
  out.length = count
  return out
}

/** Decodes one block of [p, end) into `out` from index `filled`; returns the new fill. */
function decodeChecked (bytes: Uint8Array, p: number, end: number, baseDoc: number, out: PostingBuffer, filled: number, total: number): number {
  const blockAt = p
  const fail = (what: string): never => { throw new CorruptBlockError(`posting block at byte ${blockAt}: ${what}`) }
  // Inline varint with a one-byte fast path, bounded to 32 bits: nearly every delta fits in 7.
  const v32 = (): number => {
    if (p >= end) fail(`truncated at byte ${p}`)
    const b0 = bytes[p++]
    if (b0 < 0x80) return b0
    let v = b0 & 0x7f
    for (let shift = 7, mul = 128; ; shift += 7, mul *= 128) {
      if (p >= end) fail(`truncated at byte ${p}`)
      const b = bytes[p++]
      v += (b & 0x7f) * mul
      if (b < 0x80) break
      if (shift >= 28) fail(`varint longer than 5 bytes at byte ${p}`)
    }
    if (v > 0xffffffff) fail(`value ${v} exceeds 2^32-1 at byte ${p}`)
    return v
  }
  const n = v32()
  if (n === 0) fail('empty block')
  if (n > total - filled) fail(`${n} postings where ${total - filled} remain of ${total}`)
  const { docs, starts, ends, levels } = out
  let doc = baseDoc
  let start = 0
  for (let i = 0; i < n; i++) {
    const dd = v32()
    const s = v32()
    const span = v32()
    const level = v32()
    doc += dd
    start = dd === 0 && i > 0 ? start + s : s
    if (doc > 0xffffffff) fail(`doc ${doc} exceeds 2^32-1 at posting ${i}`)
    if (start + span > 0xffffffff) fail(`position ${start + span} exceeds 2^32-1 at posting ${i}`)
    if (level > 0xffff) fail(`level ${level} exceeds 2^16-1 at posting ${i}`)
    const k = filled + i
    if (i === 0 && k > 0 && (doc < docs[k - 1] || (doc === docs[k - 1] && start < starts[k - 1]))) {
      fail(`not sorted after the previous block (doc ${doc} start ${start} after doc ${docs[k - 1]} start ${starts[k - 1]})`)
    }
    docs[k] = doc; starts[k] = start; ends[k] = start + span; levels[k] = level
  }
  if (p !== end) fail(`${end - p} bytes left over after ${n} postings`)
  return filled + n
}

// ---------------------------------------------------------------- header fields

function field (h: Header, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(h, key) ? h[key] : undefined
}

function kindOf (v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v
}

function bad (key: string, expected: string, v: unknown): ProtocolError {
  return new ProtocolError(`header field ${JSON.stringify(key)}: expected ${expected}, got ${v === undefined ? 'nothing' : kindOf(v)}`)
}

export function str (h: Header, key: string): string {
  const v = field(h, key)
  if (typeof v !== 'string') throw bad(key, 'a string', v)
  return v
}

export function optStr (h: Header, key: string): string | undefined {
  return field(h, key) == null ? undefined : str(h, key)
}

/** A safe integer within [min, max]. */
export function int (h: Header, key: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
  const v = field(h, key)
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw bad(key, 'an integer', v)
  if (v < min || v > max) throw new ProtocolError(`header field ${JSON.stringify(key)}: ${v} is outside [${min}, ${max}]`)
  return v
}

export function optInt (h: Header, key: string, min?: number, max?: number): number | undefined {
  return field(h, key) == null ? undefined : int(h, key, min, max)
}

export function bool (h: Header, key: string): boolean {
  const v = field(h, key)
  if (typeof v !== 'boolean') throw bad(key, 'a boolean', v)
  return v
}

export function optBool (h: Header, key: string): boolean | undefined {
  return field(h, key) == null ? undefined : bool(h, key)
}

export function strArray (h: Header, key: string): string[] {
  const v = field(h, key)
  if (!Array.isArray(v)) throw bad(key, 'an array of strings', v)
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'string') throw new ProtocolError(`header field ${JSON.stringify(key)}[${i}]: expected a string, got ${kindOf(v[i])}`)
  }
  return v as string[]
}

export function optStrArray (h: Header, key: string): string[] | undefined {
  return field(h, key) == null ? undefined : strArray(h, key)
}

/** An array of safe integers, each within [min, max]. */
export function intArray (h: Header, key: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number[] {
  const v = field(h, key)
  if (!Array.isArray(v)) throw bad(key, 'an array of integers', v)
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i]
    if (typeof x !== 'number' || !Number.isSafeInteger(x)) throw new ProtocolError(`header field ${JSON.stringify(key)}[${i}]: expected an integer, got ${kindOf(x)}`)
    if (x < min || x > max) throw new ProtocolError(`header field ${JSON.stringify(key)}[${i}]: ${x} is outside [${min}, ${max}]`)
  }
  return v as number[]
}

export function optIntArray (h: Header, key: string, min?: number, max?: number): number[] | undefined {
  return field(h, key) == null ? undefined : intArray(h, key, min, max)
}
