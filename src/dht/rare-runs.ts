/**
 * Rare terms' heads, many to a record run (shard store format 4).
 *
 * Why: R1 has ~850 K terms and ~600 K of them have a single posting. Each
 * was a head entry on each of its r holders: a key of its own, a value
 * with its inline chunk, a check and a key directory record on arrival.
 * Those 1.8 M entries were 45% of a first publish's entries. Sending a
 * holder its terms of at most RARE_POSTINGS_MAX postings as sorted runs of
 * short records took the index step's CPU (every peer's) from ~34 to ~26 s
 * in alternated runs (bench/README, dht, session 24).
 *
 * A run is the value of a P_RARE entry in a write. Its records, in
 * strictly increasing term byte order:
 *   varint shared (bytes shared with the previous record's term),
 *   varint suffix length, suffix, varint range, varint count (1..RARE_POSTINGS_MAX),
 *   then per posting varints: doc (the first absolute, then the delta),
 *   start (the delta within one doc), end - start, level.
 * A record says exactly what the term's one head chunk would: its
 * postings all lie in `range`, the chunk's firstDoc is its first doc, and
 * they travel inline. A holder stores runs cut into pieces (the first
 * record of a piece shares nothing), found by their term spans, and reads
 * a record back as that head chunk (`headInto`): readers see no change
 * (rare-pieces.ts).
 */
