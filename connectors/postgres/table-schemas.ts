import type pg from 'pg'
import type { ColumnSchema, TableSchema } from '../../pipeline/schema.js'
import type { AvroOptions } from '../../pipeline/source.js'
import { resolveTypes } from './catalog.js'
import type { TableMeta } from './tables.js'
import { qualified } from './tables.js'
import { columnSchema } from './types.js'

/** Column facts from either the catalog (snapshot) or a Relation message (streaming). */
export interface ColumnFacts {
  readonly name: string
  readonly typeOid: number
  readonly typmod: number
}

/**
 * Builds TableSchemas for one pipeline and reuses the same object while a table's shape is
 * unchanged, so that snapshot and stream events of a table share one schema (and sinks
 * don't start new files needlessly). A changed shape yields a new object with a higher
 * version.
 */
export class TableSchemas {
  private readonly bySignature = new Map<string, TableSchema>()
  private readonly versions = new Map<number, number>()

  constructor(
    private readonly db: string,
    private readonly avro: AvroOptions,
    private readonly keyColumns: Record<string, string[]>,
  ) {}

  /**
   * The schema of `meta`'s table with the given columns (default: the catalog's). Column
   * nullability and the primary key come from the catalog `meta`.
   */
  async build(
    client: pg.Client,
    meta: TableMeta,
    columns: readonly ColumnFacts[] = meta.columns,
  ): Promise<TableSchema> {
    const notNull = new Map(meta.columns.map((c) => [c.name, c.notNull]))
    const keys = meta.primaryKey.length > 0 ? meta.primaryKey : (this.keyColumns[qualified(meta)] ?? [])
    const signature = JSON.stringify([
      meta.oid,
      meta.schema,
      meta.name,
      keys,
      columns.map((c) => [c.name, c.typeOid, c.typmod, notNull.get(c.name) ?? false]),
    ])
    const known = this.bySignature.get(signature)
    if (known) return known
    const types = await resolveTypes(client, [...new Set(columns.map((c) => c.typeOid))])
    const cols: ColumnSchema[] = columns.map((c) =>
      columnSchema({
        table: qualified(meta),
        name: c.name,
        type: types.get(c.typeOid)!,
        typmod: c.typmod,
        nullable: !(notNull.get(c.name) ?? false),
        avro: this.avro,
      }),
    )
    const version = (this.versions.get(meta.oid) ?? 0) + 1
    this.versions.set(meta.oid, version)
    const schema: TableSchema = {
      connector: 'postgresql',
      db: this.db,
      schema: meta.schema,
      table: meta.name,
      columns: cols,
      keyColumns: keys.filter((k) => cols.some((c) => c.name === k)),
      version,
    }
    this.bySignature.set(signature, schema)
    return schema
  }
}
