/**
 * Random patterns over the vocabulary of the test documents, for a
 * differential run that reaches combinations no one writes by hand (`.`
 * after attributes, `//@x//.`, text() in the middle of a path, literals on
 * the left, deep and/or/not mixes). Seeded, so failures reproduce.
 */
export function mulberry32 (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ELEMENTS = ['package', 'name', 'depends', 'dep', 'anyOf', 'tags', 'tag', 'description', 'summary', 'size', 'installedSize', 'checksum', 'version', 'section', 'release', 'collection', 'em', '*']
const ATTRIBUTES = ['name', 'op', 'version', 'type', 'arch', '*']
const STRINGS = ['vim', 'libc6', 'role::program', 'editors', 'amd64', 'all', '', '2.34', '>=', 'trixie', 'sha256', 'lib', 'python3-', 'GNU', "it's"]
const NUMBERS = ['0', '5', '168', '1000000', '2.3', '-1', '.5', '3966', '2']
const WORDS = ['editor', 'library', 'vim', 'python', 'program', 'gnu', 'small', 'utilities', 'σοφιας', 'éditeur']
const OPS = ['=', '!=', '<', '<=', '>', '>=']

export function randomPattern (rnd: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]
  const quote = (s: string): string => s.includes('"') ? `'${s}'` : `"${s}"`

  const step = (depth: number): string => {
    const r = rnd()
    let s = r < 0.6 ? pick(ELEMENTS) : r < 0.75 ? '@' + pick(ATTRIBUTES) : r < 0.87 ? 'text()' : '.'
    if (depth < 3) while (rnd() < 0.25) s += `[${expr(depth + 1)}]`
    return s
  }
  const path = (depth: number, top: boolean): string => {
    let s = top ? pick(['/', '//', '//', '']) : pick(['', '', './', './/'])
    const n = 1 + Math.floor(rnd() * (top ? 3 : 2))
    for (let i = 0; i < n; i++) s += (i > 0 ? pick(['/', '//']) : '') + step(depth)
    return s
  }
  const expr = (depth: number): string => {
    const r = rnd()
    if (depth >= 3 || r < 0.2) return path(depth, false)
    if (r < 0.45) {
      const op = pick(OPS)
      const lit = op === '=' || op === '!=' ? (rnd() < 0.6 ? quote(pick(STRINGS)) : pick(NUMBERS)) : pick(NUMBERS)
      return rnd() < 0.8 ? `${path(depth, false)} ${op} ${lit}` : `${lit} ${op} ${path(depth, false)}`
    }
    if (r < 0.6) return `${pick(['contains', 'starts-with'])}(${path(depth, false)}, ${quote(pick(STRINGS))})`
    if (r < 0.7) return `contains-word(${path(depth, false)}, ${quote(pick(WORDS))})`
    if (r < 0.78) return `not(${expr(depth + 1)})`
    if (r < 0.86) return `(${expr(depth + 1)})`
    return `${expr(depth + 1)} ${pick(['and', 'or'])} ${expr(depth + 1)}`
  }
  return path(0, true)
}
