/**
 * The publishing role: metadata files in, a new state of a release out
 * (updates publish new versions into the current release, as in the
 * paper), and cutRelease to freeze that state under a new name.
 * Publishes are serialised: the store takes one import at a time, and
 * channel sequence numbers must follow publication order.
 */
import { SerialQueue } from '../channels/serial.ts'
import { randomBytes } from 'node:crypto'
import { mkdir, rm, stat, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { CollectionNode, PeerEvent, PeerRole, PublishProgress, PublishSource, PublishSummary, ReleaseRecord } from './types.ts'
import { PeerError } from './errors.ts'
import type { EmbeddedIndex } from '../xml-twig-index/embedded.ts'
import { buildRelease, releaseId, unitChecksum, type ReleaseEntry } from '../xml-twig-index/documents/index.ts'
import { readUnits, type ImportFormat } from '../xml-twig-index/importers/index.ts'
import type { EventBus } from './events.ts'
import type { Querying } from './querying.ts'

export type ReleaseUnit = CollectionNode['units'][number] & { collection: string[] }

/** What a publish or a cut changed: the release's units before and after (channels derive notifications from it). */
export interface ReleaseChange {
  release: ReleaseRecord
  before: ReleaseUnit[]
  after: ReleaseUnit[]
  /** Checksums ('type:hex') of units taken from their trees during the import, by id; the others' are read from their documents. */
  checksums?: ReadonlyMap<string, string>
}

export interface PublishOptions {
  release?: string
  format?: ImportFormat
  translations?: PublishSource[]
  onProgress?: (p: PublishProgress) => void
  /**
   * Runs under the publish lock once the release is committed (and
   * disseminated), before the channels are notified: the peer stores the
   * content given with the publish here, so a subscriber that downloads
   * on notification finds it held. If it throws, the notifications still
   * go out (the metadata is published) and the publish rejects with its
   * error afterwards.
   */
  beforeNotify?: (release: ReleaseRecord) => Promise<void>
}

export interface PublishingInit {
  index: EmbeddedIndex
  querying: Querying
  bus: EventBus<PeerEvent>
  /** The peer folder: uploads are written under DATA/tmp before they are read. */
  data: string
  role: PeerRole
  /**
   * Runs after each local commit, before the release is read back and
   * announced: the networked publisher sends the new postings to the index
   * peers here. It reports progress and throws when the network did not
   * take them (the publish then fails loudly).
   */
  afterCommit?: (report: (p: Pick<PublishProgress, 'phase' | 'postingsSent'>) => void) => Promise<void>
  /** Runs after each publish or cut, still under the publish lock, so notifications are numbered in publication order. */
  onReleaseChanged?: (change: ReleaseChange) => Promise<void>
  /** Rejection messages kept in a summary (the count is always exact). Default 1000. */
  maxRejections?: number
  /** Least time between two publish-progress events. Default 100 ms. */
  progressIntervalMs?: number
  /** Release used when none is given and none exists yet. Default 'main'. */
  defaultRelease?: string
}

/** Release names become document ids (`release/<name>`) and collection paths: no '/', no whitespace. */
const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$/

export function checkReleaseName (name: string): void {
  if (!RELEASE_NAME.test(name)) throw new PeerError(`invalid release name ${JSON.stringify(name)}: use letters, digits and . _ + ~ - (at most 128, starting with a letter or digit)`, 'BAD_USER_INPUT')
}

/** Units of a release tree with their collection path below the release. */
export function unitsWithCollections (r: ReleaseRecord | undefined): ReleaseUnit[] {
  if (r === undefined) return []
  const out: ReleaseUnit[] = []
  const stack = [r.root]
  while (stack.length > 0) {
    const n = stack.pop()!
    for (const u of n.units) out.push({ ...u, collection: n.path.slice(1) })
    stack.push(...n.collections)
  }
  return out
}

export class Publishing {
  /** Publishes and cuts run one at a time, so the store is never busy and channel numbers follow publication order. */
  private readonly queue = new SerialQueue()
  private readonly maxRejections: number
  private readonly progressIntervalMs: number
  private readonly defaultRelease: string

  constructor (private readonly init: PublishingInit) {
    this.maxRejections = init.maxRejections ?? 1000
    this.progressIntervalMs = init.progressIntervalMs ?? 100
    this.defaultRelease = init.defaultRelease ?? 'main'
  }

  /** Runs `send` (the networked publisher's backlog) under the publish lock, so it never interleaves with a publish. */
  async disseminateBacklog (send: () => Promise<void>): Promise<void> { await this.queue.run(send) }

  /** Resolves once no publish or cut is running (peer stop). */
  async idle (): Promise<void> { await this.queue.idle() }

  private checkRole (what: string): void {
    if (this.init.role !== 'publisher') throw new PeerError(`only a publisher can ${what}; this peer is a ${this.init.role}`, 'FORBIDDEN')
  }

  async publish (sources: PublishSource[], options: PublishOptions = {}): Promise<PublishSummary> {
    this.checkRole('publish')
    if (sources.length === 0) throw new PeerError('nothing to publish: give at least one file', 'BAD_USER_INPUT')
    if (options.release !== undefined) checkReleaseName(options.release)
    return await this.queue.run(async () => await this.publishNow(sources, options))
  }

  private async publishNow (sources: PublishSource[], options: PublishOptions): Promise<PublishSummary> {
    const { index, querying, bus } = this.init
    const release = options.release ?? await querying.latestRelease() ?? this.defaultRelease
    const tmp = join(this.init.data, 'tmp', `publish-${Date.now()}-${randomBytes(4).toString('hex')}`)
    // Messages name an upload by the caller's file name, never by its place under DATA/tmp.
    const shown = new Map<string, string>()
    const scrub = (message: string): string => {
      let out = message
      for (const [file, name] of shown) out = out.split(file).join(name)
      return out
    }
    try {
      const files = await this.materialise(sources, tmp, 'file', shown)
      const translations = await this.materialise(options.translations ?? [], tmp, 'translation', shown)
      const sizes = new Map<string, { read: number, total: number }>()
      for (const f of [...translations, ...files]) {
        const st = await stat(f)
        sizes.set(f, { read: 0, total: st.isFile() ? st.size : 0 })
      }
      let units = 0
      let lastEmit = 0
      let extra: Pick<PublishProgress, 'phase' | 'postingsSent'> = { phase: 'read' }
      const current = (): PublishProgress => {
        let bytesRead = 0; let bytesTotal = 0
        for (const s of sizes.values()) { bytesRead += s.read; bytesTotal += s.total }
        return { bytesRead, bytesTotal, units, ...extra }
      }
      const report = (force: boolean): void => {
        const now = performance.now()
        if (!force && now - lastEmit < this.progressIntervalMs) return
        lastEmit = now
        const progress = current()
        options.onProgress?.(progress)
        bus.publish({ type: 'publish-progress', release, progress })
      }
      const rejections: string[] = []
      const t0 = performance.now()
      const before = unitsWithCollections(await querying.release(release))
      // Notifications carry each unit's checksum: taken here while its tree is at hand (reading R1's 63,440 documents back for
      // them was ~1.5 s of a publish's notify step).
      const checksums = new Map<string, string>()
      const summary = await index.import(readUnits(files, {
        format: options.format,
        translations,
        onProgress: (p) => { sizes.set(p.file, { read: p.bytesRead, total: p.bytesTotal }); report(false) }
      }), {
        release,
        onRejected: (r) => { if (rejections.length < this.maxRejections) rejections.push(scrub(r.error.message)) },
        onImported: (u) => { const sum = unitChecksum(u.root); if (sum !== undefined) checksums.set(u.id, sum); else checksums.delete(u.id) },
        onUnits: (n) => { units = n; report(false) }
      })
      report(true)
      const tImported = performance.now()
      await this.init.afterCommit?.((p) => { extra = p; report(true) })
      const tIndexed = performance.now()
      extra = { phase: 'done', postingsSent: extra.postingsSent }
      report(true)
      const record = await querying.release(release)
      if (record === undefined) throw new Error(`release ${release} vanished after its import`)
      const result: PublishSummary = { ...summary, rejections }
      let failed: { error: unknown } | undefined
      try { await options.beforeNotify?.(record) } catch (error) { failed = { error } }
      const tContent = performance.now()
      await this.init.onReleaseChanged?.({ release: record, before, after: unitsWithCollections(record), checksums })
      const tNotified = performance.now()
      result.times = {
        importSeconds: (tImported - t0) / 1000,
        indexSeconds: (tIndexed - tImported) / 1000,
        contentSeconds: (tContent - tIndexed) / 1000,
        notifySeconds: (tNotified - tContent) / 1000,
        totalSeconds: (tNotified - t0) / 1000
      }
      bus.publish({ type: 'release-published', release: record, summary: result })
      if (failed !== undefined) throw failed.error
      return result
    } catch (err) {
      if (err instanceof Error && shown.size > 0) err.message = scrub(err.message)
      throw err
    } finally {
      await rm(tmp, { recursive: true, force: true })
    }
  }

  /**
   * Paths are read in place (checked first, so a typo is the caller's error,
   * not an import failure); uploads are written to DATA/tmp since the
   * importers read files (decompression, format sniffing, .deb/.rpm archives).
   */
  private async materialise (sources: PublishSource[], tmp: string, label: string, shown: Map<string, string>): Promise<string[]> {
    const out: string[] = []
    for (const [i, s] of sources.entries()) {
      if (s.kind === 'path') {
        try { await stat(s.path) } catch { throw new PeerError(`no such file or directory: ${s.path}`, 'BAD_USER_INPUT') }
        out.push(s.path)
      } else {
        await mkdir(tmp, { recursive: true })
        // The name keeps its extension (.xz, .gz, .deb, .rpm guide the importers) but never a directory part.
        const safe = basename(s.name).replace(/[^A-Za-z0-9._+~-]/g, '_').slice(-120) || 'upload'
        const file = join(tmp, `${label}-${i}-${safe}`)
        await writeFile(file, await s.bytes(), { mode: 0o600 })
        shown.set(file, `upload ${safe}`)
        out.push(file)
      }
    }
    return out
  }

  /** A new release with the composition of `from` (default: the most recent release); it becomes the current release. */
  async cutRelease (name: string, from?: string): Promise<ReleaseRecord> {
    this.checkRole('cut a release')
    checkReleaseName(name)
    return await this.queue.run(async () => {
      const { index, querying, bus } = this.init
      const t0 = performance.now()
      if (await index.store.release(name) !== undefined) throw new PeerError(`release '${name}' exists already`, 'CONFLICT')
      const source = from ?? await querying.latestRelease()
      if (source === undefined) throw new PeerError('no release to cut from: publish one first', 'NOT_FOUND')
      const sourceRecord = await querying.release(source)
      if (sourceRecord === undefined) throw new PeerError(`no release named '${source}'`, 'NOT_FOUND')
      const entries: ReleaseEntry[] = unitsWithCollections(sourceRecord).map((u) => ({ kind: u.kind, name: u.name, version: u.version, arch: u.arch, collection: u.collection }))
      const version = '1'
      const date = new Date().toISOString().slice(0, 10)
      const root = buildRelease({ name, version, date, entries })
      const postings = await index.store.transaction(async (tx) => {
        const docId = await tx.add({ id: releaseId(name), root })
        tx.setRelease({ name, docId, version, date, units: entries.length })
        return tx.postings
      })
      await this.init.afterCommit?.(() => {})
      const record = await querying.release(name)
      if (record === undefined) throw new Error(`release ${name} vanished after it was cut`)
      await this.init.onReleaseChanged?.({ release: record, before: [], after: unitsWithCollections(record) })
      const summary: PublishSummary = { release: name, units: record.units, rejected: 0, replaced: 0, postings, seconds: (performance.now() - t0) / 1000, rejections: [] }
      bus.publish({ type: 'release-published', release: record, summary })
      return record
    })
  }
}
