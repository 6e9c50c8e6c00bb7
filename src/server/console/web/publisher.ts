/// <reference lib="dom" />
/**
 * Publisher view: publish a release (uploaded files or server-side paths)
 * with the publish's own progress, channels, releases with their collection
 * trees, and the network/index state.
 */
import { gql, gqlUpload, subscribe, GqlError } from './gql.ts'
import { h, fill, byId, progressBar, status } from './dom.ts'
import { loadNetwork, renderNetwork } from './network.ts'
import { formatBytes } from './throughput.ts'

interface Collection { name: string, units: Array<{ doc: string }>, collections?: Collection[] }
interface ReleaseRow { name: string, version: string, date: string, units: number }
export interface Channel { name: string, description: string, filter: string | null, createdAt: string, lastSeq: number }

const RELEASES_QUERY = 'query ConsoleReleases { releases { name version date units } }'
const COLLECTION = 'name units { doc }'
// Four levels of nesting: deeper collections are rare and would hit the peer's depth limit.
// Unit references are doc ids only (pkg/NAME/VERSION/ARCH): a full release lists tens of thousands.
const TREE_QUERY = `query ConsoleReleaseTree($name: String!) { release(name: $name) { root {
  ${COLLECTION} collections { ${COLLECTION} collections { ${COLLECTION} collections { ${COLLECTION} } } } } } }`
export const CHANNELS_QUERY = 'query ConsoleChannels { channels { name description filter createdAt lastSeq } }'

/** Units shown per collection before "show all". */
const UNITS_SHOWN = 50

/** `pkg/vim/2:9.0/amd64` -> `vim 2:9.0 amd64` (ids are built from the identifier, see README). */
function unitLabel (doc: string): string {
  return doc.split('/').slice(1).join(' ')
}

function unitList (units: Array<{ doc: string }>): HTMLElement {
  const list = h('ul', { class: 'units' })
  const show = (all: boolean): void => {
    fill(list, (all ? units : units.slice(0, UNITS_SHOWN)).map((u) => h('li', {}, h('code', { title: u.doc }, unitLabel(u.doc)))))
    if (!all && units.length > UNITS_SHOWN) {
      list.appendChild(h('li', {}, h('button', { type: 'button', onclick: () => { show(true) } }, `show all ${units.length}`)))
    }
  }
  show(false)
  return list
}

function countUnits (c: Collection): number {
  return c.units.length + (c.collections ?? []).reduce((s, x) => s + countUnits(x), 0)
}

function collectionTree (c: Collection, open: boolean): HTMLElement {
  const d = h('details', { open }, h('summary', {}, `${c.name} `, h('small', {}, `(${countUnits(c).toLocaleString('en')} unit${countUnits(c) === 1 ? '' : 's'})`)))
  // Unit lists are built when opened: a large release would otherwise create thousands of nodes up front.
  let built = false
  const build = (): void => {
    if (built) return
    built = true
    for (const sub of c.collections ?? []) d.appendChild(collectionTree(sub, false))
    if (c.units.length > 0) d.appendChild(unitList(c.units))
  }
  if (open) build()
  d.addEventListener('toggle', build)
  return d
}

const releaseKey = (r: ReleaseRow): string => JSON.stringify([r.name, r.version, r.date, r.units])

/** A release line whose collection tree is read from the peer the first time it is opened. */
function releaseItem (r: ReleaseRow): HTMLElement {
  const d = h('details', {}, h('summary', {}, h('strong', {}, r.name), ` ${r.version}, ${r.date}, ${r.units.toLocaleString('en')} unit${r.units === 1 ? '' : 's'}`))
  let loaded = false
  d.addEventListener('toggle', () => {
    if (loaded || !d.open) return
    loaded = true
    const wait = h('p', { role: 'status' }, 'Reading the collection tree…')
    d.appendChild(wait)
    gql<{ release: { root: Collection } | null }>(TREE_QUERY, { name: r.name })
      .then(({ release }) => { wait.replaceWith(release === null ? h('p', {}, 'This release is gone.') : collectionTree(release.root, true)) })
      .catch((err: unknown) => { loaded = false; status(wait, `The tree could not be read: ${explain(err)}`, 'error') })
  })
  return h('li', { 'data-release': r.name, 'data-key': releaseKey(r) }, d)
}

export async function refreshReleases (): Promise<void> {
  const el = byId('releases')
  try {
    const { releases } = await gql<{ releases: ReleaseRow[] | null }>(RELEASES_QUERY)
    if (releases === null || releases.length === 0) { fill(el, h('p', {}, 'No release published yet.')); return }
    // Unchanged releases keep their element (an open tree stays open, even when a refresh races a click);
    // a release published again gets a new one, since its tree may differ.
    // Elements already in place are not moved, so focus stays where it is.
    let ul = el.querySelector('ul.release-list')
    if (ul === null) { ul = h('ul', { class: 'release-list' }); fill(el, ul) }
    const before = new Map([...ul.querySelectorAll<HTMLElement>(':scope > li[data-release]')].map((li) => [li.dataset.key, li]))
    const wanted = releases.map((r) => before.get(releaseKey(r)) ?? releaseItem(r))
    const keep = new Set<Element>(wanted)
    for (const li of [...ul.children]) if (!keep.has(li)) li.remove()
    wanted.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] ?? null) })
  } catch (err) {
    const p = h('p', {})
    status(p, `Releases could not be read: ${(err as Error).message}`, 'error')
    fill(el, p)
  }
}

