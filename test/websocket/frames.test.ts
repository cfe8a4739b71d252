// The close watcher against frames made by the `ws` library's own framer (masked and not, every
// length encoding, control frames between data frames), cut at random points as TCP may cut them:
// it finds the first Close frame's code wherever the cuts fall, and never one that is not there.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import * as ws from 'ws'
import fc from 'fast-check'
import { CloseWatch } from '../../src/websocket/frames.js'

interface FrameOptions { fin: boolean, rsv1: boolean, opcode: number, mask: boolean, readOnly: boolean }
const Sender = (ws as unknown as { Sender: { frame: (data: Buffer, o: FrameOptions) => Buffer[] } }).Sender

function frame (opcode: number, payload: Buffer, mask: boolean): Buffer {
  return Buffer.concat(Sender.frame(payload, { fin: true, rsv1: false, opcode, mask, readOnly: false }))
}

function closePayload (code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason))
  b.writeUInt16BE(code, 0)
  b.write(reason, 2)
  return b
}

function scanIn (bytes: Buffer, cuts: number[]): CloseWatch {
  const w = new CloseWatch()
  let at = 0
  for (const c of [...cuts].sort((a, b) => a - b)) {
    w.scan(bytes.subarray(at, c))
    at = c
  }
  w.scan(bytes.subarray(at))
  return w
}

test('the first Close frame\'s code, whatever the lengths, masking and cuts', () => {
  fc.assert(fc.property(
    fc.array(fc.record({ opcode: fc.constantFrom(1, 2, 9, 10), size: fc.constantFrom(0, 1, 125, 126, 127, 65535, 65536, 70000) }), { maxLength: 6 }),
    fc.boolean(),
    fc.integer({ min: 1000, max: 4999 }),
    fc.array(fc.nat(), { maxLength: 12 }),
    (before, mask, code, cutsRaw) => {
      const parts = before.map((f) => frame(f.opcode, f.opcode >= 8 ? randomBytes(Math.min(f.size, 125)) : randomBytes(f.size), mask))
      parts.push(frame(8, closePayload(code, 'bye'), mask), frame(8, closePayload(1001), mask))
      const bytes = Buffer.concat(parts)
      const w = scanIn(bytes, cutsRaw.map((c) => c % (bytes.length + 1)))
      assert.equal(w.code, code)
    }
  ), { numRuns: 300 })
})

test('a Close frame without a body is 1005; no Close frame, no code', () => {
  assert.equal(scanIn(frame(8, Buffer.alloc(0), true), [1]).code, 1005)
  const data = Buffer.concat([frame(1, Buffer.from('hello'), true), frame(2, randomBytes(70000), false)])
  assert.equal(scanIn(data, [3, 9, 100]).code, undefined)
})
