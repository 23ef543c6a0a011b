/**
 * Column metadata of captured MySQL/MariaDB tables, read from information_schema. The binlog's
 * TABLE_MAP (with binlog_row_metadata=FULL) names the columns and their storage types, but
 * some logical types exist only in the catalog: MariaDB's JSON is a LONGTEXT with a
 * `json_valid()` CHECK, and its UUID / INET4 / INET6 travel as BINARY(16/4/16). The type
 * mapper (types.ts) therefore works from the catalog's description of each column.
 */
import type { Connection } from 'mysql2/promise'

/** One column as information_schema.COLUMNS describes it (read with a single query per set of tables). */
export interface MysqlColumnInfo {
  readonly name: string
  /** ORDINAL_POSITION: 1-based position in the table (the binlog row image order). */
  readonly position: number
  /** DATA_TYPE, lower-case: `int`, `decimal`, `varchar`, `enum`, `uuid`, `longtext`, ... */
  readonly dataType: string
  /** COLUMN_TYPE, e.g. `decimal(10,2) unsigned`, `enum('a','b')`, `text /*M!100301 COMPRESSED*\/`. */
  readonly columnType: string
  readonly nullable: boolean
  readonly numericPrecision: number | null
  readonly numericScale: number | null
  /** Fractional-second digits of TIME/DATETIME/TIMESTAMP (0–6). */
  readonly datetimePrecision: number | null
  /** Character set of character, ENUM and SET columns (`utf8mb4`, `latin1`); null otherwise. */
  readonly charset: string | null
  /** CHARACTER_MAXIMUM_LENGTH: characters of character columns, bytes of binary ones. */
  readonly maxLength: number | null
  /**
   * MariaDB JSON: the column is a LONGTEXT carrying MariaDB's own `CHECK (json_valid(col))`,
   * which is exactly what `col JSON` creates (information_schema.CHECK_CONSTRAINTS). MySQL's
   * JSON has DATA_TYPE `json` and needs no such detection.
   */
  readonly mariadbJson: boolean
}

/** A table to describe. */
export interface MysqlTableRef {
  readonly db: string
  readonly table: string
}

interface ColumnRow {
  db: string
  tbl: string
  name: string
  position: number | string
  dataType: string
  columnType: string
  nullable: string
  numericPrecision: number | string | null
  numericScale: number | string | null
  datetimePrecision: number | string | null
  charset: string | null
  maxLength: number | string | null
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v))
/** information_schema text may arrive as a Buffer on some servers (binary collations). */
const str = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v))

/** `db.table` map key. */
const keyOf = (db: string, table: string): string => `${db}.${table}`

/** The CHECK clause MariaDB stores for a `JSON` column: json_valid(`name`), backticks doubled. */
const jsonCheckFor = (column: string): string => 'json_valid(`' + column.replace(/`/g, '``') + '`)'

/**
 * The columns of each table, in table order, keyed by `db.table`. One query on
 * information_schema.COLUMNS for all tables; on MariaDB, when some column is a LONGTEXT, one
 * more on information_schema.CHECK_CONSTRAINTS to tell JSON columns apart. A table the user
 * cannot see (or that does not exist) is absent from the map.
 */
export async function tableColumns(
  conn: Connection,
  tables: readonly MysqlTableRef[],
): Promise<Map<string, MysqlColumnInfo[]>> {
  const out = new Map<string, MysqlColumnInfo[]>()
  if (tables.length === 0) return out
  const pairs = tables.map(() => '(?, ?)').join(', ')
  const params = tables.flatMap((t) => [t.db, t.table])
  const [rows] = await conn.query(
    `SELECT TABLE_SCHEMA AS db, TABLE_NAME AS tbl, COLUMN_NAME AS name, ORDINAL_POSITION AS position,
            DATA_TYPE AS dataType, COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable,
            NUMERIC_PRECISION AS numericPrecision, NUMERIC_SCALE AS numericScale,
            DATETIME_PRECISION AS datetimePrecision, CHARACTER_SET_NAME AS charset,
            CHARACTER_MAXIMUM_LENGTH AS maxLength
       FROM information_schema.COLUMNS
      WHERE (TABLE_SCHEMA, TABLE_NAME) IN (${pairs})
      ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`,
    params,
  )
  const list = rows as ColumnRow[]

  // MariaDB JSON columns: LONGTEXT + json_valid CHECK. Only asked when a LONGTEXT exists.
  let jsonChecks: Set<string> | null = null
  if (list.some((r) => str(r.dataType).toLowerCase() === 'longtext')) {
    jsonChecks = await mariadbJsonChecks(conn, pairs, params)
  }

  for (const r of list) {
    const db = str(r.db)
    const tbl = str(r.tbl)
    const name = str(r.name)
    const dataType = str(r.dataType).toLowerCase()
    const k = keyOf(db, tbl)
    let cols = out.get(k)
    if (!cols) out.set(k, (cols = []))
    cols.push({
      name,
      position: Number(r.position),
      dataType,
      columnType: str(r.columnType),
      nullable: str(r.nullable) === 'YES',
      numericPrecision: num(r.numericPrecision),
      numericScale: num(r.numericScale),
      datetimePrecision: num(r.datetimePrecision),
      charset: r.charset === null ? null : str(r.charset),
      maxLength: num(r.maxLength),
      mariadbJson:
        dataType === 'longtext' &&
        jsonChecks !== null &&
        jsonChecks.has(`${k}\u0000${jsonCheckFor(name).toLowerCase()}`),
    })
  }
  return out
}

/**
 * `db.table\0clause` (clause lower-cased) of every CHECK constraint on the tables, on
 * MariaDB only: MySQL's CHECK_CONSTRAINTS has no TABLE_NAME, and MySQL has a real JSON type.
 */
async function mariadbJsonChecks(conn: Connection, pairs: string, params: string[]): Promise<Set<string>> {
  const [[v]] = (await conn.query('SELECT VERSION() AS v')) as unknown as [{ v: unknown }[]]
  const set = new Set<string>()
  if (!v || !/mariadb/i.test(str(v.v))) return set
  const [rows] = await conn.query(
    `SELECT CONSTRAINT_SCHEMA AS db, TABLE_NAME AS tbl, CHECK_CLAUSE AS clause
       FROM information_schema.CHECK_CONSTRAINTS
      WHERE (CONSTRAINT_SCHEMA, TABLE_NAME) IN (${pairs})`,
    params,
  )
  for (const r of rows as { db: unknown; tbl: unknown; clause: unknown }[]) {
    set.add(`${keyOf(str(r.db), str(r.tbl))}\u0000${str(r.clause).toLowerCase()}`)
  }
  return set
}
