import { documentRenderer, keyString, type Document } from '../document.js'
import { ConfigError, EncodeError, SinkError } from '../../pipeline/errors.js'
import type { ChangeEvent, Row } from '../../pipeline/event.js'
import type { TableSchema } from '../../pipeline/schema.js'
import { hasHashTag, placeholders, TEMPLATE_VARS, type RedisConfig } from './config.js'
import { GUARD_SHA } from './scripts.js'
import { compileTemplate, type TableTemplate } from './template.js'

/** One Redis command: its name, then its arguments. */
export type Command = [name: string, ...args: (string | number)[]]

/** The version of an event: its position up to the first `;` (the sortable part). */
export function versionOf(position: string): string {
  const i = position.indexOf(';')
  return i < 0 ? position : position.slice(0, i)
}

/**
 * The fields of a row stored as a hash (`value: hash`): one field per non-null column of the
 * document, strings as they are, every other value as its JSON text (`12.5`, `true`,
 * `[1,2]`); NULL columns have no field. Exported for `sluice verify`.
 */
export function hashFields(doc: Document): string[] {
  const out: string[] = []
  for (const name in doc) {
    const v = doc[name]
    if (v === null || v === undefined) continue
    out.push(name, typeof v === 'string' ? v : typeof v === 'bigint' ? String(v) : JSON.stringify(v))
  }
  return out
}

/** A guard-script operation: set JSON, set hash, delete, sweep (see scripts.ts). */
export type GuardOp = 'j' | 'h' | 'd' | 'w'

/**
 * The commands of a run of cache writes, in order: consecutive guard rows are packed into
 * one EVALSHA of up to `maxRows` rows (1 in a cluster, where a call's keys must share a
 * slot), other commands go between them.
 */
export class CommandList {
  readonly commands: Command[] = []
  private keys: string[] | null = null
  private args: string[] = []

  constructor(
    private readonly encoder: CacheEncoder,
    private readonly maxRows: number,
  ) {}

  /** Adds a guard row for value key `key`. */
  row(key: string, op: GuardOp, version: string, values: readonly string[]): void {
    if (this.keys === null || this.keys.length >= 2 * this.maxRows) this.start()
    this.keys!.push(key, this.encoder.versionKey(key))
    this.args.push(op, version, String(values.length))
    for (const v of values) this.args.push(v)
  }

  /** Adds another command after the rows so far. */
  command(cmd: Command): void {
    this.close()
    this.commands.push(cmd)
  }

  /** The commands (call once, after the last row). */
  finish(): Command[] {
    this.close()
    return this.commands
  }

  private start(): void {
    this.close()
    this.keys = []
    this.args = [...this.encoder.ttlArgs]
  }

  private close(): void {
    if (this.keys !== null && this.keys.length > 0)
      this.commands.push(['evalsha', GUARD_SHA, this.keys.length, ...this.keys, ...this.args])
    this.keys = null
  }
}

/**
 * Turns cache-mode change events into guard-script rows (see scripts.ts). Creates, updates
 * and snapshot reads set the row, deletes remove it and leave a tombstone version; an update
 * whose `before` has another key also removes the old key. Truncates are the sink's job
 * (they need a SCAN), as is the snapshot sweep.
 */
export class CacheEncoder {
  /** The guard script's first three arguments: row TTL, live version TTL, tombstone TTL. */
  readonly ttlArgs: readonly [string, string, string]
  private readonly template: (t: TableSchema) => TableTemplate
  private readonly prefix: string
  /** Compiled `route.key` templates (the route transform) by their text. */
  private readonly routed = new Map<string, (t: TableSchema) => TableTemplate>()
  /** Table patterns already recorded in the tables set by this process. */
  private readonly registered = new Set<string>()

  constructor(
    private readonly config: RedisConfig,
    prefix: string,
    /** Key of the set listing the SCAN patterns of every table this pipeline wrote. */
    private readonly tablesKey: string,
  ) {
    this.prefix = prefix
    this.template = compileTemplate(config.key, prefix)
    // A live row's version outlives its value by the tombstone TTL, so an expired row is
    // protected like a deleted one; without a row TTL the version lives as long as the row.
    const live =
      config.ttl_ms > 0 && config.tombstone_ttl_ms > 0 ? config.ttl_ms + config.tombstone_ttl_ms : 0
    this.ttlArgs = [String(config.ttl_ms), String(live), String(config.tombstone_ttl_ms)]
  }

