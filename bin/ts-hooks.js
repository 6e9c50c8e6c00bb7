// Module hooks that load this project's TypeScript (.ts) as ESM, transformed
// by esbuild. Not tsx: tsx always sets esbuild's keepNames, which wraps every
// function expression in a call that defines its `name`. That gives every
// closure created at run time a property store (~250 bytes) and costs a
// defineProperty per closure: ~3.6 KB of heap per WebSocket subscriber on a
// mirror, and CPU on every hot path that makes closures.
//
// Transforms are cached on disk (like tsx's), keyed by the source's hash:
// every `edos` command is a new process, and transforming the ~300 modules a
// peer loads costs more than the command itself.
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { transform, version } from 'esbuild'

// What tsconfig.json says that changes emitted code (target ES2022: class
// fields are defined, as tsc would emit them).
const TSCONFIG = { compilerOptions: { target: 'ES2022', useDefineForClassFields: true, verbatimModuleSyntax: false } }
const TARGET = `node${process.versions.node}`
const CACHE = join(tmpdir(), `edos-ts-${safeUid()}`)
// Anything that changes the output for the same source is part of the key.
const SALT = JSON.stringify([version, TARGET, TSCONFIG, 2])

function safeUid () {
  try { return String(userInfo().uid) } catch { return 'user' }
}

async function transformed (file, source) {
  const key = createHash('sha256').update(SALT).update('\0').update(file).update('\0').update(source).digest('hex')
  const cached = join(CACHE, `${key}.js`)
  try { return await readFile(cached, 'utf8') } catch { /* not cached yet */ }
  const { code } = await transform(source, { loader: 'ts', format: 'esm', target: TARGET, sourcemap: 'inline', sourcefile: file, tsconfigRaw: TSCONFIG })
  try {
    await mkdir(CACHE, { recursive: true })
    // Written aside, then renamed: a concurrent reader sees all of it or nothing.
    const aside = `${cached}.${process.pid}.tmp`
    await writeFile(aside, code)
    await rename(aside, cached)
  } catch { /* a cache that cannot be written only costs time */ }
  return code
}

export async function load (url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return await nextLoad(url, context)
  const file = fileURLToPath(url)
  return { format: 'module', source: await transformed(file, await readFile(file, 'utf8')), shortCircuit: true }
}
