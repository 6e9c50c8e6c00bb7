import { open } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { createRequire } from 'node:module'
import { Readable, pipeline } from 'node:stream'
import { Worker } from 'node:worker_threads'
import { createGunzip, gunzipSync } from 'node:zlib'
import xzpkg from 'xz-decompress'
import { Decompress as ZstdDecompress } from 'fzstd'
import { ImportError } from '../errors.ts'

// xz-decompress is CommonJS: its named export only exists on the default object.
const { XzReadableStream } = xzpkg

export type Compression = 'xz' | 'gzip' | 'zstd' | 'none'

/** Big reads: fewer chunks means fewer async hops through the decompressors and the parsers. */
const READ_CHUNK = 256 * 1024

/** Compression by magic bytes (never by file name: mirrors rename freely). */
export function detectCompression (head: Uint8Array): Compression {
  if (head.length >= 6 && head[0] === 0xFD && head[1] === 0x37 && head[2] === 0x7A && head[3] === 0x58 && head[4] === 0x5A && head[5] === 0x00) return 'xz'
  if (head.length >= 2 && head[0] === 0x1F && head[1] === 0x8B) return 'gzip'
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xB5 && head[2] === 0x2F && head[3] === 0xFD) return 'zstd'
  return 'none'
}

/** First bytes of a file, as stored (not decompressed), and its size. */
export async function readHead (file: string, length = 16): Promise<{ head: Uint8Array, size: number }> {
  let fh
  try {
    fh = await open(file, 'r')
  } catch (err) {
    throw new ImportError(`cannot open: ${(err as Error).message}`, file, { cause: err })
  }
  try {
    const size = (await fh.stat()).size
    const head = new Uint8Array(Math.min(length, size))
    if (head.length > 0) await fh.read(head, 0, head.length, 0)
    return { head, size }
  } finally {
    await fh.close()
  }
}

export interface OpenOptions {
  /** Called after each chunk read from disk with the stored (compressed) bytes read so far. */
  onRead?: (bytesRead: number) => void
  signal?: AbortSignal
  /**
   * Decompress in a worker thread. 'auto' (default): always for xz (the
   * xz-decompress module lets only one stream per thread make progress at a
   * time, so two open xz files in one thread, e.g. a Packages index and its
   * Translation, would deadlock), and for gzip/zstd files over 1 MiB, where
   * decompressing in parallel with parsing pays for the thread's start-up.
   */
  worker?: 'auto' | boolean
  /**
   * Decompressed bytes a worker may hold ready ahead of the reader, besides
   * the message it is filling (1 MiB): default 4 MiB. Bounded memory either
   * way; a larger budget lets a file's decompression overlap other work,
   * e.g. loading translations first.
   */
  readAhead?: number
}

export interface DecompressedFile {
  compression: Compression
  /** Stored size of the file in bytes. */
  size: number
  /** The decompressed bytes, chunk by chunk; errors are ImportErrors naming the file. */
  chunks: AsyncIterable<Uint8Array>
}

/** Raw file chunks, counted and abortable, so that progress reports the bytes actually read. */
async function * rawChunks (file: string, opts: OpenOptions): AsyncGenerator<Uint8Array> {
  let read = 0
  const stream = createReadStream(file, { highWaterMark: READ_CHUNK })
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      opts.signal?.throwIfAborted()
      read += chunk.length
      opts.onRead?.(read)
      yield chunk
    }
  } finally {
    stream.destroy()
  }
}

async function * zstdChunks (raw: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const out: Uint8Array[] = []
  const dec = new ZstdDecompress((data) => { out.push(data) })
  for await (const chunk of raw) {
    dec.push(chunk)
    while (out.length > 0) yield out.shift()!
  }
  dec.push(new Uint8Array(0), true)
  while (out.length > 0) yield out.shift()!
}

function decompressedChunks (compression: Compression, raw: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  switch (compression) {
    case 'none': return raw
    case 'zstd': return zstdChunks(raw)
    case 'gzip': {
      const gunzip = createGunzip({ chunkSize: READ_CHUNK })
      // pipeline destroys the gunzip stream with the source's error, which ends the iteration with it.
      pipeline(Readable.from(raw), gunzip, () => {})
      return gunzip
    }
    case 'xz': {
      const web = Readable.toWeb(Readable.from(raw)) as unknown as ReadableStream<Uint8Array>
      return Readable.fromWeb(new XzReadableStream(web) as import('node:stream/web').ReadableStream<Uint8Array>)
    }
  }
}

