import { defineConfig } from 'vitest/config'

export default defineConfig({
  resolve: {
    // graphql 16 ships CommonJS and ES-module builds; dependencies (yoga, Pothos, graphql-ws) load the
    // CommonJS one through Node, so our sources must too, or instanceof checks fail across two copies.
    alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }]
  },
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**'],
    setupFiles: ['src/shims/index.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks'
  }
})
