/**
 * The holders of the index's keys as a reader sees them: who holds a key
 * (the local placement, those that failed lately asked last), one request
 * to one of them (this peer's own server without a network hop; recorded
 * for explain when the evaluation is traced), and items routed to their
 * holders with failover to the next replica.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { PeerUnavailableError } from './errors.ts'
import type { PeerHost } from './host.ts'
import type { Membership } from './membership.ts'
import { POSTINGS_PROTOCOL, type IndexServer } from './protocols.ts'
import { callRpc } from './rpc.ts'
import type { TermHead } from './types.ts'

/** One request to one peer, for explain: who served what, bytes moved, time. */
export interface ReadTrace {
  peer: string
  op: string
  keys: number
  bytes: number
  /** Of `bytes`, the postings that came inline with term heads (heads and terms requests): list data, not plan. */
  inlineBytes: number
  /** When the request left, ms after the evaluation started: requests that overlap ran in the same round. */
  at: number
  ms: number
  /** The request went to this peer because a nearer holder failed. */
  failover: boolean
  /** What was asked: terms, docIds or ids (the first 16). */
  items: string[]
}

/**
 * What one traced evaluation collects; `fresh` bypasses the caches so explain
 * shows every read. Heads read during the evaluation are kept for it alone:
 * a cold query reads each head once (the planner's round), not again per list.
 */
export interface TraceContext { reads: ReadTrace[], t0: number, fresh: boolean, heads: Map<string, TermHead | null>, closed?: boolean }
export const traces = new AsyncLocalStorage<TraceContext>()

/** Runs `fn` with every network read it causes recorded (and caches bypassed): what explain shows. */
export async function traced<T> (fn: () => Promise<T>): Promise<{ result: T, reads: ReadTrace[] }> {
  const ctx: TraceContext = { reads: [], t0: performance.now(), fresh: true, heads: new Map() }
  try {
    const result = await traces.run(ctx, fn)
    return { result, reads: ctx.reads }
  } finally {
    // A request still running when the evaluation ended (a slow replica's heads, not waited for) is not added to a trace already returned.
    ctx.closed = true
  }
}

export interface HoldersInit {
  host: PeerHost
  membership: Membership
  /** This peer's own server, asked without a network hop when it holds a key. */
  server?: IndexServer
  /** Longest a holder may take before the next replica is asked. Default 10 s. */
  callTimeoutMs?: number
  /** How long a holder that failed is asked last. Default 10 s. */
  suspectMs?: number
  log?: (message: string) => void
}

interface Routed<T> { item: T, owners: string[], attempt: number, confirmed?: boolean }

export class Holders {
  private readonly suspects = new Map<string, number>()

  constructor (private readonly init: HoldersInit) {}

  /** This peer's id. */
  get peerId (): string { return this.init.host.peerId }

  /** Asks `peer` last for a while (it failed). */
  suspect (peer: string): void {
    this.suspects.set(peer, Date.now() + (this.init.suspectMs ?? 10_000))
    // the view then probes it soon, not after its announcements' expiry
    this.init.membership.suspect(peer)
  }

  /** Whether `peer` failed lately (it is asked last). */
  isSuspect (peer: string): boolean { return (this.suspects.get(peer) ?? 0) >= Date.now() }

  /** Holders of a key, nearest first, those that failed lately last. */
  ownersOf (key: Uint8Array): string[] {
    const owners = this.init.membership.placement().owners(key)
    const now = Date.now()
    const ok = owners.filter((p) => (this.suspects.get(p) ?? 0) < now)
    return ok.length === owners.length ? owners : [...ok, ...owners.filter((p) => !ok.includes(p))]
  }

  async request (peer: string, protocol: string, header: Record<string, unknown>, parts: Uint8Array[], failover: boolean): Promise<{ header: Record<string, unknown>, parts: Uint8Array[] }> {
    const t0 = performance.now()
    let res: { header: Record<string, unknown>, parts: Uint8Array[], bytes: number }
    if (peer === this.peerId && this.init.server !== undefined) {
      const r = protocol === POSTINGS_PROTOCOL
        ? await this.init.server.postings({ header, parts, from: this.peerId })
        : await this.init.server.docs({ header, parts, from: this.peerId })
      res = { header: r.header, parts: r.parts ?? [], bytes: 0 }
    } else {
      res = await callRpc(this.init.host.libp2p, peer, protocol, header, parts, { timeoutMs: this.init.callTimeoutMs ?? 10_000 })
    }
    const ctx = traces.getStore()
    if (ctx !== undefined && ctx.closed !== true) {
      const asked = (['terms', 'docIds', 'ids'].map((k) => header[k]).find(Array.isArray) ?? (typeof header.prefix === 'string' ? [`${header.prefix}*`] : [])) as unknown[]
      const ranges = Array.isArray(header.ranges) ? header.ranges as number[] : undefined
      const items = asked.slice(0, 16).map((x, i) => ranges !== undefined ? `${String(x)}#${ranges[i]}` : String(x))
      // (an answer from this peer's own server moved no bytes, inline or not)
      const inlineBytes = res.bytes > 0 && (header.op === 'heads' || header.op === 'terms') ? res.parts.reduce((n, p) => n + p.length, 0) : 0
      ctx.reads.push({ peer, op: String(header.op), keys: asked.length, bytes: res.bytes, inlineBytes, at: t0 - ctx.t0, ms: performance.now() - t0, failover, items })
    }
    return res
  }

