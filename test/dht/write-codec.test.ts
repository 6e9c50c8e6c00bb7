import { describe, expect, it } from 'vitest'
import { PostingBuffer } from '../../src/xml-twig-index/postings/codec.ts'
import { ProtocolError } from '../../src/dht/errors.ts'
import { WriteBuilder } from '../../src/dht/shard-keys.ts'
import { decodeEntries, encodeEntries } from '../../src/dht/write-codec.ts'
import { ByteWriter } from '../../src/xml-twig-index/postings/codec.ts'

const list = (docs: number[]): PostingBuffer => { const b = new PostingBuffer(); docs.forEach((d, i) => { b.push(d, 1 + i, 2 + i, 2) }); return b }

/** A publish batch's mix: documents, ids, then terms in term order with heads, inline heads and blocks. */
function batch (): WriteBuilder {
  const b = new WriteBuilder()
  for (let d = 1; d <= 40; d++) b.doc(d, `pkg/bookworm/amd64/lib${d}_1.0`, `<package name="lib${d}"/>`)
  for (let d = 1; d <= 40; d++) b.id(`pkg/bookworm/amd64/lib${d}_1.0`, d)
  for (let t = 0; t < 200; t++) {
    const term = `v:@name=libfoo-${String(t).padStart(4, '0')}`
    if (t % 10 === 0) {
      b.chunk(term, 0, 1, list(Array.from({ length: 40 }, (_, i) => i + 1)))
      b.head(term, 0, 1, { postings: 40, docs: 40, lastDoc: 40 })
    } else b.head(term, 1, 8200 + t, { postings: 2, docs: 2, lastDoc: 8201 + t }, list([8200 + t, 8201 + t]))
  }
  return b
}

function entries (b: WriteBuilder): Array<[number[], number[]]> {
  return Array.from({ length: b.length }, (_, i) => [[...b.key(i)], [...b.value(i)]])
}

/** The older form (whole keys, uint32 bounds): what peers of an earlier edos send. */
function wholeForm (b: WriteBuilder): { header: Record<string, unknown>, parts: Uint8Array[] } {
  return { header: { encoding: 'entries', entries: b.length }, parts: b.toParts() }
}

