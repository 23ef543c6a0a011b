/**
 * Postgres → Redis cache throughput of the real `sluice run` CLI, against the same CLI
 * writing the file sink (Avro) on the same input, in one run (A B B A ...):
 *
 *   1. streaming: one WAL backlog (inserts, updates, deletes in 1,000-row transactions),
 *      each run reading a copy of one pristine slot; the Redis runs start from an empty
 *      database (FLUSHALL) and write one key per row through the version-guard script;
 *   2. snapshot of BENCH_ROWS existing rows (snapshot: initial).
 *
 * After every Redis run the number of row keys must equal the table's row count, and a
 * sample of rows must equal their JSON. Prints a summary and appends a dated section to
 * bench/RESULTS.md (BENCH_RESULTS=0: do not).
 *
 *   npm run bench:redis                                   # 1,000,000 rows
 *   BENCH_ROWS=20000 BENCH_RUNS=1 BENCH_RESULTS=0 npm run bench:redis   # smoke run
 *   env: BENCH_ROWS, BENCH_RUNS (5), BENCH_ONLY (stream,snapshot), BENCH_SLUICE (build|dist|tsx),
 *        BENCH_IN_FLIGHT, BENCH_SLUICE_FLAGS, BENCH_KEEP, BENCH_RESULTS
 */
import { Redis } from 'ioredis'
import pg from 'pg'
import { startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import { startRedis, type RedisServer } from '../test/integration/servers/redis.js'
import { announce, benchCommand, benchSettings, REPO, runMain, say, sleep, workspace } from './lib/harness.js'
import { machineInfo } from './lib/machine.js'
import { commandLine, finishSection, machineLine, sectionHead, subsection } from './lib/report.js'
import {
  describeRun,
  interleave,
  noteSluiceRun,
  pairRatios,
  runHead,
  runRow,
  summarise,
  type Run,
} from './lib/runs.js'
import {
  prepareLauncher,
  runSluice,
  sluiceLine,
  writePipelineYaml,
  type ServerCpuMeter,
  type SluiceLauncher,
} from './lib/sluice.js'
import { countKeys, redisCpu, writeRedisPipelineYaml } from './lib/sluice-redis.js'
import { fix, int, table } from './lib/stats.js'
import {
  backlogShape,
  changeCounts,
  createTableSql,
  insertSql,
  lsnNow,
  parseLsn,
  writeBacklog,
} from './lib/workload.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const {
  rows: ROWS,
  runs: RUNS,
  only: ONLY,
  inFlight: IN_FLIGHT,
  sluiceFlags: FLAGS,
} = benchSettings('stream,snapshot')
const END_INDEX = '999999999999'
const TARGET = 30_000

let pgServer: PgServer | null = null
let redisServer: RedisServer | null = null
const WORK = workspace({
  prefix: 'sluice-bench-redis-',
  serverName: 'Postgres and Redis',
  stopServer: async () => {
    await Promise.all([pgServer?.stop().catch(() => {}), redisServer?.stop().catch(() => {})])
    pgServer = null
    redisServer = null
  },
  signals: ['SIGINT'],
})

const reached =
  (phase: '0' | '1', minLsn: bigint) =>
  (pos: string): boolean => {
    const m = /^([0-9A-F]{16})\.([01])\.(\d{12})$/.exec(pos)
    return !!m && m[2] === phase && m[3] === END_INDEX && BigInt('0x' + m[1]) >= minLsn
  }

const dropSlot = async (c: pg.Client, slot: string): Promise<void> => {
  for (let i = 0; i < 50; i++) {
    const r = await c.query<{ active: boolean }>(
      'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
      [slot],
    )
    if (r.rowCount === 0) return
    if (!r.rows[0]!.active) {
      await c.query('SELECT pg_drop_replication_slot($1)', [slot])
      return
    }
    await sleep(100)
  }
  throw new Error(`slot ${slot} stayed active`)
}

/**
 * Checks the cache after a Redis run: as many `public.<table>:*` keys as rows, and 200
 * sampled rows equal to their JSON (rendered here from SQL text). Returns problems.
 */
