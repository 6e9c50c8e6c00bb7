/**
 * Term heads over the network, for RemoteIndex: each term's replicas asked
 * in one round, settled on agreement, the largest winning (a replica that
 * missed a publish has less); heads cached per catalog; term enumerations
 * (scans) from every index peer, merged.
 */
import type { TermRange } from '../xml-twig-index/engine/source.ts'
import { PeerUnavailableError, ProtocolError } from './errors.ts'
import { decodeHeads } from './head-codec.ts'
import { Coalescer } from './coalesce.ts'
import { fewestPeers, traces, type Holders, type TraceContext } from './holders.ts'
import { headKey } from './placement.ts'
import { POSTINGS_PROTOCOL } from './protocols.ts'
import type { RemoteIndexInit } from './remote-source.ts'
import type { TermHead } from './types.ts'

/**
 * A range is heavy when its postings exceed HEAVY_FACTOR times the term's
 * usual postings per document there, by at least HEAVY_EXCESS: R1's `@name`
 * has ~6.5 a document (dependencies) and 2.4 times that in the range of the
 * release document (its 63,440 leaves), while a range of packages with more
 * dependencies than most stays within ~1.3 times.
 */
const HEAVY_FACTOR = 1.5

const HEAVY_EXCESS = 10_000

/** Heads cached per catalog, and the postings that came inline with them (~16 bytes each), before the cache starts again. */
const HEAD_CACHE_TERMS = 100_000
const HEAD_CACHE_POSTINGS = 2_000_000

/**
 * When a head replica answered, how long the round waits for the other one
 * before asking the remaining replicas: twice the time the first answer
 * took, at least this (ms).
 */
const HEDGE_MIN_MS = 10

/**
 * DocId intervals of the ranges where a term has far more postings per
 * document than in its other ranges (a release document holds a
 * `package` leaf per unit: 63,440 of R1's `package` postings in one
 * document). The planner reads such lists last (TermStats.heavy).
 */
export function heavyRanges (head: TermHead, rangeDocs: number, largeDocs: readonly number[] = []): Array<[number, number]> {
  if (head.ranges.length < 2) return []
  const ratios = head.ranges.map((r) => r.postings / Math.max(1, r.docs)).sort((a, b) => a - b)
  const usual = Math.max(1, ratios[(ratios.length - 1) >> 1])
  return head.ranges
    .filter((r) => r.postings > HEAVY_FACTOR * usual * r.docs && r.postings - usual * r.docs >= HEAVY_EXCESS)
    .flatMap((r): Array<[number, number]> => {
      const from = r.range * rangeDocs; const to = from + rangeDocs - 1
      // A known large document in the range (a release document) is what makes it heavy: name it alone, so that the other
      // documents of the range are not taken for it.
      const large = largeDocs.filter((d) => d >= from && d <= to)
      return large.length > 0 ? large.map((d): [number, number] => [d, d]) : [[from, to]]
    })
}

export class RemoteHeads {
  private readonly headCache = new Map<string, TermHead | null>()
  private headCacheSeq = -1
  /** Postings that came inline with the cached heads (rare terms travel whole in their heads): the cache's size. */
  private headCachePostings = 0
  /** Term heads by range (prefix and bounds) of the current catalog: scans enumerate terms on every peer. */
  private readonly termsCache = new Map<string, TermHead[]>()
  private termsCacheSeq = -1
  private termsCachePostings = 0

  constructor (private readonly init: RemoteIndexInit, private readonly holders: Holders) {}

  private get rangeDocs (): number { return this.init.catalog.current()?.rangeDocs ?? 8192 }

