/**
 * oneWritePerSend: the chunks of one send on a TCP connection leave in one
 * writev (corked), in order, and a real connection between two hosts
 * carries RPCs with the patch in place.
 */
import '../../src/shims/index.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Uint8ArrayList } from 'uint8arraylist'
import { describe, expect, it } from 'vitest'
import { createPeerHost } from '../../src/dht/host.ts'
import { oneWritePerSend } from '../../src/dht/libp2p-patches.ts'
import { callRpc, serveRpc } from '../../src/dht/rpc.ts'

type Op = string

class FakeSocket {
  readonly ops: Op[] = []
  private corks = 0
  private held: string[] = []
  cork (): void { this.corks++; this.ops.push('cork') }
  uncork (): void {
    this.ops.push('uncork')
    if (--this.corks === 0 && this.held.length > 0) { this.ops.push(`writev ${this.held.join('+')}`); this.held = [] }
  }

  write (buf: Uint8Array): boolean {
    const text = Buffer.from(buf).toString()
    if (this.corks > 0) this.held.push(text)
    else this.ops.push(`write ${text}`)
    return true
  }
}

/** Stands for libp2p's TCP connection class: writes a send chunk by chunk. */
class FakeTcpConnection {
  constructor (readonly socket: FakeSocket) {}
  sendData (data: Uint8ArrayList): { sentBytes: number, canSendMore: boolean } {
    for (const buf of data) this.socket.write(buf)
    return { sentBytes: data.byteLength, canSendMore: true }
  }
}

function fakeEvents (): { target: EventTarget, open: (maConn: unknown) => void } {
  const target = new EventTarget()
  return { target, open: (maConn) => target.dispatchEvent(new CustomEvent('connection:open', { detail: { maConn } })) }
}

describe('oneWritePerSend', () => {
  it('sends the chunks of one send in one corked write, in order; one chunk goes as it is', () => {
    const { target, open } = fakeEvents()
    oneWritePerSend(target as never)
    const conn = new FakeTcpConnection(new FakeSocket())
    open(conn)
    expect((FakeTcpConnection.prototype as unknown as { edosCorked?: boolean }).edosCorked).toBe(true)
    const enc = (s: string): Uint8Array => Buffer.from(s)
    conn.sendData(new Uint8ArrayList(enc('len'), enc('frame'), enc('len2'), enc('frame2')))
    conn.sendData(new Uint8ArrayList(enc('single')))
    expect(conn.socket.ops).toEqual(['cork', 'uncork', 'writev len+frame+len2+frame2', 'write single'])
  })

  it('leaves connections without a socket that corks alone, and patches a prototype once', () => {
    const { target, open } = fakeEvents()
    oneWritePerSend(target as never)
    open({ socket: {} })
    open(undefined)
    class Other extends FakeTcpConnection {}
    const conn = new Other(new FakeSocket())
    open(conn)
    const patched = Other.prototype.sendData
    oneWritePerSend(target as never)
    open(new Other(new FakeSocket()))
    expect(Other.prototype.sendData).toBe(patched)
    conn.sendData(new Uint8ArrayList(Buffer.from('a'), Buffer.from('b')))
    expect(conn.socket.ops).toEqual(['cork', 'uncork', 'writev a+b'])
  })

  it('carries RPCs between two hosts on 127.0.0.1 with the patch in place', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'edos-cork-'))
    const a = await createPeerHost({ data: join(dir, 'a'), role: 'mirror' })
    const b = await createPeerHost({ data: join(dir, 'b'), role: 'mirror', bootstrap: a.multiaddrs() })
    try {
      await serveRpc(a.libp2p, '/edos/test-cork/1.0.0', async (req) => ({ header: { echo: req.header.n }, parts: [new Uint8Array(100_000).fill(7)] }))
      for (let n = 0; n < 20; n++) {
        const res = await callRpc(b.libp2p, a.peerId, '/edos/test-cork/1.0.0', { n }, [new Uint8Array(70_000).fill(n)])
        expect(res.header.echo).toBe(n)
        expect(res.parts[0].length).toBe(100_000)
        expect(res.parts[0].every((x) => x === 7)).toBe(true)
      }
      const maConn = (b.libp2p.getConnections()[0] as unknown as { maConn: object }).maConn
      expect((Object.getPrototypeOf(maConn) as { edosCorked?: boolean }).edosCorked).toBe(true)
    } finally {
      await b.stop(); await a.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
