import type { CompareExpr, Expr, PathExpr, Query, Step } from '../query/ast.ts'
import { EMPTY_LIST, type PostingList } from '../postings/codec.ts'
import { VALUE_MAX, attributeTerm, attributeWordTerm, elementTerm, sortableNumber, textTerm, wordTerm } from '../postings/terms.ts'
import { tokenize } from '../tokens.ts'
import { NeedsDocuments, equalityStep, rootValueTerm, stepTerm, tagOf, valueNames } from './pattern-terms.ts'
import { SortedDocSet, docsOf, withRoots, type DocFilter, type DocsHaving, type PostingSource, type RelatedNodes, type RootNodes, type TermRange } from './source.ts'
import { numericRange, prefixRange } from './value-ranges.ts'
import { ancestorsIn, atLevel, descendantsIn, difference, intersect, rootsIn, sliceOf, splitRoots, union, type StructuralAxis } from './structural.ts'

/** At most this many nodes are sent along to read a deferred list in relation to them (more would cost more than the list saves). */
const RELATED_NODES = 4096

/**
 * Reads a list's value for the nodes of `last` (a comparison's or function's last step), below `context` when given. `having`, when
 * present, answers instead which of `context` have such a node below them, or undefined when it cannot do better than the list.
 */
type LastFilter = ((last: Step, tag: string | undefined, isSelf: boolean, context?: PostingList) => Promise<PostingList>) & {
  having?: (last: Step, tag: string | undefined, context: PostingList) => Promise<PostingList | undefined>
}

/** What a list read cost, for explain. */
export interface ListRead { term: string, postings: number, ms: number }

/** What the planner hands the evaluator; every field is optional (nothing read yet). */
export interface EvaluatorInit {
  /** Candidate documents: every list is read restricted to them. */
  filter?: DocFilter
  /** Lists (by term) and scans (by range label) the planner read: a list read for a larger candidate set still gives exact joins. */
  lists?: Map<string, Promise<PostingList>>
  scans?: Map<string, Promise<PostingList>>
  /**
   * Terms read in relation to nodes known by then when the source can
   * (fetchRelated): below a step's context, or above the nodes a predicate
   * asks for (see relatableTerms); lists a candidate holds far more of than
   * the pattern needs (a release document's leaves, a package's dependencies).
   */
  deferred?: ReadonlySet<string>
  /** Root value tests (rootValueTerms) read, or being read, as the documents having them at level 2, by term. */
  rootValues?: ReadonlyMap<string, Promise<DocsHaving>>
  /** Existence tests on roots (existenceTerms) being read as the documents having the term, by term. */
  rootExistence?: ReadonlyMap<string, Promise<DocsHaving>>
  /** The first step's nodes (rootNodesTerm) being read as PostingSource.rootNodes, by term. */
  rootNodes?: ReadonlyMap<string, Promise<RootNodes>>
}

/**
 * Evaluates a pattern on posting lists only, list-at-a-time: each step is a
 * structural semi-join (structural.ts) and predicates are evaluated
 * bottom-up on whole lists, so every query node is matched holistically in
 * one pass per edge rather than doc by doc. Value comparisons read the
 * value terms (`v:`, `N:`), contains-word the word terms. Nodes whose
 * value is too long to be a term (`L:`) make their documents "uncertain":
 * those are re-evaluated on the documents by the caller.
 */
export class PostingsEvaluator {
  readonly uncertain = new Set<number>()
  readonly reads: ListRead[] = []

  private readonly filter?: DocFilter
  private readonly cache: Map<string, Promise<PostingList>>
  private readonly scans: Map<string, Promise<PostingList>>
  private readonly deferred: ReadonlySet<string>
  private readonly rootValues: ReadonlyMap<string, Promise<DocsHaving>>
  private readonly rootExistence: ReadonlyMap<string, Promise<DocsHaving>>
  private readonly rootNodes: ReadonlyMap<string, Promise<RootNodes>>

  constructor (private readonly source: PostingSource, init: EvaluatorInit = {}) {
    this.filter = init.filter
    this.cache = init.lists ?? new Map()
    this.scans = init.scans ?? new Map()
    this.deferred = init.deferred ?? new Set()
    this.rootValues = init.rootValues ?? new Map()
    this.rootExistence = init.rootExistence ?? new Map()
    this.rootNodes = init.rootNodes ?? new Map()
  }

