/**
 * Multi-process harness for the distributed index: every peer is its own
 * OS process (`node bin/edos.js serve ...`) on 127.0.0.1, each in its own
 * data folder under one temp root. The harness parses the three start
 * lines, talks GraphQL over fetch, admits mirrors, waits with bounds,
 * kills (SIGKILL / SIGTERM) and restarts peers on the same folder with
 * the same flags, and cleans up everything it started (also on a crash of
 * the test process: an 'exit' hook SIGKILLs what is still running).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PEER_NODE_FLAGS } from '../../src/cli/peer-flags.ts'

export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
export const EDOS = join(ROOT, 'bin', 'edos.js')
export const FIXTURES = join(ROOT, 'test', 'fixtures')

export type Role = 'publisher' | 'mirror' | 'client'

/** Every child any Cluster started in this process: killed on exit whatever happens. */
const LIVE = new Set<ChildProcess>()
let exitHook = false
function installExitHook (): void {
  if (exitHook) return
  exitHook = true
  process.once('exit', () => { for (const c of LIVE) { try { c.kill('SIGKILL') } catch { /* gone */ } } })
}

export async function sleep (ms: number): Promise<void> { await new Promise((resolve) => setTimeout(resolve, ms)) }

/** Polls `ok` every `stepMs` until it holds; throws after `ms` with what it waited for and the last value seen. */
export async function waitFor<T> (what: string, ok: () => Promise<T | false | undefined> | T | false | undefined, ms: number, stepMs = 250): Promise<T> {
  const until = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await ok()
      if (v !== false && v !== undefined) return v
      last = v
    } catch (err) {
      last = err
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`)
    await sleep(stepMs)
  }
}

/** A TCP port nothing listens on (bound, then released). */
export async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise<void>((resolve) => s.close(() => { resolve() }))
  return port
}

export class GraphQLError extends Error {
  constructor (readonly errors: Array<{ message: string, extensions?: { code?: string } }>, readonly where: string) {
    super(`${where}: ${errors.map((e) => `${e.extensions?.code ?? '?'}: ${e.message}`).join('; ')}`)
    this.name = 'GraphQLError'
  }

  get code (): string | undefined { return this.errors[0]?.extensions?.code }
}

export interface SpawnOptions {
  /** Extra `serve` flags (kept for restarts). */
  listen?: string[]
  bootstrap?: string[]
  publisherKey?: string
  /** `--http HOST:PORT`; default 127.0.0.1:0. A fixed port lets a restarted peer keep its URL (subscribers reconnect to it). */
  http?: string
  /** Any other `serve` flags (kept for restarts). */
  extra?: string[]
}

export class Peer {
  child: ChildProcess | undefined
  peerId = ''
  multiaddrs: string[] = []
  url = ''
  /** stdout + stderr of the current process (bounded tail). */
  output = ''
  /** Exit code/signal of the last process once it ended. */
  exited: { code: number | null, signal: NodeJS.Signals | null } | undefined
  private exitPromise: Promise<void> | undefined

  constructor (readonly name: string, readonly role: Role, readonly data: string, readonly options: SpawnOptions, private readonly cluster: Cluster) {}

  get alive (): boolean { return this.child !== undefined && this.exited === undefined }
  get tokenFile (): string { return join(this.data, 'api-token') }
  async token (): Promise<string> { return (await readFile(this.tokenFile, 'utf8')).trim() }

  args (): string[] {
    const a = ['serve', '--role', this.role, '--data', this.data, '--http', this.options.http ?? '127.0.0.1:0']
    for (const l of this.options.listen ?? []) a.push('--listen', l)
    for (const b of this.options.bootstrap ?? []) a.push('--bootstrap', b)
    if (this.options.publisherKey !== undefined) a.push('--publisher-key', this.options.publisherKey)
    a.push(...(this.options.extra ?? []))
    return a
  }

  /** Starts the process and resolves once it printed its three start lines. */
  async start (timeoutMs = 90_000): Promise<this> {
    if (this.alive) throw new Error(`${this.name} is already running`)
    installExitHook()
    this.exited = undefined
    this.output += this.output === '' ? '' : `\n----- ${this.name} restarted\n`
    const child = spawn(process.execPath, [...PEER_NODE_FLAGS, EDOS, ...this.args()], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EDOS_TOKEN: '' }
    })
    this.child = child
    LIVE.add(child)
    this.exitPromise = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => { this.exited = { code, signal }; LIVE.delete(child); resolve() })
    })
    let stdout = ''
    const keep = (chunk: unknown): void => {
      this.output += String(chunk)
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000)
    }
    child.stderr!.on('data', keep)
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string): void => { clearTimeout(timer); reject(new Error(`${this.name} (${this.role}) ${why}:\n${this.output.slice(-4000)}`)) }
      const timer = setTimeout(() => { fail(`printed no start lines within ${timeoutMs} ms`) }, timeoutMs)
      child.stdout!.on('data', (chunk) => {
        keep(chunk)
        stdout += String(chunk)
        const id = /^peer id: (\S+)$/m.exec(stdout)
        const addrs = /^multiaddrs: (.*)$/m.exec(stdout)
        const url = /^graphql: (\S+)$/m.exec(stdout)
        if (id !== null && addrs !== null && url !== null) {
          clearTimeout(timer)
          this.peerId = id[1]
          this.multiaddrs = addrs[1].split(' ').filter((a) => a.startsWith('/'))
          this.url = url[1]
          resolve()
        }
      })
      child.once('exit', (code, signal) => { fail(`exited (${code ?? signal ?? '?'}) before its start lines`) })
    }).catch(async (err) => { await this.kill('SIGKILL'); throw err })
    return this
  }

  /** Sends `signal` and waits (bounded) for the process to end; SIGKILL when a SIGTERM is not enough. */
  async kill (signal: NodeJS.Signals = 'SIGKILL', timeoutMs = 30_000): Promise<void> {
    const child = this.child
    if (child === undefined || this.exited !== undefined) return
    child.kill(signal)
    const done = await Promise.race([this.exitPromise!.then(() => true), sleep(timeoutMs).then(() => false)])
    if (!done) {
      child.kill('SIGKILL')
      await Promise.race([this.exitPromise!, sleep(10_000)])
      throw new Error(`${this.name} did not stop within ${timeoutMs} ms of ${signal} (killed)`)
    }
  }

  /** Stops (SIGTERM) when running, then starts again on the same folder with the same flags. */
  async restart (timeoutMs?: number): Promise<this> {
    await this.kill('SIGTERM')
    return await this.start(timeoutMs)
  }

  /** One GraphQL request; resolves with data or throws GraphQLError (errors) / Error (transport). */
  async gql<T = any>(query: string, variables: Record<string, unknown> = {}, opts: { token?: string, timeoutMs?: number } = {}): Promise<T> {
    const res = await this.gqlRaw<T>(query, variables, opts)
    if (res.errors !== undefined && res.errors.length > 0) throw new GraphQLError(res.errors, `${this.name} (${this.role})`)
    return res.data as T
  }

  async gqlRaw<T = any>(query: string, variables: Record<string, unknown> = {}, opts: { token?: string, timeoutMs?: number } = {}): Promise<{ data?: T, errors?: Array<{ message: string, extensions?: { code?: string } }> }> {
    if (this.url === '') throw new Error(`${this.name} has no GraphQL URL (not started)`)
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' }
    if (opts.token !== undefined) headers.authorization = `Bearer ${opts.token}`
    const send = async (): Promise<Response> => await fetch(this.url, {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? this.cluster.requestTimeoutMs)
    })
    let r: Response
    try {
      r = await send()
    } catch (err) {
      // undici reuses a keep-alive socket the server may be closing ("fetch failed", other side closed):
      // a read-only query is retried once on a transport error; a mutation never is. A dead peer fails again.
      const cause = (err as { cause?: { message?: string } }).cause?.message ?? ''
      if (/^\s*mutation\b/.test(query) || (err as Error).name === 'TimeoutError' || !this.alive) throw new Error(`${this.name}: ${(err as Error).message} ${cause}`)
      process.stderr.write(`[e2e] ${this.name}: ${(err as Error).message} (${cause}); retrying the query once\n`)
      r = await send()
    }
    const text = await r.text()
    try {
      return JSON.parse(text)
    } catch {
      throw new Error(`${this.name}: HTTP ${r.status}, not JSON: ${text.slice(0, 300)}`)
    }
  }
}

export const NETWORK_QUERY = `query { network { self { peerId } index { indexPeer catalogSeq documents refused replicas members { peerId role held { postings docs } } held { postings docs } repair { running checked sent lastRun error } } } }`

export interface IndexState {
  indexPeer: boolean
  catalogSeq: number
  documents: number
  refused: number
  replicas: number
  members: Array<{ peerId: string, role: string, held: { postings: number, docs: number } | null }>
  held: { postings: number, docs: number } | null
  repair: { running: boolean, checked: number, sent: number, lastRun: string | null, error: string | null } | null
}

export async function indexState (p: Peer, timeoutMs?: number): Promise<IndexState> {
  const d = await p.gql<{ network: { index: IndexState | null } }>(NETWORK_QUERY, {}, { timeoutMs })
  if (d.network.index === null) throw new Error(`${p.name} reports no index (embedded?)`)
  return d.network.index
}

const SEARCH = `query ($pattern: String!, $first: Int!, $after: String) {
  search(pattern: $pattern, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { doc path } } }
}`

/** Every answer of `pattern` at `p` as "doc path" strings, paging 500 at a time. */
export async function searchAll (p: Peer, pattern: string, timeoutMs?: number): Promise<string[]> {
  const out: string[] = []
  let after: string | null = null
  for (let pages = 0; pages < 10_000; pages++) {
    const d: { search: { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ node: { doc: string, path: string } }> } | null } =
      await p.gql(SEARCH, { pattern, first: 500, after }, { timeoutMs })
    if (d.search === null) throw new Error(`${p.name}: search(${pattern}) returned null`)
    for (const e of d.search.edges) out.push(`${e.node.doc} ${e.node.path}`)
    if (!d.search.pageInfo.hasNextPage || d.search.edges.length === 0 || d.search.pageInfo.endCursor === null) {
      if (out.length !== d.search.totalCount) throw new Error(`${p.name}: search(${pattern}) paged ${out.length} answers but totalCount says ${d.search.totalCount}`)
      return out
    }
    after = d.search.pageInfo.endCursor
  }
  throw new Error(`${p.name}: search(${pattern}) did not end`)
}

const PUBLISH = `mutation ($input: PublishReleaseInput!) {
  publishRelease(input: $input) { summary { release units rejected replaced postings seconds } }
}`

export interface PublishSummary { release: string, units: number, rejected: number, replaced: number, postings: number, seconds: number }

/** Publishes files that are on this machine (paths) into release `name` through the publisher's GraphQL. */
export async function publishRelease (publisher: Peer, name: string, paths: string[], timeoutMs = 300_000): Promise<PublishSummary> {
  const d = await publisher.gql<{ publishRelease: { summary: PublishSummary } }>(PUBLISH, { input: { name, format: 'DEBIAN', paths } }, { token: await publisher.token(), timeoutMs })
  return d.publishRelease.summary
}

export class Cluster {
  readonly peers: Peer[] = []
  root = ''
  /** Bound on any single GraphQL request. */
  requestTimeoutMs = 120_000

  async init (prefix = 'edos-e2e-'): Promise<this> {
    this.root = await mkdtemp(join(tmpdir(), prefix))
    return this
  }

  /** Declares a peer in folder ROOT/name (not started). */
  peer (name: string, role: Role, options: SpawnOptions = {}): Peer {
    const p = new Peer(name, role, join(this.root, name), options, this)
    this.peers.push(p)
    return p
  }

  get publisher (): Peer {
    const p = this.peers.find((x) => x.role === 'publisher')
    if (p === undefined) throw new Error('no publisher declared')
    return p
  }

  get publisherKeyFile (): string { return join(this.publisher.data, 'publisher-key') }

  /** The publisher admits a running mirror (GraphQL admitMirror with the publisher's token). */
  async admit (mirror: Peer): Promise<void> {
    const pub = this.publisher
    const d = await pub.gql<{ admitMirror: { mirror: string } | null }>('mutation ($id: String!) { admitMirror(peerId: $id) { mirror publisher expires } }', { id: mirror.peerId }, { token: await pub.token(), timeoutMs: 30_000 })
    if (d.admitMirror?.mirror !== mirror.peerId) throw new Error(`admitting ${mirror.name} returned ${JSON.stringify(d.admitMirror)}`)
  }

  /** Waits until every running peer lists exactly `indexPeers` in network.index.members. */
  async waitMembers (indexPeers: Peer[], ms = 60_000): Promise<void> {
    const want = indexPeers.map((p) => p.peerId).sort().join(',')
    const running = this.peers.filter((p) => p.alive)
    let detail = ''
    try {
      await waitFor('membership', async () => {
        const seen = await Promise.all(running.map(async (p) => (await indexState(p, 10_000)).members.map((m) => m.peerId).sort().join(',')))
        detail = running.map((p, i) => `${p.name}: ${seen[i] === '' ? 0 : seen[i].split(',').length}`).join(', ')
        return seen.every((s) => s === want)
      }, ms, 500)
    } catch (err) {
      throw new Error(`membership {${indexPeers.map((p) => p.name).join(', ')}} not reached at every running peer within ${ms} ms (members seen: ${detail}): ${(err as Error).message}`)
    }
  }

  /** Waits until every running peer sees catalog sequence >= seq. */
  async waitCatalog (seq: number, ms = 60_000): Promise<void> {
    const running = this.peers.filter((p) => p.alive)
    let detail = ''
    try {
      await waitFor(`catalog ${seq}`, async () => {
        const seqs = await Promise.all(running.map(async (p) => await indexState(p, 10_000).then((s) => s.catalogSeq, (err: Error) => `error: ${err.message}`)))
        detail = running.map((p, i) => `${p.name}: ${seqs[i]}`).join(', ')
        return seqs.every((s) => typeof s === 'number' && s >= seq)
      }, ms, 500)
    } catch (err) {
      throw new Error(`catalog ${seq} not reached at every running peer within ${ms} ms (catalogSeq seen: ${detail}): ${(err as Error).message}`)
    }
  }

  /** SIGKILLs everything still running (bounded), then removes the folders. */
  async cleanup (): Promise<void> {
    await Promise.all(this.peers.map(async (p) => { await p.kill('SIGKILL', 10_000).catch(() => {}) }))
    if (this.root !== '' && process.env.EDOS_E2E_KEEP !== '1') await rm(this.root, { recursive: true, force: true }).catch(() => {})
  }

  /** The tail of every peer's output (for failure messages). */
  logs (chars = 3000): string {
    return this.peers.map((p) => `----- ${p.name} (${p.role}, ${p.alive ? 'running' : `exited ${JSON.stringify(p.exited)}`})\n${p.output.slice(-chars)}`).join('\n')
  }
}
