/**
 * One request, one response per stream on a custom protocol: a frame (JSON
 * header + binary parts, wire.ts) each way, length-prefixed. A handler's
 * error goes back as `{ error: { code, message } }` and is rethrown on the
 * caller's side as the same named class, so a refusal reads the same on
 * both ends. Every call is bounded by a timeout.
 */
import { lpStream } from '@libp2p/utils'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Connection, Stream } from '@libp2p/interface'
import { EdosError } from '../xml-twig-index/errors.ts'
import { BadSignatureError, CertificateError, NotAuthorizedError, PeerUnavailableError, ProtocolError, RemoteError, ReplayError } from './errors.ts'
import { guardSignal, type EdosLibp2p } from './host.ts'
import { decodeFrame, encodeFrame } from './wire.ts'

const DEBUG = process.env.EDOS_DHT_DEBUG === '1'

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
  /** Called with handler errors that are not refusals (for logs). */
  onError?: (err: unknown, req: RpcRequest) => void
}

export async function serveRpc (libp2p: EdosLibp2p, protocol: string, handler: RpcHandler, options: ServeOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000
  await libp2p.handle(protocol, async (stream: Stream, connection: Connection) => {
    const signal = guardSignal(AbortSignal.timeout(timeoutMs))
    const lp = frames(stream)
    let req: RpcRequest | undefined
    const t0 = performance.now()
    try {
      const bytes = await lp.read({ signal })
      const t1 = performance.now()
      const frame = decodeFrame(bytes)
      req = { header: frame.header, parts: frame.parts, from: connection.remotePeer.toString() }
      const res = await handler(req, signal)
      const t2 = performance.now()
      await lp.write(encodeFrame(res.header, res.parts ?? []), { signal })
      if (DEBUG && performance.now() - t0 > 1000) process.stderr.write(`rpc ${protocol} ${String(req.header.op)} from ${req.from}: read ${(t1 - t0).toFixed(0)} ms (${bytes.byteLength} B), handle ${(t2 - t1).toFixed(0)} ms, write ${(performance.now() - t2).toFixed(0)} ms\n`)
    } catch (err) {
      if (req !== undefined && !(err instanceof EdosError)) options.onError?.(err, req)
      const code = err instanceof EdosError ? err.code : 'ERR_INTERNAL'
      const message = err instanceof EdosError ? err.message : 'internal error'
      try { await lp.write(encodeFrame({ error: { code, message } }), { signal }) } catch { /* the caller is gone */ }
    } finally {
      try { await stream.close({ signal: AbortSignal.timeout(2000) }) } catch { stream.abort(new Error('close failed')) }
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

/**
 * Sends one request and waits for its response. Refusals come back as
 * their named errors; an unreachable or silent peer as PeerUnavailableError.
 */
export async function callRpc (libp2p: EdosLibp2p, peer: string, protocol: string, header: Record<string, unknown>, parts: Uint8Array[] = [], options: CallOptions = {}): Promise<{ header: Record<string, unknown>, parts: Uint8Array[], bytes: number }> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 15_000)
  const signal = guardSignal(options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout)
  let stream: Stream
  try {
    // Optimistic protocol select: the request goes with the protocol name, saving a round trip per call.
    stream = await libp2p.dialProtocol(peerIdFromString(peer), protocol, { signal, negotiateFully: false })
  } catch (err) {
    throw new PeerUnavailableError(`peer ${peer} unreachable on ${protocol}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const lp = frames(stream)
    const out = encodeFrame(header, parts)
    await lp.write(out, { signal })
    const bytes = await lp.read({ signal })
    const frame = decodeFrame(bytes)
    const error = frame.header.error as { code?: unknown, message?: unknown } | undefined
    if (error != null) throw remoteError(peer, String(error.code ?? 'ERR_REMOTE'), String(error.message ?? 'remote error'))
    return { header: frame.header, parts: frame.parts, bytes: out.length + bytes.byteLength }
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    if (err instanceof EdosError) throw err
    throw new PeerUnavailableError(`peer ${peer} did not answer on ${protocol}: ${(err as Error).message}`, { cause: err })
  } finally {
    if (stream.status === 'open') { try { await stream.close({ signal: AbortSignal.timeout(2000) }) } catch { stream.abort(new Error('close failed')) } }
  }
}
