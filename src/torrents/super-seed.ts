/**
 * Super-seeding for a torrent whose only first source is this peer (a
 * flash-crowd cluster on the publisher), after BEP 16 ("initial seeding"):
 * the seed announces no piece at first, then offers each downloader a few
 * pieces at a time, preferring pieces no other downloader has or was
 * offered. Downloaders get different pieces from the seed and trade them
 * among themselves, so the seed uploads each piece about once instead of
 * once per downloader (the seed's upload / unique bytes is the figure the
 * flash crowd is judged by).
 *
 * Unlike BEP 16 the seed knows what each downloader wants (its wish list,
 * per-file selection): it offers only those pieces, so an offer is never
 * wasted on a piece the downloader will not request. A downloader the seed
 * does not know (another BitTorrent client) is seeded normally.
 *
 * A piece someone else already holds is offered again only when the
 * downloader starves: nothing offered is pending and it announced no new
 * piece for `starveMs` (its other sources are slow or gone).
 */

/** The part of a bittorrent-protocol Wire super-seeding uses. */
export interface SeedWire {
  /** The remote's BitTorrent peer id (hex), known once the handshake is in. */
  peerId?: string
  hasFast?: boolean
  destroyed?: boolean
  /** We choke it: it cannot request, so offers to it would sit idle (until it is interested, choked is just the start). */
  amChoking?: boolean
  peerInterested?: boolean
  /** BEP 54 (lt_donthave), which WebTorrent loads on every wire: takes an offer back. */
  lt_donthave?: { donthave: (i: number) => void }
  peerPieces: { get: (i: number) => boolean }
  have: (i: number) => void
  unchoke: () => void
  bitfield: (bitfield: Uint8Array | { buffer: Uint8Array }) => void
  haveAll: () => void
  haveNone: () => void
  on: (event: string, cb: (...args: unknown[]) => void) => unknown
  once: (event: string, cb: (...args: unknown[]) => void) => unknown
}

/** The part of a WebTorrent Torrent super-seeding uses (its 'wire' event comes before WebTorrent sends our bitfield). */
export interface SeedTorrent {
  on: (event: 'wire', cb: (wire: SeedWire) => void) => unknown
}

export interface SuperSeedInit {
  /**
   * The pieces a downloader (by its BitTorrent peer id, hex) wants, 'all'
   * (BEP 16's case: everyone wants the whole torrent), or undefined when it
   * is not known (it is then seeded normally).
   */
  wantedPieces: (peerId: string) => ReadonlySet<number> | 'all' | undefined
  /** Pieces offered to one downloader at a time. Default: enough for 1 MiB, at least 2. */
  window?: number
  /** How long a downloader announces nothing new before it is offered pieces others hold. Default 5,000 ms. */
  starveMs?: number
  /** Pieces others hold offered to a starving downloader at a time. Default 2. */
  starveOffers?: number
  /** An offered piece never requested is withdrawn after this long. Default 20,000 ms. */
  offerTimeoutMs?: number
  /** How often starving downloaders and stale offers are looked at. Default 500 ms. */
  checkMs?: number
}

interface Downloader {
  wire: SeedWire
  /** Wanted pieces, in the order this downloader walks them (rotated so downloaders start apart). */
  wanted: Uint32Array
  wantedSet: ReadonlySet<number>
  cursor: number
  /** A whole walk found no fresh piece: skip walking until a piece turns fresh again. */
  noFresh: boolean
  /** Our (empty) bitfield is out: offers may follow. */
  ready: boolean
  /** Pieces it is known to hold (counted in `holders`). */
  holds: Uint8Array
  /** Offered, not yet announced back: piece -> when offered. */
  pending: Map<number, number>
  requested: Set<number>
  /** Offers it never requested: not offered again. */
  declined: Set<number>
  lastNews: number
  /** Wanted pieces it does not hold yet. */
  missing: number
}

/** Piece-level statistics of one downloader, as the seed sees it. */
export interface SuperSeedPeer {
  peerId: string
  /** Bytes of the pieces it wants, and of those it holds (a last, shorter piece counts its length). */
  wantedBytes: number
  heldBytes: number
  pending: number
}

