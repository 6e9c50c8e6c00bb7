/**
 * Subscription root: the peer's streams (channel logs, download progress,
 * its event bus) bridged to GraphQL. Each stream is opened with a signal that
 * aborts when the subscriber leaves (abortable.ts). Existence is checked
 * before the stream opens, so a wrong name is a NOT_FOUND result rather than
 * a stream that fails on its first event.
 */
import { builder, notFound, badInput, requireAuth } from './builder.ts'
import { abortable } from './abortable.ts'
import { downloadKey } from './mutation.ts'
import type { DownloadRecord, NotificationRecord, PeerEvent, ReleaseRecord } from '../actors/types.ts'
import { ReleaseType } from './types/release.ts'
import { DownloadType, NotificationType, PublishProgressType, type PublishProgressEvent } from './types/peer.ts'

builder.subscriptionType({
  description: 'Live streams of this peer (graphql-ws or SSE). They stay on the peer: a federation gateway does not route them.'
})

builder.subscriptionFields((t) => ({
  channel: t.field({
    type: NotificationType,
    description: 'Notifications of a channel: the logged ones after `since`, then live ones, with no gap and no duplicate. Resume with since: the last seq seen.',
    args: {
      name: t.arg.string({ required: true }),
      since: t.arg.int({ required: false, defaultValue: 0 }),
      autoDownload: t.arg.boolean({ required: false, defaultValue: false, description: 'Freshness policy: download the added and updated units of each notification on this peer (needs the API token).' })
    },
    subscribe: async (_root, args, ctx) => {
      const since = args.since ?? 0
      if (since < 0) throw badInput('since must be >= 0', { argument: 'since' })
      if (args.autoDownload === true) requireAuth(ctx, 'autoDownload')
      if ((await ctx.peer.channel(args.name)) === undefined) throw notFound(`no channel '${args.name}'`)
      return abortable<NotificationRecord>(ctx.signal, (signal) => ctx.peer.follow(args.name, since, signal, args.autoDownload === true ? 'download' : 'notify'))
    },
    resolve: (n) => n
  }),
  downloadProgress: t.field({
    type: DownloadType,
    description: 'The download\'s state each time it changes, until it completes, fails or is cancelled.',
    args: { id: t.arg.id({ required: true, description: 'The Download\'s id or downloadId.' }) },
    subscribe: async (_root, args, ctx) => {
      const id = downloadKey(String(args.id))
      if (!(await ctx.peer.downloads()).some((d) => d.id === id)) throw notFound(`no download '${id}'`)
      return abortable<DownloadRecord>(ctx.signal, (signal) => ctx.peer.downloadProgress(id, signal))
    },
    resolve: (d) => d
  }),
  releasePublished: t.field({
    type: ReleaseType,
    description: 'Each release as it is published or updated on this peer.',
    subscribe: (_root, _args, ctx) => abortable<PeerEvent, ReleaseRecord>(ctx.signal, (signal) => ctx.peer.events(signal), {
      keep: (e) => e.type === 'release-published',
      map: (e) => (e as Extract<PeerEvent, { type: 'release-published' }>).release
    }),
    resolve: (r) => r
  }),
  publishProgress: t.field({
    type: PublishProgressType,
    description: 'Progress of publishing (into `release` when given).',
    args: { release: t.arg.string({ required: false }) },
    subscribe: (_root, args, ctx) => abortable<PeerEvent, PublishProgressEvent>(ctx.signal, (signal) => ctx.peer.events(signal), {
      keep: (e) => e.type === 'publish-progress' && (args.release == null || e.release === args.release),
      map: (e) => {
        const p = e as Extract<PeerEvent, { type: 'publish-progress' }>
        return { release: p.release, ...p.progress }
      }
    }),
    resolve: (p) => p
  })
}))
