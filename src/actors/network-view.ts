/**
 * The roles' IndexView over the distributed index: the query engine reads
 * remote postings and documents; releases and visibility come from the
 * publisher's signed catalog; explain also says which peers served which
 * lists and how many bytes moved.
 */
import type { IndexNode, ReadTrace } from '../dht/index.ts'
import { traced } from '../dht/remote-source.ts'
import type { QueryPlan } from '../xml-twig-index/engine/query-engine.ts'
import type { ReleaseInfo, StoredDocument } from '../xml-twig-index/store/store.ts'
import type { IndexStoreView, IndexView } from '../roles/index-view.ts'

/** Per peer: requests it served for one query, keys asked, bytes moved, time spent waiting on it. */
export interface PeerReads { peer: string, requests: number, keys: number, bytes: number, ms: number, failovers: number }

export interface NetworkPlan {
  requests: ReadTrace[]
  peers: PeerReads[]
  bytes: number
  /** Index peers in the view when the query ran. */
  indexPeers: number
  catalogSeq: number
}

export type NetworkQueryPlan = QueryPlan & { network?: NetworkPlan }

export function networkView (node: IndexNode): IndexView {
  const { remote, catalog } = node
  const store: IndexStoreView = {
    get nextDocId (): number { return catalog.nextDocId },
    isLive: (docId) => catalog.isLive(docId),
    docIdOf: async (id) => await remote.docIdOf(id),
    // Look-ups made in one tick go out together, one request per holder.
    docIdsOf: async (ids) => await Promise.all(ids.map(async (id) => await remote.docIdOf(id))),
    getDocument: async (docId): Promise<StoredDocument | undefined> => (await remote.getDocuments([docId]))[0],
    getDocuments: async (docIds) => await remote.getDocuments(docIds),
    release: async (name): Promise<ReleaseInfo | undefined> => catalog.current()?.releases.find((r) => r.name === name),
    releases: async (): Promise<ReleaseInfo[]> => [...(catalog.current()?.releases ?? [])]
  }
  return {
    engine: node.engine,
    store,
    explain: async (pattern: string): Promise<NetworkQueryPlan> => {
      const { result, reads } = await traced(async () => await node.engine.explain(pattern))
      const peers = new Map<string, PeerReads>()
      for (const r of reads) {
        const p = peers.get(r.peer) ?? { peer: r.peer, requests: 0, keys: 0, bytes: 0, ms: 0, failovers: 0 }
        p.requests++; p.keys += r.keys; p.bytes += r.bytes; p.ms += r.ms; if (r.failover) p.failovers++
        peers.set(r.peer, p)
      }
      return {
        ...result,
        network: {
          requests: reads,
          peers: [...peers.values()].sort((a, b) => b.bytes - a.bytes),
          bytes: reads.reduce((n, r) => n + r.bytes, 0),
          indexPeers: node.membership.placement().size,
          catalogSeq: catalog.seq
        }
      }
    }
  }
}
