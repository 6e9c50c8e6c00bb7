/**
 * What one index peer holds of the distributed index (LevelDB): posting
 * chunks, head chunks, documents, the id map and the signed catalog.
 * Writes come from the network (a publish, a repair), so each is checked
 * whole before anything is written and lands in one LevelDB batch: a bad
 * write leaves the store as it was. Layout and value codecs: shard-keys.ts.
 */
import { mkdir, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { ProtocolError } from './errors.ts'
import { DEFAULT_RANGE_DOCS, type Catalog, type HeldDocument, type TermHead } from './types.ts'
import { StoreError } from '../xml-twig-index/errors.ts'
import { ByteWriter, type PostingList } from '../xml-twig-index/postings/codec.ts'
import type { DocFilter } from '../xml-twig-index/engine/source.ts'
import {
  CATALOG_KEY, FORMAT, META_KEY, PLACED_KEY, P_BLOCK, P_DOC, P_HEAD, P_ID, READ_FORMATS, VarintReader, WriteBuilder, addHead, chunkHeader, dec,
  decodeChunk, decodeDoc, decodeHead, docKey, enc, heldPostings, idKey, inlineCount, keyFirstDoc, keyRange, keyTerm, putU32be, rangeSpan, readBlock, readU32be, P_RARE,
  sameBytes, spaceOf, startsWithBytes, termSpan, type PositionRegion
} from './shard-keys.ts'
import { MAX_ID_BYTES, MAX_TERM_BYTES, checkCatalog, keyText, prepare, prepareEncoded, show, u32, type Prepared } from './shard-write.ts'
import { KeyDirectory } from './key-directory.ts'
import { PACK_BYTES, P_PACK, PackBuilder, PackReader, PackSpans, packKey, valueAt } from './head-packs.ts'
import { RarePieces } from './rare-pieces.ts'

export { MAX_ID_BYTES, MAX_TERM_BYTES }

/** The postings of one term within one docId range, sent in one publish: docs in `range` and >= firstDoc, sorted by (doc, start). */
export interface PostingChunk { term: string, range: number, firstDoc: number, postings: PostingList }
/** Sizes of one publish's postings of a term within a range; a term's head sums them per range. `inline`: the chunk's postings themselves (at most INLINE_POSTINGS), when no B chunk holds them. */
export interface HeadChunk { term: string, range: number, firstDoc: number, postings: number, docs: number, lastDoc: number, inline?: PostingList }
export interface IdEntry { id: string, docId: number }
export interface ShardWrite { chunks?: PostingChunk[], heads?: HeadChunk[], docs?: HeldDocument[], ids?: IdEntry[] }
/** A unit of placement held here: what repair re-sends when the closest peers of its key change. */
export type ShardEntry = { kind: 'head', term: string } | { kind: 'block', term: string, range: number } | { kind: 'doc', docId: number } | { kind: 'id', id: string }
export interface ShardStats { heads: number, blocks: number, chunks: number, postings: number, docs: number, ids: number, bytes: number }
/** Terms of `prefix` within bounds that are whole terms (as TermRange in engine/source.ts). */
export interface TermBounds { prefix: string, gt?: string, gte?: string, lt?: string, lte?: string }
/** The index peers and replication factor that the keys held here are placed for. */
export interface PlacedFor { peers: string[], replicas: number }
export interface ShardStoreInit {
  /** Folder of the LevelDB store; created when missing. */
  path: string
  /** Docs per range until a catalog is held (then the catalog's rangeDocs). Default DEFAULT_RANGE_DOCS. */
  rangeDocs?: number
  /**
   * LevelDB's write buffer. Default 32 MiB: a mirror's share of R1 (~40 MB
   * with its documents) took 4.2-4.4 s of CPU to apply and compact with
   * LevelDB's 4 MiB, 2.9-3.2 s with 32 MiB (fewer level-0 tables to merge);
   * it costs that much memory, and a restart replays up to that much log.
   */
  writeBufferBytes?: number
}

type Db = ClassicLevel<Uint8Array, Uint8Array>

/** How long a measured folder size is reported before it is measured again. */
const STATS_BYTES_MS = 10_000

/** The bytes a scan of the store may read ahead (the default, 16 KiB, cut a scan into many thread pool trips). */
const SCAN_BYTES = 1 << 20
/** Packs a term range scan reads on the event loop's thread before it lets the loop in. */
const PACKS_PER_SLICE = 64

/** Most point reads made on the event loop's thread before it is let go (a request may name up to MAX_KEYS keys). */
const SYNC_GETS = 256

/** `fn` over `items`, SYNC_GETS at a time, the event loop let go between slices. */
async function inSlices<T, R> (items: T[], fn: (item: T) => R): Promise<R[]> {
  if (items.length <= SYNC_GETS) return items.map(fn)
  const out: R[] = []
  for (let i = 0; i < items.length; i += SYNC_GETS) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve))
    for (const item of items.slice(i, i + SYNC_GETS)) out.push(fn(item))
  }
  return out
}

