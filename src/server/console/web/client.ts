/// <reference lib="dom" />
/**
 * Client/Mirror view: the query form (pattern errors shown where they are),
 * the structured form that writes patterns, paged results to select and
 * download, live download progress and throughput, channel subscriptions
 * with their notification feed, and what this peer holds and who it knows.
 */
import { gql, subscribe, GqlError } from './gql.ts'
import { h, fill, byId, progressBar, status } from './dom.ts'
import { buildPattern, caretAt, headline, PatternFormError, type PatternForm, type PatternSelect } from './pattern.ts'
import { Throughput, polylinePoints, formatBytes } from './throughput.ts'
import { loadNetwork, renderNetwork } from './network.ts'
import { loadChannels, explain } from './publisher.ts'

interface Match { doc: string, path: string, xml: string }
interface SearchPage { totalCount: number, pageInfo: { hasNextPage: boolean, endCursor: string | null }, edges: Array<{ cursor: string, node: Match }> }
export interface Download { downloadId: string, state: string, units: string[], bytesTotal: number, bytesDone: number, error: string | null, startedAt: string }
interface Notification { channel: string, seq: number, release: string, date: string, added: Unit[], updated: Unit[], removed: Unit[] }
interface Unit { doc: string, name: string, version: string }

const SEARCH = `query ConsoleSearch($pattern: String!, $first: Int, $after: String) {
  search(pattern: $pattern, first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { doc path xml } } }
}`
const DOWNLOAD_FIELDS = 'downloadId state units bytesTotal bytesDone error startedAt'

/** The running search: its pattern, page size and the `after` cursor of each page seen (page 0: none). */
let current: { pattern: string, first: number, afters: Array<string | null>, page: number } | undefined
const selected = new Set<string>()
const downloads = new Map<string, Download>()
const following = new Set<string>()
const throughput = new Throughput()
const channelStops = new Map<string, () => void>()

function showPatternError (pattern: string, err: GqlError): void {
  const box = byId('pattern-error')
  const area = byId<HTMLTextAreaElement>('pattern')
  const ext = err.errors[0]?.extensions ?? {}
  area.setAttribute('aria-invalid', 'true')
  if (typeof ext.position === 'number') {
    const c = caretAt(pattern, ext.position)
    fill(box, h('div', { class: 'pattern-error', role: 'alert', 'data-position': ext.position },
      h('strong', {}, `Syntax error at line ${c.line}, column ${c.column} (position ${ext.position})`),
      typeof ext.expected === 'string' ? h('div', {}, `Expected ${ext.expected}.`) : null,
      h('div', {}, headline(err.errors[0].message)),
      h('pre', {}, c.before, h('mark', { title: `position ${ext.position}` }, c.at), c.after)))
    // Put the cursor where the error is, so the person can type the fix at once.
    area.focus()
    area.setSelectionRange(Math.min(ext.position, pattern.length), Math.min(ext.position + 1, pattern.length))
  } else {
    fill(box, h('div', { class: 'pattern-error', role: 'alert' }, err.message))
  }
}

function clearPatternError (): void {
  fill(byId('pattern-error'))
  byId('pattern').removeAttribute('aria-invalid')
}

async function runSearch (pattern: string, first: number, page: number, afters: Array<string | null>): Promise<void> {
  const results = byId('results')
  const busy = byId('search-status')
  clearPatternError()
  status(busy, 'Searching…')
  results.setAttribute('aria-busy', 'true')
  try {
    const { search } = await gql<{ search: SearchPage }>(SEARCH, { pattern, first, after: afters[page] })
    current = { pattern, first, afters, page }
    if (search.pageInfo.hasNextPage && afters.length === page + 1) afters.push(search.pageInfo.endCursor)
    renderResults(search)
    fill(busy)
  } catch (err) {
    fill(busy)
    // Answers of the previous pattern stay: fixing a typo should not lose them.
    if (err instanceof GqlError && err.code === 'BAD_USER_INPUT') { showPatternError(pattern, err); renderCurrentNote() }
    else status(busy, `Search failed: ${explain(err)}`, 'error')
  } finally {
    results.removeAttribute('aria-busy')
  }
}

function renderCurrentNote (): void {
  const count = document.getElementById('result-count')
  if (current !== undefined && count !== null && !count.textContent?.includes('previous pattern')) count.append(' (of the previous pattern, below)')
}

