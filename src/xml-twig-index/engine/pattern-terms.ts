/**
 * What the terms of a pattern are for, read from its syntax: which term a
 * step's nodes have, which value terms a comparison reads, and which lists
 * the planner and the evaluator may read another way than whole (in
 * relation to nodes, as existence, as the documents of roots' children).
 */
import type { CompareExpr, Expr, PathExpr, Query, Step } from '../query/ast.ts'
import {
  attributeLongTerm, attributeNumberPrefix, attributeTerm, attributeValuePrefix, elementLongTerm,
  elementNumberPrefix, elementTerm, elementValuePrefix, VALUE_MAX
} from '../postings/terms.ts'

/** Thrown when a part of the pattern cannot be decided from postings: the evaluator falls back to the documents. */
export class NeedsDocuments extends Error {
  constructor (readonly reason: string) { super(reason); this.name = 'NeedsDocuments' }
}

/** The name a step's nodes are known to have: `tag` for elements, `@name` for attributes. */
export function tagOf (step: Step, contextTag: string | undefined): string | undefined {
  if (step.axis === 'self') return contextTag
  if (step.test.kind === 'element' && step.test.name !== '*') return step.test.name
  if (step.test.kind === 'attribute' && step.test.name !== '*') return `@${step.test.name}`
  return undefined
}

/** The term of a step's nodes (named elements and attributes). */
export function stepTerm (step: Step): string | undefined {
  if (step.axis === 'self' || step.test.kind === 'text' || step.test.kind === 'node' || step.test.name === '*') return undefined
  return step.test.kind === 'element' ? elementTerm(step.test.name) : attributeTerm(step.test.name)
}

/**
 * Terms of bare existence tests on a relative path of one descendant step
 * (`[.//dep]`, `not(.//homepage)`) among the predicates of a pattern's
 * first step when it selects the documents' roots (DOCUMENT_ROOTS): on a
 * root they only say which documents have the term, so a planner may read
 * just that (PostingSource.docsHaving), with its other lists.
 */
export function existenceTerms (query: Query): Set<string> {
  const out = new Set<string>()
  const first = rootStep(query)
  if (first === undefined) return out
  const expr = (e: Expr): void => {
    switch (e.type) {
      case 'and': case 'or': expr(e.left); expr(e.right); return
      case 'not': expr(e.arg); return
      case 'path': {
        // `.//dep` is a self step, then the descendant one
        const steps = e.steps[0]?.axis === 'self' && e.steps[0].predicates.length === 0 ? e.steps.slice(1) : e.steps
        const s = steps[0]
        if (!e.absolute && steps.length === 1 && s.axis === 'descendant' && s.predicates.length === 0) {
          const term = stepTerm(s)
          if (term !== undefined && term !== elementTerm((first.test as { name: string }).name)) out.add(term)
        }
      }
    }
  }
  for (const p of first.predicates) expr(p)
  return out
}

/** The first step of a pattern when it selects elements that the document builders make roots of (`//package`, `/release`). */
function rootStep (query: Query): Step | undefined {
  const first = query.path.steps[0]
  if (!query.path.absolute || first === undefined || first.test.kind !== 'element' || !DOCUMENT_ROOTS.has(first.test.name) || (first.axis !== 'child' && first.axis !== 'descendant')) return undefined
  return first
}

/**
 * The term of a pattern's first step when it selects document roots
 * (DOCUMENT_ROOTS) that are not the answer (more steps follow): the join
 * then needs of a root only that it contains its document, which
 * PostingSource.rootNodes may say without its posting.
 */
export function rootNodesTerm (query: Query): string | undefined {
  const first = rootStep(query)
  // (`//package/.` answers the roots themselves)
  return first !== undefined && query.path.steps.slice(1).some((s) => s.axis !== 'self') ? stepTerm(first) : undefined
}

/**
 * Elements the document builders (documents/) make roots of: package,
 * utility and release documents. Where `//package` finds document roots;
 * other XML (importXml) simply does not get rootValueTerms' reads.
 */
const DOCUMENT_ROOTS: ReadonlySet<string> = new Set(['package', 'utility', 'release'])

/** The value term of an `[e = "v"]` or `[@a = "v"]` predicate on its context's children (one child step, a short string). */
export function rootValueTerm (p: CompareExpr, contextTag: string | undefined): string | undefined {
  const s = equalityStep(p)
  if (s === undefined || s.axis !== 'child') return undefined
  const tag = tagOf(s, contextTag)
  return tag === undefined ? undefined : valueNames(s, tag, false).value + (p.value as string)
}