  /**
   * Starts reading lists the evaluation will need, all at once: a remote
   * source pays a round trip per read, and the walk would otherwise wait
   * for them one after another. A failure surfaces where the list is used.
   */
  prefetch (terms: Iterable<string>): void {
    for (const t of terms) this.list(t).catch(() => {})
  }

  async evaluate (query: Query): Promise<PostingList> {
    return await this.forward(query.path, 'document', undefined, true)
  }

  private async list (term: string): Promise<PostingList> {
    let p = this.cache.get(term)
    if (p === undefined) {
      p = this.timed(term, async () => await this.source.fetch(term, this.filter))
      this.cache.set(term, p)
    }
    return await p
  }

  private async scanned (range: TermRange, label: string): Promise<PostingList> {
    let p = this.scans.get(label)
    if (p === undefined) {
      p = this.timed(label, async () => await this.source.scan(range, this.filter))
      this.scans.set(label, p)
    }
    return await p
  }

  private async timed (term: string, read: () => Promise<PostingList>): Promise<PostingList> {
    const t0 = performance.now()
    const l = await read()
    this.reads.push({ term, postings: l.length, ms: performance.now() - t0 })
    return l
  }

  /** A deferred term's postings below or above `nodes`, read that way when the source can; otherwise the list as planned. */
  private async related (term: string, relation: RelatedNodes['relation'], nodes: PostingList | 'document', axis: Step['axis']): Promise<PostingList> {
    const fetchRelated = this.source.fetchRelated
    if (!this.deferred.has(term) || this.cache.has(term) || fetchRelated === undefined || nodes === 'document' || nodes.length > RELATED_NODES || (axis !== 'child' && axis !== 'descendant')) return await this.list(term)
    if (nodes.length === 0) return EMPTY_LIST
    const related: RelatedNodes = { relation, axis, nodes }
    return await this.timed(`${term} (${relation} ${nodes.length} nodes)`, async () => await fetchRelated.call(this.source, term, related))
  }

  private markUncertain (l: PostingList): void {
    for (let i = 0; i < l.length; i++) this.uncertain.add(l.docs[i])
  }

  /** Nodes a step's test selects, anywhere or at least those under `context` (the joins relate them to the context). */
  private async stepNodes (step: Step, contextTag: string | undefined, context: PostingList | 'document' = 'document'): Promise<PostingList> {
    const t = step.test
    if (t.kind === 'element') {
      if (t.name === '*') throw new NeedsDocuments('element wildcard')
      return await this.related(elementTerm(t.name), 'below', context, step.axis)
    }
    if (t.kind === 'attribute') {
      if (t.name === '*') throw new NeedsDocuments('attribute wildcard')
      return await this.related(attributeTerm(t.name), 'below', context, step.axis)
    }
    if (t.kind === 'text') {
      if (step.axis !== 'child' || contextTag === undefined || contextTag.startsWith('@')) throw new NeedsDocuments('text() below an unnamed or descendant step')
      return await this.list(textTerm(contextTag))
    }
    throw new NeedsDocuments('node() step')
  }

  /** Forward evaluation of a path from a context list (or the document node); `main`: the pattern's path (its first step may be rootNodes'). */
  private async forward (path: PathExpr, context: PostingList | 'document', contextTag: string | undefined, main = false): Promise<PostingList> {
    let current: PostingList | 'document' = path.absolute ? 'document' : context
    let tag = path.absolute ? undefined : contextTag
    for (const step of path.steps) {
      if (step.axis === 'self') {
        if (current === 'document') throw new NeedsDocuments("'.' on the document node")
      } else {
        // the pattern's first step read as its roots' stand-ins (withRoots) and other nodes: never an answer (rootNodesTerm)
        const roots = main && current === 'document' ? this.rootNodes.get(stepTerm(step) ?? '') : undefined
        const nodes = roots !== undefined ? await this.timed(`${stepTerm(step) ?? ''} (roots)`, async () => withRoots(await roots)) : await this.stepNodes(step, tag, current)
        if (current === 'document') {
          current = step.axis === 'child' ? (step.test.kind === 'element' ? atLevel(nodes, 1) : EMPTY_LIST) : nodes
        } else {
          current = descendantsIn(current, nodes, step.axis as StructuralAxis)
        }
      }
      tag = tagOf(step, tag)
      for (const p of step.predicates) current = await this.filter_(current, p, step, tag)
    }
    if (current === 'document') throw new NeedsDocuments('a pattern selecting the document node')
    return current
  }

