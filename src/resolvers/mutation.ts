/**
 * Mutation root. Every mutation changes this peer's state, so every one
 * needs the peer's API token (publishing, releases and channels are the
 * publisher's; downloads and wish lists are the operator's: a stranger on a
 * mirror's public endpoint must not start or cancel its downloads).
 */
import { GraphQLError } from './graphql.ts'
import { decodeGlobalID } from '@pothos/plugin-relay'
import { builder, badInput, requireAuth, type EdosContext, type UploadedFile } from './builder.ts'
import type { PublishSource, PublishSummary } from '../actors/types.ts'
import { ReleaseType } from './types/release.ts'
import { ChannelType, DownloadType, MirrorAdmissionType, PublishSummaryType, WishListType } from './types/peer.ts'

export const ImportFormatType = builder.enumType('ImportFormat', {
  description: 'Input format of published files (autodetected when omitted).',
  values: {
    DEBIAN: { value: 'debian', description: 'Debian Packages (deb822), plain or compressed.' },
    RPM_MD: { value: 'rpm-md', description: 'RPM repodata primary.xml(.gz).' },
    DIR: { value: 'dir', description: 'A directory of .deb/.rpm files (checksums computed).' }
  } as const
})

interface SourcesInput {
  format?: 'debian' | 'rpm-md' | 'dir' | null
  files?: UploadedFile[] | null
  paths?: string[] | null
  translations?: UploadedFile[] | null
  translationPaths?: string[] | null
  content?: UploadedFile[] | null
  contentPaths?: string[] | null
}

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never

/** The source fields both publish inputs share. */
function sourceFields (t: PothosSchemaTypes.InputFieldBuilder<Types, 'InputObject'>) {
  return {
    format: t.field({ type: ImportFormatType, required: false }),
    files: t.field({ type: ['File'], required: false, description: 'Uploaded metadata files (multipart request).' }),
    paths: t.stringList({ required: false, description: 'Files on the peer\'s machine: authenticated callers on the same machine only.' }),
    translations: t.field({ type: ['File'], required: false, description: 'Uploaded Debian Translation-* files (long descriptions).' }),
    translationPaths: t.stringList({ required: false, description: 'Translation files on the peer\'s machine (same rule as paths).' }),
    content: t.field({ type: ['File'], required: false, description: 'Uploaded content files (.deb, .rpm, utilities): each is matched to the published units by sha256, stored and seeded.' }),
    contentPaths: t.stringList({ required: false, description: 'Content files or folders on the peer\'s machine (same rule as paths).' })
  }
}

export const PublishPackagesInput = builder.inputType('PublishPackagesInput', {
  fields: (t) => ({ release: t.string({ required: false, description: 'Release to publish into (default: the current one).' }), ...sourceFields(t) })
})

export const PublishReleaseInput = builder.inputType('PublishReleaseInput', {
  fields: (t) => ({ name: t.string({ required: true, description: 'The release to create or update.' }), ...sourceFields(t) })
})

function uploads (files: UploadedFile[]): PublishSource[] {
  return files.map((file) => ({ kind: 'upload', name: file.name, bytes: async () => new Uint8Array(await file.arrayBuffer()) }))
}

function serverPaths (ctx: EdosContext, paths: string[]): PublishSource[] {
  if (paths.length > 0 && !(ctx.authenticated && ctx.sameMachine)) {
    throw new GraphQLError('paths name files on the peer\'s machine: only an authenticated caller on that machine may use them; upload the files instead', { extensions: { code: 'FORBIDDEN' } })
  }
  return paths.map((path) => ({ kind: 'path', path }))
}

async function publish (ctx: EdosContext, release: string | undefined, input: SourcesInput): Promise<PublishSummary> {
  requireAuth(ctx, 'Publishing')
  const sources = [...uploads(input.files ?? []), ...serverPaths(ctx, input.paths ?? [])]
  const translations = [...uploads(input.translations ?? []), ...serverPaths(ctx, input.translationPaths ?? [])]
  if (sources.length === 0) throw badInput('nothing to publish: give files (uploads) or paths', { argument: 'input' })
  const content = [...uploads(input.content ?? []), ...serverPaths(ctx, input.contentPaths ?? [])]
  return await ctx.peer.publish(sources, { release, format: input.format ?? undefined, translations: translations.length > 0 ? translations : undefined, content: content.length > 0 ? content : undefined })
}

const PublishPayload = builder.objectRef<PublishSummary>('PublishPayload').implement({
  fields: (t) => ({
    summary: t.field({ type: PublishSummaryType, resolve: (s) => s }),
    release: t.field({ type: ReleaseType, nullable: true, resolve: async (s, _args, ctx) => (await ctx.peer.release(s.release)) ?? null })
  })
})

/** Accepts a Download's global id or the peer's own download id. */
export function downloadKey (id: string): string {
  try {
    const { typename, id: inner } = decodeGlobalID(id)
    if (typename === 'Download' && inner !== '') return inner
  } catch { /* not a global id */ }
  return id
}

