/// <reference lib="dom" />
/**
 * Flash-crowd view. The publisher opens a collection window (release,
 * window, K) and watches it live: wish lists arriving, the clusters with
 * their sizes, waste, torrents and upload, each peer's progress (from its
 * BitTorrent HAVE messages) and the cluster map. A mirror or
 * client sends its wish list (a release, optionally narrowed by a pattern)
 * and watches its cluster downloads. Both sides follow the peer's
 * `flashCrowd(release)` subscription; a window the publisher opens is heard
 * on the `releases` channel and offered in the wish-list form.
 */
import { gql, subscribe } from './gql.ts'
import { h, fill, byId, progressBar, status } from './dom.ts'
import { formatBytes } from './throughput.ts'
import { clusterMap, type MapCluster } from './cluster-map.ts'
import { explain, loadChannels } from './publisher.ts'

interface Cluster extends MapCluster {
  pieceLength: number
  uploaded: number | null
  selected: number | null
  bytesDone: number | null
  bytesTotal: number | null
  peers: number | null
  rate: number | null
  state: string | null
  wasteMeasured: number | null
}
/** bytesDone: how much of its wish list the peer holds, as the publisher sees it; null until it joins a cluster torrent. */
interface Requester { peer: string, units: number, bytes: number, late: boolean, bytesDone: number | null }
export interface FlashCrowd {
  release: string
  side: 'PUBLISHER' | 'PEER'
  state: string
  startedAt: string
  closesAt: string | null
  wishLists: number
  expectedPeers: number | null
  requesters: Requester[]
  clusters: Cluster[]
  maxTorrents: number | null
  exactClusters: number | null
  wantedBytes: number | null
  wasteBytes: number | null
  wastePercent: number | null
  wasteWithoutSelection: number | null
  clusteringMs: number | null
  uploaded: number | null
  uncovered: number
  wishList: { units: number, bytes: number, held: number, heldBytes: number } | null
  bytesDone: number
  bytesTotal: number
  received: number
  wasteMeasured: number
  peers: number
  rate: number
  error: string | null
}

const FIELDS = `release side state startedAt closesAt wishLists expectedPeers maxTorrents exactClusters wantedBytes wasteBytes wastePercent wasteWithoutSelection
  clusteringMs uploaded uncovered bytesDone bytesTotal received wasteMeasured peers rate error
  wishList { units bytes held heldBytes } requesters { peer units bytes late bytesDone }
  clusters { id infoHash units bytes pieceLength requesters waste uploaded selected bytesDone bytesTotal peers rate state wasteMeasured }`

/** Followed releases: their last status and how to stop following. */
const followed = new Map<string, { last?: FlashCrowd, stop: () => void, timer?: ReturnType<typeof setTimeout> }>()
/** Windows announced on `releases`, per release: when they close (ISO), or 'clusters' once announced. */
const announced = new Map<string, string>()
let role = 'CLIENT'
let listening: (() => void) | undefined

const n = (x: number): string => x.toLocaleString('en')
const kv = (pairs: Array<[string, string | number | Node | null]>): HTMLElement =>
  h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== null).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'number' ? n(v) : v)]))
const time = (iso: string | null): string => iso === null ? '' : new Date(iso).toLocaleTimeString('en-GB')

/** Follows a release's flash crowd on this peer (once per release); each change redraws it, at most every 250 ms. */
export function follow (release: string): void {
  if (followed.has(release)) return
  const entry: { last?: FlashCrowd, stop: () => void, timer?: ReturnType<typeof setTimeout> } = { stop: () => {} }
  followed.set(release, entry)
  entry.stop = subscribe<{ flashCrowd: FlashCrowd }>(`subscription ConsoleFlashCrowd($release: String!) { flashCrowd(release: $release) { ${FIELDS} } }`, { release }, {
    next: ({ flashCrowd }) => {
      entry.last = flashCrowd
      entry.timer ??= setTimeout(() => { entry.timer = undefined; render(release) }, 250)
    },
    error: (err) => { followed.delete(release); status(byId('fc-list-status'), `Following the flash crowd of ${release} failed: ${explain(err)}`, 'error') }
  })
}

