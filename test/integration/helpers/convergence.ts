/**
 * The convergence proof of convergence.test.ts (issue #5), source-neutral: one pipeline with
 * two sinks (Redis cache and Elasticsearch) run as the real `sluice run` process, SIGKILLed
 * at seeded moments (the first kill during the initial snapshot) while a seeded workload
 * changes the table, and restarted each time. Then the writer stops, a sentinel row is
 * awaited in both targets and the process stops with SIGTERM (exit 0), and:
 *
 * 1. `sluice verify` (as a process) exits 0 with zero drift for both sinks;
 * 2. the targets are compared here with the table read back with SQL, rendered by this file
 *    (not by Sluice's code): every row in Redis (JSON) and in the index, nothing else;
 * 3. replay: the state file is reset to a copy saved after the first restart (the first
 *    position past the snapshot a restarted run committed), `sluice run` catches up again
 *    (a second sentinel), and verify and the comparison still find zero drift. (A Postgres
 *    slot has confirmed more than that position, so the server resends nothing; MariaDB
 *    re-reads the binlog from there, and the version guards must refuse the stale writes.)
 *
 * The workload (inserts, updates, deletes, primary-key changes, values of 100-300 KB,
 * multi-row transactions, some rolled back) is written once with `?` placeholders.
 */
import assert from 'node:assert/strict'
import { copyFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { TestContext } from 'node:test'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import pg from 'pg'
import type { SearchFake } from '../servers/elasticsearch-fake.js'
import type { RedisServer } from '../servers/redis.js'
import { exitWithin, runCli, spawnCli, type CliProcess } from './cli.js'
import { prng, readStatePosition, sleep } from './crash.js'
import { tempDir, waitFor } from './pipeline.js'
import { cacheDiff } from './redis-cache.js'

/** A row of the convergence table `(id, v, note, body)`; body is NULL or up to 300 KB. */
export interface ConvergenceRow {
  id: number
  v: number
  note: string
  body: string | null
}

/** One writer connection; SQL uses `?` placeholders whatever the database. */
export interface SqlConn {
  exec(sql: string, params?: unknown[]): Promise<void>
  close(): Promise<void>
}

/** A Postgres connection speaking `?` placeholders (rewritten to `$n`). */
export async function pgConn(url: string): Promise<SqlConn> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  return {
    async exec(sql, params = []) {
      let n = 0
      await c.query(
        sql.replace(/\?/g, () => `$${++n}`),
        params,
      )
    },
    close: () => c.end(),
  }
}

