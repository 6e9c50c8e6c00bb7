import { EdosError } from '../xml-twig-index/errors.ts'

/** Bad arguments: printed on stderr, exit code 2. */
export class UsageError extends EdosError {
  constructor (message: string) { super(message, 'ERR_USAGE'); this.name = 'UsageError' }
}

/** A peer answered, but not with what the API promises. */
export class PeerProtocolError extends EdosError {
  constructor (message: string) { super(message, 'ERR_PEER_PROTOCOL'); this.name = 'PeerProtocolError' }
}
