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
