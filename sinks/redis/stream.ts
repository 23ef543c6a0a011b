import { documentRenderer, type Document } from '../document.js'
import { EncodeError } from '../../pipeline/errors.js'
import type { ChangeEvent } from '../../pipeline/event.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { Command } from './cache.js'
import type { RedisConfig } from './config.js'
import { compileTemplate, type TableTemplate } from './template.js'

/**
 * Turns change events into XADDs, one stream per table. Each entry has the fields
 *
 *   op        c | u | d | r | t
 *   key       JSON object of the primary-key columns (empty for truncate and keyless tables)
 *   before    JSON document of the old row, or empty
 *   after     JSON document of the new row, or empty
 *   position  the event's source position
 *
 * Documents are rendered as in the cache (sinks/document.ts). Entry ids are Redis's own
 * (`*`); a replay after a crash appends the replayed events again (at-least-once).
 */
export class StreamEncoder {
  private readonly template: (t: TableSchema) => TableTemplate
  private readonly trim: (string | number)[]

  constructor(config: RedisConfig, prefix: string) {
    this.template = compileTemplate(config.stream, prefix)
    this.trim = config.maxlen > 0 ? ['MAXLEN', '~', config.maxlen] : []
  }

  /** The stream key of a table. */
  streamKey(t: TableSchema): string {
    return this.template(t).render('')
  }

  /** Appends the XADD of one event to `out`. */
  encode(ev: ChangeEvent, out: Command[]): void {
    const t = ev.table
    let key = ''
    let before = ''
    let after = ''
    try {
      const render = documentRenderer(t)
      if (ev.key && t.keyColumns.length > 0) {
        const doc = render(ev.key)
        const k: Document = {}
        for (const c of t.keyColumns) k[c] = doc[c]
        key = JSON.stringify(k)
      }
      if (ev.before) before = JSON.stringify(render(ev.before))
      if (ev.after) after = JSON.stringify(render(ev.after))
    } catch (err) {
      throw new EncodeError(
        'REDIS_ENCODE_FAILED',
        `cannot render the ${ev.op} event at position ${ev.position} of ${t.schema}.${t.table} as JSON: ` +
          `${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
    out.push([
      'xadd',
      this.streamKey(t),
      ...this.trim,
      '*',
      'op',
      ev.op,
      'key',
      key,
      'before',
      before,
      'after',
      after,
      'position',
      ev.position,
    ])
  }
}
