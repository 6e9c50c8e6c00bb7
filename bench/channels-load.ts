import '../src/shims/index.ts'
/**
 * One load process of `npm run bench -- channels` (the bench starts
 * several, so their CPU is neither the mirror's nor one core's): N
 * subscribers, one WebSocket each, to `channel(name, since)` on the mirror.
 *
 * Each speaks graphql-transport-ws itself (connection_init, subscribe with
 * a UUID id, as graphql-ws's client does) instead of graphql-ws's client:
 * the receive time must be the load process's clock when the frame
 * arrives, not after parsing 10,000 messages ahead of it. So a data handler
 * only stamps the time and keeps the bytes; frames are parsed in a later
 * (check) phase of the event loop, after every socket ready in that poll
 * was stamped. The WebSocket client is bench/lean-ws.ts (a bare TCP socket:
 * the load shares the mirror's cores, and `ws` spends ~2x its CPU per
 * received frame), or `ws` with CLIENT = ws. Connections open at most
 * CONCURRENT at a time (10,000 at once overflow the mirror's accept queue).
 *
 * Protocol on stdio, one JSON object per line: {ready} once every
 * subscriber got the warm-up notification `since + 1`; then, once each got
 * every seq up to `last` (or the deadline passed), {result} with the
 * delivery latencies (receive time minus the notification's signed date)
 * and this process's CPU from ready to the end, and it exits.
 *
 * Usage: channels-load.ts URL CHANNEL N SINCE LAST DEADLINE_MS [CLIENT: lean (default) | ws]
 */
import { randomUUID } from 'node:crypto'
import WebSocket from 'ws'
import { LeanWebSocket } from './lean-ws.ts'

const [url, channel, nText, sinceText, lastText, deadlineText, clientKind = 'lean'] = process.argv.slice(2)
const n = Number(nText)
const since = Number(sinceText)
const last = Number(lastText)
const deadline = Date.now() + Number(deadlineText)
const warm = since + 1
const CONCURRENT = 128
const say = (v: unknown): void => { process.stdout.write(JSON.stringify(v) + '\n') }

const QUERY = 'subscription ($name: String!, $since: Int!) { channel(name: $name, since: $since) { seq date } }'
const INIT = JSON.stringify({ type: 'connection_init', payload: {} })

interface Subscriber { socket: { send: (text: string) => void, terminate: () => void }, next: number, finished: boolean, warmed: boolean }
const subscribers: Subscriber[] = []
const latencies: number[] = []
let warmed = 0
/** Subscribers lost before the warm-up: ready does not wait for them (they show as undelivered). */
let lost = 0
/** Close codes of sockets the mirror closed before their last seq. */
const closes = new Map<number, number>()
let done = 0
let errors = 0
let started = 0
let cpuAtReady: NodeJS.CpuUsage | undefined

// Data stamped but not parsed yet: subscriber index, receive time, a frame (ws) or a chunk of frames (lean).
let pending: Array<[number, number, string | Buffer]> = []
const lean: LeanWebSocket[] = []
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

function handle (i: number, at: number, frame: string): void {
  const s = subscribers[i]
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
  if (c.seq !== s.next) errors++ // a gap or a duplicate: counted, never expected
  s.next = c.seq + 1
  if (c.seq === warm) {
    s.warmed = true
    warmed++
    ready()
  } else latencies.push(at - Date.parse(c.date))
  if (c.seq === last) finish(s)
}

function drain (): void {
  scheduled = false
  const batch = pending
  pending = []
  for (const [i, at, data] of batch) {
    if (typeof data === 'string') handle(i, at, data)
    else for (const frame of lean[i].frames(data)) handle(i, at, frame)
  }
}

function stamp (i: number, data: string | Buffer): void {
  pending.push([i, Date.now(), data])
  if (!scheduled) { scheduled = true; setImmediate(drain) }
}

function connectLean (i: number): void {
  const s: Subscriber = { socket: { send: () => {}, terminate: () => {} }, next: warm, finished: false, warmed: false }
  subscribers[i] = s
  const socket = new LeanWebSocket(url, 'graphql-transport-ws', {
    open: () => { socket.send(INIT); startOne() },
    chunk: (data) => { stamp(i, data) },
    error: () => { errors++; finish(s); startOne() },
    close: (code) => {
      if (!s.finished) { errors++; closes.set(code, (closes.get(code) ?? 0) + 1) }
      finish(s)
    }
  })
  lean[i] = socket
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
  socket.on('message', (data) => { stamp(i, String(data)) })
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
    if (progress && ++ticks % 50 === 0) process.stderr.write(`load ${process.pid}: started ${started}/${n} warmed ${warmed} done ${done} errors ${errors} latencies ${latencies.length} pending ${pending.length}\n`)
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
