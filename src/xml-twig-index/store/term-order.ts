/**
 * Puts a run's terms in the byte order of their UTF-8 bytes (the order of
 * LevelDB keys, so of summary groups). Terms are interned as prefix +
 * suffix (writer.ts): the suffixes of each prefix are sorted with the
 * engine's native string sort (a comparator function costs twice as much
 * on R1's ~850,000 terms) and the prefixes' lists are then merged in order.
 * Most prefixes are not prefixes of one another (`v:name=`, `e:package`),
 * so the merge is a concatenation except for the few that are (`w:`, `w:@`).
 *
 * UTF-8 byte order is code point order. JavaScript string order is UTF-16
 * code unit order, which differs only for characters outside the BMP
 * (surrogates sort below U+E000..U+FFFF): `astral` holds the prefixes
 * with such a term, whose suffixes are then compared by code point.
 */
export function compareCodePoints (a: string, b: string): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i); let y = b.charCodeAt(i)
    if (x === y) continue
    // Move surrogates above U+E000..U+FFFF (code point order); other code units keep their order.
    if (x >= 0xd800) x += x >= 0xe000 ? -0x800 : 0x2000
    if (y >= 0xd800) y += y >= 0xe000 ? -0x800 : 0x2000
    return x - y
  }
  return a.length - b.length
}

/**
 * Term ids of `dictionary` (prefix -> suffix -> id) for which `wanted(id)`
 * holds, in byte order of prefix + suffix.
 */
export function sortedTermIds (dictionary: ReadonlyMap<string, ReadonlyMap<string, number>>, wanted: (id: number) => boolean, count: number, astral: ReadonlySet<string>): Uint32Array {
  const prefixes = [...dictionary.keys()].sort(compareCodePoints)
  const out = new Uint32Array(count)
  let k = 0
  // A cluster: prefixes that each start with the first one; their terms interleave.
  for (let i = 0; i < prefixes.length;) {
    let j = i + 1
    while (j < prefixes.length && prefixes[j].startsWith(prefixes[i])) j++
    if (j === i + 1) {
      k = appendSorted(dictionary.get(prefixes[i])!, wanted, astral.has(prefixes[i]), out, k)
    } else {
      // Rare: sort the cluster's whole terms together.
      const terms: Array<[string, number]> = []
      for (let p = i; p < j; p++) {
        for (const [s, id] of dictionary.get(prefixes[p])!) if (wanted(id)) terms.push([prefixes[p] + s, id])
      }
      terms.sort((x, y) => compareCodePoints(x[0], y[0]))
      for (const [, id] of terms) out[k++] = id
    }
    i = j
  }
  return out.subarray(0, k)
}

function appendSorted (bySuffix: ReadonlyMap<string, number>, wanted: (id: number) => boolean, astral: boolean, out: Uint32Array, k: number): number {
  const suffixes: string[] = []
  for (const [s, id] of bySuffix) if (wanted(id)) suffixes.push(s)
  if (astral) suffixes.sort(compareCodePoints)
  else suffixes.sort()
  for (const s of suffixes) out[k++] = bySuffix.get(s)!
  return k
}
