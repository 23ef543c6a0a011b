import { z } from 'zod'
import { ConfigError } from '../pipeline/errors.js'
import type { ChangeEvent, Row } from '../pipeline/event.js'
import type { TableSchema } from '../pipeline/schema.js'
import { columnPatternsField } from './patterns.js'
import { checkCaptured, ColumnSelector, perTable, tableOfColumn } from './scope.js'
import type { TransformEntry } from './transform.js'

/** `type: columns`: keep or remove columns per table. */
export const columnsConfig = z
  .strictObject({
    type: z.literal('columns'),
    include: columnPatternsField()
      .optional()
      .describe(
        'Keep only these columns (`schema.table.column` globs) in the tables they match; key columns are ' +
          'always kept. Tables no pattern matches are left alone.',
      )
      .meta({ examples: [['public.accounts.id', 'public.accounts.name']] }),
    exclude: columnPatternsField()
      .optional()
      .describe('Remove these columns (`schema.table.column` globs); excluding a key column is an error.')
      .meta({ examples: [['public.accounts.note', '*.*.password']] }),
  })
  .superRefine((c, ctx) => {
    if ((c.include === undefined) === (c.exclude === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: 'a columns transform needs exactly one of include or exclude',
      })
    }
  })
  .describe('Includes or excludes columns: they disappear from before, after and the Avro schemas.')

/** Validated `columns` transform. */
export type ColumnsConfig = z.infer<typeof columnsConfig>

/** What the transform does to one table: null when the table keeps every column. */
interface Plan {
  readonly table: TableSchema
  readonly keep: readonly string[]
}

function pick(row: Row | null, keep: readonly string[]): Row | null {
  if (row === null) return null
  const out: Row = {}
  for (const c of keep) if (Object.hasOwn(row, c)) out[c] = row[c]
  return out
}

/** Registry entry of the columns transform. */
export const columnsEntry: TransformEntry<ColumnsConfig> = {
  type: 'columns',
  config: columnsConfig,
  check: (c, ctx) => [
    ...checkCaptured('include', c.include, ctx, tableOfColumn),
    ...checkCaptured('exclude', c.exclude, ctx, tableOfColumn),
  ],
  create(c, { where }) {
    const key = c.include ? 'include' : 'exclude'
    const selector = new ColumnSelector(c.include ?? c.exclude!, where, key)
    const plan = perTable((t): Plan | null => {
      if (selector.forTable(t).length === 0) return null
      const selected = selector.select(t)
      const keys = new Set(t.keyColumns)
      if (!c.include) {
        const hit = t.keyColumns.filter((k) => selected.has(k))
        if (hit.length > 0) {
          throw new ConfigError(
            'TRANSFORM_KEY_COLUMN',
            `${where}: exclude removes key column ${hit.join(', ')} of ${t.schema}.${t.table}; ` +
              'key columns identify the row and cannot be excluded: narrow the pattern (or mask the column instead)',
          )
        }
      }
      const kept = t.columns.filter((col) =>
        c.include ? selected.has(col.name) || keys.has(col.name) : !selected.has(col.name),
      )
      if (kept.length === t.columns.length) return null
      return { table: { ...t, columns: kept }, keep: kept.map((col) => col.name) }
    })
    return {
      apply(ev: ChangeEvent): ChangeEvent {
        const p = plan(ev.table)
        if (!p) return ev
        return { ...ev, table: p.table, before: pick(ev.before, p.keep), after: pick(ev.after, p.keep) }
      },
    }
  },
}
