import { z } from 'zod'
import { EncodeError } from '../pipeline/errors.js'
import type { ChangeEvent } from '../pipeline/event.js'
import { compile, expressionProblem, rowView, type RowView } from './expression.js'
import { tablePatternsField } from './patterns.js'
import { checkCaptured, perTable, tableScope, unknownColumn } from './scope.js'
import type { TransformEntry } from './transform.js'

const expression = (what: string) =>
  z
    .string()
    .superRefine((text, ctx) => {
      const problem = expressionProblem(text)
      if (problem) ctx.addIssue({ code: 'custom', message: problem })
    })
    .describe(what)

/** `type: filter`: keep or drop events by table, op and a condition on column values. */
export const filterConfig = z
  .strictObject({
    type: z.literal('filter'),
    tables: tablePatternsField()
      .optional()
      .describe('Only events of these tables (`schema.table` globs) are filtered; others pass. Default: all.')
      .meta({ examples: [['public.orders']] }),
    ops: z
      .array(z.enum(['c', 'u', 'd', 'r', 't']))
      .min(1)
      .optional()
      .describe('Only events with these ops are filtered; others pass. Default: all.')
      .meta({ examples: [['c', 'u']] }),
    keep: expression('Keep an event only when this expression is true (see the expression language).')
      .optional()
      .meta({ examples: ["after.status != 'draft'"] }),
    drop: expression('Drop an event when this expression is true.')
      .optional()
      .meta({ examples: ['after.qty == 13', 'true'] }),
  })
  .superRefine((c, ctx) => {
    if ((c.keep === undefined) === (c.drop === undefined)) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a filter needs exactly one of keep or drop' })
    }
  })
  .describe(
    'Keeps or drops events. Dropped events are not delivered, but their positions are acknowledged as usual.',
  )

/** Validated `filter` transform. */
export type FilterConfig = z.infer<typeof filterConfig>

/** Registry entry of the filter transform. */
export const filterEntry: TransformEntry<FilterConfig> = {
  type: 'filter',
  config: filterConfig,
  check: (c, ctx) => checkCaptured('tables', c.tables, ctx),
  create(c, { where }) {
    const key = c.keep !== undefined ? 'keep' : 'drop'
    const cond = compile((c.keep ?? c.drop)!)
    const inScope = tableScope(c.tables)
    const ops = c.ops ? new Set<string>(c.ops) : null
    const view = perTable((t): RowView | null => {
      if (!inScope(t)) return null
      const names = new Set(t.columns.map((col) => col.name))
      for (const ref of cond.columns) {
        if (!names.has(ref.column)) throw unknownColumn(where, `${key} expression`, ref.column, t)
      }
      return rowView(t)
    })
    const keepWhen = key === 'keep'
    return {
      apply(ev: ChangeEvent): ChangeEvent | null {
        const v = view(ev.table)
        if (v === null || (ops !== null && !ops.has(ev.op))) return ev
        let hit: boolean
        try {
          hit = cond.test(ev, v)
        } catch (err) {
          throw new EncodeError(
            'TRANSFORM_EXPRESSION_FAILED',
            `${where}: ${key} expression failed on the ${ev.op} event at position ${ev.position} of ` +
              `${ev.table.schema}.${ev.table.table}: ${(err as Error).message}; fix the expression`,
            { cause: err },
          )
        }
        return hit === keepWhen ? ev : null
      },
    }
  },
}
