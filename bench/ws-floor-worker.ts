/**
 * A process of `npm run bench -- ws-floor`: a writer (a TCP or `ws` server
 * that writes one ~130-byte frame to every connected socket when told) or
 * a reader (N sockets to the writers, each stamping its arrival). Talks to
 * the bench over IPC.
 *
 * Usage: ws-floor-worker.ts writer raw|ws
 *        ws-floor-worker.ts reader raw|ws|lean PORTS_JSON N
 */
import { connect, createServer, type Socket } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { LeanWebSocket, ReadCoalescer } from './lean-ws.ts'

const PAYLOAD = '{"id":"0b7c1f0e-3c2a-4f5e-9a43-1d2e3f4a5b6c","type":"next","payload":{"data":{"channel":{"seq":12,"date":"2026-11-26T14:00:00.000Z"}}}}'
const send = (m: unknown): void => { process.send?.(m) }
const [role, kind, portsText, nText] = process.argv.slice(2)

interface Go { go: number }
const isGo = (m: unknown): m is Go => typeof (m as Go)?.go === 'number'

if (role === 'writer') {
  const write: Array<() => void> = []
  const onGo = (): void => {
    const c0 = process.cpuUsage()
    for (const w of write) w()
    const cpu = process.cpuUsage(c0)
    send({ wrote: write.length, cpuMs: (cpu.user + cpu.system) / 1000 })
  }
  process.on('message', (m) => { if (isGo(m)) onGo() })
  if (kind === 'ws') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
    wss.on('connection', (s) => { write.push(() => { s.send(PAYLOAD) }) })
    wss.on('listening', () => { send({ port: (wss.address() as { port: number }).port }) })
  } else {
    // A WebSocket text frame as a server writes it (unmasked, 2-byte header).
    const body = Buffer.from(PAYLOAD)
    const frame = Buffer.concat([Buffer.from([0x81, body.length]), body])
    const server = createServer((s: Socket) => { s.setNoDelay(true); write.push(() => { s.write(frame) }) })
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => { send({ port: (server.address() as { port: number }).port }) })
  }
} else {
  const ports = JSON.parse(portsText) as number[]
  const n = Number(nText)
  let got: number[] = []
  let go = 0
  let c0 = process.cpuUsage()
  let opened = 0
  let started = 0
  const coalescer = new ReadCoalescer(Number(process.env.EDOS_BENCH_NAP_MS ?? 0))
  const arrived = (): void => {
    coalescer.read()
    got.push(performance.timeOrigin + performance.now() - go)
    if (got.length === n) {
      const cpu = process.cpuUsage(c0)
      send({ latencies: got, cpuMs: (cpu.user + cpu.system) / 1000 })
      got = []
    }
  }
  const opened1 = (): void => { if (++opened === n) send({ ready: true }); else open() }
  const open = (): void => {
    if (started >= n) return
    const port = ports[started++ % ports.length]
    if (kind === 'ws') {
      const s = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false })
      s.on('open', opened1)
      s.on('message', arrived)
    } else if (kind === 'lean') {
      // The raw writer does not speak HTTP: lean readers go to a ws writer.
      void new LeanWebSocket(`ws://127.0.0.1:${port}/`, 'x', { open: opened1, message: arrived, close: () => {}, error: () => {} })
    } else {
      const s = connect(port, '127.0.0.1', opened1)
      s.on('data', arrived)
    }
  }
  for (let i = 0; i < 128; i++) open()
  process.on('message', (m) => { if (isGo(m)) { go = m.go; c0 = process.cpuUsage() } })
}
