/**
 * What the roles read of an index: the query engine and the documents and
 * releases it answers over. The embedded index is one (its TwigStore has
 * all of it); the distributed index is another (remote postings and
 * documents, releases from the publisher's signed catalog). Roles never
 * know which.
 */
import type { QueryEngine, QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import type { ReleaseInfo, StoredDocument } from '../xml-twig-index/store/store.ts'

export interface IndexStoreView {
  /** Moves forward with every committed import: caches keyed by it stay valid for one index state. */
  readonly nextDocId: number
  isLive: (docId: number) => boolean
  docIdOf: (id: string) => Promise<number | undefined>
  /** docIdOf of each id, in order (one store read, or one request per holder). */
  docIdsOf: (ids: readonly string[]) => Promise<Array<number | undefined>>
  getDocument: (docId: number) => Promise<StoredDocument | undefined>
  getDocuments: (docIds: number[]) => Promise<Array<StoredDocument | undefined>>
  /**
   * The stored records of docIds (the UTF-8 of id, a 00 byte, the XML),
   * where the store holds them itself (TwigStore): a caller that needs a
   * few bytes of each of many documents reads them without decoding every
   * text.
   */
  getDocumentRecords?: (docIds: number[]) => Promise<Array<Uint8Array | undefined>>
  release: (name: string) => Promise<ReleaseInfo | undefined>
  releases: () => Promise<ReleaseInfo[]>
}

export interface IndexView {
  readonly engine: QueryEngine
  readonly store: IndexStoreView
  explain: (pattern: string) => Promise<QueryPlan>
}
