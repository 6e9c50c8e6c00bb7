/**
 * Query root. Root fields are nullable: one failing field reports its error
 * without nulling the others of the same request.
 */
import { builder, badInput } from './builder.ts'
import { PackageType } from './types/package.ts'
import { ReleaseType, DocumentUnion } from './types/release.ts'
import { QueryPlanType } from './types/match.ts'
import { MatchConnection, PackageConnection, PackageFilterInput, pageArgs, packagesConnection, searchConnection, toFilter } from './types/connections.ts'
import { ChannelType, DownloadType, NetworkType, StatsType } from './types/peer.ts'

/** Upper bound on a pattern's length: the parser is linear, but a bound keeps a request's cost predictable. */
export const MAX_PATTERN = 4096

function checkPattern (pattern: string): string {
  if (pattern.trim() === '') throw badInput('pattern is empty', { argument: 'pattern' })
  if (pattern.length > MAX_PATTERN) throw badInput(`pattern is longer than ${MAX_PATTERN} characters`, { argument: 'pattern' })
  return pattern
}

builder.queryType({
  description: 'Read-only access to the peer: its index, releases, channels, downloads and network.'
})

builder.queryFields((t) => ({
  search: t.field({
    type: MatchConnection,
    nullable: true,
    description: 'Answers of a tree pattern (abbreviated XPath: //package[section = "editors"]/name), paged forward.',
    args: { pattern: t.arg.string({ required: true }), ...pageArgs },
    resolve: async (_root, args, ctx) => await searchConnection(ctx, checkPattern(args.pattern), args.first, args.after)
  }),
  packages: t.field({
    type: PackageConnection,
    nullable: true,
    description: 'Packages matching a structured filter (compiled to a tree pattern), paged forward.',
    args: { where: t.arg({ type: PackageFilterInput, required: false }), ...pageArgs },
    resolve: async (_root, args, ctx) => await packagesConnection(ctx, toFilter(args.where), args.first, args.after)
  }),
  compileFilter: t.string({
    nullable: true,
    description: 'The tree pattern a PackageFilter compiles to (feed it to explain).',
    args: { where: t.arg({ type: PackageFilterInput, required: true }) },
    resolve: (_root, args, ctx) => ctx.peer.compileFilter(toFilter(args.where))
  }),
  package: t.field({
    type: PackageType,
    nullable: true,
    description: 'A package by name, and version and arch when given (else the newest the peer holds).',
    args: { name: t.arg.string({ required: true }), version: t.arg.string({ required: false }), arch: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => (await ctx.peer.package(args.name, args.version ?? undefined, args.arch ?? undefined)) ?? null
  }),
  document: t.field({
    type: DocumentUnion,
    nullable: true,
    description: 'Any document by its document id (`pkg/...`, `util/...`, `release/...`, as in Match.doc).',
    args: { doc: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => (await ctx.peer.document(args.doc)) ?? null
  }),
  releases: t.field({
    type: [ReleaseType],
    nullable: true,
    resolve: async (_root, _args, ctx) => await ctx.peer.releases()
  }),
  release: t.field({
    type: ReleaseType,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => (await ctx.peer.release(args.name)) ?? null
  }),
  explain: t.field({
    type: QueryPlanType,
    nullable: true,
    description: 'Evaluates a pattern and reports the plan: terms read, candidates, timings.',
    args: { pattern: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => await ctx.peer.explain(checkPattern(args.pattern))
  }),
  network: t.field({ type: NetworkType, nullable: true, resolve: async (_root, _args, ctx) => await ctx.peer.network() }),
  stats: t.field({ type: StatsType, nullable: true, resolve: async (_root, _args, ctx) => await ctx.peer.stats() }),
  channels: t.field({ type: [ChannelType], nullable: true, resolve: async (_root, _args, ctx) => await ctx.peer.channels() }),
  channel: t.field({
    type: ChannelType,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => (await ctx.peer.channel(args.name)) ?? null
  }),
  downloads: t.field({ type: [DownloadType], nullable: true, resolve: async (_root, _args, ctx) => await ctx.peer.downloads() })
}))

/** A release's packages: the packages filter with `release` fixed. */
builder.objectField(ReleaseType, 'packages', (t) => t.field({
  type: PackageConnection,
  nullable: true,
  args: { where: t.arg({ type: PackageFilterInput, required: false }), ...pageArgs },
  resolve: async (release, args, ctx) => await packagesConnection(ctx, toFilter(args.where, { release: release.name }), args.first, args.after)
}))
