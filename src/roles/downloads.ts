/**
 * Downloads: units (or the packages and utilities a pattern selects) are
 * resolved through the index to what their signed metadata says of the
 * content (sha256, size, file name), then fetched by the content node
 * (src/torrents) with a bound on how many units move at once over all
 * downloads. Each record is durable in DATA/state: a download that was
 * queued or running when the peer stopped resumes at start, and the
 * content node keeps partial pieces, so verified pieces are not fetched
 * again. Progress (bytes, peers, rate, ETA) goes out as typed
 * `download-progress` events that the GraphQL subscription and the CLI
 * progress bar consume.
 */
import { randomUUID } from 'node:crypto'
import type { DownloadRecord, PeerEvent } from './types.ts'
import { PeerError } from './errors.ts'
import type { IndexView } from './index-view.ts'
import type { EventBus } from './events.ts'
import type { PeerState } from './state.ts'
import { ContentNode, DownloadCancelledError, unitFileName, type UnitContent } from '../torrents/index.ts'

export interface DownloadsInit {
  state: PeerState
  bus: EventBus<PeerEvent>
  index: IndexView
  /** The content node; without one every download fails with a typed reason. */
  content?: ContentNode
  /** Most units one download may name (a pattern resolving to more is refused). Default 100,000. */
  maxUnits?: number
  /** Units transferred at once over all downloads. Default 4. */
  parallel?: number
  /** Least time between two progress events of one download. Default 500 ms. */
  progressMs?: number
  log?: (message: string) => void
}

const TERMINAL = new Set<DownloadRecord['state']>(['COMPLETED', 'FAILED', 'CANCELLED'])
export const isTerminal = (d: DownloadRecord): boolean => TERMINAL.has(d.state)

export function noContentError (id: string): string {
  return `no peer holds content for ${id}`
}

const child = (xml: string, tag: string): string | undefined => {
  const m = new RegExp(`<${tag}(?:\\s[^>]*)?>([^<]*)</${tag}>`).exec(xml)
  return m?.[1] === undefined ? undefined : unescapeXml(m[1])
}
const unescapeXml = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&')

/**
 * What a unit's metadata says of its content, from its document. The name
 * is derived the same way by every peer (it is part of the deterministic
 * torrent). Throws a PeerError naming the unit when there is no sha256.
 */
/** The sha256 a unit document's metadata names (lower-case hex), if any. */
export function sha256Of (xml: string): string | undefined {
  return /<checksum\s+type="sha256"\s*>([0-9a-fA-F]{64})<\/checksum>/.exec(xml)?.[1]?.toLowerCase()
}

export function unitContentOf (doc: { id: string, xml: string }): UnitContent {
  const sha = sha256Of(doc.xml)
  if (sha === undefined) throw new PeerError(`${doc.id} has no sha256 checksum in its metadata: its content cannot be verified, so it is not downloaded`, 'BAD_USER_INPUT')
  const size = Number(child(doc.xml, 'size') ?? NaN)
  if (!Number.isSafeInteger(size) || size < 0) throw new PeerError(`${doc.id} has no valid <size> in its metadata`, 'BAD_USER_INPUT')
  const name = unitFileName({ id: doc.id, name: child(doc.xml, 'name') ?? doc.id, version: child(doc.xml, 'version') ?? '', arch: child(doc.xml, 'arch'), location: child(doc.xml, 'location') })
  return { unit: doc.id, sha256: sha.toLowerCase(), size, name }
}

/** A counting semaphore: the bound on units in flight over all downloads. */
class Slots {
  private free: number
  private readonly waiting: Array<() => void> = []
  constructor (n: number) { this.free = n }
  async take (signal: AbortSignal): Promise<void> {
    if (this.free > 0) { this.free--; return }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => { signal.removeEventListener('abort', stop); resolve() }
      const stop = (): void => { const i = this.waiting.indexOf(go); if (i >= 0) this.waiting.splice(i, 1); reject(new DownloadCancelledError('cancelled while queued')) }
      this.waiting.push(go)
      signal.addEventListener('abort', stop, { once: true })
    })
  }

  give (): void {
    const next = this.waiting.shift()
    if (next !== undefined) next()
    else this.free++
  }
}

export class Downloads {
  private readonly maxUnits: number
  private readonly parallel: number
  private readonly slots: Slots
  private readonly running = new Map<string, AbortController>()
  /** The latest record of each running download (persisted only at unit boundaries). */
  private readonly current = new Map<string, DownloadRecord>()
  private stopping = false

  constructor (private readonly init: DownloadsInit) {
    this.maxUnits = init.maxUnits ?? 100_000
    this.parallel = Math.max(1, init.parallel ?? 4)
    this.slots = new Slots(this.parallel)
  }