function article (release: string): HTMLElement {
  const list = byId('fc-list')
  let el = list.querySelector<HTMLElement>(`article[data-release="${CSS.escape(release)}"]`)
  if (el === null) {
    el = h('article', { class: 'fc', 'data-release': release, 'aria-labelledby': `fc-h-${release}` })
    list.prepend(el)
    list.querySelector('.fc-empty')?.remove()
  }
  return el
}

function render (release: string): void {
  const s = followed.get(release)?.last
  if (s === undefined) return
  const el = article(release)
  el.dataset.side = s.side
  el.dataset.state = s.state
  // A redraw replaces the elements: whoever was on a cluster block or the close button is put back on its successor.
  const focused = document.activeElement
  const again = focused === null || !el.contains(focused) ? undefined : focusKey(focused)
  const heading = h('h4', { id: `fc-h-${release}` }, `${release}: `, h('span', { class: `state fc-state-${s.state}` }, s.state.toLowerCase()), ` (${s.side === 'PUBLISHER' ? 'publisher' : 'this peer'})`)
  fill(el, heading, s.side === 'PUBLISHER' ? publisherSide(s) : peerSide(s), s.error === null ? null : h('p', { class: 'status error', role: 'alert' }, `Failed: ${s.error}`))
  if (again !== undefined) el.querySelector<HTMLElement | SVGElement>(again)?.focus()
}

/** A selector for the focusable element's counterpart after a redraw. */
function focusKey (e: Element): string | undefined {
  const cluster = e.getAttribute('data-cluster')
  if (e.classList.contains('cluster-block') && cluster !== null) return `g.cluster-block[data-cluster="${CSS.escape(cluster)}"]`
  if (e.classList.contains('fc-close')) return '.fc-close'
  return undefined
}

function publisherSide (s: FlashCrowd): Node[] {
  const seeded = s.clusters.filter((c) => c.infoHash != null).length
  const parts: Node[] = [kv([
    ['Window', s.state === 'COLLECTING' ? `open until ${time(s.closesAt)}` : `opened ${time(s.startedAt)}, closed`],
    ['Wish lists', `${n(s.wishLists)}${s.expectedPeers === null ? '' : ` of ${n(s.expectedPeers)} expected`}${s.requesters.some((r) => r.late) ? ` (+${s.requesters.filter((r) => r.late).length} late)` : ''}`],
    ['Requester sets', s.exactClusters],
    ['Peers done', s.requesters.some((r) => r.bytesDone !== null) ? `${n(s.requesters.filter(finished).length)} of ${n(s.requesters.length)}` : null],
    ['Torrents', s.clusters.length === 0 ? null : `${n(s.clusters.length)} (K = ${s.maxTorrents ?? '?'}), ${n(seeded)} seeded`],
    ['Wanted', s.wantedBytes === null ? null : formatBytes(s.wantedBytes)],
    ['Waste', s.wasteBytes === null ? null : `${formatBytes(s.wasteBytes)} (${(s.wastePercent ?? 0).toFixed(2)}% of wanted; ${formatBytes(s.wasteWithoutSelection ?? 0)} without per-file selection)`],
    ['Clustering', s.clusteringMs === null ? null : `${n(s.clusteringMs)} ms`],
    ['Uploaded', s.uploaded === null ? null : formatBytes(s.uploaded)],
    ['Not covered', s.uncovered === 0 ? null : `${n(s.uncovered)} units (no content here: fetched one by one)`]
  ])]
  if (s.state === 'COLLECTING') {
    parts.push(h('button', { type: 'button', class: 'fc-close', onclick: () => { void closeWindow(s.release) } }, `Close the window of ${s.release} now`))
  }
  parts.push(h('table', { class: 'data fc-requesters' },
    h('caption', {}, `Wish lists received (${s.requesters.length}) and each peer's progress`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Peer'), h('th', { scope: 'col', class: 'num' }, 'Units'), h('th', { scope: 'col', class: 'num' }, 'Wish list'), h('th', { scope: 'col' }, 'Progress'), h('th', { scope: 'col' }, 'Late'))),
    h('tbody', {}, s.requesters.length === 0
      ? h('tr', {}, h('td', { colspan: 5 }, 'None yet: peers send theirs when they hear the window open.'))
      : s.requesters.map(requesterRow))))
  if (s.clusters.length > 0) {
    parts.push(mapFigure(s))
    parts.push(h('table', { class: 'data fc-clusters' },
      h('caption', {}, 'Cluster torrents'),
      h('thead', {}, h('tr', {}, ...['Cluster', 'Torrent (infohash)', 'Units', 'Bytes', 'Requesters', 'Waste', 'Uploaded'].map((t, i) => h('th', { scope: 'col', class: i >= 2 ? 'num' : null }, t)))),
      h('tbody', {}, s.clusters.map((c) => h('tr', { 'data-cluster': c.id },
        h('td', {}, c.id), h('td', { class: 'mono' }, c.infoHash ?? 'seeding…'), h('td', { class: 'num' }, n(c.units)), h('td', { class: 'num' }, formatBytes(c.bytes)),
        h('td', { class: 'num' }, n(c.requesters)), h('td', { class: 'num' }, formatBytes(c.waste)), h('td', { class: 'num' }, c.uploaded === null ? '' : formatBytes(c.uploaded)))))))
  }
  return parts
}

/** A peer id cut to its ends: the table stays narrow, the title keeps the whole id. */
const shortPeer = (id: string): string => id.length <= 20 ? id : `${id.slice(0, 8)}…${id.slice(-6)}`
const finished = (r: Requester): boolean => r.bytesDone !== null && r.bytesDone >= r.bytes

function requesterRow (r: Requester): HTMLElement {
  const who = shortPeer(r.peer)
  // An empty wish list (everything held already) is done as soon as the peer takes part.
  const progress = r.bytesDone === null
    ? h('span', { class: 'fc-waiting' }, 'waiting')
    : [progressBar(`Progress of peer ${who}`, r.bytes === 0 ? 1 : r.bytesDone, r.bytes === 0 ? 1 : r.bytes), h('small', {}, `${formatBytes(r.bytesDone)} of ${formatBytes(r.bytes)}`)]
  return h('tr', { 'data-peer': r.peer, 'data-late': r.late, class: finished(r) ? 'fc-done' : null },
    h('td', { class: 'mono', title: r.peer }, who), h('td', { class: 'num' }, n(r.units)), h('td', { class: 'num' }, formatBytes(r.bytes)),
    h('td', { class: 'fc-progress' }, progress),
    h('td', {}, r.late ? h('span', { class: 'fc-late', title: 'Sent after the window closed: joins the existing clusters' }, 'late') : ''))
}

const MAP_W = 600
const MAP_H = 220
const SVG = 'http://www.w3.org/2000/svg'

function svg (tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v))
  if (text !== undefined) e.textContent = text
  return e
}

