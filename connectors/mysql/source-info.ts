import { registerSourceSchema } from '../../avro/codec.js'
import { COMMON_SOURCE_FIELDS } from '../../avro/source-fields.js'
import type { SnapshotMarker } from '../../pipeline/event.js'
import { VERSION } from '../../pipeline/version.js'

/**
 * The `source` block of MySQL/MariaDB events: the fields of Debezium's
 * `io.debezium.connector.mysql.Source`, plus `schema` (the database again, for the
 * source-agnostic event model) and Sluice's `position`:
 *
 * ```json
 * { "version": "0.1.0", "connector": "mysql", "name": "shop", "ts_ms": 1763712000000,
 *   "snapshot": "false", "db": "shop", "sequence": null, "schema": "shop", "table": "orders",
 *   "server_id": 1, "gtid": "0-1-24420", "file": "binlog.000007", "pos": 49583801, "row": 2,
 *   "thread": null, "query": null,
 *   "position": "0000000007.0000000049583801.1.000000000002;binlog.000007;0-1-24420" }
 * ```
 *
 * `pos` is the offset of the transaction's first event (its GTID event), `row` the row's
 * index in the transaction; `ts_ms` is the binlog event time (seconds precision). In
 * snapshot events `file`/`pos` are the snapshot's binlog coordinates.
 */
export const MYSQL_SOURCE_SCHEMA = {
  type: 'record',
  name: 'Source',
  namespace: 'io.debezium.connector.mysql',
  fields: [
    ...COMMON_SOURCE_FIELDS,
    { name: 'sequence', type: ['null', 'string'], default: null },
    { name: 'schema', type: 'string' },
    { name: 'table', type: ['null', 'string'], default: null },
    { name: 'server_id', type: 'long' },
    { name: 'gtid', type: ['null', 'string'], default: null },
    { name: 'file', type: 'string' },
    { name: 'pos', type: 'long' },
    { name: 'row', type: 'int' },
    { name: 'thread', type: ['null', 'long'], default: null },
    { name: 'query', type: ['null', 'string'], default: null },
    { name: 'position', type: 'string' },
  ],
  'connect.name': 'io.debezium.connector.mysql.Source',
} as const

registerSourceSchema('mysql', MYSQL_SOURCE_SCHEMA)

/** Fields of a MySQL `source` block. */
export interface MysqlSourceBlock {
  version: string
  connector: 'mysql'
  name: string
  ts_ms: number
  snapshot: SnapshotMarker
  db: string
  sequence: null
  schema: string
  table: string
  server_id: number
  gtid: string | null
  file: string
  pos: number
  row: number
  thread: number | null
  query: null
  position: string
  [field: string]: unknown
}

/** Builds a MySQL `source` block. */
export function mysqlSource(
  name: string,
  db: string,
  table: string,
  tsMs: number,
  snapshot: SnapshotMarker,
  serverId: number,
  gtid: string | null,
  file: string,
  pos: number,
  row: number,
  thread: number | null,
  position: string,
): MysqlSourceBlock {
  return {
    version: VERSION,
    connector: 'mysql',
    name,
    ts_ms: tsMs,
    snapshot,
    db,
    sequence: null,
    schema: db,
    table,
    server_id: serverId,
    gtid,
    file,
    pos,
    row,
    thread,
    query: null,
    position,
  }
}
