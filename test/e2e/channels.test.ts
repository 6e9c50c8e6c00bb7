/**
 * Channels across processes (the paper's R3 step on real data): a
 * publisher, 3 mirrors and a client peer, each `edos serve` in its own
 * process, plus two subscribers that are `edos subscribe` processes: one
 * over graphql-ws on a mirror, one on the client peer (which hears the
 * channel directly on gossipsub). R1
 * (the bookworm slice) is published, then channel `security` (filter: net
 * packages) is created with the CLI, then R3 (bookworm-security) is
 * published in four parts. Mid-stream the subscribed mirror is SIGKILLed
 * and the client peer stopped; a part is published while they are down;
 * both come back and fetch what they missed (the mirror from another
 * mirror). Every subscriber must print each notification exactly once, in
 * order, their units must be exactly R3's net packages, each signature must
 * verify with the publisher key, and every mirror's log must equal the
 * publisher's; a late reader resumes from another mirror with since.
 * Last, a forged notification is dropped and counted.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { EmbeddedIndex } from '../../src/xml-twig-index/embedded.ts'
import { readUnits } from '../../src/xml-twig-index/importers/index.ts'
import { openDecompressed } from '../../src/xml-twig-index/importers/decompress.ts'
import { createPeerHost } from '../../src/dht/index.ts'
import { readPublisherKey } from '../../src/dht/trust.ts'
import { signNotification, topicOf, verifyNotification, type ChannelNotification, type ChannelUnit } from '../../src/channels/index.ts'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { Cluster, EDOS, FIXTURES, ROOT, freePort, publishRelease, waitFor, type Peer } from './harness.ts'

const R1 = join(FIXTURES, 'bookworm-slice.Packages.xz')
const R3 = join(FIXTURES, 'bookworm-security.Packages.xz')
const FILTER = '//package[section = "net"]'
const PARTS = 4

const cluster = new Cluster()
let publisher: Peer
let mirrors: Peer[]
let client: Peer
let parts: string[]
let expectedUnits: string[]
const t0 = Date.now()
const log = (m: string): void => { process.stderr.write(`[e2e channels ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`) }

/** An `edos subscribe` process: its stdout lines parsed as they come. */
class Subscriber {
  readonly lines: Array<Record<string, unknown>> = []
  stderr = ''
  exit: Promise<number | null>
  readonly child: ChildProcess
  constructor (readonly name: string, args: string[]) {
    this.child = spawn(process.execPath, [EDOS, 'subscribe', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDOS_TOKEN: '' } })
    let buf = ''
    this.child.stdout!.on('data', (c) => {
      buf += String(c)
      let i: number
      while ((i = buf.indexOf('\n')) >= 0) { this.lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>); buf = buf.slice(i + 1) }
    })
    this.child.stderr!.on('data', (c) => { this.stderr += String(c) })
    this.exit = new Promise((resolve) => this.child.once('exit', (code) => { resolve(code) }))
  }

  get seqs (): number[] { return this.lines.map((l) => l.seq as number) }
  async until (seq: number, ms = 60_000): Promise<void> {
    await waitFor(`${this.name} at seq ${seq}`, () => this.seqs.at(-1) === seq || this.seqs.some((s) => s > seq) ? true : undefined, ms).catch((err: Error) => {
      throw new Error(`${err.message}; seqs ${JSON.stringify(this.seqs)}; stderr: ${this.stderr.slice(-1500)}`)
    })
  }

  kill (): void { this.child.kill('SIGKILL') }
}
const subscribers: Subscriber[] = []
const subscribe = (name: string, args: string[]): Subscriber => { const s = new Subscriber(name, args); subscribers.push(s); return s }

/** A notification as GraphQL prints it, back in the signed form (unit ids as `doc`, kinds upper-case, nulls for absent). */
function signedForm (l: Record<string, unknown>): ChannelNotification {
  const unit = (u: Record<string, unknown>): ChannelUnit => {
    const out: ChannelUnit = { kind: String(u.kind).toLowerCase() as ChannelUnit['kind'], id: u.doc as string, name: u.name as string, version: u.version as string }
    if (u.arch != null) out.arch = u.arch as string
    if (u.checksum != null) out.checksum = u.checksum as string
    return out
  }
  const units = (v: unknown): ChannelUnit[] => (v as Array<Record<string, unknown>>).map(unit)
  return { channel: l.channel as string, seq: l.seq as number, release: l.release as string, date: l.date as string, added: units(l.added), updated: units(l.updated), removed: units(l.removed), signature: l.signature as string }
}

