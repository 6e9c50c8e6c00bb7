/// <reference lib="dom" />
/**
 * The console's only way out: the peer's own /graphql on the page's origin.
 * Queries and mutations over HTTP POST, publishing uploads as one GraphQL
 * multipart request (XMLHttpRequest, for its upload progress events), and
 * subscriptions over graphql-ws on the same path. The API token lives in
 * sessionStorage (gone with the tab) and goes in the Authorization header or
 * the graphql-ws connection params, never in a URL.
 */
import { createClient, type Client } from 'graphql-ws/client'

export const GRAPHQL_PATH = '/graphql'
const TOKEN_KEY = 'edos.console.token'

/** One GraphQL error as the peer sends it. */
export interface GqlErrorEntry {
  message: string
  path?: ReadonlyArray<string | number>
  extensions?: { code?: string, reason?: string, position?: number, expected?: string, [k: string]: unknown }
}

/** A request that came back with errors (or none at all): `errors` as sent, `code` of the first. */
export class GqlError extends Error {
  readonly code: string
  constructor (readonly errors: readonly GqlErrorEntry[]) {
    super(errors.map((e) => e.message).join('; '))
    this.name = 'GqlError'
    this.code = errors[0]?.extensions?.code ?? 'ERR_GRAPHQL'
  }
}

export function getToken (): string {
  return sessionStorage.getItem(TOKEN_KEY) ?? ''
}

export function setToken (token: string): void {
  if (token === '') sessionStorage.removeItem(TOKEN_KEY)
  else sessionStorage.setItem(TOKEN_KEY, token)
  // graphql-ws sends credentials once per connection: move every open subscription to a new one.
  const old = wsClient
  wsClient = undefined
  for (const sub of active) sub.move()
  void old?.dispose()
}

function headers (): Record<string, string> {
  const h: Record<string, string> = { accept: 'application/graphql-response+json, application/json' }
  const token = getToken()
  if (token !== '') h.authorization = `Bearer ${token}`
  return h
}

interface Response<T> { data?: T | null, errors?: GqlErrorEntry[] }

function settle<T> (body: Response<T>): T {
  if (body.errors !== undefined && body.errors.length > 0) throw new GqlError(body.errors)
  if (body.data == null) throw new GqlError([{ message: 'the peer answered with no data' }])
  return body.data
}

/** Runs a query or mutation; errors (GraphQL or transport) throw a GqlError. */
export async function gql<T> (query: string, variables: Record<string, unknown> = {}): Promise<T> {
  let res: globalThis.Response
  try {
    res = await fetch(GRAPHQL_PATH, { method: 'POST', headers: { ...headers(), 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) })
  } catch (err) {
    throw new GqlError([{ message: `cannot reach the peer: ${(err as Error).message}`, extensions: { code: 'UNREACHABLE' } }])
  }
  let body: Response<T>
  try {
    body = await res.json() as Response<T>
  } catch {
    throw new GqlError([{ message: `the peer answered HTTP ${res.status} with no GraphQL body`, extensions: { code: 'HTTP_' + String(res.status) } }])
  }
  return settle(body)
}

/**
 * A mutation with files (graphql-multipart-request-spec): `files` maps a
 * variable path such as `input.files.0` to a File. `onUpload` sees bytes sent.
 */
export async function gqlUpload<T> (query: string, variables: Record<string, unknown>, files: ReadonlyMap<string, File>, onUpload?: (sent: number, total: number) => void): Promise<T> {
  const form = new FormData()
  form.append('operations', JSON.stringify({ query, variables }))
  const map: Record<string, string[]> = {}
  let i = 0
  for (const path of files.keys()) map[String(i++)] = [`variables.${path}`]
  form.append('map', JSON.stringify(map))
  i = 0
  for (const file of files.values()) form.append(String(i++), file, file.name)
  const body = await new Promise<Response<T>>((resolve, reject) => {
    const xhr = new XMLHttpRequest()
    xhr.open('POST', GRAPHQL_PATH)
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v)
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onUpload?.(e.loaded, e.total) }
    xhr.onload = () => {
      try { resolve(JSON.parse(xhr.responseText) as Response<T>) } catch { reject(new GqlError([{ message: `the peer answered HTTP ${xhr.status} with no GraphQL body` }])) }
    }
    xhr.onerror = () => { reject(new GqlError([{ message: 'the upload failed: the peer closed the connection', extensions: { code: 'UNREACHABLE' } }])) }
    xhr.send(form)
  })
  return settle(body)
}

let wsClient: Client | undefined

/** Socket state for the header: 'connected', 'connecting', 'closed' (with the close code). */
export type LiveState = 'idle' | 'connecting' | 'connected' | 'closed'
let liveListener: ((state: LiveState, detail: string) => void) | undefined
export function onLive (listener: (state: LiveState, detail: string) => void): void { liveListener = listener }

function ws (): Client {
  if (wsClient !== undefined) return wsClient
  // A client replaced after a token change still reports its own close: only the current one speaks.
  const report = (state: LiveState, detail: string): void => { if (wsClient === client) liveListener?.(state, detail) }
  const client: Client = createClient({
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${GRAPHQL_PATH}`,
    connectionParams: () => {
      const token = getToken()
      return token === '' ? {} : { authorization: `Bearer ${token}` }
    },
    lazy: true,
    retryAttempts: 5,
    on: {
      connecting: () => { report('connecting', '') },
      connected: () => { report('connected', '') },
      closed: (e) => { report('closed', e instanceof CloseEvent ? `${e.code}${e.reason === '' ? '' : ' ' + e.reason}` : '') }
    }
  })
  wsClient = client
  return client
}

export interface SubscriptionSink<T> {
  next: (data: T) => void
  error?: (err: GqlError) => void
  complete?: () => void
}

/** Open subscriptions, so a token change can carry them over to a new connection. */
const active = new Set<{ move: () => void }>()

function toGqlError (err: unknown): GqlError {
  const entries: GqlErrorEntry[] = Array.isArray(err)
    ? err as GqlErrorEntry[]
    : [{ message: err instanceof Error ? err.message : (err instanceof CloseEvent ? `subscription socket closed (${err.code}${err.reason === '' ? '' : ': ' + err.reason})` : String(err)) }]
  return new GqlError(entries)
}

/**
 * Subscribes over graphql-ws; the returned function unsubscribes. `variables`
 * may be a function, read at each (re)subscription: a channel resumes from the
 * last notification seen, not from where it first started.
 */
export function subscribe<T> (query: string, variables: Record<string, unknown> | (() => Record<string, unknown>), sink: SubscriptionSink<T>): () => void {
  let stop: (() => void) | undefined
  let generation = 0
  const entry = {
    move: () => { start() }
  }
  const start = (): void => {
    const mine = ++generation
    const previous = stop
    // Ending the old operation would report `complete` to the sink: the generation check keeps it quiet.
    stop = ws().subscribe<T>({ query, variables: typeof variables === 'function' ? variables() : variables }, {
      next: (value) => {
        if (mine !== generation) return
        if (value.errors !== undefined && value.errors.length > 0) { sink.error?.(new GqlError(value.errors as GqlErrorEntry[])); return }
        if (value.data != null) sink.next(value.data as T)
      },
      error: (err) => { if (mine === generation) { active.delete(entry); sink.error?.(toGqlError(err)) } },
      complete: () => { if (mine === generation) { active.delete(entry); sink.complete?.() } }
    })
    previous?.()
  }
  active.add(entry)
  start()
  return () => {
    active.delete(entry)
    generation++
    stop?.()
  }
}
