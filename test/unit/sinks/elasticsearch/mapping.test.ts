import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { AvroSchema, ColumnSchema, TableSchema } from '../../../../pipeline/schema.js'
import { columnMapping, tableMappings } from '../../../../sinks/elasticsearch/mapping.js'

const col = (name: string, avro: AvroSchema): ColumnSchema => ({
  name,
  sourceType: 'x',
  nullable: true,
  avro,
  fromText: (t) => t,
})

const connectDecimal = (precision: number, scale: number): AvroSchema => ({
  type: 'bytes',
  scale,
  precision,
  'connect.version': 1,
  'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
  logicalType: 'decimal',
})

// One row per line of the README mapping table.
const rows: [string, AvroSchema, Record<string, unknown> | undefined][] = [
  ['boolean', 'boolean', { type: 'boolean' }],
  ['int', 'int', { type: 'integer' }],
  ['long', 'long', { type: 'long' }],
  ['float', 'float', { type: 'float' }],
  ['double', 'double', { type: 'double' }],
  ['string', 'string', { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } }],
  ['bytes', 'bytes', { type: 'binary' }],
  ['decimal(12,2)', connectDecimal(12, 2), { type: 'scaled_float', scaling_factor: 100 }],
  ['decimal(15,0)', connectDecimal(15, 0), { type: 'scaled_float', scaling_factor: 1 }],
  ['decimal(16,2)', connectDecimal(16, 2), { type: 'keyword' }],
  [
    'logical decimal(10,3)',
    { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 3 },
    { type: 'scaled_float', scaling_factor: 1000 },
  ],
  [
    'variable decimal',
    { type: 'record', name: 'V', fields: [], 'connect.name': 'io.debezium.data.VariableScaleDecimal' },
    { type: 'keyword' },
  ],
  ['Date', { type: 'int', 'connect.name': 'io.debezium.time.Date' }, { type: 'date' }],
  ['date', { type: 'int', logicalType: 'date' }, { type: 'date' }],
  ['Timestamp', { type: 'long', 'connect.name': 'io.debezium.time.Timestamp' }, { type: 'date' }],
  ['MicroTimestamp', { type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }, { type: 'date' }],
  ['ZonedTimestamp', { type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' }, { type: 'date' }],
  ['timestamp-micros', { type: 'long', logicalType: 'timestamp-micros' }, { type: 'date' }],
  ['local-timestamp-micros', { type: 'long', logicalType: 'local-timestamp-micros' }, { type: 'date' }],
  ['MicroTime', { type: 'long', 'connect.name': 'io.debezium.time.MicroTime' }, { type: 'keyword' }],
  ['time-micros', { type: 'long', logicalType: 'time-micros' }, { type: 'keyword' }],
  ['ZonedTime', { type: 'string', 'connect.name': 'io.debezium.time.ZonedTime' }, { type: 'keyword' }],
  ['Uuid', { type: 'string', 'connect.name': 'io.debezium.data.Uuid' }, { type: 'keyword' }],
  ['uuid', { type: 'string', logicalType: 'uuid' }, { type: 'keyword' }],
  ['Enum', { type: 'string', 'connect.name': 'io.debezium.data.Enum' }, { type: 'keyword' }],
  ['Json', { type: 'string', 'connect.name': 'io.debezium.data.Json' }, { type: 'text' }],
  ['Xml', { type: 'string', 'connect.name': 'io.debezium.data.Xml' }, { type: 'text' }],
  ['Year', { type: 'int', 'connect.name': 'io.debezium.time.Year' }, { type: 'integer' }],
  ['Bits', { type: 'bytes', 'connect.name': 'io.debezium.data.Bits' }, { type: 'binary' }],
  ['int array (nullable items)', { type: 'array', items: ['null', 'int'] }, { type: 'integer' }],
  [
    'date array',
    { type: 'array', items: { type: 'int', 'connect.name': 'io.debezium.time.Date' } },
    { type: 'date' },
  ],
  [
    'text array',
    { type: 'array', items: 'string' },
    { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
  ],
  [
    'geometry record',
    { type: 'record', name: 'G', fields: [], 'connect.name': 'io.debezium.data.geometry.Geometry' },
    undefined,
  ],
]

for (const [name, avro, expected] of rows) {
  test(`column type ${name} maps to ${expected ? JSON.stringify(expected) : 'dynamic mapping'}`, () => {
    assert.deepEqual(columnMapping(col('c', avro)), expected)
  })
}

test('index mappings list the columns with a mapping, by column name', () => {
  const table: TableSchema = {
    connector: 'postgresql',
    db: 'shop',
    schema: 'public',
    table: 'orders',
    version: 1,
    keyColumns: ['id'],
    columns: [
      col('id', 'long'),
      col('total', connectDecimal(10, 2)),
      col('geo', { type: 'record', name: 'G', fields: [] }),
    ],
  }
  assert.deepEqual(tableMappings(table), {
    properties: { id: { type: 'long' }, total: { type: 'scaled_float', scaling_factor: 100 } },
  })
})
