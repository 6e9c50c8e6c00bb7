/**
 * A minimal WebSocket client (RFC 6455) over a bare TCP socket, for the
 * channels bench's load processes: 10,000 subscribers share the mirror's 2
 * cores, so every microsecond a subscriber spends receiving is taken from
 * the mirror under test. `ws` costs ~18-25 us per received frame here; this
 * one hands each received chunk to the caller untouched (one timestamp per
 * chunk) and parses frames only when asked. It speaks what the bench needs:
 * the upgrade with a subprotocol, masked text frames out, text frames in,
 * pings answered with pongs, close. Not a general client: no extensions, no
 * fragmented messages, no TLS.
 */
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

export interface LeanSocketEvents {
  open: () => void
  /** A raw chunk of frames, as the kernel delivered it: pass it to `frames` later. */
  chunk: (data: Buffer) => void
  close: (code: number) => void
  error: (err: Error) => void
}

export class LeanWebSocket {
  private readonly socket: Socket
  private handshake: Buffer | undefined = Buffer.alloc(0)
  private rest: Buffer = Buffer.alloc(0)
  private readonly key = randomBytes(16).toString('base64')
  closed = false

  constructor (url: string, protocol: string, private readonly on: LeanSocketEvents) {
    const u = new URL(url)
    this.socket = connect(Number(u.port), u.hostname)
    this.socket.setNoDelay(true)
    this.socket.on('connect', () => {
      this.socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`)
    })
    this.socket.on('data', (data: Buffer) => {
      if (this.handshake === undefined) { on.chunk(data); return }
      this.handshake = Buffer.concat([this.handshake, data])
      const end = this.handshake.indexOf('\r\n\r\n')
      if (end < 0) return
      const head = this.handshake.subarray(0, end).toString('latin1')
      const after = this.handshake.subarray(end + 4)
      this.handshake = undefined
      const accept = createHash('sha1').update(this.key + GUID).digest('base64')
      if (!/^HTTP\/1\.1 101/.test(head) || !head.toLowerCase().includes(`sec-websocket-accept: ${accept.toLowerCase()}`)) {
        this.fail(new Error(`WebSocket upgrade refused: ${head.split('\r\n')[0]}`))
        return
      }
      on.open()
      if (after.length > 0) on.chunk(after)
    })
    this.socket.on('error', (err) => { this.fail(err) })
    this.socket.on('close', () => { if (!this.closed) { this.closed = true; on.close(1006) } })
  }

  private fail (err: Error): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
    this.on.error(err)
  }

  /** Sends one masked text frame. */
  send (text: string): void {
    const payload = Buffer.from(text)
    this.write(0x1, payload)
  }

  private write (opcode: number, payload: Buffer): void {
    const n = payload.length
    const head = n < 126 ? 2 : n < 65536 ? 4 : 10
    const frame = Buffer.allocUnsafe(head + 4 + n)
    frame[0] = 0x80 | opcode
    if (n < 126) frame[1] = 0x80 | n
    else if (n < 65536) { frame[1] = 0x80 | 126; frame.writeUInt16BE(n, 2) } else { frame[1] = 0x80 | 127; frame.writeBigUInt64BE(BigInt(n), 2) }
    const mask = randomBytes(4)
    mask.copy(frame, head)
    for (let i = 0; i < n; i++) frame[head + 4 + i] = payload[i] ^ mask[i & 3]
    this.socket.write(frame)
  }

  /**
   * The text messages in `chunk` (with what an earlier chunk left
   * unfinished); answers pings, reports a close frame's code.
   */
  frames (chunk: Buffer): string[] {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk])
    const out: string[] = []
    for (;;) {
      if (buf.length < 2) break
      const opcode = buf[0] & 0x0f
      let n = buf[1] & 0x7f
      let at = 2
      if (n === 126) { if (buf.length < 4) break; n = buf.readUInt16BE(2); at = 4 } else if (n === 127) { if (buf.length < 10) break; n = Number(buf.readBigUInt64BE(2)); at = 10 }
      if (buf.length < at + n) break
      const payload = buf.subarray(at, at + n)
      if (opcode === 0x1) out.push(payload.toString())
      else if (opcode === 0x9) this.write(0xa, Buffer.from(payload))
      else if (opcode === 0x8) { const code = n >= 2 ? payload.readUInt16BE(0) : 1005; this.terminate(); this.on.close(code) }
      buf = buf.subarray(at + n)
    }
    this.rest = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf)
    return out
  }

  terminate (): void {
    this.closed = true
    this.socket.destroy()
  }
}
