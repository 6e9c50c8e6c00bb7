/** The flash-crowd fields over a peer's status: the publisher's view of each requester's progress. */
import { describe, expect, it } from 'vitest'
import type { ExecutionResult } from 'graphql'
import type { FlashCrowdStatus } from '../../src/actors/types.ts'
import { FakePeer } from './fake-peer.ts'
import { context, data, subscription } from './helpers.ts'

const A = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const B = '12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK'

function publisherStatus (over: Partial<FlashCrowdStatus> = {}): FlashCrowdStatus {
  return {
    release: 'trixie', side: 'publisher', state: 'announced', startedAt: new Date(0).toISOString(), updatedAt: new Date(1000).toISOString(),
    wishLists: 2, requesters: [{ peer: A, units: 3, bytes: 3_000_000, late: false, bytesDone: 1_250_000 }, { peer: B, units: 1, bytes: 500_000, late: true }],
    clusters: [], uncovered: 0, bytesDone: 0, bytesTotal: 0, received: 0, wasteMeasured: 0, peers: 0, rate: 0, ...over
  }
}

const REQUESTERS = '{ release side requesters { peer units bytes late bytesDone } }'

describe('flash crowd resolvers', () => {
  it('gives each requester\'s bytes done on the publisher, null before it joins a torrent', async () => {
    const peer = new FakePeer()
    peer.flashCrowdChanged(publisherStatus())
    const d = await data(context(peer), `query ($r: String!) { flashCrowd(release: $r) ${REQUESTERS} }`, { r: 'trixie' })
    expect(d.flashCrowd).toEqual({
      release: 'trixie',
      side: 'PUBLISHER',
      requesters: [{ peer: A, units: 3, bytes: 3_000_000, late: false, bytesDone: 1_250_000 }, { peer: B, units: 1, bytes: 500_000, late: true, bytesDone: null }]
    })
    expect((await data(context(peer), `{ flashCrowds ${REQUESTERS} }`)).flashCrowds[0].requesters[1].bytesDone).toBeNull()
  })

  it('follows the progress live on the flashCrowd subscription', async () => {
    const peer = new FakePeer()
    peer.flashCrowdChanged(publisherStatus())
    const r = await subscription(context(peer), `subscription { flashCrowd(release: "trixie") { requesters { peer bytesDone } } }`)
    if (!(Symbol.asyncIterator in r)) throw new Error(`not a stream: ${JSON.stringify(r)}`)
    const it = r as AsyncIterableIterator<ExecutionResult>
    expect((await it.next()).value.data.flashCrowd.requesters).toEqual([{ peer: A, bytesDone: 1_250_000 }, { peer: B, bytesDone: null }])
    const next = it.next()
    await new Promise((resolve) => setTimeout(resolve, 5))
    const s = publisherStatus()
    peer.flashCrowdChanged({ ...s, requesters: s.requesters.map((q) => ({ ...q, bytesDone: q.bytes })) })
    expect((await next).value.data.flashCrowd.requesters).toEqual([{ peer: A, bytesDone: 3_000_000 }, { peer: B, bytesDone: 500_000 }])
    await it.return?.()
  })
})
