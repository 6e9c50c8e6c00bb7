/**
 * `edos serve`: one peer and its GraphQL endpoint, until SIGINT/SIGTERM.
 * `npm start` (runStartServing): the same on the default data folder, with
 * the bundled sample published first when it is missing.
 */
import { resolve } from 'node:path'
import { EmbeddedPeer } from '../actors/index.ts'
import type { NetworkInit } from '../actors/network.ts'
import type { PeerContentInit, PeerFlashCrowdInit } from '../actors/embedded.ts'
import type { PeerRole } from '../actors/types.ts'
import { graphqlUrl, startServer, type EdosServer } from '../server/index.ts'
import { ProgressBar } from './progress.ts'
import { DEFAULT_DATA, SAMPLE_RELEASES } from './sample.ts'
import { UsageError } from './errors.ts'

export interface ServeArgs {
  /** The peer folder (created when missing). */
  data: string
  /** `HOST:PORT` (default '127.0.0.1:4000'; `[::1]:4000` for IPv6; port 0 picks one). */
  http?: string
  /** Default 'publisher' (see EmbeddedPeer). */
  role?: PeerRole
  /** Resolves when the process should stop (default: SIGINT or SIGTERM). For tests. */
  until?: Promise<unknown>
  /** Where the four start lines go (default process.stdout). */
  out?: NodeJS.WritableStream
  /** Join the distributed index with these settings; undefined: embedded (no network). */
  network?: ServeNetwork
  /** Content distribution settings (BitTorrent port, bandwidth, seeding policy). */
  content?: PeerContentInit
  /** Flash crowd settings (join the ones the publisher opens). */
  flashCrowds?: PeerFlashCrowdInit
}

export type ServeNetwork = Omit<NetworkInit, 'log'>

/** Network log lines go to stderr, prefixed, so stdout keeps the four start lines. */
const networkLog = (message: string): void => { process.stderr.write(`edos: ${message}\n`) }

/**
 * kad-dht can reject an aborted query from a lock listener that nobody
 * awaits: a slow lookup must never kill the peer. Only abort-like errors
 * are swallowed; anything else still ends the process.
 */
let guarded = false
function guardProcess (): void {
  if (guarded) return
  guarded = true
  const abortLike = (e: unknown): boolean => e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError' || (e as { code?: string }).code === 'ABORT_ERR')
  process.on('unhandledRejection', (reason) => {
    if (abortLike(reason)) { networkLog(`ignored an aborted network operation: ${(reason as Error).message}`); return }
    networkLog(`unhandled rejection: ${(reason as Error)?.stack ?? String(reason)}`)
    process.exitCode = 1
  })
  process.on('uncaughtException', (err) => {
    if (abortLike(err)) { networkLog(`ignored an aborted network operation: ${err.message}`); return }
    networkLog(`fatal: ${err.stack ?? err.message}`)
    process.exit(1)
  })
}

export const DEFAULT_HTTP = '127.0.0.1:4000'

/** `HOST:PORT` → parts; a usage error names the bad value. */
export function parseHttp (value: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(value)
  const port = m === null ? NaN : Number(m[3])
  if (m === null || port > 65535) {
    throw new UsageError(`--http must be HOST:PORT (e.g. ${DEFAULT_HTTP}), got '${value}'`)
  }
  return { host: m[1] ?? m[2], port }
}

/** Resolves on the first SIGINT or SIGTERM; the handlers go away with it. */
function untilSignal (): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      resolve(signal)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
}

/**
 * Starts the peer, then the server (the peer learns its GraphQL URL only
 * once the port is known, so with port 0 info.graphql stays unset), prints
 * the four start lines (peer id, multiaddrs, GraphQL URL, console URL) and waits.
 */
export async function runServe (args: ServeArgs): Promise<number> {
  const { host, port } = parseHttp(args.http ?? DEFAULT_HTTP)
  const peer = await startPeer(args.data, args.role, host, port, args.network, args.content, args.flashCrowds)
  return await servePeer(peer, { host, port, out: args.out ?? process.stdout, until: args.until })
}

/** The peer learns its GraphQL URL up front unless the port is chosen by the OS (port 0). */
async function startPeer (data: string, role: PeerRole | undefined, host: string, port: number, network: ServeNetwork | undefined, content?: PeerContentInit, flashCrowds?: PeerFlashCrowdInit): Promise<EmbeddedPeer> {
  if (network !== undefined) guardProcess()
  return await EmbeddedPeer.start({
    data: resolve(data),
    role,
    graphqlUrl: port === 0 ? undefined : graphqlUrl(host, port),
    // EDOS_DHT_REDUCERS=off: the bench's baseline (whole blocks fetched, filtered here).
    network: network === undefined ? undefined : { ...network, reducers: process.env.EDOS_DHT_REDUCERS !== 'off', log: networkLog },
    content,
    flashCrowds
  })
}

async function servePeer (peer: EmbeddedPeer, opts: { host: string, port: number, out: NodeJS.WritableStream, until?: Promise<unknown> }): Promise<number> {
  let server: EdosServer | undefined
  try {
    server = await startServer({ peer, host: opts.host, port: opts.port })
    const addresses = peer.node?.addresses() ?? []
    opts.out.write(`peer id: ${peer.info.id}\n`)
    opts.out.write(`multiaddrs: ${addresses.length === 0 ? '(none: embedded, no network)' : addresses.join(' ')}\n`)
    opts.out.write(`graphql: ${server.url}\n`)
    opts.out.write(`console: ${server.consoleUrl}\n`)
    await (opts.until ?? untilSignal())
    return 0
  } finally {
    // Server first: no request may reach a stopping peer.
    await server?.close()
    await peer.stop()
  }
}

/**
 * `npm start`: serve the peer in `.edos/peer` (or `data`), publishing the
 * bundled sample releases first when the peer lacks them (first start).
 */
export async function runStartServing (args: Partial<ServeArgs> = {}): Promise<number> {
  const { host, port } = parseHttp(args.http ?? DEFAULT_HTTP)
  const peer = await startPeer(args.data ?? DEFAULT_DATA, args.role ?? 'publisher', host, port, args.network ?? {})
  try {
    for (const s of SAMPLE_RELEASES) {
      if (await peer.release(s.release) !== undefined) continue
      const bar = new ProgressBar({ label: `importing sample ${s.release}` })
      // Through the peer (not the raw index) so channel logs announce it like any publish.
      const summary = await peer.publish(s.files.map((path) => ({ kind: 'path' as const, path })), {
        release: s.release,
        format: 'debian',
        translations: s.translations.length === 0 ? undefined : s.translations.map((path) => ({ kind: 'path' as const, path })),
        onProgress: (p) => { bar.update(p.bytesRead, p.bytesTotal, `${p.units} units`) }
      })
      bar.done()
      process.stderr.write(`imported sample release ${s.release}: ${summary.units} units in ${summary.seconds.toFixed(2)} s\n`)
    }
  } catch (err) {
    await peer.stop()
    throw err
  }
  return await servePeer(peer, { host, port, out: args.out ?? process.stdout, until: args.until })
}
