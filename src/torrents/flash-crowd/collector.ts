/**
 * The publisher's collection window for one release (the paper's step 4,
 * first half): wish lists arrive, one per peer (a later one replaces an
 * earlier one while the window is open); the window closes after its time,
 * or early once every expected peer has answered. A peer that answers after
 * the close is not a reason to recompute: it is told which of the existing
 * clusters cover its wish list (and which units none does).
 */
import type { Cluster, ClusteringResult } from './cluster.ts'
import type { WishList } from './cluster.ts'

export interface CollectorInit {
  release: string
  /** How long the window stays open, in ms. Default 30,000. */
  windowMs?: number
  /**
   * Close the window early once these peers all answered (e.g. the release
   * channel's known subscribers), or once this many distinct peers did.
   */
  expectedPeers?: Iterable<string> | number
  /** Most units one wish list may name. Default 1,000,000. */
  maxUnits?: number
}

export type CollectorState = 'open' | 'closed'

export interface SubmitResult {
  release: string
  state: CollectorState
  /** True when this peer's earlier wish list was replaced. */
  replaced: boolean
  /** After the close: the clusters that cover this wish list, once the clustering is known. */
  assignment?: ClusterAssignment
}

/** Which cluster torrents a late peer joins, and which of its units none covers. */
export interface ClusterAssignment {
  clusters: Array<{ id: string, units: string[] }>
  uncovered: string[]
}

export class WishListRefusedError extends Error {
  readonly code = 'ERR_WISH_LIST_REFUSED'
  constructor (message: string) {
    super(message)
    this.name = 'WishListRefusedError'
  }
}

/** The clusters covering `units`: for each cluster, the units of it the peer wants (its file selection). */
export function assignClusters (clusters: readonly Cluster[], units: readonly string[]): ClusterAssignment {
  const where = new Map<string, Cluster>()
  for (const c of clusters) for (const u of c.units) where.set(u, c)
  const byCluster = new Map<string, string[]>()
  const uncovered: string[] = []
  for (const u of new Set(units)) {
    const c = where.get(u)
    if (c === undefined) { uncovered.push(u); continue }
    const list = byCluster.get(c.id)
    if (list === undefined) byCluster.set(c.id, [u]); else list.push(u)
  }
  return { clusters: [...byCluster].map(([id, us]) => ({ id, units: us })), uncovered }
}

export class WishListCollector {
  readonly release: string
  private readonly lists = new Map<string, WishList>()
  private readonly expected: Set<string>
  private readonly expectedCount: number
  private readonly maxUnits: number
  private state: CollectorState = 'open'
  private readonly timer: NodeJS.Timeout
  private clustering?: ClusteringResult
  private readonly lateLists = new Map<string, WishList>()
  /** Resolves with the wish lists collected when the window closes (by time, early, or `close()`). */
  readonly closed: Promise<WishList[]>
  private resolveClosed!: (lists: WishList[]) => void

  constructor (init: CollectorInit) {
    this.release = init.release
    const e = init.expectedPeers
    this.expected = new Set(typeof e === 'number' || e === undefined ? [] : e)
    this.expectedCount = typeof e === 'number' ? e : 0
    this.maxUnits = init.maxUnits ?? 1_000_000
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve })
    this.timer = setTimeout(() => { this.close() }, init.windowMs ?? 30_000)
    this.timer.unref()
  }

  get isOpen (): boolean { return this.state === 'open' }
  get count (): number { return this.lists.size }
  get late (): WishList[] { return [...this.lateLists.values()] }
  /** The wish lists in the window so far (the latest of each peer). */
  get inWindow (): WishList[] { return [...this.lists.values()] }

  submit (peer: string, units: readonly string[]): SubmitResult {
    if (units.length > this.maxUnits) throw new WishListRefusedError(`wish list of ${peer} for ${this.release} names ${units.length} units, more than ${this.maxUnits}`)
    const list = { peer, units: [...new Set(units)] }
    if (this.state === 'closed') {
      const replaced = this.lateLists.has(peer)
      this.lateLists.set(peer, list)
      return { release: this.release, state: 'closed', replaced, assignment: this.clustering === undefined ? undefined : assignClusters(this.clustering.clusters, list.units) }
    }
    const replaced = this.lists.has(peer)
    this.lists.set(peer, list)
    // The list that completes the expected set was taken inside the window: it is answered 'open', then the window closes.
    const result: SubmitResult = { release: this.release, state: 'open', replaced }
    if (this.expected.size > 0 && [...this.expected].every((p) => this.lists.has(p))) this.close()
    else if (this.expectedCount > 0 && this.lists.size >= this.expectedCount) this.close()
    return result
  }

  /** Closes the window now (idempotent). */
  close (): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    clearTimeout(this.timer)
    this.resolveClosed([...this.lists.values()].sort((a, b) => a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
  }

  /** The clustering made from the closed window: late peers are assigned to its clusters from now on. */
  setClustering (result: ClusteringResult): void {
    this.clustering = result
  }
}
