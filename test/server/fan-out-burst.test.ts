/**
 * The fan-out's passes (src/server/fan-out.ts), on recording sockets: a
 * burst of notifications that lands during a pass reaches each member in
 * fewer writes than notifications, every frame once and in order, and a
 * pass yields to the event loop.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { ExecutionResult } from 'graphql'
import type { PeerApi } from '../../src/actors/types.ts'
import { FanOut, type FanOutSocket, type OpenShared } from '../../src/server/fan-out.ts'
import { eventually } from './helpers.ts'
import { FakePeer } from './stub-schema.ts'

/** A socket that keeps each write's frames (server frames: unmasked text). */
class RecordingSocket implements FanOutSocket {
  readyState = 1
  bufferedAmount = 0
  readonly writes: string[][] = []
  /** The event-loop turn of the last write (second test). */
  turn: number | undefined
  send (data: string): void { this.writes.push([data]) }
  writeFrames (frames: Uint8Array): void {
    const buf = Buffer.from(frames)
    const out: string[] = []
    let at = 0
    while (at < buf.length) {
      expect(buf[at]).toBe(0x81)
      let n = buf[at + 1]
      let body = at + 2
      if (n === 126) { n = buf.readUInt16BE(at + 2); body = at + 4 } else if (n === 127) { n = Number(buf.readBigUInt64BE(at + 2)); body = at + 10 }
      out.push(buf.subarray(body, body + n).toString())
      at = body + n
    }
    expect(at).toBe(buf.length)
    this.writes.push(out)
  }

  seqs (): number[] {
    return this.writes.flat().map((f) => (JSON.parse(f) as { payload: { data: { seq: number } } }).payload.data.seq)
  }
}

const results = async function * (peer: PeerApi, signal: AbortSignal): AsyncGenerator<ExecutionResult> {
  for await (const r of peer.follow('c', 0, signal, 'notify')) yield { data: { seq: r.seq } }
}
const open: OpenShared = async (peer, signal) => results(peer, signal)

/** A subscriber's results as graphql-ws would pull them: its own pipeline until it parks, then the group's frames. */
function subscribe (fan: FanOut, peer: PeerApi, socket: FanOutSocket, id: string, signal: AbortSignal): AsyncIterable<ExecutionResult> {
  const sub = fan.subscriber({ key: 'k', id, socket, open, signal })
  return sub.stream(results(sub.peer(peer), signal), async () => results(sub.peer(peer), signal))
}

const seqOf = (r: ExecutionResult): number => (r.data as { seq: number }).seq

describe('fan-out passes', () => {
  const controllers: AbortController[] = []
  afterEach(() => { for (const c of controllers.splice(0)) c.abort() })

  it('writes a burst that lands during a pass in fewer writes, each frame once and in order', async () => {
    const peer = new FakePeer()
    // sliceMs 0: a pass yields after every 64 members, so the burst below lands mid-pass.
    const fan = new FanOut({ sliceMs: 0 })
    const sockets = Array.from({ length: 200 }, () => new RecordingSocket())
    const own: number[][] = sockets.map(() => [])
    sockets.forEach((socket, i) => {
      const controller = new AbortController()
      controllers.push(controller)
      void (async () => {
        for await (const r of subscribe(fan, peer.asPeerApi(), socket, `op-${i}`, controller.signal)) own[i].push(seqOf(r))
      })()
    })
    await eventually(() => fan.stats().members === 200)
    for (let i = 0; i < 5; i++) peer.notify('c', `r${i}`)
    await eventually(() => sockets.every((s) => s.seqs().length === 5))
    for (const [i, s] of sockets.entries()) {
      expect(own[i]).toEqual([]) // everything came through the group
      expect(s.seqs()).toEqual([1, 2, 3, 4, 5])
    }
    const writes = sockets.reduce((a, s) => a + s.writes.length, 0)
    expect(writes).toBeLessThan(5 * 200)
    expect(sockets.some((s) => s.writes.some((w) => w.length > 1))).toBe(true)
    expect(fan.stats().broadcasts).toBe(5)
  })

  it('yields to the event loop during a pass over many members', async () => {
    const peer = new FakePeer()
    const fan = new FanOut({ sliceMs: 0 })
    let turns = 0
    const sockets = Array.from({ length: 300 }, () => {
      const s = new RecordingSocket()
      const write = s.writeFrames.bind(s)
      s.writeFrames = (frames) => { write(frames); s.turn = turns }
      return s
    })
    sockets.forEach((socket, i) => {
      const controller = new AbortController()
      controllers.push(controller)
      void (async () => { for await (const _ of subscribe(fan, peer.asPeerApi(), socket, `op-${i}`, controller.signal)) { /* catch-up only */ } })()
    })
    await eventually(() => fan.stats().members === 300)
    // One count per event-loop turn: an immediate that queues the next.
    let ticking = true
    const tick = (): void => { turns++; if (ticking) setImmediate(tick) }
    setImmediate(tick)
    try {
      peer.notify('c', 'one')
      await eventually(() => sockets.every((s) => s.seqs().length === 1))
    } finally { ticking = false }
    // Some members were written after another event-loop turn than the first ones.
    expect(new Set(sockets.map((s) => s.turn)).size).toBeGreaterThan(1)
  })
})
