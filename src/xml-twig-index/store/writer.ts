import type { ClassicLevel } from 'classic-level'
import { ByteWriter, encodeBlock, type PostingList } from '../postings/codec.ts'
import { extractPostings } from '../postings/extract.ts'
import { numberTree, type XElement } from '../xml/tree.ts'
import { serialize } from '../xml/serialize.ts'
import { blockKey, docKey, encodeDocRecord, summaryKey, u32be } from './keys.ts'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/**
 * Postings of one term gathered during an import. Plain number arrays: an
 * import touches hundreds of thousands of terms, most with a handful of
 * postings, and typed arrays per term would cost more than the data.
 */
class TermAccumulator {
  data: number[] = [] // doc, start, end, level, ...
  count = 0
  docs = 0
  blocks = 0
  lastDoc = -1
}

/** A flat view over an accumulator's numbers, for encodeBlock. */
function asList (data: number[]): PostingList {
  const n = data.length / 4
  const docs = new Uint32Array(n); const starts = new Uint32Array(n); const ends = new Uint32Array(n); const levels = new Uint16Array(n)
  for (let i = 0, j = 0; i < n; i++, j += 4) { docs[i] = data[j]; starts[i] = data[j + 1]; ends[i] = data[j + 2]; levels[i] = data[j + 3] }
  return { length: n, docs, starts, ends, levels }
}

export interface WriterInit {
  blockSize: number
  /** Bytes of pending LevelDB writes before a batch is flushed. */
  batchBytes: number
}

/**
 * Writes the documents and postings of one import under docIds starting at
 * `firstDoc`. Nothing it writes is visible until the store commits the new
 * nextDocId; an abandoned import is garbage the store removes at open.
 */
export class ImportWriter {
  readonly firstDoc: number
  nextDoc: number
  postings = 0
  private readonly terms = new Map<string, TermAccumulator>()
  private batch: Array<{ type: 'put', key: Uint8Array, value: Uint8Array }> = []
  private batchBytes = 0
  private readonly writer = new ByteWriter(64 * 1024)

  constructor (private readonly db: Db, firstDoc: number, private readonly init: WriterInit) {
    this.firstDoc = firstDoc
    this.nextDoc = firstDoc
  }

  /** Numbers the tree, stores its XML, gathers its postings. Returns the new docId. */
  async add (id: string, root: XElement, xml?: string): Promise<number> {
    const doc = this.nextDoc++
    numberTree(root)
    const text = xml ?? serialize(root)
    this.put(docKey(doc), encodeDocRecord(id, text))
    const terms = this.terms
    const blockSize = this.init.blockSize
    let full: string[] | undefined
    this.postings += extractPostings(root, (term, start, end, level) => {
      let acc = terms.get(term)
      if (acc === undefined) { acc = new TermAccumulator(); terms.set(term, acc) }
      if (acc.lastDoc !== doc) { acc.docs++; acc.lastDoc = doc }
      acc.data.push(doc, start, end, level)
      acc.count++
      if (acc.data.length >= blockSize * 4) (full ??= []).push(term)
    })
    if (full !== undefined) for (const term of full) this.flushBlock(term, this.terms.get(term)!)
    if (this.batchBytes >= this.init.batchBytes) await this.flush()
    return doc
  }

  private flushBlock (term: string, acc: TermAccumulator): void {
    if (acc.data.length === 0) return
    const list = asList(acc.data)
    const first = list.docs[0]
    const last = list.docs[list.length - 1]
    this.writer.pos = 0
    this.writer.u32(first)
    encodeBlock(list, 0, list.length, first, this.writer)
    this.put(blockKey(term, last), this.writer.result())
    acc.blocks++
    acc.data = []
  }

  private put (key: Uint8Array, value: Uint8Array): void {
    this.batch.push({ type: 'put', key, value })
    this.batchBytes += key.length + value.length + 16
  }

  private async flush (): Promise<void> {
    if (this.batch.length === 0) return
    const ops = this.batch
    this.batch = []
    this.batchBytes = 0
    await this.db.batch(ops)
  }

  /**
   * Writes the last partial blocks and one summary per term. Small terms
   * (no full block written) keep their postings inline in the summary: one
   * key instead of two for the many rare words and values.
   */
  async finish (): Promise<{ terms: number }> {
    for (const [term, acc] of this.terms) {
      const w = this.writer
      w.pos = 0
      w.u32(acc.lastDoc)
      w.varint(acc.count)
      w.varint(acc.docs)
      if (acc.blocks === 0) {
        w.varint(0)
        const list = asList(acc.data)
        encodeBlock(list, 0, list.length, this.firstDoc, w)
      } else {
        this.flushBlock(term, acc)
        w.pos = 0
        w.u32(acc.lastDoc); w.varint(acc.count); w.varint(acc.docs)
        w.varint(acc.blocks)
      }
      this.put(summaryKey(term, this.firstDoc), w.result())
      if (this.batchBytes >= this.init.batchBytes) await this.flush()
    }
    const terms = this.terms.size
    this.terms.clear()
    await this.flush()
    return { terms }
  }
}

