/**
 * Publisher signatures on channel definitions and notifications. Both are
 * signed envelopes (src/dht/trust.ts) whose header is the record without
 * its signature, so the signature covers the canonical JSON of every field
 * and a record read back from any log or wire verifies the same way. The
 * shape is checked first: a malformed record is refused like a forged one
 * and never reaches a log.
 */
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signEnvelope, signatureOf, verifyEnvelope } from '../dht/trust.ts'
import { ForgedNotificationError } from './errors.ts'
import type { ChannelDefinition, ChannelFlashCrowd, ChannelNotification, ChannelUnit } from './types.ts'

export const KIND_NOTIFICATION = 'edos/channel/notification'
export const KIND_DEFINITION = 'edos/channel/definition'
export const CHANNEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/
/** Units one notification may carry (a whole distribution's release is ~60,000). */
export const MAX_UNITS = 200_000
/**
 * Units one notification carries at most (~200 KB of JSON): a bigger change
 * (a whole release: R1 is 63,440 units, 13.5 MB) goes as several parts, so
 * that each fits a gossipsub message (4 MiB) and a log answer (1 MiB).
 */
export const UNITS_PER_PART = 1000

type Unsigned<T> = Omit<T, 'signature'>

// Headers and units are built with their keys in sorted order: canonicalJson then spells them with the native JSON.stringify.
function headerOfNotification (n: Unsigned<ChannelNotification>): Record<string, unknown> {
  const h: Record<string, unknown> = { added: n.added, channel: n.channel, date: n.date }
  // Only when present: notifications signed before the field existed verify unchanged.
  if (n.flashCrowd !== undefined) h.flashCrowd = n.flashCrowd
  if (n.parts !== undefined) { h.part = n.part; h.parts = n.parts }
  h.release = n.release; h.removed = n.removed; h.seq = n.seq; h.updated = n.updated
  return h
}

const INFO_HASH = /^[0-9a-f]{40}$/
/** Most cluster torrents one announcement may list. */
export const MAX_CLUSTERS = 4096

function flashCrowd (v: unknown, where: string): ChannelFlashCrowd {
  if (!isObject(v) || (v.phase !== 'open' && v.phase !== 'clusters') || !isString(v.release) || (v.closesAt !== undefined && !isString(v.closesAt))) {
    throw new ForgedNotificationError(`${where}: flashCrowd is not an announcement (phase open|clusters, release, closesAt?)`)
  }
  const out = {} as ChannelFlashCrowd
  if (v.closesAt !== undefined) out.closesAt = v.closesAt as string
  if (v.clusters !== undefined) {
    if (!Array.isArray(v.clusters) || v.clusters.length > MAX_CLUSTERS) throw new ForgedNotificationError(`${where}: flashCrowd.clusters is not a list of at most ${MAX_CLUSTERS}`)
    let units = 0
    out.clusters = v.clusters.map((c, i) => {
      const ok = isObject(c) && isString(c.id) && isString(c.infoHash) && INFO_HASH.test(c.infoHash) && Array.isArray(c.units) && c.units.every(isString) &&
        Number.isSafeInteger(c.bytes) && (c.bytes as number) >= 0 && Number.isSafeInteger(c.pieceLength) && (c.pieceLength as number) > 0
      if (!ok) throw new ForgedNotificationError(`${where}: flashCrowd.clusters[${i}] is not a cluster (id, infoHash, units, bytes, pieceLength)`)
      units += (c.units as string[]).length
      if (units > MAX_UNITS) throw new ForgedNotificationError(`${where}: flashCrowd.clusters name more than ${MAX_UNITS} units`)
      return { bytes: c.bytes as number, id: c.id as string, infoHash: c.infoHash as string, pieceLength: c.pieceLength as number, units: c.units as string[] }
    })
  }
  out.phase = v.phase
  out.release = v.release
  return out
}

function headerOfDefinition (d: Unsigned<ChannelDefinition>): Record<string, unknown> {
  return { name: d.name, description: d.description, filter: d.filter, createdAt: d.createdAt }
}

export async function signNotification (key: PrivateKey, n: Unsigned<ChannelNotification>): Promise<ChannelNotification> {
  const header = headerOfNotification(n)
  return { ...header, signature: await signatureOf(key, KIND_NOTIFICATION, header) } as unknown as ChannelNotification
}

export async function signDefinition (key: PrivateKey, d: Unsigned<ChannelDefinition>): Promise<ChannelDefinition> {
  const env = await signEnvelope(key, KIND_DEFINITION, headerOfDefinition(d))
  const out: ChannelDefinition = { name: d.name, description: d.description, createdAt: d.createdAt, signature: env.signature }
  if (d.filter !== undefined) out.filter = d.filter
  return out
}

const isObject = (v: unknown): v is Record<string, unknown> => v != null && typeof v === 'object' && !Array.isArray(v)
const isString = (v: unknown): v is string => typeof v === 'string'

