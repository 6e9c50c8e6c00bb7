import { describe, expect, it } from 'vitest'
import { PackBuilder, PackReader, PackSpans, valueAt } from '../../src/dht/head-packs.ts'
import { CorruptBlockError } from '../../src/xml-twig-index/postings/codec.ts'

const enc = new TextEncoder()
const k = (s: string): Uint8Array => enc.encode(s)
const records = (pack: Uint8Array): Array<[string, string]> => {
  const r = new PackReader(pack)
  const out: Array<[string, string]> = []
  while (r.next()) out.push([new TextDecoder().decode(r.key), new TextDecoder().decode(r.value)])
  return out
}

describe('head packs', () => {
  it('keeps records in the order they came, with keys sharing prefixes, and their lowest and highest key', () => {
    const b = new PackBuilder()
    const input: Array<[string, string]> = [['Hw:vim', '1'], ['Hw:vim-tiny', '22'], ['Hw:abc', ''], ['Hw:vimx', '333'], ['Hw:vim', '4']]
    const ats = input.map(([key, value]) => b.add(k(key), k(value)))
    expect(b.count).toBe(5)
    const { value, lo, hi } = b.finish()
    expect(b.count).toBe(0)
    expect(records(value)).toEqual(input)
    expect(new TextDecoder().decode(lo)).toBe('Hw:abc')
    expect(new TextDecoder().decode(hi)).toBe('Hw:vimx')
    // a value is read at the byte add gave, and the reader gives the same bytes
    expect(ats.map((at) => new TextDecoder().decode(valueAt(value, at)))).toEqual(input.map(([, v]) => v))
    const r = new PackReader(value)
    const seen: number[] = []
    while (r.next()) seen.push(r.at)
    expect(seen).toEqual(ats)
    expect(() => valueAt(value, value.length - 1)).toThrow(CorruptBlockError)
    // a reused builder starts afresh
    b.add(k('Hx'), k('y'))
    expect(records(b.finish().value)).toEqual([['Hx', 'y']])
  })

  it('packs ranges of a larger buffer exactly as whole keys and values, long ones included', () => {
    const input: Array<[Uint8Array, Uint8Array]> = [
      [k('Hw:b' + 'x'.repeat(200)), new Uint8Array(300).fill(7)],
      [k('Hw:a'), k('1')],
      [k('Hw:b' + 'x'.repeat(200) + 'y'), new Uint8Array(20_000).fill(9)],
      [k('Hw:c'), new Uint8Array(0)]
    ]
    // every key and value inside one buffer, after some unrelated bytes
    const all = new Uint8Array(64 + input.reduce((n, [a, b]) => n + a.length + b.length, 0)).fill(0xee)
    let at = 64
    const ranges = input.map(([key, value]) => { const ks = at; all.set(key, at); at += key.length; const vs = at; all.set(value, at); at += value.length; return [ks, ks + key.length, vs, vs + value.length] })
    const whole = new PackBuilder(); const ranged = new PackBuilder()
    const ats = input.map(([key, value]) => whole.add(key, value))
    const rangedAts = ranges.map(([ks, ke, vs, ve]) => ranged.addRange(all, ks, ke, all, vs, ve))
    const a = whole.finish(); const b = ranged.finish()
    expect(rangedAts).toEqual(ats)
    expect(b.value).toEqual(a.value)
    expect(b.lo).toEqual(input[1][0])
    expect(b.hi).toEqual(input[3][0])
    expect(a.lo).toEqual(b.lo); expect(a.hi).toEqual(b.hi)
    expect(valueAt(b.value, rangedAts[2])).toEqual(input[2][1])
  })

  it('refuses a pack that is truncated or shares more than the key before it', () => {
    const b = new PackBuilder()
    b.add(k('Habc'), k('value'))
    const { value } = b.finish()
    const read = (bytes: Uint8Array): unknown => { const r = new PackReader(bytes); while (r.next()); return undefined }
    expect(() => read(value.subarray(0, value.length - 2))).toThrow(CorruptBlockError)
    expect(() => read(Uint8Array.of(3, 1, 0x48, 0))).toThrow(/shares more than the key before it/)
    expect(() => read(Uint8Array.of(0x80))).toThrow(/truncated/)
  })

  it('finds the packs whose span meets a range, overlapping or not', () => {
    const s = new PackSpans()
    s.add(1, k('a'), k('c'))
    s.add(2, k('d'), k('f'))
    s.add(3, k('g'), k('k'))
    s.add(4, k('b'), k('h')) // a later publish overlapping three of them
    expect(s.meeting(k('a'), k('b'))).toEqual([1])
    expect(s.meeting(k('c'), k('d'))).toEqual([1, 4])
    expect(s.meeting(k('e'), k('e\u0000'))).toEqual([2, 4])
    expect(s.meeting(k('i'), k('z'))).toEqual([3])
    expect(s.meeting(k('l'), k('z'))).toEqual([])
    expect(s.meeting(k('0'), k('a'))).toEqual([])
    s.add(5, k('j'), k('m'))
    expect(s.meeting(k('l'), k('z'))).toEqual([5])
  })
})
