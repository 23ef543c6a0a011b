import type { Type } from 'avsc'
import { compileSchema } from '../../avro/codec.js'
import type { TransactionSummary } from '../../pipeline/event.js'
import type { AvroSchema } from '../../pipeline/schema.js'

/**
 * Debezium's transaction metadata records (`<prefix>.transaction` topic), one BEGIN before
 * a transaction's first event and one END after its last:
 *
 *   key:   {"id": "571:0/16B6F40"}
 *   value: {"status": "BEGIN", "id": "571:0/16B6F40", "event_count": null,
 *           "data_collections": null, "ts_ms": 1700000000000}
 *          {"status": "END", "id": "571:0/16B6F40", "event_count": 2,
 *           "data_collections": [{"data_collection": "public.orders", "event_count": 2}],
 *           "ts_ms": 1700000000000}
 */
export const TRANSACTION_KEY_SCHEMA: AvroSchema = {
  type: 'record',
  name: 'TransactionMetadataKey',
  namespace: 'io.debezium.connector.common',
  fields: [{ name: 'id', type: 'string' }],
  'connect.name': 'io.debezium.connector.common.TransactionMetadataKey',
}

/** Value schema of the transaction topic (Debezium `TransactionMetadataValue`). */
export const TRANSACTION_VALUE_SCHEMA: AvroSchema = {
  type: 'record',
  name: 'TransactionMetadataValue',
  namespace: 'io.debezium.connector.common',
  fields: [
    { name: 'status', type: 'string' },
    { name: 'id', type: 'string' },
    { name: 'event_count', type: ['null', 'long'], default: null },
    {
      name: 'data_collections',
      type: [
        'null',
        {
          type: 'array',
          items: {
            type: 'record',
            name: 'ConnectDefault',
            namespace: 'io.confluent.connect.avro',
            fields: [
              { name: 'data_collection', type: 'string' },
              { name: 'event_count', type: 'long' },
            ],
          },
        },
      ],
      default: null,
    },
    { name: 'ts_ms', type: 'long' },
  ],
  'connect.name': 'io.debezium.connector.common.TransactionMetadataValue',
}

/** Compiled transaction schemas. */
export const transactionKeyType: Type = compileSchema(TRANSACTION_KEY_SCHEMA)
/** Compiled transaction value schema. */
export const transactionValueType: Type = compileSchema(TRANSACTION_VALUE_SCHEMA)

/** A transaction topic record value. */
export interface TransactionRecord {
  status: 'BEGIN' | 'END'
  id: string
  event_count: number | null
  data_collections: { data_collection: string; event_count: number }[] | null
  ts_ms: number
}

/** The BEGIN record of a transaction first seen at source time `tsMs`. */
export function beginRecord(id: string, tsMs: number): TransactionRecord {
  return { status: 'BEGIN', id, event_count: null, data_collections: null, ts_ms: tsMs }
}

/** The END record of a committed transaction. */
export function endRecord(s: TransactionSummary): TransactionRecord {
  return {
    status: 'END',
    id: s.id,
    event_count: s.event_count,
    data_collections: s.data_collections.map((d) => ({ ...d })),
    ts_ms: s.ts_ms,
  }
}
