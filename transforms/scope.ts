import { ConfigError } from '../pipeline/errors.js'
import type { TableSchema } from '../pipeline/schema.js'
import { columnPattern, tablePattern, uncapturedTable, type ColumnPattern } from './patterns.js'
import type { StaticContext, StaticProblem } from './transform.js'

/** A `tables:` scope: every table when absent, else the tables matching one of the globs. */
export function tableScope(patterns: readonly string[] | undefined): (t: TableSchema) => boolean {
  if (!patterns) return () => true
  const compiled = patterns.map(tablePattern)
  return (t) => compiled.some((p) => p.matches(t.schema, t.table))
}

/** Per-table memo keyed by TableSchema object identity (a rebuilt schema is a new key). */
export function perTable<T>(derive: (t: TableSchema) => T): (t: TableSchema) => T {
  const cache = new WeakMap<TableSchema, T>()
  return (t) => {
    let v = cache.get(t)
    if (v === undefined) cache.set(t, (v = derive(t)))
    return v
  }
}

/** Static problems: `schema.table` parts of `patterns` at `key` that no source table matches. */
export function checkCaptured(
  key: string,
  patterns: readonly string[] | undefined,
  ctx: StaticContext,
  tablePart: (p: string) => string = (p) => p,
): StaticProblem[] {
  const out: StaticProblem[] = []
  patterns?.forEach((p, i) => {
    const message = uncapturedTable(tablePart(p), ctx.tables)
    if (message) out.push({ path: [key, i], message })
  })
  return out
}

/** The `schema.table` part of a column pattern (its first two parts). */
export const tableOfColumn = (p: string): string => p.split('.').slice(0, 2).join('.')

/**
 * Column patterns compiled, with the start-time check: every literal column of a pattern
 * whose table part matches `t` must be a column of `t`. `names` lists the columns.
 */
export class ColumnSelector {
  readonly patterns: readonly ColumnPattern[]

  constructor(
    texts: readonly string[],
    private readonly where: string,
    private readonly key: string,
  ) {
    this.patterns = texts.map(columnPattern)
  }

  /** Patterns that apply to table `t`. */
  forTable(t: TableSchema): ColumnPattern[] {
    return this.patterns.filter((p) => p.table.matches(t.schema, t.table))
  }

  /** Names of `t`'s columns matched by the patterns; throws TRANSFORM_UNKNOWN_COLUMN for a literal miss. */
  select(t: TableSchema): Set<string> {
    const mine = this.forTable(t)
    const names = new Set(t.columns.map((c) => c.name))
    for (const p of mine) {
      if (p.literalColumn !== null && !names.has(p.literalColumn)) {
        throw unknownColumn(this.where, `${this.key} entry ${p.text}`, p.literalColumn, t)
      }
    }
    return new Set(t.columns.filter((c) => mine.some((p) => p.matchesColumn(c.name))).map((c) => c.name))
  }
}

/** The start-time error for a column a transform names that its table does not have. */
export function unknownColumn(where: string, what: string, column: string, t: TableSchema): ConfigError {
  return new ConfigError(
    'TRANSFORM_UNKNOWN_COLUMN',
    `${where}: ${what}: ${column} is not a column of ${t.schema}.${t.table} ` +
      `(columns: ${t.columns.map((c) => c.name).join(', ')}); fix the column name, or limit the transform to tables that have it`,
  )
}
