/**
 * Helpers of the long-running benchmarks (stalled-sink.bench.ts, soak.bench.ts): a paced
 * write load on a Postgres table, the admin /metrics gauges of a running Sluice, the slot
 * and walsender as Postgres sees them, and percentiles.
 */
import type pg from 'pg'
import { sleep, tail } from './harness.js'
import type { Measured } from './proc.js'
import { PIPELINE, startSluice, type SluiceLauncher } from './sluice.js'
import { insertSql } from './workload.js'

/** A steady write load started by startLoad(). */
export interface Load {
  /** Rows inserted so far (ids 1..inserted). */
  readonly inserted: number
  /** Rows updated so far. */
  readonly updated: number
  /** Changes per second asked for. */
  readonly rate: number
  /** Changes written per second since start (or since the last resetCount()). */
  achieved(): number
  /** Restarts the achieved() window. */
  resetCount(): void
  /** Changes the target rate (for a ramp). */
  setRate(rate: number): void
  /** Stops after the transaction in progress; resolves with the last WAL insert position. */
  stop(): Promise<string>
}

/**
 * Writes `rate` changes per second into `table` (created with createTableSql()) until
 * stop(): every `tickMs`, one transaction of inserts of the next ids (INSERT ... SELECT)
 * and, with `updateShare` > 0, one of updates of earlier ids. Ticks never overlap: when
 * the server cannot keep up, the achieved rate falls short of `rate` (achieved() shows it).
 */
export function startLoad(
  c: pg.Client,
  table: string,
  rate: number,
  o: { tickMs?: number; updateShare?: number; txRows?: number } = {},
): Load {
  const tickMs = o.tickMs ?? 100
  const updateShare = o.updateShare ?? 0
  const txRows = o.txRows ?? 1000
  let target = rate
  let inserted = 0
  let updated = 0
  let counted = 0
  let since = Date.now()
  let stopping = false
  let failure: unknown = null
  const ins = insertSql(table)
  const upd = `UPDATE ${table} SET amount = amount + 1, note = md5(random()::text) WHERE id BETWEEN $1 AND $2`
  let owed = 0
  const loop = (async () => {
    let next = Date.now()
    while (!stopping) {
      owed += (target * tickMs) / 1000
      const n = Math.floor(owed)
      owed -= n
      const nUpd = inserted > 0 ? Math.min(Math.floor(n * updateShare), inserted) : 0
      let nIns = n - nUpd
      while (nIns > 0) {
        const k = Math.min(nIns, txRows)
        await c.query(ins, [inserted + 1, inserted + k])
        inserted += k
        counted += k
        nIns -= k
      }
      if (nUpd > 0) {
        const from = 1 + Math.floor(Math.random() * Math.max(1, inserted - nUpd))
        await c.query(upd, [from, from + nUpd - 1])
        updated += nUpd
        counted += nUpd
      }
      next += tickMs
      const wait = next - Date.now()
      if (wait > 0) await sleep(wait)
      else next = Date.now() // behind: do not try to catch up in a burst
    }
  })().catch((err: unknown) => {
    failure = err
  })
  return {
    get inserted() {
      return inserted
    },
    get updated() {
      return updated
    },
    get rate() {
      return target
    },
    achieved: () => counted / Math.max(0.001, (Date.now() - since) / 1000),
    resetCount: () => {
      counted = 0
      since = Date.now()
    },
    setRate: (r) => {
      target = r
    },
    stop: async () => {
      stopping = true
      await loop
      if (failure) throw failure instanceof Error ? failure : new Error(String(failure))
      return (await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l
    },
  }
}

/** Sluice's admin /metrics as name → value, for the series of pipeline `pipeline` (or unlabelled). */
export async function scrapeMetrics(port: number, pipeline: string): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(4000) })
  if (!res.ok) throw new Error(`/metrics: HTTP ${res.status}`)
  const out = new Map<string, number>()
  for (const line of (await res.text()).split('\n')) {
    if (line.startsWith('#') || line === '') continue
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)$/.exec(line)
    if (!m) continue
    const labels = m[2] ?? ''
    if (labels && !labels.includes(`pipeline="${pipeline}"`)) continue
    if (labels && labels.replace(`pipeline="${pipeline}"`, '').replace(/[{},]/g, '') !== '') continue
    out.set(m[1]!, Number(m[3]))
  }
  return out
}

/** Waits until /metrics answers (Sluice's admin API is up). */
export async function waitForMetrics(port: number, pipeline: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms
  for (;;) {
    try {
      await scrapeMetrics(port, pipeline)
      return
    } catch (err) {
      if (Date.now() > end) throw err
      await sleep(200)
    }
  }
}

/** The slot and its walsender as Postgres sees them. */
export interface SlotView {
  /** confirmed_flush_lsn as a number of bytes. */
  confirmed: bigint | null
  active: boolean
  /** The walsender's pid (pg_replication_slots.active_pid). */
  pid: number | null
  /** pg_stat_replication.reply_time of that walsender: the last status message it received. */
  replyTime: Date | null
  /** WAL the slot keeps (current LSN minus restart_lsn). */
  retainedBytes: number | null
  /** Current WAL insert position. */
  current: bigint
}

/** Reads the slot `slot` and its walsender. */
export async function slotView(c: pg.Client, slot: string): Promise<SlotView> {
  const r = await c.query<{
    confirmed: string | null
    active: boolean | null
    pid: number | null
    reply: Date | null
    retained: string | null
    current: string
  }>(
    `SELECT s.confirmed_flush_lsn::text AS confirmed, s.active, s.active_pid AS pid, r.reply_time AS reply,
            (pg_current_wal_insert_lsn() - s.restart_lsn)::bigint::text AS retained,
            pg_current_wal_insert_lsn()::text AS current
       FROM (SELECT 1) AS one
       LEFT JOIN pg_replication_slots s ON s.slot_name = $1
       LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid`,
    [slot],
  )
  const row = r.rows[0]!
  return {
    confirmed: row.confirmed ? lsnBytes(row.confirmed) : null,
    active: row.active === true,
    pid: row.pid,
    replyTime: row.reply,
    retainedBytes: row.retained === null ? null : Number(row.retained),
    current: lsnBytes(row.current),
  }
}

/** `16/B374D848` as a number of bytes. */
export function lsnBytes(t: string): bigint {
  const [hi, lo] = t.split('/')
  return (BigInt('0x' + hi) << 32n) | BigInt('0x' + lo)
}

/** The p-th percentile (0..100, nearest rank) of a non-empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!
}

/**
 * Starts `sluice run` on `yaml` and waits until its admin API answers and it streams from
 * `slot`; `exited()` tells whether the process has stopped since (its log is `log`).
 */
export async function startStreaming(o: {
  launcher: SluiceLauncher
  yaml: string
  dir: string
  flags: readonly string[]
  client: pg.Client
  slot: string
  adminPort: number
}): Promise<{ m: Measured; log: string; exited: () => boolean }> {
  const m = startSluice(o.launcher, o.yaml, o.dir, o.flags)
  const log = `${o.dir}/sluice.log`
  let exited = false
  void m.exited.then(() => (exited = true))
  await waitForMetrics(o.adminPort, PIPELINE)
  for (let i = 0; !(await slotView(o.client, o.slot)).active; i++) {
    if (exited || i > 600) throw new Error(`sluice did not start streaming; log:\n${tail(log)}`)
    await sleep(100)
  }
  return { m, log, exited: () => exited }
}