/**
 * Value terms of `[e = "v"]` / `[@a = "v"]` predicates (a child step) of a
 * pattern's first step when it selects the documents' roots (`//package`,
 * `/release`; DOCUMENT_ROOTS): on a root they only say which documents have
 * such a child, so a planner may read just that (PostingSource.docsHaving at
 * level 2). Other nodes the step selects (a release document's `package`
 * leaves) read the list in their documents.
 */
export function rootValueTerms (query: Query): Set<string> {
  const out = new Set<string>()
  const first = rootStep(query)
  if (first === undefined) return out
  const conj = (e: Expr): void => {
    if (e.type === 'and') { conj(e.left); conj(e.right); return }
    if (e.type !== 'compare') return
    const term = rootValueTerm(e, first.test.kind === 'element' ? (first.test as { name: string }).name : undefined)
    if (term !== undefined) out.add(term)
  }
  for (const p of first.predicates) conj(p)
  return out
}

/** The one step of an `[@a = "v"]` or `[e = "v"]` predicate (a relative single step, no predicates of its own, a short string). */
export function equalityStep (p: Expr): Step | undefined {
  if (p.type !== 'compare' || p.op !== '=' || typeof p.value !== 'string' || p.value === '' || p.value.length > VALUE_MAX) return undefined
  if (p.path.absolute || p.path.steps.length !== 1) return undefined
  const s = p.path.steps[0]
  return s.predicates.length === 0 && (s.axis === 'child' || s.axis === 'descendant') && stepTerm(s) !== undefined ? s : undefined
}

/**
 * Terms the evaluator can read in relation to nodes it knows (fetchRelated):
 * the steps of relative paths that have an `[@a = "v"]` predicate or whose
 * next and last step carries the value test (read above those nodes), and
 * the value terms of `=` comparisons on relative paths (read below their
 * context). The planner defers those of them that have many postings per
 * document.
 */
export function relatableTerms (query: Query): Set<string> {
  const out = new Set<string>()
  const path = (p: PathExpr, valued: boolean, relative: boolean): void => {
    p.steps.forEach((step, k) => {
      const term = stepTerm(step)
      if (relative && term !== undefined && (step.predicates.some((x) => equalityStep(x) !== undefined) || (valued && k === p.steps.length - 2 && p.steps[k + 1].predicates.length === 0 && stepTerm(p.steps[k + 1]) !== undefined))) out.add(term)
      for (const x of step.predicates) expr(x)
    })
  }
  const expr = (e: Expr): void => {
    switch (e.type) {
      case 'and': case 'or': expr(e.left); expr(e.right); return
      case 'not': expr(e.arg); return
      case 'path': path(e, false, !e.absolute); return
      case 'function': path(e.path, true, !e.path.absolute); return
      case 'compare': {
        path(e.path, true, !e.path.absolute)
        const last = e.path.steps[e.path.steps.length - 1]
        if (e.op === '=' && typeof e.value === 'string' && e.value !== '' && e.value.length <= VALUE_MAX && !e.path.absolute && last !== undefined && last.axis !== 'self') {
          if (last.test.kind === 'attribute' && last.test.name !== '*') out.add(attributeValuePrefix(last.test.name) + e.value)
          if (last.test.kind === 'element' && last.test.name !== '*') out.add(elementValuePrefix(last.test.name) + e.value)
        }
      }
    }
  }
  path(query.path, false, false)
  return out
}

function requireTag (tag: string | undefined): string {
  if (tag === undefined) throw new NeedsDocuments('a value test on an unnamed node')
  return tag
}

/** The terms that hold the values of the nodes a comparison's last step selects. */
export function valueNames (last: Step, tag: string | undefined, isSelf: boolean): { name: string, node: string, value: string, number: string, long: string } {
  if (!isSelf && last.test.kind === 'attribute') {
    if (last.test.name === '*') throw new NeedsDocuments('a value test on @*')
    const a = last.test.name
    return { name: `@${a}`, node: attributeTerm(a), value: attributeValuePrefix(a), number: attributeNumberPrefix(a), long: attributeLongTerm(a) }
  }
  if (!isSelf && last.test.kind === 'text') throw new NeedsDocuments('a value test on text()')
  const t = requireTag(isSelf ? tag : (last.test.kind === 'element' && last.test.name !== '*' ? last.test.name : undefined))
  if (t.startsWith('@')) {
    const a = t.slice(1)
    return { name: t, node: attributeTerm(a), value: attributeValuePrefix(a), number: attributeNumberPrefix(a), long: attributeLongTerm(a) }
  }
  return { name: t, node: elementTerm(t), value: elementValuePrefix(t), number: elementNumberPrefix(t), long: elementLongTerm(t) }
}