/** Lower and upper LevelDB bounds of the head chunks of the terms in `b`. */
function boundsOf (b: TermBounds): { prefix: Uint8Array, gte: Uint8Array, lt: Uint8Array } {
  if (b == null || typeof b.prefix !== 'string') throw new ProtocolError('term range needs a prefix string')
  if (b.prefix.includes('\u0000')) throw new ProtocolError(`term range prefix ${show(b.prefix)} contains U+0000`)
  const prefix = enc.encode(b.prefix)
  const span = (t: string | undefined, what: string): { gte: Uint8Array, lt: Uint8Array } | undefined => t === undefined ? undefined : termSpan(P_HEAD, keyText(t, `term range ${what}`, MAX_TERM_BYTES))
  let gte: Uint8Array = Uint8Array.of(P_HEAD, ...prefix)
  // the first key past every term of the prefix (UTF-8 has no 0xff byte to carry over): a scan must not read ahead beyond them
  let lt: Uint8Array = prefix.length === 0 ? spaceOf(P_HEAD).lt : Uint8Array.of(P_HEAD, ...prefix.subarray(0, -1), prefix[prefix.length - 1] + 1)
  const raise = (k: Uint8Array | undefined): void => { if (k !== undefined && Buffer.compare(k, gte) > 0) gte = k }
  const lower = (k: Uint8Array | undefined): void => { if (k !== undefined && Buffer.compare(k, lt) < 0) lt = k }
  raise(span(b.gte, 'gte')?.gte); raise(span(b.gt, 'gt')?.lt)
  lower(span(b.lt, 'lt')?.gte); lower(span(b.lte, 'lte')?.lt)
  return { prefix, gte, lt }
}

export class ShardStore {
  private held: { catalog: Catalog, signed: Uint8Array } | undefined
  private placed: PlacedFor | undefined
  /** Head chunk keys by term, block chunk keys by (term, range): reads get exact keys synchronously (key-directory.ts). */
  private readonly headKeys = new KeyDirectory()
  private readonly blockKeys = new KeyDirectory()
  private counts = { chunks: 0, postings: 0, docs: 0, ids: 0 }
  /** Head chunks live in packs (head-packs.ts): the seq the next pack is written under, and every pack's key span. */
  private nextPack = 1
  private readonly spans = new PackSpans()
  /**
   * Live head chunks per pack. A pack whose every chunk was written again
   * in later packs (a re-run publish, a repair, a catch-up) is deleted:
   * before packs, LevelDB's compaction dropped an overwritten head entry.
   */
  private readonly packLive = new Map<number, number>()
  /** Rare terms' records, read back as head chunks (rare-pieces.ts); their chunks held in packs too are read from the packs. */
  private readonly rare: RarePieces
  /** Packs found dead while a scan that lets the event loop in was reading (deleted once none is). */
  private readonly deadPacks = new Set<number>()
  private scans = 0
  /** Writes run one at a time: counters read what is stored before a batch replaces it. */
  private queue: Promise<unknown> = Promise.resolve()

  private constructor (readonly path: string, private readonly db: Db, private readonly initialRangeDocs: number) {
    this.rare = new RarePieces(db, (key, n, range, firstDoc) => {
      const e = this.headKeys.find(key, 1, n - 9, range, firstDoc)
      if (e < 0) return undefined
      const pack = this.db.getSync(packKey(this.headKeys.whereOf(e)))
      return pack === undefined ? undefined : valueAt(pack, this.headKeys.atOf(e))
    })
  }

  static async open (init: ShardStoreInit): Promise<ShardStore> {
    const rangeDocs = init.rangeDocs ?? DEFAULT_RANGE_DOCS
    if (!Number.isSafeInteger(rangeDocs) || rangeDocs < 1) throw new RangeError(`rangeDocs ${rangeDocs} is not a positive integer`)
    await mkdir(init.path, { recursive: true })
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(join(init.path, 'shard'), { keyEncoding: 'view', valueEncoding: 'view', writeBufferSize: init.writeBufferBytes ?? 32 * 1024 * 1024 })
    try {
      await db.open()
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code ?? (err as { code?: string }).code
      if (code === 'LEVEL_LOCKED') throw new StoreError(`shard store ${init.path} is held by another process`, 'ERR_STORE_LOCKED', { cause: err })
      throw new StoreError(`cannot open shard store ${init.path}: ${(err as Error).message}`, 'ERR_STORE', { cause: err })
    }
    const store = new ShardStore(init.path, db, rangeDocs)
    try { await store.load() } catch (err) { await db.close(); throw err }
    return store
  }

  /** Docs per range: the held catalog's (fixed network-wide), else the one given at open. */
  get rangeDocs (): number { return this.held?.catalog.rangeDocs ?? this.initialRangeDocs }

