/**
 * Changes to libp2p's transport stack that its options do not offer,
 * each measured on this project's traffic (many small RPCs and gossip
 * messages between a few peers). Each patches a prototype once.
 */
import { YamuxStream, StreamState } from '@libp2p/yamux/stream'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Connection, Libp2pEvents, TypedEventTarget } from '@libp2p/interface'
import type { Uint8ArrayList } from 'uint8arraylist'

/**
 * Yamux window updates at half a window, as go-yamux sends them: the JS
 * stream answered every data frame it received with a window update (one
 * more noise-encrypted frame and socket write each way per RPC response
 * and gossip message: 4-6% of a peer's time during a publish). A stream
 * still opening (SYN/ACK ride on its first update) or paused keeps the
 * library's behaviour; the sender never stalls, as half a window is
 * always left when the update goes.
 */
function lazyWindowUpdates (): void {
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate: () => void, edosLazy?: boolean }
  if (proto.edosLazy === true) return
  const eager = proto.sendWindowUpdate
  proto.sendWindowUpdate = function (this: { state: StreamState, recvWindow: number, recvWindowCapacity: number }) {
    if (this.state === StreamState.Established && this.recvWindowCapacity * 2 >= this.recvWindow) return
    eager.call(this)
  }
  proto.edosLazy = true
}
lazyWindowUpdates()

/** Thrown by the wrapped length decoders below: allocated once, so it carries no stack to capture. */
const NEED_MORE_BYTES = new RangeError('need more bytes for a length prefix')

/**
 * LengthPrefixedDecoder (noise's frames on every connection, lpStream's on
 * every RPC stream) reads the next length after each frame it yields and
 * learns that the buffer is empty from the length decoder's RangeError: an
 * Error with a captured stack for every chunk received (~4% of a client's
 * CPU answering queries). An empty buffer now throws one preallocated
 * RangeError, which the decoder catches the same way.
 */
function cheapEmptyLengths (): void {
  type Decoder = (data: Uint8ArrayList | Uint8Array) => number
  const proto = LengthPrefixedDecoder.prototype as unknown as { decode: (buf: Uint8Array | Uint8ArrayList) => Generator<Uint8ArrayList>, edosCheap?: boolean }
  if (proto.edosCheap === true) return
  const decode = proto.decode
  proto.decode = function (this: { lengthDecoder: Decoder & { edosCheap?: boolean } }, buf) {
    if (this.lengthDecoder.edosCheap !== true) {
      const inner = this.lengthDecoder
      const cheap: Decoder & { edosCheap?: boolean } = (data) => { if (data.byteLength === 0) throw NEED_MORE_BYTES; return inner(data) }
      cheap.edosCheap = true
      this.lengthDecoder = cheap
    }
    return decode.call(this, buf)
  }
  proto.edosCheap = true
}
cheapEmptyLengths()

/**
 * One write(2) per send on a TCP connection. Noise hands the connection
 * each frame as two chunks (its 2-byte length, then the ciphertext), and
 * the TCP connection wrote chunk by chunk: two system calls and, with
 * TCP_NODELAY, two segments per frame, each waking the receiver (an idle
 * peer's writes were half 2-byte ones). Corked, the chunks of one send
 * leave in one writev. The TCP connection class is not exported, so its
 * prototype is taken from the first connection that has one.
 */
export function oneWritePerSend (events: TypedEventTarget<Libp2pEvents>): void {
  const onOpen = (evt: CustomEvent<Connection>): void => {
    const maConn = (evt.detail as unknown as { maConn?: { socket?: unknown } }).maConn
    if (maConn == null || !isCorkable(maConn.socket)) return
    const proto = Object.getPrototypeOf(maConn) as CorkableSend
    if (typeof proto.sendData !== 'function') return
    if (proto.edosCorked !== true) corkSends(proto)
    events.removeEventListener('connection:open', onOpen)
  }
  events.addEventListener('connection:open', onOpen)
}

interface CorkableSocket { cork: () => void, uncork: () => void }
interface CorkableSend { sendData: (this: { socket: CorkableSocket }, data: Uint8ArrayList) => unknown, edosCorked?: boolean }

function isCorkable (socket: unknown): socket is CorkableSocket {
  return typeof (socket as Partial<CorkableSocket> | undefined)?.cork === 'function' && typeof (socket as Partial<CorkableSocket>).uncork === 'function'
}

/** One chunk is one write already. */
function severalChunks (data: Iterable<Uint8Array>): boolean {
  const it = data[Symbol.iterator]()
  return it.next().done !== true && it.next().done !== true
}

function corkSends (proto: CorkableSend): void {
  const send = proto.sendData
  proto.sendData = function (data) {
    if (!isCorkable(this.socket) || !severalChunks(data)) return send.call(this, data)
    this.socket.cork()
    try { return send.call(this, data) } finally { this.socket.uncork() }
  }
  proto.edosCorked = true
}