const downloadable = (doc: string): boolean => doc.startsWith('pkg/') || doc.startsWith('util/')

function renderResults (page: SearchPage): void {
  const c = current
  if (c === undefined) return
  const from = c.page * c.first + 1
  const to = c.page * c.first + page.edges.length
  const dlButton = h('button', { type: 'button', id: 'download-selected', disabled: selected.size === 0, onclick: () => { void downloadSelected() } }, `Download selected (${selected.size})`)
  const onToggle = (doc: string) => (e: Event): void => {
    if ((e.target as HTMLInputElement).checked) selected.add(doc); else selected.delete(doc)
    dlButton.textContent = `Download selected (${selected.size})`
    dlButton.disabled = selected.size === 0
  }
  fill(byId('results'),
    h('p', { role: 'status', id: 'result-count' }, page.totalCount === 0 ? 'No answer.' : `Answers ${from}–${to} of ${page.totalCount.toLocaleString('en')}`),
    page.edges.length === 0 ? null : h('table', { class: 'data', id: 'result-table' },
      h('caption', {}, h('code', {}, c.pattern)),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Select'), h('th', { scope: 'col' }, 'Document'), h('th', { scope: 'col' }, 'Path'), h('th', { scope: 'col' }, 'Answer'))),
      h('tbody', {}, page.edges.map(({ node }) => h('tr', {},
        h('td', {}, downloadable(node.doc) ? h('input', { type: 'checkbox', checked: selected.has(node.doc), 'aria-label': `Select ${node.doc}`, onchange: onToggle(node.doc) }) : ''),
        h('td', { class: 'mono' }, documentDetails(node.doc)), h('td', { class: 'mono' }, node.path), h('td', {}, h('code', { class: 'xml' }, node.xml)))))),
    h('div', { class: 'pager' },
      h('button', { type: 'button', disabled: c.page === 0, onclick: () => { void runSearch(c.pattern, c.first, c.page - 1, c.afters) } }, 'Previous page'),
      h('button', { type: 'button', disabled: !page.pageInfo.hasNextPage, onclick: () => { void runSearch(c.pattern, c.first, c.page + 1, c.afters) } }, 'Next page'),
      dlButton))
}

interface RelationClause { alternatives: Array<{ name: string, op: string | null, version: string | null }> }
interface PackageDoc { __typename: 'Package', name: string, version: string, arch: string, summary: string | null, description: string | null, section: string | null, priority: string | null, size: number | null, homepage: string | null, maintainer: string | null, depends: RelationClause[] }
interface OtherDoc { __typename: 'Utility' | 'Release', name: string, version: string }

const DOCUMENT = `query ConsoleDocument($doc: String!) { document(doc: $doc) {
  __typename
  ... on Package { name version arch summary description section priority size homepage maintainer depends { alternatives { name op version } } }
  ... on Utility { name version }
  ... on Release { name version }
} }`

const clause = (c: RelationClause): string => c.alternatives.map((a) => a.op === null ? a.name : `${a.name} (${a.op} ${a.version ?? ''})`).join(' | ')

/** A document id that opens to the package's metadata, read from the peer on first open. */
function documentDetails (doc: string): HTMLElement {
  const d = h('details', { class: 'doc' }, h('summary', {}, doc))
  let loaded = false
  d.addEventListener('toggle', () => {
    if (loaded || !d.open) return
    loaded = true
    const body = h('div', { role: 'status' }, 'Reading…')
    d.appendChild(body)
    gql<{ document: PackageDoc | OtherDoc | null }>(DOCUMENT, { doc }).then(({ document: x }) => {
      if (x === null) { fill(body, 'This peer does not hold that document.'); return }
      if (x.__typename !== 'Package') { fill(body, `${x.__typename} ${x.name} ${x.version}`); return }
      const p = x
      fill(body, h('dl', { class: 'kv' },
        [['Summary', p.summary], ['Section', p.section], ['Priority', p.priority], ['Size', p.size === null ? null : formatBytes(p.size)], ['Maintainer', p.maintainer], ['Homepage', p.homepage],
          ['Depends', p.depends.length === 0 ? null : p.depends.map(clause).join(', ')]]
          .filter(([, v]) => v !== null && v !== undefined)
          .flatMap(([k, v]) => [h('dt', {}, String(k)), h('dd', {}, String(v))])),
      p.description === null ? null : h('p', { class: 'description' }, p.description))
      body.removeAttribute('role')
    }).catch((err: unknown) => { loaded = false; status(body, `Could not read ${doc}: ${explain(err)}`, 'error') })
  })
  return d
}

