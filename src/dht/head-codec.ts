/**
 * Term heads on the wire (the `heads` and `terms` answers): the sizes per
 * range in the JSON header, and the postings ranges carry inline in one
 * binary part (each list a varint length and its encoding), which the
 * header names by index: a `terms` answer may hold many thousands. A
 * reader checks what it gets against what the head says of it: inline
 * postings in (doc, start) order, inside their range, no more than the
 * range's postings; a last doc inside its range.
 */
import { ByteWriter, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'
import { inOrder } from './posting-lists.ts'
import { VarintReader } from './shard-keys.ts'
import type { RangeStats, TermHead } from './types.ts'
import { decodePostingList, encodePostingList } from './wire.ts'

/**
 * A head as the header carries it: [term, ranges], the ranges flat, five
 * numbers each: range, postings, docs, lastDoc (-1: not known), and the
 * index of its inline postings in the answer's part (-1: none). (As
 * objects, the field names were most of a heads answer.)
 */
type WireHead = [string, number[]]
const FIELDS = 5

export function encodeHeads (heads: Array<TermHead | undefined>): { heads: Array<WireHead | null>, parts: Uint8Array[] } {
  let lists = 0
  let w: ByteWriter | undefined
  const out = heads.map((h): WireHead | null => {
    if (h === undefined) return null
    const ranges: number[] = []
    for (const { range, postings, docs, lastDoc, inline } of h.ranges) {
      let at = -1
      if (inline !== undefined && inline.length > 0) {
        const bytes = encodePostingList(inline)
        w ??= new ByteWriter(4096)
        w.varint(bytes.length); w.bytes(bytes)
        at = lists++
      }
      ranges.push(range, postings, docs, lastDoc ?? -1, at)
    }
    return [h.term, ranges]
  })
  return { heads: out, parts: w === undefined ? [] : [w.result()] }
}

/** The inline lists of an answer's part, as views. */
function splitLists (part: Uint8Array | undefined, from: string): Uint8Array[] {
  const out: Uint8Array[] = []
  if (part === undefined) return out
  const r = new VarintReader(part)
  while (!r.done) {
    let n: number
    try { n = r.next() } catch (err) { throw new ProtocolError(`${from}: inline postings part is malformed: ${(err as Error).message}`) }
    if (r.p + n > part.length) throw new ProtocolError(`${from}: inline postings part is truncated at byte ${r.p}`)
    out.push(part.subarray(r.p, r.p + n))
    r.p += n
  }
  return out
}

const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 0xffffffff

/** The heads of an answer, checked; `rangeDocs` bounds where inline postings may lie. */
export function decodeHeads (value: unknown, parts: Uint8Array[], rangeDocs: number, from: string): Array<TermHead | null> {
  if (!Array.isArray(value)) throw new ProtocolError(`${from}: heads is not an array`)
  const lists = splitLists(parts[0], from)
  return value.map((h: unknown, k): TermHead | null => {
    if (h === null) return null
    const [term, flat] = Array.isArray(h) ? h as [unknown, unknown] : []
    if (typeof term !== 'string' || !Array.isArray(flat) || flat.length % FIELDS !== 0) throw new ProtocolError(`${from}: head ${k} has no term or ranges`)
    const ranges: RangeStats[] = []
    for (let i = 0; i < flat.length; i += FIELDS) {
      const [range, postings, docs, lastDoc, inline] = flat.slice(i, i + FIELDS) as unknown[]
      if (!isCount(range) || !isCount(postings) || !isCount(docs) || !(lastDoc === -1 || isCount(lastDoc)) || !(inline === -1 || isCount(inline))) throw new ProtocolError(`${from}: head ${JSON.stringify(term)} has a malformed range`)
      const where = `${from}: head ${JSON.stringify(term)} range ${range}`
      const out: RangeStats = { range, postings, docs }
      if (lastDoc !== -1) {
        if (Math.floor(lastDoc / rangeDocs) !== range) throw new ProtocolError(`${where} has lastDoc ${lastDoc} outside it`)
        out.lastDoc = lastDoc
      }
      if (inline !== -1) {
        const part = lists[inline]
        if (part === undefined) throw new ProtocolError(`${where}: inline postings name list ${inline} of ${lists.length}`)
        out.inline = inlineOf(range, postings, part, rangeDocs, where)
      }
      ranges.push(out)
    }
    return { term, ranges }
  })
}

function inlineOf (range: number, postings: number, part: Uint8Array, rangeDocs: number, where: string): PostingList {
  const list = decodePostingList(part)
  const lo = range * rangeDocs; const hi = lo + rangeDocs
  if (list.length > postings) throw new ProtocolError(`${where}: ${list.length} inline postings for a range of ${postings}`)
  if (list.length > 0 && (list.docs[0] < lo || list.docs[list.length - 1] >= hi || !inOrder(list))) throw new ProtocolError(`${where}: inline postings out of order or outside docs [${lo}, ${hi})`)
  return list
}