  /** The nodes of `context` (all matching `step`) for which `expr` holds. */
  private async filter_ (context: PostingList, expr: Expr, step: Step, tag: string | undefined): Promise<PostingList> {
    if (context.length === 0) return context
    switch (expr.type) {
      case 'and': return await this.filter_(await this.filter_(context, expr.left, step, tag), expr.right, step, tag)
      case 'or': return union(await this.filter_(context, expr.left, step, tag), await this.filter_(context, expr.right, step, tag))
      case 'not': return difference(context, await this.filter_(context, expr.arg, step, tag))
      case 'path': return await this.existing(context, expr, tag, undefined)
      case 'compare': {
        const rootValue = rootValueTerm(expr, tag)
        const atRoots = rootValue !== undefined ? await this.rootChildren(rootValue, context) : undefined
        if (atRoots !== undefined) return atRoots
        const lastFilter: LastFilter = Object.assign(async (last: Step, lastTag: string | undefined, isSelf: boolean, below?: PostingList) => await this.compared(last, lastTag, isSelf, expr.op, expr.value, below), {
          having: async (last: Step, lastTag: string | undefined, below: PostingList) => await this.comparedHaving(last, lastTag, expr.op, expr.value, below)
        })
        return await this.existing(context, expr.path, tag, lastFilter)
      }
      case 'function':
        return await this.existing(context, expr.path, tag, async (last, lastTag, isSelf) => await this.functioned(last, lastTag, isSelf, expr.name, expr.arg))
    }
  }

  /**
   * Nodes of `context` from which the relative path reaches a node (of the
   * last step, restricted by `lastFilter` when given): evaluated from the
   * last step back to the context with ancestor semi-joins.
   */
  private async existing (context: PostingList, path: PathExpr, contextTag: string | undefined, lastFilter?: LastFilter): Promise<PostingList> {
    if (path.absolute) {
      const reached = await this.forward(path, 'document', undefined)
      const hit = lastFilter === undefined ? reached : intersect(reached, await lastFilter(path.steps[path.steps.length - 1], undefined, false))
      const docs = new Set<number>()
      for (let i = 0; i < hit.length; i++) docs.add(hit.docs[i])
      const out = []
      for (let i = 0; i < context.length; i++) if (docs.has(context.docs[i])) out.push(i)
      return sliceOf(context, out)
    }
    return await this.back(context, path.steps, 0, contextTag, lastFilter)
  }

  private async back (context: PostingList, steps: Step[], k: number, contextTag: string | undefined, lastFilter?: LastFilter): Promise<PostingList> {
    if (k === steps.length) return context
    const step = steps[k]
    const tag = tagOf(step, contextTag)
    const isLast = k === steps.length - 1
    let nodes: PostingList
    if (step.axis === 'self') {
      nodes = context
      if (isLast && lastFilter !== undefined) nodes = intersect(nodes, await lastFilter(step, tag, true))
    } else if (isLast && lastFilter !== undefined && step.test.kind !== 'text') {
      // Only which context nodes have a matching node below them matters here: a source may say that without the nodes.
      const having = step.predicates.length === 0 ? await lastFilter.having?.(step, tag, context) : undefined
      if (having !== undefined) return having
      // The value test already names nodes of this step's kind: join those, not the whole element list.
      nodes = descendantsIn(context, await lastFilter(step, tag, false, context), step.axis)
    } else {
      const term = stepTerm(step)
      if (isLast && lastFilter === undefined && step.predicates.length === 0 && step.axis === 'descendant' && term !== undefined) {
        const having = await this.havingBelowRoots(term, context, contextTag)
        if (having !== undefined) return having
      }
      // A deferred list is read above the few nodes its step's nodes must have below them, when the pattern names such nodes.
      const below = term !== undefined && this.deferred.has(term) ? await this.belowOf(steps, k, tag, lastFilter) : undefined
      const list = below !== undefined && term !== undefined ? await this.related(term, 'above', below.nodes, below.axis) : await this.stepNodes(step, contextTag, context)
      nodes = descendantsIn(context, list, step.axis)
      if (isLast && lastFilter !== undefined) nodes = intersect(nodes, await lastFilter(step, tag, false))
    }
    for (const p of step.predicates) nodes = await this.filter_(nodes, p, step, tag)
    nodes = await this.back(nodes, steps, k + 1, tag, lastFilter)
    return step.axis === 'self' ? nodes : ancestorsIn(context, nodes, step.axis)
  }