  /** Unit ids of a pattern's answers: the package or utility documents they lie in (releases are compositions, not content). */
  async resolvePattern (pattern: string): Promise<string[]> {
    const { nodes } = await this.init.index.engine.answers(pattern)
    const docIds = [...new Set(nodes.docs.subarray(0, nodes.length))]
    const ids: string[] = []
    for (let i = 0; i < docIds.length; i += 256) {
      for (const d of await this.init.index.store.getDocuments(docIds.slice(i, i + 256))) {
        if (d !== undefined && (d.id.startsWith('pkg/') || d.id.startsWith('util/'))) ids.push(d.id)
      }
    }
    return ids
  }

  /** The content metadata of units, in order; NOT_FOUND names the first unknown id. */
  async contents (units: string[]): Promise<UnitContent[]> {
    const out: UnitContent[] = []
    for (let i = 0; i < units.length; i += 256) {
      const batch = units.slice(i, i + 256)
      const docIds = await this.init.index.store.docIdsOf(batch)
      const missing = batch.find((_, j) => docIds[j] === undefined)
      if (missing !== undefined) throw new PeerError(`no unit with id '${missing}'`, 'NOT_FOUND')
      const docs = await this.init.index.store.getDocuments(docIds as number[])
      docs.forEach((d, j) => {
        if (d === undefined) throw new PeerError(`no unit with id '${batch[j]}'`, 'NOT_FOUND')
        out.push(unitContentOf(d))
      })
    }
    return out
  }

  async download (input: { units?: string[], pattern?: string }): Promise<DownloadRecord> {
    const hasUnits = input.units != null && input.units.length > 0
    const hasPattern = input.pattern != null && input.pattern.trim() !== ''
    if (hasUnits === hasPattern) throw new PeerError('give either units or a pattern (exactly one)', 'BAD_USER_INPUT')
    const units = hasUnits ? [...new Set(input.units)] : await this.resolvePattern(input.pattern!)
    if (units.length === 0) throw new PeerError(`the pattern selects no package or utility: ${input.pattern!}`, 'BAD_USER_INPUT')
    if (units.length > this.maxUnits) throw new PeerError(`${units.length} units in one download, more than the ${this.maxUnits} allowed`, 'BAD_USER_INPUT')
    if (units.some((u) => !u.startsWith('pkg/') && !u.startsWith('util/'))) throw new PeerError(`only packages and utilities have content: '${units.find((u) => !u.startsWith('pkg/') && !u.startsWith('util/'))!}'`, 'BAD_USER_INPUT')
    const contents = await this.contents(units)
    const bytesTotal = contents.reduce((s, c) => s + c.size, 0)
    const record: DownloadRecord = { id: randomUUID(), state: 'QUEUED', units, bytesTotal, bytesDone: 0, unitsDone: 0, bytesReceived: 0, startedAt: new Date().toISOString() }
    if (this.init.content === undefined) Object.assign(record, { state: 'FAILED', error: `${noContentError(units[0])}: this peer has no content store` })
    await this.save(record)
    if (record.state === 'QUEUED') this.start(record, contents)
    return record
  }

  /** Restarts downloads that were queued or running when the peer stopped (their partial pieces are still on disk). */
  async resume (): Promise<number> {
    let n = 0
    for (const d of await this.list()) {
      if (isTerminal(d) || this.running.has(d.id)) continue
      try {
        const contents = await this.contents(d.units)
        this.start({ ...d, state: 'QUEUED', bytesDone: 0, unitsDone: 0, bytesReceived: 0 }, contents)
        n++
      } catch (err) {
        await this.save({ ...d, state: 'FAILED', error: `cannot resume: ${(err as Error).message}` })
      }
    }
    return n
  }

  private async save (record: DownloadRecord): Promise<void> {
    if (isTerminal(record)) this.current.delete(record.id)
    else this.current.set(record.id, record)
    await this.init.state.downloads.put(record.id, record)
    this.init.bus.publish({ type: 'download-progress', download: record })
  }

  private start (record: DownloadRecord, contents: UnitContent[]): void {
    const controller = new AbortController()
    this.running.set(record.id, controller)
    void this.run(record, contents, controller.signal)
      .catch((err: Error) => this.init.log?.(`download ${record.id}: ${err.message}`))
      .finally(() => { this.running.delete(record.id); this.current.delete(record.id) })
  }

