/** Named errors of the channel transport, each with a stable `code`. */
import { EdosError } from '../xml-twig-index/errors.ts'

/** A notification or channel definition whose publisher signature does not verify, or that is malformed. */
export class ForgedNotificationError extends EdosError {
  constructor (message: string, readonly from?: string) { super(message, 'ERR_FORGED_NOTIFICATION'); this.name = 'ForgedNotificationError' }
}

/** A range that no reachable peer could serve (all down, or none holds it yet). */
export class ChannelSyncError extends EdosError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_CHANNEL_SYNC', options); this.name = 'ChannelSyncError' }
}
