/**
 * Flash crowds from the terminal, through a running peer's GraphQL:
 * - `edos flash-crowd --peer PUBLISHER_URL RELEASE [--window S] [--k K] [--waste F] [--expect N]`
 *   opens the window and follows it until the clusters are announced;
 * - `edos wish --peer URL RELEASE [--pattern P]` sends this peer's wish list
 *   and follows its downloads to the end;
 * - `edos content add --peer URL [--by-path] PATH...` adds files the peer
 *   already has (a package cache) to its store, matched by sha256.
 * A bar on stderr shows the progress; stdout gets one JSON line per result.
 */
import { resolve } from 'node:path'
import { stat } from 'node:fs/promises'
import { PeerClient, type UploadFile, subscriptionClient } from './peer-client.ts'
import { PeerProtocolError } from './errors.ts'
import { ImportError } from '../xml-twig-index/errors.ts'
import { ProgressBar } from './progress.ts'
import { filesUnder, type PeerArgs } from './peer-commands.ts'

const FIELDS = `release side state startedAt updatedAt closesAt wishLists expectedPeers maxTorrents exactClusters wantedBytes wasteBytes wastePercent
  wasteWithoutSelection clusteringMs uploaded uncovered bytesDone bytesTotal received wasteMeasured peers rate error
  wishList { units bytes held heldBytes } requesters { peer units bytes late }
  clusters { id infoHash units bytes pieceLength requesters waste uploaded selected bytesDone bytesTotal peers rate state wasteMeasured }`

const START = `mutation EdosFlashCrowd($release: String!, $window: Float, $k: Int, $waste: Float, $expect: Int) {
  startFlashCrowd(release: $release, windowSeconds: $window, maxTorrents: $k, wasteBudget: $waste, expectedPeers: $expect) { flashCrowd { ${FIELDS} } }
}`
const WISH = `mutation EdosWish($release: String!, $pattern: String) {
  submitWishList(release: $release, pattern: $pattern) { wishList { release units bytes held heldBytes pattern submittedAt state } }
}`
const FOLLOW = `subscription EdosFlashCrowdFollow($release: String!) { flashCrowd(release: $release) { ${FIELDS} } }`
const ADD = 'mutation EdosAddContent($files: [File!], $paths: [String!]) { addContent(files: $files, paths: $paths) { stored unmatched } }'

export interface FlashCrowdLine {
  release: string
  side: 'PUBLISHER' | 'PEER'
  state: 'COLLECTING' | 'CLUSTERING' | 'SEEDING' | 'ANNOUNCED' | 'DOWNLOADING' | 'COMPLETED' | 'FAILED'
  wishLists: number
  expectedPeers: number | null
  clusters: Array<{ id: string, units: number, bytes: number, state: string | null }>
  bytesDone: number
  bytesTotal: number
  peers: number
  rate: number
  error: string | null
  [field: string]: unknown
}

const mb = (n: number): string => (n / 1e6).toFixed(n < 1e7 ? 2 : 1)

/** Follows `flashCrowd(release)` until `done` says so; the bar shows each change. */
async function follow (args: PeerArgs, release: string, bar: ProgressBar, done: (s: FlashCrowdLine) => boolean, describe: (s: FlashCrowdLine) => [number, number, string]): Promise<FlashCrowdLine | undefined> {
  const ws = subscriptionClient(args, 3)
  let last: FlashCrowdLine | undefined
  try {
    await new Promise<void>((resolvePromise, reject) => {
      const stop = ws.subscribe<{ flashCrowd: FlashCrowdLine }>({ query: FOLLOW, variables: { release } }, {
        next: (r) => {
          const s = r.data?.flashCrowd
          if (s == null) return
          last = s
          const [d, t, text] = describe(s)
          bar.update(d, t, text)
          if (done(s)) { stop(); resolvePromise() }
        },
        error: (e) => { reject(e instanceof Error ? e : new PeerProtocolError(`flash crowd progress from ${args.peer} failed: ${JSON.stringify(e)}`)) },
        complete: () => { resolvePromise() }
      })
    })
  } finally {
    bar.done()
    await ws.dispose()
  }
  return last
}

