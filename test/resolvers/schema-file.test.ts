import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { printEdosSchema } from '../../src/resolvers/index.ts'

describe('schema/edos.graphql', () => {
  it('is the printed schema (run npm run schema after changing src/resolvers)', () => {
    const file = readFileSync(new URL('../../schema/edos.graphql', import.meta.url), 'utf8')
    if (file !== printEdosSchema()) {
      expect.fail('schema/edos.graphql is stale: run npm run schema (node bin/run-ts.js scripts/print-schema.ts) and commit the file')
    }
  })
})
