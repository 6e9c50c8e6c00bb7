import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { signDefinition, signNotification, verifyDefinition, verifyNotification, ForgedNotificationError } from '../../src/channels/index.ts'

const unsigned = {
  channel: 'security',
  seq: 7,
  release: 'bookworm-security',
  date: '2026-11-26T00:00:00.000Z',
  added: [{ kind: 'package' as const, id: 'pkg/openssl/3.0.15-1~deb12u1/amd64', name: 'openssl', version: '3.0.15-1~deb12u1', arch: 'amd64', checksum: 'sha256:' + 'ab'.repeat(32) }],
  updated: [{ kind: 'utility' as const, id: 'util/x/1', name: 'x', version: '1' }],
  removed: []
}

describe('channel signatures', () => {
  it('a notification verifies as signed, through JSON, and not once altered or signed by another key', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const publisher = peerIdFromPrivateKey(key)
    const n = await signNotification(key, unsigned)
    expect(n.signature).toMatch(/^[A-Za-z0-9_-]{86}$/)
    expect(verifyNotification(JSON.parse(JSON.stringify(n)), publisher)).toEqual(n)
    expect(verifyNotification(n, publisher.toString(), 'security')).toEqual(n)
    const refuse = (v: unknown, channel?: string): unknown => { try { verifyNotification(v, publisher, channel); return 'accepted' } catch (err) { return err } }
    expect(refuse({ ...n, seq: 8 })).toBeInstanceOf(ForgedNotificationError)
    expect(refuse({ ...n, added: [{ ...n.added[0], checksum: 'sha256:' + 'cd'.repeat(32) }] })).toMatchObject({ code: 'ERR_FORGED_NOTIFICATION' })
    expect(refuse(await signNotification(other, unsigned))).toMatchObject({ message: expect.stringMatching(/signature does not verify/) })
    expect(refuse(n, 'other')).toMatchObject({ message: expect.stringMatching(/topic of channel 'other'/) })
    expect(refuse({ ...n, seq: 0 })).toMatchObject({ message: expect.stringMatching(/seq is not a positive integer/) })
    expect(refuse({ ...n, added: [{ kind: 'file' }] })).toMatchObject({ message: expect.stringMatching(/added\[0\] is not a unit/) })
    expect(refuse({ ...n, channel: '../x' })).toMatchObject({ message: expect.stringMatching(/bad channel name/) })
    expect(refuse('x')).toMatchObject({ message: 'notification is not an object' })
    // An extra field is not signed and not kept.
    expect(verifyNotification({ ...n, extra: 1 }, publisher)).toEqual(n)
  })

  it('a part of a notification signs its place: part and parts cannot be altered, added or dropped', async () => {
    const key = await generateKeyPair('Ed25519')
    const publisher = peerIdFromPrivateKey(key)
    const p = await signNotification(key, { ...unsigned, part: 2, parts: 3 })
    expect(verifyNotification(JSON.parse(JSON.stringify(p)), publisher)).toMatchObject({ part: 2, parts: 3 })
    const refuse = (v: unknown): unknown => { try { verifyNotification(v, publisher); return 'accepted' } catch (err) { return err } }
    expect(refuse({ ...p, part: 3 })).toMatchObject({ message: expect.stringMatching(/signature does not verify/) })
    const { part: _part, parts: _parts, ...whole } = p
    expect(refuse(whole)).toMatchObject({ message: expect.stringMatching(/signature does not verify/) })
    expect(refuse({ ...(await signNotification(key, unsigned)), part: 1, parts: 1 })).toMatchObject({ message: expect.stringMatching(/signature does not verify/) })
    expect(refuse({ ...p, part: 4 })).toMatchObject({ message: expect.stringMatching(/1 <= part <= parts/) })
    expect(refuse({ ...p, parts: undefined })).toMatchObject({ message: expect.stringMatching(/1 <= part <= parts/) })
  })

  it('a definition verifies with and without a filter', async () => {
    const key = await generateKeyPair('Ed25519')
    const publisher = peerIdFromPrivateKey(key)
    const d = await signDefinition(key, { name: 'security', description: 'd', filter: '//package[section = "net"]', createdAt: '2026-11-26T00:00:00.000Z' })
    expect(verifyDefinition(JSON.parse(JSON.stringify(d)), publisher)).toEqual(d)
    const plain = await signDefinition(key, { name: 'releases', description: 'all', createdAt: '2026-11-26T00:00:00.000Z' })
    expect(verifyDefinition(plain, publisher)).toEqual(plain)
    expect(() => verifyDefinition({ ...d, filter: '//package' }, publisher)).toThrow(ForgedNotificationError)
    expect(() => verifyDefinition({ ...plain, filter: '//package' }, publisher)).toThrow(/does not verify/)
  })
})
