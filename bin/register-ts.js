// Registers bin/ts-hooks.js, so that `import()` of a .ts file runs it; stack
// traces map back to the .ts lines. Every entry point (and worker) calls it first.
import { register as registerHooks } from 'node:module'

export function register () {
  process.setSourceMapsEnabled(true)
  registerHooks('./ts-hooks.js', import.meta.url)
}
