import { element, textElement, type XAttribute, type XElement, type XText } from '../xml/tree.ts'
import { FieldChecker, detach } from './validate.ts'
import {
  RELATION_FIELDS, type ImportedUnit, type PackageFields, type Relation, type RelationGroup,
  type RelationOp, type UtilityFields
} from './types.ts'

export function packageId (name: string, version: string, arch: string): string {
  return `pkg/${name}/${version}/${arch}`
}

export function utilityId (name: string, version: string): string {
  return `util/${name}/${version}`
}

export function releaseId (name: string): string {
  return `release/${name}`
}

/** RPM's epoch:version-release as one comparable string; epoch 0 (or none) is left out, as rpm prints it. */
export function rpmEvr (epoch: string | undefined, version: string, release: string | undefined): string {
  const e = epoch != null && epoch !== '' && !/^0+$/.test(epoch) ? `${epoch}:` : ''
  return release != null && release !== '' ? `${e}${version}-${release}` : `${e}${version}`
}

const OPS: ReadonlySet<string> = new Set<RelationOp>(['<<', '<=', '=', '>=', '>>'])

/** The label errors carry: the id once name, version (and arch) are known, else what there is. */
function unitLabel (kind: 'package' | 'utility', name: unknown, version: unknown, arch: unknown): string {
  const n = typeof name === 'string' && name !== '' ? name : undefined
  const v = typeof version === 'string' && version !== '' ? version : undefined
  if (kind === 'utility') return n != null && v != null ? utilityId(n, v) : (n ?? '(unnamed utility)')
  const a = typeof arch === 'string' && arch !== '' ? arch : undefined
  if (n != null && v != null && a != null) return packageId(n, v, a)
  return n ?? '(unnamed package)'
}

/**
 * Hot-path constructors for the shapes package documents use: the same
 * normalised nodes element()/textElement() build (a test checks they are
 * deep-equal), without the generic per-call work (Object.entries over an
 * attribute record, merging adjacent text), which dominated import time.
 */
function leaf (name: string, text: string): XElement {
  if (text === '') return { kind: 'element', name, attributes: [], children: [], parent: null, start: 0, end: 0, level: 0 }
  // Arrays made at their size: a first push() gives an array room for 17 (R1: ~15 leaves a package).
  const t: XText = { kind: 'text', value: text, parent: null, start: 0, end: 0, level: 0 }
  const el: XElement = { kind: 'element', name, attributes: [], children: [t], parent: null, start: 0, end: 0, level: 0 }
  t.parent = el
  return el
}

function branch (name: string, children: XElement[]): XElement {
  const el: XElement = { kind: 'element', name, attributes: [], children, parent: null, start: 0, end: 0, level: 0 }
  for (const c of children) c.parent = el
  return el
}

function withAttribute (el: XElement, name: string, value: string | undefined): void {
  if (value != null) el.attributes.push(attribute(el, name, value))
}

function attribute (el: XElement | null, name: string, value: string): XAttribute {
  return { kind: 'attribute', name, value, parent: el, start: 0, end: 0, level: 0 }
}

function depElement (c: FieldChecker, field: string, r: Relation): XElement {
  if (r == null || typeof r !== 'object') c.fail(field, 'relation must be an object')
  if (r.name == null || r.name === '') c.fail(field, 'relation without a name')
  // Relation names are not identifiers: RPM has file (`/bin/sh`) and rich (`(a if b)`) dependencies.
  const name = c.text(field, r.name)
  let op: string | undefined
  let version = ''
  if (r.op != null || r.version != null) {
    if (r.op == null || !OPS.has(r.op)) c.fail(field, `relation ${r.name}: operator ${JSON.stringify(r.op)} is not one of << <= = >= >>`)
    op = r.op
    version = c.identifier(field, r.version)! // required: throws when missing
  }
  const arch = c.optionalText(field, r.arch)
  // The attributes in one array made at its size (a first push() makes room for 17; R1 has ~20 relations a package).
  const attributes = op === undefined
    ? (arch === undefined ? [attribute(null, 'name', name)] : [attribute(null, 'name', name), attribute(null, 'arch', arch)])
    : (arch === undefined
        ? [attribute(null, 'name', name), attribute(null, 'op', op), attribute(null, 'version', version)]
        : [attribute(null, 'name', name), attribute(null, 'op', op), attribute(null, 'version', version), attribute(null, 'arch', arch)])
  const el: XElement = { kind: 'element', name: 'dep', attributes, children: [], parent: null, start: 0, end: 0, level: 0 }
  for (const a of attributes) a.parent = el
  return el
}

function relationElement (c: FieldChecker, field: string, groups: RelationGroup[] | undefined): XElement | undefined {
  if (groups == null || groups.length === 0) return undefined
  if (!Array.isArray(groups)) c.fail(field, 'must be a list of relations')
  const children: XElement[] = []
  for (const g of groups) {
    if (g != null && 'anyOf' in g) {
      if (!Array.isArray(g.anyOf) || g.anyOf.length === 0) c.fail(field, 'anyOf without alternatives')
      // One alternative is no choice: the plain relation is the canonical form.
      if (g.anyOf.length === 1) { children.push(depElement(c, field, g.anyOf[0])); continue }
      const alts: XElement[] = []
      for (const r of g.anyOf) alts.push(depElement(c, field, r))
      children.push(branch('anyOf', alts))
    } else {
      children.push(depElement(c, field, g))
    }
  }
  return branch(field, children)
}