/** The cluster map: each block a cluster, reachable by keyboard (Tab) with its description as accessible name. */
function mapFigure (s: FlashCrowd): HTMLElement {
  const blocks = clusterMap(s.clusters, MAP_W, MAP_H)
  const id = `fc-map-${s.release}`
  const map = svg('svg', { class: 'cluster-map', viewBox: `0 0 ${MAP_W} ${MAP_H}`, role: 'group', 'aria-labelledby': `${id}-cap` })
  for (const b of blocks) {
    const g = svg('g', { class: 'cluster-block', tabindex: 0, role: 'img', 'aria-label': b.label, 'data-cluster': b.id })
    g.append(svg('title', {}, b.label),
      svg('rect', { x: b.x, y: b.y, width: b.w, height: b.h, fill: b.fill, class: 'block' }))
    if (b.wasteBand > 0) g.append(svg('rect', { x: b.x, y: b.y, width: b.w, height: Math.max(1, b.wasteBand), class: 'waste' }))
    if (b.text !== '') g.append(svg('text', { x: b.x + 4, y: b.y + 16, fill: b.textFill }, b.text))
    map.append(g)
  }
  return h('figure', { class: 'fc-map', id },
    map,
    h('figcaption', { id: `${id}-cap` }, `Cluster map of ${s.release}: ${blocks.length} torrent${blocks.length === 1 ? '' : 's'}, area by bytes, darker when more peers want it, red band: bytes received unwanted. Tab through the blocks for each one's figures.`))
}

