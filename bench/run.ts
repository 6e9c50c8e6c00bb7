import '../src/shims/index.ts'

/**
 * `npm run bench -- NAME [ARGS]`: runs bench/NAME.ts, which prints a table
 * and writes its figures to bench/results/NAME.json.
 */
const BENCHES: Record<string, () => Promise<{ run: (args: string[]) => Promise<void> }>> = {
  index: async () => await import('./index-bench.ts'),
  query: async () => await import('./query-bench.ts'),
  graphql: async () => await import('./graphql-bench.ts'),
  dht: async () => await import('./dht-bench.ts'),
  'flash-crowd-sim': async () => await import('./flash-crowd-sim.ts'),
  channels: async () => await import('./channels-bench.ts'),
  content: async () => await import('./content-bench.ts'),
  'flash-crowd': async () => await import('./flash-crowd-bench.ts'),
  'ws-floor': async () => await import('./ws-floor-bench.ts')
}

const [name, ...args] = process.argv.slice(2)
const load = name === undefined ? undefined : BENCHES[name]
if (load === undefined) {
  process.stderr.write(`usage: npm run bench -- NAME   (one of: ${Object.keys(BENCHES).join(', ')})\n`)
  process.exit(2)
}
await (await load()).run(args)
