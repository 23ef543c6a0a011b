import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { crc32 } from 'node:zlib'
import {
  BinlogDecodeError,
  BinlogDecoder,
  binlogFileEvents,
} from '../../../../../connectors/mysql/binlog/index.js'
import { prng as rng } from '../../../../prng.js'

// Corrupt input must end in a BinlogDecodeError naming the event, never a TypeError,
// RangeError or a hang. Mutated events get a fixed-up size and CRC so the body parsers,
// not just the CRC check, see the damage.

const file = readFileSync(new URL('../../../../fixtures/binlog/mariadb-10.11/binlog.000001', import.meta.url))
const events = [...binlogFileEvents(file)].map((e) => Buffer.from(e.bytes))

/** A decoder that has decoded every event before index `i` (so TABLE_MAPs are cached). */
function decoderBefore(i: number): BinlogDecoder {
  const d = new BinlogDecoder()
  for (let j = 0; j < i; j++) d.decode(events[j]!)
  return d
}

/** Rewrites event_size and the CRC32 of a (mutated) event. */
function fixUp(ev: Buffer): Buffer {
  ev.writeUInt32LE(ev.length, 9)
  if (ev[4] !== 15) ev.writeUInt32LE(crc32(ev.subarray(0, ev.length - 4)), ev.length - 4)
  return ev
}

/** Decodes and returns 'ok' or 'error'; anything but a BinlogDecodeError fails the test. */
function attempt(d: BinlogDecoder, ev: Buffer, what: string): 'ok' | 'error' {
  try {
    d.decode(ev)
    return 'ok'
  } catch (err) {
    if (!(err instanceof BinlogDecodeError)) assert.fail(`${what}: ${(err as Error).stack}`)
    return 'error'
  }
}

describe('robustness', () => {
  test('truncated events (size and CRC fixed up) throw BinlogDecodeError with the position', () => {
    const d = decoderBefore(events.length)
    let errors = 0
    for (let i = 1; i < events.length; i++) {
      const ev = events[i]!
      for (let cut = 19; cut < ev.length - 4; cut += Math.max(1, (ev.length >> 4) | 0)) {
        const t = fixUp(Buffer.concat([ev.subarray(0, cut), Buffer.alloc(4)]))
        if (attempt(d, t, `event ${i} cut at ${cut}`) === 'error') errors++
      }
      // A plain truncation (header size left as is) is always an error.
      const err = (() => {
        try {
          d.decode(ev.subarray(0, ev.length - 1))
        } catch (e) {
          return e
        }
        return null
      })()
      assert.ok(err instanceof BinlogDecodeError)
      assert.equal(err.logPos, ev.readUInt32LE(13))
      assert.equal(err.eventType, ev[4])
    }
    assert.ok(errors > 100, `${errors} truncations rejected`)
  })

  test('every single-bit flip in an event fails the CRC check', () => {
    for (const i of [17, 18, 20]) {
      const ev = events[i]!
      const d = decoderBefore(i)
      for (let bit = 0; bit < ev.length * 8; bit += 3) {
        const m = Buffer.from(ev)
        m[bit >> 3] = m[bit >> 3]! ^ (1 << (bit & 7))
        assert.equal(attempt(d, m, `event ${i} bit ${bit}`), 'error')
      }
    }
  })

  test('seeded fuzz: mutated bodies decode or throw BinlogDecodeError', () => {
    const next = rng(20261121)
    const decoders = new Map<number, BinlogDecoder>()
    let ok = 0
    let failed = 0
    for (let iter = 0; iter < 4000; iter++) {
      const i = 1 + Math.floor(next() * (events.length - 1))
      let d = decoders.get(i)
      if (d === undefined) {
        d = decoderBefore(i)
        decoders.set(i, d)
      }
      const m = Buffer.from(events[i]!)
      const flips = 1 + Math.floor(next() * 4)
      for (let k = 0; k < flips; k++) {
        const p = 19 + Math.floor(next() * (m.length - 23))
        m[p] = Math.floor(next() * 256)
      }
      if (attempt(d, fixUp(m), `fuzz ${iter} event ${i}`) === 'ok') ok++
      else failed++
      // Mutated TABLE_MAPs may have replaced cache entries: restore the state now and then.
      if (iter % 50 === 0) decoders.clear()
    }
    assert.ok(ok > 0 && failed > 0, `${ok} decoded, ${failed} rejected`)
  })

  test('random bytes with a consistent header throw BinlogDecodeError or decode', () => {
    const next = rng(7)
    const d = decoderBefore(events.length)
    for (let iter = 0; iter < 2000; iter++) {
      const len = 19 + 4 + Math.floor(next() * 200)
      const m = Buffer.alloc(len)
      for (let p = 0; p < len; p++) m[p] = Math.floor(next() * 256)
      // Event types the decoder interprets, most of the time.
      if (next() < 0.8)
        m[4] = [2, 4, 15, 16, 19, 23, 24, 25, 27, 29, 30, 33, 35, 40, 160, 161, 162, 163, 165, 166][
          iter % 20
        ]!
      attempt(d, fixUp(m), `random ${iter}`)
    }
  })

  test('a file cut mid-event is reported at the event offset', () => {
    const cut = file.subarray(0, file.length - 10)
    assert.throws(
      () => {
        for (const _ of binlogFileEvents(cut)) void _
      },
      (err: unknown) => err instanceof BinlogDecodeError && err.logPos > 4,
    )
  })
})
