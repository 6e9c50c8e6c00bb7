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
 * that straddle an edge of a run of wanted files: half a piece per edge on
 * average. Units with the same requester set stay together (a segment);
 * segments are laid out so that neighbours have similar requester sets; a
 * merge adds one junction, i.e. an edge for every peer that wants one side
 * of it but not the other, and may lengthen the pieces, which makes every
 * edge inside cost more. Clusters are kept near their share of the bytes
 * (1.5 x total / K) because one giant cluster gets long pieces. Without
 * per-file selection a merge would cost whole clusters
 * (`wasteWithoutSelection` reports that figure for comparison). The
 * reported waste is exact: computed from the final layout and piece length,
 * it is what the downloads will measure.
 *
 * Past `allPairsUpTo` clusters, candidates are near neighbours (min-hash
 * sorted neighbourhoods of cluster ends), and large requester sets are
 * compared by min-hash sketches: 10,000 peers cluster in one process.
 */
import { createHash } from 'node:crypto'
import { MergeHeap, differenceOf, sketch, union } from './merge-heap.ts'

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
 * Power of two from 16 KiB: at most 1/16 of the cluster's average file
 * (a piece straddling the edge of a wanted run is the waste of per-file
 * selection), at least 1/1,024 of the whole while the files allow, and
 * never over 4 MiB unless MAX_PIECES requires it.
 */
export function defaultPieceLength (totalBytes: number, files = 1): number {
  const average = totalBytes / Math.max(1, files)
  let length = 16 * 1024
  while ((length < 4 * 1024 * 1024 && length * 16 <= average && totalBytes / length > 1024) || totalBytes / length > MAX_PIECES) length *= 2
  return length
}

/** Candidate partners a cluster keeps in neighbour mode. */
const NEIGHBOURS = 8

/** A run of units with one requester set, and the set (sorted peer indexes). */
interface Segment { units: number[], bytes: number, requesters: Int32Array, sketch?: Uint32Array }

/**
 * A cluster under construction: segments in layout order, and its edges:
 * over all its requesters, the ends of their wanted runs that fall inside
 * the torrent (an end at the torrent's own start or end costs nothing).
 * Each such edge costs half a piece on average, so the cluster's estimated
 * waste is edges x pieceLength / 2.
 */
interface Working { key: number, segments: Segment[], bytes: number, files: number, pieceLength: number, edges: number, alive: boolean, requesters: Int32Array }

/** How two clusters join: which ends meet (reversing a cluster's layout is free) and what the merge adds to the estimated waste. */
interface Join { cost: number, reverseLeft: boolean, reverseRight: boolean, edges: number, pieceLength: number }

type PieceLength = (totalBytes: number, files: number) => number

/** Differences at the four ways two clusters can meet: x then y, x then reversed y, reversed x then y, both reversed. */
function junctions (x: Working, y: Working): [number, number, number, number] {
  const xf = x.segments[0]; const xl = x.segments[x.segments.length - 1]
  const yf = y.segments[0]; const yl = y.segments[y.segments.length - 1]
  return [
    differenceOf(xl.requesters, xl.sketch, yf.requesters, yf.sketch),
    differenceOf(xl.requesters, xl.sketch, yl.requesters, yl.sketch),
    differenceOf(xf.requesters, xf.sketch, yf.requesters, yf.sketch),
    differenceOf(xf.requesters, xf.sketch, yl.requesters, yl.sketch)
  ]
}

function bestJoin (x: Working, y: Working, pieceLength: PieceLength): Join {
  // Peers on one side of the junction only get a new edge; peers on both sides keep one run.
  const d = junctions(x, y)
  let best = 0
  for (let i = 1; i < 4; i++) if (d[i] < d[best]) best = i
  const length = pieceLength(x.bytes + y.bytes, x.files + y.files)
  const edges = x.edges + y.edges + d[best]
  // The merged torrent may get longer pieces than its parts: every inner edge then costs more, not only the new ones.
  const cost = (edges * length - x.edges * x.pieceLength - y.edges * y.pieceLength) / 2
  return { cost, reverseLeft: best >= 2, reverseRight: best === 1 || best === 3, edges, pieceLength: length }
}

/**
 * Candidate pairs by similarity of the ends that would meet: each live
 * cluster's two end segments, sorted by a few min-hashes of their requester
 * sets, paired with their neighbours in each order (sorted neighbourhood).
 */
function neighbourPairs (live: readonly Working[], window: number): Array<[number, number]> {
  const pairs: Array<[number, number]> = []
  const ends: Array<{ key: number, requesters: Int32Array }> = []
  for (const w of live) {
    ends.push({ key: w.key, requesters: w.segments[0].requesters })
    if (w.segments.length > 1) ends.push({ key: w.key, requesters: w.segments[w.segments.length - 1].requesters })
  }
  for (const seed of [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d]) {
    const signature = ends.map((e) => {
      let min = 0xffffffff
      for (const p of e.requesters) { const h = Math.imul(p ^ seed, 0x27d4eb2d) >>> 0; if (h < min) min = h }
      return min
    })
    const order = ends.map((_, i) => i).sort((i, j) => signature[i] - signature[j] || ends[i].requesters.length - ends[j].requesters.length || ends[i].key - ends[j].key || i - j)
    for (let i = 0; i < order.length; i++) {
      for (let k = 1; k <= window && i + k < order.length; k++) {
        const a = ends[order[i]].key; const b = ends[order[i + k]].key
        if (a !== b) pairs.push([a, b])
      }
    }
  }
  return pairs
}

