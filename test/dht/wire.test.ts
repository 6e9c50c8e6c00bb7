import { describe, expect, it } from 'vitest'
import { Uint8ArrayList } from 'uint8arraylist'
import { ByteWriter, CorruptBlockError, PostingBuffer, decodeBlock, encodeBlock, type PostingList } from '../../src/xml-twig-index/postings/codec.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import {
  bool, decodeFrame, decodePostingList, encodeFrame, encodeFrameList, encodePostingList, int, intArray, optBool, optInt, optIntArray, optStr,
  optStrArray, str, strArray
} from '../../src/dht/wire.ts'

const bytes = (...b: number[]): Uint8Array => new Uint8Array(b)
const utf8 = new TextEncoder()

function protocolError (f: () => unknown, message?: RegExp): void {
  let err: unknown
  try { f() } catch (e) { err = e }
  expect(err).toBeInstanceOf(ProtocolError)
  expect((err as ProtocolError).code).toBe('ERR_PROTOCOL')
  if (message != null) expect((err as Error).message).toMatch(message)
}

/** A frame assembled by hand, to write malformed ones. */
function raw (headerJson: string, parts: Uint8Array[] = [], count = parts.length): Uint8Array {
  const w = new ByteWriter()
  const h = utf8.encode(headerJson)
  w.varint(h.length); w.bytes(h); w.varint(count)
  for (const p of parts) { w.varint(p.length); w.bytes(p) }
  return w.result()
}

