import { describe, expect, it } from 'vitest'
import { composeServices } from '@apollo/composition'
import { parse } from '../../src/resolvers/graphql.ts'
import { printEdosSchema } from '../../src/resolvers/index.ts'
import { FakePeer } from './fake-peer.ts'
import { context, data } from './helpers.ts'

describe('federation subgraph', () => {
  it('serves its SDL through _service, the same as the printed schema', async () => {
    const d = await data(context(new FakePeer()), '{ _service { sdl } }')
    expect(d._service.sdl.trimEnd() + '\n').toBe(printEdosSchema())
    expect(d._service.sdl).toContain('@link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])')
    expect(d._service.sdl).toMatch(/type Package implements Node\s+@key\(fields: "name version arch"\)/)
  })

  it('resolves Package entities by name, version and arch', async () => {
    const peer = new FakePeer()
    const d = await data(context(peer), `query ($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Package { name version summary depends { alternatives { name } } } } }`, {
      r: [
        { __typename: 'Package', name: 'vim', version: '2:9.0.1378-2', arch: 'amd64' },
        { __typename: 'Package', name: 'vim', version: '0', arch: 'amd64' },
        { __typename: 'Package', name: 'nano', version: '7.2-1', arch: 'amd64' }
      ]
    })
    expect(d._entities).toEqual([
      { __typename: 'Package', name: 'vim', version: '2:9.0.1378-2', summary: 'Vi IMproved - enhanced vi editor', depends: [{ alternatives: [{ name: 'libc6' }] }, { alternatives: [{ name: 'vim-common' }, { name: 'vim-tiny' }] }] },
      null,
      { __typename: 'Package', name: 'nano', version: '7.2-1', summary: 'small, friendly text editor', depends: [{ alternatives: [{ name: 'libc6' }] }] }
    ])
    expect(peer.calls.filter((c) => c.op === 'package').map((c) => c.args)).toEqual([['vim', '2:9.0.1378-2', 'amd64'], ['vim', '0', 'amd64'], ['nano', '7.2-1', 'amd64']])
  })

  it('composes with another subgraph that extends Package', () => {
    const other = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
      type Package @key(fields: "name version arch") { name: String! version: String! arch: String! popularity: Int }
      type Query { popular: [Package!]! }`
    const result = composeServices([
      { name: 'edos', typeDefs: parse(printEdosSchema()), url: 'http://127.0.0.1:4000/graphql' },
      { name: 'popcon', typeDefs: parse(other), url: 'http://127.0.0.1:4001/graphql' }
    ])
    expect(result.errors?.map((e) => e.message)).toBeUndefined()
    expect(result.supergraphSdl).toMatch(/popularity: Int/)
  })
})
