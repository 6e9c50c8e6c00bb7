/**
 * WebSocket keep-alive for many idle subscribers.
 *
 * graphql-ws's own keep-alive gives each socket an interval timer: every
 * `intervalMs` it pings, arms a timeout and listens once for the pong. The
 * sockets' timers are as spread out as their connection times, so 10,000
 * subscribers mean a ping (a write) and a pong (a wake-up, a read) every
 * ~1.2 ms, each on its own: ~80 ms of a mirror's CPU a second with nothing
 * to send (channels bench, 2026-11-26).
 *
 * Here the sockets are dealt into `slots` buckets and one timer visits a
 * bucket every `intervalMs / slots`: each socket is still pinged once per
 * `intervalMs` and closed when its previous ping got no pong within
 * `intervalMs`, as graphql-ws does, but pings leave in batches and their
 * pongs come back together, read in few wake-ups.
 */

/** What keep-alive needs of a `ws` WebSocket. */
export interface KeepAliveSocket {
  readonly readyState: number
  ping: () => void
  terminate: () => void
  on: (event: 'pong', listener: () => void) => unknown
  once: (event: 'close', listener: () => void) => unknown
}

export interface KeepAliveInit {
  /** Ms between two pings of a socket, and the time a pong may take (default 12000, graphql-ws's). */
  intervalMs?: number
  /** Buckets of sockets pinged together (default 12: one batch a second at the default interval). */
  slots?: number
}

export const DEFAULT_KEEP_ALIVE_MS = 12_000
export const DEFAULT_KEEP_ALIVE_SLOTS = 12

const OPEN = 1 // WebSocket.OPEN

export interface KeepAlive {
  /** Watches a new socket until it closes. */
  add: (socket: KeepAliveSocket) => void
  /** Sockets watched now. */
  size: () => number
  stop: () => void
}

export function createKeepAlive (init: KeepAliveInit = {}): KeepAlive {
  const intervalMs = init.intervalMs ?? DEFAULT_KEEP_ALIVE_MS
  const slots = Math.max(1, Math.floor(init.slots ?? DEFAULT_KEEP_ALIVE_SLOTS))
  /** Per bucket: each socket, and whether it still owes the pong of its last ping. */
  const buckets = Array.from({ length: slots }, () => new Map<KeepAliveSocket, { owesPong: boolean }>())
  let dealt = 0
  let turn = 0
  let size = 0

  const timer = setInterval(() => {
    const bucket = buckets[turn]
    turn = (turn + 1) % slots
    for (const [socket, state] of bucket) {
      if (socket.readyState !== OPEN) continue // closing: its 'close' removes it
      if (state.owesPong) { socket.terminate(); continue }
      state.owesPong = true
      socket.ping()
    }
  }, intervalMs / slots)
  // A server with no other work should not be kept alive by its keep-alive.
  timer.unref()

  return {
    add: (socket) => {
      const bucket = buckets[dealt++ % slots]
      const state = { owesPong: false }
      bucket.set(socket, state)
      size++
      socket.on('pong', () => { state.owesPong = false })
      socket.once('close', () => { if (bucket.delete(socket)) size-- })
    },
    size: () => size,
    stop: () => { clearInterval(timer) }
  }
}
