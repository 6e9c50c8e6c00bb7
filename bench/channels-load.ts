import '../src/shims/index.ts'
/**
 * The load side of `npm run bench -- channels`, in its own process so its
 * CPU is not the mirror's: N graphql-ws subscribers (one WebSocket each) to
 * `channel(name, since)` on the mirror. Protocol on stdio, one JSON object
 * per line: prints {ready} once every subscriber got the warm-up
 * notification `since + 1`; then, once each got every seq up to `last`
 * (or the deadline passed), prints {result} with the delivery latencies
 * (receive time minus the notification's signed date) and exits.
 *
 * Usage: channels-load.ts URL CHANNEL N SINCE LAST DEADLINE_MS
 */
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'

const [url, channel, nText, sinceText, lastText, deadlineText] = process.argv.slice(2)
const n = Number(nText)
const since = Number(sinceText)
const last = Number(lastText)
const deadline = Date.now() + Number(deadlineText)
const warm = since + 1
const say = (v: unknown): void => { process.stdout.write(JSON.stringify(v) + '\n') }

const QUERY = 'subscription ($name: String!, $since: Int!) { channel(name: $name, since: $since) { seq date } }'
const latencies: number[] = []
let warmed = 0
let done = 0
let errors = 0
const clients: Array<ReturnType<typeof createClient>> = []
const finished = new Promise<void>((resolve) => {
  const check = (): void => { if (done === n) resolve() }
  for (let i = 0; i < n; i++) {
    const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: false })
    clients.push(client)
    let next = warm
    client.subscribe<{ channel: { seq: number, date: string } }>({ query: QUERY, variables: { name: channel, since } }, {
      next: (r) => {
        const now = Date.now()
        const c = r.data?.channel
        if (c == null) { errors++; return }
        if (c.seq !== next) { errors++; next = c.seq } // a gap or a duplicate: counted, never expected
        next++
        if (c.seq === warm) { if (++warmed === n) say({ ready: true }) } else latencies.push(now - Date.parse(c.date))
        if (c.seq === last) { done++; check() }
      },
      error: () => { errors++; done++; check() },
      complete: () => {}
    })
  }
  const timer = setInterval(() => { if (Date.now() > deadline) { clearInterval(timer); resolve() } }, 200)
  timer.unref()
})
await finished
say({ result: { latencies, subscribers: n, completed: done, errors } })
await Promise.all(clients.map(async (c) => { await c.dispose() }))
process.exit(0)
