import { describe, expect, it } from 'vitest'
import { KeyDirectory } from '../../src/dht/key-directory.ts'

const enc = new TextEncoder()
/** A head chunk key: prefix, term, 00, range, firstDoc (as shard-keys.ts lays them out). */
function chunkKey (term: string, range: number, firstDoc: number): Uint8Array {
  const t = enc.encode(term)
  const k = new Uint8Array(t.length + 10)
  k[0] = 0x48; k.set(t, 1)
  new DataView(k.buffer).setUint32(t.length + 2, range); new DataView(k.buffer).setUint32(t.length + 6, firstDoc)
  return k
}

describe('KeyDirectory', () => {
  it('lists a unit\'s suffixes in key order, once each', () => {
    const d = new KeyDirectory()
    const add = (term: string, range: number, firstDoc: number): boolean => { const k = chunkKey(term, range, firstDoc); return d.add(k, k.length - 9, range, firstDoc) }
    expect(add('e:name', 2, 20000)).toBe(true)
    expect(add('e:name', 0, 9)).toBe(false)
    expect(add('e:name', 0, 1)).toBe(false)
    expect(add('e:name', 0, 9)).toBe(false) // the same key again (a re-run publish)
    expect(add('e:version', 0, 1)).toBe(true)
    const t = enc.encode('e:name')
    expect(d.suffixes(t, 0, t.length)).toEqual([[0, 1], [0, 9], [2, 20000]])
    expect(d.suffixes(t, 0, t.length, 0)).toEqual([[0, 1], [0, 9]])
    expect(d.suffixes(enc.encode('e:nam'), 0, 5)).toEqual([])
    expect(d.has(t, 0, t.length)).toBe(true)
    expect(d.has(enc.encode('v:name=vim'), 0, 10)).toBe(false)
    expect(d.size).toBe(2)
    expect(d.chunks).toBe(4)
  })

  it('keeps where, at and weight of every chunk through growth, and reports what a chunk written again replaced', () => {
    const d = new KeyDirectory()
    const n = 20_000
    for (let i = 0; i < n; i++) { const key = chunkKey(`w:t${i}`, 0, i); expect(d.add(key, key.length - 9, 0, i, i >>> 4, i % 7, i * 3)).toBe(true); expect(d.replaced).toBe(-1) }
    expect(d.size).toBe(n)
    for (const i of [0, 1, 1023, 1024, 8191, n - 1]) {
      const t = enc.encode(`w:t${i}`)
      expect(d.located(t, 0, t.length)).toEqual([[0, i, i >>> 4, i * 3]])
      const e = d.find(t, 0, t.length, 0, i)
      expect(e).toBeGreaterThanOrEqual(0)
      expect(d.whereOf(e)).toBe(i >>> 4)
      expect(d.find(t, 0, t.length, 0, i + 1)).toBe(-1)
    }
    const absent = enc.encode('w:absent')
    expect(d.has(absent, 0, absent.length)).toBe(false)
    expect(d.find(absent, 0, absent.length, 0, 0)).toBe(-1)
    // written again: the old weight and place are reported, the new ones kept
    const again = chunkKey('w:t77', 0, 77)
    expect(d.add(again, again.length - 9, 0, 77, 9999, 5, 1)).toBe(false)
    expect(d.replaced).toBe(77 % 7)
    expect(d.replacedWhere).toBe(77 >>> 4)
    const t77 = enc.encode('w:t77')
    expect(d.located(t77, 0, t77.length)).toEqual([[0, 77, 9999, 1]])
    expect(d.chunks).toBe(n)
  })

  it('keeps every unit and chunk through growth', () => {
    const d = new KeyDirectory()
    for (let i = 0; i < 5000; i++) {
      for (let r = 0; r < 3; r++) { const k = chunkKey(`v:name=p${i}`, r, r * 8192 + i); d.add(k, k.length - 9, r, r * 8192 + i) }
    }
    expect(d.size).toBe(5000)
    expect(d.chunks).toBe(15000)
    for (const i of [0, 1023, 1024, 4999]) {
      const t = enc.encode(`v:name=p${i}`)
      expect(d.suffixes(t, 0, t.length)).toEqual([[0, i], [1, 8192 + i], [2, 16384 + i]])
    }
  })
})
