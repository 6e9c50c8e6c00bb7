/**
 * graphql-ws on the same node:http server and path as yoga. Operations go
 * through yoga's getEnveloped, so the armor limits, error masking and
 * context are exactly those of HTTP; a rejected document is answered with a
 * graphql-ws `error` message and the socket stays open. Live channel
 * notifications are executed once per group of like subscribers and sent
 * as one pre-encoded frame (fan-out.ts).
 */
import { writeSync } from 'node:fs'
import type { Server as HttpServer, IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ExecutionArgs } from 'graphql'
import { createGraphQLError } from 'graphql-yoga'
import { WebSocketServer, type WebSocket } from 'ws'
import { useServer } from 'graphql-ws/use/ws'
import type { PeerApi } from '../actors/types.ts'
import { remoteAddressOf, type CallerInit, type EdosContext } from './context.ts'
import { isGraphQLError } from './errors.ts'
import { FanOut, isAsyncIterable, type FanOutInit, type FanOutSocket, type FanOutStats, type Reopen, type SharedSubscriber, type SubscribeResult } from './fan-out.ts'
import { createKeepAlive, DEFAULT_KEEP_ALIVE_MS } from './keep-alive.ts'
import { shareKey } from './share-key.ts'
import type { EdosYoga } from './yoga.ts'

/** What the enveloped execute/subscribe need back in graphql-ws's execute/subscribe. */
interface Enveloped {
  execute: (args: ExecutionArgs) => unknown
  subscribe: (args: ExecutionArgs) => unknown
  /** Aborts the operation's signal. */
  end: () => void
  /** Set when the fan-out serves the operation. */
  shared?: { subscriber: SharedSubscriber, reopen: Reopen }
}

/**
 * graphql-ws answers a client's `complete` with return() on the stream, which
 * an async generator only honours once its pending next() settles (the next
 * notification): abort the operation's signal first, so the peer's stream and
 * a fan-out membership end now.
 */
function abortingOnReturn (stream: AsyncIterable<unknown>, end: () => void): AsyncIterableIterator<unknown> {
  const it = stream[Symbol.asyncIterator]()
  return {
    next: async () => await it.next(),
    return: async (value?: unknown) => {
      end()
      return await it.return?.(value) ?? { done: true, value }
    },
    throw: async (err?: unknown) => {
      end()
      if (it.throw !== undefined) return await it.throw(err)
      throw err
    },
    [Symbol.asyncIterator] () { return this }
  }
}

export interface GraphQLWsInit {
  server: HttpServer
  yoga: EdosYoga
  /** Path of the upgrade (default '/graphql', the same as HTTP). */
  path?: string
  /**
   * Keep-alive ping interval in ms (default 12000, graphql-ws's); 0 turns
   * it off. Pings go out in batches (keep-alive.ts), not one timer per socket.
   */
  keepAlive?: number
  /**
   * Ms a socket may take to send connection_init (default 10000; graphql-ws's
   * is 3000). The timer runs on the server's clock: a mirror busy accepting
   * thousands of sockets reads a prompt init late, and 3 s closed (4408)
   * subscribers that had sent theirs in time (channels bench, load ~30).
   */
  connectionInitWaitTimeout?: number
  /**
   * The shared fan-out of channel notifications; false runs every subscriber
   * on its own. Default: on with FanOutInit's defaults, unless the environment
   * says EDOS_WS_FANOUT=off (the channels bench measures both through `edos serve`).
   */
  fanOut?: FanOutInit | false
}

export const DEFAULT_CONNECTION_INIT_WAIT_MS = 10_000

export interface GraphQLWs {
  close: () => Promise<void>
  /** Groups and members of the shared fan-out (zeros when it is off). */
  fanOutStats: () => FanOutStats
}

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

/**
 * The fan-out's view of one subscriber's connection: ws's state, and shared
 * frames written straight to the TCP socket under it (`tcp` is the upgrade
 * request's socket, the one ws itself writes to): with one write(2) on its
 * descriptor while nothing of the socket waits in Node, else through the
 * stream. The order holds because ws writes synchronously here: no
 * per-message deflate and only string messages, so its sender never
 * queues; bufferedAmount counts what waits in Node either way.
 */
export function fanOutSocket (ws: WebSocket, tcp: Duplex | null): FanOutSocket {
  const fd = tcp === null ? -1 : descriptorOf(tcp)
  return {
    get readyState () { return ws.readyState },
    get bufferedAmount () { return ws.bufferedAmount },
    send: (data) => { ws.send(data) },
    writeFrames: tcp === null
      ? undefined
      : (frames) => {
          if (!tcp.writable) return
          let rest = frames
          // Straight to the kernel when nothing of this socket waits in Node or libuv (order holds);
          // what the kernel does not take (a full buffer: EAGAIN, a short write) goes the stream's way.
          if (fd >= 0 && tcp.writableLength === 0) {
            let written = 0
            try { written = writeSync(fd, frames) } catch { /* EAGAIN, EPIPE: the stream queues it or reports the error */ }
            if (written === frames.length) return
            rest = frames.subarray(written)
          }
          tcp.write(Buffer.from(rest)) // a copy: `frames` is the fan-out's scratch buffer
        }
  }
}

