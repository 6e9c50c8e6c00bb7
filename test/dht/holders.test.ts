/**
 * fewestPeers: the holders asked first for a set of keys are few (greedy
 * set cover), this peer first, suspects never first, k holders per item,
 * and no holder takes more than its cap.
 */
import { describe, expect, it } from 'vitest'
import { fewestPeers } from '../../src/dht/holders.ts'

const none = (): boolean => false
const firsts = (o: string[][], k = 1): Set<string> => new Set(o.flatMap((x) => x.slice(0, k)))

describe('fewestPeers', () => {
  it('asks first the holders that cover the most keys, nearest first on ties, and keeps every replica for failover', () => {
    // Nearest first each: a, b, c, d would all be woken; b and d hold every key.
    const owners = [['a', 'b', 'x'], ['b', 'c', 'y'], ['c', 'd', 'b'], ['d', 'a', 'z'], ['e', 'b', 'd']]
    const out = fewestPeers(owners, 'self', none)
    expect(firsts(out)).toEqual(new Set(['b', 'd']))
    out.forEach((o, i) => expect([...o].sort()).toEqual([...owners[i]].sort()))
    // a key whose nearest holder is chosen keeps its order
    expect(out[1]).toEqual(owners[1])
  })

  it('asks this peer first for what it holds (no network hop)', () => {
    const out = fewestPeers([['a', 'me', 'b'], ['a', 'c', 'd'], ['b', 'a', 'me']], 'me', none)
    expect(out[0][0]).toBe('me')
    expect(out[2][0]).toBe('me')
    expect(out[1][0]).toBe('a')
  })

  it('never asks a suspected holder first while another holds the key', () => {
    const out = fewestPeers([['bad', 'a'], ['bad', 'b'], ['bad', 'c']], 'me', (p) => p === 'bad')
    for (const o of out) { expect(o[0]).not.toBe('bad'); expect(o).toContain('bad') }
  })

  it('chooses k distinct holders per item (heads: two replicas), still few of them', () => {
    const owners = [['a', 'b', 'c'], ['b', 'c', 'd'], ['c', 'a', 'e'], ['d', 'c', 'b']]
    const out = fewestPeers(owners, 'me', none, 2)
    for (const o of out) expect(new Set(o.slice(0, 2)).size).toBe(2)
    expect(firsts(out, 2).size).toBeLessThanOrEqual(3)
  })

  it('spreads a large read: no holder takes more than its cap', () => {
    const owners = Array.from({ length: 100 }, (_, i) => ['hub', `p${i % 7}`, `q${i % 5}`])
    const out = fewestPeers(owners, 'me', none)
    const load = new Map<string, number>()
    for (const o of out) load.set(o[0], (load.get(o[0]) ?? 0) + 1)
    expect(load.get('hub')).toBe(25)
    expect([...load.values()].every((n) => n <= 25)).toBe(true)
  })
})
