/**
 * Writes schema/edos.graphql from the Pothos schema (npm run schema). The
 * file is the subgraph SDL a federation gateway composes; test/resolvers/
 * schema-file.test.ts fails when it is stale.
 */
import { writeFileSync, mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { printEdosSchema } from '../src/resolvers/index.ts'

const target = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'schema', 'edos.graphql')
mkdirSync(dirname(target), { recursive: true })
writeFileSync(target, printEdosSchema())
process.stdout.write(`wrote ${target}\n`)
