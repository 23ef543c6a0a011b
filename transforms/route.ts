import { z } from 'zod'
import type { ChangeEvent, EventRoute } from '../pipeline/event.js'
import { tablePatternsField } from './patterns.js'
import { checkCaptured, perTable, tableScope } from './scope.js'
import type { TransformEntry } from './transform.js'

/** A destination template: non-empty; `${...}` placeholders must be closed and name something. */
const template = (what: string) =>
  z
    .string()
    .min(1)
    .superRefine((text, ctx) => {
      const open = text.replace(/\$\$\{/g, '').match(/\$\{[^}]*\}?/g) ?? []
      for (const p of open) {
        if (!/^\$\{[A-Za-z_][A-Za-z0-9_]*\}$/.test(p)) {
          ctx.addIssue({
            code: 'custom',
            message: `bad placeholder ${p}; write \${table}, \${schema}, \${prefix}, \${key} or \${<column>}`,
          })
        }
      }
    })
    .optional()
    .describe(what)

/** `type: route`: per-table destination overrides, carried on the event as `route`. */
export const routeConfig = z
  .strictObject({
    type: z.literal('route'),
    tables: tablePatternsField()
      .optional()
      .describe('Events of these tables (`schema.table` globs) get the route; default: all.')
      .meta({ examples: [['public.orders']] }),
    topic: template("Kafka topic template for these tables, overriding the sink's `topic`.").meta({
      examples: ['orders.${table}'],
    }),
    index: template("Elasticsearch index template, overriding the sink's `index`.").meta({
      examples: ['orders-${schema}'],
    }),
    key: template(
      "Redis cache key template, overriding the sink's `key`; must contain `${key}` (the primary key).",
    ).meta({
      examples: ['orders:${key}'],
    }),
  })
  .superRefine((c, ctx) => {
    if (c.topic === undefined && c.index === undefined && c.key === undefined) {
      ctx.addIssue({ code: 'custom', path: [], message: 'a route needs at least one of topic, index or key' })
    }
  })
  .describe(
    'Overrides the destination per table: sets the event’s `route` (topic, index, key templates) for the ' +
      'sinks that honour it. Later routes override earlier ones field by field.',
  )

/** Validated `route` transform. */
export type RouteConfig = z.infer<typeof routeConfig>

/** Registry entry of the route transform. */
export const routeEntry: TransformEntry<RouteConfig> = {
  type: 'route',
  config: routeConfig,
  check: (c, ctx) => checkCaptured('tables', c.tables, ctx),
  create(c) {
    const inScope = perTable(tableScope(c.tables))
    const mine: EventRoute = {
      ...(c.topic !== undefined && { topic: c.topic }),
      ...(c.index !== undefined && { index: c.index }),
      ...(c.key !== undefined && { key: c.key }),
    }
    return {
      apply(ev: ChangeEvent): ChangeEvent {
        if (!inScope(ev.table)) return ev
        return { ...ev, route: ev.route ? { ...ev.route, ...mine } : mine }
      },
    }
  },
}
