/** Runs operations against the schema the way a server would: parse, validate, execute/subscribe. */
import type { ExecutionResult, GraphQLError } from 'graphql'
import { execute, parse, subscribe, validate } from '../../src/resolvers/graphql.ts'
import { buildSchema, type EdosContext } from '../../src/resolvers/index.ts'
import type { PeerApi } from '../../src/actors/types.ts'

export const schema = buildSchema()

export function context (peer: PeerApi, over: Partial<EdosContext> = {}): EdosContext {
  return { peer, authenticated: false, sameMachine: false, ...over }
}

export async function run (ctx: EdosContext, source: string, variables: Record<string, unknown> = {}): Promise<ExecutionResult> {
  const document = parse(source)
  const errors = validate(schema, document)
  if (errors.length > 0) return { errors }
  return await execute({ schema, document, contextValue: ctx, variableValues: variables })
}

/** Data of a result that must have no errors (fails with the errors' messages). */
export async function data<T = any> (ctx: EdosContext, source: string, variables: Record<string, unknown> = {}): Promise<T> {
  const r = await run(ctx, source, variables)
  if (r.errors !== undefined) throw new Error(r.errors.map((e) => `${e.message} ${JSON.stringify(e.extensions)}`).join('\n'))
  return r.data as T
}

/** The single error of a result. */
export async function error (ctx: EdosContext, source: string, variables: Record<string, unknown> = {}): Promise<GraphQLError> {
  const r = await run(ctx, source, variables)
  if (r.errors?.length !== 1) throw new Error(`expected one error, got ${JSON.stringify(r)}`)
  return r.errors[0]
}

export async function subscription (ctx: EdosContext, source: string, variables: Record<string, unknown> = {}): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  return await subscribe({ schema, document: parse(source), contextValue: ctx, variableValues: variables })
}
