/**
 * The Relay connections (search answers, packages), the structured package
 * filter and the paging arguments. Connections are built from the peer's
 * Page: its cursors are opaque and pass through. Only forward paging
 * (first/after) is offered because the peer pages forward only; the schema
 * has no last/before, so asking for them fails validation with a clear
 * "Unknown argument" rather than being silently ignored.
 */
import { builder, pageSize, toConnection, type ConnectionShape } from '../builder.ts'
import type { MatchRecord, PackageFilter, PackageRecord } from '../../actors/types.ts'
import type { EdosContext } from '../builder.ts'
import { PackageType } from './package.ts'
import { MatchType } from './match.ts'

export const MatchConnection = builder.connectionObject(
  { type: MatchType, name: 'MatchConnection', description: 'Answers of a tree pattern, in document order within a document, documents in id order.' },
  { name: 'MatchEdge' }
)

export const PackageConnection = builder.connectionObject(
  { type: PackageType, name: 'PackageConnection', description: 'Packages matching a filter, in document id order.' },
  { name: 'PackageEdge' }
)

builder.globalConnectionField('totalCount', (t) => t.int({
  description: 'All answers, not just this page.',
  resolve: (parent) => parent.totalCount
}))

/** Forward-only paging arguments shared by every connection field. */
export const pageArgs = builder.args((t) => ({
  first: t.int({ required: false, defaultValue: 20, description: 'Page size, 1..500 (default 20).' }),
  after: t.string({ required: false, description: 'endCursor of the previous page.' })
}))

export const PackageFilterInput = builder.inputType('PackageFilter', {
  description: 'A structured filter over packages; the peer compiles it to a tree pattern (see Query.compileFilter). All given conditions must hold.',
  fields: (t) => ({
    name: t.string({ required: false, description: 'Exact name.' }),
    nameStartsWith: t.string({ required: false }),
    version: t.string({ required: false, description: 'Exact version.' }),
    arch: t.string({ required: false }),
    section: t.string({ required: false }),
    license: t.string({ required: false }),
    words: t.stringList({ required: false, description: 'Every word must appear in the description or summary (contains-word).' }),
    dependsOn: t.string({ required: false, description: 'Depends (or pre-depends) on a package of this name.' }),
    minSize: t.float({ required: false, description: 'Minimum size in bytes.' }),
    maxSize: t.float({ required: false, description: 'Maximum size in bytes.' }),
    release: t.string({ required: false, description: 'Only packages listed in this release.' })
  })
})

type FilterArg = { [K in keyof PackageFilter]?: PackageFilter[K] | null }

/** GraphQL gives explicit nulls for omitted-by-null fields; the peer's filter wants them absent. */
export function toFilter (where: FilterArg | null | undefined, extra: PackageFilter = {}): PackageFilter {
  const out: PackageFilter = {}
  for (const [k, v] of Object.entries(where ?? {})) {
    if (v !== null && v !== undefined) (out as Record<string, unknown>)[k] = v
  }
  return { ...out, ...extra }
}

export async function packagesConnection (ctx: EdosContext, where: PackageFilter, first: number | null | undefined, after: string | null | undefined): Promise<ConnectionShape<PackageRecord>> {
  return toConnection(await ctx.peer.packages(where, pageSize(first), after ?? undefined))
}

export async function searchConnection (ctx: EdosContext, pattern: string, first: number | null | undefined, after: string | null | undefined): Promise<ConnectionShape<MatchRecord>> {
  return toConnection(await ctx.peer.search(pattern, pageSize(first), after ?? undefined))
}
