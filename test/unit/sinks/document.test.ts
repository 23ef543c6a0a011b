import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { ColumnSchema, TableSchema } from '../../../pipeline/schema.js'
import { keyString, toDocument } from '../../../sinks/document.js'

const col = (name: string, avro: ColumnSchema['avro']): ColumnSchema => ({
  name,
  sourceType: 'x',
  nullable: true,
  avro,
  fromText: (t) => t,
})

const table: TableSchema = {
  connector: 'postgresql',
  db: 'd',
  schema: 'public',
  table: 't',
  version: 1,
  keyColumns: ['a', 'b'],
  columns: [
    col('a', 'string'),
    col('b', { type: 'int', 'connect.name': 'io.debezium.time.Date' }),
    col('price', {
      type: 'bytes',
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      'connect.parameters': { scale: '2' },
    }),
    col('at', { type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }),
    col('ms', { type: 'long', 'connect.name': 'io.debezium.time.Timestamp' }),
    col('tz', { type: 'long', logicalType: 'timestamp-micros' }),
    col('t', { type: 'long', 'connect.name': 'io.debezium.time.MicroTime' }),
    col('big', 'long'),
    col('raw', 'bytes'),
    col('n', ['null', 'double']),
  ],
}

test('documents render dates, times, timestamps, decimals and bytes faithfully', () => {
  const doc = toDocument(table, {
    a: 'x',
    b: -1,
    price: Buffer.from([0xfb, 0x1e]),
    at: 1_700_000_000_123_456,
    ms: 86_400_001,
    tz: -1n,
    t: 3_600_000_001n,
    big: 2n ** 63n - 1n,
    raw: Buffer.from('hi'),
    n: null,
  })
  assert.deepEqual(doc, {
    a: 'x',
    b: '1969-12-31',
    price: '-12.50',
    at: '2023-11-14T22:13:20.123456',
    ms: '1970-01-02T00:00:00.001000',
    tz: '1969-12-31T23:59:59.999999Z',
    t: '01:00:00.000001',
    big: '9223372036854775807',
    raw: 'aGk=',
    n: null,
  })
})

test('key strings join key columns with : and escape separators so keys never collide', () => {
  assert.equal(keyString(table, { a: 'a:b', b: 0 }), 'a\\:b:1970-01-01')
  assert.notEqual(keyString(table, { a: 'a:b', b: 1 }), keyString(table, { a: 'a', b: 1 }))
  assert.equal(keyString(table, { a: 'p\\q', b: 1 }), 'p\\\\q:1970-01-02')
})
