import { describe, expect, it } from 'vitest'
import type { ExecutionResult } from 'graphql'
import { FakePeer } from './fake-peer.ts'
import { context, data, subscription } from './helpers.ts'

type Stream = AsyncIterableIterator<ExecutionResult>

async function stream (...args: Parameters<typeof subscription>): Promise<Stream> {
  const r = await subscription(...args)
  if (!(Symbol.asyncIterator in r)) throw new Error(`not a stream: ${JSON.stringify(r)}`)
  return r
}

const tick = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 5)) }

describe('subscriptions', () => {
  it('follows a channel from `since`: logged, then live, and stops the peer\'s stream on return', async () => {
    const peer = new FakePeer()
    peer.notify('releases', 'bookworm')
    peer.notify('releases', 'bookworm')
    const it = await stream(context(peer), `subscription { channel(name: "releases", since: 1) {
      channel seq release date signature added { __typename kind doc name version arch checksum } updated { name } removed { name } } }`)
    const first = await it.next()
    expect(first.value.data.channel).toMatchObject({ channel: 'releases', seq: 2, release: 'bookworm', added: [{ __typename: 'PackageRef', kind: 'PACKAGE', name: 'vim', checksum: 'ab' }], updated: [] })
    const live = it.next()
    await tick()
    peer.notify('releases', 'trixie')
    expect((await live).value.data.channel).toMatchObject({ seq: 3, release: 'trixie' })
    // Unsubscribing while the peer has nothing to send must not wait for the next notification.
    const pending = it.next()
    await tick()
    expect(await it.return?.()).toEqual({ done: true, value: undefined })
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(peer.aborted).toBe(1)
    await tick()
    expect(peer.channelMap.get('releases')?.feed.size).toBe(0)
  })

  it('ends when the request\'s signal aborts', async () => {
    const peer = new FakePeer()
    const controller = new AbortController()
    const it = await stream(context(peer, { signal: controller.signal }), 'subscription { channel(name: "releases") { seq } }')
    const pending = it.next()
    await tick()
    controller.abort()
    expect(await pending).toEqual({ done: true, value: undefined })
    expect(peer.aborted).toBe(1)
  })

  it('reports an unknown channel or download as NOT_FOUND before streaming', async () => {
    const peer = new FakePeer()
    const r = await subscription(context(peer), 'subscription { channel(name: "nope") { seq } }')
    expect('errors' in r && r.errors?.[0].extensions).toEqual({ code: 'NOT_FOUND' })
    const d = await subscription(context(peer), 'subscription { downloadProgress(id: "d9") { state } }')
    expect('errors' in d && d.errors?.[0].extensions.code).toBe('NOT_FOUND')
    const s = await subscription(context(peer), 'subscription { channel(name: "releases", since: -1) { seq } }')
    expect('errors' in s && s.errors?.[0].extensions.code).toBe('BAD_USER_INPUT')
  })

  it('streams download progress', async () => {
    const peer = new FakePeer()
    const ctx = context(peer, { authenticated: true })
    const { download } = await data(ctx, 'mutation { download(pattern: "//package[name = \\"vim\\"]") { download { id } } }')
    const it = await stream(ctx, 'subscription ($id: ID!) { downloadProgress(id: $id) { downloadId state bytesDone } }', { id: download.download.id })
    const next = it.next()
    await tick()
    peer.progress('d1', 50)
    expect((await next).value.data.downloadProgress).toEqual({ downloadId: 'd1', state: 'RUNNING', bytesDone: 50 })
    const last = it.next()
    peer.progress('d1', 100)
    expect((await last).value.data.downloadProgress.state).toBe('COMPLETED')
    await it.return?.()
  })

  it('announces published releases and publish progress from the event bus, filtered', async () => {
    const peer = new FakePeer()
    const ctx = context(peer, { authenticated: true })
    const releases = await stream(ctx, 'subscription { releasePublished { name units root { name } } }')
    const progress = await stream(ctx, 'subscription { publishProgress(release: "bookworm") { release bytesRead bytesTotal units } }')
    const other = await stream(ctx, 'subscription { publishProgress(release: "sid") { release } }')
    const r = releases.next()
    const p = progress.next()
    const o = other.next()
    await tick()
    // An unrelated event first: the filters skip it.
    peer.bus.push({ type: 'download-progress', download: { id: 'x', state: 'RUNNING', units: [], bytesTotal: 1, bytesDone: 0, startedAt: '' } })
    await data(context(peer, { authenticated: true, sameMachine: true }), 'mutation { publishPackages(input: { paths: ["/tmp/Packages"] }) { summary { units } } }')
    expect((await p).value.data.publishProgress).toEqual({ release: 'bookworm', bytesRead: 10, bytesTotal: 10, units: 1 })
    expect((await r).value.data.releasePublished).toEqual({ name: 'bookworm', units: 6, root: { name: 'bookworm' } })
    let otherDone = false
    void o.then(() => { otherDone = true })
    await tick()
    expect(otherDone).toBe(false)
    await Promise.all([releases.return?.(), progress.return?.(), other.return?.()])
    expect(await o).toEqual({ done: true, value: undefined })
    expect(peer.aborted).toBe(3)
    expect(peer.bus.size).toBe(0)
  })
})
