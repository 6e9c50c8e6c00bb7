/**
 * A peer's wish list for a release (the paper's step 3): the release's
 * units minus those it already holds. "Holds" means an identical unit:
 * same name, version and architecture, and the same checksum, since a
 * rebuilt package under an unchanged version is different bytes.
 */

/** What the release document says of one of its units. */
export interface ReleaseUnitInfo {
  id: string
  name: string
  version: string
  arch?: string
  /** `sha256:<hex>` (or another type); a unit without one is always wanted. */
  checksum?: string
  bytes: number
}

/** What the peer holds: identity and checksum of each unit in its content store. */
export interface HeldUnit { name: string, version: string, arch?: string, checksum: string }

export interface WishListComputation {
  /** Units to ask for, in release order. */
  wanted: ReleaseUnitInfo[]
  /** Units already held, identical. */
  held: ReleaseUnitInfo[]
  wantedBytes: number
  heldBytes: number
}

const identity = (u: { name: string, version: string, arch?: string }): string => `${u.name}\u0000${u.version}\u0000${u.arch ?? ''}`

/**
 * Splits a release into wanted and held units. `interested` narrows the
 * release to what the peer cares about (all of it by default), e.g. the
 * packages it has installed or a query's answers.
 */
export function computeWishList (release: readonly ReleaseUnitInfo[], holdings: Iterable<HeldUnit>, interested: (u: ReleaseUnitInfo) => boolean = () => true): WishListComputation {
  const have = new Map<string, Set<string>>()
  for (const h of holdings) {
    const k = identity(h)
    let sums = have.get(k)
    if (sums === undefined) { sums = new Set(); have.set(k, sums) }
    sums.add(h.checksum.toLowerCase())
  }
  const out: WishListComputation = { wanted: [], held: [], wantedBytes: 0, heldBytes: 0 }
  for (const u of release) {
    if (!interested(u)) continue
    const identical = u.checksum !== undefined && have.get(identity(u))?.has(u.checksum.toLowerCase()) === true
    if (identical) { out.held.push(u); out.heldBytes += u.bytes } else { out.wanted.push(u); out.wantedBytes += u.bytes }
  }
  return out
}
