import type mysql from 'mysql2/promise'
import { backlogSteps, runSteps, type BacklogShape } from './workload.js'

/** The database every MariaDB benchmark table lives in. */
export const MARIA_DB = 'benchdb'

/** The row shape of bench/lib/workload.ts in MariaDB types (~100-byte `note`). */
export function mariaTableSql(name: string): string {
  return `CREATE TABLE ${MARIA_DB}.${name} (id BIGINT PRIMARY KEY, name VARCHAR(40), amount DECIMAL(12,2), created DATETIME(6), note VARCHAR(200)) ENGINE=InnoDB`
}

/**
 * INSERT ... SELECT of ids `from..to` from MariaDB's Sequence engine (`seq_1_to_N` is a
 * virtual table of the integers 1..N): one statement, one transaction. `note` is 100
 * characters; `created` has microseconds, so DATETIME(6) decoding is exercised.
 */
export function mariaInsertSql(name: string, from: number, to: number): string {
  return `INSERT INTO ${MARIA_DB}.${name} (id, name, amount, created, note)
          SELECT seq, CONCAT('customer ', seq), (seq % 1000000) / 100,
                 TIMESTAMP'2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL (seq % 1000000) MICROSECOND,
                 RPAD(MD5(seq), 100, MD5(seq + 1))
            FROM ${MARIA_DB}.seq_${from}_to_${to}`
}

/** Binlog coordinates as SHOW MASTER STATUS reports them. */
export interface Coordinates {
  readonly file: string
  readonly position: number
}

/** The server's current binlog write position (SHOW MASTER STATUS). */
export async function masterStatus(c: mysql.Connection): Promise<Coordinates> {
  const [rows] = await c.query('SHOW MASTER STATUS')
  const r = (rows as { File: string; Position: number | string }[])[0]
  if (!r) throw new Error('SHOW MASTER STATUS returned nothing: is log_bin on?')
  return { file: r.File, position: Number(r.Position) }
}

/** Binlog files from `from` to `to` inclusive (SHOW BINARY LOGS), in order, with their sizes. */
export async function binlogFilesBetween(
  c: mysql.Connection,
  from: string,
  to: string,
): Promise<{ name: string; size: number }[]> {
  const [rows] = await c.query('SHOW BINARY LOGS')
  const all = (rows as { Log_name: string; File_size: number | string }[]).map((r) => ({
    name: r.Log_name,
    size: Number(r.File_size),
  }))
  const a = all.findIndex((f) => f.name === from)
  const b = all.findIndex((f) => f.name === to)
  if (a < 0 || b < a)
    throw new Error(
      `binlog files ${from}..${to} not in SHOW BINARY LOGS (${all.map((f) => f.name).join(', ')})`,
    )
  return all.slice(a, b + 1)
}

/** What writing the backlog produced. */
export interface MariaBacklog extends BacklogShape {
  /** Row changes a consumer must deliver. */
  events: number
  transactions: number
  /** Where the backlog's first transaction (its GTID event) starts. */
  start: Coordinates
  /** Where the last transaction (its GTID event) starts: its commit checkpoint is there. */
  lastTxStart: Coordinates
  /** The binlog's end after the last commit. */
  end: Coordinates
  /** Binlog files the backlog spans, first to last. */
  files: string[]
  /** Binlog bytes of the backlog. */
  binlogBytes: number
  ms: number
}

/**
 * Writes the backlog on `name` in autocommit transactions of `txRows` rows: inserts of ids
 * 1..inserts, updates of ids 1..updates (amount and note change, the key does not), then
 * deletes of the highest ids. Nothing else may write to the server meanwhile: the
 * coordinates read between statements are where the next transaction starts.
 */
export async function writeMariaBacklog(
  c: mysql.Connection,
  name: string,
  shape: BacklogShape,
  progress: (s: string) => void,
): Promise<MariaBacklog> {
  const t0 = Date.now()
  const t = `${MARIA_DB}.${name}`
  const sql = {
    insert: (a: number, b: number): string => mariaInsertSql(name, a, b),
    update: (a: number, b: number): string =>
      `UPDATE ${t} SET amount = amount + 1, note = RPAD(MD5(id * 7), 100, 'x') WHERE id BETWEEN ${a} AND ${b}`,
    delete: (a: number, b: number): string => `DELETE FROM ${t} WHERE id BETWEEN ${a} AND ${b}`,
  }
  const steps = backlogSteps(shape)
  const start = await masterStatus(c)
  let lastTxStart = start
  await runSteps(
    steps,
    async (s, last) => {
      if (last) lastTxStart = await masterStatus(c)
      await c.query(sql[s.kind](s.from, s.to))
    },
    progress,
  )
  const end = await masterStatus(c)
  const files = await binlogFilesBetween(c, start.file, end.file)
  // Whole files in between, minus what precedes the start in the first file, plus the last file up to the end.
  const binlogBytes =
    files.length === 1
      ? end.position - start.position
      : files.slice(0, -1).reduce((n, f) => n + f.size, 0) - start.position + end.position
  return {
    ...shape,
    events: shape.inserts + shape.updates + shape.deletes,
    transactions: steps.length,
    start,
    lastTxStart,
    end,
    files: files.map((f) => f.name),
    binlogBytes,
    ms: Date.now() - t0,
  }
}
