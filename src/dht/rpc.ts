/**
 * One request, one response per stream on a custom protocol: a frame (JSON
 * header + binary parts, wire.ts) each way, length-prefixed. A handler's
 * error goes back as `{ error: { code, message } }` and is rethrown on the
 * caller's side as the same named class, so a refusal reads the same on
 * both ends. Every call is bounded by a timeout.
 */
import { lpStream } from '@libp2p/utils'
import type { Uint8ArrayList } from 'uint8arraylist'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { EdosError } from '../xml-twig-index/errors.ts'
import { BadSignatureError, CertificateError, NotAuthorizedError, PeerUnavailableError, ProtocolError, RemoteError, ReplayError } from './errors.ts'
import { guardSignal, type EdosLibp2p } from './host.ts'
import { decodeFrame, encodeFrame, encodeFrameList } from './wire.ts'

const DEBUG = process.env.EDOS_DHT_DEBUG === '1'

/** A server closes a kept stream idle this long; callers drop theirs sooner, so a request rarely meets a closing stream. */
const SERVER_IDLE_MS = 60_000
const CLIENT_IDLE_MS = 20_000
/** EDOS_DHT_KEEP_STREAMS=off: a new stream per request (the bench's baseline for kept streams). */
const KEEP_STREAMS = process.env.EDOS_DHT_KEEP_STREAMS !== 'off'
/** Idle streams kept per peer and protocol (more are opened while requests run in parallel, then closed). */
const MAX_KEPT_PER_PEER = 8

/** Largest frame either side accepts (a block of a long posting list, a batch of documents). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024

/** A length-prefixed view of a stream whose buffers hold a whole frame (libp2p resets a stream whose read buffer overflows, 4 MiB by default). */
function frames (stream: Stream): ReturnType<typeof lpStream<Stream>> {
  stream.maxReadBufferLength = MAX_FRAME_BYTES + 1024 * 1024
  return lpStream(stream, { maxDataLength: MAX_FRAME_BYTES, maxBufferSize: MAX_FRAME_BYTES + 1024 * 1024 })
}

export interface RpcRequest {
  header: Record<string, unknown>
  parts: Uint8Array[]
  /** The remote peer, authenticated by the noise handshake. */
  from: string
}

export interface RpcResponse {
  header: Record<string, unknown>
  parts?: Uint8Array[]
}

export type RpcHandler = (req: RpcRequest, signal: AbortSignal) => Promise<RpcResponse>

export interface ServeOptions {
  /** Concurrent inbound streams per connection. Default 64. */
  maxInboundStreams?: number
  /** Longest a handler may run. Default 60 s. */
  timeoutMs?: number
  /** How long a kept stream may wait for its next request before it is closed. Default 60 s (callers drop theirs after 20 s). */
  idleMs?: number
  /** Called with handler errors that are not refusals (for logs). */
  onError?: (err: unknown, req: RpcRequest) => void
}

export async function serveRpc (libp2p: EdosLibp2p, protocol: string, handler: RpcHandler, options: ServeOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000
  const idleMs = options.idleMs ?? SERVER_IDLE_MS
  await libp2p.handle(protocol, async (stream: Stream, connection: Connection) => {
    const lp = frames(stream)
    const from = connection.remotePeer.toString()
    try {
      // A caller keeps its stream for the next request (opening one costs a peer-store write on both sides): serve frames until it closes or idles.
      while (stream.status === 'open') {
        let bytes: Uint8ArrayList
        try {
          bytes = await lp.read({ signal: guardSignal(AbortSignal.timeout(idleMs)) })
        } catch {
          break
        }
        const signal = guardSignal(AbortSignal.timeout(timeoutMs))
        const t0 = performance.now()
        let req: RpcRequest | undefined
        let out: Uint8Array
        try {
          const frame = decodeFrame(bytes)
          req = { header: frame.header, parts: frame.parts, from }
          const res = await handler(req, signal)
          out = encodeFrame(res.header, res.parts ?? [])
        } catch (err) {
          if (req !== undefined && !(err instanceof EdosError)) options.onError?.(err, req)
          const code = err instanceof EdosError ? err.code : 'ERR_INTERNAL'
          const message = err instanceof EdosError ? err.message : 'internal error'
          out = encodeFrame({ error: { code, message } })
        }
        const t1 = performance.now()
        try { await lp.write(out, { signal }) } catch { break }
        if (DEBUG && performance.now() - t0 > 1000) process.stderr.write(`rpc ${protocol} ${String(req?.header.op)} from ${from}: handle ${(t1 - t0).toFixed(0)} ms (${bytes.byteLength} B in), write ${(performance.now() - t1).toFixed(0)} ms (${out.byteLength} B)\n`)
      }
    } finally {
      if (stream.status === 'open') { try { await stream.close({ signal: AbortSignal.timeout(2000) }) } catch { stream.abort(new Error('close failed')) } }
    }
  }, { maxInboundStreams: options.maxInboundStreams ?? 64, maxOutboundStreams: 64, runOnLimitedConnection: false })
}

export interface CallOptions {
  signal?: AbortSignal
  /** Default 15 s. */
  timeoutMs?: number
}

/** Rebuilds the named error a remote handler sent. */
function remoteError (peer: string, code: string, message: string): EdosError {
  const where = `peer ${peer}: ${message}`
  switch (code) {
    case 'ERR_NOT_AUTHORIZED': return new NotAuthorizedError(where)
    case 'ERR_BAD_SIGNATURE': return new BadSignatureError(where)
    case 'ERR_REPLAYED': return new ReplayError(where)
    case 'ERR_PROTOCOL': return new ProtocolError(where)
    case 'ERR_CERT_INVALID': case 'ERR_CERT_EXPIRED': case 'ERR_CERT_WRONG_PUBLISHER': return new CertificateError(where, code)
    default: return new RemoteError(where, code, peer)
  }
}

