/**
 * Named errors of the content layer. Each carries a stable `code` (the
 * CLI and GraphQL map codes, never messages) and names the unit or file.
 */
import { EdosError } from '../xml-twig-index/errors.ts'

/** Bytes whose sha256 or size differ from the signed metadata: discarded, never kept. */
export class ChecksumMismatchError extends EdosError {
  constructor (readonly what: string, readonly expected: string, readonly actual: string) {
    super(`${what}: sha256 ${actual} does not match the metadata's ${expected}; the bytes were discarded`, 'ERR_CHECKSUM_MISMATCH')
    this.name = 'ChecksumMismatchError'
  }
}

/** Bad arguments: not a sha256, a unit without a checksum, an unsafe file name. */
export class ContentInputError extends EdosError {
  constructor (message: string) {
    super(message, 'ERR_CONTENT_INPUT')
    this.name = 'ContentInputError'
  }
}

/** No source could deliver a unit (no holder, no web seed, every source failed). */
export class ContentUnavailableError extends EdosError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_CONTENT_UNAVAILABLE', options)
    this.name = 'ContentUnavailableError'
  }
}

/** A download stopped by cancel() or by the peer stopping. */
export class DownloadCancelledError extends EdosError {
  constructor (message: string) {
    super(message, 'ERR_DOWNLOAD_CANCELLED')
    this.name = 'DownloadCancelledError'
  }
}