describe('frames', () => {
  it('round-trip headers and parts', () => {
    const cases: Array<[Record<string, unknown>, Uint8Array[]]> = [
      [{}, []],
      [{ op: 'fetch', terms: ['e:package', 'w:éditeur ✓'], n: 3, deep: { a: [null, true] } }, [bytes(1, 2, 3)]],
      [{ op: 'x' }, [new Uint8Array(0), new Uint8Array(300).fill(9), new Uint8Array(0)]],
      [{ many: true }, Array.from({ length: 1000 }, (_, i) => bytes(i & 0xff))],
      [{ big: 'y'.repeat(200_000) }, [new Uint8Array(1 << 20).fill(5)]]
    ]
    for (const [h, parts] of cases) {
      const f = decodeFrame(encodeFrame(h, parts))
      expect(f.header).toEqual(h)
      expect(f.parts.length).toBe(parts.length)
      f.parts.forEach((p, i) => expect(Buffer.from(p).equals(parts[i])).toBe(true))
    }
  })

  it('spells a frame as a list of buffers (parts not copied) byte for byte as one buffer', () => {
    const big = new Uint8Array(300_000).map((_, i) => i * 31)
    const cases: Array<[object, Uint8Array[]]> = [
      [{}, []], [{ op: 'x' }, [new Uint8Array(0)]], [{ a: 'é'.repeat(200) }, [Uint8Array.of(1), new Uint8Array(0), big, Uint8Array.of(2, 3)]],
      [{ op: 'append', n: 1 }, Array.from({ length: 200 }, (_, i) => big.subarray(i, i * 7))]
    ]
    for (const [header, parts] of cases) {
      const list = encodeFrameList(header, parts)
      expect(list.subarray()).toEqual(encodeFrame(header, parts))
      expect(decodeFrame(list).parts).toEqual(parts)
    }
    // the parts are the caller's buffers, not copies
    const part = new Uint8Array(100_000)
    expect([...encodeFrameList({ op: 'x' }, [part])].some((b) => b.buffer === part.buffer)).toBe(true)
    expect(() => encodeFrameList({ a: 1 }, [new Uint8Array(10)], { maxTotalBytes: 8 })).toThrow(ProtocolError)
  })

  it('gives parts as views into the input', () => {
    const enc = encodeFrame({ a: 1 }, [bytes(1, 2), bytes(3)])
    const f = decodeFrame(enc)
    expect(f.parts[0].buffer).toBe(enc.buffer)
    expect(f.parts[1].byteOffset).toBe(enc.length - 1)
  })

  it('reads a Uint8ArrayList of one or several chunks', () => {
    const enc = encodeFrame({ op: 'x' }, [bytes(7, 8, 9)])
    const one = new Uint8ArrayList(enc)
    expect(decodeFrame(one).parts[0]).toEqual(bytes(7, 8, 9))
    const many = new Uint8ArrayList(...Array.from(enc, b => bytes(b)))
    expect(decodeFrame(many)).toEqual({ header: { op: 'x' }, parts: [bytes(7, 8, 9)] })
  })

  it('refuses every truncation and trailing bytes', () => {
    const enc = encodeFrame({ op: 'fetch', n: 1 }, [bytes(1, 2, 3), new Uint8Array(200)])
    for (let i = 0; i < enc.length; i++) protocolError(() => decodeFrame(enc.subarray(0, i)), /byte \d+/)
    const longer = new Uint8Array(enc.length + 1); longer.set(enc)
    protocolError(() => decodeFrame(longer), new RegExp(`1 trailing bytes at byte ${enc.length}`))
  })

  it('refuses bad JSON, bad UTF-8 and headers that are not objects', () => {
    protocolError(() => decodeFrame(raw('{"a":')), /not UTF-8 JSON/)
    protocolError(() => decodeFrame(raw('')), /not UTF-8 JSON/)
    const badUtf8 = bytes(3, 0x22, 0xff, 0x22, 0)
    protocolError(() => decodeFrame(badUtf8), /byte 1 is not UTF-8 JSON/)
    for (const h of ['[]', 'null', '3', '"s"', 'true']) protocolError(() => decodeFrame(raw(h)), /not an object/)
  })

  it('refuses oversized frames on both sides', () => {
    protocolError(() => decodeFrame(raw('{"a":"' + 'x'.repeat(100) + '"}'), { maxHeaderBytes: 50 }), /header of \d+ bytes exceeds 50/)
    protocolError(() => encodeFrame({ a: 'x'.repeat(100) }, [], { maxHeaderBytes: 50 }), /exceeds 50/)
    protocolError(() => decodeFrame(raw('{}', [bytes(1), bytes(2), bytes(3)]), { maxParts: 2 }), /3 parts, more than 2/)
    protocolError(() => encodeFrame({}, [bytes(1), bytes(2), bytes(3)], { maxParts: 2 }), /more than 2/)
    protocolError(() => decodeFrame(raw('{}', [new Uint8Array(100)]), { maxTotalBytes: 64 }), /exceeds 64/)
    protocolError(() => encodeFrame({}, [new Uint8Array(100)], { maxTotalBytes: 64 }), /exceeds 64/)
    protocolError(() => decodeFrame(raw('{}', [], 50_000)), /announces 50000 parts at byte 3/)
    protocolError(() => decodeFrame(raw('{}', [], 200_000)), /more than 100000/)
    protocolError(() => decodeFrame(bytes(0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), /varint too long/)
    protocolError(() => decodeFrame(bytes(0xff, 0xff, 0xff, 0x7f)), /exceeds/)
    protocolError(() => encodeFrame([] as unknown as object), /must be an object/)
  })
})

function randomList (n: number, seed = 1): PostingBuffer {
  let s = seed
  const rnd = (m: number): number => { s = (s * 1103515245 + 12345) >>> 0; return s % m }
  const b = new PostingBuffer(n)
  let doc = 0
  let start = 0
  for (let i = 0; i < n; i++) {
    const jump = rnd(4) === 0 ? rnd(5) : 0
    if (jump > 0) { doc += jump; start = rnd(3) } else start += rnd(40)
    b.push(doc, start, start + rnd(1000), rnd(30))
  }
  return b
}

const rows = (l: PostingList): number[][] => Array.from({ length: l.length }, (_, i) => [l.docs[i], l.starts[i], l.ends[i], l.levels[i]])

// Byte comparison: deep equality of million-entry typed arrays is far too slow in vitest.
function sameList (a: PostingList, b: PostingList): void {
  expect(b.length).toBe(a.length)
  const same = (x: Uint32Array | Uint16Array, y: Uint32Array | Uint16Array): boolean => {
    const bx = Buffer.from(x.buffer, x.byteOffset, a.length * x.BYTES_PER_ELEMENT)
    return bx.equals(Buffer.from(y.buffer, y.byteOffset, b.length * y.BYTES_PER_ELEMENT))
  }
  expect(same(a.docs, b.docs) && same(a.starts, b.starts) && same(a.ends, b.ends) && same(a.levels, b.levels)).toBe(true)
}

describe('posting lists', () => {
  it('round-trip 0 and 1 postings, and extreme values', () => {
    expect(decodePostingList(encodePostingList(new PostingBuffer())).length).toBe(0)
    const one = new PostingBuffer(); one.push(0xffffffff, 0xfffffff0, 0xffffffff, 0xffff)
    expect(rows(decodePostingList(encodePostingList(one)))).toEqual([[0xffffffff, 0xfffffff0, 0xffffffff, 0xffff]])
    const edge = new PostingBuffer()
    for (const r of [[0, 0, 0, 0], [0, 0, 5, 1], [7, 3, 3, 2], [0xfffffffe, 1, 2, 3], [0xffffffff, 0, 0xffffffff, 0], [0xffffffff, 0xffffffff, 0xffffffff, 65535]]) edge.push(r[0], r[1], r[2], r[3])
    sameList(edge, decodePostingList(encodePostingList(edge, 2)))
  })

  it('round-trips 1M postings ending at doc 2^32-1', () => {
    const list = randomList(1_000_000 - 1)
    list.push(0xffffffff, 12, 40, 3)
    const enc = encodePostingList(list)
    const dec = decodePostingList(enc)
    sameList(list, dec)
    expect(enc.length).toBeLessThan(1_000_000 * 6)
  })

  it('uses codec blocks of at most 4096 postings that decodeBlock reads', () => {
    const list = randomList(10_000)
    const enc = encodePostingList(list)
    // Walk the layout: count, then (baseDoc, byteLength, block) until all postings are read.
    const out = new PostingBuffer()
    const rd = (p: number): [number, number] => { let v = 0; let s = 0; let b: number; do { b = enc[p++]; v += (b & 0x7f) * 2 ** s; s += 7 } while (b >= 0x80); return [v, p] }
    let [count, p] = rd(0)
    expect(count).toBe(10_000)
    let blocks = 0
    while (p < enc.length) {
      let base: number, len: number
      [base, p] = rd(p); [len, p] = rd(p)
      const before = out.length
      expect(decodeBlock(enc, p, base, out)).toBe(p + len)
      expect(out.length - before).toBeLessThanOrEqual(4096)
      p += len; blocks++
    }
    expect(blocks).toBe(3)
    sameList(list, out)
  })

  it('refuses unsorted or inverted lists on encode', () => {
    const b = new PostingBuffer(); b.push(5, 0, 1, 0); b.push(4, 0, 1, 0)
    expect(() => encodePostingList(b)).toThrow(/not sorted/)
    const c = new PostingBuffer(); c.push(5, 9, 10, 0); c.push(5, 3, 4, 0)
    expect(() => encodePostingList(c)).toThrow(/not sorted/)
    const d = new PostingBuffer(); d.push(5, 9, 3, 0)
    expect(() => encodePostingList(d)).toThrow(/ends/)
  })

  it('refuses every truncation, trailing bytes and lying counts', () => {
    const enc = encodePostingList(randomList(300), 100)
    for (let i = 0; i < enc.length; i++) {
      expect(() => decodePostingList(enc.subarray(0, i))).toThrow(/posting|frame|byte/)
    }
    const longer = new Uint8Array(enc.length + 1); longer.set(enc)
    protocolError(() => decodePostingList(longer), /trailing/)
    protocolError(() => decodePostingList(bytes(0, 0)), /trailing/)
    protocolError(() => decodePostingList(bytes(0xff, 0xff, 0xff, 0x7f, 1, 2, 3)), /announces/)
  })

  /** A one-block list by hand: count, base, then the block (its own count and postings). */
  // ByteWriter.varint is 32-bit; these lists need larger values.
  const varint = (v: number): number[] => { const o: number[] = []; while (v >= 0x80) { o.push((v % 128) | 0x80); v = Math.floor(v / 128) } o.push(v); return o }
  function handList (base: number, postings: number[][], total = postings.length): Uint8Array {
    const block = [...varint(postings.length), ...postings.flat().flatMap(varint)]
    return new Uint8Array([...varint(total), ...varint(base), ...varint(block.length), ...block])
  }

  it('refuses values that overflow their columns', () => {
    expect(rows(decodePostingList(handList(0xfffffffe, [[1, 5, 2, 1]])))).toEqual([[0xffffffff, 5, 7, 1]])
    const corrupt = (b: Uint8Array, m: RegExp): void => { expect(() => decodePostingList(b)).toThrow(CorruptBlockError); expect(() => decodePostingList(b)).toThrow(m) }
    corrupt(handList(0xffffffff, [[1, 5, 2, 1]]), /doc 4294967296 exceeds/)
    corrupt(handList(0, [[0, 0xfffffff0, 0x20, 1]]), /position .* exceeds/)
    corrupt(handList(0, [[0, 0xfffffff0, 1, 1], [0, 0xf, 1, 1]]), /position .* exceeds/)
    corrupt(handList(0, [[0, 1, 1, 70000]]), /level 70000/)
    corrupt(handList(0, [[0, 2 ** 33, 1, 1]]), /exceeds 2\^32-1/)
    corrupt(handList(2 ** 33, [[0, 1, 1, 1]]), /base doc/)
  })

  it('refuses blocks that disagree with the list', () => {
    protocolError(() => decodePostingList(handList(0, [[0, 1, 1, 1], [1, 1, 1, 1]], 3)), /announces 3 postings/)
    expect(() => decodePostingList(new Uint8Array([...handList(0, [[0, 1, 1, 1], [1, 1, 1, 1]], 3), 0, 0, 0, 0, 0]))).toThrow(/truncated/)
    expect(() => decodePostingList(handList(0, [[0, 1, 1, 1], [1, 1, 1, 1]], 1))).toThrow(CorruptBlockError)
    expect(() => decodePostingList(new Uint8Array([...handList(0, [], 1), 0, 0, 0, 0]))).toThrow(/empty block/)
    // Two blocks whose second goes back in doc order.
    const a = handList(10, [[0, 1, 1, 1]], 2)
    const blk = bytes(1, 0, 1, 1, 1)
    const twoBlocks = new Uint8Array([...a, 5, blk.length, ...blk])
    expect(() => decodePostingList(twoBlocks)).toThrow(/not sorted after the previous block/)
    // Leftover bytes inside a block's announced length.
    const w = new ByteWriter(); w.varint(1); w.varint(0); w.varint(6); w.bytes(bytes(1, 0, 1, 1, 1, 0))
    expect(() => decodePostingList(w.result())).toThrow(/left over/)
  })

  it('never fails otherwise on random corruption', () => {
    const enc = encodePostingList(randomList(2000), 500)
    let s = 7
    for (let k = 0; k < 3000; k++) {
      const m = enc.slice()
      for (let j = 0; j < 3; j++) { s = (s * 1103515245 + 12345) >>> 0; m[s % m.length] = s >>> 24 }
      try { decodePostingList(m) } catch (e) { expect(e instanceof ProtocolError || e instanceof CorruptBlockError).toBe(true) }
    }
  })

  it('agrees with the codec on block contents', () => {
    const list = randomList(4096)
    const block = encodeBlock(list, 0, 4096, list.docs[0])
    const enc = encodePostingList(list)
    expect(Buffer.from(enc).includes(Buffer.from(block))).toBe(true)
  })
})

describe('header fields', () => {
  const h = { op: 'fetch', n: 3, neg: -2, f: 1.5, big: 2 ** 60, yes: true, terms: ['a', 'b'], ids: [1, 2], mixed: ['a', 1], nul: null }

  it('read typed fields', () => {
    expect(str(h, 'op')).toBe('fetch')
    expect(int(h, 'n')).toBe(3)
    expect(int(h, 'neg')).toBe(-2)
    expect(int(h, 'n', 0, 3)).toBe(3)
    expect(bool(h, 'yes')).toBe(true)
    expect(strArray(h, 'terms')).toEqual(['a', 'b'])
    expect(intArray(h, 'ids', 0)).toEqual([1, 2])
    expect(optStr(h, 'missing')).toBeUndefined()
    expect(optStr(h, 'nul')).toBeUndefined()
    expect(optInt(h, 'n')).toBe(3)
    expect(optInt(h, 'missing')).toBeUndefined()
    expect(optBool(h, 'missing')).toBeUndefined()
    expect(optStrArray(h, 'terms')).toEqual(['a', 'b'])
    expect(optIntArray(h, 'missing')).toBeUndefined()
  })

  it('refuse wrong types with the field named', () => {
    protocolError(() => str(h, 'n'), /"n": expected a string, got number/)
    protocolError(() => str(h, 'missing'), /"missing": expected a string, got nothing/)
    protocolError(() => int(h, 'f'), /"f": expected an integer/)
    protocolError(() => int(h, 'big'), /"big": expected an integer/)
    protocolError(() => int(h, 'op'), /got string/)
    protocolError(() => int(h, 'neg', 0), /-2 is outside \[0,/)
    protocolError(() => bool(h, 'n'), /expected a boolean/)
    protocolError(() => strArray(h, 'mixed'), /"mixed"\[1\]: expected a string, got number/)
    protocolError(() => intArray(h, 'mixed'), /"mixed"\[0\]: expected an integer, got string/)
    protocolError(() => intArray(h, 'ids', 0, 1), /"ids"\[1\]: 2 is outside/)
    protocolError(() => strArray(h, 'op'), /expected an array of strings, got string/)
    protocolError(() => optInt(h, 'op'), /expected an integer/)
    // Inherited properties are not fields.
    protocolError(() => str(JSON.parse('{"__proto__": {"op": "x"}}') as Record<string, unknown>, 'op'))
    protocolError(() => str({}, 'toString'))
  })
})
