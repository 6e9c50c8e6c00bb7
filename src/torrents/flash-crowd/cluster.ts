/**
 * Clustering of a flash crowd's wish lists into shared torrents (the
 * paper's step 4).
 *
 * The idea is IDiP's (T. Milo and E. Zur, SIGMOD 2007, as the EDOS paper
 * cites it): a cluster is the set of units wanted by exactly the same set of
 * peers, so everyone in a cluster's swarm wants every piece of it and can
 * trade every piece. Real wish lists give many distinct requester sets, so
 * the number of torrents is bounded (K) by merging clusters; a merged
 * cluster makes some peers receive bytes they did not ask for, and that
 * waste is what the merge order minimises.
 *
 * The cost model accounts for per-file selection: a peer in a merged
 * torrent selects only its files, and BitTorrent moves whole pieces, so
 * what it receives without wanting it is the unwanted part of the pieces
 * that straddle the edge of a run of wanted files. Units with the same
 * requester set stay together (a segment), segments are laid out so that
 * neighbours have similar requester sets, and a merge costs what its one
 * new junction costs: half a piece, on average, for every peer that wants
 * one side of the junction but not the other. Without per-file selection
 * a merge would cost whole clusters (`wasteWithoutSelection` reports that
 * figure for comparison). The reported waste is exact: computed from the
 * final layout and piece length, it is what the downloads will measure.
 */
import { createHash } from 'node:crypto'

/** A unit of the release and its size in bytes (its file's size). */
export interface ClusterUnit { id: string, bytes: number }

/** One peer's wish list: the units it wants (ids of `units`). */
export interface WishList { peer: string, units: readonly string[] }

export interface ClusterInit {
  /** Most torrents (K) the clustering may produce; never exceeded. Default 16. */
  maxTorrents?: number
  /**
   * Extra merges below K are made while their estimated waste stays within
   * this fraction of the wanted bytes (fewer, fuller swarms). Default 0: merge
   * only as far as K requires.
   */
  wasteBudget?: number
  /**
   * Piece length of a torrent of `totalBytes`: the same function must choose
   * the piece length the cluster torrents are created with, since waste is
   * counted in pieces. Default: `defaultPieceLength`.
   */
  pieceLength?: (totalBytes: number, files: number) => number
  /**
   * Above this many exact clusters, merge candidates are limited to near
   * neighbours (similar requester sets) instead of every pair. Default 600.
   */
  allPairsUpTo?: number
}

/** One cluster torrent to seed: its units in file order and who wants what in it. */
export interface Cluster {
  /** Stable id: a hash of the units in layout order. */
  id: string
  /** Units in torrent file order. */
  units: string[]
  bytes: number
  pieceLength: number
  /** Peers that want at least one of its units, sorted. */
  requesters: string[]
  /** Number of exact clusters (requester sets) merged into it. */
  segments: number
  /** Bytes its requesters receive without wanting them, with per-file selection (exact). */
  waste: number
}

export interface ClusteringResult {
  clusters: Cluster[]
  /** Distinct requester sets: the torrents an unbounded clustering would seed. */
  exactClusters: number
  /** Sum over peers of the bytes they want. */
  wantedBytes: number
  /** Sum over clusters of `waste`: bytes received and not wanted, with per-file selection. */
  wasteBytes: number
  wastePercent: number
  /** The same clusters downloaded whole by each requester (no per-file selection). */
  wasteWithoutSelection: number
  /** Units that no wish list names, or wanted by nobody: not in any cluster. */
  unwanted: number
  merges: number
  milliseconds: number
}

/** A wish list names a unit the release does not have. */
export class UnknownUnitError extends Error {
  readonly code = 'ERR_UNKNOWN_UNIT'
  constructor (readonly peer: string, readonly unit: string) {
    super(`wish list of ${peer} names '${unit}', which is not a unit of the release`)
    this.name = 'UnknownUnitError'
  }
}

export class ClusterSettingsError extends Error {
  readonly code = 'ERR_CLUSTER_SETTINGS'
  constructor (message: string) {
    super(message)
    this.name = 'ClusterSettingsError'
  }
}

/** Most pieces a cluster torrent gets (its .torrent holds 20 bytes per piece). */
export const MAX_PIECES = 131_072

/**
 * Power of two from 16 KiB: at most a quarter of the cluster's average file
 * (a piece straddling the edge of a wanted run is the waste of per-file
 * selection), at least 1/1,024 of the whole while the files allow, and
 * never over 4 MiB unless MAX_PIECES requires it.
 */
