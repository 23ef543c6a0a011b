import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  BinlogDecoder,
  EventType,
  jsonBinaryToText,
  PayloadCompression,
  PayloadField,
  type RowsEvent,
} from '../../../../../connectors/mysql/binlog/index.js'
import { event, fde, le, lenenc } from './build.js'
import { jsonBinary } from './json-encode.js'
import { docsTableMap, docsWriteRows, payloadInnerEvents, sid } from './mysql8-build.js'

// MySQL 8 cannot be installed here: these events are built from the documented layouts
// (mysql8-build.ts), the zstd payload is a committed fixture.

const UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562'

function mysql(): BinlogDecoder {
  const d = new BinlogDecoder()
  d.decode(fde('8.0.36', 1))
  return d
}

describe('mysql 8 events', () => {
  test('GTID_LOG with logical clock, commit timestamps, length and server versions', () => {
    const body = Buffer.concat([
      Buffer.from([1]),
      sid(UUID),
      le(23, 8),
      Buffer.from([2]),
      le(5, 8),
      le(6, 8),
      le(1_700_000_000_123_456n | (1n << 55n), 7),
      le(1_699_999_999_000_000n, 7),
      lenenc(1234),
      le(80036 | 0x80000000, 4),
      le(80030, 4),
    ])
    const g = mysql().decode(event(EventType.GtidLog, body))
    assert.ok(g.type === 'mysqlGtid')
    assert.equal(g.gtid, `${UUID}:23`)
    assert.equal(g.lastCommitted, 5n)
    assert.equal(g.sequenceNumber, 6n)
    assert.equal(g.immediateCommitTimestamp, 1_700_000_000_123_456n)
    assert.equal(g.originalCommitTimestamp, 1_699_999_999_000_000n)
    assert.equal(g.transactionLength, 1234)
    assert.equal(g.immediateServerVersion, 80036)
    assert.equal(g.originalServerVersion, 80030)
  })

  test('ANONYMOUS_GTID of an old server stops after the GNO', () => {
    const g = mysql().decode(
      event(EventType.AnonymousGtidLog, Buffer.concat([Buffer.from([1]), Buffer.alloc(16), le(0, 8)])),
    )
    assert.ok(g.type === 'mysqlGtid' && g.anonymous && g.gtid === '' && g.lastCommitted === null)
  })

  test('PREVIOUS_GTIDS', () => {
    const body = Buffer.concat([le(1, 8), sid(UUID), le(2, 8), le(1, 8), le(58, 8), le(60, 8), le(61, 8)])
    const p = mysql().decode(event(EventType.PreviousGtidsLog, body))
    assert.ok(p.type === 'previousGtids')
    assert.deepEqual(p.sets, [
      {
        sid: UUID,
        intervals: [
          [1n, 58n],
          [60n, 61n],
        ],
      },
    ])
  })

  test('ROWS_QUERY', () => {
    const q = mysql().decode(
      event(EventType.RowsQuery, Buffer.concat([Buffer.from([12]), Buffer.from('INSERT 1 row')])),
    )
    assert.ok(q.type === 'rowsQuery' && q.sql === 'INSERT 1 row')
  })

  test('rows v2 with partition extra data, binary JSON and a utf8mb4_0900 column', () => {
    const d = mysql()
    d.decode(docsTableMap(true))
    const e = d.decode(docsWriteRows(true)) as RowsEvent
    assert.equal(e.version, 2)
    assert.equal(e.partitionId, 3)
    assert.deepEqual(e.extraData, Buffer.from([1, 3, 0]))
    assert.deepEqual(e.rows[0]!.after, [18446744073709551615n, '{"k": 7, "list": ["x", true, null]}', 'né'])
  })

  test('TRANSACTION_PAYLOAD (zstd) returns its inner events decoded', () => {
    const fixture = JSON.parse(
      readFileSync(
        new URL('../../../../fixtures/binlog/mysql-8.0/transaction-payload.json', import.meta.url),
        'utf8',
      ),
    ) as { innerHex: string; zstdHex: string }
    const inner = payloadInnerEvents()
    assert.equal(inner.toString('hex'), fixture.innerHex, 'builder and fixture agree')
    const zstd = Buffer.from(fixture.zstdHex, 'hex')
    const field = (t: number, v: number): Buffer => {
      const value = lenenc(v)
      return Buffer.concat([lenenc(t), lenenc(value.length), value])
    }
    const body = Buffer.concat([
      field(PayloadField.CompressionType, PayloadCompression.Zstd),
      field(PayloadField.UncompressedSize, inner.length),
      field(PayloadField.PayloadSize, zstd.length),
      lenenc(PayloadField.End),
      zstd,
    ])
    const d = mysql()
    const p = d.decode(event(EventType.TransactionPayload, body))
    assert.ok(p.type === 'transactionPayload')
    assert.deepEqual(
      p.events.map((e) => e.type),
      ['query', 'tableMap', 'writeRows', 'xid'],
    )
    const rows = p.events[2] as RowsEvent
    assert.equal(rows.rows[0]!.after![1], '{"k": 7, "list": ["x", true, null]}')
    assert.ok(d.tables.has(42), 'inner TABLE_MAPs update the cache')
  })
})

