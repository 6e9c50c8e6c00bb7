import { buildRelease, releaseEntryKey, releaseId, type ImportedUnit, type ReleaseEntry, type UnitRejection } from './documents/index.ts'
import { QueryEngine, type QueryOptions, type QueryPage, type QueryPlan } from './engine/query-engine.ts'
import { TwigStore, type StoreTransaction, type StoreStats, type StoredDocument, type TwigStoreInit } from './store/store.ts'
import { parseXml } from './xml/parse.ts'
import { serialize } from './xml/serialize.ts'
import type { XElement } from './xml/tree.ts'
import { NotFoundError } from './errors.ts'

export interface ImportOptions {
  /** Release the units belong to; its release document is created or updated. */
  release: string
  /** Called for each unit that failed validation (the import goes on without it). */
  onRejected?: (r: UnitRejection) => void
  /** Called for each unit taken (validated, added to the import), with its tree: a caller keeps what it needs of it, never the tree. */
  onImported?: (unit: ImportedUnit) => void
  /** Called every `progressEvery` units with the running count. */
  onUnits?: (units: number) => void
  signal?: AbortSignal
  /** Date written on the release document. Default: today (UTC). */
  date?: string
}

export interface ImportSummary {
  release: string
  units: number
  rejected: number
  replaced: number
  postings: number
  seconds: number
}

/**
 * The embedded engine: a twig store plus its query engine in one process,
 * the default a newcomer runs and what every index peer holds locally.
 */
export class EmbeddedIndex {
  readonly engine: QueryEngine

  private constructor (readonly store: TwigStore) {
    this.engine = new QueryEngine(store, store)
  }

  static async open (init: TwigStoreInit): Promise<EmbeddedIndex> {
    return new EmbeddedIndex(await TwigStore.open(init))
  }

  /**
   * Imports units atomically and updates the release document: the release
   * keeps its earlier units and takes the new ones, a unit with the same
   * kind, name and arch replacing the earlier version (as updates do).
   */
  async import (units: AsyncIterable<ImportedUnit | UnitRejection> | Iterable<ImportedUnit | UnitRejection>, options: ImportOptions): Promise<ImportSummary> {
    const t0 = performance.now()
    let rejected = 0
    const entries = new Map<string, ReleaseEntry>()
    const previous = await this.store.release(options.release)
    if (previous !== undefined) {
      const doc = await this.store.getDocument(previous.docId)
      if (doc !== undefined) for (const e of releaseEntries(parseXml(doc.xml, { where: doc.id }))) entries.set(releaseEntryKey(e), e)
    }
    const before = this.store.documentCount
    let committed: StoreTransaction | undefined
    const result = await this.store.transaction(async (tx) => {
      committed = tx
      let n = 0
      for await (const u of units) {
        options.signal?.throwIfAborted()
        if (u.kind === 'rejected') { rejected++; options.onRejected?.(u); continue }
        await tx.add({ id: u.id, root: u.root })
        options.onImported?.(u)
        entries.set(releaseEntryKey(u), { kind: u.kind, name: u.name, version: u.version, arch: u.arch, collection: u.collection })
        if (++n % 1000 === 0) options.onUnits?.(n)
      }
      options.onUnits?.(n)
      const version = String(Number(previous?.version ?? '0') + 1)
      const date = options.date ?? new Date().toISOString().slice(0, 10)
      const root = buildRelease({ name: options.release, version, date, entries: [...entries.values()] })
      const docId = await tx.add({ id: releaseId(options.release), root })
      tx.setRelease({ name: options.release, docId, version, date, units: entries.size })
      return { units: n }
    })
    return {
      release: options.release,
      units: result.units,
      rejected,
      replaced: before + result.units + (previous === undefined ? 1 : 0) - this.store.documentCount,
      // Read after the commit: a worker thread may still have been counting postings when `fill` returned.
      postings: committed?.postings ?? 0,
      seconds: (performance.now() - t0) / 1000
    }
  }

  /** Adds documents given as XML text (each parsed, bounded and checked first). */
  async importXml (docs: Array<{ id: string, xml: string }>): Promise<number> {
    const parsed = docs.map((d) => ({ id: d.id, root: parseXml(d.xml, { where: d.id }) }))
    return await this.store.transaction(async (tx) => {
      for (const d of parsed) await tx.add({ id: d.id, root: d.root, xml: serialize(d.root) })
      return parsed.length
    })
  }

  async query (pattern: string, options?: QueryOptions): Promise<QueryPage & { plan: QueryPlan }> {
    return await this.engine.query(pattern, options)
  }

  async explain (pattern: string): Promise<QueryPlan> {
    return await this.engine.explain(pattern)
  }

  /** Documents by id (all live documents in docId order when `ids` is empty). */
  async * export (ids: string[] = []): AsyncGenerator<StoredDocument> {
    if (ids.length === 0) { yield * this.store.documents(); return }
    for (const id of ids) {
      const docId = await this.store.docIdOf(id)
      const doc = docId === undefined ? undefined : await this.store.getDocument(docId)
      if (doc === undefined) throw new NotFoundError(`no document with id '${id}'`)
      yield doc
    }
  }

  async stats (): Promise<StoreStats> { return await this.store.stats() }
  async close (): Promise<void> { await this.store.close() }
}

/** Reads the leaves of a release document back as entries, with their collection path. */
export function releaseEntries (root: XElement): ReleaseEntry[] {
  const out: ReleaseEntry[] = []
  const visit = (el: XElement, path: string[]): void => {
    for (const c of el.children) {
      if (c.kind !== 'element') continue
      const attr = (n: string): string | undefined => c.attributes.find((a) => a.name === n)?.value
      if (c.name === 'collection') visit(c, [...path, attr('name') ?? ''])
      else if (c.name === 'package' || c.name === 'utility') {
        out.push({ kind: c.name, name: attr('name') ?? '', version: attr('version') ?? '', arch: attr('arch'), collection: path })
      }
    }
  }
  visit(root, [])
  return out
}