const CutReleasePayload = builder.objectRef<{ release: import('../actors/types.ts').ReleaseRecord }>('CutReleasePayload').implement({
  fields: (t) => ({ release: t.field({ type: ReleaseType, resolve: (p) => p.release }) })
})
const ChannelPayload = builder.objectRef<{ channel: import('../actors/types.ts').ChannelRecord }>('ChannelPayload').implement({
  fields: (t) => ({ channel: t.field({ type: ChannelType, resolve: (p) => p.channel }) })
})
const DeleteChannelPayload = builder.objectRef<{ name: string, deleted: boolean }>('DeleteChannelPayload').implement({
  fields: (t) => ({ name: t.exposeString('name'), deleted: t.exposeBoolean('deleted', { description: 'False when there was no such channel.' }) })
})
const WishListPayload = builder.objectRef<{ wishList: import('../actors/types.ts').WishListRecord }>('WishListPayload').implement({
  fields: (t) => ({ wishList: t.field({ type: WishListType, resolve: (p) => p.wishList }) })
})
const AddContentPayload = builder.objectRef<{ stored: number, unmatched: string[] }>('AddContentPayload').implement({
  fields: (t) => ({
    stored: t.exposeInt('stored', { description: 'Units whose content is now stored (a file named by several units counts for each).' }),
    unmatched: t.exposeStringList('unmatched', { description: 'Files no unit names (by sha256): not stored.' })
  })
})
const DownloadPayload = builder.objectRef<{ download: import('../actors/types.ts').DownloadRecord }>('DownloadPayload').implement({
  fields: (t) => ({ download: t.field({ type: DownloadType, resolve: (p) => p.download }) })
})

builder.mutationType({ description: 'Changes to this peer. Every mutation needs the peer\'s API token.' })

builder.mutationFields((t) => ({
  publishPackages: t.field({
    type: PublishPayload,
    nullable: true,
    description: 'Publishes new versions of packages into a release (default: the current one). Publisher only.',
    args: { input: t.arg({ type: PublishPackagesInput, required: true }) },
    resolve: async (_root, { input }, ctx) => await publish(ctx, input.release ?? undefined, input)
  }),
  publishRelease: t.field({
    type: PublishPayload,
    nullable: true,
    description: 'Publishes a release named `name` from metadata files. Publisher only.',
    args: { input: t.arg({ type: PublishReleaseInput, required: true }) },
    resolve: async (_root, { input }, ctx) => await publish(ctx, input.name, input)
  }),
  cutRelease: t.field({
    type: CutReleasePayload,
    nullable: true,
    description: 'Turns the current state of release `from` (default: the most recent) into a new named release. Publisher only.',
    args: { name: t.arg.string({ required: true }), from: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'cutRelease')
      return { release: await ctx.peer.cutRelease(args.name, args.from ?? undefined) }
    }
  }),
  admitMirror: t.field({
    type: MirrorAdmissionType,
    nullable: true,
    description: 'Signs a mirror certificate for a running mirror and delivers it over the network: the mirror becomes an index peer. Publisher only.',
    args: { peerId: t.arg.string({ required: true, description: 'The mirror\'s libp2p peer id (it prints it at start).' }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'admitMirror')
      return await ctx.peer.admitMirror(args.peerId)
    }
  }),
  createChannel: t.field({
    type: ChannelPayload,
    nullable: true,
    args: {
      name: t.arg.string({ required: true }),
      description: t.arg.string({ required: false, defaultValue: '' }),
      filter: t.arg.string({ required: false, description: 'Tree pattern: only units matching it are announced.' })
    },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'createChannel')
      return { channel: await ctx.peer.createChannel(args.name, args.description ?? '', args.filter ?? undefined) }
    }
  }),
  deleteChannel: t.field({
    type: DeleteChannelPayload,
    nullable: true,
    args: { name: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'deleteChannel')
      return { name: args.name, deleted: await ctx.peer.deleteChannel(args.name) }
    }
  }),
  submitWishList: t.field({
    type: WishListPayload,
    nullable: true,
    description: 'Computes this peer\'s wish list for a release (its units, narrowed to `pattern`\'s, minus the identical units this peer holds), sends it to the publisher\'s open flash crowd and takes part: the covering cluster torrents are downloaded once announced (follow `flashCrowd(release)`).',
    args: { release: t.arg.string({ required: true }), pattern: t.arg.string({ required: false, description: 'Tree pattern: only units whose documents it selects are wanted (default: the whole release).' }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'submitWishList')
      return { wishList: await ctx.peer.submitWishList(args.release, args.pattern ?? undefined) }
    }
  }),
  addContent: t.field({
    type: AddContentPayload,
    nullable: true,
    description: 'Adds files this peer already has (e.g. a package cache) to its content store: each is matched to units by sha256, stored, seeded and provided; files no unit names are listed, not stored.',
    args: {
      files: t.arg({ type: ['File'], required: false, description: 'Uploaded files (multipart request).' }),
      paths: t.arg.stringList({ required: false, description: 'Files or folders on the peer\'s machine: authenticated callers on that machine only.' })
    },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'addContent')
      const sources = [...uploads(args.files ?? []), ...serverPaths(ctx, args.paths ?? [])]
      if (sources.length === 0) throw badInput('nothing to add: give files (uploads) or paths', { argument: 'paths' })
      if (ctx.peer.addContent === undefined) throw badInput('this peer keeps no content store')
      return await ctx.peer.addContent(sources)
    }
  }),
  download: t.field({
    type: DownloadPayload,
    nullable: true,
    description: 'Starts downloading units (document ids) or the packages a pattern selects: give exactly one.',
    args: { units: t.arg.stringList({ required: false }), pattern: t.arg.string({ required: false }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'download')
      const units = args.units ?? undefined
      const pattern = args.pattern ?? undefined
      if ((units === undefined) === (pattern === undefined)) throw badInput('download takes exactly one of units or pattern')
      if (units !== undefined && units.length === 0) throw badInput('units is empty', { argument: 'units' })
      return { download: await ctx.peer.download(units !== undefined ? { units } : { pattern }) }
    }
  }),
  cancelDownload: t.field({
    type: DownloadPayload,
    nullable: true,
    args: { id: t.arg.id({ required: true, description: 'The Download\'s id or downloadId.' }) },
    resolve: async (_root, args, ctx) => {
      requireAuth(ctx, 'cancelDownload')
      return { download: await ctx.peer.cancelDownload(downloadKey(String(args.id))) }
    }
  })
}))