export function defaultPieceLength (totalBytes: number, files = 1): number {
  const average = totalBytes / Math.max(1, files)
  let length = 16 * 1024
  while ((length < 4 * 1024 * 1024 && length * 4 <= average && totalBytes / length > 1024) || totalBytes / length > MAX_PIECES) length *= 2
  return length
}

/** Candidate partners a cluster keeps in neighbour mode. */
const NEIGHBOURS = 16

/** A run of units with one requester set, and the set (sorted peer indexes). */
interface Segment { units: number[], bytes: number, requesters: Int32Array }

/** A cluster under construction: segments in layout order. */
interface Working { key: number, segments: Segment[], bytes: number, files: number, alive: boolean, requesters: Int32Array }

/** Size of the symmetric difference of two sorted index arrays. */
function symmetricDifference (a: Int32Array, b: Int32Array): number {
  let i = 0; let j = 0; let common = 0
  while (i < a.length && j < b.length) {
    const x = a[i]; const y = b[j]
    if (x === y) { common++; i++; j++ } else if (x < y) i++; else j++
  }
  return a.length + b.length - 2 * common
}

function union (a: Int32Array, b: Int32Array): Int32Array {
  const out = new Int32Array(a.length + b.length)
  let i = 0; let j = 0; let n = 0
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i] < b[j])) out[n++] = a[i++]
    else if (i >= a.length || b[j] < a[i]) out[n++] = b[j++]
    else { out[n++] = a[i++]; j++ }
  }
  return out.slice(0, n)
}

/** How two clusters join: which ends meet (reversing a cluster's layout is free). */
interface Join { cost: number, reverseLeft: boolean, reverseRight: boolean }

function bestJoin (x: Working, y: Working, halfPiece: number): Join {
  const xFirst = x.segments[0].requesters; const xLast = x.segments[x.segments.length - 1].requesters
  const yFirst = y.segments[0].requesters; const yLast = y.segments[y.segments.length - 1].requesters
  // Candidates: x then y, x then reversed y, reversed x then y, reversed x then reversed y.
  const options: Array<[number, boolean, boolean]> = [
    [symmetricDifference(xLast, yFirst), false, false],
    [symmetricDifference(xLast, yLast), false, true],
    [symmetricDifference(xFirst, yFirst), true, false],
    [symmetricDifference(xFirst, yLast), true, true]
  ]
  let best = options[0]
  for (const o of options) if (o[0] < best[0]) best = o
  // A peer on one side of the junction only pays the straddling piece's other part: half a piece on average, never more than that side holds.
  const edge = Math.min(halfPiece, Math.min(x.bytes, y.bytes))
  return { cost: best[0] * edge, reverseLeft: best[1], reverseRight: best[2] }
}

/** Binary min-heap of candidate merges, ordered by cost then by the pair's keys (determinism). */
class MergeHeap {
  private readonly items: Array<{ cost: number, a: number, b: number }> = []
  get size (): number { return this.items.length }
  private less (i: number, j: number): boolean {
    const x = this.items[i]; const y = this.items[j]
    return x.cost !== y.cost ? x.cost < y.cost : x.a !== y.a ? x.a < y.a : x.b < y.b
  }

  push (cost: number, a: number, b: number): void {
    const items = this.items
    items.push({ cost, a: Math.min(a, b), b: Math.max(a, b) })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(i, p)) break
      ;[items[i], items[p]] = [items[p], items[i]]; i = p
    }
  }

  pop (): { cost: number, a: number, b: number } | undefined {
    const items = this.items
    if (items.length === 0) return undefined
    const top = items[0]; const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1; let m = i
        if (l < items.length && this.less(l, m)) m = l
        if (r < items.length && this.less(r, m)) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m], items[i]]; i = m
      }
    }
    return top
  }
}

/** Neighbours by similarity: clusters sorted by a few min-hashes of their requester sets, a window in each order. */
function neighbourPairs (work: Working[], window: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = []
  const seeds = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d]
  for (const seed of seeds) {
    const signature = work.map((w) => {
      let min = 0xffffffff
      for (const seg of w.segments) for (const p of seg.requesters) { const h = Math.imul(p ^ seed, 0x27d4eb2d) >>> 0; if (h < min) min = h }
      return min
    })
    const order = work.map((_, i) => i).sort((i, j) => signature[i] - signature[j] || work[i].requesters.length - work[j].requesters.length || i - j)
    for (let i = 0; i < order.length; i++) {
      for (let k = 1; k <= window && i + k < order.length; k++) pairs.push([order[i], order[i + k]])
    }
  }
  return pairs
}

