/**
 * The content side of publishing and of the API's live fields: attaching
 * real files to published units (a file is matched to units by its
 * sha256, so names and folder layout do not matter and a file that no
 * unit names is reported, never stored), a unit's torrent, its replicas
 * and download statistics per unit and per release.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { ContentStatsRecord, PublishSource, TorrentRecord } from './types.ts'
import type { IndexView } from './index-view.ts'
import type { Querying } from './querying.ts'
import { PeerError } from './errors.ts'
import { sha256Of, unitContentOf } from './downloads.ts'
import { unitsWithCollections } from './publishing.ts'
import { sha256File, type ContentNode } from '../torrents/index.ts'

export interface ContentRoleInit {
  content: ContentNode
  index: IndexView
  querying: Querying
  /** Scratch folder for uploaded content (DATA/tmp). */
  tmp: string
}

/** Checksums OR-ed into one query when matching files to units. */
const SHA_BATCH = 64

export interface AttachSummary { stored: number, unmatched: string[] }

/** Every regular file under a path (a file, or a folder walked depth-first), bounded. */
async function walk (path: string, out: string[], limit: number): Promise<void> {
  const st = await stat(path).catch(() => undefined)
  if (st === undefined) throw new PeerError(`content path '${path}' does not exist`, 'BAD_USER_INPUT')
  if (st.isFile()) { out.push(path); return }
  if (!st.isDirectory()) return
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (out.length >= limit) throw new PeerError(`more than ${limit} content files under '${path}'`, 'BAD_USER_INPUT')
    if (e.name.startsWith('.')) continue
    await walk(join(path, e.name), out, limit)
  }
}

export class ContentRole {
  constructor (private readonly init: ContentRoleInit) {}

  /**
   * The package and utility documents whose sha256 is one of these, by
   * sha256. Asked in batches of OR-ed checksums: on a mirror or a client
   * every question is a distributed query, so one per file would cost a
   * network round per file.
   */
  private async unitsWithShas (shas: string[]): Promise<Map<string, Array<{ id: string, xml: string }>>> {
    const out = new Map<string, Array<{ id: string, xml: string }>>()
    const unique = [...new Set(shas)].filter((s) => /^[0-9a-f]{64}$/.test(s))
    for (let i = 0; i < unique.length; i += SHA_BATCH) {
      const batch = unique.slice(i, i + SHA_BATCH)
      const test = batch.map((sha) => `checksum = "${sha}"`).join(' or ')
      for (const kind of ['package', 'utility']) {
        const { nodes } = await this.init.index.engine.answers(`/${kind}[${test}]`)
        const docIds = [...new Set(nodes.docs.subarray(0, nodes.length))]
        for (const d of await this.init.index.store.getDocuments(docIds)) {
          if (d === undefined) continue
          const sha = sha256Of(d.xml)
          if (sha === undefined) continue
          const list = out.get(sha)
          if (list === undefined) out.set(sha, [d]); else list.push(d)
        }
      }
    }
    return out
  }

  /** Stores and seeds the files that published units name (by sha256). */
  async attach (sources: PublishSource[], limit = 100_000): Promise<AttachSummary> {
    const files: Array<{ path: string, label: string, temp: boolean }> = []
    await mkdir(this.init.tmp, { recursive: true })
    const summary: AttachSummary = { stored: 0, unmatched: [] }
    try {
      for (const s of sources) {
        if (s.kind === 'path') {
          const found: string[] = []
          await walk(s.path, found, limit)
          for (const f of found) files.push({ path: f, label: f, temp: false })
        } else {
          const tmp = join(this.init.tmp, `content-${randomUUID()}`)
          await writeFile(tmp, await s.bytes())
          files.push({ path: tmp, label: s.name, temp: true })
        }
      }
      const hashed = []
      for (const f of files) hashed.push({ ...f, sha256: (await sha256File(f.path)).sha256 })
      const bySha = await this.unitsWithShas(hashed.map((f) => f.sha256))
      for (const f of hashed) {
        const units = bySha.get(f.sha256) ?? []
        if (units.length === 0) { summary.unmatched.push(f.label); continue }
        for (const u of units) {
          await this.init.content.putFile(f.path, unitContentOf(u), 'publish')
          summary.stored++
        }
      }
      return summary
    } finally {
      for (const f of files) if (f.temp) await rm(f.path, { force: true })
    }
  }

  async torrent (unitId: string): Promise<TorrentRecord | undefined> {
    const t = await this.init.content.torrentOf(unitId)
    return t === undefined ? undefined : { infoHash: t.infoHash, magnetURI: t.magnetURI, ...(t.url !== undefined ? { url: t.url } : {}) }
  }

  /** Holders of the unit's content: this peer first when it holds it, then provider records. */
  async replicas (unitId: string, self: string): Promise<string[]> {
    const docId = await this.init.index.store.docIdOf(unitId)
    const doc = docId === undefined ? undefined : await this.init.index.store.getDocument(docId)
    if (doc === undefined) return []
    let unit
    try { unit = unitContentOf(doc) } catch { return [] }
    const out = new Set<string>()
    if (await this.init.content.store.has(unit.sha256)) out.add(self)
    for (const p of await this.init.content.replicas(unit, AbortSignal.timeout(5000)).catch(() => [])) out.add(p)
    return [...out]
  }

  async stats (scope: { unitId: string } | { release: string }): Promise<ContentStatsRecord> {
    let ids: string[]
    if ('unitId' in scope) ids = [scope.unitId]
    else {
      const r = await this.init.querying.release(scope.release)
      if (r === undefined) throw new PeerError(`no release named '${scope.release}'`, 'NOT_FOUND')
      ids = unitsWithCollections(r).map((u) => u.id)
    }
    const total: ContentStatsRecord = { downloads: 0, bytesDownloaded: 0, bytesUploaded: 0, held: 0 }
    for (const id of ids) {
      const s = await this.init.content.stats(id)
      total.downloads += s.downloads
      total.bytesDownloaded += s.bytesDownloaded
      total.bytesUploaded += s.bytesUploaded
      if (await this.init.content.has(id)) total.held++
    }
    return total
  }
}
