#!/usr/bin/env node
// Runs a TypeScript entry point (benchmarks, scripts) through bin/ts-hooks.js: node bin/run-ts.js FILE [ARGS...]
import { register } from './register-ts.js'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

register()
const [file, ...rest] = process.argv.slice(2)
if (file === undefined) { process.stderr.write('usage: node bin/run-ts.js FILE [ARGS...]\n'); process.exit(2) }
process.argv = [process.argv[0], resolve(file), ...rest]
await import(pathToFileURL(resolve(file)).href)
