import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { comparePositions, formatPosition } from '../../../../connectors/mysql/position.js'
import { END, makePosition } from '../../../../connectors/postgres/position.js'
import { SinkError } from '../../../../pipeline/errors.js'
import { MAX_VERSION, mysqlVersion, postgresVersion } from '../../../../sinks/elasticsearch/version.js'

const unmappable = (fn: () => unknown, what: RegExp): void =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SinkError)
    assert.equal(err.code, 'ES_VERSION_UNMAPPABLE')
    assert.match(err.message, what)
    return true
  })

/** A small deterministic PRNG (xorshift32), so failures reproduce. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    return (s >>> 0) / 2 ** 32
  }
}

const mysqlPos = (seq: number, offset: number, phase: string, index: number): string =>
  formatPosition({ file: `binlog.${String(seq).padStart(6, '0')}`, offset, phase, index, gtid: '0-1-5' })

describe('postgres position → external version', () => {
  test('the version is the commit LSN, at both ends of the accepted range', () => {
    assert.equal(postgresVersion(makePosition(0n, '0', 0)), 0n)
    assert.equal(postgresVersion(makePosition(0x16_b374d848n, '1', 7)), 0x16_b374d848n)
    assert.equal(postgresVersion(makePosition(MAX_VERSION, '1', END)), MAX_VERSION)
    assert.equal(MAX_VERSION, 9_223_372_036_854_775_807n)
  })

  test('an LSN at or above 2^63 is an error naming the position, never a wrapped version', () => {
    const pos = makePosition(1n << 63n, '1', 0)
    unmappable(() => postgresVersion(pos), new RegExp(`'${pos}'.*2\\^63`))
    unmappable(() => postgresVersion(makePosition((1n << 64n) - 1n, '1', 0)), /2\^63/)
  })

  test('malformed positions are errors', () => {
    unmappable(() => postgresVersion('16/B374D848'), /not a postgres position/)
    unmappable(() => postgresVersion(mysqlPos(1, 4, '1', 0)), /not a postgres position/)
  })

  test('events of one transaction tie (any index, up to END); the next commit is strictly higher', () => {
    const lsn = 0xffff_ffff_0000n
    const v = postgresVersion(makePosition(lsn, '1', 0))
    assert.equal(postgresVersion(makePosition(lsn, '1', 999_999_999_998)), v)
    assert.equal(postgresVersion(makePosition(lsn, '1', END)), v)
    assert.ok(postgresVersion(makePosition(lsn + 1n, '1', 0)) > v)
  })

  test('snapshot rows (phase 0 at the consistent point) are below every later commit', () => {
    const point = 0x1_0000_0000n
    const snap = postgresVersion(makePosition(point, '0', 123_456))
    assert.ok(postgresVersion(makePosition(point + 1n, '1', 0)) > snap)
  })

  test('versions are non-decreasing in position order, strictly when the commit LSN differs', () => {
    const rand = rng(42)
    const positions: string[] = []
    for (let i = 0; i < 2000; i++) {
      // LSNs spread over the whole 63-bit range, with many collisions on purpose.
      const lsn = rand() < 0.3 ? BigInt(Math.floor(rand() * 50)) : BigInt(Math.floor(rand() * 2 ** 31)) << 32n
      positions.push(makePosition(lsn, rand() < 0.1 ? '0' : '1', Math.floor(rand() * 1e12)))
    }
    positions.sort()
    for (let i = 1; i < positions.length; i++) {
      const a = postgresVersion(positions[i - 1]!)
      const b = postgresVersion(positions[i]!)
      assert.ok(a <= b, `${positions[i - 1]} → ${a} > ${positions[i]} → ${b}`)
      if (positions[i - 1]!.slice(0, 16) !== positions[i]!.slice(0, 16)) assert.ok(a < b)
    }
  })
})

describe('mysql position → external version', () => {
  test('the version is file number × 2^32 + transaction offset, at both ends of the range', () => {
    assert.equal(mysqlVersion(mysqlPos(0, 0, '0', 0)), 0n)
    assert.equal(mysqlVersion(mysqlPos(1, 4, '1', 3)), (1n << 32n) + 4n)
    assert.equal(mysqlVersion(mysqlPos(2 ** 31 - 1, 2 ** 32 - 1, '1', END)), MAX_VERSION)
  })

  test('a file number ≥ 2^31 or an offset ≥ 2^32 is an error naming the position', () => {
    unmappable(() => mysqlVersion(mysqlPos(2 ** 31, 4, '1', 0)), /file number is at or above 2\^31/)
    unmappable(() => mysqlVersion(mysqlPos(7, 2 ** 32, '1', 0)), /offset is at or above 2\^32/)
    unmappable(() => mysqlVersion(mysqlPos(9_999_999_999, 2 ** 53 - 1, '1', 0)), /binlog\.9999999999/)
  })

  test('malformed positions are errors', () => {
    unmappable(() => mysqlVersion('binlog.000001:4'), /not a mysql position/)
    unmappable(() => mysqlVersion(makePosition(5n, '1', 0)), /not a mysql position/)
  })

  test('rows of one transaction tie; file rollover orders after the largest offset', () => {
    const v = mysqlVersion(mysqlPos(3, 1_000, '1', 0))
    assert.equal(mysqlVersion(mysqlPos(3, 1_000, '1', 5_000_000)), v)
    assert.ok(mysqlVersion(mysqlPos(3, 1_001, '1', 0)) > v)
    assert.ok(mysqlVersion(mysqlPos(4, 4, '1', 0)) > mysqlVersion(mysqlPos(3, 2 ** 32 - 1, '1', END)))
  })

  test('snapshot rows at the snapshot point are not above the first streamed transaction', () => {
    const snap = mysqlVersion(mysqlPos(12, 5_000, '0', 99_999))
    assert.ok(mysqlVersion(mysqlPos(12, 5_000, '1', 0)) >= snap)
    assert.ok(mysqlVersion(mysqlPos(12, 5_001, '1', 0)) > snap)
  })

  test('versions are non-decreasing in position order, strictly when the transaction differs', () => {
    const rand = rng(7)
    const positions: string[] = []
    for (let i = 0; i < 2000; i++) {
      const seq = rand() < 0.5 ? Math.floor(rand() * 4) : Math.floor(rand() * (2 ** 31 - 1))
      const offset = rand() < 0.3 ? Math.floor(rand() * 8) : Math.floor(rand() * 2 ** 32)
      positions.push(mysqlPos(seq, offset, rand() < 0.1 ? '0' : '1', Math.floor(rand() * 1e12)))
    }
    positions.sort(comparePositions)
    for (let i = 1; i < positions.length; i++) {
      const a = mysqlVersion(positions[i - 1]!)
      const b = mysqlVersion(positions[i]!)
      assert.ok(a <= b, `${positions[i - 1]} → ${a} > ${positions[i]} → ${b}`)
      if (positions[i - 1]!.slice(0, 27) !== positions[i]!.slice(0, 27)) assert.ok(a < b)
    }
  })
})
