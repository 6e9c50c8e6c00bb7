/**
 * A second form of a `blocks` answer's postings (/edos/postings/1.0.0),
 * asked with `cols` and sent by a holder where it is shorter than the posting
 * list form (the holder lists those parts in its answer's `cols`). The
 * classic form spends a byte or two on every posting's doc delta, span and
 * level; here each column is one value for all postings when it can be
 * (a `name` is at start 1, spans 2, level 2 in every package), and a doc is
 * counted in the reducer's exact docId set, which both sides know: when every
 * asked doc has one posting, the docs cost nothing.
 *
 * Layout: version byte, varint count, then four columns (doc steps, starts,
 * spans = end - start, levels), each a mode byte (0: one varint for every
 * posting; 1: a varint per posting; 2: runs, a varint count of them, then
 * each run's value and length: a release document's leaves below the
 * collections asked are one doc and one start step). Doc steps: with the
 * asked docs, the step from the previous posting's index in them (0: same
 * doc; the first from -1); without, the doc delta (the first absolute).
 * Starts: the first posting of a doc its start, the next ones the step from
 * the previous (> 0).
 */
import { ByteWriter, PostingBuffer, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'

const COLS_VERSION = 1
const ONE = 0
const EACH = 1
const RUNS = 2

const varintLength = (v: number): number => v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5

/** The postings (sorted by doc and start, docs among `asked` when given) in the cols form. */
export function encodeCols (list: PostingList, asked?: Uint32Array): Uint8Array {
  const n = list.length
  const steps = new Uint32Array(n); const starts = new Uint32Array(n); const spans = new Uint32Array(n)
  let at = -1
  for (let i = 0; i < n; i++) {
    const doc = list.docs[i]
    const same = i > 0 && doc === list.docs[i - 1]
    if (asked === undefined) steps[i] = i === 0 ? doc : doc - list.docs[i - 1]
    else if (same) steps[i] = 0
    else {
      const from = at
      while (asked[++at] !== doc) if (at >= asked.length) throw new RangeError(`encodeCols: doc ${doc} is not among the asked docs`)
      steps[i] = at - from
    }
    starts[i] = same ? list.starts[i] - list.starts[i - 1] : list.starts[i]
    spans[i] = list.ends[i] - list.starts[i]
  }
  const w = new ByteWriter(n * 3 + 16)
  w.buf[w.pos++] = COLS_VERSION
  w.varint(n)
  for (const col of [steps, starts, spans, list.levels.subarray(0, n)]) {
    // the shortest of the three modes
    let each = 0; let runs = 0; let runBytes = 0
    for (let i = 0; i < n; i++) {
      each += varintLength(col[i])
      if (i === 0 || col[i] !== col[i - 1]) {
        let j = i + 1
        while (j < n && col[j] === col[i]) j++
        runs++; runBytes += varintLength(col[i]) + varintLength(j - i)
      }
    }
    w.ensure(1)
    if (runs <= 1) {
      w.buf[w.pos++] = ONE
      w.varint(n === 0 ? 0 : col[0])
    } else if (varintLength(runs) + runBytes < each) {
      w.buf[w.pos++] = RUNS
      w.varint(runs)
      for (let i = 0; i < n;) {
        let j = i + 1
        while (j < n && col[j] === col[i]) j++
        w.varint(col[i]); w.varint(j - i)
        i = j
      }
    } else {
      w.buf[w.pos++] = EACH
      for (let i = 0; i < n; i++) w.varint(col[i])
    }
  }
  return w.result()
}

/**
 * A columns answer counting more postings than the reader allows for the
 * block (its head, read before a publish that grew the block, may be
 * stale): the reader asks again for the plain form, whose size its bytes
 * bound, instead of failing the query.
 */
export class ColsTooLargeError extends ProtocolError {
  constructor (message: string) { super(message); this.name = 'ColsTooLargeError' }
}

/**
 * Reads a cols answer from a holder: at most `most` postings (what the
 * block holds), docs among `asked` when the reducer was an exact set,
 * sorted with distinct positions, each column within its range.
 */
export function decodeCols (bytes: Uint8Array, asked: Uint32Array | undefined, most: number, at: string): PostingList {
  let p = 0
  const varint = (what: string): number => {
    let v = 0
    for (let shift = 0, mul = 1; shift < 35; shift += 7, mul *= 128) {
      if (p >= bytes.length) throw new ProtocolError(`${at}: cols answer truncated in ${what}`)
      const b = bytes[p++]
      v += (b & 0x7f) * mul
      if (b < 0x80) return v
    }
    throw new ProtocolError(`${at}: cols answer has a varint too long in ${what}`)
  }
  if (bytes[p++] !== COLS_VERSION) throw new ProtocolError(`${at}: cols answer of version ${String(bytes[0])}`)
  const n = varint('its count')
  if (n > most) throw new ColsTooLargeError(`${at}: cols answer of ${n} postings from a block of ${most}`)
  const cols = ['doc steps', 'starts', 'spans', 'levels'].map((what) => {
    const mode = bytes[p++]
    if (mode === ONE) return { one: varint(what), each: undefined }
    if (mode !== EACH && mode !== RUNS) throw new ProtocolError(`${at}: cols answer has mode ${String(mode)} for its ${what}`)
    const each = new Float64Array(n)
    if (mode === EACH) {
      for (let i = 0; i < n; i++) each[i] = varint(what)
      return { one: 0, each }
    }
    const runs = varint(what)
    if (runs > n) throw new ProtocolError(`${at}: cols answer has ${runs} runs of ${what} for ${n} postings`)
    let i = 0
    for (let r = 0; r < runs; r++) {
      const v = varint(what); const length = varint(what)
      if (length === 0 || i + length > n) throw new ProtocolError(`${at}: cols answer's runs of ${what} do not cover its ${n} postings`)
      each.fill(v, i, i + length)
      i += length
    }
    if (i !== n) throw new ProtocolError(`${at}: cols answer's runs of ${what} cover ${i} of its ${n} postings`)
    return { one: 0, each }
  })
  if (p !== bytes.length) throw new ProtocolError(`${at}: cols answer has ${bytes.length - p} bytes past its columns`)
  const value = (c: number, i: number): number => cols[c].each?.[i] ?? cols[c].one
  const out = new PostingBuffer(n)
  let index = -1; let doc = -1; let start = 0
  for (let i = 0; i < n; i++) {
    const step = value(0, i)
    if (i === 0 && asked !== undefined && step === 0) throw new ProtocolError(`${at}: cols answer's first doc step is 0`)
    if (asked !== undefined) {
      index += step
      if (index >= asked.length) throw new ProtocolError(`${at}: cols answer names doc ${index} of ${asked.length} asked`)
      doc = asked[index]
    } else {
      doc = i === 0 ? step : doc + step
    }
    const same = i > 0 && step === 0
    start = same ? start + value(1, i) : value(1, i)
    if (same && value(1, i) === 0) throw new ProtocolError(`${at}: cols answer has posting ${i} at the start of the one before`)
    const end = start + value(2, i)
    const level = value(3, i)
    if (doc > 0xffffffff || end > 0xffffffff || level > 0xffff) throw new ProtocolError(`${at}: cols answer has posting ${i} out of range (doc ${doc}, end ${end}, level ${level})`)
    out.push(doc, start, end, level)
  }
  return out
}