export async function runFlashCrowd (args: PeerArgs & { release: string, windowSeconds?: number, maxTorrents?: number, wasteBudget?: number, expectedPeers?: number, detach?: boolean }): Promise<number> {
  const client = new PeerClient({ url: args.peer, token: args.token })
  const started = (await client.request<{ startFlashCrowd: { flashCrowd: FlashCrowdLine } | null }>(START, {
    release: args.release, window: args.windowSeconds ?? null, k: args.maxTorrents ?? null, waste: args.wasteBudget ?? null, expect: args.expectedPeers ?? null
  })).startFlashCrowd?.flashCrowd
  if (started === undefined) throw new PeerProtocolError(`the peer at ${args.peer} opened no flash crowd`)
  if (args.detach === true) { process.stdout.write(JSON.stringify(started) + '\n'); return 0 }
  const bar = new ProgressBar({ label: `flash crowd ${args.release}`, interval: 200 })
  const last = await follow(args, args.release, bar, (s) => s.state === 'ANNOUNCED' || s.state === 'FAILED', (s) => {
    const seeded = s.clusters.filter((c) => (c as { infoHash?: string | null }).infoHash != null).length
    if (s.state === 'COLLECTING') return [s.wishLists, s.expectedPeers ?? Math.max(1, s.wishLists), `${s.wishLists} wish lists${s.expectedPeers !== null ? ` of ${s.expectedPeers}` : ''}, window closes ${String(s.closesAt ?? '')}`]
    return [seeded, Math.max(1, s.clusters.length), `${s.state.toLowerCase()}: ${seeded}/${s.clusters.length} cluster torrents seeded, waste ${Number(s.wastePercent ?? 0).toFixed(2)}%`]
  })
  const end = last ?? started
  process.stdout.write(JSON.stringify(end) + '\n')
  if (end.state === 'FAILED') process.stderr.write(`edos: flash crowd ${args.release} failed: ${end.error ?? ''}\n`)
  return end.state === 'FAILED' ? 1 : 0
}

export async function runWish (args: PeerArgs & { release: string, pattern?: string, detach?: boolean }): Promise<number> {
  const client = new PeerClient({ url: args.peer, token: args.token })
  const wish = (await client.request<{ submitWishList: { wishList: { state: string, units: string[], bytes: number } } | null }>(WISH, { release: args.release, pattern: args.pattern ?? null })).submitWishList?.wishList
  if (wish === undefined) throw new PeerProtocolError(`the peer at ${args.peer} sent no wish list`)
  process.stdout.write(JSON.stringify(wish) + '\n')
  // Recorded only (an embedded peer or the publisher): nothing will be downloaded.
  if (args.detach === true || wish.state === 'RECORDED' || wish.units.length === 0) return 0
  const bar = new ProgressBar({ label: `wish ${args.release}`, interval: 200 })
  const last = await follow(args, args.release, bar, (s) => s.state === 'COMPLETED' || s.state === 'FAILED', (s) => {
    const done = s.clusters.filter((c) => c.state === 'DONE').length
    const text = s.state === 'COLLECTING'
      ? 'waiting for the clusters'
      : `${mb(s.bytesDone)}/${mb(s.bytesTotal)} MB, ${done}/${s.clusters.length} clusters, ${s.peers} peers, ${mb(s.rate)} MB/s`
    return [s.bytesDone, Math.max(1, s.bytesTotal), text]
  })
  if (last === undefined) throw new PeerProtocolError(`the peer at ${args.peer} reported no flash crowd for ${args.release}`)
  process.stdout.write(JSON.stringify(last) + '\n')
  if (last.state === 'FAILED') process.stderr.write(`edos: flash crowd ${args.release} failed: ${last.error ?? ''}\n`)
  return last.state === 'COMPLETED' ? 0 : 1
}

export async function runContentAdd (args: PeerArgs & { paths: string[], byPath?: boolean }): Promise<number> {
  const client = new PeerClient({ url: args.peer, token: args.token, timeoutMs: 600_000 })
  for (const p of args.paths) if (await stat(p).catch(() => undefined) === undefined) throw new ImportError(`cannot read '${p}'`)
  let result: { addContent: { stored: number, unmatched: string[] } | null }
  if (args.byPath === true) {
    result = await client.request(ADD, { paths: args.paths.map((p) => resolve(p)) })
  } else {
    const files = (await Promise.all(args.paths.map(filesUnder))).flat()
    const uploads: UploadFile[] = files.map((path, i) => ({ variable: `files.${i}`, path }))
    const bar = new ProgressBar({ label: 'upload content' })
    try {
      result = await client.upload(ADD, { files: files.map(() => null) }, uploads, (p) => { bar.update(p.sent, p.total, `${mb(p.sent)}/${mb(p.total)} MB`) })
    } finally {
      bar.done()
    }
  }
  const r = result.addContent
  if (r == null) throw new PeerProtocolError(`the peer at ${args.peer} gave no answer to addContent`)
  for (const u of r.unmatched) process.stderr.write(`edos: no unit names the content file ${u} (not stored)\n`)
  process.stdout.write(JSON.stringify(r) + '\n')
  return 0
}
