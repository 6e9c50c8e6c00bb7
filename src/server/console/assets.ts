/**
 * The console's files: index.html and console.css as they are in ./web, and
 * console.js bundled from ./web/main.ts by esbuild (the TypeScript stripped,
 * graphql-ws's browser client included). Built once, on the first request,
 * then served from memory.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { ConsoleBuildError } from './errors.ts'

export interface Asset { type: string, body: Buffer }

export interface ConsoleAssets {
  /** The named file, or undefined when the console has no such file. */
  get: (name: string) => Promise<Asset | undefined>
}

const WEB = fileURLToPath(new URL('./web/', import.meta.url))

const STATIC: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.css': 'text/css; charset=utf-8'
}

async function bundle (minify: boolean): Promise<Buffer> {
  try {
    // Loaded here, not at the top: processes that never serve the console (CLI commands) skip it.
    const { build } = await import('esbuild')
    const out = await build({
      entryPoints: [WEB + 'main.ts'],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      minify,
      sourcemap: minify ? false : 'inline',
      write: false,
      logLevel: 'silent',
      legalComments: 'none'
    })
    return Buffer.from(out.outputFiles[0].contents)
  } catch (err) {
    const errors = (err as { errors?: Array<{ text: string, location?: { file: string, line: number, column: number } | null }> }).errors
    const where = errors?.[0]?.location
    throw new ConsoleBuildError(errors === undefined || errors.length === 0
      ? `console build failed: ${(err as Error).message}`
      : `console build failed: ${errors[0].text}${where == null ? '' : ` (${where.file}:${where.line}:${where.column})`}`, { cause: err })
  }
}

export function createConsoleAssets (init: { minify: boolean }): ConsoleAssets {
  const cache = new Map<string, Promise<Asset>>()
  const load = (name: string): Promise<Asset> => {
    let p = cache.get(name)
    if (p === undefined) {
      p = name === 'console.js'
        ? bundle(init.minify).then((body) => ({ type: 'text/javascript; charset=utf-8', body }))
        : readFile(WEB + name).then((body) => ({ type: STATIC[name], body }))
      // A failed build is tried again on the next request (the source may have been fixed).
      p.catch(() => { cache.delete(name) })
      cache.set(name, p)
    }
    return p
  }
  return {
    get: async (name) => name === 'console.js' || Object.hasOwn(STATIC, name) ? await load(name) : undefined
  }
}
