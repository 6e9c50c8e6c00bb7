/**
 * A minimal WebSocket client (RFC 6455) over a bare TCP socket, for the
 * channels bench's load processes: 10,000 subscribers share the mirror's 2
 * cores, so every microsecond a subscriber spends receiving is taken from
 * the mirror under test. `ws` costs ~18-25 us per received frame here.
 *
 * This one receives through net's `onread` (Node copies what the kernel
 * has into one buffer shared by every socket of the process and calls back
 * with its length: no Buffer per chunk, no stream machinery, no 'data'
 * event) and hands each text message to the caller as a byte range of that
 * buffer, valid only during the call, with the time the chunk arrived. The
 * caller reads what it needs from the bytes; nothing is decoded for it.
 *
 * It speaks what the bench needs: the upgrade with a subprotocol, masked
 * text frames out, unmasked text frames in, pings answered with pongs,
 * close. Not a general client: no extensions, no fragmented messages, no TLS.
 */
import { createHash, randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
const EMPTY = Buffer.alloc(0)
/** Every socket's reads land here; a message is handed out before the next read can overwrite it. */
const SHARED = Buffer.allocUnsafe(256 * 1024)

/**
 * Reader-side coalescing: after a loop turn that read anything, the
 * thread sleeps `ms` outside epoll (Atomics.wait), so frames arriving
 * meanwhile only queue in their sockets and the next poll returns them
 * together. A reader woken for every frame makes each of the writer's
 * write calls pay a wake-up of the reader (on loopback the writer's system
 * call runs the receiver's TCP input): ws-floor, 2026-11-26, the same `ws`
 * writer cost 22 us a frame to a lean reader, 13 us to a slower `ws` one.
 * Adds at most `ms` to a measured latency; 0 turns it off.
 */
export class ReadCoalescer {
  private readonly cell = new Int32Array(new SharedArrayBuffer(4))
  private scheduled = false
  constructor (private readonly ms: number) {}

  /** Call when something was read. */
  readonly read = (): void => {
    if (this.scheduled || this.ms <= 0) return
    this.scheduled = true
    setImmediate(() => { this.scheduled = false; Atomics.wait(this.cell, 0, 0, this.ms) })
  }
}

export interface LeanSocketEvents {
  open: () => void
  /**
   * One text message: bytes [start, end) of `data`, which is reused by the
   * next read (copy what must outlive the call). `at` is Date.now() when
   * the chunk holding it was read.
   */
  message: (data: Buffer, start: number, end: number, at: number) => void
  close: (code: number) => void
  error: (err: Error) => void
}

export class LeanWebSocket {
  private readonly socket: Socket
  private handshake: Buffer | undefined = EMPTY
  /** The unfinished frame a read ended in, copied out of the shared buffer. */
  private rest: Buffer = EMPTY
  private readonly key = randomBytes(16).toString('base64')
  closed = false

  constructor (url: string, protocol: string, private readonly on: LeanSocketEvents) {
    const u = new URL(url)
    this.socket = connect({ port: Number(u.port), host: u.hostname, noDelay: true, onread: { buffer: SHARED, callback: (n: number, buf: Uint8Array) => { this.read(n, buf as Buffer); return true } } })
    this.socket.on('connect', () => {
      this.socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${this.key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocol}\r\n\r\n`)
    })
    this.socket.on('error', (err) => { this.fail(err) })
    this.socket.on('close', () => { if (!this.closed) { this.closed = true; on.close(1006) } })
  }

  private read (n: number, buf: Buffer): void {
    const at = Date.now()
    if (this.handshake !== undefined) {
      this.handshake = Buffer.concat([this.handshake, buf.subarray(0, n)])
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
      this.on.open()
      if (after.length > 0) this.frames(after, after.length, at)
      return
    }
    if (this.rest.length === 0) { this.frames(buf, n, at); return }
    const joined = Buffer.concat([this.rest, buf.subarray(0, n)])
    this.rest = EMPTY
    this.frames(joined, joined.length, at)
  }

  /** Hands out the messages in buf[0, n); keeps an unfinished frame for the next read. */
  private frames (buf: Buffer, n: number, at: number): void {
    let at0 = 0
    while (!this.closed) {
      if (n - at0 < 2) break
      const opcode = buf[at0] & 0x0f
      let len = buf[at0 + 1] & 0x7f
      let body = at0 + 2
      if (len === 126) { if (n - at0 < 4) break; len = buf.readUInt16BE(at0 + 2); body = at0 + 4 } else if (len === 127) { if (n - at0 < 10) break; len = Number(buf.readBigUInt64BE(at0 + 2)); body = at0 + 10 }
      if (n < body + len) break
      if (opcode === 0x1) this.on.message(buf, body, body + len, at)
      else if (opcode === 0x9) this.write(0xa, Buffer.from(buf.subarray(body, body + len)))
      else if (opcode === 0x8) { const code = len >= 2 ? buf.readUInt16BE(body) : 1005; this.terminate(); this.on.close(code) }
      at0 = body + len
    }
    if (at0 < n && !this.closed) this.rest = Buffer.from(buf.subarray(at0, n))
  }

  private fail (err: Error): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
    this.on.error(err)
  }

  /** Sends one masked text frame. */
  send (text: string): void {
    this.write(0x1, Buffer.from(text))
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

  terminate (): void {
    this.closed = true
    this.socket.destroy()
  }
}
