import { describe, expect, it } from 'vitest'
import { parse } from '../../src/resolvers/graphql.ts'
import { FIELD_COSTS, queryCost } from '../../src/resolvers/index.ts'
import { schema } from './helpers.ts'

describe('cost hints', () => {
  it('multiplies what is selected under a connection by its page size', () => {
    const cheap = queryCost(schema, parse('{ package(name: "vim") { name version } }'))
    expect(cheap).toBe(1)
    const page = (first: number): number => queryCost(schema, parse(`{ search(pattern: "//a", first: ${first}) { edges { node { doc document { __typename } } } } }`))
    expect(page(10)).toBeGreaterThan(page(1))
    expect(page(1)).toBe(FIELD_COSTS['Query.search'] + 1 + 1 + FIELD_COSTS['Match.document'])
    // satisfiedBy under a 500-package page is what a cost limit must stop.
    const deep = queryCost(schema, parse('query ($n: Int) { packages(first: $n) { edges { node { depends { alternatives { satisfiedBy { package { name } } } } } } } }'), { n: 500 })
    expect(deep).toBeGreaterThan(500 * 10 * 10 * FIELD_COSTS['Relation.satisfiedBy'])
    const viaFragment = queryCost(schema, parse('query { packages { ...P } } fragment P on PackageConnection { edges { node { name } } }'))
    expect(viaFragment).toBe(FIELD_COSTS['Query.packages'] + 1 + 20 * 1)
  })
})