async function runExplain (pattern: string): Promise<void> {
  const out = byId('explain')
  clearPatternError()
  try {
    const { explain: plan } = await gql<{ explain: { strategy: string, reason: string | null, terms: Array<{ term: string, postings: number, docs: number }>, candidateDocs: number | null, verifiedDocs: number, answers: number, ms: { total: number } } }>(
      'query ConsoleExplain($pattern: String!) { explain(pattern: $pattern) { strategy reason terms { term postings docs } candidateDocs verifiedDocs answers ms { total } } }', { pattern })
    fill(out, h('h4', {}, 'Plan'),
      h('p', {}, `Strategy ${plan.strategy}${plan.reason === null ? '' : ' (' + plan.reason + ')'}: ${plan.candidateDocs ?? 'all'} candidate documents, ${plan.verifiedDocs} verified, ${plan.answers} answers in ${plan.ms.total.toFixed(1)} ms.`),
      h('table', { class: 'data' }, h('caption', {}, 'Terms, rarest first'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Term'), h('th', { scope: 'col', class: 'num' }, 'Postings'), h('th', { scope: 'col', class: 'num' }, 'Documents'))),
        h('tbody', {}, plan.terms.map((t) => h('tr', {}, h('td', { class: 'mono' }, t.term), h('td', { class: 'num' }, t.postings), h('td', { class: 'num' }, t.docs))))))
  } catch (err) {
    fill(out)
    if (err instanceof GqlError && err.code === 'BAD_USER_INPUT') showPatternError(pattern, err)
    else status(out, `Explain failed: ${explain(err)}`, 'error')
  }
}

function wireQueryForms (): void {
  const form = byId<HTMLFormElement>('query-form')
  const area = byId<HTMLTextAreaElement>('pattern')
  const first = (): number => Number(byId<HTMLSelectElement>('page-size').value)
  form.addEventListener('submit', (e) => { e.preventDefault(); void runSearch(area.value, first(), 0, [null]) })
  // Ctrl/Cmd+Enter searches from the pattern box, as in GraphiQL.
  area.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit() } })
  byId('explain-button').addEventListener('click', () => { void runExplain(area.value) })

  const build = byId<HTMLFormElement>('build-form')
  build.addEventListener('submit', (e) => {
    e.preventDefault()
    const d = new FormData(build)
    const f: PatternForm = { name: String(d.get('name') ?? ''), section: String(d.get('section') ?? ''), words: String(d.get('words') ?? ''), depends: String(d.get('depends') ?? ''), select: String(d.get('select') ?? 'package') as PatternSelect }
    const out = byId('build-status')
    try {
      area.value = buildPattern(f)
      fill(out)
      void runSearch(area.value, first(), 0, [null])
    } catch (err) {
      status(out, (err as Error).message, 'error')
      if (err instanceof PatternFormError) byId(`f-${err.field}`).focus()
    }
  })
}

async function downloadSelected (): Promise<void> {
  const units = [...selected]
  const out = byId('downloads')
  try {
    const { download } = await gql<{ download: { download: Download } }>(`mutation ConsoleDownload($units: [String!]) { download(units: $units) { download { ${DOWNLOAD_FIELDS} } } }`, { units })
    selected.clear()
    if (current !== undefined) void runSearch(current.pattern, current.first, current.page, current.afters)
    track(download.download)
  } catch (err) {
    const p = h('p', {})
    status(p, `Download could not start: ${explain(err)}`, 'error')
    out.prepend(p)
  }
}

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED'])

/** Shows a download and follows its progress until it ends. */
function track (d: Download): void {
  downloads.set(d.downloadId, d)
  throughput.record(d.downloadId, d.bytesDone, Date.now())
  renderDownloads()
  if (TERMINAL.has(d.state) || following.has(d.downloadId)) return
  following.add(d.downloadId)
  subscribe<{ downloadProgress: Download }>(`subscription ConsoleDownloadProgress($id: ID!) { downloadProgress(id: $id) { ${DOWNLOAD_FIELDS} } }`, { id: d.downloadId }, {
    next: ({ downloadProgress: p }) => {
      downloads.set(p.downloadId, p)
      throughput.record(p.downloadId, p.bytesDone, Date.now())
      renderDownloads()
    },
    error: (err) => { following.delete(d.downloadId); status(byId('downloads'), `Progress of ${d.downloadId} lost: ${err.message}`, 'error') },
    complete: () => { following.delete(d.downloadId) }
  })
}

