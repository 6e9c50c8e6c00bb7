/**
 * Contracts of the distributed index (KadoP on libp2p). The pieces:
 *
 *   placement.ts   keys (texts' UTF-8, kad ids their sha256) and the r closest index peers by XOR, computed locally
 *   trust.ts       the publisher key as root: mirror certificates, signed batches, replay guard
 *   wire.ts        frames on the custom protocols: a JSON header plus binary parts
 *   shard-store.ts what one index peer holds (LevelDB): posting chunks, term heads, documents,
 *                  id map, the signed catalog
 *   bloom.ts       Bloom filters as semi-join reducers
 *   host.ts        the libp2p host (TCP, noise, yamux, identify, ping, kad-dht, gossipsub)
 *   membership.ts  the set of index peers every peer keeps (gossip announcements + certificates)
 *   protocols.ts   /edos/postings/1.0.0 and /edos/docs/1.0.0 servers
 *   remote-source.ts the engine's PostingSource/DocumentSource over the network
 *   dissemination.ts the publisher pushing a committed import to the index peers
 *   repair.ts      churn: keys move to their new closest set
 *
 * A posting list of one term is split by docId range (RANGE_DOCS docs per
 * range, fixed network-wide by the catalog): the unit of placement is a
 * block key (term, range). A term's head (its ranges with sizes) is placed
 * by the term alone, so planning asks one peer per term.
 */

import type { PostingList } from '../xml-twig-index/postings/codec.ts'

/** Kinds of placement keys. */
export type KeyKind = 'head' | 'block' | 'doc' | 'id'

/** Default docIds per range of a long posting list. */
export const DEFAULT_RANGE_DOCS = 8192

/** Default replication factor r. */
export const DEFAULT_REPLICAS = 3

/** Sizes of one term within one docId range. */
export interface RangeStats {
  range: number
  postings: number
  docs: number
  /**
   * The range's last doc over its chunks. Two replicas that hold different
   * chunks of a range (one missed a publish, another a repair) can count
   * the same postings; they differ here.
   */
  lastDoc?: number
  /**
   * Postings of the range that travel in the head (chunks of at most
   * INLINE_POSTINGS, shard-keys.ts), sorted by (doc, start). When they are
   * all `postings`, the range has no block to read.
   */
  inline?: PostingList
}

/** A term's head: its ranges with sizes (the planner's input). */
export interface TermHead {
  term: string
  ranges: RangeStats[]
}

/**
 * A release as the catalog lists it (the same fields as the embedded
 * store's ReleaseInfo).
 */
export interface CatalogRelease {
  name: string
  docId: number
  version: string
  date: string
  units: number
}

/**
 * The network-wide state of the index, signed by the publisher and held
 * by every index peer: only docIds below `nextDocId` and not in `dead`
 * are visible, so a publish becomes visible at once when its catalog is
 * stored, and a half-sent publish is invisible.
 */
export interface Catalog {
  /** Increases by one per committed publish. */
  seq: number
  /** Publisher peer id (its Ed25519 public key is the root of trust). */
  publisher: string
  nextDocId: number
  live: number
  postings: number
  rangeDocs: number
  replicas: number
  releases: CatalogRelease[]
  /** Replaced or removed docIds, sorted. */
  dead: number[]
  /** ISO date of the publish. */
  date: string
  /**
   * How keys are placed (placement.ts PLACEMENT_SCHEME); absent from the
   * catalogs of scheme 1, whose keys were sha256 digests of their texts. A
   * publisher that finds an older scheme publishes everything again, so
   * that every key is where readers now look for it.
   */
  placement?: number
}

/** A mirror certificate: the publisher's signature over the mirror's peer id, with an expiry. */
export interface MirrorCertificate {
  publisher: string
  mirror: string
  /** ISO time after which the certificate is no longer valid. */
  expires: string
  /** ISO time of issue. */
  issued: string
  /** base64url Ed25519 signature by the publisher over the canonical bytes of the fields above. */
  signature: string
}

/** A document as index peers hold it. */
export interface HeldDocument {
  docId: number
  id: string
  xml: string
}
