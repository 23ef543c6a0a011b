import { makePosition } from '../../../connectors/postgres/position.js'
import { postgresSource } from '../../../connectors/postgres/source-info.js'
import type { ChangeEvent, Row } from '../../../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../../../pipeline/schema.js'
import type { TransformConfig } from '../../../transforms/transform.js'
import { TRANSFORMS } from '../../../transforms/index.js'
import type { Transform } from '../../../transforms/transform.js'

/** Kafka Connect Decimal(10,2), as the Postgres connector maps numeric(10,2). */
export const DECIMAL_10_2: AvroSchema = {
  type: 'bytes',
  'connect.version': 1,
  'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
}

/** Big-endian two's complement of a small integer (the Connect Decimal byte form). */
export function unscaled(n: number): Buffer {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n)
  return b
}

/** `public.<name>`: id int4 key, status text not null, qty int8 nullable, price numeric(10,2), note text. */
export function accounts(name = 'accounts', version = 1): TableSchema {
  return {
    connector: 'postgresql',
    db: 'shop',
    schema: 'public',
    table: name,
    columns: [
      { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
      { name: 'status', sourceType: 'text', nullable: false, avro: 'string', fromText: String },
      { name: 'qty', sourceType: 'int8', nullable: true, avro: 'long', fromText: Number },
      { name: 'price', sourceType: 'numeric(10,2)', nullable: true, avro: DECIMAL_10_2, fromText: String },
      { name: 'note', sourceType: 'text', nullable: true, avro: 'string', fromText: String },
    ],
    keyColumns: ['id'],
    version,
  }
}

let seq = 0

/** An event of table `t`; `after` (or `before` for deletes) is the given row. */
export function event(
  t: TableSchema,
  op: ChangeEvent['op'],
  row: Row,
  before: Row | null = null,
): ChangeEvent {
  const index = ++seq
  const position = makePosition(0x2000n, '1', index)
  return {
    op,
    table: t,
    key: op === 't' ? null : { id: row.id },
    before: op === 'd' ? row : before,
    after: op === 'd' || op === 't' ? null : row,
    position,
    source: postgresSource('shop', 'shop', t.schema, t.table, 1763712000000, 'false', 7, 4096, position),
    transaction: { id: `7:${index}`, total_order: 1, data_collection_order: 1 },
    ts_ms: 1763712000500,
  }
}

/** A row of accounts(). */
export function row(id: number, status: string, qty: number | null, note: string | null = null): Row {
  return { id, status, qty, price: unscaled(id * 100 + 5), note }
}

/** Creates one transform from its (unvalidated) YAML-shaped config, validating it first. */
export function transform(
  config: Record<string, unknown>,
  where = 'test.yaml:1:1: transforms[0]',
): Transform {
  const entry = TRANSFORMS.find((e) => e.type === config.type)
  if (!entry) throw new Error(`no transform ${String(config.type)}`)
  const parsed = entry.config.parse(config) as TransformConfig
  return (entry as unknown as { create(c: TransformConfig, ctx: object): Transform }).create(parsed, {
    pipeline: 'shop',
    where,
  })
}
