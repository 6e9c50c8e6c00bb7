import '../shims/index.ts'
import { readFile } from 'node:fs/promises'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { EdosError } from '../xml-twig-index/errors.ts'
import { UsageError } from './errors.ts'
import type { PeerArgs } from './peer-commands.ts'
import { GraphQLResponseError } from './peer-client.ts'
import type { ServeNetwork } from './serve.ts'
import type { PeerContentInit } from '../actors/embedded.ts'

/** The network options of `edos serve` (undefined with --embedded). */
function networkOptions (values: Record<string, string | boolean | string[] | undefined>): ServeNetwork | undefined {
  if (values.embedded === true) {
    for (const o of ['listen', 'bootstrap', 'publisher-key', 'address-scope', 'replicas']) if (values[o] !== undefined) throw new UsageError(`--${o} makes no sense with --embedded`)
    return undefined
  }
  const scope = values['address-scope'] as string | undefined
  if (scope !== undefined && scope !== 'private' && scope !== 'public') throw new UsageError(`--address-scope must be private or public, got '${scope}'`)
  const replicasText = values.replicas as string | undefined
  const replicas = replicasText === undefined ? undefined : Number(replicasText)
  if (replicas !== undefined && (!Number.isInteger(replicas) || replicas < 1 || replicas > 16)) throw new UsageError(`--replicas must be an integer from 1 to 16, got '${replicasText ?? ''}'`)
  const addrs = (name: string): string[] | undefined => {
    const list = values[name] as string[] | undefined
    for (const a of list ?? []) if (!a.startsWith('/')) throw new UsageError(`--${name} takes a multiaddr like /ip4/127.0.0.1/tcp/4001, got '${a}'`)
    return list
  }
  return {
    listen: addrs('listen'),
    bootstrap: addrs('bootstrap'),
    publisherKeyFile: values['publisher-key'] as string | undefined,
    addressScope: scope as 'private' | 'public' | undefined,
    replicas
  }
}

