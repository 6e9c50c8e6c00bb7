/**
 * `npm run bench -- dht [--mirrors N] [--small]`: the distributed index on
 * loopback, every peer its own process.
 *   1. R1 imported by one embedded peer (in this process): the baseline.
 *   2. A publisher and N mirrors (default 8) start; the mirrors are
 *      admitted; R1 is published into them: total time vs the baseline
 *      (target <= 3x) and each index peer's share of postings (balance).
 *   3. Once the peers have settled (their CPU back near idle: a publish
 *      leaves compactions and repair running), the engine's query suite
 *      through a client, with and without
 *      semi-join reducers: engine time p50/p95 and bytes moved per query
 *      against the answer + plan (target: selective p50 <= 25 ms, bytes
 *      <= 4x the answer + plan), and cold at a client that opens a new
 *      stream per request (EDOS_DHT_KEEP_STREAMS=off: the baseline of kept
 *      streams).
 *   4. KadoP's own metrics: index latency (publish -> visible at a client)
 *      and time to first answer at a client that just started.
 *   5. With every peer stopped, the one-peer import once more: the host's
 *      speed drifts by a third within minutes here, so the publish is also
 *      put against the mean of the imports before and after it.
 * --small uses the test fixture slice instead of R1 (a quick check).
 * --publish-only stops after step 2 (the publish figures and the CPU
 * seconds every peer process spent during the publish). The publish
 * starts once the peers have settled after their start (as mirrors that
 * have been running); --publish-at-start starts it as soon as every peer
 * sees the others (the bench's way until 2026-11-27).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EmbeddedIndex } from '../src/xml-twig-index/embedded.ts'
import { readUnits } from '../src/xml-twig-index/importers/index.ts'
import { encodePostingList } from '../src/dht/wire.ts'
import { ROOT, percentile, printTable, writeResults } from './common.ts'
import { R1_FILES, R1_TRANSLATIONS } from './index-bench.ts'
import { gql, processUsage, startPeer, stopAll, waitFor, type BenchPeer } from './peers.ts'
import { PATTERNS } from './query-bench.ts'

const FIXTURES = join(ROOT, 'test', 'fixtures')
const SMALL = { files: [join(FIXTURES, 'bookworm-slice.Packages.xz')], translations: [join(FIXTURES, 'bookworm-slice.Translation-en.xz')] }

interface PublishTimes { importSeconds: number, indexSeconds: number, contentSeconds: number, notifySeconds: number, totalSeconds: number }
interface NetworkInfo { network: { index: { catalogSeq: number, members: Array<{ peerId: string, role: string, held: { postings: number, heads: number, blocks: number, docs: number } | null }> } } }
interface ExplainResult { explain: { answers: number, ms: { total: number }, network: { bytes: number, requests: Array<{ op: string, bytes: number, inlineBytes: number, peer: string }> } | null } }

/**
 * The publish and the query suite start once every peer together uses less than this many cores, or after SETTLE_MAX_MS.
 * Their idle upkeep is ~0.13-0.17 cores with 8 mirrors (30 s measured a minute after start, session 22; ~0.35 before
 * the peers' GC flags); right after start they settle for a while above it (kad-dht's routing table, connections, a
 * client still compiling), and a publish begun then competes with that (0.6, the earlier bound, let it).
 */
const SETTLED_CORES = 0.3
const SETTLE_MAX_MS = 120_000

const EXPLAIN = `query($p: String!) { explain(pattern: $p) { answers ms { total } network { bytes requests { op bytes inlineBytes peer } } } }`

/** Waits until every peer together uses less than SETTLED_CORES (2 s samples), at most SETTLE_MAX_MS: how long it took, and the cores then. */
async function settled (cpuOfAll: () => Promise<number>): Promise<{ ms: number, cores: number }> {
  const t0 = performance.now()
  let cores = Infinity
  while (performance.now() - t0 < SETTLE_MAX_MS) {
    const c0 = await cpuOfAll()
    await new Promise((resolve) => setTimeout(resolve, 2000))
    cores = (await cpuOfAll() - c0) / 2
    if (cores < SETTLED_CORES) break
  }
  return { ms: performance.now() - t0, cores }
}

