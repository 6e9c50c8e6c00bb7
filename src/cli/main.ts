import '../shims/index.ts'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { EdosError } from '../xml-twig-index/errors.ts'
import { runImport, runQuery, runExport, runStats } from './commands.ts'
import { runStart } from './start.ts'

/** Bad input: printed on stderr, exit code 2. */
export class UsageError extends EdosError {
  constructor (message: string) { super(message, 'ERR_USAGE'); this.name = 'UsageError' }
}

const USAGE = `usage: edos COMMAND [OPTIONS]

  edos start [--data DIR]                   one embedded peer with the bundled sample metadata
  edos import --data DIR --release NAME [--format debian|rpm-md|dir] [--translations FILE] FILE...
  edos query --data DIR [--limit N] [--after CURSOR] [--explain] 'PATTERN'
  edos export --data DIR [ID...]
  edos stats --data DIR

Query and export print one JSON object per line. Bad input exits with code 2.
`

const COMMON: ParseArgsConfig['options'] = { data: { type: 'string' }, help: { type: 'boolean', short: 'h' } }
const OPTIONS: Record<string, ParseArgsConfig['options']> = {
  start: { ...COMMON },
  import: { ...COMMON, release: { type: 'string' }, format: { type: 'string' }, translations: { type: 'string', multiple: true } },
  query: { ...COMMON, limit: { type: 'string' }, after: { type: 'string' }, explain: { type: 'boolean' } },
  export: { ...COMMON },
  stats: { ...COMMON }
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  const options = OPTIONS[command]
  if (options === undefined) throw new UsageError(`unknown command '${command}'\n${USAGE}`)
  let parsed
  try {
    parsed = parseArgs({ args: rest, options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`)
  }
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>
  if (values.help === true) { process.stdout.write(USAGE); return 0 }
  const data = values.data as string | undefined
  const needData = (): string => {
    if (data === undefined || data === '') throw new UsageError(`edos ${command} needs --data DIR`)
    return data
  }
  switch (command) {
    case 'start': return await runStart({ data })
    case 'import': {
      const release = values.release as string | undefined
      if (release === undefined || release === '') throw new UsageError('edos import needs --release NAME')
      if (parsed.positionals.length === 0) throw new UsageError('edos import needs at least one FILE')
      const format = values.format as string | undefined
      if (format !== undefined && !['debian', 'rpm-md', 'dir'].includes(format)) throw new UsageError(`unknown --format '${format}' (debian, rpm-md or dir)`)
      return await runImport({ data: needData(), release, format: format as 'debian' | 'rpm-md' | 'dir' | undefined, translations: (values.translations as string[] | undefined) ?? [], files: parsed.positionals })
    }
    case 'query': {
      if (parsed.positionals.length !== 1) throw new UsageError("edos query needs exactly one 'PATTERN'")
      const limitText = values.limit as string | undefined
      const limit = limitText === undefined ? undefined : Number(limitText)
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw new UsageError(`--limit must be a non-negative integer, got '${limitText ?? ''}'`)
      return await runQuery({ data: needData(), pattern: parsed.positionals[0], limit, after: values.after as string | undefined, explain: values.explain === true })
    }
    case 'export': return await runExport({ data: needData(), ids: parsed.positionals })
    case 'stats': return await runStats({ data: needData() })
  }
  return 2
}

/** Errors of the input (pattern, document, arguments) exit 2; everything else 1. */
const BAD_INPUT = new Set(['ERR_USAGE', 'ERR_QUERY_PARSE', 'ERR_XML_PARSE', 'ERR_INVALID_DOCUMENT', 'ERR_IMPORT', 'ERR_NOT_FOUND', 'ERR_INVALID_CURSOR', 'ERR_STORE_LOCKED'])

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  const code = (err as { code?: string }).code
  process.stderr.write(`edos: ${(err as Error).message}\n`)
  if (!(err instanceof EdosError) && process.env.EDOS_DEBUG != null) process.stderr.write(`${(err as Error).stack ?? ''}\n`)
  process.exitCode = code !== undefined && BAD_INPUT.has(code) ? 2 : 1
}
