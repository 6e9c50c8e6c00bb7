import type { Expr, PathExpr, Query, Step } from '../query/ast.ts'
import { VALUE_MAX, attributeTerm, attributeValueTerm, attributeWordTerm, elementTerm, elementValueTerm, textTerm, wordTerm } from '../postings/terms.ts'
import { tokenize } from '../tokens.ts'
import { numericRange, prefixRange, type ValueRange } from './value-ranges.ts'

/**
 * Terms every answer's document must contain: the steps of the main path
 * and of the predicates that must hold (conjunctions; not under `or` or
 * `not`), with the most precise term for each (a value term for `= "x"`, a
 * word term for contains-word). Intersecting their documents, rarest first,
 * gives the candidate documents that every other list is restricted to.
 */
export function mandatoryTerms (query: Query): string[] {
  return mandatorySelectors(query).terms
}

/**
 * Mandatory terms plus mandatory value ranges (`size > N`, `starts-with`):
 * a document with an answer has a node in each range, or a long value
 * (`L:` term) that the range cannot see.
 */
export function mandatorySelectors (query: Query): { terms: string[], ranges: ValueRange[], optional: string[] } {
  const terms = new Set<string>()
  const ranges = new Map<string, ValueRange>()
  const optional = new Set<string>()
  collectPath(query.path, undefined, { terms, ranges, optional })
  return { terms: [...terms], ranges: [...ranges.values()], optional: [...optional].filter((t) => !terms.has(t)) }
}

/**
 * `optional` gathers the terms under `or` and `not`: they narrow nothing,
 * but the join reads them (both sides of an `or`, what a `not` excludes),
 * so a remote source asks their heads in the planner's round.
 */
interface Out { terms: Set<string>, ranges: Map<string, ValueRange>, optional: Set<string> }

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

function collectPath (path: PathExpr, contextTag: string | undefined, out: Out): string | undefined {
  let tag = path.absolute ? undefined : contextTag
  for (const step of path.steps) {
    const term = stepTerm(step, tag)
    if (term !== undefined) out.terms.add(term)
    tag = tagOf(step, tag)
    for (const p of step.predicates) collectExpr(p, tag, out)
  }
  return tag
}

function collectExpr (expr: Expr, tag: string | undefined, out: Out): void {
  switch (expr.type) {
    case 'and': collectExpr(expr.left, tag, out); collectExpr(expr.right, tag, out); return
    case 'or': case 'not': {
      const inner: Out = { terms: out.optional, ranges: new Map(), optional: out.optional }
      if (expr.type === 'or') { collectExpr(expr.left, tag, inner); collectExpr(expr.right, tag, inner) } else collectExpr(expr.arg, tag, inner)
      return
    }
    case 'path': collectPath(expr, tag, out); return
    case 'compare': {
      const last = collectPath(expr.path, tag, out)
      if (last === undefined) return
      if (expr.op === '=' && typeof expr.value === 'string' && expr.value !== '' && expr.value.length <= VALUE_MAX) {
        // The value term implies the node term of the last step: no need to read both.
        const lastStep = expr.path.steps[expr.path.steps.length - 1]
        if (lastStep !== undefined && lastStep.axis !== 'self') out.terms.delete(last.startsWith('@') ? attributeTerm(last.slice(1)) : elementTerm(last))
        out.terms.add(last.startsWith('@') ? attributeValueTerm(last.slice(1), expr.value) : elementValueTerm(last, expr.value))
      } else if (typeof expr.value === 'number' && !Number.isNaN(expr.value) && (expr.op === '<' || expr.op === '<=' || expr.op === '>' || expr.op === '>=')) {
        const r = numericRange(last, expr.op, expr.value)
        out.ranges.set(r.label, r)
      }
      return
    }
    case 'function': {
      const last = collectPath(expr.path, tag, out)
      if (expr.name === 'starts-with' && expr.arg !== '' && last !== undefined && expr.path.steps[expr.path.steps.length - 1]?.test.kind !== 'text') {
        const r = prefixRange(last, expr.arg)
        out.ranges.set(r.label, r)
      }
      if (expr.name === 'contains-word') {
        const token = tokenize(expr.arg)[0]
        const lastStep = expr.path.steps[expr.path.steps.length - 1]
        if (token === undefined || lastStep === undefined) return
        const onAttribute = lastStep.test.kind === 'attribute' || last?.startsWith('@') === true
        const known = lastStep.axis !== 'self' || last !== undefined
        if (known) out.terms.add(onAttribute ? attributeWordTerm(token) : wordTerm(token))
      }
    }
  }
}
