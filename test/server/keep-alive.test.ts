/**
 * Batched WebSocket keep-alive (src/server/keep-alive.ts): each socket is
 * pinged once per interval, in its bucket's batch, and terminated when its
 * previous ping got no pong; closed sockets leave.
 */
import { EventEmitter } from 'node:events'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createKeepAlive, type KeepAlive } from '../../src/server/keep-alive.ts'

class FakeSocket extends EventEmitter {
  readyState = 1
  pings = 0
  terminated = false
  constructor (readonly answers: boolean) { super() }
  ping (): void {
    this.pings++
    if (this.answers) queueMicrotask(() => this.emit('pong'))
  }

  terminate (): void {
    this.terminated = true
    this.readyState = 3
    this.emit('close')
  }
}

describe('createKeepAlive', () => {
  let keepAlive: KeepAlive | undefined
  beforeEach(() => { vi.useFakeTimers() })
  afterEach(() => { keepAlive?.stop(); vi.useRealTimers() })

  it('pings every socket once per interval, in batches of its bucket', async () => {
    keepAlive = createKeepAlive({ intervalMs: 1200, slots: 4 })
    const sockets = Array.from({ length: 8 }, () => new FakeSocket(true))
    for (const s of sockets) keepAlive.add(s)
    await vi.advanceTimersByTimeAsync(300) // one bucket: sockets 0 and 4
    expect(sockets.map((s) => s.pings)).toEqual([1, 0, 0, 0, 1, 0, 0, 0])
    await vi.advanceTimersByTimeAsync(900)
    expect(sockets.every((s) => s.pings === 1)).toBe(true)
    await vi.advanceTimersByTimeAsync(1200 * 3)
    expect(sockets.every((s) => s.pings === 4 && !s.terminated)).toBe(true)
  })

  it('terminates a socket whose ping got no pong within the interval, and forgets closed ones', async () => {
    keepAlive = createKeepAlive({ intervalMs: 1000, slots: 2 })
    const silent = new FakeSocket(false)
    const alive = new FakeSocket(true)
    const leaving = new FakeSocket(true)
    keepAlive.add(silent)
    keepAlive.add(alive)
    keepAlive.add(leaving)
    expect(keepAlive.size()).toBe(3)
    leaving.readyState = 3
    leaving.emit('close')
    expect(keepAlive.size()).toBe(2)
    await vi.advanceTimersByTimeAsync(1000)
    expect(silent.pings).toBe(1)
    expect(silent.terminated).toBe(false)
    await vi.advanceTimersByTimeAsync(1000)
    expect(silent.terminated).toBe(true)
    expect(alive.terminated).toBe(false)
    expect(leaving.pings).toBe(0)
    expect(keepAlive.size()).toBe(1)
  })
})
