/**
 * The flash-crowd bench's population and content (bench/flash-crowd-bench.ts).
 *
 * Each peer has an "installed" set of R1 (bookworm) package names, drawn by
 * popularity with realistic overlap, like bench/flash-crowd-sim.ts: a name's
 * weight falls with its popularity rank (Zipf, s = 0.8; required, important
 * and standard packages first, then a fixed order hashed from the name), and
 * the sections of the peer's profile weigh 4x. The peer holds the R1 units
 * of its installed names and wants the R2 (trixie) units of the same names,
 * less the ones identical to what it holds (computeWishList). Both releases'
 * units get synthetic files from scripts/synthetic-release.ts, so an
 * identical package in R1 and R2 is identical synthetic bytes.
 */
import { computeWishList } from '../src/torrents/flash-crowd/wish-list.ts'
import { openDecompressed } from '../src/xml-twig-index/importers/decompress.ts'
import { readStanzas } from '../src/xml-twig-index/importers/deb822.ts'
import { syntheticRelease, syntheticSize, DEFAULT_MIN_BYTES, type SyntheticUnit } from '../scripts/synthetic-release.ts'
import { mulberry32 } from '../test/oracle/random-patterns.ts'
import { R1_PACKAGES, R2_PACKAGES, type SimUnit } from './flash-crowd-sim.ts'

/** Profiles of installs: the sections each one favours. */
const PROFILES: readonly string[][] = [
  ['gnome', 'kde', 'x11', 'graphics', 'sound', 'video', 'fonts', 'web'],
  ['admin', 'net', 'httpd', 'database', 'mail', 'utils'],
  ['devel', 'libdevel', 'python', 'perl', 'rust', 'golang', 'javascript', 'vcs'],
  ['science', 'math', 'gnu-r', 'electronics', 'python']
]
const ESSENTIAL: Record<string, number> = { required: 0, important: 1, standard: 2 }