  /** Term heads, cached for the current catalog (a new publish clears the cache). */
  async heads (terms: string[]): Promise<Array<TermHead | null>> {
    const seq = this.init.catalog.seq
    if (seq !== this.headCacheSeq) { this.clearHeads(); this.headCacheSeq = seq }
    const ctx = traces.getStore()
    const fresh = ctx?.fresh === true
    const known = fresh ? (ctx as TraceContext).heads : this.headCache
    const missing = [...new Set(terms.filter((t) => !known.has(t)))]
    if (missing.length > 0) {
      const got = await this.headsFromReplicas(missing)
      if (this.headCache.size > HEAD_CACHE_TERMS || this.headCachePostings > HEAD_CACHE_POSTINGS) this.clearHeads()
      missing.forEach((t, i) => {
        // (a traced evaluation asks again heads the cache may hold)
        this.headCachePostings += inlinePostings(got[i]) - inlinePostings(this.headCache.get(t) ?? null)
        this.headCache.set(t, got[i])
        if (fresh) known.set(t, got[i])
      })
    }
    return terms.map((t) => known.get(t) ?? null)
  }

  private clearHeads (): void { this.headCache.clear(); this.headCachePostings = 0 }

  /**
   * Each head from two of its replicas, chosen so that few peers are asked
   * (fewestPeers); its other replicas only when those two do not answer the
   * same head, when one fails, or when one is slow (HEDGE: a peer busy
   * applying a batch must not hold every query). A replica that missed a
   * publish (down then, or new and not yet repaired) has a smaller head or
   * none, and the largest wins. (Asking one replica after another when a
   * head was missing cost a round per replica for every term without
   * postings; asking every replica at once woke three peers per term, and on
   * a machine running many peers each one woken lengthens the round.) A
   * term is settled once all the replicas asked answered or two answered the
   * same head (sizes and last doc per range: replicas stale in different
   * ways can count the same postings); two that agree settle it without the
   * third, which alone may have a newer publish (repair brings the other
   * two up to it). Requests still running when the round
   * ends finish in the background: a larger head they bring replaces the
   * cached one. Heads no replica answered for go through the failover path,
   * which confirms a stale view.
   */
  private async headsFromReplicas (terms: string[]): Promise<Array<TermHead | null>> {
    const seq = this.init.catalog.seq
    const best: Array<TermHead | null> = terms.map(() => null)
    const answered = new Uint8Array(terms.length)
    // Replicas asked, and those that answered or failed, per term; answers per head fingerprint ('-': no head).
    const asked = new Uint8Array(terms.length)
    const finished = new Uint8Array(terms.length)
    const settled = new Uint8Array(terms.length)
    const totals: Array<Map<string, number> | undefined> = terms.map(() => undefined)
    const owners = fewestPeers(terms.map((t) => this.holders.ownersOf(headKey(t))), this.holders.peerId, (p) => this.holders.isSuspect(p), 2)
    /** Replicas of each term not asked yet (the nearest two are asked first). */
    const rest = owners.map((o) => o.slice(2))
    let unsettled = owners.filter((o) => o.length > 0).length
    owners.forEach((o, i) => { if (o.length === 0) settled[i] = 1 })
    let over = false
    // An answer after the round: kept if it is larger than what the round returned (a replica the others had not caught up with).
    const late = (i: number, h: TermHead | null): void => {
      if (h === null || (best[i] !== null && !better(h, best[i] as TermHead))) return
      best[i] = h
      const cached = this.headCache.get(terms[i])
      if (this.headCacheSeq === seq && this.init.catalog.seq === seq && this.headCache.has(terms[i]) && (cached == null || better(h, cached))) {
        this.headCache.set(terms[i], h); this.headCachePostings += inlinePostings(h) - inlinePostings(cached ?? null)
      }
    }
    const t0 = performance.now()
    await new Promise<void>((resolve, reject) => {
      let running = 0
      let hedge: ReturnType<typeof setTimeout> | undefined
      const end = (): void => {
        if (!over && (unsettled === 0 || running === 0)) { over = true; clearTimeout(hedge); resolve() }
      }
      const settle = (i: number, agreed: boolean): void => {
        if (settled[i] === 1) return
        if (agreed) { settled[i] = 1; unsettled--; return }
        if (finished[i] < asked[i]) return
        // the replicas asked disagree or failed: the others settle it
        if (rest[i].length > 0) askRest([i]); else { settled[i] = 1; unsettled-- }
      }
      const ask = (peer: string, idx: number[]): void => {
        running++
        for (const i of idx) asked[i]++
        void (async () => {
          try {
            const res = await this.holders.request(peer, POSTINGS_PROTOCOL, { op: 'heads', terms: idx.map((i) => terms[i]) }, [], false)
            const heads = this.headsIn(res, peer, 'heads')
            // A replica slow to answer after this one must not hold the round: the others are asked in its place. (This peer's own
            // answer comes without a network hop: no measure of how long a replica takes.)
            if (hedge === undefined && !over && peer !== this.holders.peerId) hedge = setTimeout(() => { if (!over) askRest(terms.flatMap((_, i) => settled[i] === 0 ? [i] : [])) }, Math.max(HEDGE_MIN_MS, 2 * (performance.now() - t0)))
            idx.forEach((i, k) => {
              const h = heads[k] ?? null
              if (over) { late(i, h); return }
              answered[i] = 1
              finished[i]++
              if (h !== null && (best[i] === null || better(h, best[i] as TermHead))) best[i] = h
              let counts = totals[i]
              if (counts === undefined) { counts = new Map(); totals[i] = counts }
              const key = h === null ? '-' : fingerprint(h)
              const same = (counts.get(key) ?? 0) + 1
              counts.set(key, same)
              settle(i, same >= 2)
            })
          } catch (err) {
            if (err instanceof PeerUnavailableError) {
              this.holders.suspect(peer)
              this.init.log?.(`remote index: ${peer} failed, its heads come from the other replicas: ${err.message}`)
              if (!over) {
                // its terms' other replicas now, not after the other replica asked answers
                idx.forEach((i) => { finished[i]++ })
                askRest(idx.filter((i) => settled[i] === 0))
                idx.forEach((i) => { settle(i, false) })
              }
            } else if (!over) {
              over = true
              clearTimeout(hedge)
              reject(err)
            } else {
              this.init.log?.(`remote index: ${peer} answered heads after the round with an error: ${(err as Error).message}`)
            }
          } finally {
            running--
            end()
          }
        })()
      }
      /** One request per peer for the terms `idx`, each asked of `peersOf(i)`. */
      const askEach = (idx: number[], peersOf: (i: number) => string[]): void => {
        const byPeer = new Map<string, number[]>()
        for (const i of idx) for (const peer of peersOf(i)) { const g = byPeer.get(peer); if (g === undefined) byPeer.set(peer, [i]); else g.push(i) }
        for (const [peer, g] of byPeer) ask(peer, g)
      }
      const askRest = (idx: number[]): void => { askEach(idx, (i) => { const r = rest[i]; rest[i] = []; return r }) }
      askEach(owners.map((_, i) => i), (i) => owners[i].slice(0, 2))
      end()
    })
    const unanswered = terms.flatMap((_, i) => answered[i] === 0 ? [i] : [])
    if (unanswered.length > 0) {
      const again = await this.holders.routed(unanswered, (i) => headKey(terms[i]), async (peer, group, failover) => {
        const res = await this.holders.request(peer, POSTINGS_PROTOCOL, { op: 'heads', terms: group.map((i) => terms[i]) }, [], failover)
        const heads = this.headsIn(res, peer, 'heads')
        return group.map((_, k) => heads[k] ?? null)
      })
      unanswered.forEach((i, k) => { best[i] = again[k] })
    }
    return best
  }

