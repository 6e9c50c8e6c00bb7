/**
 * A web portal's GraphQL: the edos peer (packages, releases, search) and the
 * portal's own subgraph (popularity, reviews) composed by @apollo/gateway.
 *
 *   node bin/run-ts.js client-examples/web-portal-gateway/index.ts \
 *     --edos http://127.0.0.1:4000/graphql [--port 4100] [--portal-port 4101]
 *
 * IntrospectAndCompose asks each subgraph for its SDL (`_service { sdl }`) at
 * start, so both must be up first. The gateway carries queries and mutations
 * only: subscriptions stay on the mirror (subscribe to the edos peer itself).
 *
 * Serving: no yoga plugin for the gateway is installed, so a small node:http
 * handler parses the request, validates it against the composed schema,
 * answers introspection locally and hands everything else to
 * `gateway.executor`, which plans the query and fetches from the subgraphs.
 */
import { createHash } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { execute, parse, validate, type DocumentNode, type GraphQLSchema, type OperationDefinitionNode } from 'graphql'
import { startPortalSubgraph } from './portal-subgraph.ts'

// Before the gateway loads: it would otherwise report usage to Apollo. This portal contacts only its subgraphs.
process.env.APOLLO_TELEMETRY_DISABLED = 'true'
const { ApolloGateway, IntrospectAndCompose, RemoteGraphQLDataSource } = await import('@apollo/gateway')

export interface GatewayInit {
  /** The edos peer's GraphQL endpoint. */
  edosUrl: string
  /** The portal subgraph's endpoint. */
  portalUrl: string
  host?: string
  /** 0 picks a free port. */
  port?: number
}

export interface PortalGateway { url: string, schema: GraphQLSchema, close: () => Promise<void> }

interface Body { query?: string, variables?: Record<string, unknown> | null, operationName?: string | null }

/** Composes the subgraphs and serves the supergraph at http://HOST:PORT/graphql. */
export async function startPortalGateway (init: GatewayInit): Promise<PortalGateway> {
  const gateway = new ApolloGateway({
    supergraphSdl: new IntrospectAndCompose({ subgraphs: [{ name: 'edos', url: init.edosUrl }, { name: 'portal', url: init.portalUrl }] }),
    // Pass the caller's bearer token on to edos (its mutations need the peer's token); nothing else is forwarded.
    buildService: ({ url }) => new RemoteGraphQLDataSource({
      url,
      willSendRequest ({ request, context }) {
        const auth = (context as { authorization?: string }).authorization
        if (auth !== undefined && url === init.edosUrl) request.http?.headers.set('authorization', auth)
      }
    }),
    logger: { debug: () => {}, info: () => {}, warn: (m: unknown) => { console.warn(m) }, error: (m: unknown) => { console.error(m) } }
  })
  const { schema, executor } = await gateway.load()

  const run = async (body: Body, authorization: string | undefined): Promise<{ status: number, result: unknown }> => {
    if (typeof body.query !== 'string') return { status: 400, result: { errors: [{ message: 'POST a JSON body with "query"' }] } }
    let document: DocumentNode
    try { document = parse(body.query) } catch (err) { return { status: 400, result: { errors: [{ message: (err as Error).message }] } } }
    const errors = validate(schema, document)
    if (errors.length > 0) return { status: 400, result: { errors } }
    const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === 'OperationDefinition' && (body.operationName == null || d.name?.value === body.operationName))
    if (operation?.operation === 'subscription') return { status: 400, result: { errors: [{ message: 'subscriptions stay on the mirror: subscribe to the edos peer over graphql-ws' }] } }
    // Introspection is the gateway's own schema: answer it here (the query planner only routes to subgraphs).
    const introspection = operation?.selectionSet.selections.every((s) => s.kind === 'Field' && s.name.value.startsWith('__')) === true
    if (introspection) return { status: 200, result: await execute({ schema, document, variableValues: body.variables ?? undefined, operationName: body.operationName ?? undefined }) }
    const result = await executor({
      request: { query: body.query, variables: body.variables ?? {}, operationName: body.operationName ?? undefined },
      document,
      operationName: body.operationName ?? operation?.name?.value ?? null,
      queryHash: createHash('sha256').update(body.query).digest('hex'),
      context: { authorization },
      logger: console,
      metrics: {},
      schema,
      cache: undefined,
      overallCachePolicy: undefined
    } as unknown as Parameters<typeof executor>[0])
    return { status: 200, result }
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const send = (status: number, payload: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
      res.end(JSON.stringify(payload))
    }
    if ((req.url ?? '').split('?')[0] !== '/graphql') { send(404, { errors: [{ message: 'the portal serves GraphQL at /graphql' }] }); return }
    if (req.method !== 'POST') { send(405, { errors: [{ message: 'POST application/json to /graphql' }] }); return }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    let body: Body
    try { body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body } catch { send(400, { errors: [{ message: 'the body is not JSON' }] }); return }
    const { status, result } = await run(body, req.headers.authorization)
    send(status, result)
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      console.error(err)
      if (!res.headersSent) { res.writeHead(500, { 'content-type': 'application/json' }); res.end(JSON.stringify({ errors: [{ message: 'Internal server error' }] })) }
    })
  })
  const host = init.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(init.port ?? 0, host, () => { server.off('error', reject); resolve() })
  })
  const { port } = server.address() as AddressInfo
  return {
    url: `http://${host}:${port}/graphql`,
    schema,
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => { resolve() }))
      server.closeAllConnections()
      await closed
      await gateway.stop()
    }
  }
}

/** Run directly: the portal subgraph with the sample figures, then the gateway in front of it and the peer. */
async function main (): Promise<void> {
  const { values } = parseArgs({ options: { edos: { type: 'string', default: 'http://127.0.0.1:4000/graphql' }, port: { type: 'string', default: '4100' }, 'portal-port': { type: 'string', default: '4101' } } })
  const portal = await startPortalSubgraph({ port: Number(values['portal-port']) })
  const gateway = await startPortalGateway({ edosUrl: values.edos, portalUrl: portal.url, port: Number(values.port) })
  process.stdout.write(`portal subgraph: ${portal.url}\nportal gateway: ${gateway.url}\n`)
  await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
  await gateway.close()
  await portal.close()
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => { console.error(err); process.exitCode = 1 })
}
