/** An Avro schema in its JSON form (a primitive name, a complex type object, or a union). */
export type AvroSchema = string | { readonly [attr: string]: unknown } | readonly AvroSchema[]

/**
 * Source-agnostic description of a captured table, built by a connector from its own
 * metadata (pgoutput Relation + catalog; MySQL TABLE_MAP). The avro/ layer derives the
 * Key, Value and Envelope schemas from it. A new object is built whenever the table's
 * shape changes, with a higher `version`; consumers may cache per object identity.
 */
export interface TableSchema {
  /** Connector kind, as in `source.connector`. */
  readonly connector: 'postgresql' | 'mysql'
  /** Database name (`source.db`). */
  readonly db: string
  /** Schema (Postgres) or database (MySQL) name (`source.schema`). */
  readonly schema: string
  readonly table: string
  /** Columns in table order. */
  readonly columns: readonly ColumnSchema[]
  /** Names of the key columns in key order; empty when the table has no key. */
  readonly keyColumns: readonly string[]
  /** Increases each time the connector rebuilds this table's schema. */
  readonly version: number
}

/** One column with its Avro mapping and the converter from the source's text form. */
export interface ColumnSchema {
  readonly name: string
  /** Source type as the database prints it, e.g. `numeric(10,2)`, `character varying(20)`, `_int4`. */
  readonly sourceType: string
  /** May the column hold NULL? Nullable columns become `["null", T]` with default null. */
  readonly nullable: boolean
  /**
   * The Avro schema of a non-null value (e.g. `{type:'int', 'connect.name':'io.debezium.time.Date'}`),
   * already in the configured flavour (Debezium `connect.*` types or standard logical types).
   */
  readonly avro: AvroSchema
  /**
   * Converts the source's text rendering of a non-null value (pgoutput text tuple data and
   * COPY text format are the same rendering) into the Avro value for `avro`.
   * Throws EncodeError naming the column when the text cannot be represented.
   */
  readonly fromText: (text: string) => unknown
}
