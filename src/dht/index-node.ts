/**
 * One peer's part in the distributed index, assembled: membership and the
 * catalog (every peer), the shard store, its servers and repair (index
 * peers: the publisher and admitted mirrors), dissemination (the
 * publisher), and the remote posting/document source the query engine
 * reads through (every peer). Admission turns a mirror into an index peer
 * at run time: the publisher signs a certificate and delivers it over
 * /edos/admit/1.0.0; the mirror keeps it in DATA/mirror-certificate.json.
 */
import { readFile, writeFile, rename } from 'node:fs/promises'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { TwigStore } from '../xml-twig-index/store/store.ts'
import { QueryEngine } from '../xml-twig-index/engine/query-engine.ts'
import { CatalogView } from './catalog.ts'
import { Dissemination, type DisseminationProgress, type DisseminationSummary } from './dissemination.ts'
import { CertificateError, NotAuthorizedError } from './errors.ts'
import type { EdosLibp2p, PeerHost } from './host.ts'
import { Membership, type MemberRecord, type RepairState } from './membership.ts'
import { IndexServer, POSTINGS_PROTOCOL, type ServerCounters } from './protocols.ts'
import { RemoteIndex } from './remote-source.ts'
import { Repair } from './repair.ts'
import { callRpc, serveRpc } from './rpc.ts'
import { ShardStore } from './shard-store.ts'
import { issueCertificate, verifyCertificate } from './trust.ts'
import { DEFAULT_REPLICAS, type Catalog, type MirrorCertificate } from './types.ts'

export const ADMIT_PROTOCOL = '/edos/admit/1.0.0'

export interface IndexNodeInit {
  host: PeerHost
  /** The peer folder: DATA/shard (index peers), DATA/mirror-certificate.json (admitted mirrors). */
  data: string
  /** The root of trust. For the publisher, its own id. */
  publisher: PeerId
  /** The publisher's full local store (publisher only). */
  local?: TwigStore
  /** Replication factor r. Default 3. */
  replicas?: number
  /** Membership announcement period. Default 2000 ms. */
  announceMs?: number
  /** Quiet time before a repair pass. Default 3000 ms. */
  repairSettleMs?: number
  /** After a start, how long members of the view before it are waited for before their keys are re-homed. Default 30,000 ms. */
  repairRestartGraceMs?: number
  /** Read timeout before failing over to the next replica. Default 4000 ms. */
  callTimeoutMs?: number
  /** Push semi-join reducers to list holders. Default true (false is the bench's baseline). */
  reducers?: boolean
  log?: (message: string) => void
}

export interface IndexNetworkInfo {
  self: string
  role: 'publisher' | 'mirror' | 'client'
  indexPeer: boolean
  admitted?: MirrorCertificate
  members: MemberRecord[]
  connected: string[]
  catalog?: Pick<Catalog, 'seq' | 'nextDocId' | 'live' | 'postings' | 'rangeDocs' | 'replicas' | 'date'>
  held?: { heads: number, blocks: number, chunks: number, postings: number, docs: number, ids: number, bytes: number }
  repair?: RepairState
  server?: ServerCounters
  refusedAnnouncements: number
}

export class IndexNode {
  readonly membership: Membership
  readonly catalog: CatalogView
  readonly remote: RemoteIndex
  readonly engine: QueryEngine
  private server: IndexServer | undefined
  private repair: Repair | undefined
  readonly dissemination: Dissemination | undefined

  /** The libp2p host, for the distribution network's protocols (content offers, provider records). */
  get libp2p (): EdosLibp2p { return this.init.host.libp2p }

