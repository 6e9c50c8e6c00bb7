/// <reference lib="dom" />
/** The peer, its peers and its part of the distributed index: shown in both views. */
import { gql } from './gql.ts'
import { h, fill } from './dom.ts'
import { formatBytes } from './throughput.ts'

interface PeerRow { peerId: string, role: string, addresses: string[], graphql: string | null }
interface Held { heads: number, blocks: number, postings: number, docs: number, bytes: number | null }
interface Repair { running: boolean, checked: number, sent: number, lastRun: string | null, error: string | null }
export interface NetworkData {
  network: {
    self: PeerRow
    peers: PeerRow[]
    indexPeers: number
    index: null | {
      indexPeer: boolean, admittedUntil: string | null, replicas: number, catalogSeq: number, documents: number, postings: number, refused: number
      held: Held | null, repair: Repair | null
      members: Array<{ peerId: string, role: string, addresses: string[], lastSeen: string, held: Held | null }>
    }
  } | null
  stats: { documents: number, postings: number, terms: number, bytes: number, releases: number } | null
}

const HELD = 'heads blocks postings docs bytes'
export const NETWORK_QUERY = `query ConsoleNetwork {
  network {
    self { peerId role addresses graphql }
    peers { peerId role addresses graphql }
    indexPeers
    index {
      indexPeer admittedUntil replicas catalogSeq documents postings refused
      held { ${HELD} }
      repair { running checked sent lastRun error }
      members { peerId role addresses lastSeen held { ${HELD} } }
    }
  }
  stats { documents postings terms bytes releases }
}`

export async function loadNetwork (): Promise<NetworkData> {
  return await gql<NetworkData>(NETWORK_QUERY)
}

const n = (x: number): string => x.toLocaleString('en')

function kv (pairs: Array<[string, string | number | Node]>): HTMLElement {
  return h('dl', { class: 'kv' }, pairs.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'number' ? n(v) : v)]))
}

function peerTable (caption: string, rows: PeerRow[]): HTMLElement {
  if (rows.length === 0) return h('p', {}, `${caption}: none. `, h('small', {}, 'An embedded peer has no network; a networked one lists the peers it is connected to.'))
  return h('table', { class: 'data' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Peer id'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Addresses'), h('th', { scope: 'col' }, 'GraphQL'))),
    h('tbody', {}, rows.map((p) => h('tr', {},
      h('td', { class: 'mono' }, p.peerId), h('td', {}, p.role), h('td', { class: 'mono' }, p.addresses.join(' ')),
      h('td', {}, p.graphql === null ? '' : h('a', { href: p.graphql.replace(/\/graphql$/, '/console/') }, p.graphql))))))
}

/** Fills `el` with the network picture; `withIndex` adds the index members and repair state. */
export function renderNetwork (el: HTMLElement, d: NetworkData, withIndex: boolean): void {
  const net = d.network
  if (net === null) { fill(el, h('p', {}, 'The peer gave no network state.')); return }
  const parts: Node[] = [
    kv([['This peer', h('code', {}, net.self.peerId)], ['Role', net.self.role], ['Addresses', net.self.addresses.length === 0 ? 'none (embedded: no network)' : net.self.addresses.join(' ')], ['Index peers', net.indexPeers]]),
    peerTable('Connected peers', net.peers)
  ]
  if (withIndex) {
    const ix = net.index
    if (ix === null) {
      parts.push(h('p', {}, 'Index: embedded (every key is local to this peer).'))
    } else {
      parts.push(kv([
        ['Holds index data', ix.indexPeer ? 'yes' : 'no'], ['Replicas per key', ix.replicas], ['Catalog sequence', ix.catalogSeq],
        ['Documents visible', ix.documents], ['Postings visible', ix.postings], ['Refused writes', ix.refused],
        ['Held here', ix.held === null ? 'nothing' : `${n(ix.held.heads)} heads, ${n(ix.held.blocks)} blocks, ${n(ix.held.postings)} postings, ${n(ix.held.docs)} docs`],
        ['Repair', ix.repair === null ? 'idle' : `${ix.repair.running ? 'running' : 'idle'}: ${n(ix.repair.checked)} keys checked, ${n(ix.repair.sent)} sent${ix.repair.error === null ? '' : ', error: ' + ix.repair.error}`]
      ]))
      parts.push(h('table', { class: 'data' },
        h('caption', {}, 'Index members'),
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Peer id'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col', class: 'num' }, 'Postings held'), h('th', { scope: 'col', class: 'num' }, 'Docs held'), h('th', { scope: 'col' }, 'Last seen'))),
        h('tbody', {}, ix.members.map((m) => h('tr', {}, h('td', { class: 'mono' }, m.peerId), h('td', {}, m.role),
          h('td', { class: 'num' }, m.held === null ? '' : n(m.held.postings)), h('td', { class: 'num' }, m.held === null ? '' : n(m.held.docs)), h('td', {}, m.lastSeen))))))
    }
  }
  if (d.stats !== null) {
    parts.push(kv([['Store: documents', d.stats.documents], ['Postings', d.stats.postings], ['Terms', d.stats.terms], ['Bytes', formatBytes(d.stats.bytes)], ['Releases', d.stats.releases]]))
  }
  fill(el, parts)
}
