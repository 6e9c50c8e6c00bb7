/**
 * Releases and their collection trees. Collections list units by reference
 * (PackageRef/UtilityRef, implementing Unit); a reference resolves to the
 * full document only when asked, so a release tree costs one document read.
 */
import { builder } from '../builder.ts'
import type { CollectionNode, NotificationUnit, ReleaseRecord } from '../../actors/types.ts'
import { PackageType, UtilityType, documentKind } from './package.ts'
import type { PackageRecord, UtilityRecord } from '../../actors/types.ts'

/** A unit reference: the release tree's leaves and a notification's units (checksum only there). */
export type UnitShape = Omit<NotificationUnit, 'checksum'> & { checksum?: string }

export const UnitKindType = builder.enumType('UnitKind', {
  values: { PACKAGE: { value: 'package' }, UTILITY: { value: 'utility' } } as const
})

/*
 * The reference's document id is `doc`, not `id`: Relay clients normalise
 * any `id` field as a global object id, and a reference must not merge with
 * the Package/Utility node it points to.
 */
export const UnitInterface = builder.interfaceRef<UnitShape>('Unit').implement({
  description: 'A reference to a data unit (package or utility) by its identifier.',
  resolveType: (u) => u.kind === 'package' ? 'PackageRef' : 'UtilityRef',
  fields: (t) => ({
    kind: t.field({ type: UnitKindType, resolve: (u) => u.kind }),
    doc: t.exposeString('id', { description: 'The document id (`pkg/...` or `util/...`).' }),
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    arch: t.exposeString('arch', { nullable: true }),
    checksum: t.exposeString('checksum', { nullable: true, description: 'sha256 of the content, when the source lists it (notifications).' })
  })
})

builder.objectRef<UnitShape>('PackageRef').implement({
  description: 'A package listed by name, version and arch.',
  interfaces: [UnitInterface],
  isTypeOf: (u) => (u as UnitShape).kind === 'package',
  fields: (t) => ({
    package: t.field({
      type: PackageType,
      nullable: true,
      description: 'The full package (null when this peer does not hold its document).',
      resolve: async (u, _args, ctx) => {
        const doc = await ctx.peer.document(u.id)
        if (doc !== undefined && documentKind(doc) === 'Package') return doc as PackageRecord
        return (await ctx.peer.package(u.name, u.version, u.arch)) ?? null
      }
    })
  })
})

builder.objectRef<UnitShape>('UtilityRef').implement({
  description: 'A utility listed by name and version.',
  interfaces: [UnitInterface],
  isTypeOf: (u) => (u as UnitShape).kind === 'utility',
  fields: (t) => ({
    utility: t.field({
      type: UtilityType,
      nullable: true,
      resolve: async (u, _args, ctx) => {
        const doc = await ctx.peer.document(u.id)
        return doc !== undefined && documentKind(doc) === 'Utility' ? doc as UtilityRecord : null
      }
    })
  })
})

export const CollectionType = builder.objectRef<CollectionNode>('Collection')
CollectionType.implement({
  description: 'A node of a release composition: nested collections whose leaves are units.',
  fields: (t) => ({
    name: t.exposeString('name'),
    path: t.exposeStringList('path', { description: 'Names from the release down to this collection.' }),
    collections: t.field({ type: [CollectionType], resolve: (c) => c.collections }),
    units: t.field({ type: [UnitInterface], resolve: (c) => c.units })
  })
})

export const ReleaseType = builder.objectRef<ReleaseRecord>('Release')

builder.node(ReleaseType, {
  description: 'A named release: a composition of packages and utilities.',
  id: { resolve: (r) => r.id },
  loadOne: async (id, ctx) => {
    const doc = await ctx.peer.document(id)
    return doc !== undefined && documentKind(doc) === 'Release' ? doc as ReleaseRecord : null
  },
  isTypeOf: (value) => typeof value === 'object' && value !== null && 'root' in value,
  fields: (t) => ({
    doc: t.exposeString('id', { description: 'The document id (`release/name`).' }),
    name: t.exposeString('name'),
    version: t.exposeString('version'),
    date: t.exposeString('date'),
    units: t.exposeInt('units', { description: 'Data units listed in the release.' }),
    root: t.field({ type: CollectionType, description: 'The collection tree.', resolve: (r) => r.root })
  })
})

/** Package | Utility | Release: what a Match's document or a document id resolves to. */
export const DocumentUnion = builder.unionType('Document', {
  types: [PackageType, UtilityType, ReleaseType],
  resolveType: (doc) => documentKind(doc)
})
