/**
 * The rare records a shard store holds (rare-runs.ts), in pieces under
 * P_RARE seq: each piece's span of head keys is kept in memory, so a read
 * of a term, or of a term range, opens only the pieces that can hold it,
 * and every record is read back as the head chunk it stands for.
 *
 * Pieces are written once and never rewritten. A record whose chunk the
 * store's packs hold too is "shadowed": reads take the pack's copy, and it
 * is not counted here (see prepare): whether a rare run's record or a
 * repair's or catch-up's head brought the chunk over a record held before.
 * (A write carrying a record and a head of the same key, which no sender
 * makes, may count it wrong until the store is opened again.)
 */
import type { ClassicLevel } from 'classic-level'
import { HashSet64, MAX_TERM_BYTES, P_HEAD, P_RARE, WriteBuilder, decodeHead, keyFirstDoc, keyRange, rareKey, readU32be, sameBytes, spaceOf, termSpan } from './shard-keys.ts'
import { PackSpans } from './head-packs.ts'
import { RareReader, cutPieces, type RarePiece } from './rare-runs.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** Whether the store's key directory holds head chunk `key[0, n)` (P_HEAD term 00 range firstDoc). */
export type HeadHeld = (key: Uint8Array, n: number, range: number, firstDoc: number) => boolean
/** The value of head chunk `key[0, n)` as the store's packs hold it, or undefined when the key directory does not have it. */
export type HeadValue = (key: Uint8Array, n: number, range: number, firstDoc: number) => Uint8Array | undefined

/** A write's share of rare records: pieces to put, records turned into head chunks, and the counts to take once it is written. */
export interface RareWrite {
  puts: Array<[Uint8Array, Uint8Array]>
  /** The write's head entries to store: those a held record already stands for, byte for byte, are left out. */
  heads: number[]
  /** Records held before with other postings, as head chunks (the postings each carries inline in `inline`). */
  converted: WriteBuilder
  inline: number[]
  /** Takes the write into the counts and spans, once it is written (pieces, less the records it shadows). */
  commit: () => void
}

/** Bytes a scan reads ahead (see ShardStore). */
const SCAN_BYTES = 1 << 20

export class RarePieces {
  private readonly spans = new PackSpans()
  /**
   * Hashes of every record key held: a head a repair sends is looked up in
   * the pieces only when its key's hash is here (a peer that gains a
   * departed member's keys receives ~10^5 heads, and a piece read and walked
   * for each took seconds). A pre-filter: a collision, or a key of a write
   * that then failed, costs one lookup.
   */
  private readonly keys = new HashSet64()
  private next = 1
  /** Records held here and not shadowed, and their postings. */
  readonly counts = { records: 0, postings: 0 }
  private readonly reader = new RareReader()

  constructor (private readonly db: Db, private readonly headValue: HeadValue) {}

  /** Reads every piece's span and counts (after the key directory is built: a record it shadows is not counted). */
  async load (): Promise<void> {
    const key = new Uint8Array(MAX_TERM_BYTES + 10)
    for await (const [k, value] of this.db.iterator({ ...spaceOf(P_RARE), highWaterMarkBytes: SCAN_BYTES })) {
      const seq = readU32be(k, 1)
      this.next = seq + 1
      const [piece] = cutPieces(value, 0, value.length, undefined, Infinity)
      if (piece === undefined) continue
      this.add(seq, piece)
      const r = this.reader.over(value)
      while (r.next()) {
        const n = r.keyInto(key)
        this.keys.add(key, 0, n)
        if (this.headValue(key, n, r.range, r.list.docs[0]) !== undefined) { this.counts.records--; this.counts.postings -= r.list.length }
      }
    }
  }

  get empty (): boolean { return this.counts.records === 0 }

  private add (seq: number, piece: RarePiece): void {
    this.spans.add(seq, piece.lo, piece.hi)
    this.counts.records += piece.records
    this.counts.postings += piece.postings
  }

