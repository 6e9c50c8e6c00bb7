/**
 * The distributed index across processes: 1 publisher + 4 mirrors + 1
 * client, each `edos serve` in its own process and folder, real libp2p over
 * TCP on 127.0.0.1. R3 (bookworm-security, 3,028 packages) is published
 * through the publisher's GraphQL; an EmbeddedIndex in this process that
 * imported the same files is the oracle: every peer must return its exact
 * ordered (doc id, canonical path) lists, also while a mirror is SIGKILLed
 * mid-query or mid-publish, and after every peer restarts. Last, a client
 * host built here tries to write postings to a mirror and is refused.
 *
 * The tests share one cluster and run in order (each builds on the state
 * the previous one left). EDOS_E2E_KEEP=1 keeps the folders.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { EmbeddedIndex } from '../../src/xml-twig-index/embedded.ts'
import { readUnits } from '../../src/xml-twig-index/importers/index.ts'
import { createPeerHost, loadOrCreatePrivateKey, POSTINGS_PROTOCOL, type PeerHost } from '../../src/dht/index.ts'
import { IndexServer, KIND_BATCH } from '../../src/dht/protocols.ts'
import { callRpc } from '../../src/dht/rpc.ts'
import { deliveryFields, signEnvelope } from '../../src/dht/trust.ts'
import { encodeWrite } from '../../src/dht/write-codec.ts'
import type { ShardWrite } from '../../src/dht/shard-store.ts'
import { PostingBuffer } from '../../src/xml-twig-index/postings/codec.ts'
import { ENGINE_SUITE } from '../oracle/patterns.ts'
import { Cluster, FIXTURES, GraphQLError, freePort, indexState, publishRelease, searchAll, sleep, waitFor, type Peer } from './harness.ts'

const R3 = join(FIXTURES, 'bookworm-security.Packages.xz')
const UPDATES = join(FIXTURES, 'bookworm-updates.Packages.xz')
const TODAY = new Date().toISOString().slice(0, 10)

const cluster = new Cluster()
let publisher: Peer
let mirrors: Peer[]
let client: Peer
let oracle: EmbeddedIndex
/** The oracle's answers, per pattern, for the current oracle state. */
let expected = new Map<string, string[]>()
const t0 = Date.now()
const log = (m: string): void => { process.stderr.write(`[e2e ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`) }

async function oracleAnswers (pattern: string): Promise<string[]> {
  const hit = expected.get(pattern)
  if (hit !== undefined) return hit
  const out: string[] = []
  let after: string | undefined
  for (;;) {
    const page = await oracle.query(pattern, { first: 5000, after })
    for (const m of page.matches) out.push(`${m.doc} ${m.path}`)
    if (!page.hasNextPage || page.endCursor === null) break
    after = page.endCursor
  }
  expected.set(pattern, out)
  return out
}

interface Mismatch { peer: string, pattern: string, want: number, got: number | string, firstDiff?: { at: number, want?: string, got?: string } }

function diff (peer: string, pattern: string, want: string[], got: string[]): Mismatch | undefined {
  if (want.length === got.length && want.every((w, i) => w === got[i])) return undefined
  let at = 0
  while (at < want.length && at < got.length && want[at] === got[at]) at++
  return { peer, pattern, want: want.length, got: got.length, firstDiff: { at, want: want[at], got: got[at] } }
}

/**
 * Every pattern at every peer: the peers concurrently, `parallel` patterns at
 * a time. The mismatches, [] when all exact; slow patterns are logged.
 */
async function differential (peers: Peer[], patterns: string[], parallel = 2): Promise<Mismatch[]> {
  const bad: Mismatch[] = []
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < patterns.length) {
      const pattern = patterns[next++]
      const want = await oracleAnswers(pattern)
      const t = Date.now()
      const got = await Promise.all(peers.map(async (p) => await searchAll(p, pattern).catch((err: Error) => err)))
      if (Date.now() - t > 5000) log(`slow: ${pattern} (${want.length} answers) took ${((Date.now() - t) / 1000).toFixed(1)} s at ${peers.length} peers`)
      got.forEach((g, i) => {
        const m = g instanceof Error ? { peer: peers[i].name, pattern, want: want.length, got: `error: ${g.message}` } : diff(peers[i].name, pattern, want, g)
        if (m !== undefined) bad.push(m)
      })
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return bad
}