/** Wraps errors from the decompressors so that they name the file and what it was thought to be. */
async function * labelled (file: string, compression: Compression, chunks: AsyncIterable<Uint8Array>, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  try {
    for await (const c of chunks) yield c
  } catch (err) {
    if (err instanceof ImportError || signal?.aborted === true) throw err
    if ((err as { name?: string }).name === 'AbortError') throw err
    throw new ImportError(`corrupt ${compression === 'none' ? 'file' : compression + ' data'}: ${(err as Error).message ?? String(err)}`, file, { cause: err })
  }
}

/**
 * Opens a file as a stream of decompressed bytes (xz, gzip, zstd or plain,
 * by magic bytes). Nothing is buffered beyond the decompressors' windows.
 */
export async function openDecompressed (file: string, opts: OpenOptions = {}): Promise<DecompressedFile> {
  const { head, size } = await readHead(file, 6)
  const compression = detectCompression(head)
  const auto = (opts.worker ?? 'auto') === 'auto'
  const inWorker = compression !== 'none' && (opts.worker === true || (auto && (compression === 'xz' || size > WORKER_MIN_SIZE)))
  const chunks = inWorker ? workerChunks(file, compression, opts) : decompressedChunks(compression, rawChunks(file, opts))
  return { compression, size, chunks: labelled(file, compression, chunks, opts.signal) }
}

const WORKER_MIN_SIZE = 1 << 20
/** Default decompressed bytes a worker may run ahead of the parser: bounded memory, yet neither waits on the other. */
const READ_AHEAD = 4 << 20
/**
 * Decompressed bytes a worker gathers into one message (xz yields ~60 KB
 * pieces). Each message wakes the other thread; on a loaded machine every
 * wake-up is a chance to lose the processor for a while (R1 spent seconds in
 * postMessage with one message per piece).
 */
const MESSAGE_BYTES = 1 << 20

/*
 * The worker is plain CommonJS evaluated from a string, so it runs the same
 * under the project's TypeScript hooks (bin/ts-hooks.js), vitest and compiled JS (no .ts file for the worker to load).
 * It reads and decompresses the file, gathers the output into messages of
 * messageBytes (transferred, not copied) and waits when the bytes posted but
 * not yet consumed by the reader reach the read-ahead.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const fs = require('node:fs')
const { Readable, pipeline } = require('node:stream')
const zlib = require('node:zlib')
const { file, compression, xzPath, zstdPath, readAhead, chunkSize, messageBytes } = workerData
let ahead = 0
let wake = null
parentPort.on('message', (consumed) => { ahead -= consumed; if (wake != null) { const w = wake; wake = null; w() } })
let read = 0
let ended = false
async function * raw () {
  for await (const c of fs.createReadStream(file, { highWaterMark: chunkSize })) { read += c.length; yield c }
  ended = true
}
async function * zstd () {
  const out = []
  const d = new (require(zstdPath).Decompress)((c) => { out.push(c) })
  for await (const c of raw()) { d.push(c); while (out.length > 0) yield out.shift() }
  d.push(new Uint8Array(0), true)
  while (out.length > 0) yield out.shift()
}
function source () {
  if (compression === 'xz') return Readable.fromWeb(new (require(xzPath).XzReadableStream)(Readable.toWeb(Readable.from(raw()))))
  if (compression === 'zstd') return zstd()
  const g = zlib.createGunzip({ chunkSize })
  pipeline(Readable.from(raw()), g, () => {})
  return g
}
let out = null
let used = 0
async function send () {
  if (used === 0) return
  while (ahead >= readAhead) await new Promise((resolve) => { wake = resolve })
  ahead += used
  const chunk = out.subarray(0, used)
  out = null
  used = 0
  parentPort.postMessage({ chunk, read }, [chunk.buffer])
}
;(async () => {
  try {
    for await (const c of source()) {
      for (let at = 0; at < c.byteLength;) {
        if (out == null) out = new Uint8Array(messageBytes)
        const n = Math.min(c.byteLength - at, out.length - used)
        out.set(c.subarray(at, at + n), used)
        used += n
        at += n
        if (used === out.length) await send()
      }
    }
    await send()
    parentPort.postMessage({ done: true, read })
  } catch (err) {
    const message = String(err && err.message ? err.message : err)
    // xz-decompress fails on a truncated file with a TypeError about its empty input; say what it means.
    parentPort.postMessage({ error: ended ? 'unexpected end of file (truncated?): ' + message : message })
  }
})()
`

type WorkerMessage = { chunk: Uint8Array, read: number } | { done: true, read: number } | { error: string }

let modulePaths: { xzPath: string, zstdPath: string } | undefined
function resolveModules (): { xzPath: string, zstdPath: string } {
  if (modulePaths == null) {
    const require = createRequire(import.meta.url)
    modulePaths = { xzPath: require.resolve('xz-decompress'), zstdPath: require.resolve('fzstd') }
  }
  return modulePaths
}

async function * workerChunks (file: string, compression: Compression, opts: OpenOptions): AsyncGenerator<Uint8Array> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // Not the parent's flags: a --import of a TypeScript loader would only slow the worker's start.
    execArgv: [],
    workerData: { file, compression, ...resolveModules(), readAhead: Math.max(1, opts.readAhead ?? READ_AHEAD), chunkSize: READ_CHUNK, messageBytes: MESSAGE_BYTES }
  })
  const queue: WorkerMessage[] = []
  let waiting: (() => void) | null = null
  const push = (m: WorkerMessage): void => {
    queue.push(m)
    if (waiting != null) { const w = waiting; waiting = null; w() }
  }
  worker.on('message', push)
  worker.on('error', (err: Error) => { push({ error: err.message }) })
  worker.on('exit', (code) => { push({ error: `decompression worker exited (code ${code})` }) })
  try {
    for (;;) {
      while (queue.length === 0) await new Promise<void>((resolve) => { waiting = resolve })
      const m = queue.shift()!
      if ('error' in m) throw new Error(m.error)
      opts.onRead?.(m.read)
      if ('done' in m) return
      opts.signal?.throwIfAborted()
      worker.postMessage(m.chunk.byteLength)
      yield m.chunk
    }
  } finally {
    worker.removeAllListeners()
    await worker.terminate()
  }
}

/** An async iterator whose first chunk has been read ahead, to sniff content before deciding who parses it. */
export interface Peeked {
  head: Uint8Array
  chunks: AsyncIterable<Uint8Array>
  close: () => Promise<void>
}

