/// <reference lib="dom" />
/**
 * Entry point: the peer line, the token form and the views behind the
 * location hash (#publisher, #client, #flash-crowd), so each view has a URL
 * and the browser's back button works.
 */
import { gql, getToken, setToken, onLive } from './gql.ts'
import { byId, fill, h, status } from './dom.ts'
import { initPublisher, showPublisher } from './publisher.ts'
import { initClient, showClient, hideClient } from './client.ts'
import { initFlashCrowd, showFlashCrowd } from './flash-crowd.ts'

const VIEWS = ['publisher', 'client', 'flash-crowd'] as const
type View = typeof VIEWS[number]

async function peerLine (): Promise<string> {
  const line = byId('peer-line')
  try {
    const { network } = await gql<{ network: { self: { peerId: string, role: string } } | null }>('query ConsolePeer { network { self { peerId role } } }')
    if (network === null) { line.textContent = 'Peer: no network state'; return 'CLIENT' }
    fill(line, `${network.self.role.toLowerCase()} `, h('code', {}, network.self.peerId))
    document.title = `edos console: ${network.self.role.toLowerCase()}`
    return network.self.role
  } catch (err) {
    status(line, `This peer does not answer: ${(err as Error).message}`, 'error')
    return 'CLIENT'
  }
}

function viewOf (hash: string): View | undefined {
  const v = hash.replace(/^#/, '')
  return (VIEWS as readonly string[]).includes(v) ? v as View : undefined
}

/** This peer's role (PUBLISHER, MIRROR, CLIENT), read at boot. */
let role = 'CLIENT'

async function show (view: View, focus: boolean): Promise<void> {
  for (const v of VIEWS) {
    byId(`view-${v}`).hidden = v !== view
    document.querySelector(`nav a[data-view="${v}"]`)?.setAttribute('aria-current', v === view ? 'page' : 'false')
  }
  if (view !== 'client') hideClient()
  // A view change is a page change for a screen reader: move focus to its heading.
  if (focus) byId('main').focus()
  if (view === 'publisher') await showPublisher()
  else if (view === 'client') await showClient()
  else await showFlashCrowd(role)
  document.body.dataset.view = view
  document.body.dataset.ready = 'true'
}

function wireToken (): void {
  const form = byId<HTMLFormElement>('token-form')
  const input = byId<HTMLInputElement>('token')
  input.value = getToken()
  byId('token-status').textContent = getToken() === '' ? 'none: read-only' : 'set'
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    setToken(input.value.trim())
    byId('token-status').textContent = input.value.trim() === '' ? 'none: read-only' : 'set'
  })
}

async function boot (): Promise<void> {
  // A token handed over in the fragment (never sent to the server) is kept for the tab, then dropped from the URL.
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash)
  if (m !== null) {
    setToken(decodeURIComponent(m[1]))
    history.replaceState(null, '', location.pathname)
  }
  wireToken()
  const live = byId('live')
  onLive((state, detail) => {
    live.dataset.state = state
    live.textContent = state === 'connected' ? 'live updates: on' : state === 'connecting' ? 'live updates: connecting…' : `live updates: off${detail === '' ? '' : ' (' + detail + ')'}`
  })
  initPublisher()
  initClient()
  initFlashCrowd()
  role = await peerLine()
  const first = viewOf(location.hash) ?? (role === 'PUBLISHER' ? 'publisher' : 'client')
  window.addEventListener('hashchange', () => { const v = viewOf(location.hash); if (v !== undefined) void show(v, true) })
  await show(first, false)
}

void boot()