async function lastSeq (p: Peer): Promise<number> {
  const d = await p.gql<{ channel: { lastSeq: number } | null }>('query { channel(name: "security") { lastSeq } }', {}, { timeoutMs: 10_000 })
  return d.channel?.lastSeq ?? -1
}

/** The first `count` notifications of `security` at a peer, over graphql-ws from this process. */
async function readLog (p: Peer, count: number, since = 0): Promise<Array<Record<string, unknown>>> {
  const ws = createClient({ url: p.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 })
  const out: Array<Record<string, unknown>> = []
  try {
    const it = ws.iterate<{ channel: Record<string, unknown> }>({ query: 'subscription ($since: Int!) { channel(name: "security", since: $since) { channel seq release date signature added { doc checksum } updated { doc checksum } removed { doc } } }', variables: { since } })
    for await (const r of it) {
      if (r.data?.channel == null) throw new Error(`${p.name}: ${JSON.stringify(r.errors)}`)
      out.push(r.data.channel)
      if (out.length >= count) break
    }
  } finally {
    await ws.dispose()
  }
  return out
}

async function cli (args: string[], token?: string): Promise<{ code: number | null, out: string, err: string }> {
  const child = spawn(process.execPath, [EDOS, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, EDOS_TOKEN: token ?? '' } })
  let out = ''
  let err = ''
  child.stdout.on('data', (c) => { out += String(c) })
  child.stderr.on('data', (c) => { err += String(c) })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  return { code, out, err }
}

