import { describe, expect, it } from 'vitest'
import { buildRelease, type ReleaseEntry } from '../../../src/xml-twig-index/documents/index.ts'
import { InvalidDocumentError } from '../../../src/xml-twig-index/errors.ts'
import { serialize } from '../../../src/xml-twig-index/xml/serialize.ts'

const entries: ReleaseEntry[] = [
  { kind: 'package', name: 'vim', version: '2:9.0.1378-2', arch: 'amd64', collection: ['amd64', 'editors'] },
  { kind: 'utility', name: 'grub.cfg', version: 'sha256-0123456789ab', collection: ['utilities'] },
  { kind: 'package', name: 'nano', version: '7.2-1', arch: 'amd64', collection: ['amd64', 'editors'] },
  { kind: 'package', name: 'bash', version: '5.2.15-2', arch: 'amd64', collection: ['amd64', 'shells'] },
  { kind: 'package', name: 'vim-doc', version: '2:9.0.1378-2', arch: 'all', collection: ['all', 'doc'] },
  { kind: 'package', name: 'nano', version: '7.2-1', arch: 'amd64', collection: ['amd64', 'editors'] }
]

describe('buildRelease', () => {
  it('nests collections, sorted, with sorted leaves', () => {
    const xml = serialize(buildRelease({ name: 'bookworm', version: '12.5', date: '2024-02-10', entries }))
    expect(xml).toBe(
      '<release name="bookworm" version="12.5" date="2024-02-10">' +
      '<collection name="all"><collection name="doc"><package name="vim-doc" version="2:9.0.1378-2" arch="all"/></collection></collection>' +
      '<collection name="amd64">' +
      '<collection name="editors"><package name="nano" version="7.2-1" arch="amd64"/><package name="vim" version="2:9.0.1378-2" arch="amd64"/></collection>' +
      '<collection name="shells"><package name="bash" version="5.2.15-2" arch="amd64"/></collection>' +
      '</collection>' +
      '<collection name="utilities"><utility name="grub.cfg" version="sha256-0123456789ab"/></collection>' +
      '</release>'
    )
  })

  it('is deterministic whatever the entry order', () => {
    const a = serialize(buildRelease({ name: 'r', version: '1', date: '2024-01-01', entries }))
    for (let seed = 1; seed < 20; seed++) {
      const shuffled = [...entries].sort((x, y) => ((x.name.length * seed + y.version.length) % 3) - 1)
      expect(serialize(buildRelease({ name: 'r', version: '1', date: '2024-01-01', entries: shuffled }))).toBe(a)
    }
  })

  it('puts leaves before sub-collections and orders by code unit, not locale', () => {
    const xml = serialize(buildRelease({
      name: 'r', version: '1', date: '2024-01-01',
      entries: [
        { kind: 'package', name: 'b', version: '1', arch: 'x', collection: ['x', 'Z'] },
        { kind: 'package', name: 'a', version: '2', arch: 'x', collection: ['x'] },
        { kind: 'package', name: 'a', version: '10', arch: 'x', collection: ['x'] },
        { kind: 'package', name: 'c', version: '1', arch: 'x', collection: ['x', 'a'] },
        { kind: 'package', name: 'top', version: '1', arch: 'x', collection: [] }
      ]
    }))
    expect(xml).toBe('<release name="r" version="1" date="2024-01-01"><package name="top" version="1" arch="x"/>' +
      '<collection name="x"><package name="a" version="10" arch="x"/><package name="a" version="2" arch="x"/>' +
      '<collection name="Z"><package name="b" version="1" arch="x"/></collection>' +
      '<collection name="a"><package name="c" version="1" arch="x"/></collection></collection></release>')
  })

  it('validates name, version, date and entries, naming the release and field', () => {
    const bad = (patch: object): InvalidDocumentError => {
      try {
        buildRelease({ name: 'bookworm', version: '12', date: '2024-02-10', entries: [], ...patch })
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidDocumentError)
        return err as InvalidDocumentError
      }
      throw new Error('expected an error')
    }
    expect(bad({ date: '2024-02-30' }).field).toBe('date')
    expect(bad({ date: '10/02/2024' }).unit).toBe('release/bookworm')
    expect(bad({ name: 'book worm' }).field).toBe('name')
    expect(bad({ version: '' }).field).toBe('version')
    expect(bad({ entries: [{ kind: 'package', name: 'a', version: '1', collection: ['x'] }] }).field).toBe('entries[0].arch')
    expect(bad({ entries: [{ kind: 'utility', name: 'a', version: '1', collection: [''] }] }).field).toBe('entries[0].collection')
    expect(bad({ entries: [{ kind: 'other', name: 'a', version: '1', collection: [] }] }).field).toBe('entries[0]')
  })
})
