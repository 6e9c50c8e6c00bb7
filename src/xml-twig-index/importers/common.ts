import { InvalidDocumentError } from '../errors.ts'
import { packageId, type ImportedUnit, type UnitRejection } from '../documents/index.ts'

/** What one importer yields: a built document, or the reason one unit was left out. */
export type UnitResult = ImportedUnit | UnitRejection

/** The label a unit's errors carry before its document exists: its id when known, else its name. */
export function labelOf (name: string | undefined, version: string | undefined, arch: string | undefined): string {
  if (name != null && name !== '' && version != null && version !== '' && arch != null && arch !== '') return packageId(name, version, arch)
  return name != null && name !== '' ? name : '(unnamed package)'
}

/** Re-issues a unit's error with where it was found (file, line), keeping unit and field. */
export function rejectAt (err: InvalidDocumentError, where: string): UnitRejection {
  const prefix = `${err.unit}${err.field != null ? ` (field ${err.field})` : ''}: `
  const message = err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message
  const located = new InvalidDocumentError(err.unit, err.field, `${message} (${where})`)
  return { kind: 'rejected', error: located }
}

/** Runs a unit's mapping + building; a bad unit becomes a rejection, anything else propagates. */
export function tryUnit (where: string, build: () => ImportedUnit): UnitResult {
  try {
    return build()
  } catch (err) {
    if (err instanceof InvalidDocumentError) return rejectAt(err, where)
    throw err
  }
}

const DIGITS = /^\d+$/

/** A decimal count from metadata text; anything else is the unit's fault, named with the text seen. */
export function parseCount (unit: string, field: string, text: string | undefined): number | undefined {
  if (text == null || text === '') return undefined
  if (!DIGITS.test(text)) throw new InvalidDocumentError(unit, field, `${JSON.stringify(text.slice(0, 60))} is not a non-negative integer`)
  const n = Number(text)
  if (!Number.isSafeInteger(n)) throw new InvalidDocumentError(unit, field, `${text} is too large`)
  return n
}