  /**
   * The postings of `term` below `nodes` (not document roots: a release
   * document's leaves), read as the evaluator reads any list there: in
   * relation to the nodes when deferred, else restricted to their documents.
   */
  private async belowOthers (term: string, nodes: PostingList, axis: 'child' | 'descendant'): Promise<PostingList> {
    if (this.cache.has(term) || (this.deferred.has(term) && this.source.fetchRelated !== undefined && nodes.length <= RELATED_NODES)) return await this.related(term, 'below', nodes, axis)
    return await this.timed(`${term} (in ${nodes.length} nodes' documents)`, async () => await this.source.fetch(term, new SortedDocSet(docsOf(nodes))))
  }

  /**
   * The nodes of `context` with a `term` node below them, its document roots
   * asked of the source as documents having the term (`package[not(.//dep)]`
   * needs a bit per package, not its dependencies; each other node of a
   * root's document is below it); other context nodes (a release document's
   * leaves) read the list in their documents. Undefined (read the list as
   * usual) when the source cannot, the list is read already, or `term` is
   * the roots' own.
   */
  private async havingBelowRoots (term: string, context: PostingList, contextTag: string | undefined): Promise<PostingList | undefined> {
    const docsHaving = this.source.docsHaving
    if (docsHaving === undefined || this.cache.has(term) || contextTag === undefined || contextTag.startsWith('@') || elementTerm(contextTag) === term) return undefined
    const { roots, others } = splitRoots(context)
    if (roots.length === 0) return undefined
    const t0 = performance.now()
    // asked with the other lists by the planner when it could (rootExistence), else now for these roots
    const pending = this.rootExistence.get(term) ?? docsHaving.call(this.source, term, { docs: sliceOf(context, roots).docs })
    const having = (await pending).docs
    this.reads.push({ term: `${term} (having, ${roots.length} docs)`, postings: having.length, ms: performance.now() - t0 })
    const kept = sliceOf(context, rootsIn(context, roots, having))
    if (others.length === 0) return kept
    const otherNodes = sliceOf(context, others)
    return union(kept, ancestorsIn(otherNodes, await this.belowOthers(term, otherNodes, 'descendant'), 'descendant'))
  }

  /**
   * The nodes of `context` with a child `term` node (a value term), when
   * the planner reads which documents have one at level 2 (rootValues): a
   * document root is kept when its document is among them; other context
   * nodes read the list in their documents. Undefined when the planner does
   * not read it that way.
   */
  private async rootChildren (term: string, context: PostingList): Promise<PostingList | undefined> {
    const pending = this.rootValues.get(term)
    if (pending === undefined) return undefined
    const { roots, others } = splitRoots(context)
    const atLevel = (await pending).atLevel
    // a source that did not say which are at level 2 cannot decide this: read the list
    if (atLevel === undefined) return undefined
    const kept = sliceOf(context, rootsIn(context, roots, atLevel))
    if (others.length === 0) return kept
    const otherNodes = sliceOf(context, others)
    return union(kept, ancestorsIn(otherNodes, await this.belowOthers(term, otherNodes, 'child'), 'child'))
  }

  /**
   * Nodes that step k's nodes must have below them, when the pattern names
   * few enough to read first: those of an `[@a = "v"]` predicate of the
   * step (its value list), or those of the path's last step when it is the
   * next one and carries the value test.
   */
  private async belowOf (steps: Step[], k: number, stepTag: string | undefined, lastFilter?: LastFilter): Promise<{ nodes: PostingList, axis: 'child' | 'descendant' } | undefined> {
    // A predicate whose value list is read already (the planner's), else one not deferred itself (a deferred one is long).
    const equalities = steps[k].predicates.flatMap((p) => {
      const s = equalityStep(p)
      if (s === undefined) return []
      const tag = tagOf(s, stepTag)
      const value = (p as CompareExpr).value as string
      return [{ s, tag, value, term: valueNames(s, tag, false).value + value }]
    })
    const best = equalities.find((e) => this.cache.has(e.term)) ?? equalities.find((e) => !this.deferred.has(e.term))
    if (best !== undefined) return { nodes: await this.compared(best.s, best.tag, false, '=', best.value), axis: best.s.axis as 'child' | 'descendant' }
    const next = steps[k + 1]
    if (lastFilter !== undefined && k + 1 === steps.length - 1 && next.predicates.length === 0 && (next.axis === 'child' || next.axis === 'descendant') && stepTerm(next) !== undefined) {
      return { nodes: await lastFilter(next, tagOf(next, stepTag), false), axis: next.axis }
    }
    return undefined
  }

