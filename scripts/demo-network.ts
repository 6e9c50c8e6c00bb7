/**
 * The demo network (the paper's section 4 cast): one publisher, mirrors and
 * clients, each `edos serve` in its own process on 127.0.0.1, with three
 * real Debian releases cut to a slice and given synthetic content
 * (scripts/synthetic-release.ts: files sized after the real packages,
 * scaled down, identical across releases where the real .deb is):
 * R1 bookworm, R2 trixie, R3 bookworm-security. `npm run demo` drives a
 * scenario on it (scripts/demo.ts); the console e2e test runs its browser
 * on one. Only this process starts the peers, and it kills them on exit
 * whatever happens.
 */
import { createWriteStream, existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { Cluster, ROOT, indexState, sleep, waitFor, type GraphQLError, type Peer } from '../test/e2e/harness.ts'
import { consoleUrl } from '../src/server/console/index.ts'
import { EdosError } from '../src/xml-twig-index/errors.ts'
import { syntheticRelease, type SyntheticRelease } from './synthetic-release.ts'

export { sleep, waitFor } from '../test/e2e/harness.ts'

/** The real metadata, next to the repository (../shared/data/README.md). */
export const DEFAULT_DATA = join(ROOT, '..', 'shared', 'data')
/** The section of each release the demo uses by default: 338, 359 and 31 units, 49 of them identical in R1 and R2. */
export const DEFAULT_SECTIONS = ['editors']
/** Synthetic file = real .deb size / scale. */
export const DEFAULT_SCALE = 200

export type DemoRole = 'publisher' | 'mirror' | 'client'

export class DemoError extends EdosError {
  constructor (message: string, code: 'ERR_DEMO_DATA' | 'ERR_DEMO_PEER' | 'ERR_DEMO_STEP', options?: { cause?: unknown }) {
    super(message, code, options)
    this.name = 'DemoError'
  }
}

export interface DemoNetworkInit {
  /** Folder for the synthetic releases, the peers' folders and their logs (created). */
  root: string
  /** Folder of the real Packages files. Default DEFAULT_DATA. */
  data?: string
  /** Synthetic size = real size / scale. Default DEFAULT_SCALE (1: real sizes). */
  scale?: number
  /** Sections kept in each release; 'all' keeps whole releases. Default DEFAULT_SECTIONS. */
  sections?: string[] | 'all'
  /** At most this many units per release, the first of the slice (default: all of it). */
  limit?: number
  /** Default 2. */
  mirrors?: number
  /** Default 3. */
  clients?: number
  /** Fixed HTTP ports, publisher first, then mirrors, then clients (0 or missing: any free port). */
  httpPorts?: number[]
  /** Progress lines. Default: none. */
  log?: (line: string) => void
  /** Called as each peer is up: its console is browsable from then on. */
  onPeer?: (peer: DemoPeer) => void
  /** Bound on one peer's start (a loaded 2-core machine compiles the sources in every process). Default 240 s. */
  startTimeoutMs?: number
}

/** One release of the scenario: its real source and its synthetic slice. */
export interface DemoRelease {
  name: string
  source: string
  synthetic: SyntheticRelease
}

export interface PublishedRelease { release: string, units: number, rejected: number, contentStored: number, seconds: number }

/**
 * A peer process of the demo (test/e2e/harness.ts starts, watches and stops
 * it): its URLs, its API token, GraphQL over HTTP with that token, and
 * graphql-ws subscriptions. Its output goes to its log file as well.
 */
export class DemoPeer {
  token = ''
  private ws: Client | undefined

  constructor (readonly process: Peer, readonly logFile: string) {}

  get name (): string { return this.process.name }
  get role (): DemoRole { return this.process.role }
  get data (): string { return this.process.data }
  get url (): string { return this.process.url }
  get peerId (): string { return this.process.peerId }
  get consoleUrl (): string { return consoleUrl(this.process.url) }
  /** The console URL with the API token in its fragment: the browser keeps it for the tab and never sends it. */
  get consoleWithToken (): string { return `${this.consoleUrl}#token=${encodeURIComponent(this.token)}` }

  async start (timeoutMs: number): Promise<this> {
    try {
      await this.process.start(timeoutMs)
    } catch (err) {
      throw new DemoError((err as Error).message, 'ERR_DEMO_PEER', { cause: err })
    }
    const log = createWriteStream(this.logFile, { flags: 'a' })
    log.write(this.process.output)
    for (const stream of [this.process.child!.stdout!, this.process.child!.stderr!]) stream.on('data', (c: Buffer) => { log.write(c) })
    this.process.child!.once('exit', () => { log.end() })
    this.token = await this.process.token()
    return this
  }

  /**
   * One query or mutation with the peer's token; GraphQL errors throw. A
   * request that met a keep-alive socket the peer was closing (undici reuses
   * it; more often on a loaded machine, where timers run late) never reached
   * the peer: it is sent again once, unless `once` says it must not be.
   */
  async gql<T> (query: string, variables: Record<string, unknown> = {}, timeoutMs = 60_000, once = false): Promise<T> {
    const send = async (): Promise<T> => await this.process.gql<T>(query, variables, { token: this.token, timeoutMs })
    return await send().catch(async (err: unknown) => {
      if (once || (err as GraphQLError).errors !== undefined || !/other side closed|ECONNRESET|socket hang up/.test((err as Error).message)) throw err
      return await send()
    })
  }

  /** A graphql-ws subscription with the peer's token; the returned function ends it. */
  subscribe<T> (query: string, variables: Record<string, unknown>, next: (data: T) => void, error: (err: Error) => void): () => void {
    this.ws ??= createClient({
      url: this.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${this.token}` },
      retryAttempts: 5,
      lazy: true
    })
    return this.ws.subscribe<T>({ query, variables }, {
      next: (r) => {
        if (r.errors !== undefined && r.errors.length > 0) error(new DemoError(`${this.name}: ${r.errors.map((e) => e.message).join('; ')}`, 'ERR_DEMO_STEP'))
        else if (r.data != null) next(r.data as T)
      },
      error: (e) => { error(e instanceof Error ? e : new DemoError(`${this.name}: subscription failed: ${JSON.stringify(e)}`, 'ERR_DEMO_STEP')) },
      complete: () => {}
    })
  }

  /** SIGTERM, then SIGKILL when it does not end within 15 s. */
  async stop (): Promise<void> {
    await this.ws?.dispose()
    this.ws = undefined
    await this.process.kill('SIGTERM', 15_000).catch(() => {})
  }
}

const PUBLISH = `mutation DemoPublish($input: PublishReleaseInput!) {
  publishRelease(input: $input) { summary { release units rejected contentStored seconds } } }`

export interface DemoNetwork {
  root: string
  scale: number
  /** The sections kept, or 'all'. */
  sections: string[] | 'all'
  publisher: DemoPeer
  mirrors: DemoPeer[]
  clients: DemoPeer[]
  /** Every peer, publisher first. */
  peers: DemoPeer[]
  releases: { r1: DemoRelease, r2: DemoRelease, r3: DemoRelease }
  /**
   * Publishes a release at the publisher from its synthetic Packages file;
   * with `content` its files are stored and seeded there too: 'with' gives
   * them with the publish (the publisher stores them before it notifies the
   * channels, so subscribers downloading on notification find them held; one
   * request, for a release of moderate size), 'after' (or true) adds them
   * once the publish is in, in batches (each request answers within HTTP
   * time limits, for a release of any size). Resolves once every peer sees
   * the release.
   */
  publish: (release: DemoRelease, options?: { content?: boolean | 'with' | 'after' }) => Promise<PublishedRelease>
  /** Stops every peer (bounded). */
  stop: () => Promise<void>
}

/** Files per addContent request: each must answer within undici's 300 s header timeout, on a loaded machine too. */
const CONTENT_BATCH = 50

/**
 * Adds files to a peer's store (matched to units by sha256, stored, seeded,
 * provided), in batches; returns how many units got content.
 */
export async function addContent (peer: DemoPeer, files: string[], onBatch?: (done: number, total: number) => void): Promise<number> {
  let stored = 0
  for (let i = 0; i < files.length; i += CONTENT_BATCH) {
    const paths = files.slice(i, i + CONTENT_BATCH)
    const add = async (): Promise<{ addContent: { stored: number, unmatched: string[] } }> =>
      await peer.gql('mutation DemoAddContent($paths: [String!]) { addContent(paths: $paths) { stored unmatched } }', { paths }, 290_000)
    // The files are matched through the distributed index: on a loaded machine an index peer may not answer in
    // time, or the peer's view of the index peers may have lapsed until their next announcement. Adding again is harmless.
    let r: { addContent: { stored: number, unmatched: string[] } } | undefined
    for (const until = Date.now() + 180_000; r === undefined;) {
      r = await add().catch(async (err: unknown) => {
        if ((err as GraphQLError).code !== 'UNAVAILABLE' || Date.now() > until) throw err
        await sleep(10_000)
        return undefined
      })
    }
    if (r.addContent.unmatched.length > 0) throw new DemoError(`${peer.name}: no unit names ${r.addContent.unmatched.join(', ')}`, 'ERR_DEMO_STEP')
    stored += r.addContent.stored
    onBatch?.(Math.min(files.length, i + CONTENT_BATCH), files.length)
  }
  return stored
}

/** The real Packages files, or an error saying where they should be and what to do. */
function sources (data: string): { r1: string, r2: string, r3: string } {
  const files = {
    r1: join(data, 'debian-bookworm-main-amd64.Packages.xz'),
    r2: join(data, 'debian-trixie-main-amd64.Packages.xz'),
    r3: join(data, 'debian-bookworm-security-main-amd64.Packages.xz')
  }
  const missing = Object.values(files).filter((f) => !existsSync(f))
  if (missing.length > 0) {
    throw new DemoError(`the demo needs Debian's Packages files of bookworm, trixie and bookworm-security in ${data} (missing: ${missing.join(', ')}); ` +
      'see "Demo" in README.md: put them there (the file names of ../shared/data/README.md) or give --data DIR', 'ERR_DEMO_DATA')
  }
  return files
}

async function prepareReleases (init: DemoNetworkInit, scale: number, log: (line: string) => void): Promise<DemoNetwork['releases']> {
  const src = sources(init.data ?? DEFAULT_DATA)
  const sections = init.sections ?? DEFAULT_SECTIONS
  const keep = sections === 'all' ? undefined : new Set(sections)
  const select = keep === undefined ? undefined : (s: { section?: string }): boolean => keep.has(s.section ?? '')
  const make = async (name: string, source: string): Promise<DemoRelease> => {
    const synthetic = await syntheticRelease({ packages: source, out: join(init.root, 'releases', name), select, scale, limit: init.limit })
    if (synthetic.units.length === 0) throw new DemoError(`no package of ${name} is in the sections ${[...(keep ?? [])].join(', ')}`, 'ERR_DEMO_DATA')
    log(`${name}: ${synthetic.units.length} units, ${(synthetic.bytes / 1e6).toFixed(1)} MB of synthetic content (1/${scale} of the real sizes)`)
    return { name, source, synthetic }
  }
  // Each decompresses in its own worker thread: together they use the cores there are.
  const [r1, r2, r3] = await Promise.all([make('bookworm', src.r1), make('trixie', src.r2), make('bookworm-security', src.r3)])
  return { r1, r2, r3 }
}

/**
 * Cuts the releases, starts the publisher, then the mirrors and clients
 * (bootstrapped from it, trusting its key), and admits the mirrors into
 * the index. Nothing is published yet.
 */
export async function startDemoNetwork (init: DemoNetworkInit): Promise<DemoNetwork> {
  const log = init.log ?? (() => {})
  const scale = init.scale ?? DEFAULT_SCALE
  const timeout = init.startTimeoutMs ?? 240_000
  await mkdir(join(init.root, 'logs'), { recursive: true })
  const cluster = new Cluster()
  cluster.root = init.root
  const ports = init.httpPorts ?? []
  const listen = ['/ip4/127.0.0.1/tcp/0']
  const declare = (name: string, role: DemoRole, boot: { bootstrap?: string[], publisherKey?: string } = {}): DemoPeer =>
    new DemoPeer(cluster.peer(name, role, { listen, http: `127.0.0.1:${ports[cluster.peers.length] ?? 0}`, ...boot }), join(init.root, 'logs', `${name}.log`))
  const publisher = declare('publisher', 'publisher')
  const all = [publisher]
  const stop = async (): Promise<void> => { await Promise.all(all.map(async (p) => { await p.stop() })) }
  let releases: DemoNetwork['releases']
  try {
    // The releases are cut while the publisher starts: both wait on the disk as much as on the cores.
    const cut = prepareReleases(init, scale, log)
    cut.catch(() => {})
    await publisher.start(timeout)
    init.onPeer?.(publisher)
    releases = await cut
    const boot = { bootstrap: [publisher.process.multiaddrs[0]], publisherKey: cluster.publisherKeyFile }
    all.push(...Array.from({ length: init.mirrors ?? 2 }, (_, i) => declare(`mirror${i + 1}`, 'mirror', boot)))
    all.push(...Array.from({ length: init.clients ?? 3 }, (_, i) => declare(`client${i + 1}`, 'client', boot)))
    await Promise.all(all.slice(1).map(async (p) => {
      await p.start(timeout)
      init.onPeer?.(p)
    }))
    const mirrors = all.filter((p) => p.role === 'mirror')
    // A mirror that just started may not be reachable over libp2p yet: the publisher tries again.
    for (const m of mirrors) await waitFor(`the publisher admitting ${m.name}`, async () => { await cluster.admit(m.process); return true }, 120_000, 2000)
    // Publishing before every peer knows the index peers would reach fewer of them (repair would fix it, later).
    await cluster.waitMembers([publisher, ...mirrors].map((p) => p.process), 120_000)
    if (mirrors.length > 0) log(`${mirrors.map((m) => m.name).join(', ')} admitted: they hold the index with the publisher`)
  } catch (err) {
    await stop()
    throw err
  }

  const publish = async (release: DemoRelease, options: { content?: boolean | 'with' | 'after' } = {}): Promise<PublishedRelease> => {
    const input = { name: release.name, format: 'DEBIAN', paths: [release.synthetic.packagesFile], ...(options.content === 'with' ? { contentPaths: [release.synthetic.filesDir] } : {}) }
    const summary = (await publisher.gql<{ publishRelease: { summary: PublishedRelease } }>(PUBLISH, { input }, 290_000)).publishRelease.summary
    if (options.content === true || options.content === 'after') {
      const files = release.synthetic.units.flatMap((u) => u.file === undefined ? [] : [u.file])
      summary.contentStored = await addContent(publisher, [...new Set(files)], (done, total) => { log(`  publisher: ${done} of ${total} ${release.name} files stored and seeded`) })
    }
    await cluster.waitCatalog((await indexState(publisher.process)).catalogSeq, 120_000)
    return summary
  }

  return {
    root: init.root,
    scale,
    sections: init.sections ?? DEFAULT_SECTIONS,
    publisher,
    mirrors: all.filter((p) => p.role === 'mirror'),
    clients: all.filter((p) => p.role === 'client'),
    peers: all,
    releases,
    publish,
    stop
  }
}
