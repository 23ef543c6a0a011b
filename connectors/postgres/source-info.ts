import { registerSourceSchema } from '../../avro/codec.js'
import { COMMON_SOURCE_FIELDS } from '../../avro/source-fields.js'
import type { SnapshotMarker } from '../../pipeline/event.js'
import { VERSION } from '../../pipeline/version.js'

/**
 * The `source` block of Postgres events, the same fields as Debezium's
 * `io.debezium.connector.postgresql.Source` plus Sluice's `position`:
 *
 * ```json
 * { "version": "0.1.0", "connector": "postgresql", "name": "shop", "ts_ms": 1763712000123,
 *   "snapshot": "false", "db": "shop", "sequence": "[\"22700056\",\"22700152\"]",
 *   "schema": "public", "table": "accounts", "txId": 771, "lsn": 22700152, "xmin": null,
 *   "position": "00000000015A5F78.1.000000000002" }
 * ```
 *
 * `lsn` is the LSN of the change itself (Debezium's meaning); `position` is the resume
 * coordinate (commit LSN + index, see position.ts). In snapshot events `txId` and `lsn`
 * are those of the snapshot's consistent point.
 */
export const POSTGRES_SOURCE_SCHEMA = {
  type: 'record',
  name: 'Source',
  namespace: 'io.debezium.connector.postgresql',
  fields: [
    ...COMMON_SOURCE_FIELDS,
    { name: 'sequence', type: ['null', 'string'], default: null },
    { name: 'schema', type: 'string' },
    { name: 'table', type: 'string' },
    { name: 'txId', type: ['null', 'long'], default: null },
    { name: 'lsn', type: ['null', 'long'], default: null },
    { name: 'xmin', type: ['null', 'long'], default: null },
    { name: 'position', type: 'string' },
  ],
  'connect.name': 'io.debezium.connector.postgresql.Source',
} as const

registerSourceSchema('postgresql', POSTGRES_SOURCE_SCHEMA)

/** Fields of a Postgres `source` block. */
export interface PostgresSourceBlock {
  version: string
  connector: 'postgresql'
  name: string
  ts_ms: number
  snapshot: SnapshotMarker
  db: string
  sequence: string | null
  schema: string
  table: string
  txId: number | null
  lsn: number | null
  xmin: number | null
  position: string
  [field: string]: unknown
}

/** Builds a Postgres `source` block. */
export function postgresSource(
  name: string,
  db: string,
  schema: string,
  table: string,
  tsMs: number,
  snapshot: SnapshotMarker,
  txId: number | null,
  lsn: number | null,
  position: string,
): PostgresSourceBlock {
  return {
    version: VERSION,
    connector: 'postgresql',
    name,
    ts_ms: tsMs,
    snapshot,
    db,
    sequence: null,
    schema,
    table,
    txId,
    lsn,
    xmin: null,
    position,
  }
}
