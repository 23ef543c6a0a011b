import pg from 'pg'
import { KeysetScanner, scannedRows, type KeysetPlan } from '../../pipeline/keyset-scanner.js'
import { PreconditionError } from '../../pipeline/errors.js'
import type { SourceContext } from '../../pipeline/source.js'
import type { ScannedRow, SourceScanner } from '../../pipeline/verify.js'
import type { PostgresConfig } from './config.js'
import { classifyPgError, redactUrl } from './errors.js'
import { TableSchemas } from './table-schemas.js'
import { expandTables, ident, qualified, quoteTable, tableMeta } from './tables.js'

/**
 * Session settings of the scan connection: the same as the source's (source.ts), because
 * the text rendering of dates, times, intervals, floats and bytea depends on them and the
 * converters in types.ts rely on exactly these.
 */
const SESSION_OPTIONS =
  '-c DateStyle=ISO,MDY -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=3 -c bytea_output=hex -c lc_monetary=C'

/**
 * Every value as the server's text output, unparsed: the text protocol carries exactly what
 * the type's output function prints, the rendering COPY and pgoutput use too.
 */
const RAW_TEXT: pg.CustomTypesConfig = { getTypeParser: () => (text: string) => text }

/** How one table is read: its schema and the SQL pieces of its key. */
interface ScanPlan extends KeysetPlan<string> {
  readonly from: string
  readonly select: string
  /** Key columns, quoted. */
  readonly keyCols: readonly string[]
  /** `format_type(type, NULL)` of each key column, for parameter casts (no typmod, which would truncate). */
  readonly keyTypes: readonly string[]
}

/**
 * The Postgres SourceScanner of `sluice verify`: reads the captured tables with keyset
 * pagination, one autocommit SELECT per chunk (a READ COMMITTED statement snapshot: no
 * transaction held open, no lock beyond the ACCESS SHARE every SELECT takes), and builds
 * rows with the same TableSchemas and text converters as the snapshot and the stream.
 */
export class PostgresScanner extends KeysetScanner<string, ScanPlan> {
  private client: pg.Client | null = null
  private readonly where: string

  constructor(
    private readonly cfg: PostgresConfig,
    private readonly ctx: SourceContext,
  ) {
    super()
    this.where = redactUrl(cfg.url)
  }

  async open(): Promise<void> {
    const c = new pg.Client({
      connectionString: this.cfg.url,
      options: SESSION_OPTIONS,
      application_name: `sluice-verify:${this.ctx.pipeline}`,
    })
    c.on('error', (err) => this.ctx.log.debug({ err }, 'postgres connection error'))
    this.client = c
    try {
      await c.connect()
      const refs = await expandTables(c, this.cfg.tables)
      const metas = await tableMeta(
        c,
        refs.map((r) => r.oid),
      )
      const [{ db }] = (await c.query<{ db: string }>('SELECT current_database() AS db')).rows as [
        { db: string },
      ]
      const schemas = new TableSchemas(db, this.ctx.avro, this.cfg.key_columns)
      for (const ref of refs) {
        const meta = metas.get(ref.oid)!
        const schema = await schemas.build(c, meta)
        if (schema.keyColumns.length === 0) {
          throw new PreconditionError(
            'PG_NO_PRIMARY_KEY',
            `table ${qualified(meta)} has no primary key, so verify cannot match its rows with the target: add one (ALTER TABLE ${quoteTable(meta)} ADD PRIMARY KEY (...)) or set source.key_columns: { ${qualified(meta)}: [col, ...] }`,
          )
        }
        const types = await c.query<{ name: string; type: string }>(
          `SELECT a.attname AS name, format_type(a.atttypid, NULL) AS type
             FROM pg_attribute a WHERE a.attrelid = $1::oid AND a.attname = ANY($2::text[])`,
          [meta.oid, schema.keyColumns],
        )
        const typeOf = new Map(types.rows.map((r) => [r.name, r.type]))
        const cols = schema.columns
        this.plans.set(schema, {
          schema,
          columns: cols,
          from: quoteTable(meta),
          select: cols.map((col) => ident(col.name)).join(', '),
          keyIndexes: schema.keyColumns.map((k) => cols.findIndex((col) => col.name === k)),
          keyCols: schema.keyColumns.map(ident),
          keyTypes: schema.keyColumns.map((k) => typeOf.get(k)!),
        })
      }
    } catch (err) {
      throw classifyPgError(err, this.where)
    }
  }

  protected chunk(p: ScanPlan, cursor: readonly unknown[] | null, size: number): Promise<ScannedRow[]> {
    const order = p.keyCols.join(', ')
    if (cursor === null) {
      return this.query(p, `SELECT ${p.select} FROM ${p.from} ORDER BY ${order} LIMIT ${size}`, [])
    }
    const params = p.keyTypes.map((t, i) => `$${i + 1}::${t}`).join(', ')
    return this.query(
      p,
      `SELECT ${p.select} FROM ${p.from} WHERE (${order}) > (${params}) ORDER BY ${order} LIMIT ${size}`,
      [...cursor],
    )
  }

  protected rowsAt(p: ScanPlan, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]> {
    const n = p.keyCols.length
    const tuples = cursors.map(
      (_, r) => `(${p.keyTypes.map((t, i) => `$${r * n + i + 1}::${t}`).join(', ')})`,
    )
    const sql = `SELECT ${p.select} FROM ${p.from} WHERE (${p.keyCols.join(', ')}) IN (${tuples.join(', ')})`
    return this.query(p, sql, cursors.flat())
  }

  async close(): Promise<void> {
    await this.client?.end().catch(() => {})
    this.client = null
  }

  /** Runs a SELECT of the plan's columns and converts its rows as events do. */
  private async query(p: ScanPlan, sql: string, params: unknown[]): Promise<ScannedRow[]> {
    let res: pg.QueryArrayResult<(string | null)[]>
    try {
      res = await this.client!.query<(string | null)[]>({
        text: sql,
        values: params,
        rowMode: 'array',
        types: RAW_TEXT,
      })
    } catch (err) {
      throw classifyPgError(err, `${this.where} (table ${p.schema.schema}.${p.schema.table})`)
    }
    return scannedRows(p, res.rows)
  }
}

/** Registry hook: the scanner of a Postgres source config. */
export function createPostgresScanner(cfg: PostgresConfig, ctx: SourceContext): SourceScanner {
  return new PostgresScanner(cfg, ctx)
}
