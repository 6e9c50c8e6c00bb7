// Module hooks that load this project's TypeScript (.ts) as ESM, transformed
// by esbuild. Not tsx: tsx always sets esbuild's keepNames, which wraps every
// function expression in a call that defines its `name`. That gives every
// closure created at run time a property store (~250 bytes) and costs a
// defineProperty per closure: ~3.6 KB of heap per WebSocket subscriber on a
// mirror, and CPU on every hot path that makes closures.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { transform } from 'esbuild'

// What tsconfig.json says that changes emitted code (target ES2022: class
// fields are defined, as tsc would emit them).
const TSCONFIG = { compilerOptions: { target: 'ES2022', useDefineForClassFields: true, verbatimModuleSyntax: false } }

export async function load (url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return await nextLoad(url, context)
  const file = fileURLToPath(url)
  const { code } = await transform(await readFile(file, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: `node${process.versions.node}`,
    sourcemap: 'inline',
    sourcefile: file,
    tsconfigRaw: TSCONFIG
  })
  return { format: 'module', source: code, shortCircuit: true }
}