/** Up to n patterns whose oracle answers number from 1 to maxAnswers (spread over the suite). */
async function pickPatterns (n: number, maxAnswers: number, offset = 0): Promise<string[]> {
  const fit: string[] = []
  for (const p of ENGINE_SUITE) {
    const k = (await oracleAnswers(p)).length
    if (k >= 1 && k <= maxAnswers) fit.push(p)
  }
  const out: string[] = []
  for (let i = 0; i < fit.length && out.length < n; i++) out.push(fit[(i + offset) % fit.length])
  return out
}

const running = (): Peer[] => cluster.peers.filter((p) => p.alive)
const indexPeers = (): Peer[] => [publisher, ...mirrors].filter((p) => p.alive)

describe('distributed index: 1 publisher + 4 mirrors + 1 client, one process each', () => {
  let failed = false

  beforeAll(async () => {
    await cluster.init()
    // A fixed port for the publisher so restarted peers find it at the same bootstrap address.
    const port = await freePort()
    publisher = cluster.peer('publisher', 'publisher', { listen: [`/ip4/127.0.0.1/tcp/${port}`] })
    const importing = (async () => {
      await mkdir(join(cluster.root, 'oracle'), { recursive: true })
      oracle = await EmbeddedIndex.open({ path: join(cluster.root, 'oracle') })
      await oracle.import(readUnits([R3]), { release: 'bookworm-security', date: TODAY })
    })()
    try {
      await publisher.start()
      log(`publisher up: ${publisher.multiaddrs.join(' ')}`)
      const net = { bootstrap: publisher.multiaddrs, publisherKey: cluster.publisherKeyFile }
      mirrors = [0, 1, 2, 3].map((i) => cluster.peer(`mirror${i}`, 'mirror', net))
      client = cluster.peer('client', 'client', net)
      await Promise.all([...mirrors, client].map(async (p) => await p.start()))
      log(`mirrors and client up: ${cluster.peers.map((p) => `${p.name}=${p.peerId}`).join(' ')}`)
      for (const m of mirrors) await cluster.admit(m)
      await cluster.waitMembers([publisher, ...mirrors], 60_000)
      log('every peer lists the 5 index peers')
      const summary = await publishRelease(publisher, 'bookworm-security', [R3])
      expect(summary).toMatchObject({ release: 'bookworm-security', units: 3028, rejected: 0 })
      log(`R3 published: ${JSON.stringify(summary)}`)
      await cluster.waitCatalog(1, 60_000)
      log('catalog 1 at every peer')
    } catch (err) {
      failed = true
      throw err
    } finally {
      await importing
    }
  })

  afterAll(async () => {
    if (failed || process.env.EDOS_E2E_LOGS === '1') process.stderr.write(cluster.logs() + '\n')
    await cluster.cleanup()
    await oracle?.close()
  })

  /** Marks the run failed so afterAll prints the peers' logs. */
  function tracked (name: string, fn: () => Promise<void>, timeout?: number): void {
    it(name, async () => { try { await fn() } catch (err) { failed = true; throw err } }, timeout)
  }

  tracked('every differential pattern answers exactly as a local EmbeddedIndex, at every mirror and through the client', async () => {
    for (const p of cluster.peers) {
      const s = await indexState(p)
      expect({ peer: p.name, catalogSeq: s.catalogSeq, documents: s.documents, members: s.members.length }).toEqual({ peer: p.name, catalogSeq: 1, documents: 3029, members: 5 })
    }
    // Every index peer holds a share; the client holds nothing.
    for (const m of [publisher, ...mirrors]) expect((await indexState(m)).held?.postings ?? 0).toBeGreaterThan(0)
    expect((await indexState(client)).held).toBeNull()
    const t = Date.now()
    const askers = [...mirrors, client]
    const bad = await differential(askers, ENGINE_SUITE)
    log(`differential: ${ENGINE_SUITE.length} patterns x ${askers.length} peers in ${((Date.now() - t) / 1000).toFixed(1)} s`)
    expect(bad).toEqual([])
  })

  tracked('SIGKILL of a mirror in the middle of queries: every answer still exact (failover), later queries too', async () => {
    const victim = mirrors[0]
    expect((await indexState(victim)).held?.postings ?? 0).toBeGreaterThan(0)
    const askers = [publisher, mirrors[1], mirrors[2], mirrors[3], client]
    // Fresh cache keys (a trailing space parses the same): the peers must evaluate over the network again.
    const batch = (await pickPatterns(10, 3100)).map((p) => p + ' ')
    for (const p of batch) await oracleAnswers(p)
    let killedAt = 0
    const finishedAt: number[] = []
    const runs = batch.flatMap((pattern) => askers.map(async (peer) => {
      const got = await searchAll(peer, pattern).catch((err: Error) => err)
      finishedAt.push(Date.now())
      return { peer, pattern, got }
    }))
    await sleep(400)
    killedAt = Date.now()
    await victim.kill('SIGKILL')
    log(`${victim.name} SIGKILLed while ${runs.length} searches ran`)
    const results = await Promise.all(runs)
    const afterKill = finishedAt.filter((t) => t > killedAt).length
    log(`${afterKill} of ${runs.length} searches finished after the kill`)
    expect(afterKill).toBeGreaterThan(0)
    const bad: Mismatch[] = []
    for (const r of results) {
      const want = await oracleAnswers(r.pattern)
      const m = r.got instanceof Error ? { peer: r.peer.name, pattern: r.pattern, want: want.length, got: `error: ${r.got.message}` } : diff(r.peer.name, r.pattern, want, r.got)
      if (m !== undefined) bad.push(m)
    }
    expect(bad).toEqual([])
    // Later queries, while the dead mirror may still be in the views (failover), then once it left them.
    const later = (await pickPatterns(6, 3100, 20)).map((p) => p + '  ')
    expect(await differential(askers, later)).toEqual([])
    await cluster.waitMembers(indexPeers(), 60_000)
    log(`${victim.name} left every view`)
    expect(await differential(askers, later.map((p) => p + ' '))).toEqual([])
  })

  tracked('SIGKILL of a mirror in the middle of a publish: it completes or fails with a named code; re-running it reaches the same end state', async () => {
    const victim = mirrors[1]
    expect(victim.alive).toBe(true)
    let attempts = 0
    let summary: Awaited<ReturnType<typeof publishRelease>> | undefined
    const errors: string[] = []
    for (; attempts < 4 && summary === undefined;) {
      attempts++
      const publishing = publishRelease(publisher, 'bookworm-updates', [UPDATES], 240_000).catch((err: Error) => err)
      if (attempts === 1) {
        await sleep(250)
        await victim.kill('SIGKILL')
        log(`${victim.name} SIGKILLed while publishing bookworm-updates`)
      }
      const r = await publishing
      if (r instanceof Error) {
        const code = r instanceof GraphQLError ? r.code : undefined
        errors.push(`${code ?? 'no code'}: ${r.message}`)
        log(`publish attempt ${attempts} failed: ${r.message}`)
        // Loud: a GraphQL error with a code that says what happened (not a masked internal error).
        expect(r).toBeInstanceOf(GraphQLError)
        expect.soft(code, `publish failure should carry a named code, got: ${r.message}`).not.toBe('INTERNAL_SERVER_ERROR')
        // Re-run once the dead mirror left the views.
        await cluster.waitMembers(indexPeers(), 60_000)
      } else {
        summary = r
        log(`publish attempt ${attempts} completed: ${JSON.stringify(r)}`)
      }
    }
    expect(summary, `publish never completed: ${errors.join(' | ')}`).toMatchObject({ release: 'bookworm-updates', units: 38, rejected: 0 })
    // Each attempt committed locally before it disseminated: the oracle imports the file as often.
    for (let i = 0; i < attempts; i++) await oracle.import(readUnits([UPDATES]), { release: 'bookworm-updates', date: TODAY })
    expected = new Map()
    await cluster.waitCatalog(2, 60_000)
    const docs = (await indexState(publisher)).documents
    expect(docs).toBe(oracle.store.documentCount)
    const patterns = [...await pickPatterns(10, 1000, 7), '/release/@name', '//release//package[@name = "tzdata"]/@version', '//package[name = "tzdata"]/version']
    expect(await differential(running(), patterns)).toEqual([])
  })

  tracked('every peer restarted on its folder: the index is intact', async () => {
    await Promise.all(running().map(async (p) => { await p.kill('SIGTERM', 60_000) }))
    log('every peer stopped')
    await publisher.start()
    await Promise.all([...mirrors, client].map(async (p) => await p.start()))
    log('every peer restarted')
    await cluster.waitMembers([publisher, ...mirrors], 90_000)
    await cluster.waitCatalog(2, 60_000)
    // Repair brings the mirrors that were down during the last publish up to date: wait until every
    // index peer finished a pass since its restart (lastRun set) and none runs.
    let repairs = ''
    await waitFor('a finished repair pass at every index peer', async () => {
      const states = await Promise.all([publisher, ...mirrors].map(async (p) => await indexState(p, 10_000)))
      repairs = states.map((s, i) => `${[publisher, ...mirrors][i].name}: ${JSON.stringify(s.repair)}`).join('; ')
      return states.every((s) => s.repair !== null && s.repair.running === false && s.repair.lastRun !== null)
    }, 90_000, 1000).catch((err: Error) => { throw new Error(`${err.message}; repair states: ${repairs}`) })
    log(`repair: ${repairs}`)
    log('membership, catalog and repair settled')
    const patterns = [...await pickPatterns(18, 1000, 3), '/release/@name', '//package[name = "tzdata"]/version']
    expect(await differential(cluster.peers, patterns)).toEqual([])
  })

  tracked('a client cannot write postings: forged, unauthorised and replayed writes are refused and change nothing', async () => {
    const target = mirrors[2]
    const before = await indexState(target)
    expect(before.indexPeer).toBe(true)
    const probe = ['//package[section = "libs"]/name', '//dep[@version > 2.30]/@name']
    const answersBefore = await Promise.all(probe.map(async (p) => await searchAll(target, p)))
    let host: PeerHost | undefined
    try {
      host = await createPeerHost({ data: join(cluster.root, 'rogue-client'), role: 'client', bootstrap: target.multiaddrs })
      const postings = new PostingBuffer(1)
      postings.push(1, 1, 2, 1)
      const write: ShardWrite = { chunks: [{ term: 'w:forged', range: 0, firstDoc: 1, postings }], heads: [{ term: 'w:forged', range: 0, firstDoc: 1, postings: 1, docs: 1, lastDoc: 1 }] }
      const { header, parts } = encodeWrite(write)

      // (a) an append signed with the client's own key
      const forged = await signEnvelope(host.privateKey, KIND_BATCH, { ...header, ...deliveryFields(target.peerId) }, parts)
      await expect(callRpc(host.libp2p, target.peerId, POSTINGS_PROTOCOL, { op: 'append', envelope: forged }, parts)).rejects.toMatchObject({ name: 'BadSignatureError', code: 'ERR_BAD_SIGNATURE' })

      // (b) a replicate frame: only index peers may replicate
      const frame = IndexServer.replicateFrame(write)
      await expect(callRpc(host.libp2p, target.peerId, POSTINGS_PROTOCOL, frame.header, frame.parts)).rejects.toMatchObject({ name: 'NotAuthorizedError', code: 'ERR_NOT_AUTHORIZED' })

      // (c) an append the publisher did sign (an empty batch: harmless), sent twice: the second is a replay
      const publisherKey = await loadOrCreatePrivateKey(join(publisher.data, 'peer-key'))
      const empty = encodeWrite({})
      const signed = await signEnvelope(publisherKey, KIND_BATCH, { ...empty.header, ...deliveryFields(target.peerId) }, empty.parts)
      const first = await callRpc(host.libp2p, target.peerId, POSTINGS_PROTOCOL, { op: 'append', envelope: signed }, empty.parts)
      expect(first.header.ok).toBe(true)
      await expect(callRpc(host.libp2p, target.peerId, POSTINGS_PROTOCOL, { op: 'append', envelope: signed }, empty.parts)).rejects.toMatchObject({ name: 'ReplayError', code: 'ERR_REPLAYED' })
    } finally {
      await host?.stop()
    }
    const after = await indexState(target)
    expect(after.refused - before.refused).toBe(3)
    expect(after.held).toEqual(before.held)
    const answersAfter = await Promise.all(probe.map(async (p) => await searchAll(target, p)))
    // Unchanged at this mirror (whether they equal the oracle after the restarts is the previous test's concern).
    expect(answersAfter).toEqual(answersBefore)
  })
})