describe('mysql binary JSON', () => {
  test('scalars of every type', () => {
    const cases: [Parameters<typeof jsonBinary>[0], string][] = [
      [null, 'null'],
      [true, 'true'],
      [{ int16: -5 }, '-5'],
      [{ uint16: 65535 }, '65535'],
      [{ int32: -2147483648 }, '-2147483648'],
      [{ uint32: 4294967295 }, '4294967295'],
      [{ int64: -9223372036854775808n }, '-9223372036854775808'],
      [{ uint64: 18446744073709551615n }, '18446744073709551615'],
      [{ double: 2.5 }, '2.5'],
      [{ double: 3 }, '3.0'],
      ['tab\t"quote" é', '"tab\\t\\"quote\\" é"'],
      ['x'.repeat(200), JSON.stringify('x'.repeat(200))],
    ]
    for (const [v, text] of cases) assert.equal(jsonBinaryToText(jsonBinary(v)), text)
    assert.equal(jsonBinaryToText(Buffer.alloc(0)), 'null')
  })

  test('small and large objects and arrays, nested, with inlined values', () => {
    const doc = {
      object: [
        ['a', { array: [{ int16: 1 }, { int32: 70000 }, { uint32: 5 }, 'two'], large: true }],
        ['b', { object: [['c', false]], large: true }],
        ['d', { array: [] }],
      ],
    } as const
    assert.equal(
      jsonBinaryToText(jsonBinary(doc as unknown as Parameters<typeof jsonBinary>[0])),
      '{"a": [1, 70000, 5, "two"], "b": {"c": false}, "d": []}',
    )
  })

  test('opaque DECIMAL, DATETIME, DATE, TIME and other types', () => {
    const decimal = Buffer.concat([Buffer.from([14, 4]), Buffer.from('810dfb38d204d2', 'hex')])
    // DATETIME 2026-11-21 08:05:12.5: ((ymd << 17 | hms) << 24) + µs.
    const ymd = ((2026 * 13 + 11) << 5) | 21
    const hms = (8 << 12) | (5 << 6) | 12
    const packed = ((BigInt(ymd) << 17n) | BigInt(hms)) << 24n
    const time = -((BigInt((1 << 12) | (2 << 6) | 3) << 24n) + 250000n)
    const doc = {
      array: [
        { opaque: [246, decimal] },
        { opaque: [12, le(packed + 500000n, 8)] },
        { opaque: [10, le(packed, 8)] },
        { opaque: [11, le(time, 8)] },
        { opaque: [252, Buffer.from('hi')] },
      ],
    } as const
    assert.equal(
      jsonBinaryToText(jsonBinary(doc as unknown as Parameters<typeof jsonBinary>[0])),
      '[1234567890.1234, "2026-11-21 08:05:12.500000", "2026-11-21", "-01:02:03.250000", "base64:type252:aGk="]',
    )
  })

  test('malformed documents throw instead of reading out of bounds', () => {
    const doc = jsonBinary({ object: [['key', 'value']] })
    for (let n = 1; n < doc.length; n++) assert.throws(() => jsonBinaryToText(doc.subarray(0, n)))
    assert.throws(() => jsonBinaryToText(Buffer.from([0x42])), /unknown value type/)
  })
})
