import { Worker } from 'node:worker_threads'
import { StoreError } from '../errors.ts'
import type { RunInfo, RunInit } from './run-builder.ts'

export type ToRunWorker =
  | { type: 'records', recs: Int32Array, n: number, chars: Uint16Array, prefixes: string[] }
  | { type: 'finish' }
export type FromRunWorker =
  | { type: 'ready' }
  | { type: 'consumed', gathered: number, recs: Int32Array, chars: Uint16Array }
  | { type: 'kv', buf: Uint8Array, entries: number }
  | { type: 'done', runs: RunInfo[], postings: number, terms: number }
  | { type: 'error', message: string }

/**
 * Record hand-overs in flight before `send` waits: the worker's queue (and
 * memory) stays bounded when extraction runs ahead of interning.
 */
const MAX_IN_FLIGHT = 4

/*
 * The worker loads run-worker.ts through the project's TypeScript hooks, as
 * every entry point does (bin/edos.js): the same source runs under them and vitest.
 */
const BOOT = `
const { workerData, parentPort } = require('node:worker_threads')
import(workerData.hooks).then((m) => { m.register(); return import(workerData.entry) })
  .catch((err) => { parentPort.postMessage({ type: 'error', message: String((err && err.stack) || err) }) })
`

/** bin/register-ts.js, which registers bin/ts-hooks.js. */
const REGISTER_TS = new URL('../../../bin/register-ts.js', import.meta.url).href

/**
 * The main thread's side of the run worker: sends posting records (their
 * buffers transferred), receives the runs' keys and values and hands them
 * to `put` (views into the transferred buffers).
 */
export class RunClient {
  private readonly worker: Worker
  private inFlight = 0
  private wake: (() => void) | undefined
  private failure: Error | undefined
  private result: { runs: RunInfo[], postings: number, terms: number } | undefined
  /** Record buffers the worker gave back, for reuse. */
  readonly free: Array<{ recs: Int32Array, chars: Uint16Array }> = []
  /** Postings the worker has gathered (known after each hand-over it acknowledges). */
  gathered = 0

  constructor (init: RunInit, private readonly put: (key: Uint8Array, value: Uint8Array) => void) {
    this.worker = new Worker(BOOT, {
      eval: true,
      // Not the parent's flags (a loader given with --import is registered by BOOT); EDOS_PROFILE_RUNS=DIR profiles the worker.
      execArgv: process.env.EDOS_PROFILE_RUNS !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${process.env.EDOS_PROFILE_RUNS}`] : [],
      workerData: { init: { blockSize: init.blockSize, runPostings: init.runPostings }, hooks: REGISTER_TS, entry: new URL('./run-worker.ts', import.meta.url).href }
    })
    this.worker.on('message', (m: FromRunWorker) => { this.receive(m) })
    this.worker.on('error', (err: Error) => { this.fail(err) })
    this.worker.on('exit', (code) => { if (this.result === undefined) this.fail(new Error(`run worker exited (code ${code})`)) })
  }

  private receive (m: FromRunWorker): void {
    switch (m.type) {
      case 'consumed': this.inFlight--; this.gathered = m.gathered; this.free.push({ recs: m.recs, chars: m.chars }); this.poke(); break
      case 'kv': {
        const b = m.buf
        let p = 0
        for (let i = 0; i < m.entries; i++) {
          const k = ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3]
          const v = ((b[p + 4] << 24) >>> 0) + (b[p + 5] << 16) + (b[p + 6] << 8) + b[p + 7]
          p += 8
          this.put(b.subarray(p, p + k), b.subarray(p + k, p + k + v))
          p += k + v
        }
        break
      }
      case 'done': this.result = { runs: m.runs, postings: m.postings, terms: m.terms }; this.poke(); break
      case 'error': this.fail(new Error(m.message)); break
      case 'ready': break
    }
  }

  private fail (err: Error): void {
    this.failure ??= new StoreError(`import run worker failed: ${err.message}`, 'ERR_STORE', { cause: err })
    this.poke()
  }

  private poke (): void {
    const w = this.wake
    this.wake = undefined
    w?.()
  }

  private async until (done: () => boolean): Promise<void> {
    while (!done()) {
      if (this.failure !== undefined) throw this.failure
      await new Promise<void>((resolve) => { this.wake = resolve })
    }
    if (this.failure !== undefined) throw this.failure
  }

  /** Sends records; their buffers move to the worker (the caller must not use them again). */
  async send (recs: Int32Array, n: number, chars: Uint16Array, prefixes: string[]): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    this.inFlight++
    const m: ToRunWorker = { type: 'records', recs, n, chars, prefixes }
    this.worker.postMessage(m, [recs.buffer as ArrayBuffer, chars.buffer as ArrayBuffer])
    await this.until(() => this.inFlight < MAX_IN_FLIGHT)
  }

  /** Writes the last run; resolves when every key and value has been handed to `put`. */
  async finish (): Promise<{ runs: RunInfo[], postings: number, terms: number }> {
    this.worker.postMessage({ type: 'finish' } satisfies ToRunWorker)
    await this.until(() => this.result !== undefined)
    return this.result!
  }

  async close (): Promise<void> {
    this.worker.removeAllListeners('exit')
    await this.worker.terminate()
  }
}
