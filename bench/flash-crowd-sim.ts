/**
 * The flash-crowd clustering at scale, without a network: R1 -> R2
 * (bookworm -> trixie) wish lists of many peers, clustered for several K.
 * Shows the time to cluster and the waste per K, and that the scheme scales
 * past what one machine can run as processes.
 *
 * Realistic overlap, from the real releases: a peer is interested in a
 * package with a probability that falls with the package's popularity rank
 * (Zipf, s = 0.8; required/important/standard packages first), with
 * the odds of its profile's sections (desktop, server, developer, science)
 * raised 4x, and wants half to twice 800 packages; it already holds an R1
 * unit of a package it is interested in with probability 1/2, and an R2
 * unit identical to an R1 unit it holds (same name, version, arch and
 * checksum) is not wanted again.
 */
import { join } from 'node:path'
import { openDecompressed } from '../src/xml-twig-index/importers/decompress.ts'
import { readStanzas } from '../src/xml-twig-index/importers/deb822.ts'
import { clusterWishLists, type ClusterUnit, type WishList } from '../src/torrents/flash-crowd/cluster.ts'
import { computeWishList, type HeldUnit, type ReleaseUnitInfo } from '../src/torrents/flash-crowd/wish-list.ts'
import { SHARED_DATA, printTable, writeResults } from './common.ts'
import { mulberry32 as random } from '../test/oracle/random-patterns.ts'

export const R1_PACKAGES = join(SHARED_DATA, 'debian-bookworm-main-amd64.Packages.xz')
export const R2_PACKAGES = join(SHARED_DATA, 'debian-trixie-main-amd64.Packages.xz')

export interface SimUnit extends ReleaseUnitInfo { section: string, priority: string }

/** Units of a Debian Packages file: id, identity, checksum, size, section, priority. */
export async function readReleaseUnits (file: string): Promise<SimUnit[]> {
  const out: SimUnit[] = []
  const { chunks } = await openDecompressed(file)
  for await (const batch of readStanzas(chunks, file)) {
    for (const s of batch) {
      const f = s.fields
      const name = f.get('package'); const version = f.get('version'); const arch = f.get('architecture')
      if (name === undefined || version === undefined) continue
      const sha = f.get('sha256')
      out.push({
        id: `pkg/${name}/${version}/${arch ?? ''}`,
        name,
        version,
        arch,
        checksum: sha === undefined ? undefined : `sha256:${sha}`,
        bytes: Number(f.get('size') ?? 0),
        section: (f.get('section') ?? 'misc').replace(/^.*\//, ''),
        priority: f.get('priority') ?? 'optional'
      })
    }
  }
  return out
}

const PROFILES: Array<{ name: string, sections: string[] }> = [
  { name: 'desktop', sections: ['gnome', 'kde', 'x11', 'graphics', 'sound', 'video', 'fonts', 'web'] },
  { name: 'server', sections: ['admin', 'net', 'httpd', 'database', 'mail', 'utils'] },
  { name: 'developer', sections: ['devel', 'libdevel', 'python', 'perl', 'rust', 'golang', 'javascript', 'vcs'] },
  { name: 'science', sections: ['science', 'math', 'gnu-r', 'electronics', 'python'] }
]
const PRIORITY_RANK: Record<string, number> = { required: 0, important: 1, standard: 2 }

export interface Population { wishes: WishList[], units: ClusterUnit[], wantedPerPeer: number, heldPerPeer: number }

/** Index of the first cumulative weight above x (inverse CDF). */
function draw (cumulative: Float64Array, x: number): number {
  let lo = 0; let hi = cumulative.length - 1
  while (lo < hi) { const mid = (lo + hi) >> 1; if (cumulative[mid] > x) hi = mid; else lo = mid + 1 }
  return lo
}

/** Wish lists of `peers` peers for R2, given R1 holdings drawn as described above. */
export function population (r1: SimUnit[], r2: SimUnit[], peers: number, seed = 1, meanInterest = 800): Population {
  const r = random(seed)
  // Popularity: essential first, then a fixed pseudo-random order (stable across releases: it hashes names).
  const hash = (s: string): number => { let h = 2166136261; for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619); return h >>> 0 }
  const info = new Map([...r1, ...r2].map((u) => [u.name, u]))
  const names = [...info.keys()].sort((a, b) => (PRIORITY_RANK[info.get(a)!.priority] ?? 3) - (PRIORITY_RANK[info.get(b)!.priority] ?? 3) || hash(a) - hash(b))
  // One Zipf table per profile (its sections weigh 4x), drawn from by inverse CDF: a peer costs its interest, not the release.
  const tables = PROFILES.map((profile) => {
    const cumulative = new Float64Array(names.length)
    let sum = 0
    names.forEach((n, i) => { sum += (profile.sections.includes(info.get(n)!.section) ? 4 : 1) / (i + 1) ** 0.8; cumulative[i] = sum })
    return cumulative
  })
  const r1ByName = new Map<string, SimUnit[]>()
  for (const u of r1) { const l = r1ByName.get(u.name); if (l === undefined) r1ByName.set(u.name, [u]); else l.push(u) }
  const r2ByName = new Map<string, SimUnit[]>()
  for (const u of r2) { const l = r2ByName.get(u.name); if (l === undefined) r2ByName.set(u.name, [u]); else l.push(u) }
  const wishes: WishList[] = []
  let wanted = 0; let held = 0
  for (let i = 0; i < peers; i++) {
    const table = tables[Math.floor(r() * tables.length)]
    const total = table[table.length - 1]
    // Interest varies between peers (a minimal server to a full desktop): half to twice the mean.
    const count = Math.round(meanInterest * (0.5 + 1.5 * r()))
    const interested = new Set<string>()
    for (let d = 0; d < count * 4 && interested.size < count; d++) interested.add(names[draw(table, r() * total)])
    const holdings: HeldUnit[] = []
    for (const n of interested) {
      for (const u of r1ByName.get(n) ?? []) if (u.checksum !== undefined && r() < 0.5) holdings.push({ name: u.name, version: u.version, arch: u.arch, checksum: u.checksum })
    }
    const release = [...interested].flatMap((n) => r2ByName.get(n) ?? [])
    const w = computeWishList(release, holdings)
    wishes.push({ peer: `peer-${String(i).padStart(5, '0')}`, units: w.wanted.map((u) => u.id) })
    wanted += w.wanted.length; held += w.held.length
  }
  return { wishes, units: r2.map((u) => ({ id: u.id, bytes: u.bytes })), wantedPerPeer: wanted / peers, heldPerPeer: held / peers }
}

