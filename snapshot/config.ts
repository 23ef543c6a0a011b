import { z } from 'zod'

/** The `source.snapshot` field, the same for every source. */
export const snapshotField = z
  .enum(['initial', 'never', 'initial_only'])
  .default('initial')
  .describe(
    '`initial`: snapshot existing rows, then stream; `never`: stream only; `initial_only`: snapshot, then stop.',
  )

/** The `source.key_columns` field: key columns for tables without a primary key. */
export function keyColumnsField(tableWord: string, example: Record<string, string[]>) {
  return z
    .record(z.string(), z.array(z.string().min(1)).min(1))
    .default({})
    .describe(`Key columns for tables without a primary key, by \`${tableWord}\`.`)
    .meta({ examples: [example] })
}
