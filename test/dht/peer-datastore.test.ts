import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { PeerDatastore } from '../../src/dht/peer-datastore.ts'

type Key = Parameters<PeerDatastore['put']>[0]
const key = (s: string): Key => ({ toString: () => s }) as unknown as Key
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)
const text = (b: Uint8Array): string => new TextDecoder().decode(b)

describe('PeerDatastore', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'edos-peerds-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keeps peer records in memory, writes them behind, and reads them back after a reopen', async () => {
    const ds = new PeerDatastore(join(dir, 'ds'), { flushMs: 60_000 })
    await ds.open()
    await expect(ds.get(key('/peers/a'))).rejects.toMatchObject({ name: 'NotFoundError' })
    expect(await ds.has(key('/peers/a'))).toBe(false)
    await ds.put(key('/peers/a'), bytes('one'))
    await ds.put(key('/peers/a'), bytes('two'))
    await ds.put(key('/peers/b'), bytes('b'))
    await ds.put(key('/dht/record/x'), bytes('x')) // not a peer record: straight to LevelDB
    expect(text(await ds.get(key('/peers/a')))).toBe('two')
    // not written yet (the flush is a minute away), yet a query sees it: queries flush first
    const listed: string[] = []
    for await (const { key: k, value } of ds.query({ prefix: '/peers' })) listed.push(`${k.toString()}=${text(value)}`)
    expect(listed).toEqual(['/peers/a=two', '/peers/b=b'])
    await ds.delete(key('/peers/b'))
    const b = ds.batch()
    b.put(key('/peers/c'), bytes('c')); b.put(key('/other/y'), bytes('y'))
    await b.commit()
    expect(text(await ds.get(key('/peers/c')))).toBe('c')
    await ds.close()

    const again = new PeerDatastore(join(dir, 'ds'))
    await again.open()
    expect(text(await again.get(key('/peers/a')))).toBe('two')
    expect(text(await again.get(key('/peers/c')))).toBe('c')
    expect(await again.has(key('/peers/b'))).toBe(false)
    expect(text(await again.get(key('/dht/record/x')))).toBe('x')
    expect(text(await again.get(key('/other/y')))).toBe('y')
    await again.close()
  })

  it('writes a changed record within flushMs', async () => {
    const ds = new PeerDatastore(join(dir, 'ds'), { flushMs: 20 })
    await ds.open()
    await ds.put(key('/peers/a'), bytes('v'))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(text(await ds.db.get('/peers/a') as Uint8Array)).toBe('v')
    await ds.close()
  })
})

describe('PeerDatastore under eviction and writes in flight', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'edos-peerds-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('never answers an older value or "not found" for a record it let go or is still writing', async () => {
    const ds = new PeerDatastore(join(dir, 'ds'), { flushMs: 60_000, maxRecords: 1 })
    await ds.open()
    await ds.put(key('/peers/a'), bytes('old'))
    await ds.flush()
    await ds.put(key('/peers/a'), bytes('new'))
    const writing = ds.flush() // in flight: 'new' is not in LevelDB yet
    await ds.put(key('/peers/b'), bytes('b'))
    await ds.put(key('/peers/c'), bytes('c'))
    expect(text(await ds.get(key('/peers/a')))).toBe('new')
    await writing
    // more records than maxRecords, most of them not yet written: each still reads as written
    for (const x of ['d', 'e', 'f']) await ds.put(key(`/peers/${x}`), bytes(x))
    for (const x of ['a', 'b', 'c', 'd', 'e', 'f']) expect(text(await ds.get(key(`/peers/${x}`)))).toBe(x === 'a' ? 'new' : x)
    await ds.close()
    const again = new PeerDatastore(join(dir, 'ds'), { maxRecords: 1 })
    await again.open()
    for (const x of ['a', 'b', 'c', 'd', 'e', 'f']) expect(text(await again.get(key(`/peers/${x}`)))).toBe(x === 'a' ? 'new' : x)
    await again.close()
  })
})