function units (v: unknown, field: string, where: string): ChannelUnit[] {
  if (!Array.isArray(v)) throw new ForgedNotificationError(`${where}: ${field} is not a list`)
  if (v.length > MAX_UNITS) throw new ForgedNotificationError(`${where}: ${field} has ${v.length} units, more than ${MAX_UNITS}`)
  return v.map((u, i) => {
    if (!isObject(u) || (u.kind !== 'package' && u.kind !== 'utility') || !isString(u.id) || !isString(u.name) || !isString(u.version) ||
      (u.arch !== undefined && !isString(u.arch)) || (u.checksum !== undefined && !isString(u.checksum))) {
      throw new ForgedNotificationError(`${where}: ${field}[${i}] is not a unit (kind, id, name, version, arch?, checksum?)`)
    }
    return channelUnit({ kind: u.kind, id: u.id, name: u.name, version: u.version, arch: u.arch as string | undefined, checksum: u.checksum as string | undefined })
  })
}

/** A unit as notifications carry it: a copy with its keys in sorted order, which canonicalJson spells with the native JSON.stringify. */
export function channelUnit (u: ChannelUnit): ChannelUnit {
  const out = {} as ChannelUnit
  if (u.arch !== undefined) out.arch = u.arch
  if (u.checksum !== undefined) out.checksum = u.checksum
  out.id = u.id; out.kind = u.kind; out.name = u.name; out.version = u.version
  return out
}

/**
 * Checks a notification received from anywhere (gossip, another mirror's
 * log, a test) and returns a clean copy; ForgedNotificationError otherwise.
 * `channel` pins the channel it must belong to (the topic it came on).
 */
export function verifyNotification (value: unknown, publisher: PeerId | string, channel?: string): ChannelNotification {
  if (!isObject(value)) throw new ForgedNotificationError('notification is not an object')
  const v = value
  const where = `notification ${isString(v.channel) ? v.channel.slice(0, 64) : '?'}#${typeof v.seq === 'number' ? v.seq : '?'}`
  if (!isString(v.channel) || !CHANNEL_NAME.test(v.channel)) throw new ForgedNotificationError(`${where}: bad channel name`)
  if (channel !== undefined && v.channel !== channel) throw new ForgedNotificationError(`${where}: came on the topic of channel '${channel}'`)
  if (typeof v.seq !== 'number' || !Number.isSafeInteger(v.seq) || v.seq < 1) throw new ForgedNotificationError(`${where}: seq is not a positive integer`)
  if (!isString(v.release) || !isString(v.date) || !isString(v.signature)) throw new ForgedNotificationError(`${where}: release, date and signature must be strings`)
  const clean: Unsigned<ChannelNotification> = {
    channel: v.channel,
    seq: v.seq,
    release: v.release,
    date: v.date,
    added: units(v.added, 'added', where),
    updated: units(v.updated, 'updated', where),
    removed: units(v.removed, 'removed', where)
  }
  if (v.flashCrowd !== undefined) clean.flashCrowd = flashCrowd(v.flashCrowd, where)
  if (v.part !== undefined || v.parts !== undefined) {
    const { part, parts } = v
    if (typeof part !== 'number' || typeof parts !== 'number' || !Number.isSafeInteger(part) || !Number.isSafeInteger(parts) || part < 1 || part > parts) {
      throw new ForgedNotificationError(`${where}: part and parts must be integers with 1 <= part <= parts`)
    }
    clean.part = part
    clean.parts = parts
  }
  const header = headerOfNotification(clean)
  try {
    verifyEnvelope({ kind: KIND_NOTIFICATION, header, signer: publisherId(publisher), signature: v.signature }, [], publisher, KIND_NOTIFICATION)
  } catch (err) {
    throw new ForgedNotificationError(`${where}: ${(err as Error).message}`)
  }
  return { ...clean, signature: v.signature }
}

export function verifyDefinition (value: unknown, publisher: PeerId | string): ChannelDefinition {
  if (!isObject(value)) throw new ForgedNotificationError('channel definition is not an object')
  const v = value
  if (!isString(v.name) || !CHANNEL_NAME.test(v.name)) throw new ForgedNotificationError('channel definition: bad channel name')
  if (!isString(v.description) || !isString(v.createdAt) || !isString(v.signature) || (v.filter !== undefined && !isString(v.filter))) {
    throw new ForgedNotificationError(`channel definition '${v.name}': description, createdAt, signature (and filter) must be strings`)
  }
  const d: Unsigned<ChannelDefinition> = { name: v.name, description: v.description, createdAt: v.createdAt }
  if (v.filter !== undefined) d.filter = v.filter as string
  try {
    verifyEnvelope({ kind: KIND_DEFINITION, header: JSON.parse(JSON.stringify(headerOfDefinition(d))) as Record<string, unknown>, signer: publisherId(publisher), signature: v.signature }, [], publisher, KIND_DEFINITION)
  } catch (err) {
    throw new ForgedNotificationError(`channel definition '${v.name}': ${(err as Error).message}`)
  }
  return { ...d, signature: v.signature }
}

function publisherId (p: PeerId | string): string { return typeof p === 'string' ? p : p.toString() }

/** The publisher's id for a key (what mirrors trust). */
export function publisherOf (key: PrivateKey): string { return peerIdFromPrivateKey(key).toString() }
