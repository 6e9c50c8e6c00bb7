/**
 * Every client-examples/playground/*.graphql file, run as a person would run
 * it (its default variables) against a real peer + server on 127.0.0.1 port
 * 0 holding bookworm-updates: queries over HTTP, the mutation as a multipart
 * upload with the token, subscriptions over graphql-ws. No errors, and data
 * in every root field.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'
import { createClient } from 'graphql-ws'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from '../../src/resolvers/graphql.ts'
import type { OperationDefinitionNode } from 'graphql'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { PeerClient } from '../../src/cli/peer-client.ts'

const PLAYGROUND = fileURLToPath(new URL('../../client-examples/playground/', import.meta.url))
const FIXTURE = fileURLToPath(new URL('../fixtures/bookworm-updates.Packages.xz', import.meta.url))
const files = (await readdir(PLAYGROUND)).filter((f) => f.endsWith('.graphql')).sort()

/** Root fields hold something: not null, and lists and connections not empty. */
function expectFilled (data: Record<string, unknown>, file: string): void {
  for (const [field, value] of Object.entries(data)) {
    expect(value, `${file}: ${field}`).not.toBeNull()
    if (Array.isArray(value)) expect(value.length, `${file}: ${field} is empty`).toBeGreaterThan(0)
    const edges = (value as { edges?: unknown[] }).edges
    if (edges !== undefined) expect(edges.length, `${file}: ${field}.edges is empty`).toBeGreaterThan(0)
  }
}

async function firstEvent (url: string, query: string, ms = 5000): Promise<{ data?: Record<string, unknown>, errors?: unknown }> {
  const client = createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true })
  const it = client.iterate({ query })
  let timer: NodeJS.Timeout | undefined
  try {
    const r = await Promise.race([it.next(), new Promise<never>((_resolve, reject) => { timer = setTimeout(() => { reject(new Error(`no event within ${ms} ms`)) }, ms) })])
    if (r.done === true) throw new Error('the subscription ended with no event')
    return r.value as { data?: Record<string, unknown>, errors?: unknown }
  } finally {
    clearTimeout(timer)
    await it.return?.()
    await client.dispose()
  }
}

describe('client-examples/playground', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let token: string

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-playground-'))
    peer = await EmbeddedPeer.start({ data, role: 'publisher' })
    await peer.publish([{ kind: 'path', path: FIXTURE }], { release: 'bookworm-updates', format: 'debian' })
    server = await startServer({ peer, port: 0 })
    token = (await readFile(join(data, 'api-token'), 'utf8')).trim()
  })
  afterAll(async () => {
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  it('has the files a person would try first', () => {
    expect(files).toEqual(expect.arrayContaining(['search.graphql', 'packages-filter.graphql', 'package-relations.graphql', 'releases.graphql', 'explain.graphql', 'channels.graphql', 'subscribe-channel.graphql', 'publish.graphql']))
  })

  it.each(files)('%s runs with no errors', async (file) => {
    const query = await readFile(join(PLAYGROUND, file), 'utf8')
    const operations = parse(query).definitions.filter((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition')
    expect(operations).toHaveLength(1)
    const op = operations[0]
    if (op.operation === 'subscription') {
      const event = await firstEvent(server.wsUrl, query)
      expect(event.errors).toBeUndefined()
      expectFilled(event.data!, file)
      return
    }
    const client = new PeerClient({ url: server.url, token })
    // Variables of type File are uploads: each gets the fixture.
    const uploads = op.variableDefinitions?.filter((v) => /\bFile\b/.test(JSON.stringify(v.type))).map((v) => v.variable.name.value) ?? []
    const result = uploads.length === 0
      ? await client.request<Record<string, unknown>>(query)
      : await client.upload<Record<string, unknown>>(query, Object.fromEntries(uploads.map((u) => [u, [null]])), uploads.map((u) => ({ variable: `${u}.0`, path: FIXTURE })))
    expectFilled(result, file)
  })

  it('pages search with the endCursor it returns', async () => {
    const query = await readFile(join(PLAYGROUND, 'search.graphql'), 'utf8')
    const client = new PeerClient({ url: server.url })
    const first = await client.request<any>(query, { first: 2 })
    expect(first.search.pageInfo.hasNextPage).toBe(true)
    const next = await client.request<any>(query, { first: 2, after: first.search.pageInfo.endCursor })
    expect(next.search.edges[0].cursor).not.toBe(first.search.edges[1].cursor)
    const both = await client.request<any>(query, { first: 4 })
    expect([...first.search.edges, ...next.search.edges]).toEqual(both.search.edges)
  })

  it('refuses the publish mutation without a token', async () => {
    const query = await readFile(join(PLAYGROUND, 'publish.graphql'), 'utf8')
    await expect(new PeerClient({ url: server.url }).upload(query, { files: [null] }, [{ variable: 'files.0', path: FIXTURE }])).rejects.toMatchObject({ code: 'UNAUTHENTICATED' })
  })
})
