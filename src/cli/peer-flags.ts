/**
 * Node flags for a long-running peer (`edos serve`, `edos start`). Whoever
 * starts a peer's node passes them: the shebang of bin/edos.js and `npm
 * start` spell them out (test/cli/peer-flags.test.ts keeps them equal), the
 * spawners of the benchmarks and e2e tests import them.
 *
 * --no-memory-reducer: V8's memory reducer runs a memory-reducing major GC
 * when the process looks idle, and by its watchdog whenever no major GC ran
 * for 100 s. On a mirror serving 10,000 subscribers that GC compacts the
 * whole heap: its pauses (200-430 ms, and once 2.7 s of marking steps on a
 * busy machine) were the notification latencies over 200 ms in the channels
 * bench. A peer's heap follows its connections and stores, not idle phases,
 * so it keeps its size. Only a command-line flag works: set at run time
 * (v8.setFlagsFromString) the watchdog still fires, and NODE_OPTIONS refuses it.
 *
 * --v8-pool-size=1 and --heap-growing-percent=200: V8 collects a peer's
 * heap with helper threads, four by default whatever the cores, and starts
 * a major GC once the old generation is ~1.4x what the last one kept. A
 * publish to peers sharing a machine (the dht bench: 12 processes on 2
 * cores) then spent ~25% of its CPU in GC helper threads contending for
 * the cores, and each mirror ran a major GC every 2-3 s over a heap of
 * ~60 MB. One helper, and a heap allowed to grow to 3x before a major GC:
 * R1's index step took 24.0-29.0 s (median ~25) against 30.2-36.3 (~31)
 * in alternated runs, and the channels bench's mirror kept its latencies
 * (10,000 subscribers: p99 109 ms against 116) with ~8% less CPU per
 * notification (bench/README, dht, session 22). A peer's heap is tens of
 * MB: one helper thread collects it.
 */
export const PEER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer', '--v8-pool-size=1', '--heap-growing-percent=200']
