/**
 * graphql-ws on the same node:http server and path as yoga. Operations go
 * through yoga's getEnveloped, so the armor limits, error masking and
 * context are exactly those of HTTP; a rejected document is answered with a
 * graphql-ws `error` message and the socket stays open.
 */
import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { ExecutionArgs } from 'graphql'
import { createGraphQLError } from 'graphql-yoga'
import { WebSocketServer } from 'ws'
import { useServer } from 'graphql-ws/use/ws'
import { remoteAddressOf } from './context.ts'
import { isGraphQLError } from './errors.ts'
import type { EdosYoga } from './yoga.ts'

/** What the enveloped execute/subscribe need back in graphql-ws's execute/subscribe. */
interface Enveloped {
  execute: (args: ExecutionArgs) => unknown
  subscribe: (args: ExecutionArgs) => unknown
}

export interface GraphQLWsInit {
  server: HttpServer
  yoga: EdosYoga
  /** Path of the upgrade (default '/graphql', the same as HTTP). */
  path?: string
  /** Keep-alive ping interval in ms (default 12000, graphql-ws's). */
  keepAlive?: number
}

export interface GraphQLWs { close: () => Promise<void> }

/**
 * Browsers let any page open a WebSocket to any host; refuse upgrades whose
 * Origin is another host (the WS analogue of "no CORS"). Clients that are not
 * browsers send no Origin and are let in: they authenticate with a token.
 */
export function sameOrigin (req: IncomingMessage): boolean {
  const origin = req.headers.origin
  if (origin === undefined || origin === '') return true
  try {
    return new URL(origin).host === req.headers.host
  } catch {
    return false
  }
}

export function attachGraphQLWs (init: GraphQLWsInit): GraphQLWs {
  const wss = new WebSocketServer({ server: init.server, path: init.path ?? '/graphql', verifyClient: (info: { req: IncomingMessage }) => sameOrigin(info.req) })
  // One AbortController per operation: resolvers pass ctx.signal to the peer
  // (peer.follow, downloadProgress), which must stop when the client completes
  // the operation or the socket drops.
  const controllers = new WeakMap<object, Map<string, AbortController>>()
  const opsOf = (extra: { socket: { once: (event: 'close', listener: () => void) => unknown } }): Map<string, AbortController> => {
    let ops = controllers.get(extra)
    if (ops === undefined) {
      const created = new Map<string, AbortController>()
      controllers.set(extra, created)
      // On the socket's own 'close', not graphql-ws's onClose: graphql-ws first
      // awaits return() on every running subscription, and an async generator
      // blocked on the peer only returns once its signal aborts.
      extra.socket.once('close', () => {
        for (const c of created.values()) c.abort()
        created.clear()
      })
      ops = created
    }
    return ops
  }
  const endOp = (extra: object, id: string): void => {
    const ops = controllers.get(extra)
    ops?.get(id)?.abort()
    ops?.delete(id)
  }

  const disposable = useServer<Record<string, unknown> | undefined>({
    execute: async (args) => await (args.rootValue as Enveloped).execute(args) as never,
    subscribe: async (args) => await (args.rootValue as Enveloped).subscribe(args) as never,
    onSubscribe: async (ctx, id, payload) => {
      const controller = new AbortController()
      opsOf(ctx.extra).set(id, controller)
      const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization
      const { schema, execute, subscribe, contextFactory, parse, validate } = init.yoga.getEnveloped({
        req: ctx.extra.request,
        params: payload,
        edosCaller: { authorization, remoteAddress: remoteAddressOf(ctx.extra.request), signal: controller.signal }
      } as never)
      let document
      try {
        // The token limit throws from the parser: answer it as an error message.
        document = parse(payload.query)
      } catch (err) {
        endOp(ctx.extra, id)
        return [isGraphQLError(err) ? err : createGraphQLError('Invalid document.')]
      }
      const errors = validate(schema, document)
      if (errors.length > 0) { endOp(ctx.extra, id); return errors }
      return {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: payload.variables,
        contextValue: await contextFactory(),
        rootValue: { execute, subscribe }
      }
    },
    onComplete: (ctx, id) => { endOp(ctx.extra, id) }
  }, wss, init.keepAlive)

  return {
    close: async () => {
      // dispose closes every socket (1001 Going away) and ends operations.
      await disposable.dispose()
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
    }
  }
}
