/**
 * Posting-list helpers of the remote source: joining the blocks of a term,
 * ordering the union of several terms, applying a reducer the holders did
 * not apply.
 */
import { EMPTY_LIST, PostingBuffer, type PostingList } from '../xml-twig-index/postings/codec.ts'
import type { DocFilter } from '../xml-twig-index/engine/source.ts'

/** Blocks with at most this many postings are fetched whole and cached. */
export const SMALL_BLOCK = 512
/** Postings kept in the small-block cache. */
export const BLOCK_CACHE_POSTINGS = 4_000_000

/** The postings of a sorted list whose docs the filter has. */
export function keepDocs (list: PostingList, filter: DocFilter): PostingList {
  const has = filter.sequential()
  const out = new PostingBuffer(Math.min(list.length, 64))
  for (let i = 0; i < list.length; i++) if (has(list.docs[i])) out.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i])
  return out
}

/** Postings [from, to) of a list, without copying. */
export function sliceList (list: PostingList, from: number, to: number): PostingList {
  if (from === 0 && to === list.length) return list
  return { length: to - from, docs: list.docs.subarray(from, to), starts: list.starts.subarray(from, to), ends: list.ends.subarray(from, to), levels: list.levels.subarray(from, to) }
}

export function concatLists (lists: PostingList[]): PostingList {
  const nonEmpty = lists.filter((l) => l.length > 0)
  if (nonEmpty.length === 0) return EMPTY_LIST
  if (nonEmpty.length === 1) return nonEmpty[0]
  const out = new PostingBuffer(nonEmpty.reduce((n, l) => n + l.length, 0))
  for (const l of nonEmpty) out.append(l)
  return out
}

/** Sorts postings by (doc, start): the union of several terms' lists. */
export function sortPostings (list: PostingList): PostingList {
  const n = list.length
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  order.sort((a, b) => (list.docs[a] - list.docs[b]) || (list.starts[a] - list.starts[b]))
  const out = new PostingBuffer(n)
  for (let k = 0; k < n; k++) { const i = order[k]; out.push(list.docs[i], list.starts[i], list.ends[i], list.levels[i]) }
  return out
}

export function inOrder (list: PostingList): boolean {
  for (let i = 1; i < list.length; i++) {
    const d = list.docs[i] - list.docs[i - 1]
    if (d < 0 || (d === 0 && list.starts[i] < list.starts[i - 1])) return false
  }
  return true
}