async function checkCache(c: pg.Client, redis: Redis, tableName: string): Promise<string[]> {
  const rows = Number((await c.query<{ n: string }>(`SELECT count(*) AS n FROM ${tableName}`)).rows[0]!.n)
  const keys = await countKeys(redis, `public.${tableName}:*`)
  const problems: string[] = []
  if (keys !== rows)
    problems.push(`${tableName}: ${int(keys)} row keys in Redis, ${int(rows)} rows in the table`)
  const sample = await c.query<{ id: string; name: string; amount: string; created: string; note: string }>(
    `SELECT id::text, name, amount::text,
            to_char(created AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS created, note
       FROM ${tableName} ORDER BY random() LIMIT 200`,
  )
  for (const r of sample.rows) {
    const got = await redis.get(`public.${tableName}:${r.id}`)
    const doc = got === null ? null : (JSON.parse(got) as Record<string, unknown>)
    if (
      !doc ||
      String(doc.id) !== r.id ||
      doc.name !== r.name ||
      doc.amount !== r.amount ||
      doc.note !== r.note
    ) {
      problems.push(`${tableName} row ${r.id}: Redis has ${got?.slice(0, 120) ?? 'nothing'}`)
      break
    }
  }
  return problems
}

interface Pair {
  file: Run[]
  redis: Run[]
}