function listElement (c: FieldChecker, field: string, item: string, values: string[] | undefined): XElement | undefined {
  const list = c.textList(field, values)
  if (list.length === 0) return undefined
  const items: XElement[] = []
  for (const v of list) items.push(leaf(item, v))
  return branch(field, items)
}

type TextField = 'summary' | 'description' | 'section' | 'priority' | 'license' | 'maintainer' | 'homepage' | 'source' | 'location' | 'epoch' | 'release' | 'group'
const TEXT_BEFORE_SIZE: TextField[] = ['summary', 'description', 'section', 'priority', 'license', 'maintainer', 'homepage', 'source']
const TEXT_AFTER_CHECKSUM: TextField[] = ['location', 'epoch', 'release', 'group']

/**
 * Builds a `<package>` document (DESIGN.md "Metadata documents"), compact:
 * no whitespace text nodes, absent and empty optional fields omitted, so
 * that equal metadata gives byte-equal documents whatever the source format.
 * Throws InvalidDocumentError naming the unit and the field.
 */
export function buildPackage (f: PackageFields): ImportedUnit {
  const c = new FieldChecker(unitLabel('package', f.name, f.version, f.arch))
  // Detached: consumers keep these (ids, release entries) long after the input is gone.
  const name = detach(c.identifier('name', f.name)!)
  const version = detach(c.identifier('version', f.version)!)
  const arch = detach(c.identifier('arch', f.arch)!)
  const children: XElement[] = [leaf('name', name), leaf('version', version), leaf('arch', arch)]
  for (const field of TEXT_BEFORE_SIZE) {
    const v = c.optionalText(field, f[field])
    if (v != null) children.push(leaf(field, v))
  }
  const size = c.count('size', f.size)
  if (size != null) children.push(leaf('size', String(size)))
  const installedSize = c.count('installedSize', f.installedSize)
  if (installedSize != null) children.push(leaf('installedSize', String(installedSize)))
  const sum = c.checksum('checksum', f.checksum)
  if (sum != null) {
    const el = leaf('checksum', sum.value)
    withAttribute(el, 'type', sum.type)
    children.push(el)
  }
  for (const field of TEXT_AFTER_CHECKSUM) {
    const v = c.optionalText(field, f[field])
    if (v != null) children.push(leaf(field, v))
  }
  const files = listElement(c, 'files', 'file', f.files)
  if (files != null) children.push(files)
  for (const field of RELATION_FIELDS) {
    const el = relationElement(c, field, f[field])
    if (el != null) children.push(el)
  }
  const tags = listElement(c, 'tags', 'tag', f.tags)
  if (tags != null) children.push(tags)
  const section = c.optionalText('section', f.section) ?? c.optionalText('group', f.group)
  return {
    kind: 'package',
    id: packageId(name, version, arch),
    name,
    version,
    arch,
    collection: section != null ? [arch, detach(section)] : [arch],
    root: branch('package', children)
  }
}

/** Builds a `<utility>` document: a single file used in installation, identified by name + version. */
export function buildUtility (f: UtilityFields): ImportedUnit {
  const c = new FieldChecker(unitLabel('utility', f.name, f.version, undefined))
  const name = detach(c.identifier('name', f.name)!)
  const version = detach(c.identifier('version', f.version)!)
  const size = c.count('size', f.size, true)!
  const sum = c.checksum('checksum', f.checksum, true)!
  const summary = c.optionalText('summary', f.summary)
  const location = c.optionalText('location', f.location)
  const root = element('utility', [], [
    textElement('name', name), textElement('version', version),
    summary == null ? undefined : textElement('summary', summary),
    textElement('size', size),
    textElement('checksum', sum.value, { type: sum.type }),
    location == null ? undefined : textElement('location', location)
  ])
  return { kind: 'utility', id: utilityId(name, version), name, version, collection: ['utilities'], root }
}

const CHECKSUM_TYPE = /^[a-z0-9]+$/
const CHECKSUM_HEX = /^[0-9a-f]+$/

/**
 * A unit document's own checksum as 'type:hex' (its `<checksum type=...>`
 * child, which the builders write once), or undefined when it has none:
 * what channels' notifications carry, taken from the tree while it is at
 * hand (an import) rather than read back from the stored XML.
 */
export function unitChecksum (root: XElement): string | undefined {
  for (const c of root.children) {
    if (c.kind !== 'element' || c.name !== 'checksum') continue
    const type = c.attributes.length === 1 && c.attributes[0].name === 'type' ? c.attributes[0].value : undefined
    const text = c.children.length === 1 && c.children[0].kind === 'text' ? c.children[0].value : undefined
    if (type === undefined || text === undefined || !CHECKSUM_TYPE.test(type) || !CHECKSUM_HEX.test(text)) continue
    // a flat copy: the hex may be a view of a whole chunk of the input (see detach)
    return detach(`${type}:${text}`)
  }
  return undefined
}
