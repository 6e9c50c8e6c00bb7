#!/usr/bin/env -S node --no-memory-reducer --v8-pool-size=1 --heap-growing-percent=200
// The `edos` command: runs the TypeScript sources through bin/ts-hooks.js.
// The shebang's flags are src/cli/peer-flags.ts's, for the peers it starts.
import { register } from './register-ts.js'

register()
await import('../src/cli/main.ts')