export interface SimulationRow { peers: number, k: number | 'exact', torrents: number, exactClusters: number, wastePercent: number, wastePercentWithoutSelection: number, clusterSeconds: number }

/** Clusters one population for each K (and unbounded), timing each. */
export function simulate (pop: Population, ks: Array<number | 'exact'>): SimulationRow[] {
  const rows: SimulationRow[] = []
  for (const k of ks) {
    const r = clusterWishLists(pop.units, pop.wishes, { maxTorrents: k === 'exact' ? Number.MAX_SAFE_INTEGER : k })
    rows.push({
      peers: pop.wishes.length,
      k,
      torrents: r.clusters.length,
      exactClusters: r.exactClusters,
      wastePercent: r.wastePercent,
      wastePercentWithoutSelection: r.wantedBytes === 0 ? 0 : 100 * r.wasteWithoutSelection / r.wantedBytes,
      clusterSeconds: r.milliseconds / 1000
    })
  }
  return rows
}

/** `npm run bench -- flash-crowd-sim [--peers N] [--k 1,4,16,64,exact]`: the clustering alone at scale. */
export async function run (args: string[]): Promise<void> {
  const opt = (name: string): string | undefined => { const i = args.indexOf(name); return i < 0 ? undefined : args[i + 1] }
  const peers = Number(opt('--peers') ?? 10_000)
  const ks = (opt('--k') ?? '1,4,16,64,exact').split(',').map((k) => k === 'exact' ? 'exact' as const : Number(k))
  if (!Number.isInteger(peers) || peers < 1 || ks.some((k) => k !== 'exact' && !(k >= 1))) {
    process.stderr.write('usage: npm run bench -- flash-crowd-sim [--peers N] [--k 1,4,16,64,exact]\n')
    process.exit(2)
  }
  const t0 = performance.now()
  const [r1, r2] = await Promise.all([readReleaseUnits(R1_PACKAGES), readReleaseUnits(R2_PACKAGES)])
  const pop = population(r1, r2, peers)
  const prepared = (performance.now() - t0) / 1000
  const rows = simulate(pop, ks)
  printTable(rows.map((r) => ({ peers: r.peers, K: String(r.k), torrents: r.torrents, 'exact clusters': r.exactClusters, 'waste %': r.wastePercent, 'waste % without selection': r.wastePercentWithoutSelection, 'cluster s': r.clusterSeconds })))
  process.stdout.write(`${peers} peers, ${pop.wantedPerPeer.toFixed(0)} units wanted and ${pop.heldPerPeer.toFixed(0)} held per peer on average (R1 ${r1.length} units, R2 ${r2.length}); wish lists made in ${prepared.toFixed(1)} s\n`)
  process.stdout.write(`written ${await writeResults('flash-crowd-sim', { peers, wantedPerPeer: pop.wantedPerPeer, heldPerPeer: pop.heldPerPeer, rows })}\n`)
}
