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
 */
export const PEER_NODE_FLAGS: readonly string[] = ['--no-memory-reducer']