function peerSide (s: FlashCrowd): Node[] {
  const w = s.wishList
  const parts: Node[] = [kv([
    ['Wish list', w === null ? null : `${n(w.units)} units, ${formatBytes(w.bytes)}`],
    ['Held already', w === null ? null : `${n(w.held)} identical units, ${formatBytes(w.heldBytes)} (not fetched)`],
    ['Received', `${formatBytes(s.received)}${s.rate > 0 ? `, ${formatBytes(s.rate)}/s` : ''}${s.peers > 0 ? ` from ${n(s.peers)} peer${s.peers === 1 ? '' : 's'}` : ''}`],
    ['Waste measured', formatBytes(s.wasteMeasured)],
    ['Not covered', s.uncovered === 0 ? null : `${n(s.uncovered)} units (fetched one by one)`]
  ])]
  parts.push(h('div', { class: 'fc-total' }, progressBar(`Flash crowd ${s.release} on this peer`, s.bytesDone, s.bytesTotal),
    h('small', {}, `${formatBytes(s.bytesDone)} of ${formatBytes(s.bytesTotal)}`)))
  if (s.clusters.length === 0) {
    parts.push(h('p', {}, s.state === 'COLLECTING' ? 'Wish list sent: waiting for the publisher to announce the clusters.' : 'No cluster covers this peer\'s wish list.'))
    return parts
  }
  parts.push(h('ul', { class: 'fc-cluster-progress', 'aria-label': `Clusters of ${s.release} this peer downloads` }, s.clusters.map((c) => h('li', { 'data-cluster': c.id, 'data-state': c.state ?? '' },
    h('div', {}, h('strong', {}, c.id), ` ${n(c.selected ?? 0)} of ${n(c.units)} units selected, `, h('span', { class: `state fc-state-${c.state ?? ''}` }, (c.state ?? 'waiting').toLowerCase()),
      c.peers === null || c.peers === 0 ? '' : `, ${n(c.peers)} peer${c.peers === 1 ? '' : 's'}`),
    progressBar(`Cluster ${c.id}`, c.bytesDone ?? 0, c.bytesTotal ?? 0),
    h('small', {}, `${formatBytes(c.bytesDone ?? 0)} of ${formatBytes(c.bytesTotal ?? 0)}${c.infoHash == null ? '' : `, torrent ${c.infoHash}`}`)))))
  return parts
}

async function closeWindow (release: string): Promise<void> {
  try {
    await gql(`mutation ConsoleCloseFlashCrowd($release: String!) { closeFlashCrowd(release: $release) { flashCrowd { state } } }`, { release })
  } catch (err) {
    status(byId('fc-list-status'), `Closing the window of ${release} failed: ${explain(err)}`, 'error')
  }
}

const numberOf = (data: FormData, key: string): number | null => {
  const v = String(data.get(key) ?? '').trim()
  return v === '' ? null : Number(v)
}

/** A form whose submit runs `act`; a failure is shown in its status line after `failure`. */
function wireForm (formId: string, statusId: string, failure: string, act: (data: FormData, out: HTMLElement) => Promise<void>): void {
  const form = byId<HTMLFormElement>(formId)
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const out = byId(statusId)
    act(new FormData(form), out).catch((err: unknown) => { status(out, `${failure}: ${explain(err)}`, 'error') })
  })
}

async function start (d: FormData, out: HTMLElement): Promise<void> {
  const release = String(d.get('release') ?? '')
  status(out, `Opening the window of ${release}…`)
  const { startFlashCrowd: { flashCrowd: s } } = await gql<{ startFlashCrowd: { flashCrowd: FlashCrowd } }>(
    'mutation ConsoleStartFlashCrowd($release: String!, $window: Float, $k: Int, $waste: Float, $expect: Int) { startFlashCrowd(release: $release, windowSeconds: $window, maxTorrents: $k, wasteBudget: $waste, expectedPeers: $expect) { flashCrowd { release state closesAt } } }',
    { release, window: numberOf(d, 'window'), k: numberOf(d, 'k'), waste: numberOf(d, 'waste'), expect: numberOf(d, 'expect') })
  status(out, `The window of ${s.release} is open until ${time(s.closesAt)}: wish lists are arriving below.`, 'ok')
  follow(s.release)
}

