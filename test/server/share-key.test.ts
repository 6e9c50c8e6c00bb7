import { parse } from 'graphql'
import { describe, expect, it } from 'vitest'
import { shareKey } from '../../src/server/share-key.ts'

const key = (query: string, variables: Record<string, unknown> = {}, rights = { authenticated: false, sameMachine: true }): string | undefined =>
  shareKey({ document: parse(query), query, variables, ...rights })

describe('shareKey', () => {
  const SUB = 'subscription ($name: String!, $since: Int) { channel(name: $name, since: $since) { seq } }'

  it('ignores a since that only says where the catch-up starts', () => {
    expect(key(SUB, { name: 'a', since: 0 })).toBeDefined()
    expect(key(SUB, { name: 'a', since: 0 })).toBe(key(SUB, { since: 42, name: 'a' }))
    expect(key(SUB, { name: 'a' })).not.toBe(key(SUB, { name: 'b' }))
  })

  it('keeps since when the selection uses it too', () => {
    const q = 'subscription ($since: Int) { channel(name: "a", since: $since) { seq added(first: $since) { name } } }'
    expect(key(q, { since: 1 })).not.toBe(key(q, { since: 2 }))
  })

  it('separates callers with other rights', () => {
    expect(key(SUB, { name: 'a' })).not.toBe(key(SUB, { name: 'a' }, { authenticated: true, sameMachine: true }))
    expect(key(SUB, { name: 'a' })).not.toBe(key(SUB, { name: 'a' }, { authenticated: false, sameMachine: false }))
  })

  it('shares nothing but a lone plain channel field of a subscription', () => {
    expect(key('{ channel(name: "a") { lastSeq } }')).toBeUndefined()
    expect(key('subscription { channel(name: "a") { seq } releasePublished { name } }')).toBeUndefined()
    expect(key('subscription { downloadProgress(id: "d") { state } }')).toBeUndefined()
    expect(key('subscription ($x: Boolean!) { channel(name: "a") @include(if: $x) { seq } }', { x: true })).toBeUndefined()
    expect(key('subscription { ...F } fragment F on Subscription { channel(name: "a") { seq } }')).toBeUndefined()
    expect(key('subscription { renamed: channel(name: "a") { seq } }')).toBeDefined()
  })
})