import { ByteWriter, CorruptBlockError, PostingBuffer, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'
import { MAX_TERM_BYTES, P_HEAD, VarintReader, WriteBuilder, putU32be } from './shard-keys.ts'

/** A term goes in a rare record when its whole list (in one range) has at most this many postings. */
export const RARE_POSTINGS_MAX = 16
/** A holder's pieces are cut at about this many bytes (a point read walks one piece). */
export const PIECE_BYTES = 4096

/**
 * The publisher's run for one holder: records appended in the order terms
 * come. A term that does not sort after the last one by UTF-8 bytes (a
 * source whose order is not byte order) closes the run: `take` then
 * returns more than one.
 */
export class RareRunBuilder {
  private readonly w = new ByteWriter(1 << 14)
  private runStart = 0
  private readonly prev = new Uint8Array(MAX_TERM_BYTES)
  private prevLen = -1
  private readonly closed: Array<[number, number]> = []

  get bytes (): number { return this.w.pos }

  /** Appends term `term[0, termLen)` with postings [from, to) of `list` (all in `range`). */
  add (term: Uint8Array, termLen: number, range: number, list: PostingList, from: number, to: number): void {
    const prev = this.prev
    let shared = 0
    if (this.prevLen >= 0) {
      const max = Math.min(termLen, this.prevLen)
      while (shared < max && prev[shared] === term[shared]) shared++
      const after = shared === this.prevLen ? termLen > shared : shared < termLen && term[shared] > prev[shared]
      if (!after) { this.closed.push([this.runStart, this.w.pos]); this.runStart = this.w.pos; shared = 0 }
    }
    const w = this.w
    w.varint(shared); w.varint(termLen - shared)
    w.ensure(termLen - shared)
    for (let j = shared; j < termLen; j++) { const c = term[j]; w.buf[w.pos++] = c; prev[j] = c }
    this.prevLen = termLen
    w.varint(range); w.varint(to - from)
    let prevDoc = 0; let prevStart = 0
    for (let i = from; i < to; i++) {
      const doc = list.docs[i]; const start = list.starts[i]
      const same = i > from && doc === prevDoc
      w.varint(doc - prevDoc); w.varint(same ? start - prevStart : start); w.varint(list.ends[i] - start); w.varint(list.levels[i])
      prevDoc = doc; prevStart = start
    }
  }

  /** The runs added since the last take (views of this builder's buffer: valid until the next add), then empties it. */
  take (): Uint8Array[] {
    const w = this.w
    const out = this.closed.map(([a, b]) => w.buf.subarray(a, b))
    if (w.pos > this.runStart) out.push(w.buf.subarray(this.runStart, w.pos))
    this.closed.length = 0; w.pos = 0; this.runStart = 0; this.prevLen = -1
    return out
  }
}

/**
 * Walks the records of a run or piece, checking each as it goes: the
 * record's term (`term[0, termLength)`, a buffer the reader reuses) and
 * postings (`list`, likewise) are valid until the next `next()`.
 */
export class RareReader {
  private readonly r = new VarintReader(new Uint8Array(0))
  private end = 0
  private bytes: Uint8Array = new Uint8Array(0)
  readonly term = new Uint8Array(MAX_TERM_BYTES)
  termLength = 0
  range = 0
  readonly list = new PostingBuffer(RARE_POSTINGS_MAX)
  /** Where the current record starts, and where its count starts (its postings follow). */
  recordStart = 0
  countStart = 0
  private first = true

  /** Reads bytes[from, to) from its first record. */
  over (bytes: Uint8Array, from = 0, to = bytes.length): this {
    this.bytes = bytes; this.r.over(bytes, from, to); this.end = to; this.termLength = 0; this.first = true
    return this
  }

  get done (): boolean { return this.r.p >= this.end }
  /** Where the next record starts. */
  get position (): number { return this.r.p }

  /** Moves to the next record; false after the last. Throws CorruptBlockError on a malformed or out-of-order record. */
  next (): boolean {
    const r = this.r
    if (r.p >= this.end) return false
    const bytes = this.bytes
    this.recordStart = r.p
    const shared = r.next(); const suffix = r.next()
    if (shared > this.termLength || (this.first && shared !== 0)) throw new CorruptBlockError(`rare record at byte ${this.recordStart} shares ${shared} bytes with a term of ${this.termLength}`)
    const length = shared + suffix
    if (suffix === 0 || length > MAX_TERM_BYTES || r.p + suffix > this.end) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: a term of ${length} bytes (${suffix} new) overruns its run or is empty or too long`)
    const term = this.term
    // strictly after the previous term: the first differing byte is higher, or it extends the previous term
    if (!this.first && shared < this.termLength && bytes[r.p] <= term[shared]) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: its term does not sort after the one before it`)
    for (let j = 0; j < suffix; j++) {
      const c = bytes[r.p + j]
      if (c === 0) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: a term with U+0000`)
      term[shared + j] = c
    }
    r.p += suffix
    this.termLength = length
    this.first = false
    this.range = r.next()
    if (this.range >= 0x100000000) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: range ${this.range} is not below 2^32`)
    this.countStart = r.p
    const count = r.next()
    if (count < 1 || count > RARE_POSTINGS_MAX) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: ${count} postings (1 to ${RARE_POSTINGS_MAX})`)
    const list = this.list
    list.length = 0
    let doc = 0; let start = 0
    for (let i = 0; i < count; i++) {
      const dd = r.next(); const s = r.next(); const span = r.next(); const level = r.next()
      const same = i > 0 && dd === 0
      doc += dd
      start = same ? start + s : s
      const end = start + span
      if (doc >= 0x100000000 || end >= 0x100000000 || level > 0xffff) throw new CorruptBlockError(`rare record at byte ${this.recordStart}: posting ${i} is out of bounds`)
      list.push(doc, start, end, level)
    }
    if (r.p > this.end) throw new CorruptBlockError(`rare record at byte ${this.recordStart} overruns its run`)
    return true
  }

  /** The current record's head chunk as a write would carry it (key P_HEAD term 00 range firstDoc, value with the inline chunk), into `b`. */
  headInto (b: WriteBuilder): number {
    const list = this.list
    let docs = 1
    for (let i = 1; i < list.length; i++) if (list.docs[i] !== list.docs[i - 1]) docs++
    return b.headBytes(this.term, this.termLength, this.range, list.docs[0], { postings: list.length, docs, lastDoc: list.docs[list.length - 1] }, list)
  }

  /** The current record's head key (P_HEAD term 00 range firstDoc) into `into` from byte 0; returns its length. */
  keyInto (into: Uint8Array): number {
    const n = this.termLength
    into[0] = P_HEAD
    into.set(this.term.subarray(0, n), 1)
    into[n + 1] = 0
    putU32be(into, n + 2, this.range); putU32be(into, n + 6, this.list.docs[0])
    return n + 10
  }

  /** The current record's head key, as a new array. */
  key (): Uint8Array { const k = new Uint8Array(this.termLength + 10); this.keyInto(k); return k }

  /** Compares the current record's term with `t[from, to)` by bytes. */
  compareTerm (t: Uint8Array, from: number, to: number): number {
    const a = this.term; const al = this.termLength; const bl = to - from
    const n = al < bl ? al : bl
    for (let i = 0; i < n; i++) if (a[i] !== t[from + i]) return a[i] - t[from + i]
    return al - bl
  }
}

/**
 * Checks a received run whole (records in strictly increasing term order,
 * terms without U+0000, 1 to RARE_POSTINGS_MAX postings each in (doc,
 * start) order, numbers within bounds); returns its record and posting
 * counts. Like a head chunk's, a record's range is the sender's word (a
 * signed publisher or a certified co-holder). Throws ProtocolError naming
 * the run and the byte.
 */
export function checkRareRun (bytes: Uint8Array, from: number, to: number, what: string, reader = new RareReader()): { records: number, postings: number } {
  let records = 0; let postings = 0
  try {
    reader.over(bytes, from, to)
    while (reader.next()) { records++; postings += reader.list.length }
  } catch (err) {
    throw new ProtocolError(`${what}: ${(err as Error).message}`)
  }
  if (records === 0) throw new ProtocolError(`${what}: an empty run`)
  return { records, postings }
}

/** One stored piece: its bytes and its lowest and highest head key (P_HEAD term 00 range firstDoc). */
export interface RarePiece { value: Uint8Array, lo: Uint8Array, hi: Uint8Array, records: number, postings: number }

/**
 * Cuts a checked run into pieces of about `pieceBytes`, each starting with
 * a record that shares nothing, skipping the records `skip` says are held
 * already (a re-run publish sends the same records again). A stored piece
 * read back with `pieceBytes` Infinity gives itself, with its span and counts.
 */
export function cutPieces (run: Uint8Array, from: number, to: number, skip?: (reader: RareReader) => boolean, pieceBytes = PIECE_BYTES): RarePiece[] {
  const out: RarePiece[] = []
  const reader = new RareReader().over(run, from, to)
  const w = new ByteWriter(Math.min(pieceBytes, to - from) + 64)
  let records = 0; let postings = 0
  let lo: Uint8Array | undefined
  // with `skip`, the head key of the last record written (its term from byte 1): the reader may have moved past it
  const lastKey = new Uint8Array(skip === undefined ? 0 : MAX_TERM_BYTES + 10)
  let lastLength = 0
  let skipped = false
  const close = (): void => {
    if (records === 0 || lo === undefined) return
    const hi = skip === undefined ? reader.key() : lastKey.slice(0, lastLength)
    out.push({ value: w.result(), lo, hi, records, postings })
    w.pos = 0; records = 0; postings = 0; lo = undefined
  }
  while (reader.next()) {
    if (skip?.(reader) === true) { skipped = true; continue }
    const n = reader.termLength
    if (records > 0 && !skipped) {
      // the record before it in the run is the one before it in this piece: its bytes as they came
      w.bytes(run.subarray(reader.recordStart, reader.position))
    } else {
      // a piece's first record has its term whole; one after skipped records, the suffix after the last one written
      let shared = 0
      if (records > 0) {
        const max = Math.min(lastLength - 10, n)
        while (shared < max && lastKey[1 + shared] === reader.term[shared]) shared++
      }
      w.varint(shared); w.varint(n - shared)
      w.bytes(reader.term.subarray(shared, n))
      w.varint(reader.range)
      w.bytes(run.subarray(reader.countStart, reader.position))
    }
    skipped = false
    if (lo === undefined) lo = reader.key()
    if (skip !== undefined) lastLength = reader.keyInto(lastKey)
    records++; postings += reader.list.length
    if (w.pos >= pieceBytes) close()
  }
  close()
  return out
}