/** FNV-1a of a name: a popularity order that does not depend on the release. */
function fnv (s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

/**
 * Pre-Depends and Depends of each package of a Packages file, first
 * alternative of each, without versions or architecture qualifiers (what
 * apt would install along with it, virtual packages aside).
 */
export async function readDepends (file: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>()
  const { chunks } = await openDecompressed(file)
  for await (const batch of readStanzas(chunks, file)) {
    for (const s of batch) {
      const name = s.fields.get('package')
      if (name === undefined) continue
      const deps = [s.fields.get('pre-depends'), s.fields.get('depends')].filter((d): d is string => d !== undefined).join(',')
      out.set(name, deps.split(',').map((d) => d.split('|')[0].replace(/\(.*?\)|\[.*?\]|<.*?>|:\w+/g, '').trim()).filter((d) => d !== ''))
    }
  }
  return out
}

/**
 * Installed package names of each peer: `count` names chosen without
 * replacement with probability proportional to their weight (Efraimidis and
 * Spirakis: the largest u^(1/w) keys), count between half and twice `mean`,
 * then everything they depend on, transitively: shared libraries and
 * runtimes are most of what real installs have in common.
 */
export function installedSets (r1: readonly SimUnit[], depends: ReadonlyMap<string, readonly string[]>, peers: number, mean: number, seed: number): string[][] {
  const byName = new Map<string, SimUnit>()
  for (const u of r1) if (!byName.has(u.name)) byName.set(u.name, u)
  const ranked = [...byName.values()].sort((a, b) => (ESSENTIAL[a.priority] ?? 3) - (ESSENTIAL[b.priority] ?? 3) || fnv(a.name) - fnv(b.name))
  const random = mulberry32(seed)
  const sets: string[][] = []
  for (let p = 0; p < peers; p++) {
    const favoured = new Set(PROFILES[Math.floor(random() * PROFILES.length)])
    const count = Math.min(ranked.length, Math.round(mean * (0.5 + 1.5 * random())))
    const keys = ranked.map((u, rank) => {
      const weight = (favoured.has(u.section) ? 4 : 1) / (rank + 1) ** 0.8
      return { name: u.name, key: Math.log(random()) / weight }
    })
    keys.sort((a, b) => b.key - a.key)
    const installed = new Set<string>()
    const todo = keys.slice(0, count).map((k) => k.name)
    for (let n = todo.pop(); n !== undefined; n = todo.pop()) {
      if (installed.has(n) || !byName.has(n)) continue
      installed.add(n)
      todo.push(...(depends.get(n) ?? []))
    }
    sets.push([...installed].sort())
  }
  return sets
}

export interface PeerPlan {
  peer: string
  installed: string[]
  /** R1 units it holds (its installed names). */
  held: SyntheticUnit[]
  /** R2 units of its installed names: its wish list is these minus the identical held ones. */
  interest: SyntheticUnit[]
  /** Unit ids of the wish list as predicted from the real checksums (the worker computes it again from its store). */
  wanted: string[]
}

export interface CrowdContent {
  plans: PeerPlan[]
  /** R2 units the publisher holds (every peer's interest). */
  release: SyntheticUnit[]
  /** Folder of the R2 synthetic files, named by the basename of Filename. */
  releaseFiles: string
  scale: number
  /** Real bytes of the union of wish lists, before scaling. */
  realUniqueWanted: number
}

export const unitId = (u: { package: string, version: string, arch: string }): string => `pkg/${u.package}/${u.version}/${u.arch}`

const byNames = (units: readonly SimUnit[]): Map<string, SimUnit[]> => {
  const m = new Map<string, SimUnit[]>()
  for (const u of units) { const l = m.get(u.name); if (l === undefined) m.set(u.name, [u]); else l.push(u) }
  return m
}

/**
 * Draws the installed sets, predicts the wish lists from the real
 * checksums (identical real .deb = identical synthetic file), chooses the
 * scale that makes the union of wish lists about `wantedMiB` (unless
 * `scale` is given) and writes the synthetic R2 files of every peer's
 * interest into `dir/r2/files`.
 */
export async function crowdContent (r1: SimUnit[], r2: SimUnit[], o: { peers: number, meanChosen: number, seed: number, wantedMiB: number, scale?: number, dir: string }): Promise<CrowdContent> {
  const sets = installedSets(r1, await readDepends(R1_PACKAGES), o.peers, o.meanChosen, o.seed)
  const r1By = byNames(r1)
  const r2By = byNames(r2)
  const wantedUnion = new Map<string, number>()
  const predicted = sets.map((names) => {
    const holdings = names.flatMap((n) => r1By.get(n) ?? []).flatMap((u) => u.checksum === undefined ? [] : [{ name: u.name, version: u.version, arch: u.arch, checksum: u.checksum }])
    const w = computeWishList(names.flatMap((n) => r2By.get(n) ?? []), holdings)
    for (const u of w.wanted) wantedUnion.set(u.id, u.bytes)
    return w.wanted.map((u) => u.id)
  })
  let realUniqueWanted = 0
  for (const b of wantedUnion.values()) realUniqueWanted += b
  // Solve sum(max(min, real / scale)) ~ target by bisection: the 512-byte floor matters for small packages.
  let scale = o.scale
  if (scale === undefined) {
    const target = o.wantedMiB * 1048576
    let lo = 1; let hi = 1e6
    for (let i = 0; i < 60; i++) {
      const mid = Math.sqrt(lo * hi)
      let total = 0
      for (const b of wantedUnion.values()) total += syntheticSize(b, mid, DEFAULT_MIN_BYTES)
      if (total > target) lo = mid; else hi = mid
    }
    scale = Math.round(hi)
  }
  const installedUnion = new Set(sets.flat())
  const [r1Synth, r2Synth] = await Promise.all([
    // R1: sizes and checksums only; each peer writes the files it holds.
    syntheticRelease({ packages: R1_PACKAGES, out: `${o.dir}/r1`, scale, select: (s) => installedUnion.has(s.package), materialize: () => false }),
    syntheticRelease({ packages: R2_PACKAGES, out: `${o.dir}/r2`, scale, select: (s) => installedUnion.has(s.package) })
  ])
  const group = (units: SyntheticUnit[]): Map<string, SyntheticUnit[]> => {
    const m = new Map<string, SyntheticUnit[]>()
    for (const u of units) { const l = m.get(u.package); if (l === undefined) m.set(u.package, [u]); else l.push(u) }
    return m
  }
  const s1 = group(r1Synth.units)
  const s2 = group(r2Synth.units)
  const plans = sets.map((installed, i) => ({
    peer: `peer-${String(i).padStart(2, '0')}`,
    installed,
    held: installed.flatMap((n) => s1.get(n) ?? []),
    interest: installed.flatMap((n) => s2.get(n) ?? []),
    wanted: predicted[i]
  }))
  return { plans, release: r2Synth.units, releaseFiles: r2Synth.filesDir, scale, realUniqueWanted }
}