  /**
   * Cuts the runs b's entries `runs` into pieces, less the records held
   * already. Nothing changes here until `commit` (after the write).
   *
   * A record held already with the same bytes is left out. Held with other
   * bytes (a publish run again after documents were added, or a head chunk
   * a repair or a publish without rare runs wrote), it becomes a head chunk
   * of this write (`converted`): the key directory then has the newest copy,
   * which reads prefer, and an old rare record leaves the counts.
   *
   * The write's head entries `heads` (a repair's or a catch-up's, sending
   * records as the head chunks they stand for) are looked up the same way:
   * one a record holds with the same bytes is left out, one with other
   * bytes is stored and the record leaves the counts (once: not when a
   * head chunk shadows it already).
   */
  prepare (b: WriteBuilder, runs: number[], heads: number[] = []): RareWrite {
    const pieces: RarePiece[] = []
    const converted = new WriteBuilder(1024, 1024, 16)
    const inline: number[] = []
    const shadowed = { records: 0, postings: 0 }
    const key = new Uint8Array(MAX_TERM_BYTES + 10)
    const scratch = new WriteBuilder(1024, 1024, 1)
    const sameAs = (r: RareReader, held: Uint8Array): boolean => { scratch.reset(); r.headInto(scratch); return sameBytes(held, scratch.value(0)) }
    const convert = (r: RareReader): void => { inline[converted.length] = r.list.length; r.headInto(converted) }
    const held = (r: RareReader): boolean => {
      const n = r.keyInto(key)
      const inPack = this.headValue(key, n, r.range, r.list.docs[0])
      if (inPack !== undefined) {
        if (!sameAs(r, inPack)) convert(r)
        return true
      }
      const record = this.recordValue(key.subarray(0, n))
      if (record === undefined) { this.keys.add(key, 0, n); return false }
      if (!sameAs(r, record)) {
        convert(r)
        shadowed.records++; shadowed.postings += decodeHead(record, r.list.docs[0]).postings
      }
      return true
    }
    for (const i of runs) pieces.push(...cutPieces(b.valueBuf, b.valueStart(i), b.valueEnd(i), held))
    const kept = this.spans.size === 0 ? heads : heads.filter((i) => {
      const k = b.key(i)
      const record = this.recordValue(k)
      if (record === undefined || this.headValue(k, k.length, keyRange(k), keyFirstDoc(k)) !== undefined) return true
      if (sameBytes(record, b.value(i))) return false
      shadowed.records++; shadowed.postings += decodeHead(record, keyFirstDoc(k)).postings
      return true
    })
    const first = this.next
    const puts = pieces.map((p, j): [Uint8Array, Uint8Array] => [rareKey(first + j), p.value])
    return {
      puts,
      heads: kept,
      converted,
      inline,
      commit: () => {
        pieces.forEach((p, j) => this.add(first + j, p))
        this.next = first + pieces.length
        this.counts.records -= shadowed.records; this.counts.postings -= shadowed.postings
      }
    }
  }

  /** The head chunk record `key` (P_HEAD term 00 range firstDoc) stands for, or undefined when no record has that key. */
  private recordValue (key: Uint8Array): Uint8Array | undefined {
    if (!this.keys.has(key, 0, key.length)) return undefined
    for (const [k, v] of this.chunksOf(key.subarray(1, key.length - 9))) if (sameBytes(k, key)) return v
    return undefined
  }

  /** The head chunks rare records of `term` stand for, in key order (shadowed ones too: the caller prefers its head chunks). */
  chunksOf (term: Uint8Array): Array<[Uint8Array, Uint8Array]> {
    const out: Array<[Uint8Array, Uint8Array]> = []
    if (this.spans.size === 0) return out
    const { gte, lt } = termSpan(P_HEAD, term)
    for (const seq of this.spans.meeting(gte, lt)) {
      const piece = this.db.getSync(rareKey(seq))
      if (piece === undefined) continue
      const r = this.reader.over(piece)
      while (r.next()) {
        const c = r.compareTerm(term, 0, term.length)
        if (c < 0) continue
        if (c > 0) break
        const b = new WriteBuilder(term.length + 16, 64, 1)
        r.headInto(b)
        out.push([b.key(0), b.value(0)])
      }
    }
    if (out.length > 1) out.sort((a, b) => Buffer.compare(a[0], b[0]))
    return out
  }

  /** The head chunks of the records with keys in [gte, lt), in piece order; `pause` lets the event loop in between slices of pieces. */
  async scan (gte: Uint8Array, lt: Uint8Array, pause: (piecesRead: number) => Promise<void>): Promise<Array<{ key: Uint8Array, value: Uint8Array }>> {
    const out: Array<{ key: Uint8Array, value: Uint8Array }> = []
    const seqs = this.spans.meeting(gte, lt)
    const r = new RareReader()
    const b = new WriteBuilder(1024, 1024, 1)
    const key = new Uint8Array(MAX_TERM_BYTES + 10)
    for (let i = 0; i < seqs.length; i++) {
      await pause(i)
      const piece = this.db.getSync(rareKey(seqs[i]))
      if (piece === undefined) continue
      r.over(piece)
      while (r.next()) {
        const k = key.subarray(0, r.keyInto(key))
        if (Buffer.compare(k, gte) < 0) continue
        if (Buffer.compare(k, lt) >= 0) break
        b.reset(); r.headInto(b)
        out.push({ key: b.key(0).slice(), value: b.value(0).slice() })
      }
    }
    return out
  }

  /**
   * Every record but those `shadowed` says a head chunk holds, as the head
   * chunk it stands for, streamed (pieces written after the walk began are
   * not read).
   */
  async * records (shadowed: HeadHeld): AsyncIterable<{ key: Uint8Array, value: Uint8Array }> {
    const horizon = this.next
    const key = new Uint8Array(MAX_TERM_BYTES + 10)
    const b = new WriteBuilder(1024, 1024, 1)
    const r = new RareReader()
    for await (const [pk, piece] of this.db.iterator({ ...spaceOf(P_RARE), highWaterMarkBytes: SCAN_BYTES })) {
      if (readU32be(pk, 1) >= horizon) break
      r.over(piece)
      while (r.next()) {
        const n = r.keyInto(key)
        if (shadowed(key, n, r.range, r.list.docs[0])) continue
        b.reset(); r.headInto(b)
        yield { key: b.key(0).slice(), value: b.value(0).slice() }
      }
    }
  }
}
