/**
 * Downloads on a peer without a content store yet (the content issue adds
 * it). A download is resolved to unit ids through the index and recorded
 * durably; since this peer holds no content and knows no peer that does,
 * it ends FAILED with an error naming the first unit: honest, typed and
 * persisted, so the GraphQL API and its subscriptions already behave as
 * they will, only with real transfers missing.
 */
import { randomUUID } from 'node:crypto'
import type { DownloadRecord, PeerEvent } from './types.ts'
import { PeerError } from './errors.ts'
import type { IndexView } from './index-view.ts'
import type { EventBus } from './events.ts'
import type { PeerState } from './state.ts'
import { unitSizes } from './wishlists.ts'

export interface DownloadsInit {
  state: PeerState
  bus: EventBus<PeerEvent>
  index: IndexView
  /** Most units one download may name (a pattern resolving to more is refused). Default 100,000. */
  maxUnits?: number
}

const TERMINAL = new Set<DownloadRecord['state']>(['COMPLETED', 'FAILED', 'CANCELLED'])
export const isTerminal = (d: DownloadRecord): boolean => TERMINAL.has(d.state)

export function noContentError (id: string): string {
  return `no peer holds content for ${id} (content distribution arrives with the content issue)`
}

export class Downloads {
  private readonly maxUnits: number

  constructor (private readonly init: DownloadsInit) {
    this.maxUnits = init.maxUnits ?? 100_000
  }

  /** Unit ids of a pattern's answers: the package or utility documents they lie in (releases are compositions, not content). */
  private async resolvePattern (pattern: string): Promise<string[]> {
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

  async download (input: { units?: string[], pattern?: string }): Promise<DownloadRecord> {
    const hasUnits = input.units != null && input.units.length > 0
    const hasPattern = input.pattern != null && input.pattern.trim() !== ''
    if (hasUnits === hasPattern) throw new PeerError('give either units or a pattern (exactly one)', 'BAD_USER_INPUT')
    const units = hasUnits ? [...new Set(input.units)] : await this.resolvePattern(input.pattern!)
    if (units.length === 0) throw new PeerError(`the pattern selects no package or utility: ${input.pattern!}`, 'BAD_USER_INPUT')
    if (units.length > this.maxUnits) throw new PeerError(`${units.length} units in one download, more than the ${this.maxUnits} allowed`, 'BAD_USER_INPUT')
    const sizes = await unitSizes(this.init.index, units)
    const unknown = units.find((u) => !sizes.has(u))
    if (unknown !== undefined) throw new PeerError(`no unit with id '${unknown}'`, 'NOT_FOUND')
    let bytesTotal = 0
    for (const s of sizes.values()) bytesTotal += s
    const record: DownloadRecord = {
      id: randomUUID(), state: 'FAILED', units, bytesTotal, bytesDone: 0, error: noContentError(units[0]), startedAt: new Date().toISOString()
    }
    await this.init.state.downloads.put(record.id, record)
    this.init.bus.publish({ type: 'download-progress', download: record })
    return record
  }

  async get (id: string): Promise<DownloadRecord | undefined> {
    return await this.init.state.downloads.get(id)
  }

  /** Cancels a queued or running download; a finished one is returned as it is. */
  async cancel (id: string): Promise<DownloadRecord> {
    const d = await this.get(id)
    if (d === undefined) throw new PeerError(`no download with id '${id}'`, 'NOT_FOUND')
    if (isTerminal(d)) return d
    const cancelled: DownloadRecord = { ...d, state: 'CANCELLED' }
    await this.init.state.downloads.put(id, cancelled)
    this.init.bus.publish({ type: 'download-progress', download: cancelled })
    return cancelled
  }

  /** Every download, oldest first. */
  async list (): Promise<DownloadRecord[]> {
    const out: DownloadRecord[] = []
    for await (const v of this.init.state.downloads.values()) out.push(v)
    return out.sort((a, b) => a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0)
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
