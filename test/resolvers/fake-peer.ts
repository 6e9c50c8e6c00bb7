/**
 * An in-memory PeerApi for the resolver unit tests (a fake of the layer
 * below, as DESIGN.md allows): a handful of packages with relations, one
 * release, channels with a log, downloads and an event bus. Patterns are not
 * evaluated: `//package/name` and `//package[section = "X"]/name` are
 * understood, anything with `///` or `[[` is a parse error, the rest match
 * nothing. It records what it was asked so tests can check the plumbing.
 */
import { QueryParseError } from '../../src/xml-twig-index/errors.ts'
import { InvalidCursorError } from '../../src/xml-twig-index/engine/query-engine.ts'
import type { QueryPlan } from '../../src/xml-twig-index/engine/query-engine.ts'
import type { MirrorAdmission } from '../../src/actors/types.ts'
import { PeerError } from '../../src/actors/errors.ts'
import {
  RELATION_KINDS, type ChannelRecord, type DownloadRecord, type MatchRecord, type NotificationRecord, type PackageFilter, type PackageRecord,
  type Page, type PeerApi, type PeerEvent, type PeerInfo, type PublishProgress, type PublishSource, type PublishSummary, type RelationClause,
  type RelationInfo, type RelationKind, type ReleaseRecord, type Satisfier, type UtilityRecord, type WishListRecord, type FlashCrowdStatus
} from '../../src/actors/types.ts'

type Deps = Partial<Record<RelationKind, RelationClause[]>>

function pkg (docId: number, name: string, version: string, fields: Partial<PackageRecord> & { deps?: Deps } = {}): PackageRecord {
  const relations = Object.fromEntries(RELATION_KINDS.map((k) => [k, fields.deps?.[k] ?? []])) as Record<RelationKind, RelationClause[]>
  const { deps: _deps, ...rest } = fields
  return {
    docId, id: `pkg/${name}/${version}/amd64`, name, version, arch: 'amd64', files: [], tags: [], relations,
    xml: `<package><name>${name}</name><version>${version}</version><arch>amd64</arch></package>`, section: 'misc', size: 1000 * docId, ...rest
  }
}

const one = (name: string, op?: RelationInfo['op'], version?: string): RelationClause => ({ alternatives: [{ name, ...(op !== undefined ? { op, version } : {}) }] })

/** A queue-backed async iterable that ends when `signal` aborts. */
export class Feed<T> {
  private readonly listeners = new Set<(item: T) => void>()
  push (item: T): void { for (const l of this.listeners) l(item) }
  get size (): number { return this.listeners.size }
  async * iterate (signal: AbortSignal, backlog: T[] = []): AsyncGenerator<T> {
    const queue = [...backlog]
    let wake: (() => void) | undefined
    const listener = (item: T): void => { queue.push(item); wake?.() }
    const onAbort = (): void => wake?.()
    this.listeners.add(listener)
    signal.addEventListener('abort', onAbort)
    try {
      while (!signal.aborted) {
        if (queue.length > 0) { yield queue.shift() as T; continue }
        await new Promise<void>((resolve) => { wake = resolve })
        wake = undefined
      }
    } finally {
      this.listeners.delete(listener)
      signal.removeEventListener('abort', onAbort)
    }
  }
}

export class FakePeer implements PeerApi {
  readonly info: PeerInfo = { id: '12D3KooWFake', role: 'publisher', addresses: ['/ip4/127.0.0.1/tcp/4001'], graphql: 'http://127.0.0.1:4000/graphql' }
  readonly packageList: PackageRecord[] = [
    pkg(1, 'libc6', '2.36-9', { section: 'libs', summary: 'GNU C Library: Shared libraries', description: 'Contains the standard libraries' }),
    pkg(2, 'nano', '7.2-1', { section: 'editors', summary: 'small, friendly text editor', deps: { depends: [one('libc6', '>=', '2.34')], provides: [one('editor')] } }),
    pkg(3, 'vim', '2:9.0.1378-2', {
      section: 'editors', summary: 'Vi IMproved - enhanced vi editor', description: 'Vim is an almost compatible version of the UNIX editor Vi.',
      checksum: { type: 'sha256', value: 'ab'.repeat(32) }, tags: ['role::program', 'use::editing'], priority: 'optional',
      deps: { depends: [one('libc6', '>=', '2.34'), { alternatives: [{ name: 'vim-common' }, { name: 'vim-tiny' }] }], suggests: [one('editor')] }
    }),
    pkg(4, 'vim-common', '2:9.0.1378-2', { section: 'editors' }),
    pkg(5, 'zsh', '5.9-4', { section: 'shells', size: 5_000_000_000, deps: { depends: [one('libc6', '>=', '2.99')] } })
  ]

