import { z } from 'zod'
import { ConfigError } from '../pipeline/errors.js'
import type { ChangeEvent, Row } from '../pipeline/event.js'
import type { ColumnSchema, TableSchema } from '../pipeline/schema.js'
import { tablePatternsField } from './patterns.js'
import { checkCaptured, perTable, tableScope } from './scope.js'
import type { TransformEntry } from './transform.js'

/**
 * Sinks that write `ChangeEvent.unwrapped` instead of the envelope. A sink joins by
 * honouring the field (see its doc comment) and adding its type here; configuring unwrap
 * in front of any other sink is a validation error rather than a silent no-op.
 */
export const UNWRAP_SINKS: readonly string[] = ['file', 'kafka']

/** The fields unwrap adds to the row (Debezium ExtractNewRecordState `add.fields` + rewrite mode). */
export const UNWRAP_FIELDS = ['__op', '__table', '__position', '__deleted'] as const

/** `type: unwrap`: write the row instead of the envelope. */
export const unwrapConfig = z
  .strictObject({
    type: z.literal('unwrap'),
    tables: tablePatternsField()
      .optional()
      .describe('Tables (`schema.table` globs) whose events are unwrapped; default: all.')
      .meta({ examples: [['public.orders']] }),
  })
  .describe(
    'Writes the row (`after`, or `before` for deletes) plus __op, __table, __position and __deleted ' +
      'instead of the envelope; truncate events are dropped. Supported by sinks: ' +
      `${UNWRAP_SINKS.join(', ')}.`,
  )

/** Validated `unwrap` transform. */
export type UnwrapConfig = z.infer<typeof unwrapConfig>

/** An added string field (`fromText` is never called for derived schemas; identity for completeness). */
function added(name: string, nullable: boolean): ColumnSchema {
  return { name, sourceType: 'text', nullable, avro: 'string', fromText: (t) => t }
}

/**
 * The flat record's schema: every column (non-key columns nullable, since a Postgres delete
 * without REPLICA IDENTITY FULL has only the key), then the `__` fields.
 */
function flatSchema(t: TableSchema, where: string): TableSchema {
  const clash = t.columns.find((c) => (UNWRAP_FIELDS as readonly string[]).includes(c.name))
  if (clash) {
    throw new ConfigError(
      'TRANSFORM_COLUMN_CLASH',
      `${where}: ${t.schema}.${t.table} has a column named ${clash.name}, which unwrap adds itself; ` +
        'rename the column, or exclude the table from unwrap with tables:',
    )
  }
  const keys = new Set(t.keyColumns)
  return {
    ...t,
    columns: [
      ...t.columns.map((c) => (keys.has(c.name) || c.nullable ? c : { ...c, nullable: true })),
      added('__op', false),
      added('__table', false),
      added('__position', false),
      added('__deleted', false),
    ],
  }
}

/** Registry entry of the unwrap transform. */
export const unwrapEntry: TransformEntry<UnwrapConfig> = {
  type: 'unwrap',
  config: unwrapConfig,
  check(c, ctx) {
    const unsupported = [...new Set(ctx.sinkTypes.filter((s) => !UNWRAP_SINKS.includes(s)))]
    return [
      ...checkCaptured('tables', c.tables, ctx),
      ...(unsupported.length > 0
        ? [
            {
              path: ['type'],
              message:
                `unwrap does not apply to the ${unsupported.join(', ')} sink: it applies to sinks that write envelopes (${UNWRAP_SINKS.join(', ')}); ` +
                'put it under the transforms of such a sink',
            },
          ]
        : []),
    ]
  },
  create(c, { where }) {
    const inScope = tableScope(c.tables)
    const schema = perTable((t) => (inScope(t) ? flatSchema(t, where) : null))
    return {
      apply(ev: ChangeEvent): ChangeEvent | null {
        const flat = schema(ev.table)
        if (!flat) return ev
        if (ev.op === 't') return null // a truncate has no row to write
        const deleted = ev.op === 'd'
        const image: Row = (deleted ? (ev.before ?? ev.key) : ev.after) ?? {}
        const row: Row = {}
        for (const col of ev.table.columns)
          row[col.name] = Object.hasOwn(image, col.name) ? image[col.name] : null
        row.__op = ev.op
        row.__table = ev.table.table
        row.__position = ev.position
        row.__deleted = deleted ? 'true' : 'false'
        return { ...ev, unwrapped: { schema: flat, row } }
      },
    }
  },
}
