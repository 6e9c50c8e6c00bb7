import { stat } from 'node:fs/promises'
import { ImportError, InvalidDocumentError } from '../errors.ts'
import type { ImportedUnit, UnitRejection } from '../documents/index.ts'
import { openDecompressed, peek, readHead } from './decompress.ts'
import { importPackages, loadTranslations, type Translations } from './debian.ts'
import { importPrimary } from './rpm-md.ts'
import { fileKind, importDir } from './dir.ts'
import type { UnitResult } from './common.ts'

/**
 * Importers: metadata files in, documents out (DESIGN.md "Metadata
 * documents"). Debian `Packages` indexes (+ Translation-*), RPM repodata
 * `primary.xml`, or a directory of files. Everything streams: memory holds
 * one chunk of input and one unit at a time (plus the translations map).
 */
export type ImportFormat = 'debian' | 'rpm-md' | 'dir'

export interface ImportProgress {
  /** The file being read (a translation, an index, or an imported directory). */
  file: string
  /** Stored (compressed) bytes read so far from `file`; for a directory, bytes hashed so far. */
  bytesRead: number
  bytesTotal: number
  /** Units (documents, not rejections) yielded so far from `file`. */
  units: number
}

export interface ImportInit {
  /** Auto-detected when absent: a directory or a .deb/.rpm file -> dir; content sniff: deb822 stanza vs <metadata xmlns=".../common">. */
  format?: ImportFormat
  /** Translation-* files whose long descriptions join Debian packages by name + Description-md5. */
  translations?: string[]
  onProgress?: (p: ImportProgress) => void
  signal?: AbortSignal
}

export type { ImportedUnit, UnitRejection } from '../documents/index.ts'
export { CorruptPackageError } from './archives.ts'

/**
 * Decompressed bytes of a Packages index that may be read ahead while its
 * translations load: about a third of bookworm's, which is what a second
 * core decompresses in that time.
 */
const TRANSLATION_READ_AHEAD = 16 << 20

/** Guesses the format of decompressed content from its first bytes. */
export function sniffFormat (head: Uint8Array): 'debian' | 'rpm-md' | undefined {
  let text = new TextDecoder('utf-8', { fatal: false }).decode(head.subarray(0, 4096))
  if (text.charCodeAt(0) === 0xFEFF) text = text.slice(1)
  text = text.trimStart()
  // RPM primary.xml is the only XML format: its importer says precisely what is wrong with any other XML.
  if (text.startsWith('<')) return 'rpm-md'
  return /^[A-Za-z0-9][!-9;-~]*:/.test(text) ? 'debian' : undefined
}

/** The unit's checksum text ('' when it has none). */
function checksumOf (u: ImportedUnit): string {
  for (const c of u.root.children) {
    if (c.kind === 'element' && c.name === 'checksum') return c.children[0]?.kind === 'text' ? c.children[0].value : ''
  }
  return ''
}

/**
 * What the duplicate check remembers of a checksum: its first 52 bits as a
 * number. Not the string itself: that is a slice of the decoded input, and
 * holding it would keep every chunk of a 50 MB index alive until the end.
 */
function digestKey (checksum: string): number {
  return checksum === '' ? -1 : parseInt(checksum.slice(0, 13), 16)
}

/**
 * Reads units from metadata files, in file order. File-level problems
 * (unreadable, unknown format, corrupt compression, malformed syntax) throw
 * an ImportError naming the file and line; a unit with bad fields is
 * yielded as a rejection and the import goes on. Ids are unique across one
 * call: a repeated id with the same checksum (the same package listed
 * twice, or mirrored under two paths) is dropped, with a different
 * checksum it is rejected.
 */
export async function * readUnits (files: string[], init: ImportInit = {}): AsyncGenerator<ImportedUnit | UnitRejection> {
  const { signal, onProgress } = init
  const seen = new Map<string, number>()
  let translations: Translations | undefined
  const progress = (file: string, bytesRead: number, bytesTotal: number, units: number): void => {
    onProgress?.({ file, bytesRead, bytesTotal, units })
  }

  const loadTranslationsOnce = async (): Promise<Translations | undefined> => {
    if (translations != null || init.translations == null || init.translations.length === 0) return translations
    translations = new Map()
    for (const t of init.translations) {
      const { size } = await readHead(t, 0)
      await loadTranslations([t], { signal, onRead: (n) => { progress(t, n, size, 0) } }, translations)
      progress(t, size, size, 0)
    }
    return translations
  }

  for (const file of files) {
    signal?.throwIfAborted()
    const st = await stat(file).catch((err: Error) => { throw new ImportError(`cannot read: ${err.message}`, file, { cause: err }) })
    let units = 0
    let source: AsyncIterable<Iterable<UnitResult>>
    let bytesTotal = st.size
    if (st.isDirectory() || init.format === 'dir') {
      if (init.format != null && init.format !== 'dir') throw new ImportError(`is a directory; format '${init.format}' reads a file`, file)
      source = importDir(file, st.isDirectory(), (p) => { bytesTotal = p.bytesTotal; progress(file, p.bytesRead, p.bytesTotal, units) }, signal)
    } else {
      const { head } = await readHead(file, 8)
      const kind = fileKind(head)
      if (kind !== 'other') {
        if (init.format != null) throw new ImportError(`is a .${kind} package, not ${init.format} metadata (use format 'dir')`, file)
        source = importDir(file, false, (p) => { progress(file, p.bytesRead, p.bytesTotal, units) }, signal)
      } else {
        // While translations load first, let this file's decompression run ahead (bounded) on another core.
        const pending = translations == null && (init.translations?.length ?? 0) > 0
        const opened = await openDecompressed(file, { signal, readAhead: pending ? TRANSLATION_READ_AHEAD : undefined, onRead: (n) => { progress(file, n, st.size, units) } })
        const peeked = await peek(opened.chunks)
        if (peeked.head.length === 0 && init.format == null) {
          // An empty index (an empty component or architecture) is valid in every format: no units.
          progress(file, st.size, st.size, 0)
          continue
        }
        const format = init.format ?? sniffFormat(peeked.head)
        if (format == null) {
          await peeked.close()
          throw new ImportError(`unknown format (${opened.compression === 'none' ? '' : opened.compression + '-compressed '}content is neither a deb822 Packages index nor RPM primary.xml)`, file)
        }
        let tr: Translations | undefined
        try {
          if (format === 'debian') tr = await loadTranslationsOnce()
        } catch (err) {
          await peeked.close() // else the peeked file's decompression worker would outlive the import
          throw err
        }
        source = format === 'debian' ? importPackages(peeked.chunks, file, tr) : importPrimary(peeked.chunks, file)
      }
    }
    for await (const batch of source) {
      for (const u of batch) {
        signal?.throwIfAborted()
        if (u.kind !== 'rejected') {
          const checksum = checksumOf(u)
          const key = digestKey(checksum)
          const before = seen.get(u.id)
          if (before === key) continue
          if (before != null) {
            yield { kind: 'rejected', error: new InvalidDocumentError(u.id, 'checksum', `duplicate id with a different checksum (${checksum.slice(0, 13)}... differs from the first seen) in ${file}`) }
            continue
          }
          seen.set(u.id, key)
          units++
        }
        yield u
      }
    }
    progress(file, bytesTotal, bytesTotal, units)
  }
}
