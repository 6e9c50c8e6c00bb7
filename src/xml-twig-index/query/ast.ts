/**
 * Abstract syntax of the edos tree-pattern language (abbreviated XPath 1.0,
 * DESIGN.md "Query language"). The parser produces it, the DOM evaluator and
 * the postings evaluator both consume it.
 *
 * A `//` between steps is XPath's `/descendant-or-self::node()/`; the parser
 * folds it into the next step's axis, so `a//b` is a step `b` on the
 * `descendant` axis and `a//@x` an attribute step on the `descendant` axis
 * (attributes of `a` or of any element below `a`).
 */
export type Axis = 'child' | 'descendant' | 'self'

export type NodeTest =
  | { kind: 'element', name: string } // name or '*'
  | { kind: 'attribute', name: string } // name or '*'
  | { kind: 'text' } // text()
  | { kind: 'node' } // '.' (self::node())

export interface Step {
  axis: Axis
  test: NodeTest
  predicates: Expr[]
  /** 0-based offset of the step in the pattern text, for error messages and explain. */
  offset: number
}

export interface PathExpr {
  type: 'path'
  /** true when the path starts at the document root (`/` or `//`). */
  absolute: boolean
  steps: Step[]
}

export type CompareOp = '=' | '!=' | '<' | '<=' | '>' | '>='

export interface CompareExpr {
  type: 'compare'
  op: CompareOp
  /** The node-set side; a comparison is existential over its nodes. */
  path: PathExpr
  /** Literal side: a string literal or a number. */
  value: string | number
}

export type FunctionName = 'contains' | 'starts-with' | 'contains-word'

export interface FunctionExpr {
  type: 'function'
  name: FunctionName
  path: PathExpr
  /** The literal argument (for contains-word, the token; matched lower-cased). */
  arg: string
}

export interface AndExpr { type: 'and', left: Expr, right: Expr }
export interface OrExpr { type: 'or', left: Expr, right: Expr }
export interface NotExpr { type: 'not', arg: Expr }

export type Expr = PathExpr | CompareExpr | FunctionExpr | AndExpr | OrExpr | NotExpr

/** A parsed pattern: the answer is the node set of the last step of `path`. */
export interface Query {
  source: string
  path: PathExpr
}
