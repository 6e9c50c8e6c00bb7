/**
 * Requests, replies and events between the flash-crowd bench and its worker
 * processes over Node's IPC channel (process.send). The bench carries wish
 * lists, announcements and torrent offers this way instead of libp2p, so
 * that what it measures is the torrents, not the overlay.
 */
import type { ContentOffer } from '../src/dht/providers.ts'

export type Body = { t: string } & Record<string, unknown>

type Wire =
  | { kind: 'req', id: number, body: Body }
  | { kind: 'res', id: number, ok: boolean, value?: unknown, error?: string }
  | { kind: 'ev', body: Body }

/** The other side: a child process (the bench) or this process's parent (a worker). */
interface Port {
  // Method syntax on purpose: ChildProcess and process declare narrower, overloaded signatures.
  send?(message: Wire): boolean
  on(event: 'message', listener: (message: unknown) => void): unknown
}

export class IpcTimeoutError extends Error {
  readonly code = 'ERR_BENCH_IPC_TIMEOUT'
  constructor (what: string, ms: number) {
    super(`${what}: no answer within ${Math.round(ms / 1000)} s`)
    this.name = 'IpcTimeoutError'
  }
}

export class Ipc {
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  private readonly events: Body[] = []
  private readonly waiters: Array<{ t: string, resolve: (b: Body) => void, reject: (e: Error) => void }> = []
  private failure?: Error

  /** `serve` answers the other side's requests; events go to `next` or `on`. */
  constructor (private readonly port: Port, private readonly serve: (body: Body) => Promise<unknown>, private readonly label = 'ipc') {
    port.on('message', (m) => { this.receive(m as Wire) })
  }

  private receive (m: Wire): void {
    if (m.kind === 'res') {
      const p = this.pending.get(m.id)
      this.pending.delete(m.id)
      if (m.ok) p?.resolve(m.value); else p?.reject(new Error(m.error ?? 'failed'))
    } else if (m.kind === 'req') {
      this.serve(m.body).then(
        (value) => { this.post({ kind: 'res', id: m.id, ok: true, value }) },
        (err: unknown) => { this.post({ kind: 'res', id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }) })
    } else {
      const i = this.waiters.findIndex((w) => w.t === m.body.t)
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(m.body); else this.events.push(m.body)
    }
  }

  private post (m: Wire): void {
    // A closed channel (the other side exited) is reported by the timeouts, not by a throw here.
    try { this.port.send?.(m) } catch {}
  }

  /** The other side is gone: every pending and later request or wait rejects with `reason`. */
  fail (reason: Error): void {
    this.failure ??= reason
    for (const p of this.pending.values()) p.reject(reason)
    this.pending.clear()
    for (const w of this.waiters.splice(0)) w.reject(reason)
  }

  async request<T> (body: Body, timeoutMs: number): Promise<T> {
    if (this.failure !== undefined) throw this.failure
    const id = this.nextId++
    return await new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(id); reject(new IpcTimeoutError(`${this.label}: ${body.t}`, timeoutMs)) }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T) },
        reject: (e) => { clearTimeout(timer); reject(e) }
      })
      this.post({ kind: 'req', id, body })
    })
  }

  notify (body: Body): void { this.post({ kind: 'ev', body }) }

  /** The next event of type `t` (one already received first). */
  async next (t: string, timeoutMs: number): Promise<Body> {
    const i = this.events.findIndex((e) => e.t === t)
    if (i >= 0) return this.events.splice(i, 1)[0]
    if (this.failure !== undefined) throw this.failure
    return await new Promise<Body>((resolve, reject) => {
      const w = { t, resolve: (b: Body) => { clearTimeout(timer); resolve(b) }, reject: (e: Error) => { clearTimeout(timer); reject(e) } }
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new IpcTimeoutError(`${this.label}: waiting for '${t}'`, timeoutMs)) }, timeoutMs)
      this.waiters.push(w)
    })
  }
}

/** What a peer reports after its flash-crowd download (bench/flash-crowd-worker.ts). */
export interface DownloadReport { ms: number, received: number, wasteMeasured: number, bytesDone: number, clusters: number, bad: number, extra: number, units: number, meanPeersSeen: number, waits: { noWire: number, notInterested: number, choked: number } }

/** A torrent offer as it crosses IPC (JSON): the .torrent in base64. */
export interface OfferWire { peer: string, torrent: string, bittorrent: string[], tracker?: string }

export const toWire = (peer: string, o: Omit<ContentOffer, 'peer'>): OfferWire => ({ peer, torrent: Buffer.from(o.torrent).toString('base64'), bittorrent: o.bittorrent, ...(o.tracker !== undefined ? { tracker: o.tracker } : {}) })
export const fromWire = (o: OfferWire): ContentOffer => ({ peer: o.peer, torrent: new Uint8Array(Buffer.from(o.torrent, 'base64')), bittorrent: o.bittorrent, ...(o.tracker !== undefined ? { tracker: o.tracker } : {}) })
