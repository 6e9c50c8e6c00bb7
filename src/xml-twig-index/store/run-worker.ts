import { parentPort, workerData } from 'node:worker_threads'
import { RunBuilder, type RunInit } from './run-builder.ts'
import type { FromRunWorker, ToRunWorker } from './run-client.ts'

/**
 * The run worker (run-client.ts starts it): a RunBuilder on its own core.
 * It takes posting records, and sends back the keys and values of its runs
 * packed in large buffers (u32 key length, u32 value length, key, value,
 * ...), transferred, not copied; the main thread writes them.
 */
const PACK_BYTES = 4 << 20

const port = parentPort
if (port === null) throw new Error('run-worker.ts runs as a worker thread')
const init = (workerData as { init: RunInit }).init
const prefixes: string[] = []
let pack = new Uint8Array(PACK_BYTES + (PACK_BYTES >> 2))
let used = 0
let entries = 0

const post = (m: FromRunWorker, transfer: ArrayBuffer[] = []): void => { port.postMessage(m, transfer) }

function ship (): void {
  if (entries === 0) return
  const buf = pack.subarray(0, used)
  post({ type: 'kv', buf, entries }, [buf.buffer as ArrayBuffer])
  pack = new Uint8Array(PACK_BYTES + (PACK_BYTES >> 2))
  used = 0
  entries = 0
}

function emit (key: Uint8Array, value: Uint8Array): void {
  const size = 8 + key.length + value.length
  if (used + size > pack.length) {
    ship()
    if (size > pack.length) pack = new Uint8Array(size)
  }
  const at = used
  pack[at] = key.length >>> 24; pack[at + 1] = (key.length >>> 16) & 0xff; pack[at + 2] = (key.length >>> 8) & 0xff; pack[at + 3] = key.length & 0xff
  pack[at + 4] = value.length >>> 24; pack[at + 5] = (value.length >>> 16) & 0xff; pack[at + 6] = (value.length >>> 8) & 0xff; pack[at + 7] = value.length & 0xff
  pack.set(key, at + 8)
  pack.set(value, at + 8 + key.length)
  used += size
  entries++
  if (used >= PACK_BYTES) ship()
}

/*
 * A worker takes imports of hundreds of thousands of records and more: it
 * reserves room for R1-sized ones (~800,000 terms, 29 MB of them; a run's
 * pending postings take up to twice its postings with their chunks' slack).
 * Only pages written are ever backed by memory.
 */
const builder = new RunBuilder(init, emit, { terms: 1 << 21, termBytes: 1 << 26, postings: 2 * init.runPostings })

port.on('message', (m: ToRunWorker) => {
  try {
    if (m.type === 'records') {
      for (const p of m.prefixes) prefixes.push(p)
      builder.consume(m.recs, m.n, m.chars, prefixes)
      // The buffers go back for the next records: no new memory per hand-over (and less garbage collection on both sides).
      post({ type: 'consumed', gathered: builder.gathered, recs: m.recs, chars: m.chars }, [m.recs.buffer as ArrayBuffer, m.chars.buffer as ArrayBuffer])
    } else {
      builder.finish()
      ship()
      post({ type: 'done', runs: builder.runs, postings: builder.postings, terms: builder.terms.count })
    }
  } catch (err) {
    post({ type: 'error', message: (err as Error).stack ?? String(err) })
  }
})
post({ type: 'ready' })