/** A MySQL/MariaDB connection. */
export async function mysqlConn(url: string): Promise<SqlConn> {
  const c = await mysql.createConnection({ uri: url })
  return {
    async exec(sql, params = []) {
      await c.query(sql, params)
    },
    close: () => c.end(),
  }
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.,;:!?äöü€'

/** A text of 100-300 KB that compresses poorly (so Postgres stores it out of line, in TOAST). */
function largeText(rand: () => number, id: number): string {
  const n = 100_000 + Math.floor(rand() * 200_000)
  const chars: string[] = [`#${id}:`]
  for (let i = 0; i < n; i++) chars.push(ALPHABET[Math.floor(rand() * ALPHABET.length)]!)
  return chars.join('')
}

/** What a workload did. */
export interface WorkloadStats {
  txs: number
  rollbacks: number
  keyChanges: number
  largeValues: number
}

/**
 * Starts one writer on `table` (ids 1..maxId exist): single statements and multi-row
 * transactions of inserts, updates (some of rows holding large values, so unchanged TOAST
 * columns come up), deletes, primary-key changes (`SET id = <new id>`), large values, range
 * updates and range deletes. Runs until stop(), which rejects with the first error.
 */
export function startConvergenceWorkload(
  conn: SqlConn,
  table: string,
  maxId: number,
  rand: () => number,
): { stop(): Promise<WorkloadStats> } {
  const stats: WorkloadStats = { txs: 0, rollbacks: 0, keyChanges: 0, largeValues: 0 }
  let running = true
  let nextId = maxId + 1
  const large: number[] = []
  const someId = (): number => 1 + Math.floor(rand() * (nextId - 1))
  const one = async (): Promise<void> => {
    const r = rand()
    if (r < 0.3) {
      await conn.exec(`UPDATE ${table} SET v = v + 1, note = ? WHERE id = ?`, [`u${stats.txs}`, someId()])
    } else if (r < 0.5) {
      const id = nextId++
      await conn.exec(`INSERT INTO ${table} (id, v, note, body) VALUES (?, 0, ?, ?)`, [
        id,
        `w${id}`,
        rand() < 0.3 ? `small body ${id}` : null,
      ])
    } else if (r < 0.63) {
      await conn.exec(`DELETE FROM ${table} WHERE id = ?`, [someId()])
    } else if (r < 0.73) {
      // A primary-key change: the old key must disappear from both targets.
      const id = nextId++
      await conn.exec(`UPDATE ${table} SET id = ? WHERE id = ?`, [id, someId()])
      stats.keyChanges++
    } else if (r < 0.77) {
      const fresh = rand() < 0.5
      const id = fresh ? nextId++ : someId()
      const body = largeText(rand, id)
      if (fresh)
        await conn.exec(`INSERT INTO ${table} (id, v, note, body) VALUES (?, 0, ?, ?)`, [id, `L${id}`, body])
      else await conn.exec(`UPDATE ${table} SET body = ? WHERE id = ?`, [body, id])
      large.push(id)
      stats.largeValues++
    } else if (r < 0.9 && large.length > 0) {
      // An update that leaves a large value as it is (Postgres: an unchanged TOAST column).
      const id = large[Math.floor(rand() * large.length)]!
      await conn.exec(`UPDATE ${table} SET v = v + 1 WHERE id = ?`, [id])
    } else {
      await conn.exec(`UPDATE ${table} SET body = ? WHERE id = ?`, [rand() < 0.5 ? null : 'shrunk', someId()])
    }
  }
  const loop = (async () => {
    while (running) {
      const r = rand()
      if (r < 0.7) await one()
      else if (r < 0.85) {
        await conn.exec('BEGIN')
        for (let i = 0, n = 2 + Math.floor(rand() * 5); i < n; i++) await one()
        if (rand() < 0.2) {
          await conn.exec('ROLLBACK')
          stats.rollbacks++
        } else await conn.exec('COMMIT')
      } else if (r < 0.93) {
        const from = someId()
        await conn.exec(`UPDATE ${table} SET v = v + 1 WHERE id BETWEEN ? AND ?`, [from, from + 30])
      } else {
        const from = someId()
        await conn.exec(`DELETE FROM ${table} WHERE id BETWEEN ? AND ?`, [from, from + 10])
      }
      stats.txs++
      await sleep(2)
    }
  })()
  loop.catch(() => undefined) // reported by stop()
  return {
    stop: async () => {
      running = false
      await loop.finally(() => conn.close().catch(() => undefined))
      return stats
    },
  }
}

/** The row as this test expects it in either target: columns by name, NULL as null. */
const rendered = (r: ConvergenceRow): Record<string, unknown> => ({
  id: r.id,
  v: r.v,
  note: r.note,
  body: r.body,
})

/**
 * Differences between the targets and the table rows (at most `limit` per target): the Redis
 * value of `<keyPrefix><id>` must be the row's JSON, the document `<id>` of `index` the row,
 * and neither target may hold another row.
 */
export async function targetDiff(
  redis: Redis,
  es: SearchFake,
  opts: { keyPrefix: string; index: string; rows: readonly ConvergenceRow[] },
  limit = 10,
): Promise<{ redis: { count: number; sample: string[] }; es: { count: number; sample: string[] } }> {
  const want = new Map(opts.rows.map((r) => [`${opts.keyPrefix}${r.id}`, JSON.stringify(rendered(r))]))
  const redisDiff = await cacheDiff(redis, want, [], limit)
  const docs = es.docs(opts.index)
  const out: string[] = []
  const ids = new Set<string>()
  for (const r of opts.rows) {
    const id = String(r.id)
    ids.add(id)
    const doc = docs.get(id)
    if (!doc) out.push(`missing document ${id}`)
    else {
      try {
        assert.deepStrictEqual(doc, rendered(r))
      } catch {
        out.push(
          `document ${id}: ${JSON.stringify(doc).slice(0, 200)}, table ${JSON.stringify(r).slice(0, 200)}`,
        )
      }
    }
  }
  for (const id of docs.keys()) if (!ids.has(id)) out.push(`extra document ${id}`)
  return { redis: redisDiff, es: { count: out.length, sample: out.slice(0, limit) } }
}

/** A source for the scenario. */
export interface ConvergenceSpec {
  pipeline: string
  /** The `source:` block (without the key), indented by 6. */
  sourceYaml: string
  redis: RedisServer
  es: SearchFake
  /** Redis key of a row without its id (`public.counters:`). */
  keyPrefix: string
  /** The search index of the table. */
  index: string
  table: string
  /** Rows 1..snapshotRows exist when the scenario starts. */
  snapshotRows: number
  /** Log line of the snapshot's table copy starting. */
  snapshotStartedLog: string
  /** Every row of the table, read with SQL. */
  rows(): Promise<ConvergenceRow[]>
  /** A new writer connection. */
  connect(): Promise<SqlConn>
  /** Runs one statement (the sentinels). */
  sql(text: string): Promise<unknown>
  /** Whether a committed position is past the end of a snapshot. */
  snapshotFinished(position: string | null): boolean
  /** Called before each start of `sluice run` (Postgres: wait for the killed run's slot). */
  beforeRun?(): Promise<void>
}

/** A verify report (`--json`), the fields checked here. */
interface VerifyJson {
  status: string
  inSync: boolean
  sinks: {
    index: number
    type: string
    unverifiable?: string | null
    tables: {
      table: string
      sourceRows: number
      targetKeys: number | null
      matched: number
      missing: number
      extra: number
      differing: number
    }[]
  }[]
  totals: { missing: number; extra: number; differing: number }
}

const positionKey = (p: string | null): string => (p ?? '').split(';')[0]!

/** Runs the scenario described in the file comment; `kills` SIGKILLs, seeded by `seed`. */
export async function runConvergenceScenario(
  t: TestContext,
  s: ConvergenceSpec,
  seed: number,
  kills: number,
): Promise<void> {
  assert.ok(kills >= 2, 'at least two kills: one in the snapshot, one after the first restart')
  const rand = prng(seed)
  const tmp = tempDir()
  const stateDir = join(tmp.dir, 'state')
  const stateFile = join(stateDir, `${s.pipeline}.json`)
  const configFile = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    configFile,
    `pipelines:
  - name: ${s.pipeline}
    source:
${s.sourceYaml}
    sinks:
      - type: redis
        url: ${s.redis.url}
        mode: cache
      - type: elasticsearch
        url: ${s.es.url}
        retry_backoff_ms: 10
        retry_max_backoff_ms: 200
state:
  type: file
  path: ${stateDir}
log:
  level: info
`,
  )
  const redis = new Redis(s.redis.url)
  const writer = startConvergenceWorkload(await s.connect(), s.table, s.snapshotRows, prng(seed ^ 0x5eed))
  let child: CliProcess | null = null
  const start = async (): Promise<CliProcess> => {
    await s.beforeRun?.()
    child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
    return child
  }
  const stop = async (p: CliProcess, what: string): Promise<void> => {
    p.kill('SIGTERM')
    const exit = await exitWithin(p, 30_000)
    assert.equal(exit.code, 0, `${what}: SIGTERM exits 0:\n${p.stderr().slice(-3000)}`)
  }
  /** Writes a sentinel row and waits until both targets hold it. */
  const sentinel = async (id: number): Promise<void> => {
    await s.sql(`INSERT INTO ${s.table} (id, v, note, body) VALUES (${id}, 0, 'sentinel', NULL)`)
    await waitFor(
      async () => (await redis.exists(`${s.keyPrefix}${id}`)) === 1 && s.es.docs(s.index).has(String(id)),
      120_000,
      `sentinel ${id} in redis and in the index`,
    )
  }
  /**
   * Runs `sluice verify` and the independent comparison, reports both, then asserts: exit 0,
   * zero drift for both sinks, and targets equal to the table. Returns the table's rows.
   */
  const check = async (when: string): Promise<ConvergenceRow[]> => {
    const res = await runCli(['verify', '-c', configFile, s.pipeline, '--json', '--recheck-ms', '200'], {
      cwd: tmp.dir,
      timeoutMs: 120_000,
    })
    const rows = await s.rows()
    const diff = await targetDiff(redis, s.es, { keyPrefix: s.keyPrefix, index: s.index, rows })
    t.diagnostic(
      `${when}: verify exit ${res.code}; ${rows.length} rows; independent check: redis ${diff.redis.count}, index ${diff.es.count} differences`,
    )
    assert.equal(
      res.code,
      0,
      `${when}: sluice verify exits 0 (seed ${seed}):\n${res.stdout.slice(0, 3000)}\n${res.stderr.slice(-2000)}`,
    )
    const report = JSON.parse(res.stdout) as VerifyJson
    assert.equal(report.status, 'in-sync', when)
    assert.deepEqual(report.totals, { ...report.totals, missing: 0, extra: 0, differing: 0 }, when)
    assert.deepEqual(
      report.sinks.map((k) => k.type),
      ['redis', 'elasticsearch'],
    )
    for (const k of report.sinks) {
      assert.equal(k.tables.length, 1, `${when}: sink ${k.type} verified one table`)
      const tb = k.tables[0]!
      assert.deepEqual(
        [tb.sourceRows, tb.targetKeys, tb.matched, tb.missing, tb.extra, tb.differing],
        [rows.length, rows.length, rows.length, 0, 0, 0],
        `${when}: sink ${k.type}: source rows, target keys, matched, missing, extra, differing`,
      )
    }
    assert.deepEqual(
      diff.redis.sample,
      [],
      `${when}: redis differs from the table in ${diff.redis.count} keys (seed ${seed})`,
    )
    assert.deepEqual(
      diff.es.sample,
      [],
      `${when}: the index differs from the table in ${diff.es.count} documents (seed ${seed})`,
    )
    return rows
  }

  // The replay starts from the first position past the snapshot that a restarted run
  // committed (the first restart's, unless it was killed before committing the snapshot end).
  const savedState = join(tmp.dir, 'state-after-first-restart.json')
  let saved = false
  const saveReplayState = (): void => {
    if (saved) return
    copyFileSync(stateFile, savedState)
    saved = true
  }
  const where: string[] = []
  const started = Date.now()
  try {
    for (let k = 0; k < kills; k++) {
      const p = await start()
      if (k === 0) {
        // Kill at a random point of the snapshot's progress (documents the index received).
        await p.waitForOutput(s.snapshotStartedLog, 60_000)
        const target = (0.1 + 0.5 * rand()) * s.snapshotRows
        const deadline = Date.now() + 120_000
        while (!p.stderr().includes('snapshot done') && s.es.stats.items < target) {
          assert.ok(Date.now() < deadline, 'the snapshot makes progress')
          await sleep(5)
        }
      } else {
        await p.waitForOutput('streaming started', 120_000)
        // From the second restart on, kills land mid-stream: once the snapshot's end is
        // committed (else every restart would just take another snapshot).
        if (k >= 2) {
          await waitFor(
            () => s.snapshotFinished(readStatePosition(stateDir, s.pipeline)),
            120_000,
            'the snapshot end to be committed',
          )
          saveReplayState()
        }
        await sleep(300 + rand() * 2700)
      }
      const logged = p.stderr()
      p.kill('SIGKILL')
      const { signal } = await exitWithin(p, 10_000)
      assert.equal(signal, 'SIGKILL', `run ${k} was killed, not exited on its own:\n${logged.slice(-2000)}`)
      // Where the kill landed: in the snapshot, after it but before its end was committed
      // (handoff: the next run takes a new snapshot), or mid-stream.
      const finished = s.snapshotFinished(readStatePosition(stateDir, s.pipeline))
      where.push(finished ? 'stream' : logged.includes('snapshot done') ? 'handoff' : 'snapshot')
      if (k === 1 && finished) saveReplayState()
    }
    const stats = await writer.stop()
    t.diagnostic(
      `${stats.txs} writer transactions (${stats.rollbacks} rolled back, ${stats.keyChanges} key changes, ${stats.largeValues} large values); kills in: ${where.join(', ')}`,
    )
    assert.equal(where[0], 'snapshot', `the first kill landed in the snapshot (${where.join(', ')})`)
    assert.ok(kills < 3 || where.includes('stream'), `a kill landed mid-stream (${where.join(', ')})`)

    const last = await start()
    await last.waitForOutput('streaming started', 120_000)
    if (!saved) {
      // Every restarted run was killed before committing its snapshot's end: use this one's.
      await waitFor(
        () => s.snapshotFinished(readStatePosition(stateDir, s.pipeline)),
        120_000,
        'the snapshot end to be committed',
      )
      saveReplayState()
    }
    await sentinel(-1)
    await stop(last, 'after the kills')
    const committed = readStatePosition(stateDir, s.pipeline)
    assert.ok(committed !== null, 'a position is committed')

    const rows = await check('after the kills')
    const largeRows = rows.filter((r) => (r.body?.length ?? 0) >= 100_000).length
    assert.ok(largeRows > 0, 'rows with large values are part of the comparison')
    t.diagnostic(
      `${rows.length} rows (${largeRows} with values of 100 KB or more) converged after ${Date.now() - started} ms`,
    )

    // Replay from what the first restarted run saved; a second sentinel marks catching up.
    const replayFrom = readStatePosition(tmp.dir, 'state-after-first-restart')
    assert.ok(
      replayFrom !== null && positionKey(replayFrom) <= positionKey(committed),
      `the committed position ${committed} is not behind the saved ${replayFrom}`,
    )
    copyFileSync(stateFile, join(tmp.dir, 'state-before-replay.json'))
    copyFileSync(savedState, stateFile)
    const conflictsBefore = s.es.stats.conflicts
    const replay = await start()
    await replay.waitForOutput('streaming started', 120_000)
    await sentinel(-2)
    await waitFor(
      () => positionKey(readStatePosition(stateDir, s.pipeline)) > positionKey(committed),
      60_000,
      'the replay to commit past the position committed before it',
    )
    await stop(replay, 'the replay')
    t.diagnostic(
      `replay from ${replayFrom} (committed before: ${committed}); ${s.es.stats.conflicts - conflictsBefore} stale index writes refused with 409`,
    )
    await check('after the replay')
  } finally {
    const p = child as CliProcess | null
    p?.kill('SIGKILL')
    if (p) await exitWithin(p, 10_000).catch(() => undefined)
    await writer.stop().catch(() => undefined)
    redis.disconnect()
    tmp.cleanup()
  }
}
