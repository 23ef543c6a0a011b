import type { RejectedRow } from './dead-letter.js'
import type { TableSchema } from './schema.js'

/** Debezium operation codes: create, update, delete, read (snapshot), truncate. */
export type Op = 'c' | 'u' | 'd' | 'r' | 't'

/** `source.snapshot`: `true` during a snapshot, `last` on its final event, `false` when streaming. */
export type SnapshotMarker = 'true' | 'last' | 'false' | 'incremental'

/** A row: column name → Avro value as produced by ColumnSchema.fromText (null for SQL NULL). */
export type Row = Record<string, unknown>

/** `transaction` block of the envelope. */
export interface TransactionInfo {
  /** Postgres: `<txId>:<commit LSN>`; MySQL: the GTID or `file:pos`. */
  readonly id: string
  /** 1-based position of the event among all events of the transaction. */
  readonly total_order: number
  /** 1-based position of the event among the transaction's events for the same table. */
  readonly data_collection_order: number
}

/**
 * One committed row change (or snapshot read, or truncate) in the shape of DESIGN.md's
 * change event. The envelope fields (`before`, `after`, `source`, `transaction`, `op`,
 * `ts_ms`) carry the envelope's own names, so an event can be Avro-encoded as the Envelope
 * record directly, without building a second object per event. `source` is the connector's complete `source` block (see the connector's
 * source-info.ts); it always includes `position`.
 */
export interface ChangeEvent {
  readonly op: Op
  readonly table: TableSchema
  /** Key columns of the row (from `after`, or `before` for deletes); null when the table has no key. */
  readonly key: Row | null
  readonly before: Row | null
  readonly after: Row | null
  /** The resume coordinate: sortable string, totally ordered per source. Same as `source.position`. */
  readonly position: string
  /** Complete `source` block, matching the connector's Source Avro record. */
  readonly source: SourceBlock
  readonly transaction: TransactionInfo | null
  /** When Sluice processed the event (envelope `ts_ms`). */
  readonly ts_ms: number
  /**
   * Per-event destination override, set by the `route` transform (transforms/route.ts);
   * absent when no route applies. Each field, when present, replaces the sink's own
   * setting of the same name for this event only, and is a template in that setting's
   * language (`${prefix}`, `${schema}`, `${table}`, `${key}`, a column name), filled by the
   * sink per event exactly as it fills its configured template:
   * - `topic`: the Kafka sink's `topic`;
   * - `index`: the Elasticsearch sink's `index`;
   * - `key`: the Redis sink's key template (and any sink's document/record key template).
   * A sink without the matching setting ignores the field (the file sink ignores `route`).
   */
  readonly route?: EventRoute
  /**
   * Set by the `unwrap` transform (transforms/unwrap.ts, Debezium's ExtractNewRecordState):
   * the sink writes `unwrapped.row`, a flat record of `unwrapped.schema` (encode it with
   * `codecFor(unwrapped.schema, avro).valueSchema`), instead of the envelope. The row is
   * `after` (or `before` for a delete, or the key columns when the delete has no old
   * image) plus `__op`, `__table`, `__position` and `__deleted` (`"true"` for deletes,
   * else `"false"`). The key is unchanged (`key`, `table`'s Key schema). A sink that
   * honours it keeps its own delete handling: Kafka keeps tombstones as configured (the
   * rewritten delete record, then the tombstone when `tombstones` is on).
   */
  readonly unwrapped?: UnwrappedRow
}

/** ChangeEvent.route: destination templates overriding the sink's own for one event. */
export interface EventRoute {
  readonly topic?: string
  readonly index?: string
  readonly key?: string
}

/** ChangeEvent.unwrapped: the flat record a sink writes instead of the envelope. */
export interface UnwrappedRow {
  /** Derived table schema of the flat record: the table's columns plus the `__` fields. */
  readonly schema: TableSchema
  readonly row: Row
}

/** The `source` block: common fields plus connector-specific ones (txId, lsn, gtid, file, pos...). */
export interface SourceBlock {
  readonly version: string
  readonly connector: 'postgresql' | 'mysql'
  readonly name: string
  readonly ts_ms: number
  readonly snapshot: SnapshotMarker
  readonly db: string
  readonly schema: string
  readonly table: string
  readonly position: string
  readonly [field: string]: unknown
}

/**
 * A batch the source hands to the pipeline. `checkpoint` is the position the pipeline may
 * acknowledge once every event of this batch (and of all earlier batches) is durable in
 * every sink. It is >= the position of the last event and may belong to no event at all
 * (end of a transaction, end of a snapshot, an empty transaction or a heartbeat), so a
 * batch can have zero events.
 */
export interface ChangeBatch {
  readonly events: readonly ChangeEvent[]
  readonly checkpoint: string
  /** Approximate size in memory of the batch's row data, for the in-flight byte cap. */
  readonly bytes: number
  /**
   * Transactions whose commit falls in this batch, in commit order (streaming only; absent
   * when none). A transaction's events may have been spread over this and earlier batches;
   * sinks that publish transaction boundaries (Kafka's `<prefix>.transaction` topic) emit
   * its END from this.
   */
  readonly transactions?: readonly TransactionSummary[]
  /**
   * Rows of this batch's range that the source could not convert (a permanent EncodeError
   * of one value), in position order; absent when none. They are not among `events`. The
   * runner applies the pipeline's `on_error` to them before the batch goes to the sinks, so
   * the position never moves past a rejected row before its policy is applied (durably).
   * Only sources created with SourceContext.rejectRows produce them.
   */
  readonly rejected?: readonly RejectedRow[]
}

/** A committed transaction with at least one captured event: Debezium's END record. */
export interface TransactionSummary {
  /** Same as the events' `transaction.id`. */
  readonly id: string
  /** Events of the transaction (all tables). */
  readonly event_count: number
  /** Events per table, in first-seen order; `data_collection` is `schema.table` (Postgres) or `db.table` (MySQL). */
  readonly data_collections: readonly { readonly data_collection: string; readonly event_count: number }[]
  /** Commit time at the source (milliseconds since the epoch). */
  readonly ts_ms: number
}

/**
 * A transaction's END summary from its per-table event counts (keyed by schema version;
 * versions of one table are summed under its name).
 */
export function summarizeTransaction(
  id: string,
  tsMs: number,
  eventCount: number,
  perTable: ReadonlyMap<TableSchema, number>,
  collection: (t: TableSchema) => string,
): TransactionSummary {
  const counts = new Map<string, number>()
  for (const [t, n] of perTable) {
    const name = collection(t)
    counts.set(name, (counts.get(name) ?? 0) + n)
  }
  return {
    id,
    event_count: eventCount,
    data_collections: [...counts].map(([data_collection, event_count]) => ({ data_collection, event_count })),
    ts_ms: tsMs,
  }
}
