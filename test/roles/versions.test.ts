import { describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { compareDebian, compareRpm, rpmvercmp, satisfies, schemeOf } from '../../src/roles/versions.ts'

/** Each list is strictly increasing: every earlier element sorts before every later one. */
function expectAscending (cmp: (a: string, b: string) => number, list: string[]): void {
  for (let i = 0; i < list.length; i++) {
    expect(cmp(list[i], list[i]), `${list[i]} = itself`).toBe(0)
    for (let j = i + 1; j < list.length; j++) {
      expect(cmp(list[i], list[j]), `${list[i]} < ${list[j]}`).toBe(-1)
      expect(cmp(list[j], list[i]), `${list[j]} > ${list[i]}`).toBe(1)
    }
  }
}

describe('Debian versions (dpkg --compare-versions)', () => {
  it('orders ~ before the end, the end before +, and epochs first', () => {
    expectAscending(compareDebian, ['1.0~rc1', '1.0', '1.0+b1'])
    expectAscending(compareDebian, ['1.0~~', '1.0~~a', '1.0~', '1.0', '1.0a'])
    expect(compareDebian('2:1.0', '1:9')).toBe(1)
    expect(compareDebian('1:0.1', '9.9')).toBe(1)
    expectAscending(compareDebian, ['1.0-1', '1.0-1.1', '1.0-2', '1.0-10'])
  })

  it('compares digit runs numerically and letters before other characters', () => {
    expectAscending(compareDebian, ['1.2', '1.10', '1.100'])
    expect(compareDebian('1.002', '1.2')).toBe(0)
    expectAscending(compareDebian, ['1.0a', '1.0+', '1.0.1'])
    expect(compareDebian('1a', '1+')).toBe(-1) // letters sort before non-letters
    expectAscending(compareDebian, ['2.36-9', '2.36-9+deb12u1', '2.36-9+deb12u14', '2.37'])
    expectAscending(compareDebian, ['3.0.17-1~deb12u1', '3.0.17-1~deb12u2', '3.0.17-1'])
  })

  it('treats a missing revision as 0 and a missing epoch as 0', () => {
    expect(compareDebian('1.0', '1.0-0')).toBe(0)
    expect(compareDebian('0:1.0', '1.0')).toBe(0)
    expect(compareDebian('1.0', '1.0-1')).toBe(-1)
    // the revision starts after the LAST hyphen
    expect(compareDebian('1.0-beta-1', '1.0-beta-2')).toBe(-1)
  })

  it('agrees with real dpkg orderings of released packages', () => {
    expectAscending(compareDebian, ['1:9.2p1-2', '1:9.2p1-2+deb12u1', '1:9.2p1-2+deb12u7', '1:9.3p1-1'])
    expectAscending(compareDebian, ['20230311', '20230311+deb12u1', '20240203'])
    expect(compareDebian('2:9.0.1378-2', '9.1')).toBe(1)
  })
})

describe('RPM versions (rpmvercmp)', () => {
  it('handles ~ and ^', () => {
    expectAscending(rpmvercmp, ['1.0~rc1', '1.0', '1.0^git1', '1.0.1'])
    expectAscending(rpmvercmp, ['1.0~rc1', '1.0~rc2', '1.0'])
    expect(rpmvercmp('1.0^', '1.0')).toBe(1)
    expect(rpmvercmp('1.0^git1', '1.0^git2')).toBe(-1)
    expect(rpmvercmp('1.0^git1', '1.01')).toBe(-1)
  })

  it('compares alnum segments: numbers numerically, numbers newer than letters, separators ignored', () => {
    expectAscending(rpmvercmp, ['1.0', '1.0a', '1.1'])
    expect(rpmvercmp('1.0010', '1.9')).toBe(1)
    expect(rpmvercmp('1.05', '1.5')).toBe(0)
    expect(rpmvercmp('1.0', '1_0')).toBe(0)
    expect(rpmvercmp('2.0', '2a')).toBe(1) // numeric segment beats alpha
    expect(rpmvercmp('a', 'b')).toBe(-1)
    expect(rpmvercmp('1.0', '1.0.0')).toBe(-1)
    expect(rpmvercmp('5.5p1', '5.5p10')).toBe(-1)
    expect(rpmvercmp('xyz10', 'xyz10.1')).toBe(-1)
  })

  it('compares epoch:version-release, ignoring the release when one side has none', () => {
    expect(compareRpm('1:1.0-1', '2.0-1')).toBe(1)
    expect(compareRpm('1.0-1', '1.0-2')).toBe(-1)
    expect(compareRpm('1.0-10', '1.0-9')).toBe(1)
    expect(compareRpm('1.0-3', '1.0')).toBe(0)
    expect(compareRpm('1.1.1-1', '1.1.1-1')).toBe(0)
    expect(compareRpm('6.0.1-2', '6.0.1-2.fc39')).toBe(-1)
  })
})

describe('satisfies', () => {
  it('applies the five operators per scheme', () => {
    expect(satisfies('2.36-9+deb12u14', '>=', '2.34', 'debian')).toBe(true)
    expect(satisfies('2.36-9+deb12u14', '<<', '2.34', 'debian')).toBe(false)
    expect(satisfies('2.36', '>>', '2.36', 'debian')).toBe(false)
    expect(satisfies('2.36', '<=', '2.36', 'debian')).toBe(true)
    expect(satisfies('1:9.2p1-2+deb12u7', '=', '1:9.2p1-2+deb12u7', 'debian')).toBe(true)
    expect(satisfies('2.0.5', '>=', '2.0.5~', 'debian')).toBe(true)
    expect(satisfies('1.0-3', '>=', '1.0', 'rpm')).toBe(true)
    expect(satisfies('1.0-3', '=', '1.0', 'rpm')).toBe(true)
    expect(satisfies('1.0^git1', '>>', '1.0', 'rpm')).toBe(true)
    expect(satisfies('1.0~rc1', '<<', '1.0', 'rpm')).toBe(true)
  })

  it('picks the scheme from the document', () => {
    expect(schemeOf({ epoch: '0', release: '1' })).toBe('rpm')
    expect(schemeOf({ location: 'x-1.0-1.x86_64.rpm' })).toBe('rpm')
    expect(schemeOf({ location: 'pool/main/v/vim/vim_9.0_amd64.deb' })).toBe('debian')
    expect(schemeOf({})).toBe('debian')
  })
})

const hasDpkg = (() => { try { execFileSync('dpkg', ['--version'], { stdio: 'ignore' }); return true } catch { return false } })()

describe('oracle: the system dpkg', () => {
  it.skipIf(!hasDpkg)('agrees with dpkg --compare-versions on every pair', () => {
    const vs = ['1.0~rc1', '1.0', '1.0+b1', '2:1.0', '1.0-1.1', '1a', '1+', '1.0~~', '3.0.17-1~deb12u2']
    for (const a of vs) {
      for (const b of vs) {
        let expected = 1
        try { execFileSync('dpkg', ['--compare-versions', a, 'lt', b], { stdio: 'ignore' }); expected = -1 } catch {
          try { execFileSync('dpkg', ['--compare-versions', a, 'eq', b], { stdio: 'ignore' }); expected = 0 } catch {}
        }
        expect(compareDebian(a, b), `${a} vs ${b}`).toBe(expected)
      }
    }
  })
})