/** `serve`'s content flags (BitTorrent port, bandwidth, seeding policy); numbers are checked here. */
function contentOptions (values: Record<string, string | boolean | string[] | undefined>): PeerContentInit {
  const num = (name: string, min: number): number | undefined => {
    const text = values[name] as string | undefined
    if (text === undefined) return undefined
    const n = Number(text)
    if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name} must be a number >= ${min}, got '${text}'`)
    return n
  }
  const port = num('torrent-port', 0)
  if (port !== undefined && (!Number.isInteger(port) || port > 65535)) throw new UsageError(`--torrent-port must be a TCP port, got '${String(values['torrent-port'])}'`)
  const ratio = num('seed-ratio', 0)
  const seconds = num('seed-time', 0)
  return {
    torrentPort: port,
    downloadLimit: num('download-limit', 1),
    uploadLimit: num('upload-limit', 1),
    parallel: num('parallel-downloads', 1),
    seeding: ratio === undefined && seconds === undefined ? undefined : { ratio, seconds }
  }
}

/** Bad input: printed on stderr, exit code 2. */

const USAGE = `usage: edos COMMAND [OPTIONS]

  edos start [--data DIR] [--http HOST:PORT]   the sample metadata served over GraphQL (default 127.0.0.1:4000)
  edos serve --data DIR [--http HOST:PORT] [--role publisher|mirror|client] [--listen MULTIADDR...]
             [--bootstrap MULTIADDR...] [--publisher-key FILE] [--address-scope private|public] [--embedded]
             [--torrent-port N] [--download-limit B/s] [--upload-limit B/s] [--parallel-downloads N]
             [--seed-ratio R] [--seed-time SECONDS]   (stop seeding a download at ratio R or after SECONDS)
             [--join-flash-crowds PATTERN|'*']   send a wish list whenever the publisher opens a flash crowd
  edos import --data DIR --release NAME [--format debian|rpm-md|dir] [--translations FILE] FILE...
  edos publish (--data DIR | --peer URL) --release NAME [--format debian|rpm-md|dir] [--translations FILE]
             [--content DIR...] [--by-path] FILE...   --format dir DIR publishes the files themselves (stored and
                                                 seeded); --content DIR attaches the files a Packages/primary.xml
                                                 names; --by-path: the peer on this machine reads them (no upload)
  edos download --peer URL [--detach] ID...|PATTERN   download units (or a pattern's packages) on the peer: progress bar, final JSON line
  edos query (--data DIR | --peer URL) [--limit N] [--after CURSOR] [--explain] 'PATTERN'
  edos export (--data DIR | --peer URL) [ID...]
  edos stats (--data DIR | --peer URL)
  edos network --peer URL                      index peers, keys held, repair state
  edos mirror admit --peer PUBLISHER_URL PEER_ID   the publisher admits a running mirror into the index
  edos channel create --peer URL NAME [--filter PATTERN] [--description TEXT]   the publisher creates a channel
  edos channel list --peer URL                 the channels a peer knows, with their last seq
  edos subscribe --peer URL CHANNEL [--since N] [--auto-download] [--count N]
                                               follow a channel (graphql-ws): one JSON object per notification
  edos flash-crowd --peer PUBLISHER_URL RELEASE [--window S] [--k K] [--waste F] [--expect N] [--detach]
                                               open a flash crowd: collect wish lists, cluster, seed, announce
  edos wish --peer URL RELEASE [--pattern PATTERN] [--detach]   send the peer's wish list (the release, or
                                               the pattern's units, minus what it holds) and follow its downloads
  edos content add --peer URL [--by-path] PATH...   add files the peer already has (e.g. a package cache) to
                                               its store: matched to units by sha256, then seeded

A peer joins the distributed index (libp2p, kad-dht on /edos/kad/1.0.0) unless --embedded. Mirrors
and clients need the publisher's key (--publisher-key: the publisher writes DATA/publisher-key) and a
--bootstrap address (the publisher prints its multiaddrs at start).

--data DIR works on a store no process holds; --peer URL (http://HOST:PORT/graphql) talks to a
running peer (\`edos serve\`). Publishing to a peer needs its API token (DATA/api-token): give
--token-file FILE or set EDOS_TOKEN.
Query and export print one JSON object per line. Bad input exits with code 2, other failures 1.
`

const COMMON: ParseArgsConfig['options'] = { data: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
const REMOTE: ParseArgsConfig['options'] = { peer: { type: 'string' }, 'token-file': { type: 'string' } }
const SOURCES: ParseArgsConfig['options'] = { release: { type: 'string' }, format: { type: 'string' }, translations: { type: 'string', multiple: true } }
const OPTIONS: Record<string, ParseArgsConfig['options']> = {
  start: { ...COMMON, http: { type: 'string' } },
  serve: {
    ...COMMON,
    http: { type: 'string' },
    role: { type: 'string' },
    listen: { type: 'string', multiple: true },
    bootstrap: { type: 'string', multiple: true },
    'publisher-key': { type: 'string' },
    'address-scope': { type: 'string' },
    replicas: { type: 'string' },
    embedded: { type: 'boolean' },
    'torrent-port': { type: 'string' },
    'download-limit': { type: 'string' },
    'upload-limit': { type: 'string' },
    'parallel-downloads': { type: 'string' },
    'seed-ratio': { type: 'string' },
    'seed-time': { type: 'string' },
    'join-flash-crowds': { type: 'string' }
  },
  import: { ...COMMON, ...SOURCES },
  publish: { ...COMMON, ...REMOTE, ...SOURCES, content: { type: 'string', multiple: true }, 'by-path': { type: 'boolean' } },
  download: { ...COMMON, ...REMOTE, detach: { type: 'boolean' } },
  query: { ...COMMON, ...REMOTE, limit: { type: 'string' }, after: { type: 'string' }, explain: { type: 'boolean' } },
  export: { ...COMMON, ...REMOTE },
  stats: { ...COMMON, ...REMOTE },
  network: { ...COMMON, ...REMOTE },
  mirror: { ...COMMON, ...REMOTE },
  channel: { ...COMMON, ...REMOTE, filter: { type: 'string' }, description: { type: 'string' } },
  subscribe: { ...COMMON, ...REMOTE, since: { type: 'string' }, 'auto-download': { type: 'boolean' }, count: { type: 'string' } },
  'flash-crowd': { ...COMMON, ...REMOTE, window: { type: 'string' }, k: { type: 'string' }, waste: { type: 'string' }, expect: { type: 'string' }, detach: { type: 'boolean' } },
  wish: { ...COMMON, ...REMOTE, pattern: { type: 'string' }, detach: { type: 'boolean' } },
  content: { ...COMMON, ...REMOTE, 'by-path': { type: 'boolean' } }
}

const ROLES = ['publisher', 'mirror', 'client'] as const

/*
 * Commands load their modules when they run: a peer (serve) pulls in libp2p,
 * WebTorrent and the GraphQL server (~5 s of CPU to load), which a command
 * talking to a running peer, or reading a store, never needs.
 */
const offline = async (): Promise<typeof import('./commands.ts')> => await import('./commands.ts')
const peerCommands = async (): Promise<typeof import('./peer-commands.ts')> => await import('./peer-commands.ts')
const serving = async (): Promise<typeof import('./serve.ts')> => await import('./serve.ts')

/** The API token: --token-file wins over EDOS_TOKEN; none is fine for read-only commands. */
async function readToken (file: string | undefined): Promise<string | undefined> {
  if (file !== undefined) {
    const text = await readFile(file, 'utf8').catch(() => { throw new UsageError(`cannot read --token-file '${file}'`) })
    const token = text.trim()
    if (token === '') throw new UsageError(`--token-file '${file}' is empty`)
    return token
  }
  const env = process.env.EDOS_TOKEN?.trim()
  return env === undefined || env === '' ? undefined : env
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  const options = OPTIONS[command]
  if (options === undefined) throw new UsageError(`unknown command '${command}'\n${USAGE}`)
  let parsed
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`)
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>
  if (values.help === true) { process.stdout.write(USAGE); return 0 }
  const data = values.data as string | undefined
  const peerUrl = values.peer as string | undefined
  if (data !== undefined && peerUrl !== undefined) throw new UsageError(`edos ${command}: give --data DIR or --peer URL, not both`)
  if (values['token-file'] !== undefined && peerUrl === undefined) throw new UsageError('--token-file goes with --peer URL')
  const needData = (): string => {
    if (data === undefined || data === '') throw new UsageError(`edos ${command} needs --data DIR${'peer' in (options ?? {}) ? ' or --peer URL' : ''}`)
    return data
  }
  /** Set when the command runs against a peer. */
  const remote: PeerArgs | undefined = peerUrl === undefined ? undefined : { peer: peerUrl, token: await readToken(values['token-file'] as string | undefined) }
  if (remote !== undefined && remote.peer === '') throw new UsageError('--peer needs a URL')
  switch (command) {
    case 'start': return await (await serving()).runStartServing({ data, http: values.http as string | undefined })
    case 'serve': {
      const role = values.role as string | undefined
      if (role !== undefined && !(ROLES as readonly string[]).includes(role)) throw new UsageError(`unknown --role '${role}' (${ROLES.join(', ')})`)
      const join = values['join-flash-crowds'] as string | undefined
      if (join !== undefined && values.embedded === true) throw new UsageError('--join-flash-crowds needs the network: drop --embedded')
      return await (await serving()).runServe({ data: needData(), http: values.http as string | undefined, role: role as typeof ROLES[number] | undefined, network: networkOptions(values), content: contentOptions(values), flashCrowds: join === undefined ? undefined : { join } })
    }
    case 'import':
    case 'publish': {
      const release = values.release as string | undefined
      if (release === undefined || release === '') throw new UsageError(`edos ${command} needs --release NAME`)
      if (parsed.positionals.length === 0) throw new UsageError(`edos ${command} needs at least one FILE`)
      const format = values.format as string | undefined
      if (format !== undefined && !['debian', 'rpm-md', 'dir'].includes(format)) throw new UsageError(`unknown --format '${format}' (debian, rpm-md or dir)`)
      const sources = { release, format: format as 'debian' | 'rpm-md' | 'dir' | undefined, translations: (values.translations as string[] | undefined) ?? [], files: parsed.positionals }
      // `publish --data` is `import`: the same verb whether or not a peer holds the store.
      const content = values.content as string[] | undefined
      if (remote !== undefined) return await (await peerCommands()).runPeerPublish({ ...remote, ...sources, content, byPath: values['by-path'] === true })
      if (content !== undefined) throw new UsageError('--content goes with --peer URL: the running peer stores and seeds the files')
      return await (await offline()).runImport({ data: needData(), ...sources })
    }
    case 'download': {
      if (remote === undefined) throw new UsageError('edos download needs --peer URL (the running peer downloads and then seeds)')
      return await (await import('./download-command.ts')).runPeerDownload({ ...remote, targets: parsed.positionals, detach: values.detach === true })
    }
    case 'query': {
      if (parsed.positionals.length !== 1) throw new UsageError("edos query needs exactly one 'PATTERN'")
      const limitText = values.limit as string | undefined
      const limit = limitText === undefined ? undefined : Number(limitText)
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new UsageError(`--limit must be a non-negative integer, got '${limitText ?? ''}'`)
      const query = { pattern: parsed.positionals[0], limit, after: values.after as string | undefined, explain: values.explain === true }
      if (remote !== undefined) return await (await peerCommands()).runPeerQuery({ ...remote, ...query })
      return await (await offline()).runQuery({ data: needData(), ...query })
    }
    case 'export':
      if (remote !== undefined) return await (await peerCommands()).runPeerExport({ ...remote, ids: parsed.positionals })
      return await (await offline()).runExport({ data: needData(), ids: parsed.positionals })
    case 'stats':
      if (remote !== undefined) return await (await peerCommands()).runPeerStats(remote)
      return await (await offline()).runStats({ data: needData() })
    case 'network':
      if (remote === undefined) throw new UsageError('edos network needs --peer URL (a running peer)')
      return await (await import('./network-commands.ts')).runPeerNetwork(remote)
    case 'mirror': {
      if (parsed.positionals[0] !== 'admit' || parsed.positionals.length !== 2) throw new UsageError('usage: edos mirror admit --peer PUBLISHER_URL --token-file FILE PEER_ID')
      if (remote === undefined) throw new UsageError('edos mirror admit needs --peer PUBLISHER_URL')
      return await (await import('./network-commands.ts')).runMirrorAdmit({ ...remote, mirror: parsed.positionals[1] })
    }
    case 'channel': {
      const verb = parsed.positionals[0]
      if (remote === undefined) throw new UsageError(`edos channel ${verb ?? ''} needs --peer URL (a running peer)`)
      if (verb === 'list' && parsed.positionals.length === 1) return await (await import('./channel-commands.ts')).runChannelList(remote)
      if (verb !== 'create' || parsed.positionals.length !== 2) throw new UsageError('usage: edos channel create --peer URL NAME [--filter PATTERN] [--description TEXT] | edos channel list --peer URL')
      return await (await import('./channel-commands.ts')).runChannelCreate({ ...remote, name: parsed.positionals[1], filter: values.filter as string | undefined, description: values.description as string | undefined })
    }
    case 'subscribe': {
      if (remote === undefined) throw new UsageError('edos subscribe needs --peer URL (a running peer)')
      if (parsed.positionals.length !== 1) throw new UsageError('usage: edos subscribe --peer URL CHANNEL [--since N] [--auto-download] [--count N]')
      const count = intOption(values.count as string | undefined, '--count', 1)
      return await (await import('./channel-commands.ts')).runSubscribe({ ...remote, channel: parsed.positionals[0], since: intOption(values.since as string | undefined, '--since', 0) ?? 0, autoDownload: values['auto-download'] === true, count })
    }
    case 'flash-crowd': {
      if (remote === undefined) throw new UsageError('edos flash-crowd needs --peer PUBLISHER_URL (the running publisher)')
      if (parsed.positionals.length !== 1) throw new UsageError('usage: edos flash-crowd --peer URL RELEASE [--window S] [--k K] [--waste F] [--expect N]')
      const num = (name: string, ok: (n: number) => boolean, what: string): number | undefined => {
        const text = values[name] as string | undefined
        if (text === undefined) return undefined
        const n = Number(text)
        if (!Number.isFinite(n) || !ok(n)) throw new UsageError(`--${name} must be ${what}, got '${text}'`)
        return n
      }
      return await (await import('./flash-crowd-commands.ts')).runFlashCrowd({
        ...remote,
        release: parsed.positionals[0],
        windowSeconds: num('window', (n) => n > 0, 'a number of seconds > 0'),
        maxTorrents: num('k', (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
        wasteBudget: num('waste', (n) => n >= 0, 'a fraction >= 0'),
        expectedPeers: num('expect', (n) => Number.isInteger(n) && n >= 1, 'an integer >= 1'),
        detach: values.detach === true
      })
    }
    case 'wish': {
      if (remote === undefined) throw new UsageError('edos wish needs --peer URL (a running peer)')
      if (parsed.positionals.length !== 1) throw new UsageError('usage: edos wish --peer URL RELEASE [--pattern PATTERN] [--detach]')
      return await (await import('./flash-crowd-commands.ts')).runWish({ ...remote, release: parsed.positionals[0], pattern: values.pattern as string | undefined, detach: values.detach === true })
    }
    case 'content': {
      if (remote === undefined) throw new UsageError('edos content add needs --peer URL (a running peer)')
      if (parsed.positionals[0] !== 'add' || parsed.positionals.length < 2) throw new UsageError('usage: edos content add --peer URL [--by-path] PATH...')
      return await (await import('./flash-crowd-commands.ts')).runContentAdd({ ...remote, paths: parsed.positionals.slice(1), byPath: values['by-path'] === true })
    }
  }
  return 2
}

/** A non-negative (or >= min) integer option; undefined when absent. */
function intOption (text: string | undefined, name: string, min: number): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got '${text}'`)
  return n
}

/** Errors of the input (pattern, document, arguments) exit 2; everything else 1. */
const BAD_INPUT = new Set(['ERR_USAGE', 'ERR_QUERY_PARSE', 'ERR_XML_PARSE', 'ERR_INVALID_DOCUMENT', 'ERR_IMPORT', 'ERR_NOT_FOUND', 'ERR_INVALID_CURSOR', 'ERR_STORE_LOCKED'])
/** The peer's GraphQL error codes that mean the same: the request, not the peer, is at fault. */
const BAD_REQUEST = new Set(['BAD_USER_INPUT', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'])

/** The stderr text of a peer's GraphQL error: its message, the pattern position when the message lacks it, a hint for auth. */
function describePeerError (err: GraphQLResponseError): string {
  let message = err.message
  const position = err.extensions.position
  if (typeof position === 'number' && !/position/.test(message)) message += ` (at position ${position})`
  if (err.code === 'UNAUTHENTICATED') message += '\n(give --token-file DATA/api-token or set EDOS_TOKEN)'
  return `${err.code}: ${message}`
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  const code = (err as { code?: string }).code
  const text = err instanceof GraphQLResponseError ? describePeerError(err) : (err as Error).message
  process.stderr.write(`edos: ${text}\n`)
  if (!(err instanceof EdosError) && !(err instanceof GraphQLResponseError) && process.env.EDOS_DEBUG != null) process.stderr.write(`${(err as Error).stack ?? ''}\n`)
  process.exitCode = code !== undefined && (BAD_INPUT.has(code) || (err instanceof GraphQLResponseError && BAD_REQUEST.has(code))) ? 2 : 1
}