/** A caller's kept stream to one peer on one protocol, with its length-prefixed view. */
interface KeptStream { stream: Stream, lp: ReturnType<typeof frames>, timer?: ReturnType<typeof setTimeout>, drop?: () => void }

/** Idle streams by libp2p node, then by `peer protocol`: a request reuses one instead of opening a stream. */
const kept = new WeakMap<EdosLibp2p, Map<string, KeptStream[]>>()

function usable (s: Stream): boolean {
  return s.status === 'open' && s.readStatus === 'readable' && s.writeStatus === 'writable' && s.remoteWriteStatus === 'writable'
}

function takeKept (libp2p: EdosLibp2p, key: string): KeptStream | undefined {
  const list = kept.get(libp2p)?.get(key)
  while (list !== undefined && list.length > 0) {
    const k = list.pop() as KeptStream
    clearTimeout(k.timer)
    if (k.drop !== undefined) k.stream.removeEventListener('remoteCloseWrite', k.drop)
    if (usable(k.stream)) return k
    k.stream.abort(new Error('stale kept stream'))
  }
  return undefined
}

function keep (libp2p: EdosLibp2p, key: string, k: KeptStream): void {
  let byKey = kept.get(libp2p)
  if (byKey === undefined) { byKey = new Map(); kept.set(libp2p, byKey) }
  let list = byKey.get(key)
  if (list === undefined) { list = []; byKey.set(key, list) }
  if (!KEEP_STREAMS || !usable(k.stream) || list.length >= MAX_KEPT_PER_PEER) { closeQuietly(k.stream); return }
  const mine = list
  const drop = (): void => {
    clearTimeout(k.timer)
    k.stream.removeEventListener('remoteCloseWrite', drop)
    const i = mine.indexOf(k)
    if (i >= 0) mine.splice(i, 1)
    closeQuietly(k.stream)
  }
  k.timer = setTimeout(drop, CLIENT_IDLE_MS)
  k.timer.unref()
  // The server closing its side (it stops, or its idle limit) must close ours at once: a graceful connection close waits for both sides of every stream.
  k.stream.addEventListener('remoteCloseWrite', drop)
  k.drop = drop
  list.push(k)
}

function closeQuietly (stream: Stream): void {
  if (stream.status !== 'open') return
  stream.close({ signal: AbortSignal.timeout(2000) }).catch(() => { stream.abort(new Error('close failed')) })
}

/**
 * Sends one request and waits for its response, on a kept stream to the
 * peer when one is idle (a new stream costs a peer-store write on both
 * sides, several ms under load, ten times a loopback round trip).
 * Refusals come back as their named errors; an unreachable or silent peer
 * as PeerUnavailableError.
 */
export async function callRpc (libp2p: EdosLibp2p, peer: string, protocol: string, header: Record<string, unknown>, parts: Uint8Array[] = [], options: CallOptions = {}): Promise<{ header: Record<string, unknown>, parts: Uint8Array[], bytes: number }> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000)
  const signal = guardSignal(options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout)
  const key = `${peer} ${protocol}`
  // The parts are not copied into the frame (a publish batch is 4 MiB): they are sent from where they are.
  const out = encodeFrameList(header, parts)
  for (let attempt = 0; ; attempt++) {
    let k = attempt === 0 ? takeKept(libp2p, key) : undefined
    const reused = k !== undefined
    if (k === undefined) {
      try {
        // Optimistic protocol select: the request goes with the protocol name, saving a round trip.
        const stream = await libp2p.dialProtocol(peerIdFromString(peer), protocol, { signal, negotiateFully: false })
        k = { stream, lp: frames(stream) }
      } catch (err) {
        throw new PeerUnavailableError(`peer ${peer} unreachable on ${protocol}: ${(err as Error).message}`, { cause: err })
      }
    }
    let answered = false
    let sent = false
    try {
      await k.lp.write(out, { signal })
      sent = true
      const bytes = await k.lp.read({ signal })
      answered = true
      let frame
      try { frame = decodeFrame(bytes) } catch (err) { k.stream.abort(err as Error); throw err }
      keep(libp2p, key, k)
      const error = frame.header.error as { code?: unknown, message?: unknown } | undefined
      if (error != null) throw remoteError(peer, String(error.code ?? 'ERR_REMOTE'), String(error.message ?? 'remote error'))
      return { header: frame.header, parts: frame.parts, bytes: out.byteLength + bytes.byteLength }
    } catch (err) {
      if (err instanceof EdosError && answered) throw err
      k.stream.abort(err instanceof Error ? err : new Error(String(err)))
      // A write refused before anything left reached no handler, so a fresh stream may carry the request: a kept stream the peer closed
      // meanwhile (its idle limit, a restart), or a new one on a connection closing under it (R1 publishes: membership probes and
      // admissions failed on 'Cannot write to a stream that is closed'). Once sent it is never re-sent here: a handler may have run it
      // (a signed batch re-sent would read as a replay).
      if (!sent && !signal.aborted && attempt < 3) {
        if (!reused) await new Promise((resolve) => setTimeout(resolve, 50 * (attempt + 1)))
        continue
      }
      if (err instanceof EdosError) throw err
      throw new PeerUnavailableError(`peer ${peer} did not answer on ${protocol}: ${(err as Error).message}`, { cause: err })
    }
  }
}
