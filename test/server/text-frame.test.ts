/**
 * The fan-out's pre-framed text messages (textFrame in
 * src/server/fan-out.ts) are byte for byte what ws's own sender frames for
 * a server, at each payload length class of RFC 6455 5.2.
 */
import { describe, expect, it } from 'vitest'
import * as ws from 'ws'
import { textFrame } from '../../src/server/frames.ts'

/** ws's Sender (exported by ws, not by its types). */
const Sender = (ws as unknown as { Sender: { frame: (data: Buffer, options: Record<string, unknown>) => Buffer[] } }).Sender

function wsFrame (text: Buffer): Buffer {
  const parts = Sender.frame(text, { fin: true, rsv1: false, opcode: 1, mask: false, readOnly: true })
  return Buffer.concat(parts)
}

describe('textFrame', () => {
  for (const n of [0, 1, 125, 126, 127, 65_535, 65_536, 70_000]) {
    it(`frames a ${n}-byte message as ws does`, () => {
      const text = Buffer.alloc(n, 0x61)
      const cut = Math.min(n, 37) // a member's prefix, then the shared body
      const ours = Buffer.from(textFrame(text.subarray(0, cut), text.subarray(cut)))
      const theirs = wsFrame(text)
      // Headers compared as values (a readable diff), the whole by bytes (a deep compare of 64 KiB is slow).
      expect(ours.subarray(0, 10)).toEqual(theirs.subarray(0, 10))
      expect(ours.equals(theirs)).toBe(true)
    })
  }
})