  readonly utility: UtilityRecord = { docId: 6, id: 'util/install.sh/1', name: 'install.sh', version: '1', xml: '<utility><name>install.sh</name></utility>' }
  readonly releaseList: ReleaseRecord[] = [{
    name: 'bookworm', version: '12', date: '2023-06-10', units: 6, docId: 7, id: 'release/bookworm',
    root: {
      name: 'bookworm', path: ['bookworm'], units: [],
      collections: [
        { name: 'editors', path: ['bookworm', 'editors'], collections: [], units: this.packageList.filter((p) => p.section === 'editors').map((p) => ({ kind: 'package' as const, name: p.name, version: p.version, arch: p.arch, id: p.id })) },
        { name: 'tools', path: ['bookworm', 'tools'], collections: [], units: [{ kind: 'utility', name: 'install.sh', version: '1', id: 'util/install.sh/1' }] }
      ]
    }
  }]

  readonly channelMap = new Map<string, ChannelRecord & { log: NotificationRecord[], feed: Feed<NotificationRecord> }>()
  readonly downloadMap = new Map<string, DownloadRecord & { feed: Feed<DownloadRecord> }>()
  readonly bus = new Feed<PeerEvent>()
  /** What the tests inspect. */
  readonly calls: Array<{ op: string, args: unknown[] }> = []
  aborted = 0
  /** Set to make the next call of this op throw (e.g. an internal error). */
  failNext?: { op: string, error: unknown }

  constructor () {
    this.channelMap.set('releases', { name: 'releases', description: 'New releases', createdAt: '2024-01-01T00:00:00Z', lastSeq: 0, log: [], feed: new Feed() })
  }

  private note (op: string, ...args: unknown[]): void {
    this.calls.push({ op, args })
    if (this.failNext?.op === op) { const e = this.failNext.error; this.failNext = undefined; throw e }
  }

  authenticate = (token: string | undefined): boolean => token === 'secret'

  private page<T> (all: T[], first: number, after?: string): Page<T> {
    let start = 0
    if (after !== undefined) {
      const m = /^i(\d+)$/.exec(Buffer.from(after, 'base64url').toString())
      if (m == null) throw new InvalidCursorError(after)
      start = Number(m[1]) + 1
    }
    const items = all.slice(start, start + first).map((node, i) => ({ node, cursor: Buffer.from(`i${start + i}`).toString('base64url') }))
    return { items, total: all.length, startCursor: items[0]?.cursor ?? null, endCursor: items.at(-1)?.cursor ?? null, hasNextPage: start + first < all.length, hasPreviousPage: start > 0 }
  }

