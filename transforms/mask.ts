import { createHmac } from 'node:crypto'
import { z } from 'zod'
import { jsonValue } from '../avro/json.js'
import type { ChangeEvent, Row } from '../pipeline/event.js'
import type { ColumnSchema, TableSchema } from '../pipeline/schema.js'
import { columnPatternsField } from './patterns.js'
import { checkCaptured, ColumnSelector, perTable, tableOfColumn } from './scope.js'
import type { TransformEntry } from './transform.js'

/** `type: mask`: replaces column values by a keyed hash or a fixed value. */
export const maskConfig = z
  .strictObject({
    type: z.literal('mask'),
    columns: columnPatternsField()
      .describe('Columns to mask (`schema.table.column` globs). Key columns may be masked too.')
      .meta({ examples: [['public.accounts.note', '*.*.email']] }),
    with: z
      .enum(['hash', 'redact'])
      .describe(
        '`hash`: HMAC-SHA-256 of the value with `secret`, as 64 hex digits (deterministic: joins and keys ' +
          'keep working); `redact`: null, or `replacement` when set. Either way the column becomes a string.',
      ),
    secret: z
      .string()
      .min(1)
      .optional()
      .describe(
        'HMAC key for `with: hash`: take it from the environment or a file, never write it in the config.',
      )
      .meta({ examples: ['${MASK_SECRET}', '${file:/run/secrets/mask}'] }),
    replacement: z
      .string()
      .optional()
      .describe('For `with: redact`: the text that replaces every non-null value (default: null).')
      .meta({ examples: ['***'] }),
  })
  .superRefine((c, ctx) => {
    if (c.with === 'hash' && c.secret === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'with: hash needs a secret; add secret: ${MASK_SECRET} (environment) or ${file:/path}',
      })
    }
    if (c.with === 'redact' && c.secret !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['secret'],
        message: 'secret applies to with: hash only; remove it',
      })
    }
    if (c.with === 'hash' && c.replacement !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['replacement'],
        message: 'replacement applies to with: redact only; remove it',
      })
    }
  })
  .describe('Masks column values; the masked values never reach a sink.')

/** Validated `mask` transform. */
export type MaskConfig = z.infer<typeof maskConfig>

/** Replaces one non-null Avro value. */
type Masker = (col: ColumnSchema, value: unknown) => string | null

/**
 * The text a hash is computed over: the value as it renders in JSON output (text as is,
 * decimals as exact decimal text, bytes as base64, other values as their JSON text), so
 * the same value hashes the same from Postgres and MySQL.
 */
function canonical(col: ColumnSchema, value: unknown): string {
  const j = jsonValue(col.avro, value)
  return typeof j === 'string' ? j : JSON.stringify(j)
}

interface Plan {
  readonly table: TableSchema
  /** Masked column → its original schema. */
  readonly masked: ReadonlyMap<string, ColumnSchema>
}

/** Registry entry of the mask transform. */
export const maskEntry: TransformEntry<MaskConfig> = {
  type: 'mask',
  config: maskConfig,
  check: (c, ctx) => checkCaptured('columns', c.columns, ctx, tableOfColumn),
  create(c, { where }) {
    const selector = new ColumnSelector(c.columns, where, 'columns')
    let mask: Masker
    if (c.with === 'hash') {
      const secret = c.secret!
      mask = (col, v) => createHmac('sha256', secret).update(canonical(col, v), 'utf8').digest('hex')
    } else {
      const replacement = c.replacement ?? null
      mask = () => replacement
    }
    // A redacted value becomes null unless a replacement is set: the column turns nullable.
    const nullable = (col: ColumnSchema): boolean =>
      col.nullable || (c.with === 'redact' && c.replacement === undefined)
    const plan = perTable((t): Plan | null => {
      if (selector.forTable(t).length === 0) return null
      const selected = selector.select(t)
      if (selected.size === 0) return null
      const masked = new Map<string, ColumnSchema>()
      const columns = t.columns.map((col): ColumnSchema => {
        if (!selected.has(col.name)) return col
        masked.set(col.name, col)
        return {
          name: col.name,
          sourceType: col.sourceType,
          nullable: nullable(col),
          avro: 'string',
          fromText: (text) => mask(col, col.fromText(text)),
        }
      })
      return { table: { ...t, columns }, masked }
    })
    const rewrite = (row: Row | null, masked: ReadonlyMap<string, ColumnSchema>): Row | null => {
      if (row === null) return null
      const out: Row = { ...row }
      for (const [name, col] of masked) {
        const v = out[name]
        if (v !== null && v !== undefined) out[name] = mask(col, v)
      }
      return out
    }
    return {
      apply(ev: ChangeEvent): ChangeEvent {
        const p = plan(ev.table)
        if (!p) return ev
        return {
          ...ev,
          table: p.table,
          key: rewrite(ev.key, p.masked),
          before: rewrite(ev.before, p.masked),
          after: rewrite(ev.after, p.masked),
        }
      },
    }
  },
}
