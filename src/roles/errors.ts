import { EdosError } from '../xml-twig-index/errors.ts'

/**
 * Errors a peer operation reports to its caller. The `code` is stable and
 * becomes GraphQL's `extensions.code`:
 * - UNAUTHENTICATED: a publisher-only operation without a valid token
 * - FORBIDDEN: the peer's role does not do this (a client cannot publish)
 * - BAD_USER_INPUT: the input is wrong (also ERR_QUERY_PARSE, ERR_XML_PARSE, ERR_INVALID_DOCUMENT, ERR_IMPORT)
 * - NOT_FOUND: no such release, channel, download or document
 * - UNAVAILABLE: the peer cannot do it now (no content held for a unit, ...)
 */
export class PeerError extends EdosError {
  constructor (message: string, code: 'UNAUTHENTICATED' | 'FORBIDDEN' | 'BAD_USER_INPUT' | 'NOT_FOUND' | 'UNAVAILABLE' | 'CONFLICT') {
    super(message, code)
    this.name = 'PeerError'
  }
}
