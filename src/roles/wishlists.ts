/**
 * Wish lists (the paper's flash-crowd step 3): a release's units minus what
 * this peer holds. The content store arrives with the content issue, so a
 * peer holds nothing yet and the wish list is the whole release; it is
 * recorded in DATA/state (one per release, the latest wins) for the
 * publisher-side clustering to read later.
 */
import type { WishListRecord } from './types.ts'
import { PeerError } from './errors.ts'
import type { IndexView } from './index-view.ts'
import type { Querying } from './querying.ts'
import { releaseUnits } from './records.ts'
import type { PeerState } from './state.ts'

const BATCH = 512

/** Sizes of unit documents by id (units the index lacks are absent; a unit without a size counts 0). */
export async function unitSizes (index: IndexView, ids: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (let i = 0; i < ids.length; i += BATCH) {
    // Asked together: the distributed index answers a batch in one request per holder.
    const docIds = (await Promise.all(ids.slice(i, i + BATCH).map(async (id) => await index.store.docIdOf(id)))).filter((d): d is number => d !== undefined)
    for (const d of await index.store.getDocuments(docIds)) {
      if (d === undefined) continue
      // The size element is a direct child of package and utility documents, written once by the builders.
      const m = /<size>(\d+)<\/size>/.exec(d.xml)
      out.set(d.id, m == null ? 0 : Number(m[1]))
    }
  }
  return out
}

export interface WishListsInit {
  state: PeerState
  index: IndexView
  querying: Querying
  /** Unit ids this peer already holds. Default: none (no content store yet). */
  held?: (ids: string[]) => Promise<Set<string>>
}

export class WishLists {
  constructor (private readonly init: WishListsInit) {}

  async submit (release: string): Promise<WishListRecord> {
    const r = await this.init.querying.release(release)
    if (r === undefined) throw new PeerError(`no release named '${release}'`, 'NOT_FOUND')
    const all = [...new Set(releaseUnits(r).map((u) => u.id))]
    const held = await (this.init.held?.(all) ?? Promise.resolve(new Set<string>()))
    const units = all.filter((id) => !held.has(id))
    let bytes = 0
    for (const s of (await unitSizes(this.init.index, units)).values()) bytes += s
    const record: WishListRecord = { release, units, bytes, submittedAt: new Date().toISOString(), state: 'RECORDED' }
    await this.init.state.wishLists.put(release, record)
    return record
  }

  async get (release: string): Promise<WishListRecord | undefined> {
    return await this.init.state.wishLists.get(release)
  }
}