/** Reads the first non-empty chunk ahead; `chunks` yields it again followed by the rest. */
export async function peek (source: AsyncIterable<Uint8Array>): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]()
  let head: Uint8Array = new Uint8Array(0)
  let done = false
  while (head.length === 0) {
    const r = await it.next()
    if (r.done === true) { done = true; break }
    head = r.value
  }
  const first = head
  async function * rest (): AsyncGenerator<Uint8Array> {
    try {
      if (first.length > 0) yield first
      if (done) return
      for (;;) {
        const r = await it.next()
        if (r.done === true) return
        yield r.value
      }
    } finally {
      await it.return?.()
    }
  }
  return { head, chunks: rest(), close: async () => { await it.return?.() } }
}

/** Largest decompressed in-memory member (a control archive is a few KiB; 64 MiB is generous). */
export const MAX_MEMBER_OUTPUT = 64 * 1024 * 1024

/** Decompresses an in-memory member (a .deb's control.tar.*), by magic bytes, up to `maxOutput` bytes. `label` names it in errors. */
export async function decompressBuffer (data: Uint8Array, label: string, maxOutput = MAX_MEMBER_OUTPUT): Promise<Uint8Array<ArrayBufferLike>> {
  const compression = detectCompression(data)
  const tooLarge = (): ImportError => new ImportError(`${compression} data expands past ${maxOutput} bytes (a decompression bomb?)`, label)
  try {
    switch (compression) {
      case 'none': return data
      case 'gzip': return gunzipSync(data, { maxOutputLength: maxOutput })
      case 'zstd': {
        const parts: Uint8Array[] = []
        let total = 0
        const stream = new ZstdDecompress((chunk: Uint8Array) => {
          total += chunk.length
          if (total > maxOutput) throw tooLarge()
          parts.push(chunk)
        })
        stream.push(data, true)
        return Buffer.concat(parts)
      }
      case 'xz': {
        // Streamed with a running count, so a bomb stops at the bound instead of filling memory.
        const web = new Blob([data as Uint8Array<ArrayBuffer>]).stream() as unknown as ReadableStream<Uint8Array>
        const parts: Uint8Array[] = []
        let total = 0
        for await (const chunk of new XzReadableStream(web) as unknown as AsyncIterable<Uint8Array>) {
          total += chunk.length
          if (total > maxOutput) throw tooLarge()
          parts.push(chunk)
        }
        return Buffer.concat(parts)
      }
    }
  } catch (err) {
    if (err instanceof ImportError) throw err
    throw new ImportError(`corrupt ${compression} data: ${(err as Error).message ?? String(err)}`, label, { cause: err })
  }
}
