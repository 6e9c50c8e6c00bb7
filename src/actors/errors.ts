/** PeerError lives with the roles that throw it; re-exported for the layers above. */
export { PeerError } from '../roles/errors.ts'
