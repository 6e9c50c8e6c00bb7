/**
 * A small fetch-based GraphQL client for the CLI's `--peer URL` mode.
 *
 * A running peer owns its data folder (LevelDB is single-process), so the
 * CLI talks to it over its GraphQL API instead. Nothing here knows the edos
 * schema: the commands bring their documents; this module only turns the
 * transport's outcomes into errors the CLI can map to exit codes:
 * - GraphQLResponseError: the peer answered with GraphQL errors (`code` is
 *   `extensions.code`: BAD_USER_INPUT, UNAUTHENTICATED, ...);
 * - PeerUnreachableError: no answer at all (refused, DNS, timeout);
 * - PeerProtocolError: an answer that is not GraphQL (wrong URL, proxy page).
 */
import { openAsBlob } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { basename } from 'node:path'
import { PeerProtocolError, UsageError } from './errors.ts'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'

export interface GraphQLErrorShape {
  message: string
  path?: Array<string | number>
  locations?: Array<{ line: number, column: number }>
  extensions?: Record<string, unknown>
}

/** The peer answered, with errors. `code` is the first error's `extensions.code`. */
export class GraphQLResponseError extends Error {
  readonly code: string
  readonly errors: GraphQLErrorShape[]
  readonly extensions: Record<string, unknown>
  constructor (errors: GraphQLErrorShape[], readonly status: number) {
    const first = errors[0] ?? { message: 'unknown error' }
    // Every distinct message: a request can fail in several fields at once.
    super([...new Set(errors.map((e) => e.message))].join('; '))
    this.name = 'GraphQLResponseError'
    this.errors = errors
    this.extensions = first.extensions ?? {}
    this.code = typeof this.extensions.code === 'string' ? this.extensions.code : 'GRAPHQL_ERROR'
  }
}

/** Nothing answered at the URL. */
export class PeerUnreachableError extends Error {
  readonly code = 'ERR_PEER_UNREACHABLE'
  constructor (url: string, cause: unknown) {
    super(`cannot reach peer at ${url} (${describeCause(cause)}): is \`edos serve\` running there?`, { cause })
    this.name = 'PeerUnreachableError'
  }
}

/** Something answered, but not with GraphQL. */
export { PeerProtocolError }

/** undici hides the socket error under `cause` ("fetch failed" alone says nothing): its code, else the innermost message. */
function describeCause (err: unknown): string {
  let e: unknown = err
  let message = err instanceof Error ? err.message : String(err)
  for (let i = 0; i < 4 && e instanceof Error; i++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && code !== '') return code
    if (e.name === 'TimeoutError') return 'timed out'
    message = e.message
    e = e.cause
  }
  return message
}

export interface PeerClientInit {
  /** The peer's GraphQL endpoint; `http://host:port` alone gets `/graphql` appended. */
  url: string
  /** API token (publisher-only operations); sent as `Authorization: Bearer`. */
  token?: string
  /** Per request; uploads get no timeout (a large file on a slow link is not a failure). Default 30 s. */
  timeoutMs?: number
}

/** A file to upload, bound to a variable path (`input.files.0`). */
export interface UploadFile { variable: string, path: string }

export interface UploadProgress { sent: number, total: number }

