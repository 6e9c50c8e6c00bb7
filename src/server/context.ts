/**
 * Per-operation context: who is calling (bearer token checked by the peer)
 * and from where (loopback or not). Built the same way for HTTP (yoga) and
 * WebSocket (graphql-ws) so resolvers cannot tell the transports apart.
 */
import type { IncomingMessage } from 'node:http'
import type { PeerApi } from '../actors/types.ts'
import type { EdosContext } from '../resolvers/index.ts'

export type { EdosContext }

/** The token of an `Authorization: Bearer <token>` value; undefined for anything else. */
export function bearerToken (value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined
  const m = /^\s*Bearer\s+(\S+)\s*$/i.exec(value)
  return m === null ? undefined : m[1]
}

/**
 * Loopback: 127.0.0.0/8, ::1 and their IPv4-mapped IPv6 forms. `sameMachine`
 * lets an authenticated caller name server-side paths, so anything we cannot
 * prove local (a missing address, a proxy) counts as remote.
 */
export function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  const a = address.toLowerCase()
  if (a === '::1' || a === '0:0:0:0:0:0:0:1') return true
  const v4 = a.startsWith('::ffff:') ? a.slice(7) : a
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

/** What one caller brings, whatever the transport. */
export interface CallerInit {
  authorization: unknown
  remoteAddress: string | undefined
  signal?: AbortSignal
}

export function makeContext (peer: PeerApi, caller: CallerInit): EdosContext {
  const token = bearerToken(caller.authorization)
  // A wrong or malformed token is not an error here: the caller is simply
  // unauthenticated, and publisher-only resolvers answer UNAUTHENTICATED.
  const authenticated = token !== undefined && peer.authenticate(token)
  return { peer, authenticated, sameMachine: isLoopback(caller.remoteAddress), signal: caller.signal }
}

/** The remote address of a Node request (HTTP or WebSocket upgrade). */
export function remoteAddressOf (req: IncomingMessage | undefined): string | undefined {
  return req?.socket?.remoteAddress
}
