/**
 * `edos channel create|list --peer URL` and `edos subscribe --peer URL
 * CHANNEL`: channels on a running peer. `subscribe` follows a channel over
 * graphql-ws and prints one JSON object per notification; when the socket
 * drops it resubscribes with `since` = the last seq printed, so a line is
 * never repeated and never skipped (the peer replays its log after since).
 */
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { PeerClient, GraphQLResponseError, normalisePeerUrl, type GraphQLErrorShape } from './peer-client.ts'
import { PeerProtocolError } from './errors.ts'
import type { PeerArgs } from './peer-commands.ts'

const out = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }

const CHANNEL_FIELDS = 'name description filter createdAt lastSeq signature'

const CREATE = `mutation EdosChannelCreate($name: String!, $description: String, $filter: String) {
  createChannel(name: $name, description: $description, filter: $filter) { channel { ${CHANNEL_FIELDS} } }
}`

export async function runChannelCreate (args: PeerArgs & { name: string, description?: string, filter?: string }): Promise<number> {
  const d = await new PeerClient({ url: args.peer, token: args.token }).request<{ createChannel: { channel: unknown } | null }>(CREATE, { name: args.name, description: args.description ?? '', filter: args.filter ?? null })
  if (d.createChannel === null) throw new PeerProtocolError(`the peer at ${args.peer} created no channel`)
  out(d.createChannel.channel)
  return 0
}

export async function runChannelList (args: PeerArgs): Promise<number> {
  const d = await new PeerClient({ url: args.peer, token: args.token }).request<{ channels: unknown[] | null }>(`query EdosChannels { channels { ${CHANNEL_FIELDS} } }`)
  for (const c of d.channels ?? []) out(c)
  return 0
}

const UNIT = 'kind doc name version arch checksum'
const FOLLOW = `subscription EdosFollow($name: String!, $since: Int!, $autoDownload: Boolean!) {
  channel(name: $name, since: $since, autoDownload: $autoDownload) {
    channel seq release date signature part parts
    added { ${UNIT} } updated { ${UNIT} } removed { ${UNIT} }
    download { downloadId state units bytesTotal } downloadError
    flashCrowd { phase release closesAt clusters { id infoHash units bytes pieceLength } }
  }
}`

/** Codes that retrying cannot fix: the request is wrong. */
const FATAL = new Set(['BAD_USER_INPUT', 'NOT_FOUND', 'UNAUTHENTICATED', 'FORBIDDEN'])

export interface SubscribeArgs extends PeerArgs {
  channel: string
  since: number
  autoDownload: boolean
  /** Stop after this many notifications (scripts, tests). Default: follow until SIGINT/SIGTERM. */
  count?: number
  /** Consecutive failed connections before giving up. Default 10. */
  maxRetries?: number
}

export async function runSubscribe (args: SubscribeArgs): Promise<number> {
  const url = normalisePeerUrl(args.peer).replace(/^http/, 'ws')
  const limit = args.count ?? Infinity
  let last = args.since
  let seen = 0
  let stopping = false
  let failures = 0
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: args.token === undefined ? {} : { authorization: `Bearer ${args.token}` },
    lazy: true,
    // Reconnecting is done here, with the newest since; graphql-ws's own retry would replay the first one.
    retryAttempts: 0
  })
  const stop = (): void => { stopping = true; void client.dispose() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    while (!stopping && seen < limit) {
      try {
        const it = client.iterate<{ channel: { seq: number } }>({ query: FOLLOW, variables: { name: args.channel, since: last, autoDownload: args.autoDownload } })
        for await (const r of it) {
          if (r.errors !== undefined && r.errors.length > 0) throw new GraphQLResponseError(r.errors as unknown as GraphQLErrorShape[], 200)
          const n = r.data?.channel
          if (n == null || n.seq <= last) continue
          out(n)
          last = n.seq
          failures = 0
          if (++seen >= limit) break
        }
        if (seen >= limit || stopping) break
        process.stderr.write(`edos subscribe: the peer ended the subscription; resubscribing since ${last}\n`)
      } catch (err) {
        if (err instanceof GraphQLResponseError && FATAL.has(err.code)) throw err
        if (stopping) break
        if (++failures > (args.maxRetries ?? 10)) throw new PeerProtocolError(`lost the peer at ${url} (${describe(err)}) ${failures} times in a row; last seq printed: ${last}`)
        const delay = Math.min(500 * 2 ** (failures - 1), 15_000)
        process.stderr.write(`edos subscribe: ${describe(err)}; resubscribing since ${last} in ${delay} ms\n`)
        await new Promise((resolve) => setTimeout(resolve, delay))
      }
    }
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
    await client.dispose()
  }
  return 0
}

// A closed socket arrives as a CloseEvent, an unreachable peer as an ErrorEvent: neither is an Error.
function describe (err: unknown): string {
  if (err instanceof Error) return err.message
  const e = err as { code?: number, reason?: string, message?: string, type?: string }
  if (e.message !== undefined) return e.message
  return `connection closed (${e.code ?? e.type ?? '?'}${e.reason !== undefined && e.reason !== '' ? `: ${e.reason}` : ''})`
}
