/**
 * The CLI commands against a running peer (`--peer URL`): same output lines
 * as their `--data DIR` twins in commands.ts, through the peer's GraphQL API
 * (a running peer owns its folder, so the CLI cannot open the store itself).
 */
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { PeerClient, type UploadFile, subscriptionClient } from './peer-client.ts'
import { PeerProtocolError, UsageError } from './errors.ts'
import { ImportError, NotFoundError } from '../xml-twig-index/errors.ts'
import { ProgressBar } from './progress.ts'

const out = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }

/** The server's bound on `first` (src/resolvers/builder.ts MAX_PAGE). */
const MAX_PAGE = 500

export interface PeerArgs { peer: string, token?: string }

const client = (args: PeerArgs): PeerClient => new PeerClient({ url: args.peer, token: args.token })

interface MatchPage {
  search: {
    totalCount: number
    pageInfo: { hasNextPage: boolean, endCursor: string | null }
    edges: Array<{ cursor: string, node: { doc: string, path: string, xml: string } }>
  } | null
}

const SEARCH = `query EdosSearch($pattern: String!, $first: Int!, $after: String) {
  search(pattern: $pattern, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { doc path xml } }
  }
}`

/** Pages through search, yielding each page as it arrives (so output streams on long answers). */
async function * searchPages (c: PeerClient, pattern: string, limit: number | undefined, after: string | undefined): AsyncGenerator<NonNullable<MatchPage['search']>> {
  let cursor = after
  let left = limit ?? Infinity
  while (left > 0) {
    const { search } = await c.request<MatchPage>(SEARCH, { pattern, first: Math.min(MAX_PAGE, left), after: cursor ?? null })
    if (search === null) return
    yield search
    left -= search.edges.length
    if (!search.pageInfo.hasNextPage || search.edges.length === 0 || search.pageInfo.endCursor === null) return
    cursor = search.pageInfo.endCursor
  }
}

const EXPLAIN = `query EdosExplain($pattern: String!) {
  explain(pattern: $pattern) {
    pattern strategy reason
    terms { term postings docs blocks }
    candidateDocs verifiedDocs answers
    ms { plan candidates join verify total }
    reads { term postings ms }
    network { bytes indexPeers catalogSeq peers { peer requests keys bytes ms failovers } requests { peer op keys items bytes ms failover } }
  }
}`

export interface PeerQueryArgs extends PeerArgs { pattern: string, limit?: number, after?: string, explain: boolean }

/** `edos query --peer`: one {"doc","path","xml"} line per answer, as the local query prints them. */
export async function runPeerQuery (args: PeerQueryArgs): Promise<number> {
  const c = client(args)
  if (args.explain) {
    out((await c.request<{ explain: unknown }>(EXPLAIN, { pattern: args.pattern })).explain)
    return 0
  }
  if (args.limit === 0) return 0
  let shown = 0
  let last: NonNullable<MatchPage['search']> | undefined
  for await (const page of searchPages(c, args.pattern, args.limit, args.after)) {
    for (const e of page.edges) out({ doc: e.node.doc, path: e.node.path, xml: e.node.xml })
    shown += page.edges.length
    last = page
  }
  // Same hint as the local query when --limit cut the answers short.
  if (last !== undefined && last.pageInfo.hasNextPage && args.limit !== undefined && shown >= args.limit && last.pageInfo.endCursor !== null) {
    process.stderr.write(`edos: ${last.totalCount} answers; more with --after ${last.pageInfo.endCursor}\n`)
  }
  return 0
}

const STATS = `query EdosStats {
  stats { documents postings terms bytes }
  releases { name version date units }
}`

/** `edos stats --peer`: the local stats' fields the API exposes, releases listed as locally. */
export async function runPeerStats (args: PeerArgs): Promise<number> {
  const d = await client(args).request<{ stats: { documents: number, postings: number, terms: number, bytes: number } | null, releases: unknown[] | null }>(STATS)
  if (d.stats === null) throw new PeerProtocolError(`the peer at ${args.peer} gave no stats`)
  out({ documents: d.stats.documents, releases: d.releases ?? [], postings: d.stats.postings, terms: d.stats.terms, bytes: d.stats.bytes })
  return 0
}

const DOCUMENT = `query EdosDocument($doc: String!) {
  document(doc: $doc) {
    __typename
    ... on Package { doc xml }
    ... on Utility { doc xml }
    ... on Release { doc name }
  }
}`

/** An XPath string literal (XPath 1.0 has no escapes: pick the quote the value lacks). */
function literal (s: string): string {
  if (!s.includes('"')) return `"${s}"`
  if (!s.includes("'")) return `'${s}'`
  throw new UsageError(`cannot export a release whose name has both quote characters: ${s}`)
}

