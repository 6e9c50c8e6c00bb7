/**
 * Relation resolution: which packages of the same release satisfy a
 * dependency. This is the paper's intensional data (ActiveXML) in its
 * modern form: what a package-manager front end needs to plan an install.
 * Candidates come from the index (by name, by provides), never from a scan.
 */
import type { PackageRecord, RelationInfo, Satisfier } from './types.ts'
import { compileFilter, literal, type Querying } from './querying.ts'
import { compareVersions, satisfies, schemeOf } from './versions.ts'

/** Architectures that install anywhere (Debian `all`, RPM `noarch`). */
const ANY_ARCH = new Set(['all', 'noarch', 'any'])

/**
 * Whether `candidate` may satisfy a relation of `pkg`. A qualifier
 * (`libc6:i386`) names the target's arch; otherwise the target must share
 * the depending package's arch unless either side is arch-independent. A
 * restriction list (`[amd64 i386]`) concerns the depending package's build,
 * not the target, so it does not constrain the candidate here.
 */
function archMatches (pkg: PackageRecord, relation: RelationInfo, candidate: PackageRecord): boolean {
  if (ANY_ARCH.has(candidate.arch)) return true
  if (relation.arch !== undefined && !relation.arch.startsWith('[')) return candidate.arch === relation.arch
  return ANY_ARCH.has(pkg.arch) || candidate.arch === pkg.arch
}

/**
 * Whether one `provides` entry of `candidate` satisfies the relation.
 * Debian: an unversioned provide satisfies only unversioned relations, a
 * versioned one (`= v`) is compared like a package version. RPM: an
 * unversioned provide matches any requirement, as rpm resolves it.
 */
function provideSatisfies (provide: RelationInfo, relation: RelationInfo, scheme: 'debian' | 'rpm'): boolean {
  if (provide.name !== relation.name) return false
  if (relation.op === undefined || relation.version === undefined) return true
  if (provide.op === undefined || provide.version === undefined) return scheme === 'rpm'
  if (provide.op !== '=') return false
  return satisfies(provide.version, relation.op, relation.version, scheme)
}

export class Relations {
  constructor (private readonly querying: Querying) {}

  /** Ids of the units of every release that lists `pkg` (empty when none does). */
  private async releaseUnitsOf (pkg: PackageRecord): Promise<Set<string>[]> {
    const out: Set<string>[] = []
    for (const r of await this.querying.releases()) {
      const ids = await this.querying.unitIds(r)
      if (ids.has(pkg.id)) out.push(ids)
    }
    return out
  }

  async satisfiers (pkg: PackageRecord, relation: RelationInfo): Promise<Satisfier[]> {
    if (relation.name === '') return []
    const scopes = await this.releaseUnitsOf(pkg)
    if (scopes.length === 0) return []
    const inScope = (p: PackageRecord): boolean => scopes.some((s) => s.has(p.id))
    const [byName, byProvides] = await Promise.all([
      this.querying.packagesMatching(compileFilter({ name: relation.name })),
      this.querying.packagesMatching(`/package[provides//dep/@name = ${literal(relation.name)}]`)
    ])
    const found = new Map<string, Satisfier>()
    for (const c of byName) {
      if (!inScope(c) || !archMatches(pkg, relation, c)) continue
      if (relation.op !== undefined && relation.version !== undefined && !satisfies(c.version, relation.op, relation.version, schemeOf(c))) continue
      found.set(c.id, { package: c, via: 'name' })
    }
    for (const c of byProvides) {
      if (found.has(c.id) || !inScope(c) || !archMatches(pkg, relation, c)) continue
      const scheme = schemeOf(c)
      const provides = c.relations.provides.flatMap((clause) => clause.alternatives)
      if (provides.some((p) => provideSatisfies(p, relation, scheme))) found.set(c.id, { package: c, via: 'provides' })
    }
    // Real packages first, then by name, newest version first: the order a resolver would try them.
    return [...found.values()].sort((a, b) =>
      (a.via === b.via ? 0 : a.via === 'name' ? -1 : 1) ||
      (a.package.name < b.package.name ? -1 : a.package.name > b.package.name ? 1 : 0) ||
      -compareVersions(a.package.version, b.package.version, schemeOf(a.package)) ||
      (a.package.arch < b.package.arch ? -1 : a.package.arch > b.package.arch ? 1 : 0))
  }
}