  /**
   * Sends items to their holders, one request per peer, and fails each
   * group over to the next replica when its holder is unreachable or when
   * `incomplete` says the answer lacks what another replica may hold.
   */
  async routed<T, R> (
    items: T[], keyOf: (t: T) => Uint8Array,
    send: (peer: string, group: T[], failover: boolean) => Promise<R[]>,
    incomplete?: (item: T, result: R) => boolean,
    options: { score?: (item: T, result: R) => number } = {}
  ): Promise<R[]> {
    const results = new Array<R>(items.length)
    // The best answer so far of an item whose holders answered incompletely (a stale or still-repairing replica).
    const fallback = new Map<number, R>()
    const better = (i: number, r: R): void => {
      const prev = fallback.get(i)
      if (prev === undefined || (options.score !== undefined && options.score(items[i], r) > options.score(items[i], prev))) fallback.set(i, r)
    }
    let pending: Array<Routed<number>> = fewestPeers(items.map((_, i) => this.ownersOf(keyOf(items[i]))), this.peerId, (p) => this.isSuspect(p))
      .map((owners, i) => ({ item: i, owners, attempt: 0 }))
    while (pending.length > 0) {
      const groups = new Map<string, Array<Routed<number>>>()
      const next: Array<Routed<number>> = []
      for (const r of pending) {
        const peer = r.owners[r.attempt]
        if (peer === undefined) {
          const best = fallback.get(r.item)
          if (best !== undefined) { results[r.item] = best; continue }
          // Every holder in the view failed: the view may be stale. Confirm it on kad-dht once, then retry with the new holders.
          if (!r.confirmed) {
            await this.init.membership.confirm(keyOf(items[r.item]))
            const owners = this.ownersOf(keyOf(items[r.item]))
            next.push({ item: r.item, owners, attempt: 0, confirmed: true })
            continue
          }
          throw new PeerUnavailableError(`no holder of a key answered (asked ${r.owners.join(', ') || 'no index peer: the view is empty'})`)
        }
        const g = groups.get(peer)
        if (g === undefined) groups.set(peer, [r]); else g.push(r)
      }
      await Promise.all([...groups].map(async ([peer, group]) => {
        try {
          const out = await send(peer, group.map((r) => items[r.item]), group.some((r) => r.attempt > 0))
          group.forEach((r, k) => {
            if (incomplete !== undefined && incomplete(items[r.item], out[k])) {
              better(r.item, out[k])
              next.push({ ...r, attempt: r.attempt + 1 })
            } else {
              results[r.item] = out[k]
            }
          })
        } catch (err) {
          if (!(err instanceof PeerUnavailableError)) throw err
          this.suspect(peer)
          this.init.log?.(`remote index: ${peer} failed, asking the next replica: ${err.message}`)
          for (const r of group) next.push({ ...r, attempt: r.attempt + 1 })
        }
      }))
      pending = next
    }
    return results
  }
}

/** Reads of more items than this keep each item's nearest holder first. */
const COVER_MAX_ITEMS = 4096

/**
 * The holders of each item reordered so that, asked first, they are few:
 * every holder woken costs a request, a wake-up and an answer to read, and
 * on a machine running many peers the round lasts until the last of them
 * got the processor (R1's `section = "editors"` read its 14 blocks from 8
 * peers, nearest replica each; 3-4 of them hold them all). Greedy set cover
 * over the holders not suspected, `k` of them per item (heads are asked of
 * two replicas): this peer first (no network hop), then the holder that has
 * most of the items still short of holders, nearer replicas winning ties.
 * A holder takes at most `cap` items, so a large read (a scan of thousands
 * of keys) still spreads over the holders. The other replicas follow in
 * their own order, for failover.
 */
export function fewestPeers (owners: string[][], self: string, suspect: (peer: string) => boolean, k = 1, cap = Math.max(16, Math.ceil(owners.length * k / 4))): string[][] {
  // (a read this large asks every holder anyway; the cover would cost a pass over the items per holder chosen)
  if (owners.length === 0 || owners.length > COVER_MAX_ITEMS) return owners
  const chosen = owners.map((): string[] => [])
  const candidates = owners.map((o) => o.filter((p) => !suspect(p)))
  const need = candidates.map((c) => Math.min(k, c.length))
  let left = need.reduce((n, x) => n + x, 0)
  const load = new Map<string, number>()
  while (left > 0) {
    // per peer: items it could take, and the sum of its ranks among their holders (lower: nearer)
    const count = new Map<string, number>(); const rank = new Map<string, number>()
    candidates.forEach((c, i) => {
      if (chosen[i].length >= need[i]) return
      c.forEach((p, r) => {
        if ((load.get(p) ?? 0) >= cap || chosen[i].includes(p)) return
        count.set(p, (count.get(p) ?? 0) + 1); rank.set(p, (rank.get(p) ?? 0) + r)
      })
    })
    const nearer = (p: string, q: string): boolean => (rank.get(p) as number) / (count.get(p) as number) < (rank.get(q) as number) / (count.get(q) as number)
    let best: string | undefined
    for (const [p, n] of count) {
      if (best === self) break
      if (best === undefined || p === self || n > (count.get(best) as number) || (n === count.get(best) && nearer(p, best))) best = p
    }
    if (best === undefined) break // every holder the rest could take is at its cap: they keep their nearest
    let took = load.get(best) ?? 0
    candidates.forEach((c, i) => {
      if (chosen[i].length >= need[i] || took >= cap || chosen[i].includes(best as string) || !c.includes(best as string)) return
      chosen[i].push(best as string); took++; left--
    })
    load.set(best, took)
  }
  return owners.map((o, i) => chosen[i].length === 0 ? o : [...chosen[i], ...o.filter((p) => !chosen[i].includes(p))])
}
