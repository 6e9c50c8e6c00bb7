/**
 * Named errors of the distributed index. Each has a stable `code`; the
 * protocol servers send the code back to the caller, who rethrows the same
 * class, so a refusal reads the same on both sides.
 */
import { EdosError } from '../xml-twig-index/errors.ts'

/** A frame or message that does not follow the protocol (size, shape, encoding). */
export class ProtocolError extends EdosError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_PROTOCOL', options); this.name = 'ProtocolError' }
}

/** A write or replication from a peer that may not do it (a client, an unknown key, an uncertified mirror). */
export class NotAuthorizedError extends EdosError {
  constructor (message: string) { super(message, 'ERR_NOT_AUTHORIZED'); this.name = 'NotAuthorizedError' }
}

/** A signature that does not verify: an altered batch, catalog or certificate. */
export class BadSignatureError extends EdosError {
  constructor (message: string) { super(message, 'ERR_BAD_SIGNATURE'); this.name = 'BadSignatureError' }
}

/** A signed batch seen before, addressed to another peer, or past its expiry. */
export class ReplayError extends EdosError {
  constructor (message: string) { super(message, 'ERR_REPLAYED'); this.name = 'ReplayError' }
}

/** A mirror certificate that is malformed, expired or issued by another publisher. */
export class CertificateError extends EdosError {
  constructor (message: string, code: 'ERR_CERT_INVALID' | 'ERR_CERT_EXPIRED' | 'ERR_CERT_WRONG_PUBLISHER' = 'ERR_CERT_INVALID') { super(message, code); this.name = 'CertificateError' }
}

/** No holder of a key answered (all replicas down or too slow). */
export class PeerUnavailableError extends EdosError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_PEER_UNAVAILABLE', options); this.name = 'PeerUnavailableError' }
}

/** A peer answered with an error of its own (the code it sent is kept). */
export class RemoteError extends EdosError {
  constructor (message: string, code: string, readonly peer: string) { super(message, code); this.name = 'RemoteError' }
}