  /**
   * The key template resolved for an event's table: its `route.key` (the route transform)
   * when it has one, else the sink's `key`. A route's template gets the same checks as the
   * sink's own (config.ts), when it is first seen.
   */
  templateOf(ev: ChangeEvent): TableTemplate {
    const text = ev.route?.key
    if (text === undefined || text === this.config.key) return this.template(ev.table)
    let compiled = this.routed.get(text)
    if (!compiled) {
      const problem = this.routeProblem(text)
      if (problem) {
        throw new ConfigError(
          'TRANSFORM_ROUTE_TEMPLATE',
          `the route transform's key '${text}' (table ${ev.table.schema}.${ev.table.table}) cannot be used ` +
            `as a redis cache key: ${problem}; fix the route's key`,
        )
      }
      compiled = compileTemplate(text, this.prefix)
      this.routed.set(text, compiled)
    }
    return compiled(ev.table)
  }

  /** What is wrong with a route's key template for this sink (the checks of config.ts), or null. */
  private routeProblem(text: string): string | null {
    const unknown = placeholders(text).filter((p) => !(TEMPLATE_VARS as readonly string[]).includes(p))
    if (unknown.length > 0)
      return `unknown placeholder '\${${unknown[0]}}'; use ` + TEMPLATE_VARS.map((v) => `\${${v}}`).join(', ')
    if (!placeholders(text).includes('key'))
      return "it must contain '${key}', or every row would share one key"
    if ((this.config.cluster || this.config.nodes !== undefined) && !hasHashTag(text))
      return "with a cluster it needs a hash tag, e.g. 'order:{${key}}'"
    return null
  }

  /** The version key of a value key. */
  versionKey(key: string): string {
    return this.config.version_prefix + key
  }

  /** The row key of a key row (primary-key columns) of `t`. */
  rowKey(t: TableSchema, key: Row): string {
    return this.template(t).render(keyString(t, key))
  }

  /** Appends the writes of one row event (not `t`) to `out`. */
  encode(ev: ChangeEvent, out: CommandList): void {
    const t = ev.table
    if (t.keyColumns.length === 0) {
      throw new SinkError(
        'REDIS_TABLE_NO_KEY',
        `the redis cache needs a primary key, and table ${t.schema}.${t.table} has none: ` +
          'add a primary key to it, leave it out of this pipeline, or use mode: stream',
      )
    }
    const tpl = this.templateOf(ev)
    if (!this.registered.has(tpl.pattern)) {
      this.registered.add(tpl.pattern)
      out.command(['sadd', this.tablesKey, tpl.pattern])
    }
    const version = versionOf(ev.position)
    if (ev.op === 'd') {
      const key = ev.key ?? ev.before
      if (!key) throw this.missing(ev, 'key')
      out.row(tpl.render(keyString(t, key)), 'd', version, NONE)
      return
    }
    const after = ev.after
    if (!after) throw this.missing(ev, 'after image')
    const newKey = tpl.render(keyString(t, ev.key ?? after))
    if (ev.before) {
      const oldKey = tpl.render(keyString(t, ev.before))
      if (oldKey !== newKey) out.row(oldKey, 'd', version, NONE)
    }
    let value: string[]
    try {
      const doc: Document = documentRenderer(t)(after)
      value = this.config.value === 'hash' ? hashFields(doc) : [JSON.stringify(doc)]
    } catch (err) {
      throw new EncodeError(
        'REDIS_ENCODE_FAILED',
        `cannot render the ${ev.op} event at position ${ev.position} of ${t.schema}.${t.table} as JSON: ` +
          `${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      )
    }
    out.row(newKey, this.config.value === 'hash' ? 'h' : 'j', version, value)
  }

  private missing(ev: ChangeEvent, what: string): SinkError {
    return new SinkError(
      'REDIS_EVENT_INCOMPLETE',
      `the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table} has no ${what}; ` +
        'the redis cache cannot apply it (report this as a bug)',
    )
  }
}

const NONE: readonly string[] = []