/**
 * `edos export --peer [ID...]`: one {"id","xml"} line per document. Packages
 * and utilities come through Query.document (their `xml` field); Release has
 * no xml field, so its document is the root match of a search; with no ids,
 * every document is the root match of `/*`.
 */
export async function runPeerExport (args: PeerArgs & { ids: string[] }): Promise<number> {
  const c = client(args)
  if (args.ids.length === 0) {
    for await (const page of searchPages(c, '/*', undefined, undefined)) {
      for (const e of page.edges) out({ id: e.node.doc, xml: e.node.xml })
    }
    return 0
  }
  for (const id of args.ids) {
    const { document } = await c.request<{ document: { __typename: string, doc: string, xml?: string, name?: string } | null }>(DOCUMENT, { doc: id })
    if (document === null) throw new NotFoundError(`no document with id '${id}'`)
    if (document.xml !== undefined) { out({ id: document.doc, xml: document.xml }); continue }
    let xml: string | undefined
    for await (const page of searchPages(c, `/release[@name = ${literal(document.name ?? '')}]`, undefined, undefined)) {
      xml ??= page.edges.find((e) => e.node.doc === id)?.node.xml
    }
    if (xml === undefined) throw new NotFoundError(`no document with id '${id}'`)
    out({ id, xml })
  }
  return 0
}

const PUBLISH = `mutation EdosPublish($input: PublishPackagesInput!) {
  publishPackages(input: $input) {
    summary { release units rejected replaced postings seconds rejections contentStored contentUnmatched }
  }
}`

const FORMATS = { debian: 'DEBIAN', 'rpm-md': 'RPM_MD', dir: 'DIR' } as const

export interface PeerPublishArgs extends PeerArgs {
  release: string
  format?: keyof typeof FORMATS
  translations: string[]
  files: string[]
  /** Content files or folders whose files the published metadata names (stored and seeded by the peer). */
  content?: string[]
  /** The peer reads the files itself (same machine, token): no upload, so no upload size limit (yoga's 25 MB body limit). */
  byPath?: boolean
}

interface PublishSummary { release: string, units: number, rejected: number, replaced: number, postings: number, seconds: number, rejections: string[], contentStored?: number, contentUnmatched?: string[] }

/** The regular files under a path (itself when a file), sorted, hidden entries skipped. */
export async function filesUnder (path: string): Promise<string[]> {
  const s = await stat(path).catch(() => undefined)
  if (s === undefined) throw new ImportError(`cannot read '${path}'`)
  if (s.isFile()) return [path]
  if (!s.isDirectory()) return []
  const out: string[] = []
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name < b.name ? -1 : 1)) {
    if (e.name.startsWith('.')) continue
    out.push(...await filesUnder(join(path, e.name)))
  }
  return out
}

const mb = (n: number): string => (n / 1e6).toFixed(n < 1e7 ? 2 : 1)

/**
 * `edos publish --peer`: uploads the files in one multipart request (a bar
 * of bytes sent on a terminal), then prints each rejection and the summary
 * line on stderr, as `edos import` does.
 */
const PROGRESS = `subscription EdosPublishProgress($release: String) {
  publishProgress(release: $release) { bytesRead bytesTotal units phase postingsSent { peer postings } }
}`

interface ProgressEvent { bytesRead: number, bytesTotal: number, units: number, phase: 'READ' | 'INDEX' | 'CATALOG' | 'DONE' | null, postingsSent: Array<{ peer: string, postings: number }> | null }

/**
 * Follows the publish on the peer (graphql-ws, same URL): reading, then,
 * on a networked publisher, postings sent per index peer. Best effort: a
 * peer without subscriptions leaves the upload bar alone.
 */
function watchPublish (args: PeerPublishArgs, bar: ProgressBar): { serverSide: boolean, stop: () => Promise<void>, postingsSent: () => Array<{ peer: string, postings: number }> } {
  const state = { serverSide: false, last: [] as Array<{ peer: string, postings: number }> }
  const ws = subscriptionClient(args, 0)
  const unsubscribe = ws.subscribe<{ publishProgress: ProgressEvent }>({ query: PROGRESS, variables: { release: args.release } }, {
    next: (r) => {
      const p = r.data?.publishProgress
      if (p == null) return
      if (p.postingsSent != null && p.postingsSent.length > 0) state.last = p.postingsSent
      if (p.phase === 'INDEX' || p.phase === 'CATALOG') {
        state.serverSide = true
        const total = state.last.reduce((n, x) => n + x.postings, 0)
        bar.update(0, 0, `indexing into ${state.last.length} peers: ${total} postings sent (${state.last.map((x) => `${x.peer.slice(-6)} ${x.postings}`).join(', ')})`)
      } else if (p.phase === 'READ' && p.bytesTotal > 0) {
        state.serverSide = true
        bar.update(p.bytesRead, p.bytesTotal, `read ${mb(p.bytesRead)}/${mb(p.bytesTotal)} MB, ${p.units} units`)
      }
    },
    error: () => {},
    complete: () => {}
  })
  return {
    get serverSide () { return state.serverSide },
    postingsSent: () => state.last,
    stop: async () => { unsubscribe(); await ws.dispose() }
  }
}

