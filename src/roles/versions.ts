/**
 * Version ordering for the two package worlds edos carries: Debian (dpkg's
 * algorithm) and RPM (rpmvercmp over epoch:version-release). Relations
 * (`libc6 (>= 2.34)`) and `package(name)` without a version both need a
 * total order that agrees with the package managers, not a string sort.
 */
import type { PackageRecord, RelationInfo } from './types.ts'

export type VersionScheme = 'debian' | 'rpm'
export type VersionOp = NonNullable<RelationInfo['op']>

const isDigit = (c: number): boolean => c >= 48 && c <= 57
const isAlpha = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)

/** Code unit at i, 0 past the end (C string semantics keep the ports close to the originals). */
const at = (s: string, i: number): number => i < s.length ? s.charCodeAt(i) : 0

/** dpkg's order(): digits 0 (handled apart), letters themselves, '~' before everything, other chars after letters. */
function dpkgOrder (c: number): number {
  if (isDigit(c)) return 0
  if (isAlpha(c)) return c
  if (c === 126) return -1 // '~'
  if (c !== 0) return c + 256
  return 0
}

/** dpkg's verrevcmp: alternating non-digit and digit runs. */
function verrevcmp (a: string, b: string): number {
  let i = 0; let j = 0
  while (i < a.length || j < b.length) {
    let firstDiff = 0
    while ((i < a.length && !isDigit(at(a, i))) || (j < b.length && !isDigit(at(b, j)))) {
      const ac = dpkgOrder(at(a, i)); const bc = dpkgOrder(at(b, j))
      if (ac !== bc) return ac - bc
      i++; j++
    }
    while (at(a, i) === 48) i++
    while (at(b, j) === 48) j++
    while (isDigit(at(a, i)) && isDigit(at(b, j))) {
      if (firstDiff === 0) firstDiff = at(a, i) - at(b, j)
      i++; j++
    }
    if (isDigit(at(a, i))) return 1
    if (isDigit(at(b, j))) return -1
    if (firstDiff !== 0) return firstDiff
  }
  return 0
}

interface Evr { epoch: number, version: string, release?: string }

/** `[epoch:]upstream[-revision]`: the epoch is before the first ':', the revision after the last '-'. */
function parseEvr (v: string): Evr {
  const s = v.trim()
  const colon = s.indexOf(':')
  let epoch = 0
  let rest = s
  if (colon > 0 && /^\d+$/.test(s.slice(0, colon))) { epoch = Number(s.slice(0, colon)); rest = s.slice(colon + 1) }
  const dash = rest.lastIndexOf('-')
  return dash >= 0 ? { epoch, version: rest.slice(0, dash), release: rest.slice(dash + 1) } : { epoch, version: rest }
}

const sign = (n: number): number => n < 0 ? -1 : n > 0 ? 1 : 0

/** Debian version comparison (dpkg --compare-versions): -1, 0 or 1. A missing revision equals "0", as in dpkg. */
export function compareDebian (a: string, b: string): number {
  const x = parseEvr(a); const y = parseEvr(b)
  if (x.epoch !== y.epoch) return sign(x.epoch - y.epoch)
  return sign(verrevcmp(x.version, y.version)) || sign(verrevcmp(x.release ?? '', y.release ?? ''))
}

const rpmSep = (c: number): boolean => c !== 0 && !isDigit(c) && !isAlpha(c) && c !== 126 && c !== 94

/** rpm's rpmvercmp on one version (or release) string, with the `~` (pre-release) and `^` (post-release snapshot) rules. */
export function rpmvercmp (a: string, b: string): number {
  if (a === b) return 0
  let i = 0; let j = 0
  while (i < a.length || j < b.length) {
    while (rpmSep(at(a, i))) i++
    while (rpmSep(at(b, j))) j++
    const ca = at(a, i); const cb = at(b, j)
    if (ca === 126 || cb === 126) { // '~' sorts before everything, even the end
      if (ca !== 126) return 1
      if (cb !== 126) return -1
      i++; j++; continue
    }
    if (ca === 94 || cb === 94) { // '^' sorts after the end but before anything else
      if (ca === 0) return -1
      if (cb === 0) return 1
      if (ca !== 94) return 1
      if (cb !== 94) return -1
      i++; j++; continue
    }
    if (ca === 0 || cb === 0) break
    let ei = i; let ej = j
    const numeric = isDigit(ca)
    const inSeg = numeric ? isDigit : isAlpha
    while (inSeg(at(a, ei))) ei++
    while (inSeg(at(b, ej))) ej++
    // Segments of different types: numeric is newer than alpha.
    if (ej === j) return numeric ? 1 : -1
    let sa = a.slice(i, ei); let sb = b.slice(j, ej)
    if (numeric) {
      sa = sa.replace(/^0+/, ''); sb = sb.replace(/^0+/, '')
      if (sa.length !== sb.length) return sa.length > sb.length ? 1 : -1
    }
    if (sa !== sb) return sa < sb ? -1 : 1
    i = ei; j = ej
  }
  if (i >= a.length && j >= b.length) return 0
  return i >= a.length ? -1 : 1
}

/**
 * RPM EVR comparison. The release is compared only when both sides have
 * one: a requirement `>= 1.0` holds for `1.0-3`, as in rpm's dependency
 * matching.
 */
export function compareRpm (a: string, b: string): number {
  const x = parseEvr(a); const y = parseEvr(b)
  if (x.epoch !== y.epoch) return sign(x.epoch - y.epoch)
  const v = rpmvercmp(x.version, y.version)
  if (v !== 0 || x.release === undefined || y.release === undefined) return v
  return rpmvercmp(x.release, y.release)
}

export function compareVersions (a: string, b: string, scheme: VersionScheme): number {
  return scheme === 'rpm' ? compareRpm(a, b) : compareDebian(a, b)
}

/** Whether `candidate op wanted` holds (`<<` and `>>` are strict, Debian spelling; RPM's LT..GT map onto them). */
export function satisfies (candidate: string, op: VersionOp, wanted: string, scheme: VersionScheme): boolean {
  const c = compareVersions(candidate, wanted, scheme)
  switch (op) {
    case '<<': return c < 0
    case '<=': return c <= 0
    case '=': return c === 0
    case '>=': return c >= 0
    case '>>': return c > 0
  }
}

/** RPM documents carry `<epoch>`/`<release>` or a location ending in .rpm; anything else is Debian. */
export function schemeOf (pkg: Pick<PackageRecord, 'epoch' | 'release' | 'location'>): VersionScheme {
  if (pkg.epoch !== undefined || pkg.release !== undefined) return 'rpm'
  return pkg.location?.endsWith('.rpm') === true ? 'rpm' : 'debian'
}