/**
 * Groups units by requester set, then merges greedily (cheapest junction
 * first, ties by position) until at most `maxTorrents` remain, or further
 * while merges stay within the waste budget. Deterministic: the same wish
 * lists in any order give the same clusters.
 */
export function clusterWishLists (units: readonly ClusterUnit[], wishLists: readonly WishList[], init: ClusterInit = {}): ClusteringResult {
  const started = performance.now()
  const maxTorrents = init.maxTorrents ?? 16
  const budgetFraction = init.wasteBudget ?? 0
  const pieceLength = init.pieceLength ?? defaultPieceLength
  const allPairsUpTo = init.allPairsUpTo ?? 600
  if (!Number.isInteger(maxTorrents) || maxTorrents < 1) throw new ClusterSettingsError(`maxTorrents must be a positive integer, not ${maxTorrents}`)
  if (!(budgetFraction >= 0)) throw new ClusterSettingsError(`wasteBudget must be a fraction >= 0, not ${budgetFraction}`)

  // Peers and units in sorted order, so that input order does not change the result.
  const sortedUnits = [...units].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  const unitIndex = new Map<string, number>()
  sortedUnits.forEach((u, i) => unitIndex.set(u.id, i))
  const peers = [...new Set(wishLists.map((w) => w.peer))].sort()
  const peerIndex = new Map(peers.map((p, i) => [p, i]))
  const wanted: number[][] = sortedUnits.map(() => [])
  const seen = new Set<string>()
  for (const w of [...wishLists].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)) {
    const p = peerIndex.get(w.peer)!
    for (const id of w.units) {
      const u = unitIndex.get(id)
      if (u === undefined) throw new UnknownUnitError(w.peer, id)
      const key = `${p}\u0000${u}`
      if (seen.has(key)) continue
      seen.add(key)
      wanted[u].push(p)
    }
  }

  // Exact clusters: one per distinct requester set.
  const bySet = new Map<string, Segment>()
  let unwanted = 0; let wantedBytes = 0
  for (let u = 0; u < sortedUnits.length; u++) {
    const requesters = wanted[u]
    if (requesters.length === 0) { unwanted++; continue }
    requesters.sort((a, b) => a - b)
    wantedBytes += sortedUnits[u].bytes * requesters.length
    const key = requesters.join(',')
    let seg = bySet.get(key)
    if (seg === undefined) { seg = { units: [], bytes: 0, requesters: Int32Array.from(requesters) }; bySet.set(key, seg) }
    seg.units.push(u); seg.bytes += sortedUnits[u].bytes
  }
  const exact = [...bySet.values()]
  const work: Working[] = exact.map((seg, key) => ({ key, segments: [seg], bytes: seg.bytes, files: seg.units.length, alive: true, requesters: seg.requesters }))

  // Candidate merges: every pair while that is affordable, else similar neighbours; a merged cluster inherits its parts' candidates.
  const halfPiece = (x: Working, y: Working): number => pieceLength(x.bytes + y.bytes, x.files + y.files) / 2
  const partners: Array<Set<number>> = work.map(() => new Set())
  const heap = new MergeHeap()
  const consider = (a: number, b: number): void => {
    if (a === b) return
    partners[a].add(b); partners[b].add(a)
    const join = bestJoin(work[a], work[b], halfPiece(work[a], work[b]))
    heap.push(join.cost, a, b)
  }
  if (work.length <= allPairsUpTo) {
    for (let a = 0; a < work.length; a++) for (let b = a + 1; b < work.length; b++) consider(a, b)
  } else {
    for (const [a, b] of neighbourPairs(work, NEIGHBOURS / 2)) if (!partners[a].has(b)) consider(a, b)
  }

  const join = (x: Working, y: Working): Working => {
    const j = bestJoin(x, y, halfPiece(x, y))
    const left = j.reverseLeft ? [...x.segments].reverse() : x.segments
    const right = j.reverseRight ? [...y.segments].reverse() : y.segments
    x.alive = false; y.alive = false
    const merged: Working = { key: work.length, segments: left.concat(right), bytes: x.bytes + y.bytes, files: x.files + y.files, alive: true, requesters: union(x.requesters, y.requesters) }
    work.push(merged); partners.push(new Set())
    return merged
  }

  let alive = work.length; let merges = 0; let spent = 0
  const budget = budgetFraction * wantedBytes
  const neighbourMode = work.length > allPairsUpTo
  while (alive > 1) {
    const next = heap.pop()
    if (next === undefined) break
    const x = work[next.a]; const y = work[next.b]
    // Merged clusters are retired, never changed: a popped pair of live clusters carries its current cost.
    if (!x.alive || !y.alive) continue
    if (alive <= maxTorrents && spent + next.cost > budget) break
    const merged = join(x, y)
    const inherited = [...new Set([...partners[next.a], ...partners[next.b]])].filter((p) => work[p].alive).sort((a, b) => a - b)
    if (neighbourMode && inherited.length > NEIGHBOURS) {
      // Keep the cheapest few: inheriting every partner would grow candidate lists without bound.
      const costs = inherited.map((p) => ({ p, cost: bestJoin(merged, work[p], halfPiece(merged, work[p])).cost }))
      costs.sort((a, b) => a.cost - b.cost || a.p - b.p)
      for (const { p } of costs.slice(0, NEIGHBOURS)) consider(merged.key, p)
    } else {
      for (const p of inherited) consider(merged.key, p)
    }
    alive--; merges++; spent += next.cost
  }
  // Neighbour mode can leave clusters above K with no candidate pair left: join them smallest first.
  let live = work.filter((w) => w.alive)
  while (live.length > maxTorrents) {
    live.sort((a, b) => a.bytes - b.bytes || a.key - b.key)
    join(live[0], live[1]); merges++
    live = work.filter((w) => w.alive)
  }

  const clusters: Cluster[] = live
    .map((w) => finish(w, sortedUnits, peers, pieceLength))
    .sort((a, b) => b.bytes - a.bytes || (a.id < b.id ? -1 : 1))
  let wasteBytes = 0; let wasteWithoutSelection = 0
  for (const c of clusters) wasteBytes += c.waste
  for (const w of live) {
    const perPeer = new Map<number, number>()
    for (const s of w.segments) for (const p of s.requesters) perPeer.set(p, (perPeer.get(p) ?? 0) + s.bytes)
    for (const got of perPeer.values()) wasteWithoutSelection += w.bytes - got
  }
  return {
    clusters,
    exactClusters: exact.length,
    wantedBytes,
    wasteBytes,
    wastePercent: wantedBytes === 0 ? 0 : 100 * wasteBytes / wantedBytes,
    wasteWithoutSelection,
    unwanted,
    merges,
    milliseconds: performance.now() - started
  }
}

