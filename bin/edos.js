#!/usr/bin/env node
// The `edos` command: runs the TypeScript sources through bin/ts-hooks.js.
import { register } from './register-ts.js'

register()
await import('../src/cli/main.ts')
