import assert from 'node:assert/strict'
import { test } from 'node:test'
import avro from 'avsc'
import '../../../connectors/postgres/source-info.js'
import { postgresSource } from '../../../connectors/postgres/source-info.js'
import { codecFor, compileReaderSchema, wideLong } from '../../../avro/codec.js'
import type { ChangeEvent } from '../../../pipeline/event.js'
import type { TableSchema } from '../../../pipeline/schema.js'

const vsd = () => ({
  type: 'record',
  name: 'VariableScaleDecimal',
  namespace: 'io.debezium.data',
  fields: [
    { name: 'scale', type: 'int' },
    { name: 'value', type: 'bytes' },
  ],
  'connect.name': 'io.debezium.data.VariableScaleDecimal',
})

const table: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'prices-2024',
  columns: [
    { name: 'id', sourceType: 'int8', nullable: false, avro: wideLong(), fromText: (t) => BigInt(t) },
    { name: 'a', sourceType: 'numeric', nullable: true, avro: vsd(), fromText: (t) => t },
    { name: 'b', sourceType: 'numeric', nullable: false, avro: vsd(), fromText: (t) => t },
  ],
  keyColumns: ['id'],
  version: 1,
}

test('a named type used by two columns is defined once and referenced after', () => {
  const c = codecFor(table, { types: 'debezium', prefix: 'shop', unsupported: 'fail' })
  const value = c.valueSchema as { fields: { name: string; type: unknown }[] }
  assert.equal(c.namespace, 'shop.public.prices_2024', 'invalid name characters become _')
  assert.equal(typeof (value.fields[1]!.type as unknown[])[1], 'object')
  assert.equal(value.fields[2]!.type, 'io.debezium.data.VariableScaleDecimal')
  const ev: ChangeEvent = {
    op: 'c',
    table,
    key: { id: -9223372036854775808n },
    before: null,
    after: {
      id: -9223372036854775808n,
      a: { scale: 1, value: Buffer.from([1]) },
      b: { scale: 0, value: Buffer.from([2]) },
    },
    position: '0000000000000001.1.000000000000',
    source: postgresSource(
      'shop',
      'shop',
      'public',
      'prices-2024',
      1,
      'false',
      7,
      1,
      '0000000000000001.1.000000000000',
    ),
    transaction: { id: '7:1', total_order: 1, data_collection_order: 1 },
    ts_ms: 2,
  }
  const buf = c.encodeEnvelope(ev)
  const back = compileReaderSchema(JSON.parse(JSON.stringify(c.envelopeSchema))).fromBuffer(buf) as {
    after: { id: bigint; b: { scale: number } }
    transaction: { total_order: number }
  }
  assert.equal(back.after.id, -9223372036854775808n, 'int8 extremes survive as bigint')
  assert.equal(back.after.b.scale, 0)
  assert.equal(back.transaction.total_order, 1)
  assert.ok(c.encodeKey(ev)!.length > 0)
})

test('wide longs round-trip exactly at every magnitude, as numbers when safe and bigints otherwise', () => {
  const t = compileReaderSchema({ type: 'record', name: 'R', fields: [{ name: 'v', type: 'long' }] })
  const values: (number | bigint)[] = [
    0,
    -1,
    1,
    2 ** 31,
    -(2 ** 48),
    2 ** 49,
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    9007199254740993n,
    -9007199254740993n,
    9223372036854775807n,
    -9223372036854775808n,
  ]
  for (const v of values) {
    const back = (t.fromBuffer(t.toBuffer({ v })) as { v: number | bigint }).v
    assert.equal(typeof back, typeof v, `type of ${v}`)
    assert.equal(back, v)
  }
  // The same bytes as a plain avsc long for safe values (wire compatibility).
  const plain = compileReaderSchema('long')
  assert.deepEqual(plain.toBuffer(-123456789), Buffer.from([0xa9, 0xb4, 0xde, 0x75]))
})

test('a nullable wide long accepts bigints and numbers in an unwrapped union', () => {
  const t = compileReaderSchema(['null', 'long'])
  for (const v of [null, 1, -(2 ** 60) as unknown as number, -9223372036854775808n]) {
    const val = typeof v === 'number' && !Number.isSafeInteger(v) ? BigInt(-(2 ** 60)) : v
    assert.ok(t.isValid(val), `valid: ${String(val)}`)
    assert.equal(t.fromBuffer(t.toBuffer(val)), val)
  }
})

test('columns whose names are not Avro names get adjusted field names; rows keep the column names', () => {
  const text = (name: string, nullable = true) => ({
    name,
    sourceType: 'text',
    nullable,
    avro: 'string',
    fromText: (t: string) => t,
  })
  const odd: TableSchema = {
    connector: 'postgresql',
    db: 'shop',
    schema: 'public',
    table: 'odd',
    columns: [text('unit price', false), text('prénom'), text('2nd'), text('a_b'), text('a b'), text('ok')],
    keyColumns: ['unit price'],
    version: 1,
  }
  const c = codecFor(odd, { types: 'debezium', prefix: 'shop', unsupported: 'fail' })
  const fields = (c.valueSchema as { fields: { name: string }[] }).fields.map((f) => f.name)
  assert.deepEqual(fields, ['unit_price', 'pr_nom', '_2nd', 'a_b', 'a_b_2', 'ok'])
  const keyFields = (c.keySchema as { fields: { name: string }[] }).fields.map((f) => f.name)
  assert.deepEqual(keyFields, ['unit_price'])

  const row = { 'unit price': 'u1', prénom: 'Zoë', '2nd': 'two', a_b: 'x', 'a b': 'y', ok: null }
  const ev: ChangeEvent = {
    op: 'u',
    table: odd,
    key: { 'unit price': 'u1' },
    before: { ...row, ok: 'old' },
    after: row,
    position: '0000000000000001.1.000000000000',
    source: postgresSource(
      'shop',
      'shop',
      'public',
      'odd',
      1,
      'false',
      7,
      1,
      '0000000000000001.1.000000000000',
    ),
    transaction: null,
    ts_ms: 1,
  } as ChangeEvent
  const bytes = c.keyedType.toBuffer(ev)
  // An independent reader with only the published schema sees the adjusted names.
  const plain = avro.Type.forSchema(c.keyedSchema as avro.Schema, { wrapUnions: false })
  const rec = plain.fromBuffer(bytes) as Record<string, Record<string, unknown> | null>
  assert.deepEqual(
    { ...rec.after },
    {
      unit_price: 'u1',
      pr_nom: 'Zoë',
      _2nd: 'two',
      a_b: 'x',
      a_b_2: 'y',
      ok: null,
    },
  )
  assert.deepEqual(
    { ...rec.before },
    {
      unit_price: 'u1',
      pr_nom: 'Zoë',
      _2nd: 'two',
      a_b: 'x',
      a_b_2: 'y',
      ok: 'old',
    },
  )
  assert.deepEqual({ ...rec.key }, { unit_price: 'u1' })
  // Sluice's own types read rows back under the column names; the key encodes on its own too.
  const back = c.keyedType.fromBuffer(bytes) as Record<string, unknown>
  assert.deepEqual(back.after, row)
  assert.deepEqual(c.keyType!.fromBuffer(c.encodeKey(ev)!), { 'unit price': 'u1' })
  assert.deepEqual(
    (c.envelopeType.fromBuffer(c.encodeEnvelope({ ...ev, before: null })) as { before: unknown }).before,
    null,
  )
})
