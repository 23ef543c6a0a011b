import type { Row } from './event.js'
import type { TableSchema } from './schema.js'
import type { ScannedRow, SourceScanner } from './verify.js'

/** What a connector's scan plan for one table must say: its schema, converters and key positions. */
export interface KeysetPlan<V> {
  readonly schema: TableSchema
  /** The selected columns in select-list order, with the converter events use. */
  readonly columns: readonly { readonly name: string; readonly fromText: (v: V) => unknown }[]
  /** Positions of the key columns in the select list, in key order. */
  readonly keyIndexes: readonly number[]
}

/**
 * The part of `sluice verify`'s source scanners (connectors/<type>/scan.ts) that does not
 * depend on the database: one plan per captured table, keyset pagination (a chunk, then
 * the next chunk after the last row's key, until a short chunk) and the conversion of
 * raw result rows into ScannedRows with the events' own converters. A connector supplies
 * open/close, the plans, and the queries for one chunk and for a set of keys.
 */
export abstract class KeysetScanner<V, P extends KeysetPlan<V>> implements SourceScanner {
  protected readonly plans = new Map<TableSchema, P>()

  abstract open(): Promise<void>
  abstract close(): Promise<void>

  /** Up to `size` rows in key order, after `cursor` (the key values of a ScannedRow) or from the start. */
  protected abstract chunk(plan: P, cursor: readonly unknown[] | null, size: number): Promise<ScannedRow[]>

  /** The rows with these cursors; absent rows are left out. Never called with an empty list. */
  protected abstract rowsAt(plan: P, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]>

  tables(): readonly TableSchema[] {
    return [...this.plans.keys()]
  }

  async *scan(table: TableSchema, chunkSize: number): AsyncIterable<ScannedRow[]> {
    const p = this.plan(table)
    let cursor: readonly unknown[] | null = null
    for (;;) {
      const rows = await this.chunk(p, cursor, chunkSize)
      if (rows.length > 0) yield rows
      if (rows.length < chunkSize) return
      cursor = rows[rows.length - 1]!.cursor
    }
  }

  async lookup(table: TableSchema, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]> {
    if (cursors.length === 0) return []
    return this.rowsAt(this.plan(table), cursors)
  }

  protected plan(table: TableSchema): P {
    const p = this.plans.get(table)
    if (!p) throw new Error(`table ${table.schema}.${table.table} is not one this scanner opened`)
    return p
  }
}

/**
 * Result rows (one array per row, in the plan's select-list order, null or undefined for
 * NULL) as ScannedRows: each value through its column's converter, the raw key values as
 * the cursor.
 */
export function scannedRows<V>(
  plan: KeysetPlan<V>,
  rows: readonly (readonly (V | null | undefined)[])[],
): ScannedRow[] {
  const cols = plan.columns
  return rows.map((values) => {
    const row: Row = {}
    for (let i = 0; i < cols.length; i++) {
      const v = values[i]
      const col = cols[i]!
      row[col.name] = v === null || v === undefined ? null : col.fromText(v)
    }
    return { cursor: plan.keyIndexes.map((i) => values[i]), row }
  })
}
