/**
 * `edos download --peer URL ID|PATTERN...`: starts a download on the running
 * peer (units by document id, or the packages a tree pattern selects),
 * follows its progress over graphql-ws with a bar on a terminal (bytes,
 * peers, rate, ETA), and prints one JSON line with the final record. A
 * failed or cancelled download exits 1; Ctrl-C cancels it on the peer.
 */
import { PeerClient, subscriptionClient } from './peer-client.ts'
import { PeerProtocolError, UsageError } from './errors.ts'
import { ProgressBar } from './progress.ts'
import type { PeerArgs } from './peer-commands.ts'

const FIELDS = 'downloadId state units bytesTotal bytesDone bytesReceived unitsDone peers rate etaSeconds error startedAt completedAt'

const START = `mutation EdosDownload($units: [String!], $pattern: String) {
  download(units: $units, pattern: $pattern) { download { ${FIELDS} } }
}`
const CANCEL = `mutation EdosCancel($id: ID!) { cancelDownload(id: $id) { download { ${FIELDS} } } }`
const PROGRESS = `subscription EdosDownloadProgress($id: ID!) { downloadProgress(id: $id) { ${FIELDS} } }`

export interface DownloadLine {
  downloadId: string
  state: 'QUEUED' | 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED'
  units: string[]
  bytesTotal: number
  bytesDone: number
  bytesReceived: number
  unitsDone: number
  peers: number
  rate: number
  etaSeconds: number | null
  error: string | null
  startedAt: string
  completedAt: string | null
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED'])
const mb = (n: number): string => (n / 1e6).toFixed(n < 1e7 ? 2 : 1)

/** Document ids look like `pkg/...` or `util/...`; anything else is a tree pattern. */
export function downloadInput (targets: string[]): { units: string[] } | { pattern: string } {
  if (targets.length === 0) throw new UsageError('edos download needs unit ids (pkg/NAME/VERSION/ARCH, util/NAME/VERSION) or one PATTERN')
  const ids = targets.filter((t) => /^(pkg|util)\//.test(t))
  if (ids.length === targets.length) return { units: ids }
  if (targets.length > 1) throw new UsageError('edos download takes unit ids, or exactly one PATTERN')
  return { pattern: targets[0] }
}

export async function runPeerDownload (args: PeerArgs & { targets: string[], detach?: boolean }): Promise<number> {
  const input = downloadInput(args.targets)
  const client = new PeerClient({ url: args.peer, token: args.token })
  const started = (await client.request<{ download: { download: DownloadLine } | null }>(START, 'units' in input ? { units: input.units } : { pattern: input.pattern })).download?.download
  if (started === undefined) throw new PeerProtocolError(`the peer at ${args.peer} started no download`)
  if (args.detach === true) { process.stdout.write(JSON.stringify(started) + '\n'); return 0 }
  const bar = new ProgressBar({ label: `download ${started.units.length} unit${started.units.length === 1 ? '' : 's'}`, interval: 200 })
  const ws = subscriptionClient(args, 3)
  let last: DownloadLine = started
  const onSigint = (): void => { void client.request(CANCEL, { id: started.downloadId }).catch(() => {}) }
  process.once('SIGINT', onSigint)
  try {
    await new Promise<void>((resolve, reject) => {
      const stop = ws.subscribe<{ downloadProgress: DownloadLine }>({ query: PROGRESS, variables: { id: started.downloadId } }, {
        next: (r) => {
          const d = r.data?.downloadProgress
          if (d == null) return
          last = d
          const eta = d.etaSeconds === null ? '' : `, ETA ${Math.ceil(d.etaSeconds)} s`
          bar.update(d.bytesDone, d.bytesTotal, `${mb(d.bytesDone)}/${mb(d.bytesTotal)} MB, ${d.unitsDone}/${d.units.length} units, ${d.peers} peers, ${mb(d.rate)} MB/s${eta}`)
          if (TERMINAL.has(d.state)) { stop(); resolve() }
        },
        error: (e) => { reject(e instanceof Error ? e : new PeerProtocolError(`download progress from ${args.peer} failed: ${JSON.stringify(e)}`)) },
        complete: () => { resolve() }
      })
    })
  } finally {
    process.off('SIGINT', onSigint)
    bar.done()
    await ws.dispose()
  }
  process.stdout.write(JSON.stringify(last) + '\n')
  if (last.state !== 'COMPLETED') process.stderr.write(`edos: download ${last.downloadId} ${last.state.toLowerCase()}${last.error !== null ? `: ${last.error}` : ''}\n`)
  return last.state === 'COMPLETED' ? 0 : 1
}
