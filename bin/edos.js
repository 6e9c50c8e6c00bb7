#!/usr/bin/env -S node --no-memory-reducer
// The `edos` command: runs the TypeScript sources through bin/ts-hooks.js.
// The shebang's flag is src/cli/peer-flags.ts's, for the peers it starts.
import { register } from './register-ts.js'

register()
await import('../src/cli/main.ts')
