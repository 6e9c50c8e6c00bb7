/**
 * Named errors of the embedded engine. Every error carries a stable `code`
 * so that callers (CLI exit codes, GraphQL `extensions.code`) can react
 * without parsing messages, and names what and where went wrong.
 */
export class EdosError extends Error {
  readonly code: string
  constructor (message: string, code: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EdosError'
    this.code = code
  }
}

/** Source position inside a text (1-based line and column, 0-based offset). */
export interface SourcePosition {
  offset: number
  line: number
  column: number
}

/** Malformed, hostile or oversized XML. `where` names the document (file, unit id). */
export class XmlParseError extends EdosError {
  readonly position?: SourcePosition
  readonly where?: string
  constructor (message: string, position?: SourcePosition, where?: string) {
    const at = position != null ? ` at line ${position.line}, column ${position.column}` : ''
    super(`${where != null ? `${where}: ` : ''}${message}${at}`, 'ERR_XML_PARSE')
    this.name = 'XmlParseError'
    this.position = position
    this.where = where
  }
}

/** A tree pattern that does not parse: `position` is the 0-based offset in the pattern. */
export class QueryParseError extends EdosError {
  readonly position: number
  readonly expected: string
  constructor (message: string, position: number, expected: string) {
    super(message, 'ERR_QUERY_PARSE')
    this.name = 'QueryParseError'
    this.position = position
    this.expected = expected
  }
}

/** A document (package, utility, release) whose fields are missing or invalid. */
export class InvalidDocumentError extends EdosError {
  readonly unit: string
  readonly field?: string
  constructor (unit: string, field: string | undefined, message: string) {
    super(`${unit}${field != null ? ` (field ${field})` : ''}: ${message}`, 'ERR_INVALID_DOCUMENT')
    this.name = 'InvalidDocumentError'
    this.unit = unit
    this.field = field
  }
}

/** An import that cannot proceed: unreadable file, unknown format, corrupt archive. */
export class ImportError extends EdosError {
  readonly file?: string
  constructor (message: string, file?: string, options?: { cause?: unknown }) {
    super(file != null ? `${file}: ${message}` : message, 'ERR_IMPORT', options)
    this.name = 'ImportError'
    this.file = file
  }
}

/** The store is unusable (locked by another process, corrupt, wrong format version). */
export class StoreError extends EdosError {
  constructor (message: string, code = 'ERR_STORE', options?: { cause?: unknown }) {
    super(message, code, options)
    this.name = 'StoreError'
  }
}

/** A document id that the store does not hold. */
export class NotFoundError extends EdosError {
  constructor (message: string) {
    super(message, 'ERR_NOT_FOUND')
    this.name = 'NotFoundError'
  }
}