/**
 * The file descriptor under a plain TCP socket, or -1 (TLS, Windows, not
 * open): the fan-out writes a frame with one write(2) through it. Through
 * net.Socket.write (Writable bookkeeping, a WriteWrap per write, an
 * after-write tick) a pass of 10,000 frames kept the mirror's thread busy
 * ~164 ms, 72 of them in user time; through write(2), 120-133 ms.
 */
function descriptorOf (tcp: Duplex): number {
  if ((tcp as { encrypted?: boolean }).encrypted === true) return -1
  const fd = (tcp as { _handle?: { fd?: unknown } | null })._handle?.fd
  return typeof fd === 'number' && fd >= 0 ? fd : -1
}

export function attachGraphQLWs (init: GraphQLWsInit): GraphQLWs {
  // No per-message deflate (ws's default, said here because it matters): a
  // shared frame would be compressed again for every socket. ws sets TCP_NODELAY.
  const wss = new WebSocketServer({ server: init.server, path: init.path ?? '/graphql', perMessageDeflate: false, verifyClient: (info: { req: IncomingMessage }) => sameOrigin(info.req) })
  const keepAliveMs = init.keepAlive ?? DEFAULT_KEEP_ALIVE_MS
  const keepAlive = keepAliveMs > 0 && Number.isFinite(keepAliveMs) ? createKeepAlive({ intervalMs: keepAliveMs }) : undefined
  if (keepAlive !== undefined) wss.on('connection', (socket) => { keepAlive.add(socket) })
  const fanOutInit = init.fanOut ?? (process.env.EDOS_WS_FANOUT === 'off' ? false : {})
  const fanOut = fanOutInit === false ? undefined : new FanOut(fanOutInit)
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
    connectionInitWaitTimeout: init.connectionInitWaitTimeout ?? DEFAULT_CONNECTION_INIT_WAIT_MS,
    execute: async (args) => await (args.rootValue as Enveloped).execute(args) as never,
    subscribe: async (args) => {
      const root = args.rootValue as Enveloped
      const result = await root.subscribe(args)
      if (!isAsyncIterable(result)) return result as never
      const { shared } = root
      if (shared === undefined) return abortingOnReturn(result, root.end) as never
      // graphql-ws keeps `args` for as long as the operation lives; a parked
      // subscriber must not keep the first pipeline's context through it.
      args.contextValue = undefined
      args.rootValue = undefined
      return abortingOnReturn(shared.subscriber.stream(result[Symbol.asyncIterator](), shared.reopen), root.end) as never
    },
    onSubscribe: async (ctx, id, payload) => {
      const controller = new AbortController()
      opsOf(ctx.extra).set(id, controller)
      const authorization = ctx.connectionParams?.authorization ?? ctx.connectionParams?.Authorization
      const caller: CallerInit = { authorization, remoteAddress: remoteAddressOf(ctx.extra.request), signal: controller.signal }
      const { schema, execute, subscribe, contextFactory, parse, validate } = init.yoga.getEnveloped({ req: ctx.extra.request, params: payload, edosCaller: caller } as never)
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
      const contextValue = await contextFactory() as EdosContext
      const key = fanOut === undefined ? undefined : shareKey({ document, query: payload.query, operationName: payload.operationName, variables: payload.variables, authenticated: contextValue.authenticated, sameMachine: contextValue.sameMachine })
      let shared: Enveloped['shared']
      if (fanOut !== undefined && key !== undefined) {
        // The operation again, through a fresh envelop: for the group (its own signal and peer) or for this subscriber (reopen).
        const run = async (callerInit: CallerInit, peerOf: (peer: PeerApi) => PeerApi): Promise<SubscribeResult> => {
          const again = init.yoga.getEnveloped({ req: ctx.extra.request, params: payload, edosCaller: callerInit } as never)
          const againContext = await again.contextFactory() as EdosContext
          againContext.peer = peerOf(againContext.peer)
          return await again.subscribe({ schema: again.schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue: againContext }) as SubscribeResult
        }
        const subscriber = fanOut.subscriber({
          key,
          id,
          socket: fanOutSocket(ctx.extra.socket, ctx.extra.request.socket),
          signal: controller.signal,
          open: async (groupPeer, signal) => await run({ ...caller, signal }, () => groupPeer)
        })
        // The resolver's ctx.peer.follow() is the subscriber's: it hands it to the group once caught up.
        contextValue.peer = subscriber.peer(contextValue.peer)
        shared = { subscriber, reopen: async () => await run(caller, (peer) => subscriber.peer(peer)) }
      }
      return {
        schema,
        document,
        operationName: payload.operationName,
        variableValues: payload.variables,
        contextValue,
        rootValue: { execute, subscribe, end: () => { endOp(ctx.extra, id) }, shared } satisfies Enveloped
      }
    },
    onComplete: (ctx, id) => { endOp(ctx.extra, id) }
  }, wss, 0) // graphql-ws's own keep-alive off: ours above

  return {
    close: async () => {
      // dispose closes every socket (1001 Going away) and ends operations.
      await disposable.dispose()
      keepAlive?.stop()
      fanOut?.close()
      await new Promise<void>((resolve) => { wss.close(() => { resolve() }) })
    },
    fanOutStats: () => fanOut?.stats() ?? { groups: 0, members: 0, broadcasts: 0, evictions: 0 }
  }
}