export async function run (args: string[]): Promise<void> {
  const small = args.includes('--small')
  const publishOnly = args.includes('--publish-only')
  const publishAtStart = args.includes('--publish-at-start')
  const mi = args.indexOf('--mirrors')
  const mirrorsN = mi >= 0 ? Number(args[mi + 1]) : 8
  const input = small ? SMALL : { files: R1_FILES, translations: R1_TRANSLATIONS }
  const dir = await mkdtemp(join(tmpdir(), 'edos-dht-bench-'))
  const peers: BenchPeer[] = []
  try {
    // 1. The baseline: one embedded peer imports R1.
    const local = await EmbeddedIndex.open({ path: join(dir, 'baseline') })
    const b0 = performance.now()
    const base = await local.import(readUnits(input.files, { translations: input.translations }), { release: 'bookworm', date: '2026-11-25' })
    const baselineSeconds = (performance.now() - b0) / 1000
    process.stderr.write(`baseline: ${base.units} units in ${baselineSeconds.toFixed(1)} s\n`)

    // 2. Publisher + mirrors + two clients.
    const pub = await startPeer('publisher', join(dir, 'pub'), ['--role', 'publisher'])
    peers.push(pub)
    const key = join(dir, 'pub', 'publisher-key')
    const joinArgs = (role: string): string[] => ['--role', role, '--bootstrap', pub.multiaddr, '--publisher-key', key]
    const mirrors = await Promise.all(Array.from({ length: mirrorsN }, async (_, i) => await startPeer(`mirror${i}`, join(dir, `m${i}`), joinArgs('mirror'))))
    peers.push(...mirrors)
    for (const m of mirrors) await gql(pub, 'mutation($id: String!) { admitMirror(peerId: $id) { expires } }', { id: m.id })
    const client = await startPeer('client', join(dir, 'client'), joinArgs('client'))
    const plain = await startPeer('client-no-reducers', join(dir, 'client2'), joinArgs('client'), { EDOS_DHT_REDUCERS: 'off' })
    // The baseline of kept streams: a client that opens a new stream per request.
    const unkept = await startPeer('client-new-streams', join(dir, 'client4'), joinArgs('client'), { EDOS_DHT_KEEP_STREAMS: 'off' })
    peers.push(client, plain, unkept)
    const everyone = [pub, ...mirrors, client, plain, unkept]
    await waitFor(`${mirrorsN + 1} index peers everywhere`, async () => {
      const views = await Promise.all(everyone.map(async (p) => await gql<NetworkInfo>(p, '{ network { index { catalogSeq members { peerId role held { postings heads blocks docs } } } } }')))
      return views.every((v) => v.network.index.members.length === mirrorsN + 1)
    }, 120_000)

    // Mirrors run for days before a release comes: the publish starts once the peers have settled after their own start (kad-dht
    // filling its routing table, the peer store, connections: ~1.9 cores for ~30 s with 8 mirrors), unless --publish-at-start.
    const cpuOfAll = async (): Promise<number> => (await Promise.all(everyone.map(async (p) => (await processUsage(p.child.pid as number)).cpuSeconds))).reduce((a, b) => a + b, 0)
    const startSettled = publishAtStart ? { ms: 0, cores: NaN } : await settled(cpuOfAll)
    if (!publishAtStart) process.stderr.write(`peers settled after their start in ${(startSettled.ms / 1000).toFixed(1)} s (${startSettled.cores.toFixed(2)} cores busy across every peer)\n`)
    const cpu0 = await Promise.all(everyone.map(async (p) => (await processUsage(p.child.pid as number)).cpuSeconds))
    const p0 = performance.now()
    const summary = await gql<{ publishRelease: { summary: { units: number, postings: number, times: PublishTimes } } }>(pub,
      'mutation($i: PublishReleaseInput!) { publishRelease(input: $i) { summary { units postings times { importSeconds indexSeconds contentSeconds notifySeconds totalSeconds } } } }',
      { i: { name: 'bookworm', format: 'DEBIAN', paths: input.files, translationPaths: input.translations } }, 3_600_000)
    const publishSeconds = (performance.now() - p0) / 1000
    // CPU the peers spent during the publish (the machine has 2 cores shared by every peer: the figure the wall time follows when it is busy).
    const cpu1 = await Promise.all(everyone.map(async (p) => (await processUsage(p.child.pid as number)).cpuSeconds))
    const publishCpu = { publisher: cpu1[0] - cpu0[0], mirrors: cpu1.slice(1, 1 + mirrorsN).reduce((n, c, i) => n + c - cpu0[1 + i], 0), all: cpu1.reduce((n, c, i) => n + c - cpu0[i], 0) }
    process.stderr.write(`publish CPU s: publisher ${publishCpu.publisher.toFixed(2)}, mirrors ${publishCpu.mirrors.toFixed(2)}, every peer ${publishCpu.all.toFixed(2)}\n`)
    const lagMs = await waitFor('the catalog at the client', async () => (await gql<NetworkInfo>(client, '{ network { index { catalogSeq members { peerId role held { postings heads blocks docs } } } } }')).network.index.catalogSeq >= 1, 60_000)
    const times = summary.publishRelease.summary.times
    process.stderr.write(`published ${summary.publishRelease.summary.units} units into ${mirrorsN} mirrors in ${publishSeconds.toFixed(1)} s (import ${times.importSeconds.toFixed(1)}, index ${times.indexSeconds.toFixed(1)}, notify ${times.notifySeconds.toFixed(1)})\n`)
    // A busy publish can drop index peers from a view (late announcements, failed probes): the figures below are taken with the whole view back, and how long that took is reported (-1: not within 60 s).
    const viewWholeMs = await waitFor('every index peer in the client\'s view', async () => (await gql<NetworkInfo>(client, '{ network { index { catalogSeq members { peerId role held { postings heads blocks docs } } } } }')).network.index.members.length === mirrorsN + 1, 60_000).catch(() => -1)
    process.stderr.write(`client's view whole again ${viewWholeMs.toFixed(0)} ms after the catalog\n`)
    // Announcements carry what each peer holds: wait one period so they are fresh.
    await new Promise((resolve) => setTimeout(resolve, 4500))
    const view = await gql<NetworkInfo>(client, '{ network { index { catalogSeq members { peerId role held { postings heads blocks docs } } } } }')
    const held = view.network.index.members.map((m) => ({ peer: m.peerId.slice(-8), role: m.role, postings: m.held?.postings ?? 0, heads: m.held?.heads ?? 0, blocks: m.held?.blocks ?? 0, docs: m.held?.docs ?? 0 }))
    const totalHeld = held.reduce((n, h) => n + h.postings, 0)
    const shares = held.map((h) => h.postings / totalHeld)
    const ideal = 1 / held.length
    const usage = await Promise.all(everyone.map(async (p) => ({ peer: p.name, ...(await processUsage(p.child.pid as number)) })))
    if (publishOnly) {
      printTable([
        { what: 'units published', value: summary.publishRelease.summary.units },
        { what: 'mirrors', value: mirrorsN },
        { what: 'one-peer import s (baseline)', value: baselineSeconds },
        { what: `publish into ${mirrorsN} mirrors s`, value: publishSeconds },
        { what: 'ratio (target <= 3)', value: publishSeconds / baselineSeconds },
        { what: 'publish started: s after the peers started / cores busy then', value: publishAtStart ? 'at once (--publish-at-start)' : `${(startSettled.ms / 1000).toFixed(1)} / ${startSettled.cores.toFixed(2)}` },
        { what: 'publish steps s: import / index / notify', value: `${times.importSeconds.toFixed(1)} / ${times.indexSeconds.toFixed(1)} / ${times.notifySeconds.toFixed(1)}` },
        { what: 'CPU s during the publish: publisher / mirrors / every peer', value: `${publishCpu.publisher.toFixed(2)} / ${publishCpu.mirrors.toFixed(2)} / ${publishCpu.all.toFixed(2)}` },
        { what: 'postings share min/max vs ideal', value: `${(Math.min(...shares) / ideal).toFixed(2)} / ${(Math.max(...shares) / ideal).toFixed(2)}` }
      ])
      const file = await writeResults('dht-publish', { units: summary.publishRelease.summary.units, mirrors: mirrorsN, baselineSeconds, publishSeconds, ratio: publishSeconds / baselineSeconds, publishAtStart, startSettled, publishTimes: times, publishCpu, held, usageAfterPublish: usage, small })
      process.stdout.write(`\nwrote ${file}\n`)
      await local.close()
      return
    }

    // 3. The query suite through the two clients (warm: one untimed run first), once the peers have settled: after a publish the index
    // peers compact their LevelDB stores and repair runs, and cold query times taken during that varied 2-5x between runs of the same code.
    const { ms: settleMs, cores: quietCores } = await settled(cpuOfAll)
    process.stderr.write(`peers settled after ${(settleMs / 1000).toFixed(1)} s (${quietCores.toFixed(2)} cores busy across every peer)\n`)
    const queryCpu0 = await cpuOfAll()
    const queryT0 = performance.now()
    const rows: Array<Record<string, string | number>> = []
    const queryFigures: Array<Record<string, unknown>> = []
    for (const q of PATTERNS) {
      const local1 = await local.engine.answers(q.pattern)
      const answerBytes = encodePostingList(local1.nodes).length
      const measure = async (p: BenchPeer): Promise<{ ms: number[], bytes: number, planBytes: number, answers: number, wallMs: number[], evalMs: number[] }> => {
        await gql<ExplainResult>(p, EXPLAIN, { p: q.pattern })
        const ms: number[] = []
        const wallMs: number[] = []
        const evalMs: number[] = []
        let bytes = 0; let planBytes = 0; let answers = 0
        for (let i = 0; i < 5; i++) {
          const e = (await gql<ExplainResult>(p, EXPLAIN, { p: q.pattern })).explain
          ms.push(e.ms.total); bytes = e.network?.bytes ?? 0; answers = e.answers
          // the plan is what heads say of the lists; postings that came inline with them are list data
          planBytes = (e.network?.requests ?? []).filter((r) => r.op === 'heads' || r.op === 'terms').reduce((n, r) => n + r.bytes - r.inlineBytes, 0)
          const t = performance.now()
          await gql(p, 'query($p: String!) { search(pattern: $p, first: 20) { totalCount edges { node { doc } } } }', { p: q.pattern })
          wallMs.push(performance.now() - t)
          // The same question spelled anew (trailing spaces): the peer keeps no answers for it, so it evaluates again over the network, with its per-catalog caches (heads, small blocks, documents) warm.
          const t2 = performance.now()
          await gql(p, 'query($p: String!) { search(pattern: $p, first: 20) { totalCount edges { node { doc } } } }', { p: q.pattern + ' '.repeat(i + 1 + (p === plain ? 10 : 0)) })
          evalMs.push(performance.now() - t2)
        }
        return { ms, bytes, planBytes, answers, wallMs, evalMs }
      }
      const withR = await measure(client)
      const without = await measure(plain)
      // Cold engine time only (explain), at the client that opens a stream per request.
      await gql<ExplainResult>(unkept, EXPLAIN, { p: q.pattern })
      const unkeptMs: number[] = []
      for (let i = 0; i < 5; i++) unkeptMs.push((await gql<ExplainResult>(unkept, EXPLAIN, { p: q.pattern })).explain.ms.total)
      if (withR.answers !== local1.nodes.length) throw new Error(`${q.pattern}: ${withR.answers} answers through the network, ${local1.nodes.length} locally`)
      const row = {
        pattern: q.pattern.length > 60 ? q.pattern.slice(0, 57) + '...' : q.pattern,
        kind: q.kind,
        answers: withR.answers,
        'p50 ms': percentile(withR.ms, 50),
        'no-red ms': percentile(without.ms, 50),
        'new-stream ms': percentile(unkeptMs, 50),
        'search ms': percentile(withR.wallMs, 50),
        're-eval ms': percentile(withR.evalMs, 50),
        KiB: withR.bytes / 1024,
        'no-red KiB': without.bytes / 1024,
        'x(ans+plan)': withR.bytes / Math.max(1, answerBytes + withR.planBytes)
      }
      rows.push(row)
      queryFigures.push({ pattern: q.pattern, kind: q.kind, answers: withR.answers, engineMs: withR.ms, engineMsNoReducers: without.ms, engineMsNewStreams: unkeptMs, searchMs: withR.wallMs, reevaluatedSearchMs: withR.evalMs, bytes: withR.bytes, bytesNoReducers: without.bytes, answerBytes, planBytes: withR.planBytes })
    }

    const queryPhaseCores = (await cpuOfAll() - queryCpu0) / ((performance.now() - queryT0) / 1000)

    // 4. Index latency (a small publish -> visible at the client) and time to first answer at a new client.
    const s0 = performance.now()
    await gql(pub, 'mutation($i: PublishReleaseInput!) { publishRelease(input: $i) { summary { units } } }',
      { i: { name: 'bookworm-updates', format: 'DEBIAN', paths: [join(FIXTURES, 'bookworm-updates.Packages.xz')] } })
    const smallPublishMs = performance.now() - s0
    const visibleMs = await waitFor('the update visible at the client', async () => {
      const r = await gql<{ search: { totalCount: number } }>(client, '{ search(pattern: "//release[@name = \\"bookworm-updates\\"]", first: 1) { totalCount } }')
      return r.search.totalCount > 0
    }, 60_000) + smallPublishMs
    const c0 = performance.now()
    const fresh = await startPeer('fresh-client', join(dir, 'client3'), joinArgs('client'))
    peers.push(fresh)
    const startMs = performance.now() - c0
    let firstAnswerMs = 0
    const ttfa = await waitFor('a first answer at a new client', async () => {
      const t = performance.now()
      const r = await gql<{ search: { totalCount: number } }>(fresh, '{ search(pattern: "//package[section = \\"python\\"]/name", first: 1) { totalCount } }')
      firstAnswerMs = performance.now() - t
      return r.search.totalCount > 0
    }, 60_000)

    const selective = rows.filter((r) => r.kind === 'selective').map((r) => r['p50 ms'] as number)
    const selectiveUnkept = rows.filter((r) => r.kind === 'selective').map((r) => r['new-stream ms'] as number)
    const selectiveEval = rows.filter((r) => r.kind === 'selective').map((r) => r['re-eval ms'] as number)
    const ratio = publishSeconds / baselineSeconds
    // 5. The baseline again, on the machine as the first one had it (no peer running).
    await stopAll(peers)
    const after = await EmbeddedIndex.open({ path: join(dir, 'baseline-after') })
    const a0 = performance.now()
    await after.import(readUnits(input.files, { translations: input.translations }), { release: 'bookworm', date: '2026-11-25' })
    const baselineAfterSeconds = (performance.now() - a0) / 1000
    await after.close()
    process.stderr.write(`baseline again, every peer stopped: ${baselineAfterSeconds.toFixed(1)} s\n`)
    const ratioBracketed = publishSeconds / ((baselineSeconds + baselineAfterSeconds) / 2)
    printTable([
      { what: 'units published', value: summary.publishRelease.summary.units },
      { what: 'mirrors', value: mirrorsN },
      { what: 'one-peer import s (baseline)', value: baselineSeconds },
      { what: `publish into ${mirrorsN} mirrors s`, value: publishSeconds },
      { what: 'ratio (target <= 3)', value: ratio },
      { what: 'one-peer import s once more, after (every peer stopped)', value: baselineAfterSeconds },
      { what: 'ratio to the mean of both imports (host drift)', value: ratioBracketed },
      { what: 'publish started: s after the peers started / cores busy then', value: publishAtStart ? 'at once (--publish-at-start)' : `${(startSettled.ms / 1000).toFixed(1)} / ${startSettled.cores.toFixed(2)}` },
      { what: 'CPU s during the publish: publisher / mirrors / every peer', value: `${publishCpu.publisher.toFixed(2)} / ${publishCpu.mirrors.toFixed(2)} / ${publishCpu.all.toFixed(2)}` },
      { what: 'publish steps s: import / index / notify', value: `${times.importSeconds.toFixed(1)} / ${times.indexSeconds.toFixed(1)} / ${times.notifySeconds.toFixed(1)}` },
      { what: 'catalog visible at a client after publish ms', value: lagMs },
      { what: 'every index peer in the client\'s view again after the catalog ms (-1: not in 60 s)', value: viewWholeMs },
      { what: 'postings share min/max vs ideal', value: `${(Math.min(...shares) / ideal).toFixed(2)} / ${(Math.max(...shares) / ideal).toFixed(2)}` },
      { what: `peers settled before the queries: s waited / cores busy then (every peer; settled under ${SETTLED_CORES})`, value: `${(settleMs / 1000).toFixed(1)} / ${quietCores.toFixed(2)}` },
      { what: 'cores busy across every peer during the query suite', value: queryPhaseCores },
      { what: 'selective p50 of p50s ms, cold (explain: every read over the network)', value: percentile(selective, 50) },
      { what: 'selective p95 of p50s ms', value: percentile(selective, 95) },
      { what: 'selective p50 / p95 of p50s ms, cold, a new stream per request (baseline)', value: `${percentile(selectiveUnkept, 50).toFixed(1)} / ${percentile(selectiveUnkept, 95).toFixed(1)}` },
      { what: 'selective search re-evaluated at a warm client (HTTP), p50 / p95 of p50s ms', value: `${percentile(selectiveEval, 50).toFixed(1)} / ${percentile(selectiveEval, 95).toFixed(1)}` },
      { what: 'index latency: small publish -> visible ms', value: visibleMs },
      { what: 'new client: start ms / first answer ms (cold search ms)', value: `${startMs.toFixed(0)} / ${(startMs + ttfa).toFixed(0)} (${firstAnswerMs.toFixed(0)})` }
    ])
    process.stdout.write('\n')
    printTable(held.map((h, i) => ({ ...h, share: shares[i] })))
    process.stdout.write('\n')
    printTable(rows)
    const file = await writeResults('dht', {
      units: summary.publishRelease.summary.units,
      mirrors: mirrorsN,
      baselineSeconds,
      publishSeconds,
      ratio,
      baselineAfterSeconds,
      ratioBracketed,
      publishAtStart,
      startSettled,
      publishTimes: times,
      publishCpu,
      catalogLagMs: lagMs,
      viewWholeMs,
      held,
      shareMinOverIdeal: Math.min(...shares) / ideal,
      shareMaxOverIdeal: Math.max(...shares) / ideal,
      usageAfterPublish: usage,
      settleMs,
      settledCores: quietCores,
      queryPhaseCores,
      selectiveP50Ms: percentile(selective, 50),
      selectiveP95Ms: percentile(selective, 95),
      selectiveNewStreamsP50Ms: percentile(selectiveUnkept, 50),
      selectiveNewStreamsP95Ms: percentile(selectiveUnkept, 95),
      selectiveReevaluatedP50Ms: percentile(selectiveEval, 50),
      selectiveReevaluatedP95Ms: percentile(selectiveEval, 95),
      indexLatencyMs: visibleMs,
      newClient: { startMs, firstAnswerMs: startMs + ttfa, coldSearchMs: firstAnswerMs },
      queries: queryFigures,
      small
    })
    process.stdout.write(`\nwrote ${file}\n`)
    await local.close()
  } finally {
    await stopAll(peers)
    await rm(dir, { recursive: true, force: true })
  }
}
