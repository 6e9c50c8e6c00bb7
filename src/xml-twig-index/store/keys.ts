/**
 * LevelDB key layout of a twig store (all keys binary), format 2:
 *   M                      manifest (JSON): format, nextDocId (the commit point), counters, and
 *                          `runs`: the first docId of every committed run (see S)
 *   J                      an import in progress: {fromDocId}; present only between begin and commit
 *   S lastTerm 00 runFirst a group: the summaries of consecutive terms (byte order) of one run (an
 *                          import writes its postings in one or more runs, each named by its first
 *                          docId). Value (groups.ts): the terms, prefix-compressed, each with lastDoc,
 *                          count, docs, blocks and the postings inline when they fit one block. Most of
 *                          R1's ~850,000 terms have one or two postings: one key per term cost more in
 *                          LevelDB operations than the postings themselves, so a group holds a few KB.
 *                          A term's summaries: for each committed run, the run's first group whose
 *                          lastTerm >= term (one forward scan from `S term 00`)
 *   P term 00 lastDoc lastStart  one posting block; value: u32 firstDoc + encoded block (codec.ts). Keyed by
 *                          the block's last posting, so that a seek to a doc lands on the first block that
 *                          may hold it, and a document with more postings than a block (a release) still
 *                          gets distinct keys
 *   D docId                a document: id 00 xml (utf-8)
 *   I id                   docId of the live document with this id
 *   X docId                a replaced (dead) document
 *   R name                 a release: JSON {name, docId, version, date, units}
 * docIds only grow, so postings of later imports sort after earlier ones and
 * every key written past the manifest's nextDocId is an unfinished import.
 */
const enc = new TextEncoder()
const dec = new TextDecoder()

export const MANIFEST_KEY = Uint8Array.of(0x4d) // M
export const IMPORT_KEY = Uint8Array.of(0x4a) // J

export function u32be (n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff)
}
export function readU32be (b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3]
}

function concat (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}


/** Key of a summary group: its last term's UTF-8 bytes, then the run's first doc. */
export function groupKey (lastTerm: Uint8Array, runFirst: number): Uint8Array {
  const k = new Uint8Array(lastTerm.length + 6)
  k[0] = 0x53
  k.set(lastTerm, 1)
  const at = lastTerm.length + 2
  k[at] = runFirst >>> 24; k[at + 1] = (runFirst >>> 16) & 0xff; k[at + 2] = (runFirst >>> 8) & 0xff; k[at + 3] = runFirst & 0xff
  return k
}
/** Where the scan for a term's groups starts: every group whose last term is >= the term. */
export const groupSeek = (term: Uint8Array): Uint8Array => concat(Uint8Array.of(0x53), term, Uint8Array.of(0))
/** The run (first doc) of a group key. */
export const groupRun = (key: Uint8Array): number => readU32be(key, key.length - 4)
/** The last term of a group key, as UTF-8 bytes. */
export const groupLastTerm = (key: Uint8Array): Uint8Array => key.subarray(1, key.length - 5)
export const termBytes = (term: string): Uint8Array => enc.encode(term)
export const blockKey = (term: string, lastDoc: number, lastStart: number): Uint8Array => blockKeyBytes(enc.encode(term), lastDoc, lastStart)
/** blockKey for a term given as UTF-8 bytes (readers that hold the bytes already). */
export function blockKeyBytes (term: Uint8Array, lastDoc: number, lastStart: number): Uint8Array {
  const k = new Uint8Array(term.length + 10)
  k[0] = 0x50
  k.set(term, 1)
  const o = term.length + 2
  k[o] = lastDoc >>> 24; k[o + 1] = (lastDoc >>> 16) & 0xff; k[o + 2] = (lastDoc >>> 8) & 0xff; k[o + 3] = lastDoc & 0xff
  k[o + 4] = lastStart >>> 24; k[o + 5] = (lastStart >>> 16) & 0xff; k[o + 6] = (lastStart >>> 8) & 0xff; k[o + 7] = lastStart & 0xff
  return k
}
/** The last doc of a block key. */
export const blockKeyDoc = (key: Uint8Array): number => readU32be(key, key.length - 8)
/** Writes the key of document `docId` (D docId, 5 bytes) into `k`. */
export function putDocKey (k: Uint8Array, docId: number): Uint8Array {
  k[0] = 0x44; k[1] = docId >>> 24; k[2] = (docId >>> 16) & 0xff; k[3] = (docId >>> 8) & 0xff; k[4] = docId & 0xff
  return k
}
export const docKey = (docId: number): Uint8Array => putDocKey(new Uint8Array(5), docId)
export const docRange = { gte: Uint8Array.of(0x44), lt: Uint8Array.of(0x45) }
export const idKey = (id: string): Uint8Array => concat(Uint8Array.of(0x49), enc.encode(id))
export const tombstoneKey = (docId: number): Uint8Array => concat(Uint8Array.of(0x58), u32be(docId))
export const tombstoneRange = { gte: Uint8Array.of(0x58), lt: Uint8Array.of(0x59) }
export const releaseKey = (name: string): Uint8Array => concat(Uint8Array.of(0x52), enc.encode(name))
export const releaseRange = { gte: Uint8Array.of(0x52), lt: Uint8Array.of(0x53) }
export const blockRangeAll = { gte: Uint8Array.of(0x50), lt: Uint8Array.of(0x51) }
export const summaryRangeAll = { gte: Uint8Array.of(0x53), lt: Uint8Array.of(0x54) }
export const SUMMARY_END = summaryRangeAll.lt

export function encodeDocRecord (id: string, xml: string): Uint8Array {
  return enc.encode(`${id}\u0000${xml}`)
}
/** Where a document record's id ends (its 00 byte), -1 when it has none. */
export const docRecordIdEnd = (b: Uint8Array): number => b.indexOf(0)
/** A document record's id, decoded as decodeDocRecord decodes it (a leading U+FEFF dropped). */
export const docRecordId = (b: Uint8Array): string => dec.decode(b.subarray(0, docRecordIdEnd(b)))
/** A document record's XML. */
export const docRecordXml = (b: Uint8Array): string => dec.decode(b.subarray(docRecordIdEnd(b) + 1))
export function decodeDocRecord (b: Uint8Array): { id: string, xml: string } {
  const s = dec.decode(b)
  const z = s.indexOf('\u0000')
  return { id: s.slice(0, z), xml: s.slice(z + 1) }
}
