/**
 * Answers of a tree pattern (Match) and the plan the engine chose (QueryPlan).
 */
import { builder } from '../builder.ts'
import type { MatchRecord } from '../../actors/types.ts'
import type { QueryPlan } from '../../xml-twig-index/engine/query-engine.ts'
import { DocumentUnion } from './release.ts'

export const MatchType = builder.objectRef<MatchRecord>('Match').implement({
  description: 'One answer of a tree pattern: a node of a document.',
  fields: (t) => ({
    doc: t.exposeString('doc', { description: 'Id of the document holding the node (`pkg/...`, `util/...`, `release/...`).' }),
    path: t.exposeString('path', { description: 'Canonical path of the node, e.g. `/package[1]/depends[1]/dep[3]/@name`.' }),
    xml: t.exposeString('xml', { description: 'The node serialised (an attribute or text node gives its value).' }),
    document: t.field({
      type: DocumentUnion,
      nullable: true,
      description: 'The whole document, resolved on demand.',
      resolve: async (m, _args, ctx) => (await ctx.peer.document(m.doc)) ?? null
    })
  })
})

type TermStat = QueryPlan['terms'][number]
type ListRead = QueryPlan['reads'][number]

const TermStatType = builder.objectRef<TermStat>('TermStat').implement({
  description: 'A term the plan must read, with its size.',
  fields: (t) => ({
    term: t.exposeString('term', { description: 'Posting term: e:<tag>, a:<attr>, w:<word>, v:<tag>=<value>, ...' }),
    postings: t.exposeInt('postings'),
    docs: t.exposeInt('docs'),
    blocks: t.exposeInt('blocks')
  })
})

const ListReadType = builder.objectRef<ListRead>('ListRead').implement({
  description: 'A posting list the evaluation read.',
  fields: (t) => ({
    term: t.exposeString('term'),
    postings: t.exposeInt('postings'),
    ms: t.exposeFloat('ms')
  })
})

const PlanTimesType = builder.objectRef<QueryPlan['ms']>('PlanTimes').implement({
  description: 'Milliseconds spent per phase.',
  fields: (t) => ({
    plan: t.exposeFloat('plan'),
    candidates: t.exposeFloat('candidates'),
    join: t.exposeFloat('join'),
    verify: t.exposeFloat('verify'),
    total: t.exposeFloat('total')
  })
})

export const QueryPlanType = builder.objectRef<QueryPlan>('QueryPlan').implement({
  description: 'How the peer evaluated a pattern (it runs the query to measure it).',
  fields: (t) => ({
    pattern: t.exposeString('pattern'),
    strategy: t.exposeString('strategy', { description: 'postings | postings+verify | documents' }),
    reason: t.exposeString('reason', { nullable: true, description: 'Why the strategy was chosen, when not postings alone.' }),
    terms: t.field({ type: [TermStatType], description: 'Mandatory terms in the order intersected (rarest first).', resolve: (p) => p.terms }),
    candidateDocs: t.exposeInt('candidateDocs', { nullable: true, description: 'Documents left after intersecting the terms (null: no term narrowed).' }),
    verifiedDocs: t.exposeInt('verifiedDocs'),
    answers: t.exposeInt('answers'),
    ms: t.field({ type: PlanTimesType, resolve: (p) => p.ms }),
    reads: t.field({ type: [ListReadType], resolve: (p) => p.reads })
  })
})
