import '../src/shims/index.ts'
/**
 * One load process of `npm run bench -- channels` (the bench starts
 * several, so their CPU is neither the mirror's nor one core's): N
 * subscribers, one WebSocket each, to `channel(name, since)` on the mirror.
 *
 * Each speaks graphql-transport-ws itself (connection_init, subscribe with
 * a UUID id, as graphql-ws's client does) instead of graphql-ws's client:
 * the receive time must be the load process's clock when the frame
 * arrives, not after parsing 10,000 messages ahead of it. The WebSocket
 * client is bench/lean-ws.ts (a bare TCP socket read into one shared
 * buffer: the load shares the mirror's cores, and `ws` spends ~2x its CPU
 * per received frame); it stamps each read as it happens, and a `next`
 * message is read in place: its seq and date are found in the bytes (no
 * JSON.parse, one Date.parse per distinct date), ~1 us. With CLIENT = ws,
 * a message handler only stamps the time and keeps the text; messages are
 * parsed in a later (check) phase of the event loop, after every socket
 * ready in that poll was stamped. Connections open at most CONCURRENT at a
 * time (10,000 at once overflow the mirror's accept queue).
 *
 * Protocol on stdio, one JSON object per line: {ready} once every
 * subscriber got the warm-up notification `since + 1`; then, once each got
 * every seq up to `last` (or the deadline passed), {result} with the
 * delivery latencies (receive time minus the notification's signed date),
 * one list per notification,
 * and this process's CPU from ready to the end, and it exits.
 *
 * NAP_MS (default 1): after a loop turn that read anything, the process
 * sleeps that long outside epoll (ReadCoalescer in lean-ws.ts), so the
 * frames of a burst are read in batches rather than each waking it; on
 * loopback every wake-up is paid inside the mirror's write call. It adds
 * at most NAP_MS to a latency.
 *
 * Usage: channels-load.ts URL CHANNEL N SINCE LAST DEADLINE_MS [CLIENT: lean (default) | ws] [NAP_MS]
 */
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { LeanWebSocket, ReadCoalescer } from './lean-ws.ts'

const [url, channel, nText, sinceText, lastText, deadlineText, clientKind = 'lean', napText = '1'] = process.argv.slice(2)
const n = Number(nText)
const since = Number(sinceText)
const last = Number(lastText)
const deadline = Date.now() + Number(deadlineText)
const warm = since + 1
const CONCURRENT = 128
const say = (v: unknown): void => { process.stdout.write(JSON.stringify(v) + '\n') }
const coalescer = new ReadCoalescer(Number(napText))

const QUERY = 'subscription ($name: String!, $since: Int!) { channel(name: $name, since: $since) { seq date } }'
const INIT = JSON.stringify({ type: 'connection_init', payload: {} })

interface Subscriber { socket: { send: (text: string) => void, terminate: () => void }, next: number, finished: boolean, warmed: boolean }
const subscribers: Subscriber[] = []
/** Per notification after the warm-up (index seq - warm - 1), its latencies here. */
const latencies: number[][] = Array.from({ length: Math.max(0, last - warm) }, () => [])
let delivered = 0
let warmed = 0
/** Subscribers lost before the warm-up: ready does not wait for them (they show as undelivered). */
let lost = 0
/** Close codes of sockets the mirror closed before their last seq. */
const closes = new Map<number, number>()
let done = 0
let errors = 0
let started = 0
let cpuAtReady: NodeJS.CpuUsage | undefined

// Messages (ws client) stamped but not parsed yet: subscriber index, receive time, text.
let pending: Array<[number, number, string]> = []
let scheduled = false

function ready (): void {
  if (warmed + lost === n) { cpuAtReady = process.cpuUsage(); say({ ready: true }) }
}

function finish (s: Subscriber): void {
  if (s.finished) return
  s.finished = true
  done++
  if (!s.warmed) { lost++; ready() }
}

let lastDate = ''
let lastDateMs = 0
/** A `next` message's seq and date read in place (graphql-ws writes `"type":"next"` before the payload), or undefined for any other message. */
function fastNext (text: string): { seq: number, date: number } | undefined {
  if (!text.includes('"type":"next"')) return undefined
  const s = text.indexOf('"seq":')
  const d = text.indexOf('"date":"')
  if (s < 0 || d < 0) return undefined
  const seq = parseInt(text.slice(s + 6, s + 26), 10)
  const date = text.slice(d + 8, text.indexOf('"', d + 8))
  if (date !== lastDate) { lastDate = date; lastDateMs = Date.parse(date) }
  return Number.isInteger(seq) ? { seq, date: lastDateMs } : undefined
}

