/**
 * The peer's libp2p datastore: LevelDB, with the peer store's records
 * (`/peers/...`) held in memory and written behind.
 *
 * libp2p's peer store reads a peer's record from the datastore, decodes it,
 * re-encodes it and writes it back on every stream opened to or from that
 * peer (the stream's protocol is merged in), on every gossipsub mesh change
 * (tags), and reads it for every peer a kad-dht lookup answers with. Profiles
 * of R1 publishes showed those LevelDB round trips at ~6% of every peer's
 * busy time (mirrors, clients and the publisher alike). Records are a few
 * hundred bytes and peers few, so they stay in memory; a changed record
 * reaches LevelDB within `flushMs`, and at close, so the peer store still
 * survives a restart (minus the last moments before a crash, which libp2p
 * relearns from identify and membership).
 */
import { LevelDatastore } from 'datastore-level'
import type { AbortOptions } from '@libp2p/interface'

// The datastore interface's types, as LevelDatastore declares them (interface-datastore is its dependency, not ours).
type Key = Parameters<LevelDatastore['put']>[0]
type Batch = ReturnType<LevelDatastore['batch']>
type Query = Parameters<LevelDatastore['query']>[0]
type KeyQuery = Parameters<LevelDatastore['queryKeys']>[0]
type Pairs = ReturnType<LevelDatastore['query']>
type Keys = ReturnType<LevelDatastore['queryKeys']>

const PEERS = '/peers/'

/** What the peer store expects of a missing record (it tells errors apart by name). */
class PeerRecordNotFoundError extends Error {
  readonly code = 'ERR_NOT_FOUND'
  constructor (key: string) { super(`no peer record at ${key}`); this.name = 'NotFoundError' }
}

export interface PeerDatastoreInit {
  /** How long a changed peer record may wait before it is written. Default 1000 ms. */
  flushMs?: number
  /** Records kept in memory before the unchanged ones are let go. Default 10,000. */
  maxRecords?: number
}

export class PeerDatastore extends LevelDatastore {
  /** Records known: a value, or null for a key known to be absent. */
  private readonly records = new Map<string, Uint8Array | null>()
  /** Changes not yet in LevelDB: a value, or null for a deletion. */
  private readonly dirty = new Map<string, Uint8Array | null>()
  /** Changes being written by the running flush (LevelDB may not have them yet). */
  private writing = new Map<string, Uint8Array | null>()
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> = Promise.resolve()
  private readonly flushMs: number
  private readonly maxRecords: number

  constructor (path: string, init: PeerDatastoreInit = {}) {
    super(path)
    this.flushMs = init.flushMs ?? 1000
    this.maxRecords = init.maxRecords ?? 10_000
  }

  private static isPeer (key: Key): boolean { return key.toString().startsWith(PEERS) }

  override async put (key: Key, value: Uint8Array, options?: AbortOptions): Promise<Key> {
    if (!PeerDatastore.isPeer(key)) return await super.put(key, value, options)
    this.remember(key.toString(), value)
    return key
  }

  override async get (key: Key, options?: AbortOptions): Promise<Uint8Array> {
    if (!PeerDatastore.isPeer(key)) return await super.get(key, options)
    const k = key.toString()
    let v = this.known(k)
    if (v === undefined) {
      const read = await super.get(key, options).catch((err: Error) => { if (err.name === 'NotFoundError') return null; throw err })
      // a put while LevelDB was read (or one still being written) is newer than what it returned
      v = this.known(k)
      if (v === undefined) { v = read; this.keep(k, v) }
    }
    if (v === null) throw new PeerRecordNotFoundError(k)
    return v
  }

  /** What is known here of a record, newest first: a value, null (absent), or undefined (ask LevelDB). */
  private known (k: string): Uint8Array | null | undefined {
    if (this.dirty.has(k)) return this.dirty.get(k)
    if (this.writing.has(k)) return this.writing.get(k)
    return this.records.get(k)
  }

  override async has (key: Key, options?: AbortOptions): Promise<boolean> {
    if (!PeerDatastore.isPeer(key)) return await super.has(key, options)
    try { await this.get(key, options); return true } catch (err) { if ((err as Error).name === 'NotFoundError') return false; throw err }
  }

  override async delete (key: Key, options?: AbortOptions): Promise<void> {
    if (!PeerDatastore.isPeer(key)) { await super.delete(key, options); return }
    this.remember(key.toString(), null)
  }

  override batch (): Batch {
    const inner = super.batch()
    const mine: Array<[string, Uint8Array | null]> = []
    return {
      put: (key, value) => { if (PeerDatastore.isPeer(key)) mine.push([key.toString(), value]); else inner.put(key, value) },
      delete: (key) => { if (PeerDatastore.isPeer(key)) mine.push([key.toString(), null]); else inner.delete(key) },
      commit: async (options) => {
        await inner.commit(options)
        for (const [k, v] of mine) this.remember(k, v)
      }
    }
  }

  // Queries read LevelDB: what waits to be written goes first.
  override query (q: Query, options?: AbortOptions): Pairs {
    const parent = super.query.bind(this)
    const self = this
    return (async function * () { await self.flush(); yield * parent(q, options) })()
  }

  override queryKeys (q: KeyQuery, options?: AbortOptions): Keys {
    const parent = super.queryKeys.bind(this)
    const self = this
    return (async function * () { await self.flush(); yield * parent(q, options) })()
  }

  override async close (): Promise<void> {
    if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
    try { await this.flush() } finally { await super.close() }
  }

  /** Writes what changed since the last flush (one LevelDB batch). */
  async flush (): Promise<void> {
    const run = this.flushing.then(async () => {
      if (this.dirty.size === 0) return
      this.writing = new Map(this.dirty)
      this.dirty.clear()
      try {
        await this.db.batch([...this.writing].map(([key, value]) => value === null ? { type: 'del' as const, key } : { type: 'put' as const, key, value }))
      } catch (err) {
        // not written: kept for a later flush, unless changed again meanwhile
        for (const [k, v] of this.writing) if (!this.dirty.has(k)) this.dirty.set(k, v)
        this.schedule()
        throw err
      } finally {
        this.writing = new Map()
      }
    })
    this.flushing = run.catch(() => {})
    await run
  }

  private remember (k: string, v: Uint8Array | null): void {
    this.dirty.set(k, v)
    this.keep(k, v)
    this.schedule()
  }

  private schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => { this.timer = undefined; void this.flush().catch(() => {}) }, this.flushMs)
    this.timer.unref()
  }

  private keep (k: string, v: Uint8Array | null): void {
    this.records.delete(k)
    this.records.set(k, v)
    if (this.records.size <= this.maxRecords) return
    // the oldest records go first; one not yet in LevelDB, and the one just kept, stay
    for (const key of this.records.keys()) {
      if (this.records.size <= this.maxRecords) break
      if (key !== k && !this.dirty.has(key) && !this.writing.has(key)) this.records.delete(key)
    }
  }
}