describe('channels across processes (R3, real data)', () => {
  // Set until the setup ends well: a hook timeout skips the catch, and the logs are what explains it.
  let failed = true
  beforeAll(async () => {
    await cluster.init('edos-e2e-channels-')
    // R3 in four parts (stanza boundaries), and the oracle: R3's net packages.
    const chunks: Uint8Array[] = []
    for await (const c of (await openDecompressed(R3)).chunks) chunks.push(c)
    const text = new TextDecoder().decode(Buffer.concat(chunks))
    const stanzas = text.split(/\n\n+/).filter((s) => s.trim() !== '')
    parts = []
    for (let i = 0; i < PARTS; i++) {
      const file = join(cluster.root, `security-${i}.Packages`)
      await writeFile(file, stanzas.filter((_, j) => j % PARTS === i).join('\n\n') + '\n')
      parts.push(file)
    }
    const importing = (async () => {
      await mkdir(join(cluster.root, 'oracle'), { recursive: true })
      const oracle = await EmbeddedIndex.open({ path: join(cluster.root, 'oracle') })
      await oracle.import(readUnits([R3]), { release: 'bookworm-security', date: '2026-11-26' })
      const ids = new Set<string>()
      for (let after: string | undefined, i = 0; i < 100; i++) {
        const page = await oracle.query(FILTER, { first: 5000, after })
        for (const m of page.matches) ids.add(m.doc)
        if (!page.hasNextPage || page.endCursor === null) break
        after = page.endCursor
      }
      await oracle.close()
      expectedUnits = [...ids].sort()
    })()
    try {
      const ports = await Promise.all([0, 1, 2, 3, 4, 5, 6].map(async () => await freePort()))
      publisher = cluster.peer('publisher', 'publisher', { listen: [`/ip4/127.0.0.1/tcp/${ports[0]}`] })
      // Bounds for a loaded 2-core machine (every process compiles the sources at start).
      await publisher.start(180_000)
      const pubAddr = publisher.multiaddrs
      const mirrorAddr = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[1 + i]}`
      mirrors = [0, 1, 2].map((i) => cluster.peer(`mirror${i}`, 'mirror', {
        listen: [mirrorAddr(i)],
        // mirror0 (the one killed) knows the other mirrors: after a restart it asks them before the publisher.
        bootstrap: i === 0 ? [...pubAddr, `${mirrorAddr(1)}`, `${mirrorAddr(2)}`] : pubAddr,
        publisherKey: cluster.publisherKeyFile,
        http: i === 0 ? `127.0.0.1:${ports[4]}` : undefined
      }))
      client = cluster.peer('client', 'client', { listen: [`/ip4/127.0.0.1/tcp/${ports[5]}`], bootstrap: pubAddr, publisherKey: cluster.publisherKeyFile, http: `127.0.0.1:${ports[6]}` })
      // mirror0's dials to mirror1 and mirror2 may precede their listening now; its restart (below) finds them up.
      await Promise.all([...mirrors, client].map(async (p) => await p.start(180_000)))
      log(`peers up: ${cluster.peers.map((p) => `${p.name}=${p.peerId.slice(-8)}`).join(' ')}`)
      const r1 = await publishRelease(publisher, 'bookworm', [R1])
      log(`R1 published: ${r1.units} units`)
      const created = await cli(['channel', 'create', '--peer', publisher.url, 'security', '--filter', FILTER, '--description', 'security updates of network packages'], await publisher.token())
      expect(created, created.err).toMatchObject({ code: 0 })
      expect(JSON.parse(created.out)).toMatchObject({ name: 'security', filter: FILTER, lastSeq: 0, signature: expect.stringMatching(/^[A-Za-z0-9_-]{86}$/) })
      await waitFor('channel security at every mirror and the client', async () => (await Promise.all([...mirrors, client].map(lastSeq))).every((s) => s === 0), 30_000)
      log('channel security known everywhere')
      failed = false
    } finally {
      await importing
    }
  }, 400_000)

  afterAll(async () => {
    for (const s of subscribers) s.kill()
    if (failed) process.stderr.write(cluster.logs(3000) + '\n')
    await cluster.cleanup()
  }, 60_000)

  it('delivers R3\'s matching units exactly once, in order, across a mirror kill and an offline client', async () => {
    onTestFailed(() => { failed = true })
    const onMirror = subscribe('ws@mirror0', ['--peer', mirrors[0].url, 'security'])
    const onClient = subscribe('ws@client', ['--peer', client.url, 'security'])
    await new Promise((resolve) => setTimeout(resolve, 1500)) // the subscriptions are open before the first publish
    for (const i of [0, 1]) {
      const s = await publishRelease(publisher, 'bookworm-security', [parts[i]])
      log(`part ${i} published: ${s.units} units`)
    }
    await Promise.all([onMirror.until(2), onClient.until(2)])
    log('two notifications at both subscribers; killing mirror0 (SIGKILL) and stopping the client peer')
    await mirrors[0].kill('SIGKILL')
    await client.kill('SIGTERM')
    const s2 = await publishRelease(publisher, 'bookworm-security', [parts[2]])
    log(`part 2 published while they were down: ${s2.units} units`)
    await waitFor('#3 at mirror1 and mirror2', async () => (await Promise.all(mirrors.slice(1).map(lastSeq))).every((s) => s === 3), 30_000)
    await Promise.all([mirrors[0].start(180_000), client.start(180_000)])
    log('mirror0 and the client peer restarted')
    const s3 = await publishRelease(publisher, 'bookworm-security', [parts[3]])
    log(`part 3 published: ${s3.units} units`)
    const total = await lastSeq(publisher)
    expect(total).toBe(4)
    await Promise.all([onMirror.until(total, 90_000), onClient.until(total, 90_000)])
    log(`subscribers done: ${[onMirror, onClient].map((s) => `${s.name} ${JSON.stringify(s.seqs)}`).join(', ')}`)
    // Both subscribers lost their peer mid-stream and resubscribed with since = the last seq they printed.
    expect(onMirror.stderr).toMatch(/resubscribing since 2/)
    expect(onClient.stderr).toMatch(/resubscribing since 2/)

    const want = Array.from({ length: total }, (_, i) => i + 1)
    expect(onMirror.seqs).toEqual(want)
    expect(onClient.seqs).toEqual(want)
    // A subscriber that comes late resumes from any mirror with since.
    expect((await readLog(mirrors[1], total - 1, 1)).map((n) => n.seq)).toEqual(want.slice(1))
    // The restarted mirror got #3 from another mirror, not from the publisher.
    const others = new Set(mirrors.slice(1).map((m) => m.peerId))
    const fetched = [...mirrors[0].output.matchAll(/channels: security: fetched #(\d+)\.\.#(\d+) from (\S+)/g)]
    expect(fetched.length, mirrors[0].output.slice(-3000)).toBeGreaterThan(0)
    expect(fetched.every((m) => others.has(m[3])), JSON.stringify(fetched.map((m) => m[0]))).toBe(true)

    const publisherKey = await readPublisherKey(cluster.publisherKeyFile)
    for (const s of [onMirror, onClient]) {
      const units = s.lines.flatMap((l) => [...(l.added as Array<{ doc: string }>), ...(l.updated as Array<{ doc: string }>)].map((u) => u.doc))
      expect(units.length).toBe(new Set(units).size)
      expect(units.sort()).toEqual(expectedUnits)
      for (const l of s.lines) expect(verifyNotification(signedForm(l), publisherKey, 'security').seq).toBe(l.seq)
    }
    expect(expectedUnits.length).toBe(254)

    // Every mirror's log (and the client's) is the publisher's, byte for byte.
    const logs = await Promise.all([publisher, ...mirrors, client].map(async (p) => await readLog(p, total)))
    for (const l of logs.slice(1)) expect(l).toEqual(logs[0])
    expect(logs[0].map((n) => n.seq)).toEqual(want)
  }, 420_000)

  it('drops a forged notification (counted, never logged or delivered)', async () => {
    onTestFailed(() => { failed = true })
    const seq = await lastSeq(publisher)
    const watcher = subscribe('ws@mirror2', ['--peer', mirrors[2].url, 'security', '--since', String(seq)])
    const rogue = await createPeerHost({ data: join(cluster.root, 'rogue'), role: 'client', bootstrap: [...mirrors[1].multiaddrs, ...mirrors[2].multiaddrs] })
    try {
      const ps = rogue.libp2p.services.pubsub
      ps.subscribe(topicOf('security'))
      const targets = [mirrors[1], mirrors[2]]
      await waitFor('mirror1 and mirror2 seen on the topic by the rogue', () => targets.every((m) => ps.getSubscribers(topicOf('security')).some((p) => p.toString() === m.peerId)) ? true : undefined, 30_000)
      const refused = async (p: Peer): Promise<number> => (await p.gql<{ network: { channels: { refused: number } | null } }>('query { network { channels { refused } } }')).network.channels?.refused ?? 0
      // Each try is a new message (gossipsub drops a message id it saw); a forgery is never forwarded, so it is sent to both directly.
      for (let i = 0; i < 10; i++) {
        const forged = await signNotification(rogue.privateKey, { channel: 'security', seq: seq + 1, release: 'bookworm-security', date: new Date().toISOString(), added: [{ kind: 'package', id: 'pkg/evil/1.0/amd64', name: 'evil', version: '1.0', arch: 'amd64' }], updated: [], removed: [] })
        await ps.publish(topicOf('security'), new TextEncoder().encode(JSON.stringify(forged)))
        const ok = await waitFor('the forgery refused at mirror1 and mirror2', async () => (await refused(mirrors[1])) >= 1 && (await refused(mirrors[2])) >= 1 ? true : undefined, 5_000).catch(() => false)
        if (ok === true) break
      }
      for (const m of targets) expect(await refused(m)).toBeGreaterThanOrEqual(1)
      expect(mirrors[1].output + mirrors[2].output).toMatch(/channels: refused a message from .*signature does not verify/)
      await new Promise((resolve) => setTimeout(resolve, 1000))
      expect(watcher.lines).toEqual([])
      for (const p of [publisher, ...mirrors, client]) expect(await lastSeq(p)).toBe(seq)
    } finally {
      await rogue.stop()
      watcher.kill()
    }
  }, 150_000)
})
