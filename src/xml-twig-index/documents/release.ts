import { appendChild, element, type XElement } from '../xml/tree.ts'
import { FieldChecker } from './validate.ts'
import { releaseId } from './package.ts'
import type { ReleaseEntry, ReleaseFields } from './types.ts'

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

interface Node {
  children: Map<string, Node>
  leaves: Map<string, ReleaseEntry>
}

// Code-unit order, not localeCompare: the document must not depend on the peer's locale.
function cmp (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

function leafCmp (a: ReleaseEntry, b: ReleaseEntry): number {
  return cmp(a.name, b.name) || cmp(a.version, b.version) || cmp(a.arch ?? '', b.arch ?? '') || cmp(a.kind, b.kind)
}

function validDate (s: string): boolean {
  const m = DATE.exec(s)
  if (m == null) return false
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])))
  return d.getUTCFullYear() === Number(m[1]) && d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3])
}

/** `<package name version arch/>` (or utility): what element() builds, without its generic attribute handling (a release has tens of thousands). */
function leaf (parent: XElement, e: ReleaseEntry): XElement {
  const el: XElement = { kind: 'element', name: e.kind, attributes: [], children: [], parent, start: 0, end: 0, level: 0 }
  el.attributes.push({ kind: 'attribute', name: 'name', value: e.name, parent: el, start: 0, end: 0, level: 0 })
  el.attributes.push({ kind: 'attribute', name: 'version', value: e.version, parent: el, start: 0, end: 0, level: 0 })
  if (e.arch != null) el.attributes.push({ kind: 'attribute', name: 'arch', value: e.arch, parent: el, start: 0, end: 0, level: 0 })
  return el
}

/**
 * Builds a release composition: `<release name version date>` with nested
 * `<collection name>` elements whose leaves reference packages and
 * utilities. Deterministic whatever the order of `entries`: within a
 * collection the leaves come first, sorted by (name, version, arch, kind),
 * then the sub-collections sorted by name; duplicate entries collapse.
 */
export function buildRelease (r: ReleaseFields): XElement {
  const c = new FieldChecker(typeof r.name === 'string' && r.name !== '' ? releaseId(r.name) : '(unnamed release)')
  const name = c.identifier('name', r.name)!
  const version = c.identifier('version', r.version)!
  if (typeof r.date !== 'string' || !validDate(r.date)) c.fail('date', `${JSON.stringify(r.date)} is not a date YYYY-MM-DD`)
  if (!Array.isArray(r.entries)) c.fail('entries', 'must be a list')

  const top: Node = { children: new Map(), leaves: new Map() }
  for (const [i, e] of r.entries.entries()) {
    const field = `entries[${i}]`
    if (e == null || (e.kind !== 'package' && e.kind !== 'utility')) c.fail(field, 'kind must be package or utility')
    c.identifier(`${field}.name`, e.name)
    c.identifier(`${field}.version`, e.version)
    c.identifier(`${field}.arch`, e.arch, e.kind === 'package')
    if (!Array.isArray(e.collection)) c.fail(`${field}.collection`, 'must be a list of collection names')
    let node = top
    for (const part of e.collection) {
      if (part === '') c.fail(`${field}.collection`, 'empty collection name')
      c.text(`${field}.collection`, part)
      let next = node.children.get(part)
      if (next == null) { next = { children: new Map(), leaves: new Map() }; node.children.set(part, next) }
      node = next
    }
    node.leaves.set(`${e.kind}\0${e.name}\0${e.version}\0${e.arch ?? ''}`, e)
  }

  const root = element('release', { name, version, date: r.date })
  // Explicit stack: collection paths come from input and could nest deeply.
  const stack: Array<{ node: Node, el: XElement }> = [{ node: top, el: root }]
  while (stack.length > 0) {
    const { node, el } = stack.pop()!
    for (const e of [...node.leaves.values()].sort(leafCmp)) el.children.push(leaf(el, e))
    for (const key of [...node.children.keys()].sort(cmp)) {
      const child = element('collection', { name: key })
      appendChild(el, child)
      stack.push({ node: node.children.get(key)!, el: child })
    }
  }
  return root
}

/**
 * What a release holds one of: a unit is updated in place when a newer
 * version with the same kind, name and arch is published.
 */
export function releaseEntryKey (e: { kind: string, name: string, arch?: string }): string {
  return `${e.kind}\u0000${e.name}\u0000${e.arch ?? ''}`
}