  /** Nodes of the last step's kind whose value satisfies `op value` (only those below `context`, when given, may be all that is read). */
  private async compared (last: Step, tag: string | undefined, isSelf: boolean, op: string, value: string | number, context?: PostingList): Promise<PostingList> {
    const names = valueNames(last, tag, isSelf)
    if (typeof value === 'number' || (op !== '=' && op !== '!=')) {
      const n = typeof value === 'number' ? value : NaN
      if (Number.isNaN(n)) return EMPTY_LIST // a comparison with NaN never holds
      this.markUncertain(await this.list(names.long))
      const key = names.number + sortableNumber(n)
      if (op === '=') return await this.list(key)
      // NaN (a non-numeric value) satisfies != and nothing else, so every node but the equal ones.
      if (op === '!=') return difference(await this.list(names.node), await this.list(key))
      const r = numericRange(names.name, op as '<' | '<=' | '>' | '>=', n)
      return await this.scanned(r.range, r.label)
    }
    const s = value
    if (s === '' || s.length > VALUE_MAX) throw new NeedsDocuments(`comparison with ${s === '' ? 'an empty' : 'a long'} string`)
    if (op === '=') return context !== undefined && !isSelf ? await this.related(names.value + s, 'below', context, last.axis) : await this.list(names.value + s)
    const exact = await this.list(names.value + s)
    // Long values differ from any short literal, so they are certain members of `!=`.
    return difference(await this.list(names.node), exact)
  }

  /**
   * The nodes of `context` with a node of `last` below them whose value is `= value`, when the value's list is deferred (read in
   * relation to nodes) and the source can answer that as a bit per context node. Undefined otherwise (read the list).
   */
  private async comparedHaving (last: Step, tag: string | undefined, op: string, value: string | number, context: PostingList): Promise<PostingList | undefined> {
    const relatedHaving = this.source.relatedHaving
    if (relatedHaving === undefined || op !== '=' || typeof value !== 'string' || value === '' || value.length > VALUE_MAX || (last.axis !== 'child' && last.axis !== 'descendant')) return undefined
    const term = valueNames(last, tag, false).value + value
    if (!this.deferred.has(term) || this.cache.has(term) || context.length === 0 || context.length > RELATED_NODES) return undefined
    const t0 = performance.now()
    const kept = await relatedHaving.call(this.source, term, { relation: 'below', axis: last.axis, nodes: context })
    this.reads.push({ term: `${term} (having below ${context.length} nodes)`, postings: kept.length, ms: performance.now() - t0 })
    return kept
  }

  private async functioned (last: Step, tag: string | undefined, isSelf: boolean, name: string, arg: string): Promise<PostingList> {
    if (name === 'contains-word') {
      const token = tokenize(arg)[0] ?? ''
      if (last.test.kind === 'text' && !isSelf) return await this.list(wordTerm(token))
      const words = await this.list(wordTerm(token))
      const names = valueNames(last, tag, isSelf)
      if (names.node.startsWith('a:')) return intersect(await this.list(names.node), await this.list(attributeWordTerm(token)))
      return ancestorsIn(await this.list(names.node), words, 'descendant')
    }
    const names = valueNames(last, tag, isSelf)
    if (arg === '') return await this.list(names.node)
    this.markUncertain(await this.list(names.long))
    if (name === 'starts-with') {
      const r = prefixRange(names.name, arg)
      return await this.scanned(r.range, r.label)
    }
    return await this.scanned({ prefix: names.value, match: (t) => t.slice(names.value.length).includes(arg) }, `${names.value}*${arg}*`)
  }
}