export class SuperSeeder {
  private readonly pieces: number
  private readonly geometry: { pieceLength: number, length: number }
  /** Per piece: downloaders known to hold it. */
  private readonly holders: Uint16Array
  /** Per piece: offers pending. */
  private readonly offers: Uint16Array
  private readonly downloaders = new Set<Downloader>()
  private readonly window: number
  private readonly timer: NodeJS.Timeout
  /** Pieces offered, duplicates included (a piece offered to two downloaders counts twice). */
  offered = 0
  duplicates = 0
  private joined = 0

  constructor (torrent: SeedTorrent, geometry: { pieceLength: number, length: number }, private readonly init: SuperSeedInit) {
    this.geometry = geometry
    this.pieces = Math.ceil(geometry.length / geometry.pieceLength)
    this.holders = new Uint16Array(this.pieces)
    this.offers = new Uint16Array(this.pieces)
    this.window = init.window ?? Math.max(2, Math.ceil((1 << 20) / geometry.pieceLength))
    torrent.on('wire', (wire) => { this.onWire(wire) })
    this.timer = setInterval(() => { this.check() }, init.checkMs ?? 500)
    this.timer.unref()
  }

  stop (): void { clearInterval(this.timer) }

  /** Each known downloader's progress (pieces wanted / held). */
  peers (): SuperSeedPeer[] {
    return [...this.downloaders].map((d) => {
      let wantedBytes = 0
      let heldBytes = 0
      for (const i of d.wanted) {
        const bytes = Math.min(this.geometry.pieceLength, this.geometry.length - i * this.geometry.pieceLength)
        wantedBytes += bytes
        if (d.holds[i] === 1) heldBytes += bytes
      }
      return { peerId: d.wire.peerId ?? '', wantedBytes, heldBytes, pending: d.pending.size }
    })
  }

  private onWire (wire: SeedWire): void {
    const wanted = wire.peerId === undefined ? undefined : this.init.wantedPieces(wire.peerId)
    if (wanted === undefined) return
    // WebTorrent sends our bitfield (or have-all) right after this event: say "nothing" instead, then offer piece by piece.
    const sendBitfield = wire.bitfield.bind(wire)
    const sendHaveNone = wire.haveNone.bind(wire)
    const empty = new Uint8Array(Math.ceil(this.pieces / 8))
    const announced = (): void => { d.ready = true; setTimeout(() => { this.refill(d) }, 0) }
    wire.bitfield = () => { if (wire.hasFast === true) sendHaveNone(); else sendBitfield(empty); announced() }
    wire.haveAll = () => { sendHaveNone(); announced() }
    const list = wanted === 'all' ? Uint32Array.from({ length: this.pieces }, (_, i) => i) : Uint32Array.from([...wanted].filter((i) => i < this.pieces).sort((a, b) => a - b))
    // Start each downloader at a different place, so first offers differ even before any piece is held.
    const start = list.length === 0 ? 0 : (this.joined++ * 7919) % list.length
    const d: Downloader = { missing: list.length, wantedSet: new Set(list), wire, wanted: Uint32Array.from([...list.subarray(start), ...list.subarray(0, start)]), cursor: 0, noFresh: false, ready: false, holds: new Uint8Array(this.pieces), pending: new Map(), requested: new Set(), declined: new Set(), lastNews: Date.now() }
    this.downloaders.add(d)
    const learn = (): void => {
      let news = false
      for (let i = 0; i < this.pieces; i++) if (d.holds[i] === 0 && wire.peerPieces.get(i)) { this.held(d, i); news = true }
      if (news) d.lastNews = Date.now()
      this.refill(d)
    }
    wire.on('have', (index) => { const i = index as number; if (d.holds[i] === 0) { this.held(d, i); d.lastNews = Date.now() } this.refill(d) })
    wire.on('bitfield', learn)
    wire.on('have-all', learn)
    wire.on('request', (index) => { d.requested.add(index as number) })
    wire.on('uninterested', () => { this.refill(d) })
    // WebTorrent unchokes an interested downloader in its own listener, after this one.
    wire.on('interested', () => { setTimeout(() => { this.refill(d) }, 0) })
    wire.once('close', () => {
      this.downloaders.delete(d)
      for (const i of d.pending.keys()) this.withdraw(i)
      for (let i = 0; i < this.pieces; i++) if (d.holds[i] === 1 && --this.holders[i] === 0 && this.offers[i] === 0) this.freshAgain()
    })
  }