/** Lays a cluster out, names it and counts its exact waste. */
function finish (w: Working, units: readonly ClusterUnit[], peers: readonly string[], pieceLength: (bytes: number, files: number) => number): Cluster {
  const ids: string[] = []
  const wantedRuns = new Map<number, Array<[number, number]>>()
  let offset = 0
  for (const seg of w.segments) {
    for (const u of seg.units) ids.push(units[u].id)
    const end = offset + seg.bytes
    for (const p of seg.requesters) {
      const runs = wantedRuns.get(p)
      if (runs === undefined) wantedRuns.set(p, [[offset, end]])
      else if (runs[runs.length - 1][1] === offset) runs[runs.length - 1][1] = end
      else runs.push([offset, end])
    }
    offset = end
  }
  const length = pieceLength(w.bytes, w.files)
  return {
    id: createHash('sha256').update(ids.join('\n')).digest('hex').slice(0, 16),
    units: ids,
    bytes: w.bytes,
    pieceLength: length,
    requesters: [...w.requesters].map((p) => peers[p]),
    segments: w.segments.length,
    waste: [...wantedRuns.values()].reduce((acc, runs) => acc + runWaste(runs, w.bytes, length), 0)
  }
}

/**
 * Bytes a peer receives beyond its wanted runs when it downloads every piece
 * a wanted byte lies in (what per-file selection does). Runs are sorted and
 * disjoint; a piece shared by two runs is counted once.
 */
export function runWaste (runs: ReadonlyArray<readonly [number, number]>, totalBytes: number, pieceLength: number): number {
  let received = 0; let wanted = 0; let lastPiece = -1
  for (const [start, end] of runs) {
    if (end <= start) continue
    wanted += end - start
    let first = Math.floor(start / pieceLength)
    const last = Math.floor((end - 1) / pieceLength)
    if (first <= lastPiece) first = lastPiece + 1
    if (first <= last) received += Math.min(totalBytes, (last + 1) * pieceLength) - first * pieceLength
    lastPiece = Math.max(lastPiece, last)
  }
  return received - wanted
}
