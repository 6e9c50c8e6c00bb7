/**
 * A peer's GraphQL endpoint: one node:http server carrying
 * - yoga at /graphql: POST/GET, GraphQL multipart uploads, SSE subscriptions
 *   (`Accept: text/event-stream`), GraphiQL for browsers (inlined, no CDN);
 * - graphql-ws on the same path (WebSocket upgrade), through yoga's envelop;
 * - the web console at /console/ (src/server/console: Publisher and
 *   Client/Mirror views over this same endpoint);
 * - a landing page at / and a health check at /healthz;
 * - the peer's content routes, when it has them (/torrents/, /content/, /announce, /scrape).
 * CORS is off: only same-origin pages (GraphiQL itself) can read answers.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { GraphQLSchema } from 'graphql'
import type { PeerApi } from '../actors/types.ts'
import { buildSchema } from '../resolvers/index.ts'
import { createEdosYoga, DEFAULT_LIMITS, type Limits } from './yoga.ts'
import { attachGraphQLWs } from './ws.ts'
import { landingPage } from './pages.ts'
import { bearerToken } from './context.ts'
import { createConsole, consoleUrl, CONSOLE_PATH } from './console/index.ts'

export { DEFAULT_LIMITS, LIMIT_CODE, type Limits } from './yoga.ts'
export type { EdosContext } from './context.ts'

export const GRAPHQL_PATH = '/graphql'
export { CONSOLE_PATH, consoleUrl } from './console/index.ts'

export interface ServerInit {
  /** The peer every resolver talks to. */
  peer: PeerApi
  /** Default: buildSchema() from src/resolvers. */
  schema?: GraphQLSchema
  /** Interface to listen on (default '127.0.0.1': a peer's API is local unless asked). */
  host?: string
  /** TCP port (default 4000; 0 picks a free one, see EdosServer.url). */
  port?: number
  /** Query limits; each missing field takes DEFAULT_LIMITS' value (12, 5000, 15, 2000). */
  limits?: Partial<Limits>
  /** Largest declared non-multipart request body, in bytes (default 1 MiB). */
  maxBodyBytes?: number
}

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024

/**
 * Bodies are refused before yoga reads them: yoga buffers a whole request
 * (uploads included) before any resolver can check the token. Multipart
 * requests (only publishing takes files) need the bearer token up front;
 * other bodies may not declare more than `maxBody` bytes.
 */
function refuseBody (req: IncomingMessage, peer: PeerApi, maxBody: number): { status: number, code: string, message: string } | undefined {
  if (req.method !== 'POST') return undefined
  const type = String(req.headers['content-type'] ?? '')
  if (type.startsWith('multipart/form-data')) {
    if (!peer.authenticate(bearerToken(req.headers.authorization))) {
      return { status: 401, code: 'UNAUTHENTICATED', message: "Uploads need the peer's API token: send Authorization: Bearer <token from DATA/api-token>" }
    }
    return undefined
  }
  const length = Number(req.headers['content-length'] ?? 0)
  if (length > maxBody) return { status: 413, code: 'PAYLOAD_TOO_LARGE', message: `request body of ${length} bytes exceeds the limit of ${maxBody}` }
  return undefined
}

export interface EdosServer {
  /** http://host:port/graphql */
  url: string
  /** http://host:port/console/ (the web console) */
  consoleUrl: string
  /** ws://host:port/graphql */
  wsUrl: string
  /** Stops accepting, closes WebSockets and open HTTP streams (SSE), then resolves. */
  close: () => Promise<void>
}

/** `[::1]` for IPv6 literals, so the URL parses. */
function hostForUrl (host: string): string {
  return host.includes(':') ? `[${host}]` : host
}

/** The GraphQL URL of a server on host:port. */
export function graphqlUrl (host: string, port: number): string {
  return `http://${hostForUrl(host)}:${port}${GRAPHQL_PATH}`
}

export async function startServer (init: ServerInit): Promise<EdosServer> {
  const host = init.host ?? '127.0.0.1'
  const port = init.port ?? 4000
  const limits: Limits = { ...DEFAULT_LIMITS, ...init.limits }
  const schema = init.schema ?? buildSchema()
  const yoga = createEdosYoga({ peer: init.peer, schema, limits, endpoint: GRAPHQL_PATH })
  const webConsole = createConsole()

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' })
      res.end(req.method === 'HEAD' ? undefined : landingPage(init.peer.info, GRAPHQL_PATH, CONSOLE_PATH))
      return
    }
    if (webConsole.handle(req, res)) return
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' })
      res.end(JSON.stringify({ status: 'ok', peer: init.peer.info.id, role: init.peer.info.role }))
      return
    }
    // Content routes (tracker, web seed, .torrent files) live beside GraphQL on the same port.
    if (path !== GRAPHQL_PATH && init.peer.serveHttp?.(req, res) === true) return
    const refusal = refuseBody(req, init.peer, init.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES)
    if (refusal !== undefined) {
      res.writeHead(refusal.status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      res.end(JSON.stringify({ errors: [{ message: refusal.message, extensions: { code: refusal.code } }] }))
      req.resume()
      return
    }
    void yoga(req, res)
  }
  const server = createServer(handle)
  const ws = attachGraphQLWs({ server, yoga, path: GRAPHQL_PATH })

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address() as AddressInfo
  const base = `${hostForUrl(host)}:${address.port}`
  init.peer.httpListening?.(`http://${base}`)

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      await ws.close()
      const closed = new Promise<void>((resolve) => { server.close(() => { resolve() }) })
      // SSE streams and keep-alive sockets would hold close() forever.
      server.closeAllConnections()
      await closed
      await yoga.dispose()
    })()
    await closing
  }
  return { url: graphqlUrl(host, address.port), consoleUrl: consoleUrl(graphqlUrl(host, address.port)), wsUrl: `ws://${base}${GRAPHQL_PATH}`, close }
}