export async function loadChannels (): Promise<Channel[]> {
  return (await gql<{ channels: Channel[] | null }>(CHANNELS_QUERY)).channels ?? []
}

export async function refreshChannels (): Promise<void> {
  const body = byId('channel-table').querySelector('tbody')
  if (body === null) return
  const channels = await loadChannels().catch(() => [])
  fill(body, channels.length === 0
    ? h('tr', {}, h('td', { colspan: 5 }, 'No channel yet.'))
    : channels.map((c) => h('tr', { 'data-channel': c.name },
      h('td', {}, h('strong', {}, c.name), c.description === '' ? '' : h('div', {}, h('small', {}, c.description))),
      h('td', { class: 'mono' }, c.filter ?? 'every unit'),
      h('td', { class: 'num' }, c.lastSeq), h('td', {}, c.createdAt),
      h('td', {}, h('button', { type: 'button', 'aria-label': `Delete channel ${c.name}`, onclick: () => { void deleteChannel(c.name) } }, 'Delete')))))
}

async function deleteChannel (name: string): Promise<void> {
  if (!confirm(`Delete channel ${name}? Subscribers stop receiving its notifications.`)) return
  const out = byId('channel-status')
  try {
    await gql('mutation ConsoleDeleteChannel($name: String!) { deleteChannel(name: $name) { deleted } }', { name })
    status(out, `Channel ${name} deleted.`, 'ok')
  } catch (err) {
    status(out, explain(err), 'error')
  }
  await refreshChannels()
}

/** An error as a person can act on it: the token hint for UNAUTHENTICATED. */
export function explain (err: unknown): string {
  if (err instanceof GqlError && err.code === 'UNAUTHENTICATED') return `${err.message} (enter it in "API token" at the top)`
  return err instanceof Error ? err.message : String(err)
}

function wireChannelForm (): void {
  const form = byId<HTMLFormElement>('channel-form')
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    const data = new FormData(form)
    const name = String(data.get('name') ?? '').trim()
    const filter = String(data.get('filter') ?? '').trim()
    const out = byId('channel-status')
    status(out, `Creating channel ${name}…`)
    gql<{ createChannel: { channel: Channel } }>(
      'mutation ConsoleCreateChannel($name: String!, $description: String, $filter: String) { createChannel(name: $name, description: $description, filter: $filter) { channel { name lastSeq } } }',
      { name, description: String(data.get('description') ?? ''), filter: filter === '' ? null : filter })
      .then(async (r) => {
        status(out, `Channel ${r.createChannel.channel.name} created.`, 'ok')
        form.reset()
        await refreshChannels()
      })
      .catch((err: unknown) => { status(out, explain(err), 'error') })
  })
}

interface PublishProgress { release: string, bytesRead: number, bytesTotal: number, units: number, phase: string | null, postingsSent: Array<{ peer: string, postings: number }> | null }
interface PublishSummary { release: string, units: number, rejected: number, replaced: number, postings: number, seconds: number, rejections: string[], contentStored: number, contentUnmatched: string[] }

const PUBLISH_MUTATION = `mutation ConsolePublish($input: PublishReleaseInput!) {
  publishRelease(input: $input) { summary { release units rejected replaced postings seconds rejections contentStored contentUnmatched } release { name units } }
}`

function lines (s: string): string[] {
  return s.split('\n').map((l) => l.trim()).filter((l) => l !== '')
}

function wirePublishForm (): void {
  const form = byId<HTMLFormElement>('publish-form')
  const showSource = (): void => {
    const upload = (form.elements.namedItem('source') as RadioNodeList).value === 'upload'
    byId('pub-upload').hidden = !upload
    byId('pub-paths').hidden = upload
  }
  form.addEventListener('change', showSource)
  showSource()
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    void publish(form)
  })
}

