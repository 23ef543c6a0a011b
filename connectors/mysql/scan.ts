import mysql from 'mysql2/promise'
import { KeysetScanner, scannedRows, type KeysetPlan } from '../../pipeline/keyset-scanner.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { SourceContext } from '../../pipeline/source.js'
import type { ScannedRow, SourceScanner } from '../../pipeline/verify.js'
import { tableColumns } from './catalog.js'
import type { MysqlConfig } from './config.js'
import { classifyMysqlError, redactUrl } from './errors.js'
import { ident, preflight, qualified } from './preflight.js'
import {
  mysqlColumnSchema,
  SNAPSHOT_QUERY_OPTIONS,
  SNAPSHOT_SESSION_SQL,
  snapshotColumnSql,
  type MysqlColumnSchema,
} from './types.js'

/** How one table is read: its schema, converters and the SQL pieces of its key. */
interface ScanPlan extends KeysetPlan<string | Buffer> {
  readonly columns: readonly MysqlColumnSchema[]
  readonly from: string
  readonly select: string
  /** Key columns, quoted. */
  readonly keyCols: readonly string[]
}

/**
 * `(k1 > ?) OR (k1 = ? AND k2 > ?) OR ...`: the row comparison `(k1, k2) > (?, ?)` spelled
 * out, which MariaDB's range optimizer turns into an index range (it does not do so for a
 * row constructor), with the parameter order for a cursor.
 */
function afterPredicate(keyCols: readonly string[]): {
  sql: string
  params: (c: readonly unknown[]) => unknown[]
} {
  const terms: string[] = []
  for (let i = 0; i < keyCols.length; i++) {
    const eq = keyCols.slice(0, i).map((k) => `${k} = ?`)
    terms.push(`(${[...eq, `${keyCols[i]} > ?`].join(' AND ')})`)
  }
  return {
    sql: terms.join(' OR '),
    params: (c) => keyCols.flatMap((_, i) => c.slice(0, i + 1)),
  }
}

/**
 * The MySQL/MariaDB SourceScanner of `sluice verify`: reads the captured tables with keyset
 * pagination, one autocommit SELECT per chunk (its own consistent read, no lock), with the
 * snapshot's session settings, select list and text decoding, so rows equal the events'.
 */
export class MysqlScanner extends KeysetScanner<string | Buffer, ScanPlan> {
  private conn: mysql.Connection | null = null
  private readonly where: string

  constructor(
    private readonly cfg: MysqlConfig,
    private readonly ctx: SourceContext,
  ) {
    super()
    this.where = redactUrl(cfg.url)
  }

  async open(): Promise<void> {
    const pre = await preflight(this.cfg)
    try {
      this.conn = await mysql.createConnection({
        uri: this.cfg.url.replace(/^mariadb:/, 'mysql:'),
        supportBigNumbers: true,
        bigNumberStrings: true,
      })
      // Text renderings the converters rely on (UTC timestamps, unpadded CHAR, utf8mb4).
      for (const sql of SNAPSHOT_SESSION_SQL) await this.conn.query(sql)
      const infos = await tableColumns(
        this.conn,
        pre.tables.map((m) => ({ db: m.schema, table: m.name })),
      )
      let version = 0
      for (const m of pre.tables) {
        const name = qualified(m)
        const info = infos.get(name) ?? []
        const columns = info.map((c) =>
          mysqlColumnSchema({
            table: name,
            column: c,
            avro: this.ctx.avro,
            flavour: pre.flavour,
            zeroDates: this.cfg.zero_dates,
            bigintUnsigned: this.cfg.bigint_unsigned,
          }),
        )
        const schema: TableSchema = {
          connector: 'mysql',
          db: m.schema,
          schema: m.schema,
          table: m.name,
          columns,
          keyColumns: m.keyColumns,
          version: ++version,
        }
        this.plans.set(schema, {
          schema,
          columns,
          from: `${ident(m.schema)}.${ident(m.name)}`,
          select: info.map(snapshotColumnSql).join(', '),
          keyIndexes: m.keyColumns.map((k) => columns.findIndex((c) => c.name === k)),
          keyCols: m.keyColumns.map(ident),
        })
      }
    } catch (err) {
      throw classifyMysqlError(err, this.where)
    }
  }

  protected chunk(p: ScanPlan, cursor: readonly unknown[] | null, size: number): Promise<ScannedRow[]> {
    const order = p.keyCols.join(', ')
    if (cursor === null) {
      return this.query(p, `SELECT ${p.select} FROM ${p.from} ORDER BY ${order} LIMIT ${size}`, [])
    }
    const after = afterPredicate(p.keyCols)
    return this.query(
      p,
      `SELECT ${p.select} FROM ${p.from} WHERE ${after.sql} ORDER BY ${order} LIMIT ${size}`,
      after.params(cursor),
    )
  }

  protected rowsAt(p: ScanPlan, cursors: readonly (readonly unknown[])[]): Promise<ScannedRow[]> {
    const one = `(${p.keyCols.map((k) => `${k} = ?`).join(' AND ')})`
    const sql = `SELECT ${p.select} FROM ${p.from} WHERE ${cursors.map(() => one).join(' OR ')}`
    return this.query(p, sql, cursors.flat())
  }

  async close(): Promise<void> {
    await this.conn?.end().catch(() => {})
    this.conn = null
  }

  /** Runs a SELECT of the plan's columns and converts its rows as the snapshot does. */
  private async query(p: ScanPlan, sql: string, params: unknown[]): Promise<ScannedRow[]> {
    let values: unknown[][]
    try {
      const [rows] = await this.conn!.query(
        { sql, rowsAsArray: true, ...SNAPSHOT_QUERY_OPTIONS } as mysql.QueryOptions,
        params,
      )
      values = rows as unknown[][]
    } catch (err) {
      throw classifyMysqlError(
        err,
        `${this.where} (table ${qualified({ schema: p.schema.schema, name: p.schema.table })})`,
      )
    }
    return scannedRows(p, values as (string | Buffer | null)[][])
  }
}

/** Registry hook: the scanner of a MySQL source config. */
export function createMysqlScanner(cfg: MysqlConfig, ctx: SourceContext): SourceScanner {
  return new MysqlScanner(cfg, ctx)
}
