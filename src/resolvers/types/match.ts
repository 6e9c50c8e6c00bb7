/**
 * Answers of a tree pattern (Match) and the plan the engine chose (QueryPlan).
 */
import { builder } from '../builder.ts'
import type { MatchRecord } from '../../actors/types.ts'
import type { QueryPlan } from '../../xml-twig-index/engine/query-engine.ts'
import type { NetworkPlan, NetworkQueryPlan, PeerReads } from '../../actors/network-view.ts'
import type { ReadTrace } from '../../dht/index.ts'
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

const NetworkReadType = builder.objectRef<ReadTrace>('NetworkRead').implement({
  description: 'One request to one index peer.',
  fields: (t) => ({
    peer: t.exposeString('peer'),
    op: t.exposeString('op', { description: 'heads | blocks | terms | get | resolve' }),
    keys: t.exposeInt('keys'),
    items: t.exposeStringList('items', { description: 'What was asked (terms as term#range for blocks, docIds, ids), the first 16.' }),
    bytes: t.exposeInt('bytes'),
    inlineBytes: t.exposeInt('inlineBytes', { description: 'Of bytes, the postings that came inline with term heads (heads and terms requests): list data, not plan.' }),
    at: t.exposeFloat('at', { description: 'When the request left, ms after the evaluation started (requests that overlap ran in the same round).' }),
    ms: t.exposeFloat('ms'),
    failover: t.exposeBoolean('failover', { description: 'Sent here because a nearer holder failed.' })
  })
})

const PeerReadsType = builder.objectRef<PeerReads>('PeerReads').implement({
  fields: (t) => ({
    peer: t.exposeString('peer'),
    requests: t.exposeInt('requests'),
    keys: t.exposeInt('keys'),
    bytes: t.exposeInt('bytes'),
    ms: t.exposeFloat('ms'),
    failovers: t.exposeInt('failovers')
  })
})

const NetworkPlanType = builder.objectRef<NetworkPlan>('NetworkPlan').implement({
  description: 'Which peers served which lists and documents, and the bytes moved.',
  fields: (t) => ({
    requests: t.field({ type: [NetworkReadType], resolve: (n) => n.requests }),
    peers: t.field({ type: [PeerReadsType], resolve: (n) => n.peers }),
    bytes: t.exposeInt('bytes'),
    indexPeers: t.exposeInt('indexPeers'),
    catalogSeq: t.exposeInt('catalogSeq')
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
    reads: t.field({ type: [ListReadType], resolve: (p) => p.reads }),
    network: t.field({ type: NetworkPlanType, nullable: true, description: 'Null on an embedded peer.', resolve: (p) => (p as NetworkQueryPlan).network ?? null })
  })
})
