/**
 * Term heads on the wire (the `heads` and `terms` answers): the sizes per
 * range in the JSON header, and the postings ranges carry inline in one
 * binary part (each list a varint length and its encoding), which the
 * header names by index: a `terms` answer may hold many thousands. A reader checks what it
 * gets against what the head says of it: inline postings in (doc, start)
 * order, inside their range, no more than the range's postings.
 */
import { ByteWriter, type PostingList } from '../xml-twig-index/postings/codec.ts'
import { ProtocolError } from './errors.ts'
import { inOrder } from './posting-lists.ts'
import type { RangeStats, TermHead } from './types.ts'
import { decodePostingList, encodePostingList } from './wire.ts'

/** A range as the header carries it: `inline` is the index of its inline postings in the answer's part. */
interface WireRange { range: number, postings: number, docs: number, lastDoc?: number, inline?: number }
interface WireHead { term: string, ranges: WireRange[] }

export function encodeHeads (heads: Array<TermHead | undefined>): { heads: Array<WireHead | null>, parts: Uint8Array[] } {
  let lists = 0
  let w: ByteWriter | undefined
  const out = heads.map((h): WireHead | null => h === undefined
    ? null
    : {
        term: h.term,
        ranges: h.ranges.map(({ range, postings, docs, lastDoc, inline }) => {
          const r: WireRange = lastDoc === undefined ? { range, postings, docs } : { range, postings, docs, lastDoc }
          if (inline === undefined || inline.length === 0) return r
          const bytes = encodePostingList(inline)
          w ??= new ByteWriter(4096)
          w.varint(bytes.length); w.bytes(bytes)
          r.inline = lists++
          return r
        })
      })
  return { heads: out, parts: w === undefined ? [] : [w.result()] }
}

/** The inline lists of an answer's part, as views. */
function splitLists (part: Uint8Array | undefined, from: string): Uint8Array[] {
  const out: Uint8Array[] = []
  if (part === undefined) return out
  let p = 0
  while (p < part.length) {
    let n = 0
    for (let shift = 0; ; shift += 7) {
      if (p >= part.length || shift > 28) throw new ProtocolError(`${from}: inline postings part is malformed at byte ${p}`)
      const x = part[p++]
      n += (x & 0x7f) * 2 ** shift
      if (x < 0x80) break
    }
    if (p + n > part.length) throw new ProtocolError(`${from}: inline postings part is truncated at byte ${p}`)
    out.push(part.subarray(p, p + n))
    p += n
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
    const w = h as Partial<WireHead>
    if (typeof w?.term !== 'string' || !Array.isArray(w.ranges)) throw new ProtocolError(`${from}: head ${k} has no term or ranges`)
    const ranges = w.ranges.map((r: Partial<WireRange>): RangeStats => {
      if (!isCount(r?.range) || !isCount(r.postings) || !isCount(r.docs)) throw new ProtocolError(`${from}: head ${JSON.stringify(w.term)} has a malformed range`)
      const out: RangeStats = { range: r.range, postings: r.postings, docs: r.docs }
      if (r.lastDoc !== undefined) {
        if (!isCount(r.lastDoc) || Math.floor(r.lastDoc / rangeDocs) !== r.range) throw new ProtocolError(`${from}: head ${JSON.stringify(w.term)} range ${r.range} has lastDoc ${String(r.lastDoc)} outside it`)
        out.lastDoc = r.lastDoc
      }
      if (r.inline !== undefined) out.inline = inlineOf(r as WireRange, lists, rangeDocs, `${from}: head ${JSON.stringify(w.term)} range ${r.range}`)
      return out
    })
    return { term: w.term, ranges }
  })
}

function inlineOf (r: WireRange, lists: Uint8Array[], rangeDocs: number, where: string): PostingList {
  const part = Number.isInteger(r.inline) ? lists[r.inline as number] : undefined
  if (part === undefined) throw new ProtocolError(`${where}: inline postings name list ${String(r.inline)} of ${lists.length}`)
  const list = decodePostingList(part)
  const lo = r.range * rangeDocs; const hi = lo + rangeDocs
  if (list.length > r.postings) throw new ProtocolError(`${where}: ${list.length} inline postings for a range of ${r.postings}`)
  if (list.length > 0 && (list.docs[0] < lo || list.docs[list.length - 1] >= hi || !inOrder(list))) throw new ProtocolError(`${where}: inline postings out of order or outside docs [${lo}, ${hi})`)
  return list
}
