/**
 * fanOutSocket (src/server/ws.ts) writes the fan-out's frames straight to
 * the socket's descriptor when nothing of that socket waits in Node, and
 * through the stream otherwise. On a real loopback connection whose reader
 * stops reading (the kernel buffers fill: short writes and EAGAIN), every
 * byte still arrives once and in order with the messages sent through the
 * stream, and a frame buffer reused after the call (the fan-out's scratch)
 * does not change what was queued.
 */
import { createServer, connect, type Server, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import type { WebSocket } from 'ws'
import { fanOutSocket } from '../../src/server/ws.ts'

describe('fanOutSocket writes', () => {
  let server: Server | undefined
  const sockets: Socket[] = []
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy()
    await new Promise<void>((resolve) => { if (server === undefined) resolve(); else server.close(() => { resolve() }) })
    server = undefined
  })

  async function pair (): Promise<{ near: Socket, far: Socket }> {
    const accepted = new Promise<Socket>((resolve) => { server = createServer(resolve) })
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    const address = server!.address() as { port: number }
    const far = connect(address.port, '127.0.0.1')
    const near = await accepted
    sockets.push(near, far)
    return { near, far }
  }

  it('keeps every byte in order through full kernel buffers, with stream writes between', async () => {
    const { near, far } = await pair()
    far.pause()
    // Only send() of the ws side is used here (the stream path); the state getters are not.
    const ws = { readyState: 1, bufferedAmount: 0, send: (text: string) => { near.write(text) } } as unknown as WebSocket
    const socket = fanOutSocket(ws, near)
    const scratch = Buffer.alloc(1000)
    const expected: Buffer[] = []
    for (let i = 0; i < 30_000; i++) {
      scratch.fill(i % 251)
      scratch.writeUInt32BE(i, 0)
      expected.push(Buffer.from(scratch))
      socket.writeFrames!(scratch)
      if (i % 1000 === 999) {
        const marker = `<marker ${i}>`
        expected.push(Buffer.from(marker))
        socket.send(marker)
      }
    }
    // 30 MB against loopback buffers of a few MB: much of it waits in the stream.
    expect(near.writableLength).toBeGreaterThan(0)
    const total = expected.reduce((n, b) => n + b.length, 0)
    const got: Buffer[] = []
    let size = 0
    await new Promise<void>((resolve) => {
      far.on('data', (chunk: Buffer) => { got.push(chunk); size += chunk.length; if (size >= total) resolve() })
      far.resume()
    })
    expect(Buffer.concat(got).equals(Buffer.concat(expected))).toBe(true)
  })

  it('writes nothing once the socket is no longer writable', async () => {
    const { near, far } = await pair()
    const ws = { readyState: 3, bufferedAmount: 0, send: () => {} } as unknown as WebSocket
    const socket = fanOutSocket(ws, near)
    near.destroy()
    expect(() => { socket.writeFrames!(Buffer.from('late')) }).not.toThrow()
    far.destroy()
  })
})
