/**
 * Which graphql-ws operations may share one execution per notification, and
 * with whom. Two `channel` subscriptions share when executing their selection
 * on the same notification must give the same result: same document, same
 * operation, same variables and same caller rights. Only the `since` of each
 * differs, and only when it is used for nothing but the root field's `since`
 * argument: it picks where a subscriber's catch-up starts, not what a
 * notification looks like.
 */
import { Kind, getOperationAST, visit, type DocumentNode } from 'graphql'

/** The subscription root field the fan-out serves. */
export const SHARED_FIELD = 'channel'

export interface ShareKeyInit {
  document: DocumentNode
  /** The text the client sent: identical texts share (no normalisation to pay per subscribe). */
  query: string
  operationName?: string | null
  variables?: Readonly<Record<string, unknown>> | null
  authenticated: boolean
  sameMachine: boolean
}

/** The variable that only feeds the root field's `since`, if there is one. */
function sinceOnlyVariable (document: DocumentNode, since: string): boolean {
  let uses = 0
  visit(document, {
    // A definition names the variable; it is not a use.
    VariableDefinition: () => false,
    Variable: (node) => { if (node.name.value === since) uses++ }
  })
  return uses === 1
}

/**
 * The sharing key of an operation, or undefined when it must run on its own:
 * anything but a subscription whose only root selection is a plain
 * `channel` field (no fragment, no directive at the root).
 */
export function shareKey (init: ShareKeyInit): string | undefined {
  const op = getOperationAST(init.document, init.operationName ?? undefined)
  if (op === null || op === undefined || op.operation !== 'subscription') return undefined
  const selections = op.selectionSet.selections
  if (selections.length !== 1) return undefined
  const field = selections[0]
  if (field.kind !== Kind.FIELD || field.name.value !== SHARED_FIELD || (field.directives?.length ?? 0) > 0) return undefined
  const since = field.arguments?.find((a) => a.name.value === 'since')?.value
  const skip = since?.kind === Kind.VARIABLE && sinceOnlyVariable(init.document, since.name.value) ? since.name.value : undefined
  const variables = init.variables ?? {}
  const kept = Object.keys(variables).filter((k) => k !== skip).sort().map((k) => [k, variables[k]])
  return JSON.stringify([init.query, init.operationName ?? null, kept, init.authenticated, init.sameMachine])
}
