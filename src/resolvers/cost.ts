/**
 * Cost hints for the server's limits. graphql-armor's maxCost counts every
 * object and scalar alike; edos fields differ by orders of magnitude (a
 * search runs the twig join, satisfiedBy one index lookup per relation, a
 * scalar nothing). FIELD_COSTS names the expensive fields; queryCost()
 * estimates an operation with connection sizes (`first`) multiplying what
 * is selected under them, for a custom validation rule or a plugin.
 */
import { Kind, getNamedType, getNullableType, isCompositeType, isInterfaceType, isListType, isObjectType, valueFromAST } from './graphql.ts'
import type { DocumentNode, FragmentDefinitionNode, GraphQLCompositeType, GraphQLSchema, SelectionSetNode } from 'graphql'
import { DEFAULT_PAGE } from './builder.ts'

/** Cost of one resolution of `Type.field` (default: 1 for object-valued fields, 0 for scalars). */
export const FIELD_COSTS: Readonly<Record<string, number>> = {
  'Query.search': 50,
  'Query.packages': 50,
  'Query.explain': 50,
  'Release.packages': 50,
  'Query.network': 10,
  'Query.stats': 5,
  'Query.downloads': 5,
  'Relation.satisfiedBy': 10,
  'Package.replicas': 10,
  'Utility.replicas': 10,
  'Release.statistics': 20,
  'Match.document': 2,
  'PackageRef.package': 2,
  'UtilityRef.utility': 2,
  'Query.node': 2,
  'Query.nodes': 2,
  'Query._entities': 2,
  'Mutation.publishPackages': 1000,
  'Mutation.publishRelease': 1000,
  'Mutation.cutRelease': 100,
  'Mutation.download': 50,
  'Mutation.submitWishList': 50,
  'Mutation.startFlashCrowd': 50,
  'Mutation.addContent': 50
}

/** How many items a list field is assumed to return when nothing bounds it. */
export const ASSUMED_LIST_SIZE = 10

export function fieldCost (typeName: string, fieldName: string, returnsObject: boolean): number {
  return FIELD_COSTS[`${typeName}.${fieldName}`] ?? (returnsObject ? 1 : 0)
}

/**
 * Estimated cost of an operation: each field's cost times the product of the
 * sizes of the lists above it (`first` of connections, else ASSUMED_LIST_SIZE).
 * Unknown fields count nothing (validation reports them).
 */
export function queryCost (schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown> = {}, operationName?: string): number {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const def of document.definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def)
  const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION && (operationName === undefined || d.name?.value === operationName))
  if (operation === undefined || operation.kind !== Kind.OPERATION_DEFINITION) return 0
  const root = operation.operation === 'query' ? schema.getQueryType() : operation.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType()
  if (root == null) return 0

  // `page` is a connection's `first`, waiting for the list under it (edges) to apply it.
  const walk = (set: SelectionSetNode, parent: GraphQLCompositeType, multiplier: number, seen: Set<string>, page?: number): number => {
    let cost = 0
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        const cond = sel.typeCondition != null ? schema.getType(sel.typeCondition.name.value) : parent
        if (cond != null && isCompositeType(cond)) cost += walk(sel.selectionSet, cond, multiplier, seen, page)
      } else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const frag = fragments.get(sel.name.value)
        const cond = frag != null ? schema.getType(frag.typeCondition.name.value) : undefined
        // A cycle is a validation error; do not loop on it here.
        if (frag != null && cond != null && isCompositeType(cond) && !seen.has(frag.name.value)) {
          cost += walk(frag.selectionSet, cond, multiplier, new Set([...seen, frag.name.value]), page)
        }
      } else if (isObjectType(parent) || isInterfaceType(parent)) {
        const def = parent.getFields()[sel.name.value]
        if (def === undefined) continue
        const named = getNamedType(def.type)
        cost += fieldCost(parent.name, def.name, isCompositeType(named)) * multiplier
        if (sel.selectionSet == null || !isCompositeType(named)) continue
        const firstArg = def.args.find((a) => a.name === 'first')
        if (firstArg !== undefined) {
          const node = sel.arguments?.find((a) => a.name.value === 'first')
          const value = node !== undefined ? valueFromAST(node.value, firstArg.type, variables) : firstArg.defaultValue
          cost += walk(sel.selectionSet, named, multiplier, seen, typeof value === 'number' && value > 0 ? value : DEFAULT_PAGE)
        } else if (isListType(getNullableType(def.type))) {
          cost += walk(sel.selectionSet, named, multiplier * (page ?? ASSUMED_LIST_SIZE), seen)
        } else {
          cost += walk(sel.selectionSet, named, multiplier, seen, page)
        }
      }
      // Fields of a union itself are only __typename: free.
    }
    return cost
  }
  return walk(operation.selectionSet, root, 1, new Set())
}