  private constructor (private readonly init: IndexNodeInit, private readonly shard: ShardStore | undefined, certificate: MirrorCertificate | undefined) {
    const { host } = init
    this.membership = new Membership({
      host,
      publisher: init.publisher,
      certificate,
      replicas: init.replicas ?? DEFAULT_REPLICAS,
      intervalMs: init.announceMs,
      held: shard === undefined ? undefined : async () => await shard.stats(),
      repair: () => this.repair?.state ?? { running: false, checked: 0, sent: 0 },
      catalogSeq: () => this.catalog?.seq ?? 0,
      onNewerCatalog: (peer) => { this.catalog?.newerAt(peer) },
      log: init.log
    })
    this.catalog = new CatalogView({ host, membership: this.membership, publisher: init.publisher, initial: shard?.catalog(), log: init.log })
    if (shard !== undefined) {
      this.server = new IndexServer({ host, membership: this.membership, shard, publisher: init.publisher, log: init.log, onCatalog: (_c, signed) => { this.catalog.offer(signed) } })
      // A catalog heard on gossip is kept by an index peer, so it survives a restart.
      this.catalog.onChange((c) => { if (this.membership.isIndexPeer && (shard.catalog()?.catalog.seq ?? 0) < c.seq) void shard.setCatalog(c, this.catalog.signed() ?? new Uint8Array(0)).catch(() => {}) })
      this.repair = new Repair({ host, membership: this.membership, shard, settleMs: init.repairSettleMs, restartGraceMs: init.repairRestartGraceMs, log: init.log })
    }
    this.remote = new RemoteIndex({ host, membership: this.membership, catalog: this.catalog, server: this.server, callTimeoutMs: init.callTimeoutMs, reducers: init.reducers, log: init.log })
    this.engine = new QueryEngine(this.remote, this.remote)
    if (init.local !== undefined && shard !== undefined) {
      this.dissemination = new Dissemination({ host, membership: this.membership, catalog: this.catalog, shard, local: init.local, log: init.log })
    }
  }

  static async start (init: IndexNodeInit): Promise<IndexNode> {
    const role = init.host.role
    if (role === 'publisher' && init.host.peerId !== init.publisher.toString()) {
      throw new CertificateError(`this publisher's key (${init.host.peerId}) is not the publisher key given (${init.publisher.toString()})`, 'ERR_CERT_WRONG_PUBLISHER')
    }
    let certificate: MirrorCertificate | undefined
    if (role === 'mirror') certificate = await loadCertificate(join(init.data, 'mirror-certificate.json'), init.publisher, init.host.peerId, init.log)
    const shard = role === 'client' ? undefined : await ShardStore.open({ path: join(init.data, 'shard') })
    const node = new IndexNode(init, shard, certificate)
    try {
      await node.server?.start()
      await serveRpc(init.host.libp2p, ADMIT_PROTOCOL, async (req) => {
        if (req.from !== init.publisher.toString()) throw new NotAuthorizedError(`admission refused: ${req.from} is not the publisher`)
        if (role !== 'mirror') throw new NotAuthorizedError(`admission refused: this peer is a ${role}`)
        const cert = verifyCertificate(req.header.certificate, init.publisher, init.host.peerId)
        await node.admitSelf(cert)
        return { header: { ok: true } }
      })
      // The catalog this index peer had when it stopped: if the network moved on meanwhile, it missed publishes.
      const before = shard?.catalog()?.catalog
      await node.membership.start()
      await node.catalog.start()
      node.repair?.rebase()
      if (before !== undefined && node.membership.isIndexPeer) {
        // The newer catalog may come later (a pull or an announcement): catch up once, when it does.
        let started = false
        const start = (): void => { if (!started && node.catalog.seq > before.seq) { started = true; void node.catchUp(before) } }
        node.catalog.onChange(start)
        start()
      }
      return node
    } catch (err) {
      await node.stop()
      throw err
    }
  }

  addresses (): string[] { return this.init.host.multiaddrs() }

  get isIndexPeer (): boolean { return this.membership.isIndexPeer }

  private async admitSelf (cert: MirrorCertificate): Promise<void> {
    const file = join(this.init.data, 'mirror-certificate.json')
    await writeFile(file + '.tmp', JSON.stringify(cert, null, 2) + '\n', { mode: 0o600 })
    await rename(file + '.tmp', file)
    const c = this.catalog.current()
    const signed = this.catalog.signed()
    if (c !== undefined && signed !== undefined) await this.shard?.setCatalog(c, signed)
    await this.membership.admit(cert)
  }