async function publish (form: HTMLFormElement): Promise<void> {
  const data = new FormData(form)
  const name = String(data.get('name') ?? '').trim()
  const format = String(data.get('format') ?? '')
  const upload = data.get('source') === 'upload'
  const bars = byId('publish-progress')
  const out = byId('publish-status')
  const button = form.querySelector('button[type=submit]') as HTMLButtonElement
  const input: Record<string, unknown> = { name, format: format === '' ? null : format }
  const files = new Map<string, File>()
  if (upload) {
    const meta = byId<HTMLInputElement>('pub-files').files ?? new FileList()
    const trans = byId<HTMLInputElement>('pub-translations').files ?? new FileList()
    if (meta.length === 0) { status(out, 'Choose at least one metadata file to publish.', 'error'); byId('pub-files').focus(); return }
    input.files = [...meta].map(() => null)
    ;[...meta].forEach((f, i) => files.set(`input.files.${i}`, f))
    for (const [key, list] of [['translations', trans], ['content', byId<HTMLInputElement>('pub-content').files ?? new FileList()]] as const) {
      if (list.length === 0) continue
      input[key] = [...list].map(() => null)
      ;[...list].forEach((f, i) => files.set(`input.${key}.${i}`, f))
    }
  } else {
    const paths = lines(String(data.get('paths') ?? ''))
    if (paths.length === 0) { status(out, 'Give at least one path on the peer\'s machine.', 'error'); byId('pub-path-list').focus(); return }
    input.paths = paths
    for (const key of ['translationPaths', 'contentPaths']) {
      const more = lines(String(data.get(key) ?? ''))
      if (more.length > 0) input[key] = more
    }
  }

  button.disabled = true
  status(out, `Publishing ${name}…`)
  let last: PublishProgress | undefined
  const draw = (done: boolean): void => {
    const read = done ? Math.max(last?.bytesTotal ?? 1, 1) : (last?.bytesRead ?? 0)
    const total = done ? Math.max(last?.bytesTotal ?? 1, 1) : (last?.bytesTotal ?? 0)
    const phase = done ? 'DONE' : (last?.phase ?? 'READ')
    const sent = last?.postingsSent ?? []
    fill(bars,
      h('p', {}, `Publishing ${name}: ${phase.toLowerCase()}, ${formatBytes(read)} of ${formatBytes(total)} read, ${(last?.units ?? 0).toLocaleString('en')} units`),
      progressBar(`Publishing ${name}`, read, total),
      sent.length === 0 ? null : h('ul', {}, sent.map((s) => h('li', {}, h('code', {}, s.peer), `: ${s.postings.toLocaleString('en')} postings acknowledged`))))
  }
  draw(false)
  const stop = subscribe<{ publishProgress: PublishProgress }>(
    'subscription ConsolePublishProgress($release: String) { publishProgress(release: $release) { release bytesRead bytesTotal units phase postingsSent { peer postings } } }',
    { release: name },
    { next: (d) => { last = d.publishProgress; draw(false) } })
  try {
    const run = async (): Promise<{ publishRelease: { summary: PublishSummary } }> => upload
      ? await gqlUpload(PUBLISH_MUTATION, { input }, files, (sent, total) => {
        if (last === undefined) {
          fill(bars, h('p', {}, `Uploading ${formatBytes(sent)} of ${formatBytes(total)}`), progressBar(`Uploading ${name}`, sent, total))
        }
      })
      : await gql(PUBLISH_MUTATION, { input })
    const { summary } = (await run()).publishRelease
    // The mutation answers once the publish is complete: the bar ends at 100% whatever progress events arrived.
    draw(true)
    button.disabled = false
    const content = summary.contentStored === 0 && summary.contentUnmatched.length === 0 ? '' : `; ${summary.contentStored.toLocaleString('en')} content files stored and seeded${summary.contentUnmatched.length === 0 ? '' : `, ${summary.contentUnmatched.length} named by no unit (not stored)`}`
    status(out, `Published ${summary.units.toLocaleString('en')} units into ${summary.release} (${summary.rejected} rejected, ${summary.replaced} replaced), ${summary.postings.toLocaleString('en')} postings, ${summary.seconds.toFixed(2)} s${content}`, 'ok')
    if (summary.rejections.length > 0) out.appendChild(h('details', {}, h('summary', {}, `${summary.rejections.length} rejections`), h('ul', {}, summary.rejections.map((r) => h('li', {}, r)))))
    await Promise.all([refreshReleases(), refreshNetwork()])
  } catch (err) {
    fill(bars)
    status(out, `Publishing ${name} failed: ${explain(err)}`, 'error')
  } finally {
    stop()
    button.disabled = false
  }
}

async function refreshNetwork (): Promise<void> {
  await loadNetwork()
    .then((d) => { renderNetwork(byId('network-pub'), d, true) })
    .catch((err: unknown) => { status(byId('network-pub'), `Network state could not be read: ${(err as Error).message}`, 'error') })
}

export function initPublisher (): void {
  wireChannelForm()
  wirePublishForm()
  // Publishes from elsewhere (the CLI, another console) show up here as they happen.
  subscribe<{ releasePublished: { name: string } }>('subscription ConsoleReleasePublished { releasePublished { name } }', {}, {
    next: () => { if (!byId('view-publisher').hidden) void Promise.all([refreshReleases(), refreshNetwork(), refreshChannels()]) }
  })
}

export async function showPublisher (): Promise<void> {
  await Promise.all([refreshReleases(), refreshChannels(), refreshNetwork()])
}