  /**
   * The heads of an answer. Heads that do not hold (a broken or lying
   * replica) make that replica fail like an unreachable one: it is asked
   * last for a while, and the other replicas answer.
   */
  private headsIn (res: { header: Record<string, unknown>, parts: Uint8Array[] }, peer: string, op: string): Array<TermHead | null> {
    try {
      return decodeHeads(res.header.heads, res.parts, this.rangeDocs, `${op} from ${peer}`)
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err
      throw new PeerUnavailableError(`peer ${peer} answered ${op} that do not hold: ${err.message}`, { cause: err })
    }
  }

  /** The heads asked in one tick, in one round (the planner asks term by term). */
  private readonly headBatch = new Coalescer<string, TermHead | null>(async (terms) => await this.heads(terms))

  async head (term: string): Promise<TermHead | null> {
    const ctx = traces.getStore()
    if (ctx?.fresh === true) {
      if (ctx.heads.has(term)) return ctx.heads.get(term) ?? null
    } else if (this.headCacheSeq === this.init.catalog.seq && this.headCache.has(term)) {
      return this.headCache.get(term) ?? null
    }
    return await this.headBatch.get(term)
  }

  /** Term heads in a range, from every index peer (each holds a share), merged. */
  async termHeads (range: TermRange): Promise<TermHead[]> {
    const seq = this.init.catalog.seq
    if (seq !== this.termsCacheSeq) { this.termsCache.clear(); this.termsCachePostings = 0; this.termsCacheSeq = seq }
    const cacheKey = JSON.stringify([range.prefix, range.gt, range.gte, range.lt, range.lte])
    const fresh = traces.getStore()?.fresh === true
    let all = fresh ? undefined : this.termsCache.get(cacheKey)
    if (all === undefined) {
      all = await this.termHeadsFromPeers(range)
      while (this.termsCache.size >= 256 || (this.termsCache.size > 0 && this.termsCachePostings > HEAD_CACHE_POSTINGS)) {
        const oldest = this.termsCache.keys().next().value as string
        this.termsCachePostings -= inlinePostingsOf(this.termsCache.get(oldest) ?? [])
        this.termsCache.delete(oldest)
      }
      this.termsCache.set(cacheKey, all)
      this.termsCachePostings += inlinePostingsOf(all)
    }
    return range.match == null ? all : all.filter((h) => range.match?.(h.term) === true)
  }

