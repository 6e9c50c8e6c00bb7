import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { EmbeddedPeer } from '../src/actors/index.ts'
import { startServer } from '../src/server/index.ts'
import { ROOT, percentile, printTable, writeResults } from './common.ts'

/**
 * GraphQL overhead: the same searches answered in-process by the peer and
 * over HTTP by its yoga server (sequential and 8 concurrent clients), and
 * channel notification delivery over graphql-ws. Ratios against the
 * in-process baseline of the same run.
 */
const PATTERNS = [
  '//package[section = "libs"]/name',
  '//package[contains-word(description, "security")]/name',
  '//package[.//dep/@name = "libc6"]/name'
]
const QUERY = 'query($p: String!) { search(pattern: $p, first: 20) { totalCount edges { cursor node { doc path xml } } } }'

async function timed (n: number, run: () => Promise<void>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) { const t0 = performance.now(); await run(); out.push(performance.now() - t0) }
  return out
}

export async function run (): Promise<void> {
  const data = await mkdtemp(join(tmpdir(), 'edos-gql-bench-'))
  const peer = await EmbeddedPeer.start({ data })
  const server = await startServer({ peer, port: 0 })
  const auth = { authorization: `Bearer ${(await readFile(join(data, 'api-token'), 'utf8')).trim()}` }
  try {
    await peer.publish([{ kind: 'path', path: join(ROOT, 'test', 'fixtures', 'bookworm-slice.Packages.xz') }], { release: 'bookworm', translations: [{ kind: 'path', path: join(ROOT, 'test', 'fixtures', 'bookworm-slice.Translation-en.xz') }] })
    const rows: Array<Record<string, string | number>> = []
    const figures: unknown[] = []
    for (const p of PATTERNS) {
      const post = async (): Promise<void> => {
        const r = await fetch(server.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: QUERY, variables: { p } }) })
        const body = await r.json() as { errors?: unknown }
        if (body.errors !== undefined) throw new Error(JSON.stringify(body.errors))
      }
      await post(); await peer.search(p, 20)
      const direct = await timed(200, async () => { await peer.search(p, 20) })
      const http = await timed(200, post)
      const t0 = performance.now()
      const concurrent: number[] = []
      await Promise.all(Array.from({ length: 8 }, async () => { concurrent.push(...await timed(50, post)) }))
      const rps = 400 / ((performance.now() - t0) / 1000)
      const row = { pattern: p, directP50ms: percentile(direct, 50), httpP50ms: percentile(http, 50), httpP95ms: percentile(http, 95), overheadMs: percentile(http, 50) - percentile(direct, 50), conc8P50ms: percentile(concurrent, 50), conc8Rps: rps }
      rows.push(row)
      figures.push(row)
    }
    printTable(rows)
    // Notification delivery: N graphql-ws subscribers on `releases`, one publish, time to the last delivery.
    const subscribers = 200
    const clients = Array.from({ length: subscribers }, () => createClient({ url: server.wsUrl, webSocketImpl: WebSocket, lazy: false, connectionParams: auth }))
    const lastSeq = (await peer.channel('releases'))?.lastSeq ?? 0
    const errors: string[] = []
    const arrived: number[] = []
    let published = 0
    const done = new Promise<void>((resolve) => {
      for (const c of clients) {
        c.subscribe({ query: 'subscription($s: Int!) { channel(name: "releases", since: $s) { seq release } }', variables: { s: lastSeq } }, {
          next: () => { arrived.push(performance.now() - published); if (arrived.length === subscribers) resolve() },
          error: (e: unknown) => { errors.push(JSON.stringify(e)) },
          complete: () => {}
        })
      }
    })
    await new Promise((resolve) => setTimeout(resolve, 1000))
    published = performance.now()
    await peer.cutRelease('bench-cut')
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 20_000))])
    if (errors.length > 0) process.stderr.write(`subscription errors: ${errors.slice(0, 3).join(' | ')}\n`)
    const delivery = { subscribers, delivered: arrived.length, p50ms: percentile(arrived, 50), p99ms: percentile(arrived, 99) }
    printTable([delivery])
    for (const c of clients) await c.dispose()
    process.stdout.write(`written ${await writeResults('graphql', { searches: figures, delivery })}\n`)
  } finally {
    await server.close()
    await peer.stop()
    await rm(data, { recursive: true, force: true })
  }
}
