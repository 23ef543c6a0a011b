/**
 * Helpers for the MySQL/MariaDB integration tests: pipeline YAML, MySQL positions, a mixed
 * concurrent write load, and reading JSON Lines output. The source-neutral pieces (seeded
 * PRNG, committed position, replaying change events) live in crash.ts and are re-exported.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import mysql from 'mysql2/promise'
import { prng, sleep } from './crash.js'
import type { Envelope } from './pipeline.js'

export { applyEvent, diffRows, loadRowOf, prng, readStatePosition, sleep, type LoadRow } from './crash.js'

/** YAML for one MySQL pipeline writing Avro files to `<dir>/out`, state in `<dir>/state`. */
export function mysqlPipelineYaml(opts: {
  url: string
  tables: string[]
  dir: string
  serverId: number
  name?: string
  snapshot?: 'initial' | 'never' | 'initial_only'
  format?: 'avro' | 'jsonl'
  /** Extra lines for the file sink (indented by 8). */
  sinkExtra?: string
  logLevel?: string
}): string {
  return `
pipelines:
  - name: ${opts.name ?? 'shop'}
    source:
      type: mysql
      url: ${opts.url}
      tables: [${opts.tables.join(', ')}]
      server_id: ${opts.serverId}
      snapshot: ${opts.snapshot ?? 'initial'}
    sinks:
      - type: file
        path: ${join(opts.dir, 'out')}
        format: ${opts.format ?? 'avro'}
${opts.sinkExtra ?? ''}
state:
  type: file
  path: ${join(opts.dir, 'state')}
log:
  level: ${opts.logLevel ?? process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

/** The sort key of a MySQL position: everything before the first `;`. */
export const sortKey = (pos: string): string => pos.split(';')[0]!

/**
 * The parts of a position's sort key `<file seq>.<offset>.<phase>.<index>` (widths 10, 16,
 * 1, 12), parsed here independently of connectors/mysql/position.ts.
 */
export function keyParts(pos: string): { seq: number; offset: number; phase: string; index: number } {
  const m = /^(\d{10})\.(\d{16})\.([01])\.(\d{12})$/.exec(sortKey(pos))
  if (!m) throw new Error(`not a mysql position: ${pos}`)
  return { seq: Number(m[1]), offset: Number(m[2]), phase: m[3]!, index: Number(m[4]) }
}

/** A snapshot's identity in a position: its binlog coordinates and phase (`<seq>.<offset>.0`). */
export const snapshotIdOf = (pos: string): string => sortKey(pos).slice(0, 29)

/** Whether a committed position says the snapshot finished (streaming, or snapshot END). */
export const snapshotFinished = (pos: string | null): boolean => {
  if (pos === null) return false
  const k = keyParts(pos)
  return k.phase === '1' || k.index === 999_999_999_999
}

/** Statistics of a write load. */
export interface LoadStats {
  /** Committed statements/transactions. */
  txs: number
  /** Transactions rolled back on purpose. */
  rollbacks: number
  /** Statements that failed with a deadlock or lock wait timeout (retried by moving on). */
  conflicts: number
}

/** Server errors a concurrent writer may hit and just move on from. */
const CONFLICTS = new Set([1213 /* ER_LOCK_DEADLOCK */, 1205 /* ER_LOCK_WAIT_TIMEOUT */])

/**
 * Starts `writers` concurrent connections that change `db.table` in a loop: single-row
 * inserts, updates (`v = v + 1`) and deletes, 2-row transactions, and (with `mixed`)
 * multi-statement transactions of which some roll back, range updates, multi-row inserts
 * and range deletes. Writer `w` inserts ids `firstNewId + w + writers * k`. Runs until
 * stop(), which rejects with the first unexpected error.
 */
export function startMysqlLoad(opts: {
  url: string
  table: string
  writers: number
  seed: number
  /** Highest id that exists when the load starts (ids 1..maxId). */
  maxId: number
  firstNewId: number
  mixed?: boolean
  pauseMs?: number
}): { stop(): Promise<LoadStats>; readonly stats: LoadStats } {
  const stats: LoadStats = { txs: 0, rollbacks: 0, conflicts: 0 }
  let running = true
  let highest = Math.max(opts.maxId, opts.firstNewId - 1)
  const conns: mysql.Connection[] = []
  const one = async (c: mysql.Connection, rand: () => number, newId: () => number): Promise<void> => {
    const someId = (): number => 1 + Math.floor(rand() * highest)
    const r = rand()
    if (r < 0.4) await c.query(`UPDATE ${opts.table} SET v = v + 1 WHERE id = ?`, [someId()])
    else if (r < 0.75) {
      const id = newId()
      await c.query(`INSERT INTO ${opts.table} VALUES (?, 0, ?)`, [id, `w${id}`])
    } else await c.query(`DELETE FROM ${opts.table} WHERE id = ?`, [someId()])
  }
  const loop = async (w: number): Promise<void> => {
    const rand = prng(opts.seed + 7919 * (w + 1))
    let k = 0
    const newId = (): number => {
      const id = opts.firstNewId + w + opts.writers * k++
      if (id > highest) highest = id
      return id
    }
    const c = await mysql.createConnection({ uri: opts.url })
    conns.push(c)
    try {
      while (running) {
        const r = rand()
        try {
          if (r < 0.7) {
            await one(c, rand, newId)
          } else if (r < 0.85 || !opts.mixed) {
            // A 2-row transaction: an insert and an update.
            await c.query('START TRANSACTION')
            const id = newId()
            await c.query(`INSERT INTO ${opts.table} VALUES (?, 0, ?)`, [id, `t${id}`])
            await c.query(`UPDATE ${opts.table} SET v = v + 1 WHERE id = ?`, [
              1 + Math.floor(rand() * highest),
            ])
            await c.query('COMMIT')
          } else if (r < 0.92) {
            await c.query('START TRANSACTION')
            for (let i = 0, n = 2 + Math.floor(rand() * 5); i < n; i++) await one(c, rand, newId)
            if (rand() < 0.25) {
              await c.query('ROLLBACK')
              stats.rollbacks++
              continue
            }
            await c.query('COMMIT')
          } else if (r < 0.95) {
            const from = 1 + Math.floor(rand() * highest)
            await c.query(`UPDATE ${opts.table} SET v = v + 1 WHERE id BETWEEN ? AND ?`, [from, from + 30])
          } else if (r < 0.98) {
            const values: unknown[] = []
            for (let i = 0; i < 40; i++) {
              const id = newId()
              values.push([id, 0, `m${id}`])
            }
            await c.query(`INSERT INTO ${opts.table} VALUES ?`, [values])
          } else {
            const from = 1 + Math.floor(rand() * highest)
            await c.query(`DELETE FROM ${opts.table} WHERE id BETWEEN ? AND ?`, [from, from + 10])
          }
          stats.txs++
        } catch (err) {
          const errno = (err as { errno?: number }).errno
          if (errno === undefined || !CONFLICTS.has(errno)) throw err
          stats.conflicts++
          await c.query('ROLLBACK')
        }
        if (opts.pauseMs) await sleep(opts.pauseMs)
      }
    } finally {
      await c.end().catch(() => undefined)
    }
  }
  const loops = Array.from({ length: opts.writers }, (_, w) => loop(w))
  const all = Promise.all(loops)
  all.catch(() => undefined) // reported by stop()
  return {
    stats,
    async stop() {
      running = false
      try {
        await all
      } finally {
        await Promise.allSettled(loops)
        for (const c of conns) c.destroy()
      }
      return stats
    },
  }
}

/**
 * Reads the JSON Lines files of one table's series under `out` (file sink `format: jsonl`),
 * in file order. A torn last line (a killed writer) is dropped.
 */
export function readJsonl(out: string, table: string): Envelope[] {
  const dir = join(out, table)
  let files: string[]
  try {
    files = readdirSync(dir)
      .filter((f) => f.endsWith('.jsonl'))
      .sort()
  } catch {
    return []
  }
  const result: Envelope[] = []
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!line) continue
      try {
        result.push(JSON.parse(line) as Envelope)
      } catch {
        // torn tail
      }
    }
  }
  return result
}

/**
 * The value of `p`, or `fallback()` when `p` has not settled within `ms` (the timer is
 * cleared either way, so it does not keep the test process alive).
 */
export async function within<T, F>(p: Promise<T>, ms: number, fallback: () => F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<F>((r) => (timer = setTimeout(() => r(fallback()), ms)))])
  } finally {
    clearTimeout(timer)
  }
}