async function wish (d: FormData, out: HTMLElement): Promise<void> {
  const release = String(d.get('release') ?? '')
  const pattern = String(d.get('pattern') ?? '').trim()
  status(out, `Computing and sending the wish list for ${release}…`)
  const { submitWishList: { wishList: w } } = await gql<{ submitWishList: { wishList: { units: string[], bytes: number, state: string } } }>(
    'mutation ConsoleWish($release: String!, $pattern: String) { submitWishList(release: $release, pattern: $pattern) { wishList { units bytes state } } }',
    { release, pattern: pattern === '' ? null : pattern })
  status(out, `Wish list sent (${w.state.toLowerCase()}): ${n(w.units.length)} units, ${formatBytes(w.bytes)}. Progress below.`, 'ok')
  follow(release)
}

/** Both forms offer the releases this peer knows, the ones with an open window first. */
async function refreshReleaseChoices (): Promise<void> {
  const { releases } = await gql<{ releases: Array<{ name: string, units: number }> | null }>('query ConsoleFlashReleases { releases { name units } }').catch(() => ({ releases: null }))
  const names = (releases ?? []).map((r) => r.name)
  const open = (r: string): boolean => announced.has(r) && announced.get(r) !== 'clusters'
  names.sort((a, b) => Number(open(b)) - Number(open(a)))
  for (const id of ['fc-release', 'fc-wish-release']) {
    const select = byId<HTMLSelectElement>(id)
    const before = select.value
    fill(select, names.map((r) => h('option', { value: r }, open(r) ? `${r} (window open)` : r)))
    select.value = names.includes(before) && !open(names[0] ?? '') ? before : (names[0] ?? '')
  }
  fill(byId('fc-open'), announced.size === 0
    ? 'No flash crowd that this peer heard of.'
    : [...announced].map(([r, v]) => v === 'clusters'
        ? h('span', { class: 'fc-announced', 'data-release': r }, `The clusters of ${r} are announced: a wish list sent now joins them.`)
        : h('span', { class: 'fc-window', 'data-release': r }, `The publisher opened a flash crowd of ${r}: send a wish list before ${time(v)}.`)))
}

/** Hears windows opening and clusters announced on the `releases` channel (the last few notifications, then live ones). */
async function listenForWindows (): Promise<void> {
  if (listening !== undefined) return
  const releasesChannel = (await loadChannels().catch(() => [])).find((c) => c.name === 'releases')
  if (releasesChannel === undefined) return
  listening = subscribe<{ channel: { flashCrowd: { phase: string, release: string, closesAt: string | null } | null } }>(
    'subscription ConsoleReleasesChannel($since: Int) { channel(name: "releases", since: $since) { seq flashCrowd { phase release closesAt } } }',
    { since: Math.max(0, releasesChannel.lastSeq - 20) },
    {
      next: ({ channel }) => {
        const a = channel.flashCrowd
        if (a === null) return
        announced.set(a.release, a.phase === 'open' ? (a.closesAt ?? '') : 'clusters')
        void refreshReleaseChoices()
      },
      error: () => { listening = undefined }
    })
}

export function initFlashCrowd (): void {
  wireForm('fc-start-form', 'fc-start-status', 'Opening the window failed', start)
  wireForm('fc-wish-form', 'fc-wish-status', 'The wish list was not sent', wish)
}

/** Shows the view for a peer of this role: the publisher starts and watches; others send wish lists and watch their downloads. */
export async function showFlashCrowd (peerRole: string): Promise<void> {
  role = peerRole
  byId('fc-start-card').hidden = role !== 'PUBLISHER'
  byId('fc-wish-card').hidden = role === 'PUBLISHER'
  if (role !== 'PUBLISHER') void listenForWindows()
  await refreshReleaseChoices()
  try {
    const { flashCrowds } = await gql<{ flashCrowds: Array<{ release: string }> }>('query ConsoleFlashCrowds { flashCrowds { release } }')
    for (const f of flashCrowds) follow(f.release)
    if (flashCrowds.length === 0 && followed.size === 0) fill(byId('fc-list'), h('p', { class: 'fc-empty' }, role === 'PUBLISHER' ? 'No flash crowd yet: open a window above.' : 'This peer takes part in no flash crowd yet: send a wish list above.'))
  } catch (err) {
    status(byId('fc-list-status'), `Flash crowds could not be read: ${explain(err)}`, 'error')
  }
}