/**
 * Groups units by requester set, then merges greedily (cheapest estimated
 * waste first, ties by position) until at most `maxTorrents` remain, or
 * further while merges stay within the waste budget. Deterministic: the
 * same wish lists in any order give the same clusters.
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
  for (const w of wishLists) {
    const p = peerIndex.get(w.peer)!
    for (const id of w.units) {
      const u = unitIndex.get(id)
      if (u === undefined) throw new UnknownUnitError(w.peer, id)
      wanted[u].push(p)
    }
  }

  // Exact clusters: one per distinct requester set.
  const bySet = new Map<string, Segment>()
  let unwanted = 0; let wantedBytes = 0
  for (let u = 0; u < sortedUnits.length; u++) {
    const requesters = [...new Set(wanted[u])].sort((a, b) => a - b)
    if (requesters.length === 0) { unwanted++; continue }
    wantedBytes += sortedUnits[u].bytes * requesters.length
    const key = requesters.join(',')
    let seg = bySet.get(key)
    if (seg === undefined) { const set = Int32Array.from(requesters); seg = { units: [], bytes: 0, requesters: set, sketch: sketch(set) }; bySet.set(key, seg) }
    seg.units.push(u); seg.bytes += sortedUnits[u].bytes
  }
  const exact = [...bySet.values()]
  const work: Working[] = exact.map((seg, key) => ({ key, segments: [seg], bytes: seg.bytes, files: seg.units.length, pieceLength: pieceLength(seg.bytes, seg.units.length), edges: 0, alive: true, requesters: seg.requesters }))

  const partners: number[][] = work.map(() => [])
  const heap = new MergeHeap()
  // Balance: a cluster over its share of the bytes gets longer pieces, and every edge in it costs more; greedy merging alone grows one giant.
  let totalBytes = 0
  for (const w of work) totalBytes += w.bytes
  let cap = 1.5 * totalBytes / maxTorrents
  for (const w of work) cap = Math.max(cap, w.bytes)
  const consider = (a: number, b: number): void => {
    if (work[a].bytes + work[b].bytes > cap) return
    partners[a].push(b); partners[b].push(a)
    heap.push(bestJoin(work[a], work[b], pieceLength).cost, a, b)
  }
  // Candidates among the live clusters: all pairs when affordable, else near neighbours.
  const refill = (): void => {
    const live = work.filter((w) => w.alive)
    if (live.length <= allPairsUpTo) {
      for (let i = 0; i < live.length; i++) for (let j = i + 1; j < live.length; j++) consider(live[i].key, live[j].key)
    } else {
      for (const [a, b] of neighbourPairs(live, NEIGHBOURS / 2)) consider(a, b)
    }
  }
  const join = (x: Working, y: Working): Working => {
    const j = bestJoin(x, y, pieceLength)
    const left = j.reverseLeft ? [...x.segments].reverse() : x.segments
    const right = j.reverseRight ? [...y.segments].reverse() : y.segments
    x.alive = false; y.alive = false
    const merged: Working = { key: work.length, segments: left.concat(right), bytes: x.bytes + y.bytes, files: x.files + y.files, pieceLength: j.pieceLength, edges: j.edges, alive: true, requesters: union(x.requesters, y.requesters) }
    work.push(merged); partners.push([])
    return merged
  }

  let alive = work.length; let merges = 0; let spent = 0
  const budget = budgetFraction * wantedBytes
  const neighbourMode = work.length > allPairsUpTo
  const seen: number[] = []
  if (alive > maxTorrents || budget > 0) refill()
  while (alive > 1) {
    if (!heap.pop()) {
      // Every candidate pair is used up (their parts merged elsewhere): draw new neighbours among the live clusters.
      if (alive <= maxTorrents) break
      refill()
      // Over K with every remaining pair over the cap: the cap gives way (K is the bound that holds).
      while (heap.size === 0 && cap < totalBytes) { cap *= 2; refill() }
      if (!heap.pop()) break
    }
    const next = heap.top
    const x = work[next.a]; const y = work[next.b]
    // Merged clusters are retired, never changed: a popped pair of live clusters carries its current cost.
    if (!x.alive || !y.alive) continue
    if (alive <= maxTorrents && spent + next.cost > budget) break
    const merged = join(x, y)
    const inherited: number[] = []
    for (const p of [...partners[next.a], ...partners[next.b]]) {
      if (work[p].alive && seen[p] !== merged.key) { seen[p] = merged.key; inherited.push(p) }
    }
    inherited.sort((a, b) => a - b)
    if (neighbourMode && inherited.length > NEIGHBOURS) {
      // Keep the cheapest few: inheriting every partner would grow candidate lists without bound.
      const costs = inherited.map((p) => ({ p, cost: bestJoin(merged, work[p], pieceLength).cost }))
      costs.sort((a, b) => a.cost - b.cost || a.p - b.p)
      for (const { p } of costs.slice(0, NEIGHBOURS)) consider(merged.key, p)
    } else {
      for (const p of inherited) consider(merged.key, p)
    }
    partners[next.a] = []; partners[next.b] = []
    alive--; merges++; spent += next.cost
  }
  // Only reached if refilling found no pair at all (it always does while two clusters live): join smallest first.
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
function finish (w: Working, units: readonly ClusterUnit[], peers: readonly string[], pieceLength: PieceLength): Cluster {
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