  private async load (): Promise<void> {
    const meta = await this.db.get(META_KEY)
    if (meta === undefined) await this.db.put(META_KEY, enc.encode(JSON.stringify({ format: FORMAT })))
    else {
      const format = (JSON.parse(dec.decode(meta)) as { format?: unknown }).format
      if (typeof format !== 'number' || !READ_FORMATS.includes(format)) throw new StoreError(`shard store ${this.path} has format ${String(format)}, this edos reads formats ${READ_FORMATS.join(', ')}`, 'ERR_STORE_FORMAT')
      // Marked with the format it may now hold (inline chunks), so that an older edos refuses it rather than misreads it.
      if (format !== FORMAT) await this.db.put(META_KEY, enc.encode(JSON.stringify({ format: FORMAT })))
    }
    const c = await this.db.get(CATALOG_KEY)
    if (c !== undefined) {
      const r = new VarintReader(c)
      const n = r.next()
      this.held = { catalog: JSON.parse(dec.decode(c.subarray(r.p, r.p + n))) as Catalog, signed: new Uint8Array(c.subarray(r.p + n)) }
    }
    const placed = await this.db.get(PLACED_KEY)
    if (placed !== undefined) this.placed = parsePlacedFor(placed)
    await this.packLooseHeads()
    // Counters are not stored: a scan of keys (and chunk headers) rebuilds them, so a crash cannot leave them wrong.
    for await (const [key, value] of this.db.iterator({ ...spaceOf(P_PACK), highWaterMarkBytes: SCAN_BYTES })) {
      const seq = readU32be(key, 1)
      this.indexPack(seq, value)
      this.nextPack = seq + 1
    }
    await this.dropDeadPacks()
    await this.rare.load()
    for await (const [key, value] of this.db.iterator(spaceOf(P_BLOCK))) {
      this.blockKeys.add(key, key.length - 4, keyRange(key), keyFirstDoc(key))
      this.counts.chunks++
      this.counts.postings += chunkHeader(value, keyFirstDoc(key)).count
    }
    for await (const key of this.db.keys(spaceOf(P_DOC))) if (key.length === 5) this.counts.docs++
    for await (const key of this.db.keys(spaceOf(P_ID))) if (key.length > 1) this.counts.ids++
  }

  /**
   * Records head chunk `key`, stored in pack `seq` at byte `at` with
   * `inline` postings. A chunk written again: the postings its old copy
   * carried leave the count, and its old pack has one live chunk less.
   */
  private recordHead (key: Uint8Array, seq: number, at: number, inline: number): void {
    this.recordHeadAt(key, 0, key.length, seq, at, inline)
  }

  /**
   * recordHead for the key keys[ks, ke). `counted`: the caller has already
   * counted the chunk among pack `seq`'s live ones (a write counts each new
   * pack once, not a map update per head).
   */
  private recordHeadAt (keys: Uint8Array, ks: number, ke: number, seq: number, at: number, inline: number, counted = false): void {
    this.headKeys.addUnit(keys, ks + 1, ke - 9, readU32be(keys, ke - 8), readU32be(keys, ke - 4), seq, inline, at)
    this.counts.postings += inline - Math.max(0, this.headKeys.replaced)
    if (!counted) this.packLive.set(seq, (this.packLive.get(seq) ?? 0) + 1)
    if (this.headKeys.replaced >= 0) this.leave(this.headKeys.replacedWhere)
  }

  /** One chunk of pack `seq` was written again elsewhere: a pack left with none is dead. */
  private leave (seq: number): void {
    const n = (this.packLive.get(seq) ?? 0) - 1
    if (n > 0) { this.packLive.set(seq, n); return }
    this.packLive.delete(seq)
    this.deadPacks.add(seq)
  }

  /**
   * Deletes the dead packs, unless a scan that reads packs by seq is under
   * way (the next write or the scan's end does). A deletion that fails is
   * tried again then: a dead pack holds no live chunk, so keeping it a
   * while longer changes no read.
   */
  private async dropDeadPacks (): Promise<void> {
    if (this.deadPacks.size === 0 || this.scans > 0) return
    const dead = new Set(this.deadPacks)
    const batch = this.db.batch()
    for (const seq of dead) batch.del(packKey(seq))
    try { await batch.write() } catch { return }
    for (const seq of dead) this.deadPacks.delete(seq)
    this.spans.remove(dead)
  }

  /** Records the head chunks of pack `seq` (a later pack's copy of a chunk replaces an earlier one's) and its key span. */
  private indexPack (seq: number, pack: Uint8Array): void {
    const r = new PackReader(pack)
    let lo: Uint8Array | undefined; let hi: Uint8Array | undefined
    while (r.next()) {
      const k = r.key
      this.recordHead(k, seq, r.at, inlineCount(r.value, keyFirstDoc(k)))
      if (lo === undefined || Buffer.compare(k, lo) < 0) lo = new Uint8Array(k)
      if (hi === undefined || Buffer.compare(k, hi) > 0) hi = new Uint8Array(k)
    }
    if (lo !== undefined && hi !== undefined) this.spans.add(seq, lo, hi)
  }