  /** Term heads in a range from every index peer (each holds a share), merged, in byte order. */
  private async termHeadsFromPeers (range: TermRange): Promise<TermHead[]> {
    const peers = this.init.membership.placement().peers
    const byTerm = new Map<string, TermHead>()
    await Promise.all(peers.map(async (peer) => {
      try {
        const res = await this.holders.request(peer, POSTINGS_PROTOCOL, { op: 'terms', prefix: range.prefix, gt: range.gt, gte: range.gte, lt: range.lt, lte: range.lte }, [], false)
        for (const h of this.headsIn(res, peer, 'terms')) {
          if (h === null) continue
          const known = byTerm.get(h.term)
          // Replicas agree once repaired; meanwhile the one that knows more postings is the complete one.
          if (known === undefined || better(h, known)) byTerm.set(h.term, h)
        }
      } catch (err) {
        // Each term lives on r peers: one peer down loses nothing unless r were down together.
        if (!(err instanceof PeerUnavailableError)) throw err
        this.holders.suspect(peer)
      }
    }))
    const enc = new TextEncoder()
    return [...byTerm.values()].sort((a, b) => Buffer.compare(enc.encode(a.term), enc.encode(b.term)))
  }
}


function inlinePostings (h: TermHead | null): number { return h === null ? 0 : h.ranges.reduce((n, r) => n + (r.inline?.length ?? 0), 0) }
function inlinePostingsOf (heads: TermHead[]): number { return heads.reduce((n, h) => n + inlinePostings(h), 0) }

function total (h: TermHead): number { return h.ranges.reduce((n, r) => n + r.postings, 0) }

/** What two replicas must share to hold the same head: sizes and last doc per range (equal totals can be different chunks). */
function fingerprint (h: TermHead): string { return h.ranges.map((r) => `${r.range}:${r.postings}:${r.docs}:${r.lastDoc ?? ''}`).join(',') }

/** Whether head `a` is more complete than `b`: more postings, or as many reaching later docs (a replica that has a newer publish's chunks). */
function better (a: TermHead, b: TermHead): boolean {
  const d = total(a) - total(b)
  if (d !== 0) return d > 0
  const reach = (h: TermHead): number => h.ranges.reduce((n, r) => Math.max(n, r.lastDoc ?? 0), 0)
  return reach(a) > reach(b)
}