async function cancel (id: string): Promise<void> {
  try {
    const { cancelDownload } = await gql<{ cancelDownload: { download: Download } }>(`mutation ConsoleCancel($id: ID!) { cancelDownload(id: $id) { download { ${DOWNLOAD_FIELDS} } } }`, { id })
    track(cancelDownload.download)
  } catch (err) {
    const p = h('p', {})
    status(p, `Cancel failed: ${explain(err)}`, 'error')
    byId('downloads').prepend(p)
  }
}

function renderDownloads (): void {
  const list = [...downloads.values()].sort((a, b) => b.startedAt.localeCompare(a.startedAt))
  fill(byId('downloads'), list.length === 0
    ? h('p', {}, 'No download yet: select answers of a search and press "Download selected".')
    : h('ul', { class: 'download-list' }, list.map((d) => h('li', { class: 'download', 'data-download': d.downloadId, 'data-state': d.state },
      h('div', {}, h('span', { class: `state state-${d.state}` }, d.state), ` ${d.units.length} unit${d.units.length === 1 ? '' : 's'}: `,
        h('code', {}, d.units.slice(0, 3).join(', ') + (d.units.length > 3 ? `, … (${d.units.length - 3} more)` : ''))),
      progressBar(`Download of ${d.units[0] ?? d.downloadId}`, d.bytesDone, d.bytesTotal),
      h('small', {}, `${formatBytes(d.bytesDone)} of ${formatBytes(d.bytesTotal)}`),
      d.error === null ? null : h('p', { class: 'status error download-error', role: 'alert' }, `Failed: ${d.error}`),
      TERMINAL.has(d.state) ? null : h('button', { type: 'button', onclick: () => { void cancel(d.downloadId) } }, 'Cancel')))))
  drawChart()
}

function drawChart (): void {
  const svg = byId('throughput-chart') as unknown as SVGSVGElement
  const W = 400
  const H = 110
  const pts = throughput.points(Date.now())
  const { points, max } = polylinePoints(pts, W, H)
  const NS = 'http://www.w3.org/2000/svg'
  const el = (tag: string, attrs: Record<string, string>, text?: string): SVGElement => {
    const e = document.createElementNS(NS, tag)
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v)
    if (text !== undefined) e.textContent = text
    return e
  }
  svg.replaceChildren(el('title', {}, 'Download throughput'), el('line', { class: 'axis', x1: '0', y1: String(H), x2: String(W), y2: String(H) }),
    el('text', { x: '4', y: '12' }, `peak ${formatBytes(max)}/s`))
  if (points !== '') svg.appendChild(el('polyline', { points }))
  const active = [...downloads.values()].filter((d) => !TERMINAL.has(d.state)).length
  byId('throughput-summary').textContent = throughput.bytes === 0
    ? `No bytes transferred yet (${active} active download${active === 1 ? '' : 's'}).`
    : `${formatBytes(throughput.bytes)} transferred; peak ${formatBytes(max)}/s; ${active} active.`
}

async function refreshDownloads (): Promise<void> {
  try {
    const { downloads: all } = await gql<{ downloads: Download[] | null }>(`query ConsoleDownloads { downloads { ${DOWNLOAD_FIELDS} } }`)
    for (const d of all ?? []) track(d)
    renderDownloads()
  } catch (err) {
    status(byId('downloads'), `Downloads could not be read: ${explain(err)}`, 'error')
  }
}

const sinceKey = (name: string): string => `edos.console.since.${name}`

