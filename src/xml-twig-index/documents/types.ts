import type { XElement } from '../xml/tree.ts'
import type { InvalidDocumentError } from '../errors.ts'

/** What a metadata document describes: a package, or a single file used in installation. */
export type UnitKind = 'package' | 'utility'

/** Version relation operators, in Debian spelling (RPM's LT LE EQ GE GT map onto them). */
export type RelationOp = '<<' | '<=' | '=' | '>=' | '>>'

/**
 * One dependency-like relation. `arch` is Debian's architecture qualifier
 * (`libc6:i386`) or restriction list (`[amd64 i386]`); `:any`/`:native`
 * say nothing about the target and are dropped by the importers.
 */
export interface Relation {
  name: string
  op?: RelationOp
  version?: string
  arch?: string
}

/** A relation, or alternatives of which one suffices (Debian `a | b`). */
export type RelationGroup = Relation | { anyOf: Relation[] }

/** The relation fields, in the order their elements appear in a package document. */
export const RELATION_FIELDS = [
  'depends', 'preDepends', 'recommends', 'suggests', 'enhances',
  'provides', 'conflicts', 'breaks', 'replaces', 'obsoletes'
] as const
export type RelationField = typeof RELATION_FIELDS[number]

export interface Checksum {
  /** sha256 | sha1 | md5 | sha512 */
  type: string
  /** hex digest */
  value: string
}

export interface PackageFields {
  name: string
  /** Full version: Debian `[epoch:]upstream[-revision]`, RPM `[epoch:]version-release` (epoch only when > 0). */
  version: string
  arch: string
  summary?: string
  description?: string
  section?: string
  priority?: string
  license?: string
  maintainer?: string
  homepage?: string
  source?: string
  size?: number
  installedSize?: number
  checksum?: Checksum
  location?: string
  /** RPM only: the parts of the version, kept so that queries can use them. */
  epoch?: string
  release?: string
  group?: string
  files?: string[]
  depends?: RelationGroup[]
  preDepends?: RelationGroup[]
  recommends?: RelationGroup[]
  suggests?: RelationGroup[]
  enhances?: RelationGroup[]
  provides?: RelationGroup[]
  conflicts?: RelationGroup[]
  breaks?: RelationGroup[]
  replaces?: RelationGroup[]
  obsoletes?: RelationGroup[]
  tags?: string[]
}

export interface UtilityFields {
  name: string
  version: string
  size: number
  checksum: Checksum
  location?: string
  summary?: string
}

/** A built document plus what a release composition needs to reference it. */
export interface ImportedUnit {
  kind: UnitKind
  id: string
  name: string
  version: string
  arch?: string
  /**
   * Path of collections under the release, e.g. ['amd64','editors'] (Debian:
   * arch, section) or ['x86_64','System Environment/Base'] (RPM: arch, group);
   * utilities: ['utilities'].
   */
  collection: string[]
  /** The document, unnumbered: the indexer assigns structural ids (numberTree). */
  root: XElement
}

/** A unit an importer could not turn into a valid document; the import goes on without it. */
export interface UnitRejection {
  kind: 'rejected'
  error: InvalidDocumentError
}

/** A leaf of a release composition. */
export interface ReleaseEntry {
  kind: UnitKind
  name: string
  version: string
  arch?: string
  collection: string[]
}

export interface ReleaseFields {
  name: string
  version: string
  /** YYYY-MM-DD */
  date: string
  entries: ReleaseEntry[]
}
