import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { codecFor } from '../../../avro/codec.js'
import { decimalString, envelopeToJson, jsonValue } from '../../../avro/json.js'
import { makePosition } from '../../../connectors/postgres/position.js'
import { postgresSource } from '../../../connectors/postgres/source-info.js'
import type { ChangeEvent } from '../../../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../../../pipeline/schema.js'
import type { AvroOptions } from '../../../pipeline/source.js'

const AVRO: AvroOptions = { types: 'debezium', prefix: 'shop', unsupported: 'fail' }

/** Big-endian two's complement, minimal length: the Avro/Kafka Connect decimal byte form. */
function unscaled(n: bigint): Buffer {
  let hex = (n < 0n ? (1n << 256n) + n : n).toString(16)
  if (hex.length % 2) hex = '0' + hex
  let b = Buffer.from(hex, 'hex')
  if (n < 0n) {
    let i = 0
    while (i < b.length - 1 && b[i] === 0xff && (b[i + 1]! & 0x80) !== 0) i++
    b = b.subarray(i)
  } else if ((b[0]! & 0x80) !== 0) b = Buffer.concat([Buffer.from([0]), b])
  return b
}

const DECIMAL_10_2: AvroSchema = {
  type: 'bytes',
  'connect.version': 1,
  'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
}
const VARIABLE_DECIMAL: AvroSchema = {
  type: 'record',
  name: 'VariableScaleDecimal',
  namespace: 'io.debezium.data',
  fields: [
    { name: 'scale', type: 'int' },
    { name: 'value', type: 'bytes' },
  ],
  'connect.name': 'io.debezium.data.VariableScaleDecimal',
}

function col(name: string, avro: AvroSchema, nullable = false): TableSchema['columns'][number] {
  return { name, sourceType: 'x', nullable, avro, fromText: (t) => t }
}

const TABLE: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'orders',
  version: 1,
  keyColumns: ['id'],
  columns: [
    col('id', 'long'),
    col('note', 'string', true),
    col('amount', DECIMAL_10_2, true),
    col('ratio', VARIABLE_DECIMAL, true),
    col('raw', 'bytes', true),
    col('tags', { type: 'array', items: 'string' }, true),
    col('ok', 'boolean'),
  ],
}

function event(
  after: Record<string, unknown> | null,
  before: Record<string, unknown> | null = null,
): ChangeEvent {
  const position = makePosition(0x15a5f78n, '1', 1)
  return {
    op: after ? (before ? 'u' : 'c') : 'd',
    table: TABLE,
    key: { id: (after ?? before)!.id },
    before,
    after,
    position,
    source: postgresSource(
      'shop',
      'shop',
      'public',
      'orders',
      1763712000123,
      'false',
      771,
      22700152,
      position,
    ),
    transaction: { id: '771:22700152', total_order: 1, data_collection_order: 1 },
    ts_ms: 1763712000456,
  }
}

describe('decimalString', () => {
  it('renders two’s complement unscaled values exactly with the scale applied', () => {
    assert.equal(decimalString(unscaled(-1250n), 2), '-12.50')
    assert.equal(decimalString(unscaled(1250n), 2), '12.50')
    assert.equal(decimalString(unscaled(5n), 3), '0.005')
    assert.equal(decimalString(unscaled(-5n), 3), '-0.005')
    assert.equal(decimalString(Buffer.alloc(0), 2), '0.00')
    assert.equal(decimalString(unscaled(0n), 0), '0')
    assert.equal(decimalString(unscaled(128n), 0), '128') // needs a leading 0x00 byte
    assert.equal(decimalString(unscaled(-128n), 0), '-128') // a single 0x80 byte
    assert.equal(decimalString(unscaled(12n), -2), '1200')
    const big = 123456789012345678901234567890123456789n
    assert.equal(decimalString(unscaled(-big), 10), '-12345678901234567890123456789.0123456789')
  })
})