/** Runs the file-sink and Redis-sink consumers `RUNS` times each, interleaved. */
async function pair(
  c: pg.Client,
  redis: Redis,
  launcher: SluiceLauncher,
  notes: string[],
  o: {
    scenario: string
    table: string
    publication: string
    snapshot: 'never' | 'initial'
    events: number
    complete: (pos: string) => boolean
    /** Makes the slot a run reads (a copy of a pristine slot), or nothing for a snapshot. */
    slot: (name: string) => Promise<void>
  },
): Promise<Pair> {
  const cpu: ServerCpuMeter = redisCpu(redisServer!.pid)
  const run = async (kind: 'file' | 'redis', i: number): Promise<Run> => {
    const slot = `${kind}_${o.scenario}_${i}`
    await o.slot(slot)
    if (kind === 'redis') await redis.flushall()
    const base = {
      url: pgServer!.url,
      table: `public.${o.table}`,
      slot,
      publication: o.publication,
      snapshot: o.snapshot,
      maxInFlightEvents: IN_FLIGHT,
    }
    const r = await runSluice(launcher, WORK.dir, {
      name: `${kind}-${o.scenario}-${i}`,
      configure: (dir) =>
        kind === 'file'
          ? writePipelineYaml({ ...base, dir })
          : writeRedisPipelineYaml({ ...base, dir, redisUrl: redisServer!.url }),
      events: o.events,
      complete: o.complete,
      nodeFlags: FLAGS,
      ...(kind === 'redis' ? { serverCpu: cpu } : {}),
    })
    await dropSlot(c, slot)
    say(describeRun(`sluice → ${kind} #${i + 1}`, r, 'redis-server'))
    if (kind === 'file') noteSluiceRun(notes, o.scenario, i, r, o.events)
    else {
      delete r.records // the file counter saw no Avro output
      if (r.exit !== '0')
        notes.push(`${o.scenario} redis run ${i + 1}: sluice exited ${r.exit} after SIGTERM`)
      for (const p of await checkCache(c, redis, o.table))
        notes.push(`${o.scenario} redis run ${i + 1}: ${p}`)
    }
    WORK.discard(r.dir)
    return r
  }
  const [file, red] = await interleave(RUNS, [(i) => run('file', i), (i) => run('redis', i)])
  return { file, redis: red }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    ['BENCH_ROWS', 'BENCH_RUNS', 'BENCH_ONLY', 'BENCH_SLUICE', 'BENCH_SLUICE_FLAGS', 'BENCH_IN_FLIGHT'],
    'npm run bench:redis',
  )
  announce('sluice bench: postgres → redis', command, info, ROWS, RUNS)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, FLAGS, notes)
  ;[pgServer, redisServer] = await Promise.all([
    startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' }),
    startRedis(),
  ])
  const c = new pg.Client({ connectionString: pgServer.url })
  await c.connect()
  const redis = new Redis(redisServer.url)
  const lines: string[] = [sectionHead(info, 'Postgres → Redis cache'), '', commandLine(command, ROWS, RUNS)]
  lines.push(machineLine(info, `${info.postgres}; redis-server 7 (--save '' --appendonly no)`))
  lines.push(
    sluiceLine(
      launcher,
      FLAGS,
      'one pipeline with either the file sink (Avro) or the redis sink (`mode: cache`, JSON values, version-guard Lua script per row, one pipeline per batch); time from spawn to the state file holding the final checkpoint (the runner commits every 1 s)',
    ),
  )
  const head = runHead('redis-server')
  let streamRate = NaN
  try {
    if (ONLY.has('stream')) {
      say('\n== streaming backlog ==')
      await c.query(createTableSql('bench'))
      await c.query('CREATE PUBLICATION bench_pub FOR TABLE bench')
      await c.query(`SELECT pg_create_logical_replication_slot('tmpl_stream', 'pgoutput')`)
      const backlog = await writeBacklog(c, 'bench', backlogShape(ROWS), say)
      await c.query('CHECKPOINT')
      say(`backlog: ${changeCounts(backlog)} = ${int(backlog.events)} changes`)
      const st = await pair(c, redis, launcher, notes, {
        scenario: 'stream',
        table: 'bench',
        publication: 'bench_pub',
        snapshot: 'never',
        events: backlog.events,
        complete: reached('1', backlog.lastTxStart),
        slot: (s) =>
          c.query('SELECT pg_copy_logical_replication_slot($1, $2)', ['tmpl_stream', s]).then(() => {}),
      })
      await c.query(`SELECT pg_drop_replication_slot('tmpl_stream')`)
      const f = summarise(st.file)
      const r = summarise(st.redis)
      streamRate = r.rate
      lines.push(
        ...subsection(
          `Streaming a backlog of ${int(backlog.events)} changes`,
          `${changeCounts(backlog)} in ${int(backlog.transactions)} transactions of 1,000 rows; the Redis runs start from an empty database.`,
          table(head, [
            runRow('Sluice → file (Avro)', 'changes', st.file, backlog.events),
            runRow('Sluice → Redis cache', 'changes', st.redis, backlog.events),
          ]),
          `**Sluice → Redis: ${int(r.rate)} changes/s** (target ≥ ${int(TARGET)}: ${r.rate >= TARGET ? 'met' : '**not met**'}); ` +
            `Redis / file = ${fix(r.rate / f.rate)} (${pairRatios(st.redis, st.file)}).`,
        ),
      )
    }
    if (ONLY.has('snapshot')) {
      say('\n== snapshot ==')
      await c.query(createTableSql('bench_big'))
      await c.query('CREATE PUBLICATION big_pub FOR TABLE bench_big')
      await c.query(insertSql('bench_big'), [1, ROWS])
      await c.query('VACUUM ANALYZE bench_big')
      const start = parseLsn(await lsnNow(c))
      const snap = await pair(c, redis, launcher, notes, {
        scenario: 'snapshot',
        table: 'bench_big',
        publication: 'big_pub',
        snapshot: 'initial',
        events: ROWS,
        complete: reached('0', start),
        slot: async () => {},
      })
      const f = summarise(snap.file)
      const r = summarise(snap.redis)
      lines.push(
        ...subsection(
          `Snapshot of ${int(ROWS)} rows`,
          table(head, [
            runRow('Sluice snapshot → file (Avro)', 'rows', snap.file, ROWS),
            runRow('Sluice snapshot → Redis cache', 'rows', snap.redis, ROWS),
          ]),
          `Sluice → Redis: ${int(r.rate)} rows/s; Redis / file = ${fix(r.rate / f.rate)}.`,
        ),
      )
    }
  } finally {
    redis.disconnect()
    await c.end()
  }
  if (Number.isFinite(streamRate)) say(`\nstreaming into the Redis cache: ${int(streamRate)} changes/s`)
  finishSection(lines, notes, REPO)
}

runMain(main, WORK.cleanup)