/** `publish --by-path`: absolute paths in one request; the peer (on this machine) reads them, folders included. */
async function publishByPath (args: PeerPublishArgs): Promise<number> {
  const abs = async (f: string): Promise<string> => {
    if (await stat(f).catch(() => undefined) === undefined) throw new ImportError(`cannot read '${f}'`)
    return resolve(f)
  }
  const input = {
    release: args.release,
    format: args.format === undefined ? null : FORMATS[args.format],
    paths: await Promise.all(args.files.map(abs)),
    translationPaths: args.translations.length === 0 ? null : await Promise.all(args.translations.map(abs)),
    contentPaths: (args.content ?? []).length === 0 ? null : await Promise.all((args.content ?? []).map(abs))
  }
  const bar = new ProgressBar({ label: `publish ${args.release}` })
  const watch = watchPublish(args, bar)
  let data: { publishPackages: { summary: PublishSummary } | null }
  try {
    data = await client(args).request(PUBLISH, { input })
  } finally {
    bar.done()
    await watch.stop()
  }
  return report(args, data.publishPackages?.summary, watch.postingsSent())
}

/** The rejection lines and the summary line on stderr. */
function report (args: PeerPublishArgs, s: PublishSummary | undefined, sent: Array<{ peer: string, postings: number }>): number {
  if (s === undefined) throw new PeerProtocolError(`the peer at ${args.peer} gave no publish summary`)
  // A networked publisher sent the postings to its index peers: say how many each took (alone, it only stored them itself).
  if (sent.length > 1) for (const p of sent) process.stderr.write(`postings sent to ${p.peer}: ${p.postings}\n`)
  for (const r of s.rejections) process.stderr.write(`edos: rejected ${r}\n`)
  for (const u of s.contentUnmatched ?? []) process.stderr.write(`edos: no published unit names the content file ${u} (not stored)\n`)
  process.stderr.write(`published ${s.units} units into ${s.release} (${s.rejected} rejected, ${s.replaced} replaced), ${s.postings} postings, ${s.seconds.toFixed(2)} s${(s.contentStored ?? 0) > 0 ? `; ${s.contentStored ?? 0} content files stored and seeded` : ''}\n`)
  return 0
}

export async function runPeerPublish (args: PeerPublishArgs): Promise<number> {
  if (args.byPath === true) return await publishByPath(args)
  // A folder travels as its files: each is a unit of a `--format dir` publish, or content for --content.
  if (args.format === 'dir') args = { ...args, files: (await Promise.all(args.files.map(filesUnder))).flat() }
  const content = (await Promise.all((args.content ?? []).map(filesUnder))).flat()
  for (const f of [...args.files, ...args.translations]) {
    const s = await stat(f).catch(() => undefined)
    if (s === undefined) throw new ImportError(`cannot read '${f}'`)
    // A directory cannot travel as one upload; the peer's own machine can import it by path.
    if (!s.isFile()) throw new UsageError(`'${f}' is not a file: only files can be uploaded (import a directory with edos import --data on the peer's machine)`)
  }
  const files: UploadFile[] = [
    ...args.files.map((path, i) => ({ variable: `input.files.${i}`, path })),
    ...args.translations.map((path, i) => ({ variable: `input.translations.${i}`, path })),
    ...content.map((path, i) => ({ variable: `input.content.${i}`, path }))
  ]
  const input = {
    release: args.release,
    format: args.format === undefined ? null : FORMATS[args.format],
    files: args.files.map(() => null),
    translations: args.translations.length === 0 ? null : args.translations.map(() => null),
    content: content.length === 0 ? null : content.map(() => null)
  }
  const bar = new ProgressBar({ label: `upload ${args.release}` })
  const watch = watchPublish(args, bar)
  let data: { publishPackages: { summary: PublishSummary } | null }
  try {
    data = await client(args).upload(PUBLISH, { input }, files, (p) => { if (!watch.serverSide) bar.update(p.sent, p.total, `${mb(p.sent)}/${mb(p.total)} MB`) })
  } finally {
    bar.done()
    await watch.stop()
  }
  return report(args, data.publishPackages?.summary, watch.postingsSent())
}
