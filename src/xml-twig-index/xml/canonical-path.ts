import type { XNode } from './tree.ts'

/**
 * Canonical path of a node, as DESIGN.md fixes it: each step with its
 * 1-based position among same-named element siblings, text nodes counted
 * among their text siblings, attributes by name:
 * `/package[1]/depends[1]/dep[3]/@name`, `/package[1]/section[1]/text()[1]`.
 */
export function canonicalPath (node: XNode): string {
  const steps: string[] = []
  let n: XNode | null = node
  while (n != null) {
    const parent: XNode | null = n.parent
    if (n.kind === 'attribute') {
      steps.push(`@${n.name}`)
    } else if (parent == null) {
      steps.push(`${n.kind === 'text' ? 'text()' : n.name}[1]`)
    } else {
      let pos = 0
      for (const s of parent.children) {
        if (s.kind === n.kind && (s.kind === 'text' || s.name === (n as { name: string }).name)) pos++
        if (s === n) break
      }
      steps.push(`${n.kind === 'text' ? 'text()' : n.name}[${pos}]`)
    }
    n = parent
  }
  return '/' + steps.reverse().join('/')
}
