import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it, beforeAll } from 'vitest'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
// kad-dht exports neither of these: they are the exact code its getClosestPeers runs (key -> kad id, ordering).
import { convertBuffer, convertPeerId } from '../../node_modules/@libp2p/kad-dht/dist/src/utils.js'
import { PeerDistanceList } from '../../node_modules/@libp2p/kad-dht/dist/src/peer-distance-list.js'
import {
  Placement, blockKey, compareDistance, docKey, gained, headKey, idKey, kadIdOfKey, kadIdOfPeer, lost, sha256
} from '../../src/dht/placement.ts'

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

async function peerIds (n: number, salt = 0): Promise<PeerId[]> {
  const out: PeerId[] = []
  for (let i = 0; i < n; i++) {
    const seed = new Uint8Array(32); seed[0] = salt; seed[1] = i >> 8; seed[2] = i & 0xff
    out.push(peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)))
  }
  return out
}

async function kadDhtClosest (key: Uint8Array, peers: PeerId[], r: number): Promise<string[]> {
  const list = new PeerDistanceList(await convertBuffer(key), r)
  for (const id of peers) await list.add({ id, multiaddrs: [] })
  return list.peers.map(p => p.peer.id.toString())
}

function keysN (n: number): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => headKey(`w:token${i}`))
}

describe('placement keys', () => {
  it('are the UTF-8 of the documented strings', () => {
    const utf8 = (t: string): string => hex(new TextEncoder().encode(t))
    expect(hex(headKey('e:package'))).toBe(utf8('edos/term/e:package'))
    expect(hex(blockKey('e:package', 7))).toBe(utf8('edos/term/e:package#7'))
    expect(hex(docKey(42))).toBe(utf8('edos/doc/#42'))
    expect(hex(idKey('vim 2:9.0.1378-2 amd64'))).toBe(utf8('edos/doc/vim 2:9.0.1378-2 amd64'))
    expect(hex(headKey('w:éditeur'))).toBe(utf8('edos/term/w:éditeur'))
    expect(sha256('x')).toBeInstanceOf(Uint8Array)
    expect(sha256(new Uint8Array([1, 2]))).toEqual(sha256(new Uint8Array([1, 2])))
  })

  it('map to kad ids exactly as kad-dht does', async () => {
    const [peer] = await peerIds(1)
    const key = headKey('e:name')
    expect(hex(kadIdOfKey(key))).toBe(hex(await convertBuffer(key)))
    expect(hex(kadIdOfPeer(peer))).toBe(hex(await convertPeerId(peer)))
    expect(hex(kadIdOfPeer(peer.toString()))).toBe(hex(await convertPeerId(peer)))
  })

  it('hash keys of every length and script like node:crypto (kad ids)', () => {
    const p = new Placement([])
    const target = p as unknown as { target: Uint32Array }
    const kadWords = (key: Uint8Array): number[] => { const d = createHash('sha256').update(key).digest(); return Array.from({ length: 8 }, (_, i) => d.readUInt32BE(4 * i)) }
    const alphabet = ['a', 'Z', '9', ':', 'é', '€', '😀', '\u0000']
    let seed = 3
    const pick = (): string => { seed = (seed * 1103515245 + 12345) >>> 0; return alphabet[seed % alphabet.length] }
    const out: number[] = []
    for (let len = 0; len < 330; len++) {
      const mixed = Array.from({ length: len }, pick).join('')
      for (const t of ['x'.repeat(len), mixed]) {
        expect(hex(headKey(t))).toBe(hex(new TextEncoder().encode('edos/term/' + t)))
        p.headOwnerIndexes(t, out)
        expect([...target.target]).toEqual(kadWords(headKey(t)))
        p.idOwnerIndexes(t, out)
        expect([...target.target]).toEqual(kadWords(idKey(t)))
      }
    }
    // keys of any length (the JS hash up to its buffer, native past it) and any bytes
    for (const n of [0, 1, 31, 32, 33, 55, 56, 64, 119, 120, 500, 951, 952, 953, 1024, 4000]) {
      const key = randomBytes(n)
      p.ownerIndexes(key, out)
      expect([...target.target]).toEqual(kadWords(key))
    }
    expect(hex(blockKey('w:é', 4294967295))).toBe(hex(new TextEncoder().encode('edos/term/w:é#4294967295')))
    expect(hex(headKey('\ud800 lone surrogate'))).toBe(hex(new TextEncoder().encode('edos/term/\ud800 lone surrogate')))
  })

  it('compareDistance orders by XOR as big-endian bytes', () => {
    const t = new Uint8Array([0x0f, 0])
    expect(compareDistance(t, new Uint8Array([0x0e, 0xff]), new Uint8Array([0x1f, 0]))).toBe(-1)
    expect(compareDistance(t, new Uint8Array([0x1f, 0]), new Uint8Array([0x0e, 0xff]))).toBe(1)
    expect(compareDistance(t, t, t)).toBe(0)
    expect(() => compareDistance(t, new Uint8Array(1), t)).toThrow(RangeError)
  })
})

