/**
 * Package and Utility (the data units), their relations with lazily resolved
 * satisfiers (the paper's intensional data), and the Document union.
 */
import { builder } from '../builder.ts'
import { RELATION_KINDS, type PackageRecord, type RelationClause, type RelationInfo, type ReleaseRecord, type Satisfier, type UtilityRecord } from '../../actors/types.ts'

export type DocumentRecord = PackageRecord | UtilityRecord | ReleaseRecord

/** Tells the three document records apart by shape (ids are peer-made strings; shapes are the contract). */
export function documentKind (doc: DocumentRecord): 'Package' | 'Utility' | 'Release' {
  if ('relations' in doc) return 'Package'
  if ('root' in doc) return 'Release'
  return 'Utility'
}

/** A relation, with the package it belongs to: satisfiers are looked up in that package's release(s). */
interface RelationShape { owner: PackageRecord, info: RelationInfo }
interface ClauseShape { owner: PackageRecord, clause: RelationClause }

export const ChecksumType = builder.objectRef<{ type: string, value: string }>('Checksum').implement({
  description: 'A content checksum as the metadata gives it.',
  fields: (t) => ({
    type: t.exposeString('type', { description: 'Algorithm: sha256, sha1, md5, ...' }),
    value: t.exposeString('value', { description: 'Hex digest.' })
  })
})

export const SatisfiedViaType = builder.enumType('SatisfiedVia', {
  description: 'How a package satisfies a relation.',
  values: {
    NAME: { value: 'name', description: 'Its own name (and version, when the relation constrains it).' },
    PROVIDES: { value: 'provides', description: 'One of its provides.' }
  } as const
})

export const PackageType = builder.objectRef<PackageRecord>('Package')
export const UtilityType = builder.objectRef<UtilityRecord>('Utility')

export const SatisfierType = builder.objectRef<Satisfier>('Satisfier').implement({
  description: 'A package of the same release that satisfies a relation.',
  fields: (t) => ({
    package: t.field({ type: PackageType, resolve: (s) => s.package }),
    via: t.field({ type: SatisfiedViaType, resolve: (s) => s.via })
  })
})

export const RelationType = builder.objectRef<RelationShape>('Relation').implement({
  description: 'One relation to a package name, optionally constrained by version and architecture.',
  fields: (t) => ({
    name: t.string({ resolve: (r) => r.info.name }),
    op: t.string({ nullable: true, description: 'Version operator as in Debian: <<, <=, =, >=, >>.', resolve: (r) => r.info.op ?? null }),
    version: t.string({ nullable: true, resolve: (r) => r.info.version ?? null }),
    arch: t.string({ nullable: true, resolve: (r) => r.info.arch ?? null }),
    satisfiedBy: t.field({
      type: [SatisfierType],
      // Nullable: a failing lookup must not null the whole package.
      nullable: true,
      description: 'Packages of the same release that satisfy this relation (by name or provides, with Debian/RPM version ordering). Resolved on demand.',
      resolve: async (r, _args, ctx) => await ctx.peer.satisfiers(r.owner, r.info)
    })
  })
})

export const RelationClauseType = builder.objectRef<ClauseShape>('RelationClause').implement({
  description: 'One clause of a relation field: satisfied when any alternative is (Debian `a | b`).',
  fields: (t) => ({
    alternatives: t.field({ type: [RelationType], resolve: (c) => c.clause.alternatives.map((info) => ({ owner: c.owner, info })) })
  })
})

const RELATION_DOCS: Record<typeof RELATION_KINDS[number], string> = {
  depends: 'Packages this one needs to work.',
  preDepends: 'Packages that must be installed and configured before this one.',
  recommends: 'Packages found with this one in all but unusual installations.',
  suggests: 'Packages that may be useful with this one.',
  enhances: 'Packages this one makes more useful.',
  provides: 'Virtual packages this one provides.',
  conflicts: 'Packages that cannot be installed with this one.',
  breaks: 'Packages this one breaks.',
  replaces: 'Packages whose files this one replaces.',
  obsoletes: 'Packages this one obsoletes (RPM).'
}

builder.node(PackageType, {
  description: 'A package: every field of its metadata document, under the same names.',
  id: { resolve: (p) => p.id },
  loadOne: async (id, ctx) => {
    const doc = await ctx.peer.document(id)
    return doc !== undefined && documentKind(doc) === 'Package' ? doc as PackageRecord : null
  },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'relations' in value,
  fields: (t) => ({
    doc: t.exposeString('id', { description: 'The document id (`pkg/name/version/arch`), as in Match.doc.' }),
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    arch: t.exposeString('arch'),
    summary: t.exposeString('summary', { nullable: true }),
    description: t.exposeString('description', { nullable: true }),
    section: t.exposeString('section', { nullable: true }),
    priority: t.exposeString('priority', { nullable: true }),
    license: t.exposeString('license', { nullable: true }),
    maintainer: t.exposeString('maintainer', { nullable: true }),
    homepage: t.exposeString('homepage', { nullable: true }),
    source: t.exposeString('source', { nullable: true }),
    // Float, not Int: GraphQL's Int is 32-bit and byte counts need not be.
    size: t.exposeFloat('size', { nullable: true, description: 'Bytes of the package file.' }),
    installedSize: t.exposeFloat('installedSize', { nullable: true, description: 'As the metadata gives it (Debian: KiB; RPM: bytes).' }),
    checksum: t.field({ type: ChecksumType, nullable: true, resolve: (p) => p.checksum ?? null }),
    location: t.exposeString('location', { nullable: true, description: 'Path of the package file relative to the archive root.' }),
    group: t.exposeString('group', { nullable: true, description: 'RPM group.' }),
    epoch: t.exposeString('epoch', { nullable: true, description: 'RPM epoch.' }),
    release: t.exposeString('release', { nullable: true, description: 'RPM release.' }),
    files: t.exposeStringList('files'),
    tags: t.exposeStringList('tags'),
    xml: t.exposeString('xml', { description: 'The metadata document.' }),
    ...Object.fromEntries(RELATION_KINDS.map((kind) => [kind, t.field({
      type: [RelationClauseType],
      description: RELATION_DOCS[kind],
      resolve: (p) => (p.relations[kind] ?? []).map((clause) => ({ owner: p, clause }))
    })]))
  })
})

/** Federation v2 entity: other subgraphs reference a package by name, version and arch. */
builder.asEntity(PackageType, {
  key: builder.selection<{ name: string, version: string, arch: string }>('name version arch'),
  resolveReference: async (key, ctx) => (await ctx.peer.package(key.name, key.version, key.arch)) ?? null
})

builder.node(UtilityType, {
  description: 'A single file used in installation.',
  id: { resolve: (u) => u.id },
  loadOne: async (id, ctx) => {
    const doc = await ctx.peer.document(id)
    return doc !== undefined && documentKind(doc) === 'Utility' ? doc as UtilityRecord : null
  },
  isTypeOf: (value) => typeof value === 'object' && value !== null && !('relations' in value) && !('root' in value) && 'xml' in value,
  fields: (t) => ({
    doc: t.exposeString('id', { description: 'The document id (`util/name/version`).' }),
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    summary: t.exposeString('summary', { nullable: true }),
    size: t.exposeFloat('size', { nullable: true }),
    checksum: t.field({ type: ChecksumType, nullable: true, resolve: (u) => u.checksum ?? null }),
    location: t.exposeString('location', { nullable: true }),
    xml: t.exposeString('xml')
  })
})