  private withdraw (i: number): void {
    if (--this.offers[i] === 0 && this.holders[i] === 0) this.freshAgain()
  }

  /** A piece nobody holds or was offered again (a downloader left, an offer lapsed): every walk may find it. */
  private freshAgain (): void {
    for (const d of this.downloaders) d.noFresh = false
  }

  private held (d: Downloader, i: number): void {
    d.holds[i] = 1
    if (d.wantedSet.has(i)) d.missing--
    this.holders[i]++
    if (d.pending.delete(i)) this.withdraw(i)
  }

  private offer (d: Downloader, i: number): void {
    if (this.holders[i] + this.offers[i] > 0) this.duplicates++
    this.offered++
    d.pending.set(i, Date.now())
    this.offers[i]++
    d.wire.have(i)
    // Offers pace a downloader here, not choking: WebTorrent's seed unchokes a wire on its first interest only, and
    // chokes wires it takes for seeders (a leecher that announced have-none looks like one), which would leave offers idle.
    if (d.wire.amChoking === true) d.wire.unchoke()
  }

  /** Offers the downloader fresh pieces up to the window; pieces others hold only when it starves. */
  private refill (d: Downloader, now = Date.now()): void {
    // Choked (WebTorrent's rechoke), it could not request what is offered: wait for the unchoke.
    if (d.wire.destroyed === true || !d.ready || d.missing === 0 || this.choked(d)) return
    const n = d.wanted.length
    // Fresh pieces: walk on from where the last walk stopped, so the whole list is walked about once.
    let scanned = 0
    for (; !d.noFresh && d.pending.size < this.window && scanned < n; scanned++) {
      const i = d.wanted[d.cursor]
      d.cursor = (d.cursor + 1) % n
      if (this.offerable(d, i) && this.holders[i] + this.offers[i] === 0) { this.offer(d, i); scanned = -1 }
    }
    if (scanned >= n) d.noFresh = true
    if (d.pending.size > 0 || now - d.lastNews < (this.init.starveMs ?? 5000)) return
    // Starving: the least held pieces it still lacks.
    const rest = [...d.wanted].filter((i) => this.offerable(d, i)).sort((a, b) => (this.holders[a] + this.offers[a]) - (this.holders[b] + this.offers[b]))
    // A trickle, not a window: the other holders are still its main source, the publisher only unblocks it.
    // Measured (16-peer flash-crowd bench, loaded machine): feeding a starving downloader its next pieces as soon
    // as it had the last ones raised the publisher's upload from 1.07x to 1.35x the unique bytes.
    for (const i of rest.slice(0, this.init.starveOffers ?? 2)) this.offer(d, i)
    if (rest.length > 0) d.lastNews = now
  }

  /** Interested yet choked by us: it cannot request now. */
  private choked (d: Downloader): boolean { return d.wire.amChoking === true && d.wire.peerInterested === true }

  private offerable (d: Downloader, i: number): boolean {
    return d.holds[i] === 0 && !d.pending.has(i) && !d.declined.has(i)
  }

  private check (): void {
    const now = Date.now()
    const timeout = this.init.offerTimeoutMs ?? 20_000
    for (const d of this.downloaders) {
      if (this.choked(d)) {
        // It could not ask while choked: unchoke it, and the clock of its offers starts again.
        d.wire.unchoke()
        for (const i of d.pending.keys()) d.pending.set(i, now)
        continue
      }
      for (const [i, at] of d.pending) {
        if (now - at < timeout || d.requested.has(i)) continue
        // Offered and never asked for: it does not want it after all. Taken back (BEP 54), so it cannot ask later and make the piece go out twice.
        d.pending.delete(i)
        d.declined.add(i)
        d.wire.lt_donthave?.donthave(i)
        this.withdraw(i)
      }
      this.refill(d, now)
    }
  }
}