function toggleChannel (name: string, button: HTMLButtonElement): void {
  const stop = channelStops.get(name)
  if (stop !== undefined) {
    stop()
    channelStops.delete(name)
    button.setAttribute('aria-pressed', 'false')
    button.textContent = `Subscribe to ${name}`
    return
  }
  button.setAttribute('aria-pressed', 'true')
  button.textContent = `Unsubscribe from ${name}`
  // Resume after the last notification this browser saw: the peer replays its log from there.
  // graphql-ws resubscribes with the first variables after a dropped socket, so repeats are skipped by seq.
  const seen = (): number => Number(localStorage.getItem(sinceKey(name)) ?? '0')
  channelStops.set(name, subscribe<{ channel: Notification }>(
    'subscription ConsoleChannel($name: String!, $since: Int) { channel(name: $name, since: $since) { channel seq release date added { doc name version } updated { doc name version } removed { doc name version } } }',
    () => ({ name, since: seen() }),
    {
      next: ({ channel: n }) => {
        if (n.seq <= seen() && byId('feed').querySelector(`[data-channel="${CSS.escape(name)}"][data-seq="${n.seq}"]`) !== null) return
        localStorage.setItem(sinceKey(name), String(Math.max(seen(), n.seq)))
        addNotification(n)
      },
      error: (err) => { addFeedError(`${name}: ${err.message}`) }
    }))
}

function units (label: string, list: Unit[]): Node | null {
  if (list.length === 0) return null
  const shown = list.slice(0, 8).map((u) => `${u.name} ${u.version}`).join(', ')
  return h('div', {}, `${label} ${list.length}: `, h('code', {}, shown + (list.length > 8 ? ', …' : '')))
}

function addNotification (n: Notification): void {
  byId('feed').prepend(h('li', { class: 'feed-item', 'data-channel': n.channel, 'data-seq': n.seq },
    h('strong', {}, `${n.channel} #${n.seq}`), ` ${n.release}, ${n.date}`,
    units('added', n.added), units('updated', n.updated), units('removed', n.removed)))
}

function addFeedError (message: string): void {
  const li = h('li', {})
  status(li, message, 'error')
  byId('feed').prepend(li)
}

async function refreshChannelList (): Promise<void> {
  const el = byId('channel-subscriptions')
  try {
    const channels = await loadChannels()
    fill(el, channels.length === 0
      ? h('p', {}, 'This peer has no channel yet (the publisher creates them).')
      : h('ul', {}, channels.map((c) => {
        const on = channelStops.has(c.name)
        const b = h('button', { type: 'button', 'aria-pressed': on ? 'true' : 'false' }, on ? `Unsubscribe from ${c.name}` : `Subscribe to ${c.name}`)
        b.addEventListener('click', () => { toggleChannel(c.name, b) })
        return h('li', {}, h('strong', {}, c.name), ` (${c.lastSeq} notification${c.lastSeq === 1 ? '' : 's'}${c.filter === null ? '' : ', filter '}`, c.filter === null ? '' : h('code', {}, c.filter), ') ', b)
      })))
  } catch (err) {
    status(el, `Channels could not be read: ${explain(err)}`, 'error')
  }
}

async function refreshHoldings (): Promise<void> {
  const el = byId('holdings')
  try {
    const d = await loadNetwork()
    const { releases } = await gql<{ releases: Array<{ name: string, units: number }> | null }>('query ConsoleHeld { releases { name units } }')
    const done = [...downloads.values()].filter((x) => x.state === 'COMPLETED')
    fill(el,
      h('h4', {}, 'Metadata'),
      d.stats === null ? null : h('p', {}, `${d.stats.documents.toLocaleString('en')} documents, ${d.stats.postings.toLocaleString('en')} postings, ${d.stats.terms.toLocaleString('en')} terms, ${formatBytes(d.stats.bytes)} in the store.`),
      h('ul', {}, (releases ?? []).map((r) => h('li', {}, `${r.name}: ${r.units.toLocaleString('en')} units`))),
      h('h4', {}, 'Content held and seeded'),
      done.length === 0
        ? h('p', {}, 'No content yet: this peer holds and seeds the units of its completed downloads.')
        : h('ul', {}, done.flatMap((x) => x.units).map((u) => h('li', {}, h('code', {}, u)))))
    renderNetwork(byId('network-client'), d, false)
  } catch (err) {
    status(el, `Holdings could not be read: ${explain(err)}`, 'error')
  }
}

let chartTimer: ReturnType<typeof setInterval> | undefined

export function initClient (): void {
  wireQueryForms()
  renderDownloads()
}

export async function showClient (): Promise<void> {
  // The chart scrolls with time while the view is shown.
  chartTimer ??= setInterval(drawChart, 1000)
  await Promise.all([refreshDownloads(), refreshChannelList(), refreshHoldings()])
}

export function hideClient (): void {
  if (chartTimer !== undefined) { clearInterval(chartTimer); chartTimer = undefined }
}
