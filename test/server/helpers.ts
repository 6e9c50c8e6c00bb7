/**
 * Real clients for the server tests: fetch over HTTP, SSE read off a fetch
 * body, graphql-ws with the `ws` WebSocket. Everything talks to 127.0.0.1.
 */
import WebSocket from 'ws'
import { createClient, type Client } from 'graphql-ws'

export interface GqlResult { status: number, contentType: string, body: { data?: any, errors?: Array<{ message: string, extensions?: Record<string, unknown>, locations?: unknown }> } }

export async function gql (url: string, query: string, variables?: Record<string, unknown>, headers: Record<string, string> = {}): Promise<GqlResult> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(10_000)
  })
  return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.json() as GqlResult['body'] }
}

/** GraphQL over SSE (yoga's "distinct connections" mode): yields each `next` payload. */
export async function * sse (url: string, query: string, variables: Record<string, unknown>, signal: AbortSignal, headers: Record<string, string> = {}): AsyncGenerator<any> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query, variables }),
    signal
  })
  if (res.status !== 200 || res.body === null) throw new Error(`SSE answered ${res.status}: ${await res.text()}`)
  const decoder = new TextDecoder()
  let buffer = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true })
    let end
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end)
      buffer = buffer.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = block.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n')
      if (event === 'complete') return
      if (event === 'next' || (event === undefined && data !== '')) yield JSON.parse(data)
    }
  }
}

export interface DroppableClient extends Client {
  /** Kills the TCP connection with no close frame: a client that vanishes. */
  drop: () => void
}

export function wsClient (url: string, token?: string): DroppableClient {
  const sockets = new Set<WebSocket>()
  class Tracked extends WebSocket {
    constructor (address: string, protocols?: string | string[]) {
      super(address, protocols)
      sockets.add(this)
    }
  }
  const client = createClient({
    url,
    webSocketImpl: Tracked,
    connectionParams: token === undefined ? {} : { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    lazy: true
  })
  return Object.assign(client, { drop: () => { for (const s of sockets) s.terminate() } })
}

/** Next value of an async iterator, or a clear failure after `ms`. */
export async function next<T> (it: AsyncIterator<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no event within ${ms} ms`)) }, ms) })
  try {
    const r = await Promise.race([it.next(), timeout])
    if (r.done === true) throw new Error('stream ended')
    return r.value
  } finally {
    clearTimeout(timer)
  }
}

/** Polls until `check` holds (state the server reaches asynchronously, e.g. after a drop). */
export async function eventually (check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A query `levels` fields deep along a recursive field (`tree { child { child ... name } } }`). */
export function deepQuery (root: string, field: string, levels: number): string {
  return `{ ${root} { ${`${field} { `.repeat(levels)}name${' }'.repeat(levels)} } }`
}

/**
 * A graphql-transport-ws client on a bare `ws` socket that keeps every
 * message as received: the fan-out tests compare frames byte for byte, and
 * can stop reading (pause) to play a stalled subscriber.
 */
export class RawClient {
  readonly messages: string[] = []

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => { this.messages.push(String(data)) })
  }

  static async open (url: string, token?: string): Promise<RawClient> {
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false })
    const client = new RawClient(socket)
    await new Promise<void>((resolve, reject) => { socket.once('open', () => { resolve() }); socket.once('error', reject) })
    socket.send(JSON.stringify({ type: 'connection_init', payload: token === undefined ? {} : { authorization: `Bearer ${token}` } }))
    await eventually(() => client.messages.some((m) => m.includes('"connection_ack"')))
    return client
  }

  subscribe (id: string, query: string, variables: Record<string, unknown> = {}): void {
    this.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables } }))
  }

  complete (id: string): void {
    this.socket.send(JSON.stringify({ id, type: 'complete' }))
  }

  /** The `next` frames of operation `id`, as received. */
  frames (id: string): string[] {
    return this.messages.filter((m) => m.startsWith(`{"id":${JSON.stringify(id)},"type":"next"`))
  }

  /** The `data.<field>` of each `next` of `id`. */
  data<T = any> (id: string, field = 'channel'): T[] {
    return this.frames(id).map((f) => (JSON.parse(f) as { payload: { data: Record<string, T> } }).payload.data[field])
  }

  close (): void { this.socket.terminate() }
}
