import { defineConfig } from 'vitest/config'

/**
 * `npm run test:e2e`: the multi-process tests (every peer its own `edos serve`
 * process on 127.0.0.1). One file at a time: the machine may have few cores.
 */
export default defineConfig({
  resolve: {
    // Same as vitest.config.ts: one copy of graphql (its CommonJS build).
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }]
  },
  test: {
    include: ['test/e2e/**/*.test.ts'],
    setupFiles: ['src/shims/index.ts'],
    // Generous global bounds: nothing may hang, but a loaded 2-core machine is slow.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
    fileParallelism: false
  }
})
