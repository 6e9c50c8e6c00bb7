/** The tree-pattern language: parse, print, evaluate on one document. */
export type { Axis, NodeTest, Step, PathExpr, CompareOp, CompareExpr, FunctionName, FunctionExpr, AndExpr, OrExpr, NotExpr, Expr, Query } from './ast.ts'
export { parseQuery, MAX_QUERY_LENGTH, MAX_QUERY_DEPTH } from './parse.ts'
export { formatQuery, formatExpr, formatPath } from './format.ts'
export { evaluateOnDocument, evaluatePath, evaluateExprOn, hasAnswer, stepAccepts, testMatches, leafHolds, xsNumber } from './evaluate.ts'