/** `http://h:p` and `http://h:p/` mean the peer's `/graphql`; bad URLs are usage errors. */
export function normalisePeerUrl (value: string): string {
  let url: URL
  try { url = new URL(value) } catch { throw new UsageError(`--peer must be a URL such as http://127.0.0.1:4000/graphql, got '${value}'`) }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--peer must be an http(s) URL, got '${value}'`)
  }
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/graphql'
  return url.href
}

export class PeerClient {
  readonly url: string
  constructor (private readonly init: PeerClientInit) { this.url = normalisePeerUrl(init.url) }

  private headers (extra: Record<string, string> = {}): Record<string, string> {
    const h: Record<string, string> = { accept: 'application/graphql-response+json, application/json', ...extra }
    if (this.init.token !== undefined && this.init.token !== '') h.authorization = `Bearer ${this.init.token}`
    return h
  }

  /** Runs a query or mutation; resolves to `data`, or throws one of this module's errors. */
  async request<T> (query: string, variables: Record<string, unknown> = {}): Promise<T> {
    return await this.send<T>({
      method: 'POST',
      headers: this.headers({ 'content-type': 'application/json' }),
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(this.init.timeoutMs ?? 30_000)
    })
  }

  /**
   * A GraphQL multipart request (github.com/jaydenseric/graphql-multipart-request-spec):
   * `operations` with null where files go, `map` from part names to variable
   * paths, then the files. The body is FormData over file-backed Blobs, read
   * as a stream so that `onProgress` sees the bytes as fetch consumes them.
   */
  async upload<T> (query: string, variables: Record<string, unknown>, files: UploadFile[], onProgress?: (p: UploadProgress) => void): Promise<T> {
    const form = new FormData()
    form.append('operations', JSON.stringify({ query, variables }))
    form.append('map', JSON.stringify(Object.fromEntries(files.map((f, i) => [String(i), [`variables.${f.variable}`]]))))
    let total = 0
    for (const [i, f] of files.entries()) {
      const blob = await fileBlob(f.path)
      total += blob.size
      form.append(String(i), blob, basename(f.path))
    }
    // Response encodes the FormData exactly as fetch would (boundary included), but hands us the stream to count.
    const encoded = new Response(form)
    const contentType = encoded.headers.get('content-type') ?? 'multipart/form-data'
    let sent = 0
    const counted = encoded.body!.pipeThrough(new TransformStream<Uint8Array, Uint8Array>({
      transform (chunk, controller) {
        sent += chunk.byteLength
        // The multipart framing adds a few hundred bytes over the files' size: never report more than 100%.
        onProgress?.({ sent: Math.min(sent, total), total })
        controller.enqueue(chunk)
      }
    }))
    return await this.send<T>({
      method: 'POST',
      // yoga's CSRF guard wants a preflight-forcing header on multipart requests; the spec's clients send this one.
      headers: this.headers({ 'content-type': contentType, 'graphql-preflight': '1' }),
      body: counted,
      duplex: 'half'
    } as RequestInit)
  }

  private async send<T> (init: RequestInit): Promise<T> {
    let res: Response
    try {
      res = await fetch(this.url, init)
    } catch (err) {
      throw new PeerUnreachableError(this.url, err)
    }
    let text: string
    try {
      text = await res.text()
    } catch (err) {
      throw new PeerUnreachableError(this.url, err)
    }
    let body: { data?: T | null, errors?: GraphQLErrorShape[] }
    try {
      body = JSON.parse(text) as typeof body
    } catch {
      throw new PeerProtocolError(`the peer at ${this.url} answered HTTP ${res.status} with no GraphQL response (is the URL its /graphql endpoint?)`)
    }
    if (Array.isArray(body.errors) && body.errors.length > 0) throw new GraphQLResponseError(body.errors, res.status)
    if (body.data == null) throw new PeerProtocolError(`the peer at ${this.url} answered HTTP ${res.status} with neither data nor errors`)
    return body.data
  }
}

/** A file-backed Blob (not read into memory) where Node has openAsBlob; the bytes otherwise. */
async function fileBlob (path: string): Promise<Blob> {
  try {
    if (typeof openAsBlob === 'function') return await openAsBlob(path) as unknown as Blob
  } catch { /* fall through: readFile reports a missing file clearly */ }
  return new Blob([await readFile(path)])
}

/**
 * A graphql-ws client for a peer's subscriptions (progress of a download,
 * a publish, a flash crowd): same URL as HTTP with ws:, the token as the
 * connection's authorization, connecting on the first subscribe.
 */
export function subscriptionClient (args: { peer: string, token?: string }, retryAttempts: number): Client {
  return createClient({
    url: args.peer.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: args.token === undefined ? {} : { authorization: `Bearer ${args.token}` },
    retryAttempts,
    lazy: true
  })
}