describe('envelopeToJson', () => {
  it('renders the envelope with decimals as strings, bytes as base64 and unions unwrapped', () => {
    const codec = codecFor(TABLE, AVRO)
    const after = {
      id: 7,
      note: null,
      amount: unscaled(-1250n),
      ratio: { scale: 3, value: unscaled(31416n) },
      raw: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
      tags: ['a', 'b'],
      ok: true,
    }
    const before = { ...after, amount: unscaled(99n), note: 'old' }
    const json = envelopeToJson(codec, event(after, before))
    assert.deepEqual(json.after, {
      id: 7,
      note: null,
      amount: '-12.50',
      ratio: '31.416',
      raw: '3q2+7w==',
      tags: ['a', 'b'],
      ok: true,
    })
    assert.deepEqual((json.before as Record<string, unknown>).amount, '0.99')
    assert.equal((json.before as Record<string, unknown>).note, 'old')
    assert.equal(json.op, 'u')
    assert.equal(json.ts_ms, 1763712000456)
    assert.deepEqual(json.transaction, { id: '771:22700152', total_order: 1, data_collection_order: 1 })
    const source = json.source as Record<string, unknown>
    assert.equal(source.connector, 'postgresql')
    assert.equal(source.position, makePosition(0x15a5f78n, '1', 1))
    assert.equal(source.snapshot, 'false')
    // Round-trips through JSON unchanged: nothing non-JSON left in it.
    assert.deepEqual(JSON.parse(JSON.stringify(json)), json)
  })

  it('renders a delete with after null and the old row in before', () => {
    const codec = codecFor(TABLE, AVRO)
    const row = { id: 1, note: 'x', amount: null, ratio: null, raw: null, tags: null, ok: false }
    const json = envelopeToJson(codec, event(null, row))
    assert.equal(json.after, null)
    assert.deepEqual(json.before, row)
    assert.equal(json.op, 'd')
  })
})

describe('jsonValue', () => {
  it('renders bigint longs as strings and keeps safe numbers', () => {
    assert.equal(jsonValue('long', 2n ** 63n - 1n), '9223372036854775807')
    assert.equal(jsonValue({ type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }, 12), 12)
    assert.equal(jsonValue('double', Number.NaN), 'NaN')
  })

  it('renders Avro logical decimals (bytes and fixed) by their scale attribute', () => {
    const bytes: AvroSchema = { type: 'bytes', logicalType: 'decimal', precision: 9, scale: 4 }
    assert.equal(jsonValue(bytes, unscaled(-31416n)), '-3.1416')
    const fixed: AvroSchema = {
      type: 'fixed',
      name: 'd',
      size: 4,
      logicalType: 'decimal',
      precision: 9,
      scale: 1,
    }
    assert.equal(jsonValue(fixed, Buffer.from([0, 0, 0, 0x7b])), '12.3')
    assert.equal(jsonValue({ type: 'fixed', name: 'f', size: 2 }, Buffer.from([1, 2])), 'AQI=')
  })

  it('resolves named references, including recursive ones, within the schema', () => {
    const node: AvroSchema = {
      type: 'record',
      name: 'Node',
      namespace: 'ns',
      fields: [
        { name: 'amount', type: DECIMAL_10_2 },
        { name: 'next', type: ['null', 'Node'] },
        { name: 'byMap', type: { type: 'map', values: ['null', 'ns.Node'] } },
      ],
    }
    const v = {
      amount: unscaled(100n),
      next: { amount: unscaled(-1n), next: null, byMap: {} },
      byMap: { k: { amount: unscaled(250n), next: null, byMap: {} } },
    }
    assert.deepEqual(jsonValue(node, v), {
      amount: '1.00',
      next: { amount: '-0.01', next: null, byMap: {} },
      byMap: { k: { amount: '2.50', next: null, byMap: {} } },
    })
  })

  it('picks the matching branch of a union with several non-null branches', () => {
    const u: AvroSchema = ['null', 'string', DECIMAL_10_2, { type: 'array', items: 'long' }]
    assert.equal(jsonValue(u, 'x'), 'x')
    assert.equal(jsonValue(u, unscaled(1n)), '0.01')
    assert.deepEqual(jsonValue(u, [1n, 2]), ['1', 2])
    assert.equal(jsonValue(u, null), null)
  })
})
