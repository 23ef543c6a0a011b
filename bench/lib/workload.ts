import type pg from 'pg'
import { int } from './stats.js'

/** The row shape of every benchmark table: ~100-byte text column, as in notes/performance.md. */
export const COLUMNS = 'id, name, amount, created, note'

/** CREATE TABLE for a benchmark table (autovacuum off so it cannot run during a measurement). */
export function createTableSql(name: string): string {
  return `CREATE TABLE ${name} (id bigint PRIMARY KEY, name text, amount numeric(12,2), created timestamptz, note text)
          WITH (autovacuum_enabled = false)`
}

/** INSERT ... SELECT of ids $1..$2; `note` is 100 characters. */
export function insertSql(name: string): string {
  return `INSERT INTO ${name} (${COLUMNS})
          SELECT g, 'customer ' || g, (g % 1000000) / 100.0, timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second',
                 rpad(md5(g::text), 100, md5((g + 1)::text))
            FROM generate_series($1::bigint, $2::bigint) AS g`
}

/** The sizes of the streaming backlog. */
export interface BacklogShape {
  inserts: number
  updates: number
  deletes: number
  txRows: number
}

/** Rows per transaction of the streaming backlog. */
export const TX_ROWS = 1000

/** The streaming backlog of the end-to-end benchmarks: `rows` inserts, rows/4 updates, rows/20 deletes. */
export const backlogShape = (rows: number): BacklogShape => ({
  inserts: rows,
  updates: Math.round(rows / 4),
  deletes: Math.round(rows / 20),
  txRows: TX_ROWS,
})

/** `<inserts> inserts + <updates> updates + <deletes> deletes`. */
export const changeCounts = (b: BacklogShape): string =>
  `${int(b.inserts)} inserts + ${int(b.updates)} updates + ${int(b.deletes)} deletes`

/** One transaction of the backlog: a statement on the ids from..to. */
export interface BacklogStep {
  kind: 'insert' | 'update' | 'delete'
  from: number
  to: number
}

/**
 * The backlog's transactions in order, each of at most `txRows` rows: inserts of ids
 * 1..inserts, then updates of ids 1..updates, then deletes of the highest ids.
 */
export function backlogSteps(shape: BacklogShape): BacklogStep[] {
  const steps: BacklogStep[] = []
  const chunks = (kind: BacklogStep['kind'], n: number, base: number): void => {
    for (let a = 0; a < n; a += shape.txRows)
      steps.push({ kind, from: base + a, to: base + Math.min(n, a + shape.txRows) - 1 })
  }
  chunks('insert', shape.inserts, 1)
  chunks('update', shape.updates, 1)
  chunks('delete', shape.deletes, shape.inserts - shape.deletes + 1)
  return steps
}

/** Runs the steps in order (`last` on the final one), reporting progress at most every 10 s. */
export async function runSteps(
  steps: readonly BacklogStep[],
  run: (s: BacklogStep, last: boolean) => Promise<void>,
  progress: (s: string) => void,
): Promise<void> {
  let lastLog = Date.now()
  for (let i = 0; i < steps.length; i++) {
    await run(steps[i]!, i === steps.length - 1)
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now()
      progress(`  backlog: ${i + 1}/${steps.length} transactions`)
    }
  }
}

/** What building the backlog produced. */
export interface Backlog extends BacklogShape {
  /** Change events a consumer must deliver. */
  events: number
  transactions: number
  /** WAL insert position just before the last transaction began (its commit LSN is after it). */
  lastTxStart: bigint
  /** WAL insert position just after the last commit: the backlog's end. */
  endLsn: string
  /** WAL bytes of the backlog. */
  walBytes: number
  ms: number
}

/** Parses `16/B374D848`. */
export function parseLsn(t: string): bigint {
  const [hi, lo] = t.split('/')
  return (BigInt('0x' + hi) << 32n) | BigInt('0x' + lo)
}

/** The current WAL insert position, `16/B374D848`. */
export const lsnNow = async (c: pg.Client): Promise<string> =>
  (await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l

/**
 * Writes the backlog on `table` in autocommit transactions of `txRows` rows: inserts of
 * ids 1..inserts, then updates of ids 1..updates (amount and note change, the key does
 * not), then deletes of the highest ids. Every statement is one transaction.
 */
export async function writeBacklog(
  c: pg.Client,
  table: string,
  shape: BacklogShape,
  progress: (s: string) => void,
): Promise<Backlog> {
  const t0 = Date.now()
  const start = await lsnNow(c)
  const sql = {
    insert: insertSql(table),
    update: `UPDATE ${table} SET amount = amount + 1, note = rpad(md5((id * 7)::text), 100, 'x') WHERE id BETWEEN $1 AND $2`,
    delete: `DELETE FROM ${table} WHERE id BETWEEN $1 AND $2`,
  }
  const steps = backlogSteps(shape)
  let lastTxStart = 0n
  await runSteps(
    steps,
    async (s, last) => {
      if (last) lastTxStart = parseLsn(await lsnNow(c))
      await c.query(sql[s.kind], [s.from, s.to])
    },
    progress,
  )
  const endLsn = await lsnNow(c)
  return {
    ...shape,
    events: shape.inserts + shape.updates + shape.deletes,
    transactions: steps.length,
    lastTxStart,
    endLsn,
    walBytes: Number(parseLsn(endLsn) - parseLsn(start)),
    ms: Date.now() - t0,
  }
}