  /** Publisher: signs a certificate for a running mirror and delivers it over the network. */
  async admitMirror (mirror: string, ttlMs?: number): Promise<MirrorCertificate> {
    if (this.init.host.role !== 'publisher') throw new NotAuthorizedError('only the publisher admits mirrors')
    const id = peerIdFromString(mirror)
    const cert = await issueCertificate(this.init.host.privateKey, id, ttlMs)
    await callRpc(this.init.host.libp2p, mirror, ADMIT_PROTOCOL, { certificate: cert }, [], { timeoutMs: 15_000 })
    return cert
  }

  /** Publisher: pushes what the local store committed and the network has not seen. */
  async disseminate (options: { onProgress?: (p: DisseminationProgress) => void, signal?: AbortSignal } = {}): Promise<DisseminationSummary | undefined> {
    if (this.dissemination === undefined) return undefined
    return await this.dissemination.run(options)
  }

  async info (): Promise<IndexNetworkInfo> {
    const c = this.catalog.current()
    const out: IndexNetworkInfo = {
      self: this.init.host.peerId,
      role: this.init.host.role,
      indexPeer: this.membership.isIndexPeer,
      members: this.membership.view(),
      connected: this.init.host.libp2p.getPeers().map(String),
      refusedAnnouncements: this.membership.refused
    }
    if (this.membership.admitted !== undefined) out.admitted = this.membership.admitted
    if (c !== undefined) out.catalog = { seq: c.seq, nextDocId: c.nextDocId, live: c.live, postings: c.postings, rangeDocs: c.rangeDocs, replicas: c.replicas, date: c.date }
    if (this.shard !== undefined) out.held = await this.shard.stats()
    if (this.repair !== undefined) out.repair = { ...this.repair.state }
    if (this.server !== undefined) out.server = { ...this.server.counters }
    return out
  }

  /** Sync requests sent after a restart that missed publishes (observable). */
  catchUps = 0

  /**
   * After a restart: once this peer's announcement has reached the others
   * and the newest catalog is known, asks every other index peer for the
   * entries it owns that were published while it was down (docs >= the
   * nextDocId of the catalog it had).
   */
  private async catchUp (before: Catalog): Promise<void> {
    const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref())
    await wait((this.init.announceMs ?? 2000) * 2 + 500)
    this.init.log?.(`catalog ${before.seq} here, ${this.catalog.seq} in the network: asking co-holders for docs >= ${before.nextDocId}`)
    for (const m of this.membership.view()) {
      if (m.peer === this.init.host.peerId) continue
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await callRpc(this.init.host.libp2p, m.peer, POSTINGS_PROTOCOL, { op: 'sync', since: before.nextDocId }, [], { timeoutMs: 10_000 })
          this.catchUps++
          break
        } catch (err) {
          // Not yet in that peer's view: its next announcement period fixes it.
          if ((err as { code?: string }).code !== 'ERR_NOT_AUTHORIZED') break
          await wait(this.init.announceMs ?? 2000)
        }
      }
    }
  }

  /** Waits for a scheduled repair pass (tests). */
  async repairIdle (): Promise<void> { await this.repair?.idle() }

  /** Stops announcing and repairing, then the libp2p host (no more requests), then closes the shard. */
  async stop (): Promise<void> {
    this.repair?.stop()
    await this.repair?.idle()
    this.membership.stop()
    try { await this.init.host.stop() } finally { await this.shard?.close() }
  }
}

async function loadCertificate (file: string, publisher: PeerId, self: string, log?: (m: string) => void): Promise<MirrorCertificate | undefined> {
  let text: string
  try { text = await readFile(file, 'utf8') } catch { return undefined }
  try {
    return verifyCertificate(JSON.parse(text) as unknown, publisher, self)
  } catch (err) {
    // An expired or foreign certificate: the mirror serves queries but holds no index data until admitted again.
    log?.(`mirror certificate ${file} not used: ${(err as Error).message}`)
    return undefined
  }
}
