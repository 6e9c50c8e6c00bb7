/**
 * `edos network --peer URL` and `edos mirror admit --peer URL PEER_ID`:
 * the distributed index as a running peer sees it, and the publisher
 * admitting a mirror into it. One JSON object per line.
 */
import { PeerClient } from './peer-client.ts'
import { PeerProtocolError, UsageError } from './errors.ts'
import type { PeerArgs } from './peer-commands.ts'

const out = (line: unknown): void => { process.stdout.write(JSON.stringify(line) + '\n') }

const NETWORK = `query EdosNetwork {
  network {
    self { peerId role addresses graphql }
    indexPeers
    peers { peerId role addresses }
    index {
      indexPeer admittedUntil replicas catalogSeq documents postings refused
      held { heads blocks postings docs bytes }
      repair { running checked sent lastRun error }
      members { peerId role addresses certificateExpires lastSeen held { heads blocks postings docs } repair { running checked sent lastRun error } }
    }
  }
}`

interface NetworkData {
  network: {
    self: { peerId: string, role: string, addresses: string[], graphql: string | null }
    indexPeers: number
    peers: Array<{ peerId: string, role: string, addresses: string[] }>
    index: null | {
      indexPeer: boolean
      admittedUntil: string | null
      replicas: number
      catalogSeq: number
      documents: number
      postings: number
      refused: number
      held: unknown
      repair: unknown
      members: Array<{ peerId: string, role: string, addresses: string[], certificateExpires: string | null, lastSeen: string, held: unknown, repair: unknown }>
    }
  } | null
}

/** First line: this peer and its index state; then one line per index peer, then other connected peers. */
export async function runPeerNetwork (args: PeerArgs): Promise<number> {
  const d = await new PeerClient({ url: args.peer, token: args.token }).request<NetworkData>(NETWORK)
  const n = d.network
  if (n === null) throw new PeerProtocolError(`the peer at ${args.peer} gave no network`)
  const { members, ...index } = n.index ?? { members: [] }
  out({ self: n.self.peerId, role: n.self.role, addresses: n.self.addresses, graphql: n.self.graphql, indexPeers: n.indexPeers, ...(n.index === null ? { embedded: true } : index) })
  for (const m of members) out({ peer: m.peerId, role: m.role, indexPeer: true, addresses: m.addresses, certificateExpires: m.certificateExpires, lastSeen: m.lastSeen, held: m.held, repair: m.repair })
  const inIndex = new Set(members.map((m) => m.peerId))
  for (const p of n.peers) if (!inIndex.has(p.peerId)) out({ peer: p.peerId, indexPeer: false, connected: true })
  return 0
}

const ADMIT = `mutation EdosAdmit($peerId: String!) {
  admitMirror(peerId: $peerId) { mirror publisher issued expires }
}`

export async function runMirrorAdmit (args: PeerArgs & { mirror: string }): Promise<number> {
  if (!/^[1-9A-HJ-NP-Za-km-z]{40,100}$/.test(args.mirror)) throw new UsageError(`'${args.mirror}' is not a peer id (the mirror prints it at start: 'peer id: 12D3KooW...')`)
  const d = await new PeerClient({ url: args.peer, token: args.token }).request<{ admitMirror: { mirror: string, publisher: string, issued: string, expires: string } | null }>(ADMIT, { peerId: args.mirror })
  if (d.admitMirror === null) throw new PeerProtocolError(`the peer at ${args.peer} admitted nothing`)
  out(d.admitMirror)
  return 0
}
