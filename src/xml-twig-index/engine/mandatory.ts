import type { Expr, PathExpr, Query, Step } from '../query/ast.ts'
import { VALUE_MAX, attributeTerm, attributeValueTerm, attributeWordTerm, elementTerm, elementValueTerm, textTerm, wordTerm } from '../postings/terms.ts'
import { tokenize } from '../tokens.ts'

/**
 * Terms every answer's document must contain: the steps of the main path
 * and of the predicates that must hold (conjunctions; not under `or` or
 * `not`), with the most precise term for each (a value term for `= "x"`, a
 * word term for contains-word). Intersecting their documents, rarest first,
 * gives the candidate documents that every other list is restricted to.
 */
export function mandatoryTerms (query: Query): string[] {
  const terms = new Set<string>()
  collectPath(query.path, undefined, terms)
  return [...terms]
}

function stepTerm (step: Step, contextTag: string | undefined): string | undefined {
  const t = step.test
  if (step.axis === 'self') return undefined
  if (t.kind === 'element' && t.name !== '*') return elementTerm(t.name)
  if (t.kind === 'attribute' && t.name !== '*') return attributeTerm(t.name)
  if (t.kind === 'text' && step.axis === 'child' && contextTag !== undefined && !contextTag.startsWith('@')) return textTerm(contextTag)
  return undefined
}

function tagOf (step: Step, contextTag: string | undefined): string | undefined {
  if (step.axis === 'self') return contextTag
  if (step.test.kind === 'element' && step.test.name !== '*') return step.test.name
  if (step.test.kind === 'attribute' && step.test.name !== '*') return `@${step.test.name}`
  return undefined
}

function collectPath (path: PathExpr, contextTag: string | undefined, out: Set<string>): string | undefined {
  let tag = path.absolute ? undefined : contextTag
  for (const step of path.steps) {
    const term = stepTerm(step, tag)
    if (term !== undefined) out.add(term)
    tag = tagOf(step, tag)
    for (const p of step.predicates) collectExpr(p, tag, out)
  }
  return tag
}

function collectExpr (expr: Expr, tag: string | undefined, out: Set<string>): void {
  switch (expr.type) {
    case 'and': collectExpr(expr.left, tag, out); collectExpr(expr.right, tag, out); return
    case 'or': case 'not': return
    case 'path': collectPath(expr, tag, out); return
    case 'compare': {
      const last = collectPath(expr.path, tag, out)
      if (expr.op === '=' && typeof expr.value === 'string' && expr.value !== '' && expr.value.length <= VALUE_MAX && last !== undefined) {
        out.add(last.startsWith('@') ? attributeValueTerm(last.slice(1), expr.value) : elementValueTerm(last, expr.value))
      }
      return
    }
    case 'function': {
      const last = collectPath(expr.path, tag, out)
      if (expr.name === 'contains-word') {
        const token = tokenize(expr.arg)[0]
        const lastStep = expr.path.steps[expr.path.steps.length - 1]
        if (token === undefined || lastStep === undefined) return
        const onAttribute = lastStep.test.kind === 'attribute' || last?.startsWith('@') === true
        const known = lastStep.axis !== 'self' || last !== undefined
        if (known) out.add(onAttribute ? attributeWordTerm(token) : wordTerm(token))
      }
    }
  }
}
