import { InvalidDocumentError } from '../errors.ts'
import type { Checksum } from './types.ts'

/**
 * Field checks shared by the document builders. Every failure is an
 * InvalidDocumentError naming the unit (its id when name, version and arch
 * are known, else its name) and the field, so that an importer can report
 * the one bad unit and go on with the others.
 */

/** Longest text accepted in one field: documents are bounded so that no single one can swamp a peer. */
export const MAX_FIELD_LENGTH = 1 << 20

/** Digest lengths in hex characters, by checksum type. */
export const CHECKSUM_HEX_LENGTH: Readonly<Record<string, number>> = { md5: 32, sha1: 40, sha256: 64, sha512: 128 }

// Cheap screen first: the exact check (surrogate pairing) only runs on strings that contain a suspect code unit.
const SUSPECT = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/
const IDENT_BAD = /[\s/]/
const HEX = /^[0-9a-fA-F]+$/

/**
 * A copy of `s` that shares no memory with the string it was cut from. V8
 * keeps substrings (13+ characters) as views of their parent: an id cut
 * from a 30 KB chunk of an index keeps the whole chunk alive for as long as
 * the id lives (and release compositions keep every id). Concatenating then
 * slicing forces a flat copy of just these characters.
 */
export function detach (s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1)
}

/** Index of the first character XML 1.0 cannot represent (C0 controls but tab/LF/CR, U+FFFE/FFFF, lone surrogates), or -1. */
export function illegalXmlCharAt (s: string): number {
  if (!SUSPECT.test(s)) return -1
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x20) {
      if (c !== 0x09 && c !== 0x0A && c !== 0x0D) return i
    } else if (c >= 0xD800 && c <= 0xDBFF) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (d < 0xDC00 || d > 0xDFFF) return i
      i++
    } else if ((c >= 0xDC00 && c <= 0xDFFF) || c === 0xFFFE || c === 0xFFFF) {
      return i
    }
  }
  return -1
}

function codePoint (s: string, i: number): string {
  return 'U+' + s.charCodeAt(i).toString(16).toUpperCase().padStart(4, '0')
}

/** Validates the fields of one unit; `unit` is the label errors carry. */
export class FieldChecker {
  constructor (readonly unit: string) {}

  fail (field: string, message: string): never {
    throw new InvalidDocumentError(this.unit, field, message)
  }

  /** Any text: bounded, and representable in XML. */
  text (field: string, value: unknown): string {
    if (typeof value !== 'string') this.fail(field, `must be a string, got ${typeof value}`)
    if (value.length > MAX_FIELD_LENGTH) this.fail(field, `is ${value.length} characters long, more than the ${MAX_FIELD_LENGTH} allowed`)
    const at = illegalXmlCharAt(value)
    if (at >= 0) this.fail(field, `contains ${codePoint(value, at)} at offset ${at}, which XML cannot represent`)
    return value
  }

  /** Optional text: undefined and '' both mean absent (the element is omitted). */
  optionalText (field: string, value: unknown): string | undefined {
    if (value == null || value === '') return undefined
    return this.text(field, value)
  }

  /** Identifier parts (name, version, arch): they form ids `pkg/name/version/arch`, so no '/' and no whitespace. */
  identifier (field: string, value: unknown, required = true): string | undefined {
    if (value == null || value === '') {
      if (required) this.fail(field, 'missing')
      return undefined
    }
    const s = this.text(field, value)
    if (IDENT_BAD.test(s)) this.fail(field, `${JSON.stringify(s)} must not contain whitespace or '/'`)
    return s
  }

  count (field: string, value: unknown, required = false): number | undefined {
    if (value == null) {
      if (required) this.fail(field, 'missing')
      return undefined
    }
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      this.fail(field, `must be a non-negative integer, got ${String(value)}`)
    }
    return value
  }

  checksum (field: string, value: Checksum | undefined, required = false): Checksum | undefined {
    if (value == null) {
      if (required) this.fail(field, 'missing')
      return undefined
    }
    const type = typeof value.type === 'string' ? value.type.toLowerCase() : ''
    const length = CHECKSUM_HEX_LENGTH[type]
    if (length == null) this.fail(field, `unknown checksum type ${JSON.stringify(value.type)} (expected sha256, sha1, md5 or sha512)`)
    const hex = typeof value.value === 'string' ? value.value : ''
    if (hex.length !== length || !HEX.test(hex)) {
      this.fail(field, `${type} digest must be ${length} hex digits, got ${JSON.stringify(hex.slice(0, 140))}`)
    }
    // Lower case so that equal digests compare (and index) equal.
    return { type, value: hex.toLowerCase() }
  }

  textList (field: string, values: unknown): string[] {
    if (values == null) return []
    if (!Array.isArray(values)) this.fail(field, 'must be a list of strings')
    for (const v of values) {
      if (v === '') this.fail(field, 'contains an empty entry')
      this.text(field, v)
    }
    return values as string[]
  }
}
