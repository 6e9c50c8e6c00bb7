/**
 * Super-seeding against scripted wires (the BitTorrent side is exercised by
 * test/torrents/flash-crowd/flash-crowd.test.ts): the seed shows an empty
 * bitfield, offers only wanted pieces, a fresh piece to one downloader at a
 * time, offers a held piece only to a starving downloader, withdraws offers
 * never requested, and forgets a downloader that leaves.
 */
import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { SuperSeeder, type SeedWire } from '../../src/torrents/super-seed.ts'

class FakeWire extends EventEmitter implements SeedWire {
  hasFast = false
  destroyed = false
  readonly sent: Array<['bitfield', number[]] | ['have', number] | ['have-none']> = []
  readonly has = new Set<number>()
  peerPieces = { get: (i: number) => this.has.has(i) }
  constructor (readonly peerId: string) { super() }
  bitfield (b: Uint8Array | { buffer: Uint8Array }): void {
    const bytes = b instanceof Uint8Array ? b : b.buffer
    this.sent.push(['bitfield', [...bytes]])
  }

  have (i: number): void { this.sent.push(['have', i]) }
  amChoking = true
  peerInterested = false
  unchoke (): void { this.amChoking = false }
  haveAll (): void { throw new Error('a super-seed never says have-all') }
  haveNone (): void { this.sent.push(['have-none']) }
  offered (): number[] { return this.sent.filter((m) => m[0] === 'have').map((m) => m[1] as number) }
  /** The downloader got piece i (from anyone) and says so to the seed. */
  got (i: number): void { this.has.add(i); this.emit('have', i) }
}

describe('SuperSeeder', () => {
  afterEach(() => { vi.useRealTimers() })

  function setup (wants: Record<string, number[] | 'all'>, init: { window?: number, starveMs?: number, offerTimeoutMs?: number } = {}): { connect: (peer: string) => FakeWire, seeder: SuperSeeder } {
    vi.useFakeTimers()
    const torrent = new EventEmitter()
    // 10 pieces of 100 bytes, the last one 50.
    const seeder = new SuperSeeder(torrent as never, { pieceLength: 100, length: 950 }, { wantedPieces: (id) => { const w = wants[id]; return w === undefined || w === 'all' ? w : new Set(w) }, window: init.window ?? 2, starveMs: init.starveMs ?? 3000, offerTimeoutMs: init.offerTimeoutMs ?? 20_000, checkMs: 100 })
    const connect = (peer: string): FakeWire => {
      const w = new FakeWire(peer)
      torrent.emit('wire', w)
      // What WebTorrent does next: it sends our bitfield.
      w.bitfield({ buffer: new Uint8Array([0xff, 0xc0]) })
      vi.advanceTimersByTime(1)
      return w
    }
    return { connect, seeder }
  }

  it('shows an empty bitfield, then offers fresh wanted pieces only, each to one downloader', () => {
    const { connect, seeder } = setup({ a: [0, 1, 2, 3], b: [0, 1, 2, 3, 9] })
    const a = connect('a')
    expect(a.sent[0]).toEqual(['bitfield', [0, 0]])
    expect(a.offered()).toHaveLength(2)
    const b = connect('b')
    const first = [...a.offered(), ...b.offered()]
    expect(new Set(first).size).toBe(first.length)
    expect(first.every((i) => [0, 1, 2, 3, 9].includes(i))).toBe(true)
    // a gets its offers: it is offered the rest of what nobody has.
    for (const i of a.offered()) a.got(i)
    const aOffers = a.offered()
    expect(new Set(aOffers).size).toBe(aOffers.length)
    expect(aOffers.filter((i) => b.offered().includes(i))).toEqual([])
    expect(seeder.duplicates).toBe(0)
    expect(seeder.peers().find((p) => p.peerId === 'a')).toMatchObject({ wantedBytes: 400, heldBytes: 200 })
    expect(seeder.peers().find((p) => p.peerId === 'b')).toMatchObject({ wantedBytes: 450, heldBytes: 0 })
  })

  it('spreads the whole torrent when every downloader wants all of it (BEP 16)', () => {
    const { connect } = setup({ a: 'all', b: 'all', c: 'all' }, { window: 3 })
    const offered = ['a', 'b', 'c'].flatMap((p) => connect(p).offered())
    // Nine offers of ten pieces, no piece twice.
    expect(offered).toHaveLength(9)
    expect(new Set(offered).size).toBe(9)
    expect(offered.every((i) => i >= 0 && i < 10)).toBe(true)
  })

  it('seeds a downloader it does not know like any seed', () => {
    const { connect } = setup({ a: [0] })
    const x = connect('stranger')
    expect(x.sent).toEqual([['bitfield', [0xff, 0xc0]]])
  })

  it('offers pieces someone else holds only once the downloader starves', () => {
    const { connect, seeder } = setup({ a: [0, 1], b: [0, 1] }, { starveMs: 3000 })
    const a = connect('a')
    for (const i of a.offered()) a.got(i)
    const b = connect('b')
    // Nothing fresh for b: it should get 0 and 1 from a.
    expect(b.offered()).toEqual([])
    vi.advanceTimersByTime(2000)
    expect(b.offered()).toEqual([])
    vi.advanceTimersByTime(1500)
    expect(b.offered().sort()).toEqual([0, 1])
    expect(seeder.duplicates).toBe(2)
    // It got one of them from a meanwhile: no starving, no more offers.
    b.got(0)
    b.got(1)
    vi.advanceTimersByTime(10_000)
    expect(b.offered()).toHaveLength(2)
  })

  it('withdraws an offer never requested and offers another piece instead', () => {
    const { connect } = setup({ a: [0, 1, 2] }, { window: 1, offerTimeoutMs: 1000, starveMs: 60_000 })
    const a = connect('a')
    expect(a.offered()).toHaveLength(1)
    const ignored = a.offered()[0]
    vi.advanceTimersByTime(1200)
    expect(a.offered()).toHaveLength(2)
    expect(a.offered()[1]).not.toBe(ignored)
    // A requested offer stays, however long the transfer takes.
    a.emit('request', a.offered()[1], 0, 100)
    vi.advanceTimersByTime(5000)
    expect(a.offered()).toHaveLength(2)
  })

  it('makes the pieces of a downloader that left fresh again', () => {
    const { connect } = setup({ a: [0, 1], b: [0, 1] }, { starveMs: 60_000 })
    const a = connect('a')
    expect(a.offered().sort()).toEqual([0, 1])
    const b = connect('b')
    expect(b.offered()).toEqual([])
    a.destroyed = true
    a.emit('close')
    vi.advanceTimersByTime(200)
    expect(b.offered().sort()).toEqual([0, 1])
  })
})