  search = async (pattern: string, first: number, after?: string): Promise<Page<MatchRecord>> => {
    this.note('search', pattern, first, after)
    const bad = pattern.indexOf('///') >= 0 ? pattern.indexOf('///') + 2 : pattern.indexOf('[[') >= 0 ? pattern.indexOf('[[') + 1 : -1
    if (bad >= 0) throw new QueryParseError(`unexpected character at ${bad}`, bad, 'a name test')
    const section = /^\/\/package\[section = "([^"]*)"\]\/name$/.exec(pattern)?.[1]
    const all = pattern === '//package/name' || section !== undefined ? this.packageList.filter((p) => section === undefined || p.section === section) : []
    const matches = all.map((p) => ({ docId: p.docId, doc: p.id, path: '/package[1]/name[1]', xml: `<name>${p.name}</name>`, cursor: '' }))
    return this.page(matches, first, after)
  }

  explain = async (pattern: string): Promise<QueryPlan> => {
    this.note('explain', pattern)
    if (pattern.includes('[[')) throw new QueryParseError('bad', pattern.indexOf('[[') + 1, 'a path')
    return { pattern, strategy: 'postings', terms: [{ term: 'e:package', postings: 5, docs: 5, blocks: 1 }], candidateDocs: 5, verifiedDocs: 0, reads: [{ term: 'e:package', postings: 5, ms: 0.1 }], answers: 5, ms: { plan: 0.1, candidates: 0.2, join: 0.3, verify: 0, total: 0.6 } }
  }

  compileFilter = (where: PackageFilter): string => `//package${where.section !== undefined ? `[section = "${where.section}"]` : ''}`

  packages = async (where: PackageFilter, first: number, after?: string): Promise<Page<PackageRecord>> => {
    this.note('packages', where, first, after)
    const inRelease = where.release === undefined ? undefined : this.releaseList.find((r) => r.name === where.release)
    if (where.release !== undefined && inRelease === undefined) throw new PeerError(`no release '${where.release}'`, 'NOT_FOUND')
    const all = this.packageList.filter((p) =>
      (where.name === undefined || p.name === where.name) &&
      (where.nameStartsWith === undefined || p.name.startsWith(where.nameStartsWith)) &&
      (where.section === undefined || p.section === where.section) &&
      (where.dependsOn === undefined || p.relations.depends.some((c) => c.alternatives.some((a) => a.name === where.dependsOn))) &&
      (where.minSize === undefined || (p.size ?? 0) >= where.minSize) &&
      (where.maxSize === undefined || (p.size ?? 0) <= where.maxSize) &&
      (where.words ?? []).every((w) => `${p.summary ?? ''} ${p.description ?? ''}`.toLowerCase().split(/\W+/).includes(w.toLowerCase())) &&
      (inRelease === undefined || p.section === 'editors'))
    return this.page(all, first, after)
  }

  package = async (name: string, version?: string, arch?: string): Promise<PackageRecord | undefined> => {
    this.note('package', name, version, arch)
    return this.packageList.find((p) => p.name === name && (version === undefined || p.version === version) && (arch === undefined || p.arch === arch))
  }

  document = async (id: string): Promise<PackageRecord | UtilityRecord | ReleaseRecord | undefined> => {
    this.note('document', id)
    return this.packageList.find((p) => p.id === id) ?? (this.utility.id === id ? this.utility : undefined) ?? this.releaseList.find((r) => r.id === id)
  }

  satisfiers = async (_pkg: PackageRecord, relation: RelationInfo): Promise<Satisfier[]> => {
    this.note('satisfiers', relation.name)
    const out: Satisfier[] = []
    for (const p of this.packageList) {
      // Plain string comparison stands in for Debian version ordering here.
      if (p.name === relation.name && (relation.op !== '>=' || p.version >= (relation.version ?? ''))) out.push({ package: p, via: 'name' })
      else if (p.relations.provides.some((c) => c.alternatives.some((a) => a.name === relation.name))) out.push({ package: p, via: 'provides' })
    }
    return out
  }

  releases = async (): Promise<ReleaseRecord[]> => this.releaseList
  release = async (name: string): Promise<ReleaseRecord | undefined> => this.releaseList.find((r) => r.name === name)
  network = async () => ({ self: this.info, peers: [], indexPeers: 1 })
  admitMirror = async (peerId: string): Promise<MirrorAdmission> => {
    this.note('admitMirror', peerId)
    return { mirror: peerId, publisher: this.info.id, issued: '2026-11-25T00:00:00.000Z', expires: '2027-11-25T00:00:00.000Z' }
  }
  stats = async () => { this.note('stats'); return { documents: 7, postings: 120, terms: 40, bytes: 3_000_000_000, releases: 1 } }

  publish = async (sources: PublishSource[], options: { release?: string, format?: 'debian' | 'rpm-md' | 'dir', translations?: PublishSource[], onProgress?: (p: PublishProgress) => void }): Promise<PublishSummary> => {
    const read: Array<{ name: string, text: string } | { path: string }> = []
    for (const s of sources) read.push(s.kind === 'upload' ? { name: s.name, text: new TextDecoder().decode(await s.bytes()) } : { path: s.path })
    this.note('publish', read, { release: options.release, format: options.format, translations: options.translations?.length ?? 0 })
    const release = options.release ?? 'bookworm'
    this.bus.push({ type: 'publish-progress', release, progress: { bytesRead: 10, bytesTotal: 10, units: 1 } })
    const summary: PublishSummary = { release, units: sources.length, rejected: 0, replaced: 0, postings: 42, seconds: 0.01, rejections: [] }
    const rel = this.releaseList.find((r) => r.name === release)
    if (rel !== undefined) this.bus.push({ type: 'release-published', release: rel, summary })
    return summary
  }

  cutRelease = async (name: string, from?: string): Promise<ReleaseRecord> => {
    this.note('cutRelease', name, from)
    const base = this.releaseList.find((r) => r.name === (from ?? 'bookworm'))
    if (base === undefined) throw new PeerError(`no release '${from ?? ''}'`, 'NOT_FOUND')
    const rel = { ...base, name, id: `release/${name}` }
    this.releaseList.push(rel)
    return rel
  }

  channels = async (): Promise<ChannelRecord[]> => [...this.channelMap.values()].map(({ log: _l, feed: _f, ...c }) => c)
  channel = async (name: string): Promise<ChannelRecord | undefined> => (await this.channels()).find((c) => c.name === name)
  createChannel = async (name: string, description: string, filter?: string): Promise<ChannelRecord> => {
    this.note('createChannel', name, description, filter)
    if (this.channelMap.has(name)) throw new PeerError(`channel '${name}' exists`, 'CONFLICT')
    const c = { name, description, ...(filter !== undefined ? { filter } : {}), createdAt: new Date(0).toISOString(), lastSeq: 0 }
    this.channelMap.set(name, { ...c, log: [], feed: new Feed() })
    return c
  }

  deleteChannel = async (name: string): Promise<boolean> => this.channelMap.delete(name)

  /** Test hook: appends a notification to a channel's log and announces it. */
  notify (channel: string, release: string): NotificationRecord {
    const c = this.channelMap.get(channel)
    if (c === undefined) throw new Error(`no channel ${channel}`)
    const n: NotificationRecord = { channel, seq: ++c.lastSeq, release, date: new Date(0).toISOString(), added: [{ kind: 'package', id: 'pkg/vim/2:9.0.1378-2/amd64', name: 'vim', version: '2:9.0.1378-2', arch: 'amd64', checksum: 'ab' }], updated: [], removed: [], signature: '' }
    c.log.push(n)
    c.feed.push(n)
    return n
  }

  follow = (channel: string, since: number, signal: AbortSignal): AsyncIterable<NotificationRecord> => {
    const c = this.channelMap.get(channel)
    if (c === undefined) throw new PeerError(`no channel '${channel}'`, 'NOT_FOUND')
    signal.addEventListener('abort', () => { this.aborted++ })
    return c.feed.iterate(signal, c.log.filter((n) => n.seq > since))
  }

  submitWishList = async (release: string): Promise<WishListRecord> => ({ release, units: ['pkg/vim/2:9.0.1378-2/amd64'], bytes: 1000, held: 0, heldBytes: 0, submittedAt: new Date(0).toISOString(), state: 'RECORDED' })

  /** Flash crowds by release: set by a test, changes announced with `flashCrowdChanged`. */
  readonly flashCrowdMap = new Map<string, FlashCrowdStatus>()
  private readonly flashCrowdFeed = new Feed<FlashCrowdStatus>()
  flashCrowd = async (release: string): Promise<FlashCrowdStatus | undefined> => this.flashCrowdMap.get(release)
  flashCrowds = async (): Promise<FlashCrowdStatus[]> => [...this.flashCrowdMap.values()]
  followFlashCrowd = (release: string, signal: AbortSignal): AsyncIterable<FlashCrowdStatus> => {
    const now = this.flashCrowdMap.get(release)
    return this.flashCrowdFeed.iterate(signal, now === undefined ? [] : [now])
  }

  /** Test hook: records a flash crowd's new status and announces it to its followers. */
  flashCrowdChanged (status: FlashCrowdStatus): void {
    this.flashCrowdMap.set(status.release, status)
    this.flashCrowdFeed.push(status)
  }

  download = async (input: { units?: string[], pattern?: string }): Promise<DownloadRecord> => {
    this.note('download', input)
    const id = `d${this.downloadMap.size + 1}`
    const d = { id, state: 'QUEUED' as const, units: input.units ?? [], bytesTotal: 100, bytesDone: 0, startedAt: new Date(0).toISOString() }
    this.downloadMap.set(id, { ...d, feed: new Feed() })
    return d
  }

  /** Test hook: moves a download forward and announces it. */
  progress (id: string, bytesDone: number): void {
    const d = this.downloadMap.get(id)
    if (d === undefined) throw new Error(`no download ${id}`)
    d.bytesDone = bytesDone
    d.state = bytesDone >= d.bytesTotal ? 'COMPLETED' : 'RUNNING'
    const { feed, ...rec } = d
    feed.push(rec)
    this.bus.push({ type: 'download-progress', download: rec })
  }

  cancelDownload = async (id: string): Promise<DownloadRecord> => {
    this.note('cancelDownload', id)
    const d = this.downloadMap.get(id)
    if (d === undefined) throw new PeerError(`no download '${id}'`, 'NOT_FOUND')
    d.state = 'CANCELLED'
    const { feed: _f, ...rec } = d
    return rec
  }

  downloads = async (): Promise<DownloadRecord[]> => [...this.downloadMap.values()].map(({ feed: _f, ...d }) => d)
  downloadProgress = (id: string, signal: AbortSignal): AsyncIterable<DownloadRecord> => {
    const d = this.downloadMap.get(id)
    if (d === undefined) throw new PeerError(`no download '${id}'`, 'NOT_FOUND')
    signal.addEventListener('abort', () => { this.aborted++ })
    return d.feed.iterate(signal)
  }

  events = (signal: AbortSignal): AsyncIterable<PeerEvent> => {
    signal.addEventListener('abort', () => { this.aborted++ })
    return this.bus.iterate(signal)
  }

  stop = async (): Promise<void> => {}
}