describe('Placement', () => {
  let peers: PeerId[]
  let names: string[]
  beforeAll(async () => { peers = await peerIds(24); names = peers.map(String) })

  it('agrees with kad-dht ordering for r = 1, 3, 5 and r > n', async () => {
    for (const r of [1, 3, 5, 30]) {
      const p = new Placement(names, r)
      for (const key of keysN(150)) expect(p.owners(key)).toEqual(await kadDhtClosest(key, peers, r))
    }
    const odd = new TextEncoder().encode('not a 32-byte key')
    expect(new Placement(names).owners(odd)).toEqual(await kadDhtClosest(odd, peers, 3))
  })

  it('falls back to the full comparison when the first 8 bytes tie', async () => {
    const p = new Placement(names, 4)
    // Make every prefix equal so each comparison is a tie that only the full kad ids decide.
    const inner = p as unknown as { hi: Uint32Array, lo: Uint32Array }
    inner.hi.fill(0x12345678); inner.lo.fill(0x9abcdef0)
    for (const key of keysN(100)) expect(p.owners(key)).toEqual(await kadDhtClosest(key, peers, 4))
  })

  it('does not depend on the order, duplicates or form of the peer list', () => {
    const a = new Placement(names)
    const shuffled = [...names].reverse()
    shuffled.splice(3, 0, names[5], names[0])
    const b = new Placement([...peers.slice(0, 5), ...shuffled])
    expect(b.peers).toEqual(a.peers)
    expect(a.size).toBe(24)
    for (const key of keysN(300)) expect(b.owners(key)).toEqual(a.owners(key))
  })

  it('handles small and empty peer sets', () => {
    const key = headKey('e:x')
    expect(new Placement([]).owners(key)).toEqual([])
    expect(new Placement([]).isOwner(key, names[0])).toBe(false)
    const two = new Placement(names.slice(0, 2), 3)
    expect(two.width).toBe(2)
    expect(new Set(two.owners(key))).toEqual(new Set(names.slice(0, 2)))
    expect(() => new Placement(names, 0)).toThrow(RangeError)
    expect(() => new Placement(['not-a-peer'])).toThrow()
  })

  it('isOwner, index and ownerIndexes agree with owners', () => {
    const p = new Placement(names, 3)
    const out = new Uint32Array(3)
    const arr: number[] = []
    for (const key of keysN(200)) {
      const owners = p.owners(key)
      expect(owners).toHaveLength(3)
      expect(new Set(owners).size).toBe(3)
      expect(p.ownerIndexes(key, out)).toBe(3)
      expect([...out].map(i => p.peers[i])).toEqual(owners)
      p.ownerIndexes(key, arr)
      expect(arr.map(i => p.peers[i])).toEqual(owners)
      for (const n of names) expect(p.isOwner(key, n)).toBe(owners.includes(n))
    }
    expect(p.isOwner(headKey('e:x'), 'stranger')).toBe(false)
    expect(p.index(names[3])).toBe(p.peers.indexOf(names[3]))
    expect(p.index('stranger')).toBe(-1)
    expect(() => p.ownerIndexes(headKey('e:x'), new Uint32Array(2))).toThrow(RangeError)
    expect(() => p.ownerIndexesOfKadId(new Uint8Array(8), out)).toThrow(RangeError)
    // Any bytes as a key: its owners are those of its kad id.
    const odd = new Uint8Array([1, 2, 3])
    p.ownerIndexes(odd, out)
    const viaKad = new Uint32Array(3)
    p.ownerIndexesOfKadId(kadIdOfKey(odd), viaKad)
    expect([...out]).toEqual([...viaKad])
  })

  it('places heads, blocks, documents and ids by their text as by their keys', () => {
    const p = new Placement(names, 3)
    const viaKey = new Uint32Array(3)
    const viaText = new Uint32Array(3)
    // ASCII, non-ASCII, empty, and long enough to be hashed natively (past the JS path's buffer).
    const texts = ['w:python', 'v:name=caf\u00e9', 'e:package', '', 'v:description=' + 'x'.repeat(290), 'v:d=' + '\u00e9'.repeat(400), '\ud83d\ude00 pair', 'lone \ud800', 'y'.repeat(295) + '\ud800']
    // (the last two: a lone surrogate, which both paths encode as U+FFFD; the one before, long enough to be hashed natively from its text)
    for (const t of texts) {
      p.ownerIndexes(headKey(t), viaKey); p.headOwnerIndexes(t, viaText)
      expect([...viaText]).toEqual([...viaKey])
      for (const range of [0, 7, 123456]) {
        p.ownerIndexes(blockKey(t, range), viaKey); p.blockOwnerIndexes(t, range, viaText)
        expect([...viaText]).toEqual([...viaKey])
      }
      p.ownerIndexes(idKey(t), viaKey); p.idOwnerIndexes(t, viaText)
      expect([...viaText]).toEqual([...viaKey])
    }
    for (const doc of [0, 1, 63_441, 2 ** 32 - 1]) {
      p.ownerIndexes(docKey(doc), viaKey); p.docOwnerIndexes(doc, viaText)
      expect([...viaText]).toEqual([...viaKey])
    }
  })

  it('spreads many keys over 9 peers', () => {
    const p = new Placement(names.slice(0, 9), 3)
    const counts = new Array<number>(9).fill(0)
    const out = new Uint32Array(3)
    const n = 90_000
    for (let i = 0; i < n; i++) {
      p.ownerIndexes(blockKey('e:package', i), out)
      for (const j of out) counts[j]++
    }
    const fair = n * 3 / 9
    // XOR placement over random peer ids is uneven by nature (each peer owns the keyspace near its id):
    // no peer may be starved or hold most of the index.
    for (const c of counts) { expect(c).toBeGreaterThan(fair * 0.5); expect(c).toBeLessThan(fair * 1.5) }
    expect(counts.reduce((a, b) => a + b, 0)).toBe(n * 3)
  })

  it('places 200k keys quickly', () => {
    const p = new Placement(names.slice(0, 9), 3)
    const keys = Array.from({ length: 200_000 }, (_, i) => blockKey('w:x', i))
    const out = new Uint32Array(3)
    const t0 = performance.now()
    let sum = 0
    for (const k of keys) { p.ownerIndexes(k, out); sum += out[0] }
    const ms = performance.now() - t0
    expect(sum).toBeGreaterThan(0)
    expect(ms).toBeLessThan(5000)
  })
})

describe('churn', () => {
  it('gained and lost name exactly the peers whose ownership changed', async () => {
    const all = (await peerIds(12, 7)).map(String)
    const prev = new Placement(all.slice(0, 9))
    const next = new Placement([...all.slice(1, 9), ...all.slice(9, 11)])
    let moved = 0
    for (const key of keysN(2000)) {
      const g = gained(key, prev, next)
      const l = lost(key, prev, next)
      const before = prev.owners(key)
      const after = next.owners(key)
      expect(g).toEqual(after.filter(p => !before.includes(p)))
      expect(l).toEqual(before.filter(p => !after.includes(p)))
      expect(g.length).toBe(l.length)
      if (before.includes(all[0])) expect(l).toContain(all[0])
      moved += g.length
      expect(gained(key, prev, prev)).toEqual([])
    }
    // One peer left and two joined out of ~10: a fraction of keys move, not all.
    expect(moved).toBeGreaterThan(0)
    expect(moved).toBeLessThan(2000 * 3 / 2)
  })
})
