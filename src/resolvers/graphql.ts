/**
 * graphql's runtime values, from the one copy every dependency uses.
 *
 * graphql 16 ships CJS (index.js) and ESM (index.mjs) side by side without an
 * exports map. Node resolves `graphql` to the CJS file for Pothos, yoga and
 * @apollo/subgraph; vite (vitest) resolves a source file's `graphql` to the
 * ESM file through the `module` field. Two copies make graphql's instanceof
 * checks fail ("Cannot use GraphQLObjectType from another module or realm").
 * Naming the CJS file resolves to the same module in both. Types may still
 * come from 'graphql'.
 */
export {
  GraphQLError, Kind, defaultFieldResolver, execute, getNamedType, getNullableType, isCompositeType, isInterfaceType, isListType,
  isObjectType, parse, subscribe, validate, valueFromAST
} from 'graphql/index.js'
