/**
 * The web console: the paper's Publisher and Client/Mirror GUIs, served by
 * every peer at /console/ next to its GraphQL endpoint, and talking to that
 * endpoint only (HTTP for queries, mutations and uploads; graphql-ws for
 * subscriptions). Its browser code lives in ./web as TypeScript, type-checked
 * with the rest of the repository and bundled by esbuild on the first
 * request (no build step, no network, nothing fetched from a CDN).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createConsoleAssets, type ConsoleAssets } from './assets.ts'
import { ConsoleBuildError } from './errors.ts'

export { ConsoleBuildError } from './errors.ts'

export const CONSOLE_PATH = '/console/'

export interface ConsoleInit {
  /** Where the console is served (default CONSOLE_PATH, with its trailing slash). */
  path?: string
  /** Minify the bundle (default true; false keeps it readable when debugging the console). */
  minify?: boolean
}

export interface WebConsole {
  readonly path: string
  /** Serves the request when it is the console's (true), else leaves it alone (false). */
  handle: (req: IncomingMessage, res: ServerResponse) => boolean
}

export function createConsole (init: ConsoleInit = {}): WebConsole {
  const path = init.path ?? CONSOLE_PATH
  const assets: ConsoleAssets = createConsoleAssets({ minify: init.minify ?? true })
  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = (req.url ?? '/').split('?')[0]
    if (url === path.slice(0, -1)) {
      // /console -> /console/ so the page's relative asset URLs resolve under it.
      res.writeHead(308, { location: path })
      res.end()
      return true
    }
    if (!url.startsWith(path)) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' })
      res.end('the console is read with GET\n')
      return true
    }
    const name = url.slice(path.length) === '' ? 'index.html' : url.slice(path.length)
    assets.get(name).then((asset) => {
      if (asset === undefined) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        res.end(`no console asset ${name}\n`)
        return
      }
      res.writeHead(200, {
        'content-type': asset.type,
        'content-length': asset.body.byteLength,
        'cache-control': 'no-cache',
        // Only this origin: scripts, styles, images, and fetch/WebSocket to the peer itself.
        'content-security-policy': contentSecurityPolicy(req.headers.host),
        'x-content-type-options': 'nosniff'
      })
      res.end(req.method === 'HEAD' ? undefined : asset.body)
    }).catch((err: unknown) => {
      const e = err instanceof ConsoleBuildError ? err : new ConsoleBuildError(`console build failed: ${(err as Error).message}`, { cause: err })
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' })
      res.end(`${e.message}\n`)
    })
    return true
  }
  return { path, handle }
}

/**
 * Everything from this origin only. WebSockets are named by host: older
 * browsers do not count ws: as 'self', and `ws:` alone would allow any host.
 */
function contentSecurityPolicy (host: string | undefined): string {
  const ws = host === undefined || !/^[\w.[\]:-]+$/.test(host) ? '' : ` ws://${host} wss://${host}`
  return `default-src 'self'; connect-src 'self'${ws}; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
}

/** The console URL of a peer whose GraphQL URL is given (http://host:port/graphql -> http://host:port/console/). */
export function consoleUrl (graphqlUrl: string): string {
  return new URL(CONSOLE_PATH, graphqlUrl).toString()
}