describe('write entries on the wire', () => {
  it('round-trips a batch, keys sharing prefixes, in fewer bytes than whole keys and bounds', () => {
    const b = batch()
    const compact = encodeEntries(b)
    expect(compact.header.keys).toBe('shared')
    expect(entries(decodeEntries(compact.header, compact.parts))).toEqual(entries(b))
    const old = wholeForm(b)
    expect(entries(decodeEntries(old.header, old.parts))).toEqual(entries(b))
    const size = (parts: Uint8Array[]): number => parts.reduce((n, p) => n + p.length, 0)
    // keys and bounds: what the compact form saves (values are the same bytes)
    expect(size(compact.parts) - compact.parts[1].length).toBeLessThan((size(old.parts) - old.parts[1].length) / 2)
    // an empty write and a write of one entry
    expect(decodeEntries(encodeEntries(new WriteBuilder()).header, encodeEntries(new WriteBuilder()).parts).length).toBe(0)
    const one = new WriteBuilder(); one.id('x', 7)
    expect(entries(decodeEntries(encodeEntries(one).header, encodeEntries(one).parts))).toEqual(entries(one))
  })

  it('builds the same entries from a store record, by copy, and for non-ASCII terms', () => {
    const enc = new TextEncoder()
    const direct = new WriteBuilder(); const fromRecord = new WriteBuilder()
    for (const [id, xml] of [['vim 2:9.0 amd64', '<package name="vim"><summary>Vi IMproved – enhanced vi</summary></package>'], ['é', ''], ['x'.repeat(300), '<p>' + 'ü'.repeat(500) + '</p>']]) {
      direct.doc(9, id, xml)
      fromRecord.docRecord(9, enc.encode(id + '\u0000' + xml))
    }
    expect(entries(fromRecord)).toEqual(entries(direct))
    expect(() => new WriteBuilder().docRecord(1, enc.encode('no end'))).toThrow(RangeError)
    // a record whose id starts with U+FEFF: the id as the store decodes it, without it
    const bom = new WriteBuilder(); bom.docRecord(3, enc.encode('\ufeffid\u0000<a/>'))
    const plain = new WriteBuilder(); plain.doc(3, new TextDecoder().decode(enc.encode('\ufeffid')), '<a/>')
    expect(entries(bom)).toEqual(entries(plain))
    const b = batch()
    const copies = new WriteBuilder(16, 16, 1)
    for (let i = b.length - 1; i >= 0; i--) copies.copyEntry(b, i)
    expect(entries(copies)).toEqual(entries(b).reverse())
    // a term key is its prefix, the term's UTF-8, 00, range and firstDoc, whatever the script
    for (const term of ['w:caf\u00e9', 'w:\u{1F600}', 'v:a=' + 'x'.repeat(200) + '\u00e9', 'w:ascii']) {
      const h = new WriteBuilder(); h.head(term, 3, 7, { postings: 1, docs: 1, lastDoc: 7 }, list([7]))
      const t = enc.encode(term)
      expect([...h.key(0)]).toEqual([0x48, ...t, 0, 0, 0, 0, 3, 0, 0, 0, 7])
      expect(h.keyBuf.subarray(h.keyStart(0), h.keyEnd(0))).toEqual(h.key(0))
      expect(h.valueBuf.subarray(h.valueStart(0), h.valueEnd(0))).toEqual(h.value(0))
    }
  })

  it('refuses compact lengths that end inside an entry or hold an overlong varint', () => {
    const compact = encodeEntries(batch())
    const lengths = compact.parts[2]
    for (const cut of [1, 2, lengths.length - 1]) {
      expect(() => decodeEntries(compact.header, [compact.parts[0], compact.parts[1], lengths.subarray(0, cut)])).toThrow(ProtocolError)
    }
    const overlong = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 1, 1)
    expect(() => decodeEntries({ encoding: 'entries', entries: 1, keys: 'shared' }, [new Uint8Array(1), new Uint8Array(1), overlong])).toThrow(/truncated or overlong/)
  })

  it('refuses lengths that do not fit the previous key or the parts, and counts that lie', () => {
    const b = batch()
    const { header, parts } = encodeEntries(b)
    const [suffixes, values, lengths] = parts
    const bad = (p: Uint8Array[], h = header): void => { expect(() => decodeEntries(h, p)).toThrow(ProtocolError) }
    const lens = (...v: number[]): Uint8Array => { const w = new ByteWriter(); for (const x of v) w.varint(x); return w.result() }
    bad([suffixes, values, lens(1, 2, 0)]) // shares a byte with no key before it
    bad([suffixes, values, lens(0, 0, 0)]) // an empty key
    bad([suffixes, values, lens(0, suffixes.length + 1, 0)]) // more suffix than sent
    bad([suffixes, values, lens(0, 1, values.length + 1)]) // more value than sent
    bad([suffixes, values, lens(0, 5000, 0)]) // a key longer than any (a term is at most 4 KiB)
    const long = new Uint8Array(4200).fill(0x61)
    bad([long, new Uint8Array(0), lens(0, 4200, 0)]) // a key longer than any, its bytes sent
    bad([suffixes, values, lengths.subarray(0, lengths.length - 1)]) // truncated: bytes left over
    bad([suffixes, values, Uint8Array.of(0x80)]) // a varint cut short
    bad([suffixes.subarray(1), values, lengths]) // the suffixes and lengths disagree
    bad(parts, { ...header, entries: b.length + 1 })
    bad([suffixes, values])
    // a key the rebuild gets right but out of sequence for the store (the values' bounds are checked as for any write)
    expect(() => decodeEntries(header, [suffixes, values.subarray(0, values.length - 1), lengths])).toThrow(ProtocolError)
  })
})
