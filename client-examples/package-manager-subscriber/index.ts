/**
 * A package manager's side of a channel: follows it over graphql-ws, prints
 * each notification as a JSON line, remembers the last seq in a state file
 * and resumes from it (`since`) after a restart or a dropped connection, so
 * nothing is missed and nothing is printed twice. With --download it asks
 * the peer to download each notification's added units and prints the
 * typed result (a Download, or the peer's error code).
 *
 *   node bin/run-ts.js client-examples/package-manager-subscriber/index.ts \
 *     --url ws://127.0.0.1:4000/graphql --channel releases \
 *     [--token-file DATA/api-token] [--state FILE] [--download] [--count N]
 */
import { readFile, rename, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { createClient, type Client } from 'graphql-ws'

const FOLLOW = `subscription Follow($name: String!, $since: Int!) {
  channel(name: $name, since: $since) {
    channel seq release date signature part parts
    added { kind doc name version arch checksum }
    updated { kind doc name version arch }
    removed { kind doc name version arch }
  }
}`

const DOWNLOAD = `mutation Download($units: [String!]) {
  download(units: $units) {
    download { id downloadId state units bytesTotal bytesDone error startedAt }
  }
}`

interface UnitRef { kind: string, doc: string, name: string, version: string, arch: string | null }
/** `part` of `parts` when a publish too large for one notification (over 1,000 units) was announced in several. */
interface Notification { channel: string, seq: number, release: string, date: string, part: number | null, parts: number | null, added: UnitRef[], updated: UnitRef[], removed: UnitRef[] }
interface GraphQLErrorLike { message: string, extensions?: { code?: string } }

/** State file: `{ "<url> <channel>": lastSeq }`, so one file can follow several peers and channels. */
async function loadState (file: string): Promise<Record<string, number>> {
  try { return JSON.parse(await readFile(file, 'utf8')) as Record<string, number> } catch { return {} }
}

/** Written to a temporary file then renamed: a crash mid-write leaves the old state, never a torn one. */
async function saveState (file: string, state: Record<string, number>): Promise<void> {
  await writeFile(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n')
  await rename(`${file}.tmp`, file)
}

const print = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }

/** Errors the peer will repeat on every retry (bad channel name, bad token): stop instead of looping. */
const FATAL = new Set(['BAD_USER_INPUT', 'NOT_FOUND', 'UNAUTHENTICATED', 'FORBIDDEN'])

/** A mutation over the same socket (graphql-ws carries queries and mutations too). */
async function runOnce<T> (client: Client, query: string, variables: Record<string, unknown>): Promise<{ data?: T, errors?: readonly GraphQLErrorLike[] }> {
  const it = client.iterate<T>({ query, variables })
  try {
    const r = await it.next()
    return r.done === true ? {} : r.value as { data?: T, errors?: readonly GraphQLErrorLike[] }
  } finally {
    await it.return?.()
  }
}

async function main (): Promise<number> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:4000/graphql' },
      channel: { type: 'string', default: 'releases' },
      'token-file': { type: 'string' },
      state: { type: 'string', default: '.edos-subscriber-state.json' },
      download: { type: 'boolean', default: false },
      count: { type: 'string' }
    }
  })
  const url = values.url
  const channel = values.channel
  const stateFile = values.state
  const key = `${url} ${channel}`
  const token = values['token-file'] !== undefined ? (await readFile(values['token-file'], 'utf8')).trim() : process.env.EDOS_TOKEN
  // --count N: stop after N notifications (scripts and tests); default: follow until Ctrl-C.
  const limit = values.count === undefined ? Infinity : Number(values.count)
  const state = await loadState(stateFile)
  let last = state[key] ?? 0
  let seen = 0
  let stopping = false

  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: token === undefined || token === '' ? {} : { authorization: `Bearer ${token}` },
    lazy: true,
    // The client's own retries would resubscribe with the first `since`; reconnecting is done below, with the newest one.
    retryAttempts: 0
  })
  const stop = (): void => { stopping = true; void client.dispose() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)

  let delay = 500
  try {
    while (!stopping && seen < limit) {
      try {
        const it = client.iterate<{ channel: Notification }>({ query: FOLLOW, variables: { name: channel, since: last } })
        for await (const result of it) {
          if (result.errors !== undefined && result.errors.length > 0) throw Object.assign(new Error(result.errors[0].message), { code: (result.errors[0] as GraphQLErrorLike).extensions?.code })
          const n = result.data?.channel
          if (n == null || n.seq <= last) continue // replayed after a reconnect race: already printed
          print({ notification: n })
          last = n.seq
          state[key] = last
          await saveState(stateFile, state)
          delay = 500
          if (values.download && n.added.length > 0) {
            const r = await runOnce<{ download: { download: unknown } | null }>(client, DOWNLOAD, { units: n.added.map((u) => u.doc) })
            if (r.errors !== undefined && r.errors.length > 0) print({ downloadError: { code: r.errors[0].extensions?.code ?? 'ERROR', message: r.errors[0].message } })
            else print({ download: r.data?.download?.download ?? null })
          }
          if (++seen >= limit) break
        }
        if (seen >= limit || stopping) break
        process.stderr.write(`subscriber: the peer ended the subscription; resubscribing since ${last}\n`)
      } catch (err) {
        const code = (err as { code?: string }).code
        if (code !== undefined && FATAL.has(code)) { process.stderr.write(`subscriber: ${code}: ${(err as Error).message}\n`); return 2 }
        if (stopping) break
        // A closed socket arrives as a CloseEvent, not an Error.
        const reason = err instanceof Error ? err.message : `connection closed (${(err as { code?: number }).code ?? '?'})`
        process.stderr.write(`subscriber: ${reason}; retrying in ${delay} ms since ${last}\n`)
        await new Promise((resolve) => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, 30_000)
      }
    }
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await client.dispose()
  }
  return 0
}

process.exitCode = await main()