function handle (i: number, at: number, frame: string): void {
  const s = subscribers[i]
  const fast = fastNext(frame)
  if (fast !== undefined) { received(s, fast.seq, at - fast.date); return }
  const m = JSON.parse(frame) as { type: string, payload?: { data?: { channel?: { seq: number, date: string } } } }
  if (m.type === 'connection_ack') {
    s.socket.send(JSON.stringify({ id: randomUUID(), type: 'subscribe', payload: { query: QUERY, variables: { name: channel, since } } }))
    return
  }
  if (m.type !== 'next') {
    if (m.type === 'error' || m.type === 'complete') { errors++; finish(s) }
    return
  }
  const c = m.payload?.data?.channel
  if (c == null) { errors++; return }
  received(s, c.seq, at - Date.parse(c.date))
}

function received (s: Subscriber, seq: number, latency: number): void {
  if (seq !== s.next) errors++ // a gap or a duplicate: counted, never expected
  s.next = seq + 1
  if (seq === warm) {
    s.warmed = true
    warmed++
    ready()
  } else { latencies[seq - warm - 1]?.push(latency); delivered++ }
  if (seq === last) finish(s)
}

function drain (): void {
  scheduled = false
  const batch = pending
  pending = []
  for (const [i, at, data] of batch) handle(i, at, data)
}

function stamp (i: number, data: string): void {
  pending.push([i, Date.now(), data])
  if (!scheduled) { scheduled = true; setImmediate(drain) }
}

function connectLean (i: number): void {
  const s: Subscriber = { socket: { send: () => {}, terminate: () => {} }, next: warm, finished: false, warmed: false }
  subscribers[i] = s
  const socket = new LeanWebSocket(url, 'graphql-transport-ws', {
    open: () => { socket.send(INIT); startOne() },
    message: (data, start, end, at) => { coalescer.read(); handle(i, at, data.toString('latin1', start, end)) },
    error: () => { errors++; finish(s); startOne() },
    close: (code) => {
      if (!s.finished) { errors++; closes.set(code, (closes.get(code) ?? 0) + 1) }
      finish(s)
    }
  })
  s.socket = socket
}

function connect (i: number): void {
  if (clientKind !== 'ws') { connectLean(i); return }
  const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false, skipUTF8Validation: true })
  const s: Subscriber = { socket, next: warm, finished: false, warmed: false }
  subscribers[i] = s
  socket.on('open', () => {
    socket.send(INIT)
    startOne()
  })
  socket.on('message', (data) => { coalescer.read(); stamp(i, String(data)) })
  socket.on('error', () => { errors++; finish(s); startOne() })
  socket.on('close', (code) => {
    if (!s.finished) { errors++; closes.set(code, (closes.get(code) ?? 0) + 1) }
    finish(s)
  })
}

function startOne (): void {
  if (started < n) connect(started++)
}
// CONCURRENT handshakes at a time: each open (or failure) starts the next.
for (let i = 0; i < CONCURRENT; i++) startOne()

const progress = process.env.EDOS_BENCH_PROGRESS === '1'
await new Promise<void>((resolve) => {
  let ticks = 0
  const timer = setInterval(() => {
    if (progress && ++ticks % 50 === 0) process.stderr.write(`load ${process.pid}: started ${started}/${n} warmed ${warmed} done ${done} errors ${errors} latencies ${delivered} pending ${pending.length}\n`)
    if (done === n || Date.now() > deadline) { clearInterval(timer); resolve() }
  }, 100)
})
if (closes.size > 0) process.stderr.write(`load ${process.pid}: sockets closed by the mirror before their last seq, by close code: ${JSON.stringify(Object.fromEntries(closes))}\n`)
if (done < n) {
  // Who is stuck where: the next seq each unfinished subscriber waits for.
  const waiting = new Map<number, number>()
  for (const s of subscribers) if (!s.finished) waiting.set(s.next, (waiting.get(s.next) ?? 0) + 1)
  process.stderr.write(`load ${process.pid}: ${n - done} of ${n} unfinished at the deadline, waiting for seq: ${JSON.stringify(Object.fromEntries(waiting))}\n`)
}
const cpu = process.cpuUsage(cpuAtReady)
for (const s of subscribers) s.socket.terminate()
// Megabytes of latencies: a pipe takes them asynchronously, so exit once written.
process.stdout.write(JSON.stringify({ result: { latencies, subscribers: n, completed: done, errors, cpuMs: (cpu.user + cpu.system) / 1000 } }) + '\n', () => { process.exit(0) })