  /**
   * A store of format 1 or 2 holds a LevelDB entry per head chunk: they
   * move into packs, ~8 MiB a batch, each batch putting its packs and
   * deleting the entries it packed (a crash between batches leaves a store
   * that reads the same, and the next open moves the rest).
   */
  private async packLooseHeads (): Promise<void> {
    let seq = 1
    for await (const key of this.db.keys({ ...spaceOf(P_PACK), reverse: true, limit: 1 })) seq = readU32be(key, 1) + 1
    const builder = new PackBuilder()
    let batch = this.db.batch()
    let pending = 0
    const close = (): void => { if (builder.count > 0) batch.put(packKey(seq++), builder.finish().value) }
    for await (const [key, value] of this.db.iterator({ ...spaceOf(P_HEAD), highWaterMarkBytes: SCAN_BYTES })) {
      builder.add(key, value)
      batch.del(key)
      pending += key.length + value.length
      if (builder.bytes >= PACK_BYTES) close()
      if (pending >= 8 << 20) { close(); await batch.write(); batch = this.db.batch(); pending = 0 }
    }
    close()
    if (batch.length > 0) await batch.write()
    else await batch.close()
  }

  async close (): Promise<void> {
    await this.queue.catch(() => {})
    await this.db.close()
  }

  private serial<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => {})
    return run
  }

  /** Stores a write (a publish batch or a repair) atomically, or throws ProtocolError and stores nothing. */
  async apply (write: ShardWrite): Promise<void> {
    await this.applyPrepared(() => prepare(write, this.rangeDocs))
  }

  /**
   * Stores a write received as encoded entries (WriteBuilder.toParts on the
   * sender): keys and values are checked for shape, then written as they
   * are. The hot path of publishing and repair: no chunk is decoded.
   */
  async applyEncoded (b: WriteBuilder): Promise<void> {
    await this.applyPrepared(() => prepareEncoded(b))
  }

  private async applyPrepared (make: () => Prepared): Promise<void> {
    return await this.serial(async () => {
      const p = make()
      const { b } = p
      if (b.length === 0) return
      // a chunk of a block not held yet cannot exist: only the others (a re-run, a repair) are looked up
      const known = p.chunks.filter((i) => { const k = b.key(i); return this.blockKeys.has(k, 1, k.length - 4) })
      const [oldChunks, oldDocs, oldIds] = await Promise.all([
        known.length > 0 ? this.db.getMany(known.map((i) => b.key(i))) : [],
        p.docs.length > 0 ? this.db.hasMany(p.docs.map((i) => b.key(i))) : [],
        p.ids.length > 0 ? this.db.hasMany(p.ids.map((i) => b.key(i))) : []
      ])
      const batch = this.db.batch()
      const keys = b.keyBuf
      for (let i = 0; i < b.length; i++) { const kind = keys[b.keyStart(i)]; if (kind !== P_HEAD && kind !== P_RARE) batch.put(b.key(i), b.value(i)) }
      // rare runs go into pieces of their own; a record held before with other postings comes back as a head chunk (`converted`)
      const rare = this.rare.prepare(b, p.rares, p.heads)
      const heads = rare.heads
      for (const [k, v] of rare.puts) batch.put(k, v)
      const { converted } = rare
      // head chunks (the live ones: one written twice in this write counts once) go into packs, in the order they came
      const packOf = new Uint32Array(heads.length)
      const atOf = new Uint32Array(heads.length)
      const packed: Array<{ seq: number, lo: Uint8Array, hi: Uint8Array, count: number }> = []
      let seq = this.nextPack
      const builder = new PackBuilder()
      const close = (): void => { const count = builder.count; const { value, lo, hi } = builder.finish(); batch.put(packKey(seq), value); packed.push({ seq, lo, hi, count }); seq++ }
      const values = b.valueBuf
      for (let j = 0; j < heads.length; j++) {
        const i = heads[j]
        atOf[j] = builder.addRange(keys, b.keyStart(i), b.keyEnd(i), values, b.valueStart(i), b.valueEnd(i))
        packOf[j] = seq
        if (builder.bytes >= PACK_BYTES) close()
      }
      const convertedAt = new Uint32Array(converted.length)
      const convertedPack = new Uint32Array(converted.length)
      for (let j = 0; j < converted.length; j++) {
        convertedAt[j] = builder.addRange(converted.keyBuf, converted.keyStart(j), converted.keyEnd(j), converted.valueBuf, converted.valueStart(j), converted.valueEnd(j))
        convertedPack[j] = seq
        if (builder.bytes >= PACK_BYTES) close()
      }
      if (builder.count > 0) close()
      await batch.write()
      this.nextPack = seq
      rare.commit()
      // a write's heads are distinct (prepare drops the superseded): every one is live in its new pack
      for (const x of packed) { this.spans.add(x.seq, x.lo, x.hi); this.packLive.set(x.seq, x.count) }
      // the heads first: what follows reads stored chunks, and a corrupt one must not leave the heads just written unindexed
      for (let j = 0; j < heads.length; j++) { const i = heads[j]; this.recordHeadAt(keys, b.keyStart(i), b.keyEnd(i), packOf[j], atOf[j], p.headCounts[i] ?? 0, true) }
      for (let j = 0; j < converted.length; j++) this.recordHeadAt(converted.keyBuf, converted.keyStart(j), converted.keyEnd(j), convertedPack[j], convertedAt[j], rare.inline[j], true)
      const old = new Map<number, Uint8Array | undefined>(known.map((i, j) => [i, oldChunks[j]]))
      for (const i of p.chunks) {
        const was = old.get(i)
        if (was === undefined) this.counts.chunks++
        else this.counts.postings -= chunkHeader(was, keyFirstDoc(b.key(i))).count
        this.counts.postings += p.chunkCounts[i]
        const k = b.key(i)
        this.blockKeys.add(k, k.length - 4, keyRange(k), keyFirstDoc(k))
      }
      for (const had of oldDocs) if (!had) this.counts.docs++
      for (const had of oldIds) if (!had) this.counts.ids++
      await this.dropDeadPacks()
    })
  }

  /** Keeps `catalog` when its seq is above the held one's; returns whether it was kept. The caller has verified `signed`. */
  async setCatalog (catalog: Catalog, signed: Uint8Array): Promise<boolean> {
    checkCatalog(catalog)
    if (!(signed instanceof Uint8Array)) throw new ProtocolError('signed catalog is not a byte array')
    return await this.serial(async () => {
      const held = this.held?.catalog
      if (held !== undefined && catalog.seq <= held.seq) return false
      if (held !== undefined && catalog.rangeDocs !== held.rangeDocs) throw new ProtocolError(`catalog ${catalog.seq} changes rangeDocs from ${held.rangeDocs} to ${catalog.rangeDocs} (fixed network-wide)`)
      const json = enc.encode(JSON.stringify(catalog))
      const w = new ByteWriter(json.length + signed.length + 5)
      w.varint(json.length); w.bytes(json); w.bytes(signed)
      await this.db.put(CATALOG_KEY, w.result())
      this.held = { catalog: structuredClone(catalog), signed: new Uint8Array(signed) }
      return true
    })
  }

  catalog (): { catalog: Catalog, signed: Uint8Array } | undefined { return this.held }

  /** Whether nothing is held (no head, block, document or id). */
  get empty (): boolean { return this.headKeys.size === 0 && this.rare.empty && this.blockKeys.size === 0 && this.counts.docs === 0 && this.counts.ids === 0 }

  /** The view the held keys are placed for, as last stored (undefined: never stored, or unreadable). */
  placedFor (): PlacedFor | undefined { return this.placed === undefined ? undefined : { peers: [...this.placed.peers], replicas: this.placed.replicas } }

  async setPlacedFor (v: PlacedFor): Promise<void> {
    const copy = { peers: [...v.peers], replicas: v.replicas }
    await this.serial(async () => { await this.db.put(PLACED_KEY, enc.encode(JSON.stringify(copy))) })
    this.placed = copy
  }

  /** The heads of `terms` (undefined for a term with no head chunk here). */
  async heads (terms: string[]): Promise<Array<TermHead | undefined>> {
    return await inSlices(terms, (term) => {
      const head = { term, ranges: [] as TermHead['ranges'] }
      for (const [key, value] of this.chunksOf(P_HEAD, keyText(term, 'term', MAX_TERM_BYTES))) addHead(head, key, value)
      return head.ranges.length > 0 ? head : undefined
    })
  }

  /**
   * The stored chunks of a term's head (`range` undefined) or of one of its
   * blocks, in key order, read synchronously by the keys the directory
   * knows (a get of a cached LevelDB block takes microseconds; an
   * iterator's thread pool round trips are what a busy machine makes slow).
   */
  private chunksOf (prefix: typeof P_HEAD | typeof P_BLOCK, term: Uint8Array, range?: number): Array<[Uint8Array, Uint8Array]> {
    const dir = prefix === P_HEAD ? this.headKeys : this.blockKeys
    // the unit's bytes as the directory hashed them: the term (heads), the term, 00 and the range (blocks)
    const key = new Uint8Array(term.length + 10)
    key[0] = prefix; key.set(term, 1)
    if (range !== undefined) putU32be(key, term.length + 2, range)
    const located = dir.located(key, 1, range === undefined ? term.length + 1 : term.length + 6, range)
    const out: Array<[Uint8Array, Uint8Array]> = []
    // a head chunk is read from its pack, at the byte the directory knows (a term's ranges of one publish share a pack: read once)
    let seq = -1; let pack: Uint8Array | undefined
    for (const [r, firstDoc, where, at] of located) {
      const k = located.length === 1 ? key : key.slice()
      putU32be(k, term.length + 2, r); putU32be(k, term.length + 6, firstDoc)
      let value: Uint8Array | undefined
      if (prefix === P_HEAD) {
        if (where !== seq) { seq = where; pack = this.db.getSync(packKey(where)) }
        value = pack === undefined ? undefined : valueAt(pack, at)
      } else value = this.db.getSync(k)
      if (value !== undefined) out.push([k, value])
    }
    if (prefix === P_HEAD) {
      const rare = this.rare.chunksOf(term)
      if (rare.length > 0) {
        // a chunk held both ways (a repair sent a rare record as a head chunk) is read once
        for (const r of rare) if (!out.some(([k]) => sameBytes(k, r[0]))) out.push(r)
        out.sort((a, b) => Buffer.compare(a[0], b[0]))
      }
    }
    return out
  }

  /** Heads of the terms in `bounds`, in UTF-8 byte order, at most `limit` of them. */
  async termHeads (bounds: TermBounds, limit = Infinity): Promise<TermHead[]> {
    const { prefix, gte, lt } = boundsOf(bounds)
    if (!(limit >= 0)) throw new ProtocolError(`term range limit ${limit} is not a non-negative number`)
    const out: TermHead[] = []
    if (limit === 0 || Buffer.compare(gte, lt) >= 0) return out
    // The head chunks in range, from the packs that may hold some. Every copy of a chunk in range lies in such a pack, and the one in
    // the latest pack is the live one (a pack written while this scan lets the event loop in is not read: the scan sees the store as
    // it was when it began).
    const found: Array<{ key: Uint8Array, value: Uint8Array, seq: number }> = []
    const seqs = this.spans.meeting(gte, lt)
    this.scans++
    try {
      for (let i = 0; i < seqs.length; i++) {
        // a wide range (`size > N` over a whole share) reads many packs on this thread: let the event loop in between slices
        if (i > 0 && i % PACKS_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve))
        const seq = seqs[i]
        const pack = this.db.getSync(packKey(seq))
        if (pack === undefined) continue
        const r = new PackReader(pack)
        while (r.next()) {
          const k = r.key
          if (Buffer.compare(k, gte) < 0 || Buffer.compare(k, lt) >= 0) continue
          found.push({ key: new Uint8Array(k), value: r.value, seq })
        }
      }
      // rare records in range, as the head chunks they stand for: older than any pack's copy of the same chunk (seq 0)
      const pause = async (i: number): Promise<void> => { if (i > 0 && i % PACKS_PER_SLICE === 0) await new Promise((resolve) => setImmediate(resolve)) }
      for (const { key, value } of await this.rare.scan(gte, lt, pause)) found.push({ key, value, seq: 0 })
    } finally {
      this.scans--
    }
    if (this.scans === 0 && this.deadPacks.size > 0) void this.serial(async () => { await this.dropDeadPacks() }).catch(() => {})
    found.sort((a, b) => Buffer.compare(a.key, b.key) || b.seq - a.seq)
    let cur: TermHead | undefined
    let curBytes: Uint8Array | undefined
    let prev: Uint8Array | undefined
    for (const { key, value } of found) {
      // the newest copy of a key comes first
      if (prev !== undefined && sameBytes(key, prev)) continue
      prev = key
      const t = keyTerm(key)
      if (!startsWithBytes(t, prefix)) break
      if (curBytes === undefined || !sameBytes(t, curBytes)) {
        if (out.length >= limit) break
        curBytes = t
        cur = { term: dec.decode(t), ranges: [] }
        out.push(cur)
      }
      addHead(cur as TermHead, key, value)
    }
    return out
  }

  /**
   * For each (term, range), the postings of all its chunks in (doc, start)
   * order. Chunks go by firstDoc; a chunk overlapping earlier ones (a re-run
   * publish) contributes only docs past the last doc already covered.
   */
  async blocks (keys: Array<{ term: string, range: number }>, filter?: DocFilter): Promise<PostingList[]> {
    return (await this.blocksHeld(keys, filter)).map((b) => b.list)
  }

  /** Blocks as `blocks` reads them, each with the postings held for it before the filter (what its head counts, when this replica is complete). */
  async blocksHeld (keys: Array<{ term: string, range: number }>, filter?: DocFilter, region?: PositionRegion): Promise<Array<{ list: PostingList, held: number }>> {
    return await inSlices(keys, ({ term, range }) => {
      const chunks = this.chunksOf(P_BLOCK, keyText(term, 'term', MAX_TERM_BYTES), u32(range, `range of ${show(term)}`))
      return { list: readBlock(chunks, filter, region), held: heldPostings(chunks) }
    })
  }

  async documents (docIds: number[]): Promise<Array<HeldDocument | undefined>> {
    if (docIds.length === 0) return []
    const values = await this.getAll(docIds.map((d) => docKey(u32(d, 'docId'))))
    return values.map((v, i) => v === undefined ? undefined : { docId: docIds[i], ...decodeDoc(v) })
  }

  async resolve (ids: string[]): Promise<Array<number | undefined>> {
    if (ids.length === 0) return []
    const values = await this.getAll(ids.map((id) => idKey(keyText(id, 'id', MAX_ID_BYTES))))
    return values.map((v) => v === undefined ? undefined : readU32be(v, 0))
  }

  /** Point reads: a few on this thread (see chunksOf), many in one thread pool read. */
  private async getAll (keys: Uint8Array[]): Promise<Array<Uint8Array | undefined>> {
    return keys.length <= SYNC_GETS ? keys.map((k) => this.db.getSync(k)) : await this.db.getMany(keys)
  }

  /** Every unit of placement held, streamed (nothing is gathered in memory): blocks, documents and ids in key order, heads in the order of their packs. */
  async * entries (): AsyncIterable<ShardEntry> {
    let prev: Uint8Array | undefined
    for await (const key of this.db.keys({ ...spaceOf(P_BLOCK), highWaterMarkBytes: SCAN_BYTES })) {
      // a unit is the key without firstDoc
      const unit = key.subarray(0, key.length - 4)
      if (prev !== undefined && sameBytes(unit, prev)) continue
      prev = new Uint8Array(unit) // Buffer#slice would share the key's memory
      yield { kind: 'block', term: dec.decode(keyTerm(key)), range: keyRange(key) }
    }
    for await (const key of this.db.keys({ ...spaceOf(P_DOC), highWaterMarkBytes: SCAN_BYTES })) yield { kind: 'doc', docId: readU32be(key, 1) }
    yield * this.headUnits()
    for await (const key of this.db.keys({ ...spaceOf(P_ID), highWaterMarkBytes: SCAN_BYTES })) yield { kind: 'id', id: dec.decode(key.subarray(1)) }
  }

  /**
   * The live head chunks of every pack, in pack order (a chunk's copy in a
   * pack written after the scan began is not read: the one before it is).
   */
  private async * liveHeads (horizon = this.nextPack): AsyncIterable<{ key: Uint8Array, value: Uint8Array, rare?: boolean }> {
    for await (const [pk, pack] of this.db.iterator({ ...spaceOf(P_PACK), highWaterMarkBytes: SCAN_BYTES })) {
      const seq = readU32be(pk, 1)
      const r = new PackReader(pack)
      while (r.next()) {
        const k = r.key
        const e = this.headKeys.find(k, 1, k.length - 9, keyRange(k), keyFirstDoc(k))
        if (e >= 0 && (this.headKeys.whereOf(e) === seq || this.headKeys.whereOf(e) >= horizon)) yield { key: r.key, value: r.value }
      }
    }
    // rare records, as the head chunks they stand for, but those whose chunk a pack read above holds
    const readAbove = (key: Uint8Array, n: number, range: number, firstDoc: number): boolean => {
      const e = this.headKeys.find(key, 1, n - 9, range, firstDoc)
      return e >= 0 && this.headKeys.whereOf(e) < horizon
    }
    for await (const { key, value } of this.rare.records(readAbove)) yield { key, value, rare: true }
  }

  /**
   * Every term with a head chunk here, once, though writes go on during the
   * walk (a repair's, a catch-up's, the rest of a publish). A term is named
   * at its first chunk in key order among those in packs the walk reads
   * (a pack before the horizon), and at a rare record only when it has no
   * chunk in such a pack. A chunk written during the walk lands in a pack
   * past the horizon, so it cannot leave a term unnamed: deciding by "the
   * term has a chunk" instead left rare terms out when a repair wrote their
   * chunks mid-walk. A term whose chunks move during the walk may be named
   * twice (a repair then sends it twice; harmless).
   */
  private async * headUnits (): AsyncIterable<ShardEntry> {
    const horizon = this.nextPack
    for await (const { key, rare } of this.liveHeads(horizon)) {
      const located = this.headKeys.located(key, 1, key.length - 9)
      const range = keyRange(key); const firstDoc = keyFirstDoc(key)
      let first = true
      for (const [r, f, where] of located) {
        if (rare !== true && (r > range || (r === range && f >= firstDoc))) break
        if (where < horizon) { first = false; break }
      }
      if (first) yield { kind: 'head', term: dec.decode(keyTerm(key)) }
    }
  }

  /**
   * Stored entries added for documents >= `since` (chunks and head chunks
   * by their firstDoc, documents by docId, ids by the docId they name),
   * raw: what a peer that was down during a publish asks its co-holders for.
   */
  async * rawSince (since: number): AsyncIterable<{ entry: ShardEntry, key: Uint8Array, value: Uint8Array }> {
    for await (const [key, value] of this.db.iterator(spaceOf(P_BLOCK))) {
      if (keyFirstDoc(key) >= since) yield { entry: { kind: 'block', term: dec.decode(keyTerm(key)), range: keyRange(key) }, key, value }
    }
    for await (const { key, value } of this.liveHeads()) {
      if (keyFirstDoc(key) >= since) yield { entry: { kind: 'head', term: dec.decode(keyTerm(key)) }, key: new Uint8Array(key), value }
    }
    for await (const [key, value] of this.db.iterator({ gte: docKey(since), lt: spaceOf(P_DOC).lt })) yield { entry: { kind: 'doc', docId: readU32be(key, 1) }, key, value }
    for await (const [key, value] of this.db.iterator(spaceOf(P_ID))) {
      if (readU32be(value, 0) >= since) yield { entry: { kind: 'id', id: dec.decode(key.subarray(1)) }, key, value }
    }
  }

  /** What is stored for `entries`, as a write that reproduces it on another peer. */
  async export (entries: ShardEntry[]): Promise<ShardWrite> {
    const out: Required<ShardWrite> = { chunks: [], heads: [], docs: [], ids: [] }
    const docIds: number[] = []; const ids: string[] = []
    for (const e of entries) {
      if (e.kind === 'head') {
        for (const [key, value] of this.chunksOf(P_HEAD, keyText(e.term, 'term', MAX_TERM_BYTES))) {
          const firstDoc = keyFirstDoc(key)
          const { inline, ...sizes } = decodeHead(value, firstDoc)
          out.heads.push({ term: e.term, range: keyRange(key), firstDoc, ...sizes, ...(inline !== undefined ? { inline: decodeChunk(inline, firstDoc) } : {}) })
        }
      } else if (e.kind === 'block') {
        for await (const [key, value] of this.db.iterator(rangeSpan(P_BLOCK, keyText(e.term, 'term', MAX_TERM_BYTES), u32(e.range, 'range')))) {
          const firstDoc = keyFirstDoc(key)
          out.chunks.push({ term: e.term, range: e.range, firstDoc, postings: decodeChunk(value, firstDoc) })
        }
      } else if (e.kind === 'doc') docIds.push(e.docId)
      else ids.push(e.id)
    }
    for (const d of await this.documents(docIds)) if (d !== undefined) out.docs.push(d)
    const resolved = await this.resolve(ids)
    ids.forEach((id, i) => { const docId = resolved[i]; if (docId !== undefined) out.ids.push({ id, docId }) })
    return out
  }

  /** The stored entries of `entries`, as they are on disk: what repair sends (applyEncoded on the receiver). */
  async exportEncoded (entries: ShardEntry[]): Promise<WriteBuilder> {
    const b = new WriteBuilder()
    // Exact keys, not an iterator per entry (two thread pool round trips each: a repair pass over a mirror's share of R1, ~400 K
    // entries, took minutes on a busy machine). Chunks by the key directory, read synchronously (cached blocks); documents and
    // ids together, as getAll reads them.
    const keys: Uint8Array[] = []
    const chunks = await inSlices(entries, (e) => {
      if (e.kind === 'head') return this.chunksOf(P_HEAD, keyText(e.term, 'term', MAX_TERM_BYTES))
      if (e.kind === 'block') return this.chunksOf(P_BLOCK, keyText(e.term, 'term', MAX_TERM_BYTES), u32(e.range, 'range'))
      keys.push(e.kind === 'doc' ? docKey(u32(e.docId, 'docId')) : idKey(keyText(e.id, 'id', MAX_ID_BYTES)))
      return undefined
    })
    const values = await this.getAll(keys)
    let k = 0
    for (const c of chunks) {
      if (c !== undefined) { for (const [key, value] of c) b.raw(key, value); continue }
      const value = values[k]; const key = keys[k++]
      if (value !== undefined) b.raw(key, value)
    }
    return b
  }

  /** The folder's size as last measured, and when (membership announces stats every few seconds). */
  private measured = { at: -Infinity, bytes: 0 }

  async stats (): Promise<ShardStats> {
    // the folder, not db.approximateSize: that one leaves out the write-ahead log and memtable, all of a young store;
    // measured at most every STATS_BYTES_MS (a stat per LevelDB file)
    if (performance.now() - this.measured.at >= STATS_BYTES_MS) {
      const folder = join(this.path, 'shard')
      let bytes = 0
      for (const f of await readdir(folder)) bytes += await stat(join(folder, f)).then((st) => st.isFile() ? st.size : 0, () => 0)
      this.measured = { at: performance.now(), bytes }
    }
    // a term held both as a rare record and as head chunks (a later publish added to it) counts twice in `heads`
    return { heads: this.headKeys.size + this.rare.counts.records, blocks: this.blockKeys.size, ...this.counts, postings: this.counts.postings + this.rare.counts.postings, bytes: this.measured.bytes }
  }
}

/** A stored view; one that does not parse is treated as never stored (repair then takes the current view, as on a first start). */
function parsePlacedFor (bytes: Uint8Array): PlacedFor | undefined {
  try {
    const v = JSON.parse(dec.decode(bytes)) as { peers?: unknown, replicas?: unknown }
    if (!Array.isArray(v.peers) || !v.peers.every((p) => typeof p === 'string') || !Number.isInteger(v.replicas) || (v.replicas as number) < 1) return undefined
    return { peers: v.peers as string[], replicas: v.replicas as number }
  } catch {
    return undefined
  }
}