  private async run (initial: DownloadRecord, contents: UnitContent[], signal: AbortSignal): Promise<void> {
    const content = this.init.content as ContentNode
    let current: DownloadRecord = { ...initial, state: 'RUNNING' }
    await this.save(current)
    const live = new Map<string, { done: number, peers: number, rate: number }>()
    let unitsDone = 0
    let bytesStored = 0
    let received = 0
    let lastEmit = 0
    const snapshot = (): DownloadRecord => {
      let done = bytesStored
      let peers = 0
      let rate = 0
      for (const l of live.values()) { done += l.done; peers += l.peers; rate += l.rate }
      const left = current.bytesTotal - done
      const r: DownloadRecord = { ...current, bytesDone: Math.min(done, current.bytesTotal), unitsDone, bytesReceived: received, peers, rate: Math.round(rate) }
      if (rate > 0 && left > 0) r.etaSeconds = Math.ceil(left / rate)
      else delete r.etaSeconds
      return r
    }
    const emit = (force: boolean): void => {
      const now = Date.now()
      if (!force && now - lastEmit < (this.init.progressMs ?? 500)) return
      lastEmit = now
      current = snapshot()
      // Progress is announced live and persisted only at unit boundaries (LevelDB writes every 500 ms per download would add up).
      this.current.set(current.id, current)
      this.init.bus.publish({ type: 'download-progress', download: current })
    }
    const failures: string[] = []
    try {
      // A few workers per download pull its units: a 20,000-unit download queues its workers on the slots, not 20,000 waiters (each one an abort listener).
      let nextUnit = 0
      const fetchOne = async (unit: UnitContent): Promise<void> => {
        await this.slots.take(signal)
        try {
          if (signal.aborted) throw new DownloadCancelledError('cancelled')
          live.set(unit.unit, { done: 0, peers: 0, rate: 0 })
          const r = await content.fetch(unit, {
            signal,
            onProgress: (p) => { live.set(unit.unit, { done: p.bytesDone, peers: p.peers, rate: p.rate }); emit(false) }
          })
          received += r.received
          bytesStored += unit.size
          unitsDone++
        } catch (err) {
          if (err instanceof DownloadCancelledError || signal.aborted) throw err
          failures.push(`${unit.unit}: ${(err as Error).message}`)
        } finally {
          live.delete(unit.unit)
          this.slots.give()
        }
        current = snapshot()
        await this.save(current)
      }
      await Promise.all(Array.from({ length: Math.min(this.parallel, contents.length) }, async () => {
        while (nextUnit < contents.length) await fetchOne(contents[nextUnit++])
      }))
      const end = snapshot()
      delete end.etaSeconds
      const final: DownloadRecord = failures.length === 0
        ? { ...end, state: 'COMPLETED', rate: 0, peers: 0, completedAt: new Date().toISOString() }
        : { ...end, state: 'FAILED', rate: 0, peers: 0, error: failures.length === 1 ? failures[0] : `${failures.length} of ${contents.length} units failed; first: ${failures[0]}` }
      await this.save(final)
    } catch (err) {
      // Stopping the peer is not cancelling: the record stays RUNNING and resumes at the next start.
      if (this.stopping) return
      const end = snapshot()
      delete end.etaSeconds
      await this.save({ ...end, state: 'CANCELLED', rate: 0, peers: 0, error: err instanceof DownloadCancelledError ? undefined : (err as Error).message })
    }
  }

  async get (id: string): Promise<DownloadRecord | undefined> {
    return this.current.get(id) ?? await this.init.state.downloads.get(id)
  }

  /** Cancels a queued or running download (partial pieces are kept for a later download); a finished one is returned as it is. */
  async cancel (id: string): Promise<DownloadRecord> {
    const d = await this.get(id)
    if (d === undefined) throw new PeerError(`no download with id '${id}'`, 'NOT_FOUND')
    if (isTerminal(d)) return d
    const controller = this.running.get(id)
    if (controller !== undefined) {
      const ended = this.ended(id)
      controller.abort()
      await ended
      return (await this.get(id)) ?? d
    }
    const cancelled: DownloadRecord = { ...d, state: 'CANCELLED' }
    await this.save(cancelled)
    return cancelled
  }

  /** Resolves when the download's record reaches a terminal state (or after 10 s). */
  private async ended (id: string): Promise<void> {
    const signal = AbortSignal.timeout(10_000)
    const live = this.init.bus.subscribe({ signal, filter: (e) => e.type === 'download-progress' && e.download.id === id && isTerminal(e.download), capacity: 4 })
    try { for await (const _ of live) return } catch { /* timed out */ } finally { live.close() }
  }

  /** Every download, oldest first. */
  async list (): Promise<DownloadRecord[]> {
    const out: DownloadRecord[] = []
    for await (const v of this.init.state.downloads.values()) out.push(this.current.get(v.id) ?? v)
    return out.sort((a, b) => a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0)
  }

  /** Stops transfers without cancelling them: they resume at the next start. */
  async stop (): Promise<void> {
    this.stopping = true
    for (const c of this.running.values()) c.abort()
    const until = Date.now() + 5000
    while (this.running.size > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 20))
  }

  /** The current record, then each update, ending after a terminal state (or when `signal` aborts). */
  async * progress (id: string, signal: AbortSignal): AsyncGenerator<DownloadRecord> {
    // Subscribe before reading, so an update between the read and the subscription is not lost.
    const live = this.init.bus.subscribe({ signal, filter: (e) => e.type === 'download-progress' && e.download.id === id, capacity: 64 })
    try {
      const current = await this.get(id)
      if (current === undefined) throw new PeerError(`no download with id '${id}'`, 'NOT_FOUND')
      yield current
      if (isTerminal(current)) return
      for await (const e of live) {
        if (e.type !== 'download-progress' || signal.aborted) continue
        yield e.download
        if (isTerminal(e.download)) return
      }
    } finally {
      live.close()
    }
  }
}
