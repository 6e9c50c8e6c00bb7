import type { ClassicLevel } from 'classic-level'
import { idKey, readU32be, releaseKey, tombstoneKey, u32be } from './keys.ts'
import type { ImportWriter } from './writer.ts'
import type { Manifest, NewDocument, ReleaseInfo, TwigStore } from './store.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

const enc = new TextEncoder()

/**
 * The open side of an atomic import. Documents go to the writer (invisible
 * until commit); ids, replacements and releases are decided at commit.
 */
export class StoreTransaction {
  private readonly ids = new Map<string, number>()
  private readonly replaced: number[] = []
  private readonly releaseInfos: ReleaseInfo[] = []

  constructor (private readonly store: TwigStore, private readonly db: Db, private readonly writer: ImportWriter) {}

  /** Adds (or replaces) a document; returns its new docId. Earlier versions are found at commit, in one batched read. */
  async add (doc: NewDocument): Promise<number> {
    const earlier = this.ids.get(doc.id)
    if (earlier !== undefined) this.replaced.push(earlier)
    const docId = await this.writer.add(doc.id, doc.root, doc.xml)
    this.ids.set(doc.id, docId)
    return docId
  }

  /** Live documents of earlier imports that this one replaces. */
  private async earlierVersions (): Promise<number[]> {
    const out: number[] = []
    // A store without live documents has none to replace: the first import of a store looks up nothing.
    if (this.store.liveDocuments() === 0) return out
    const ids = [...this.ids.keys()]
    for (let i = 0; i < ids.length; i += 4096) {
      const values = await this.db.getMany(ids.slice(i, i + 4096).map(idKey))
      for (const v of values) {
        if (v === undefined) continue
        const d = readU32be(v, 0)
        if (this.store.isLive(d)) out.push(d)
      }
    }
    return out
  }

  setRelease (info: ReleaseInfo): void { this.releaseInfos.push(info) }

  get postings (): number { return this.writer.postings }
  get documents (): number { return this.ids.size }

  /** @internal waits for the writer's write in flight (an abandoned import) */
  async settle (): Promise<void> { await this.writer.settle() }

  /** @internal */
  async commit (): Promise<void> {
    await this.writer.finish()
    this.replaced.push(...await this.earlierVersions())
    const m = this.store.currentManifest()
    const ops: Array<{ type: 'put' | 'del', key: Uint8Array, value?: Uint8Array }> = []
    for (const [id, docId] of this.ids) ops.push({ type: 'put', key: idKey(id), value: u32be(docId) })
    for (const d of this.replaced) ops.push({ type: 'put', key: tombstoneKey(d), value: new Uint8Array(0) })
    for (const r of this.releaseInfos) ops.push({ type: 'put', key: releaseKey(r.name), value: enc.encode(JSON.stringify(r)) })
    const next: Manifest = {
      format: 2,
      runs: [...m.runs, ...this.writer.runs],
      nextDocId: this.writer.nextDoc,
      live: m.live + this.ids.size - this.replaced.filter((d) => d < m.nextDocId).length,
      postings: m.postings + this.writer.postings,
      imports: m.imports + 1
    }
    await this.store.applyCommit(ops, next, this.replaced)
  }
}
