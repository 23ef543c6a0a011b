/**
 * Postgres → file throughput of the real `sluice run` CLI against pg_recvlogical, on one
 * throwaway Postgres 15, in one run:
 *
 *   1. streaming: one WAL backlog (inserts, updates, deletes in 1,000-row transactions),
 *      read by pg_recvlogical (pgoutput, to /dev/null) and by Sluice (snapshot: never,
 *      file sink, Avro), alternating A B B A ... on copies of one pristine slot, so both
 *      read the identical backlog and machine-speed drift hits both alike;
 *   2. one large transaction (a single INSERT ... SELECT of BENCH_ROWS rows): Sluice's
 *      peak RSS and time (pg_recvlogical alongside for scale);
 *   3. snapshot of BENCH_ROWS existing rows (snapshot: initial) against psql's
 *      `COPY (SELECT ...) TO STDOUT`.
 *
 * Prints a summary and appends a dated section to bench/RESULTS.md. See bench/README.md.
 *
 *   npm run bench                     # 1,000,000 rows: 1.3M streamed changes
 *   BENCH_ROWS=100000 npm run bench   # quick
 *   env: BENCH_ROWS, BENCH_RUNS (5), BENCH_PROFILE (1: one extra profiled Sluice run),
 *        BENCH_SLUICE (build|dist|tsx), BENCH_ONLY (stream,big,snapshot: a subset),
 *        BENCH_IN_FLIGHT (the pipelines' max_in_flight_events),
 *        BENCH_SLUICE_FLAGS (extra node flags for every Sluice run, e.g. --max-semi-space-size=4), BENCH_KEEP (1: keep the temp dir), BENCH_RESULTS (0: do not append)
 */
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import { selfTimes, selfTimesByFile, type SelfTime } from './lib/cpuprofile.js'
import { machineInfo } from './lib/machine.js'
import { OcfCounter } from './lib/ocf-count.js'
import { killAll, ProcWatcher, spawnMeasured, terminate, type ProcSample } from './lib/proc.js'
import {
  runDir,
  sluiceLauncher,
  startSluice,
  statePosition,
  writePipelineYaml,
  type SluiceLauncher,
} from './lib/sluice.js'
import { fix, int, median, mib, table } from './lib/stats.js'
import { COLUMNS, createTableSql, insertSql, parseLsn, writeBacklog, type Backlog } from './lib/workload.js'

const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000)
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5))
const PROFILE = process.env.BENCH_PROFILE !== '0'
const TX_ROWS = 1000
const ONLY = new Set((process.env.BENCH_ONLY ?? 'stream,big,snapshot').split(',').map((x) => x.trim()))
/** BENCH_IN_FLIGHT: the pipelines' max_in_flight_events (Sluice's default when unset). */
const IN_FLIGHT = process.env.BENCH_IN_FLIGHT ? Number(process.env.BENCH_IN_FLIGHT) : undefined
const SLUICE_FLAGS = (process.env.BENCH_SLUICE_FLAGS ?? '').split(' ').filter(Boolean)
const END_INDEX = '999999999999'
/** A Sluice run that makes no visible progress for this long is declared hung. */
const STALL_MS = 60_000

const say = (s: string): void => void process.stdout.write(`${s}\n`)

/** One consumer run. */
interface Run {
  ms: number
  /** Changes (or rows) per second over `ms`. */
  rate: number
  peak: ProcSample | null
  walsender: ProcSample | null
  /** Sluice: ms from start until every record was in complete Avro blocks (before the state commit). */
  writtenMs?: number
  /** Sluice: records found in the output files after the run. */
  records?: number
  /** Sluice: VmRSS (KiB) at 25, 50, 75 and 100 % of the time to completion. */
  rssCurve?: number[]
  exit: string
}

/** A Sluice failure, with the tail of its log. */
class SluiceFailed extends Error {}

let server: PgServer | null = null
const WORK = mkdtempSync(join(tmpdir(), 'sluice-bench-'))

async function cleanup(): Promise<void> {
  killAll()
  await server?.stop().catch(() => {})
  server = null
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true })
  else say(`kept ${WORK}`)
}

process.on('SIGINT', () => {
  say('\ninterrupted: stopping children and Postgres')
  void cleanup().finally(() => process.exit(130))
})

/** Watches the walsender serving `slot` (found through pg_replication_slots) until `until` settles. */
function watchWalsender(
  c: pg.Client,
  slot: string,
  until: Promise<unknown>,
): { result: () => ProcSample | null } {
  let watcher: ProcWatcher | null = null
  let done = false
  until.finally(() => (done = true)).catch(() => {})
  void (async () => {
    while (!done && !watcher) {
      const r = await c.query<{ pid: number | null }>(
        'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      )
      const pid = r.rows[0]?.pid
      if (pid) watcher = new ProcWatcher(pid, 50)
      else await sleep(20)
    }
  })().catch(() => {})
  return {
    result: () => {
      watcher?.poll()
      return watcher?.stop() ?? null
    },
  }
}

/** Removes a run's directory unless BENCH_KEEP=1. */
const discard = (dir: string): void => {
  if (process.env.BENCH_KEEP !== '1') rmSync(dir, { recursive: true, force: true })
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const tail = (file: string, lines = 40): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** pg_recvlogical from `slot` up to `endLsn`, output to /dev/null. */
async function runRecvlogical(
  c: pg.Client,
  slot: string,
  publication: string,
  endLsn: string,
  events: number,
): Promise<Run> {
  const log = join(WORK, `${slot}.log`)
  const m = spawnMeasured(
    join(PG_BIN, 'pg_recvlogical'),
    [
      '-h',
      '127.0.0.1',
      '-p',
      String(server!.port),
      '-U',
      'postgres',
      '-d',
      'postgres',
      '--slot',
      slot,
      '--start',
      '--no-loop',
      '-o',
      'proto_version=1',
      '-o',
      `publication_names=${publication}`,
      `--endpos=${endLsn}`,
      '-f',
      '/dev/null',
    ],
    { logFile: log },
  )
  const ws = watchWalsender(c, slot, m.exited)
  const r = await m.exited
  if (r.code !== 0) throw new Error(`pg_recvlogical failed (${r.code ?? r.signal}):\n${tail(log)}`)
  return {
    ms: r.ms,
    rate: events / (r.ms / 1000),
    peak: m.watcher.last,
    walsender: ws.result(),
    exit: String(r.code),
  }
}

/**
 * Runs the Sluice CLI on a prepared pipeline until the state file holds a position that
 * `complete` accepts (all events durable and committed), then stops it with SIGTERM.
 */
async function runSluice(
  l: SluiceLauncher,
  c: pg.Client,
  opts: {
    name: string
    table: string
    slot: string
    publication: string
    snapshot: 'never' | 'initial'
    events: number
    complete: (pos: string) => boolean
    nodeFlags?: string[]
  },
): Promise<Run & { dir: string }> {
  const dir = runDir(WORK, opts.name)
  const yaml = writePipelineYaml({
    url: server!.url,
    table: opts.table,
    slot: opts.slot,
    publication: opts.publication,
    snapshot: opts.snapshot,
    dir,
    ...(IN_FLIGHT ? { maxInFlightEvents: IN_FLIGHT } : {}),
  })
  const counter = new OcfCounter(join(dir, 'out'))
  const m = startSluice(l, yaml, dir, opts.nodeFlags)
  const ws = watchWalsender(c, opts.slot, m.exited)
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  void m.exited.then((r) => (exited = r))
  let writtenMs: number | undefined
  let lastProgress = performance.now()
  let lastSeen = ''
  let doneMs: number
  for (;;) {
    const pos = statePosition(dir)
    const now = performance.now()
    if (pos !== null && opts.complete(pos)) {
      doneMs = now - m.t0
      // The last blocks landed within this poll interval.
      writtenMs ??= doneMs
      break
    }
    if (writtenMs === undefined) {
      const n = counter.count()
      if (n >= opts.events) writtenMs = now - m.t0
      const seen = `${pos}:${n}`
      if (seen !== lastSeen) {
        lastSeen = seen
        lastProgress = now
      }
    }
    if (exited) {
      const e = exited as { code: number | null; signal: NodeJS.Signals | null }
      throw new SluiceFailed(
        `sluice exited (${e.code ?? e.signal}) before completing; position ${pos}; log ${join(dir, 'sluice.log')}:\n${tail(join(dir, 'sluice.log'))}`,
      )
    }
    if (now - lastProgress > STALL_MS) {
      const stack = await terminate(m, 12_000)
      throw new SluiceFailed(
        `sluice made no progress for ${STALL_MS / 1000} s (position ${pos}, ${counter.count()} records written; stopped: ${stack.code ?? stack.signal}${stack.killed ? ', needed SIGKILL' : ''}); log:\n${tail(join(dir, 'sluice.log'))}`,
      )
    }
    await sleep(20)
  }
  m.watcher.poll()
  const rssCurve = m.watcher.rssAt([0.25, 0.5, 0.75, 1])
  const walsender = ws.result()
  const stop = await terminate(m)
  const records = counter.count()
  return {
    dir,
    ms: doneMs,
    rate: opts.events / (doneMs / 1000),
    peak: m.watcher.last,
    walsender,
    ...(writtenMs !== undefined ? { writtenMs } : {}),
    records,
    rssCurve,
    exit: `${stop.code ?? stop.signal}${stop.killed ? ' (SIGKILL after 15 s)' : ''}`,
  }
}

/** A position predicate: the committed position is the END checkpoint of phase `phase` at or after `minLsn`. */
const reached =
  (phase: '0' | '1', minLsn: bigint) =>
  (pos: string): boolean => {
    const m = /^([0-9A-F]{16})\.([01])\.(\d{12})$/.exec(pos)
    return !!m && m[2] === phase && m[3] === END_INDEX && BigInt('0x' + m[1]) >= minLsn
  }

const copySlot = (c: pg.Client, from: string, to: string): Promise<unknown> =>
  c.query('SELECT pg_copy_logical_replication_slot($1, $2)', [from, to])
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
    await sleep(100) // the walsender exits just after its client
  }
  throw new Error(`slot ${slot} stayed active`)
}

/** Alternates A and B `runs` times in the order A B B A A B ..., so drift affects both alike. */
async function alternate<A, B>(
  runs: number,
  a: (i: number) => Promise<A>,
  b: (i: number) => Promise<B>,
): Promise<{ as: A[]; bs: B[] }> {
  const as: A[] = []
  const bs: B[] = []
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      as.push(await a(i))
      bs.push(await b(i))
    } else {
      bs.push(await b(i))
      as.push(await a(i))
    }
  }
  return { as, bs }
}

const describeRun = (label: string, r: Run): string =>
  `  ${label}: ${fix(r.ms / 1000)} s, ${int(r.rate)}/s, peak RSS ${mib(r.peak?.hwmKb ?? NaN)}, CPU ${fix(r.peak?.cpuS ?? NaN)} s` +
  (r.walsender ? `, walsender CPU ${fix(r.walsender.cpuS)} s` : '') +
  (r.writtenMs !== undefined ? `, all written at ${fix(r.writtenMs / 1000)} s` : '') +
  (r.records !== undefined ? `, ${int(r.records)} records` : '') +
  (r.exit !== '0' ? `, exit ${r.exit}` : '') +
  (r.rssCurve ? `, RSS at 25/50/75/100 %: ${r.rssCurve.map((k) => fix(k / 1024, 0)).join('/')} MiB` : '')

/** Median figures of a list of runs. */
function summarise(rs: readonly Run[]): {
  ms: number
  rate: number
  rateMin: number
  rateMax: number
  peakKb: number
  peakMaxKb: number
  cpuS: number
  walsenderCpuS: number
} {
  const rates = rs.map((r) => r.rate)
  return {
    ms: median(rs.map((r) => r.ms)),
    rate: median(rates),
    rateMin: Math.min(...rates),
    rateMax: Math.max(...rates),
    peakKb: median(rs.map((r) => r.peak?.hwmKb ?? NaN)),
    peakMaxKb: Math.max(...rs.map((r) => r.peak?.hwmKb ?? 0)),
    cpuS: median(rs.map((r) => r.peak?.cpuS ?? NaN)),
    walsenderCpuS: median(rs.map((r) => r.walsender?.cpuS ?? NaN)),
  }
}

function row(name: string, unit: string, rs: readonly Run[], events: number): string[] {
  const s = summarise(rs)
  return [
    name,
    String(rs.length),
    fix(s.ms / 1000),
    `${int(s.rate)} ${unit}/s`,
    `${int(s.rateMin)}–${int(s.rateMax)}`,
    `${mib(s.peakKb)} (max ${mib(s.peakMaxKb)})`,
    `${fix(s.cpuS)} s (${fix((s.cpuS * 1e6) / events)} µs/${unit === 'rows' ? 'row' : 'change'})`,
    Number.isFinite(s.walsenderCpuS) ? `${fix(s.walsenderCpuS)} s` : '–',
  ]
}

const HEAD = [
  'consumer',
  'runs',
  'median wall s',
  'median rate',
  'rate range',
  'peak RSS median',
  'CPU (median)',
  'walsender CPU',
]

const lsnNow = async (c: pg.Client): Promise<string> =>
  (await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l

interface Profiled {
  top: SelfTime[]
  totalMs: number
  idleMs: number
  ms: number
}

/** Scenario 1: the streaming backlog, pg_recvlogical against Sluice, plus one profiled Sluice run. */
async function streamingScenario(
  c: pg.Client,
  launcher: SluiceLauncher,
  notes: string[],
): Promise<{ backlog: Backlog; recv: Run[]; sluice: Run[]; profile: Profiled | null }> {
  say('\n== streaming backlog ==')
  await c.query(createTableSql('bench'))
  await c.query('CREATE PUBLICATION bench_pub FOR TABLE bench')
  // The slot exists before the backlog, so every copy of it reads the whole backlog.
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_stream', 'pgoutput')`)
  const shape = {
    inserts: ROWS,
    updates: Math.round(ROWS / 4),
    deletes: Math.round(ROWS / 20),
    txRows: TX_ROWS,
  }
  const backlog = await writeBacklog(c, 'bench', shape, say)
  await c.query('CHECKPOINT')
  say(
    `backlog: ${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions, ` +
      `${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL, written in ${fix(backlog.ms / 1000, 1)} s; end LSN ${backlog.endLsn}`,
  )
  const done = reached('1', backlog.lastTxStart)
  const sluiceRun = (name: string, slot: string, nodeFlags: string[] = []): Promise<Run & { dir: string }> =>
    runSluice(launcher, c, {
      name,
      table: 'public.bench',
      slot,
      publication: 'bench_pub',
      snapshot: 'never',
      events: backlog.events,
      complete: done,
      nodeFlags: [...SLUICE_FLAGS, ...nodeFlags],
    })
  const { as: recv, bs: sluice } = await alternate(
    RUNS,
    async (i) => {
      const slot = `recv_${i}`
      await copySlot(c, 'tmpl_stream', slot)
      const r = await runRecvlogical(c, slot, 'bench_pub', backlog.endLsn, backlog.events)
      await dropSlot(c, slot)
      say(describeRun(`pg_recvlogical #${i + 1}`, r))
      return r
    },
    async (i) => {
      const slot = `sluice_${i}`
      await copySlot(c, 'tmpl_stream', slot)
      const r = await sluiceRun(`stream-${i}`, slot)
      await dropSlot(c, slot)
      say(describeRun(`sluice #${i + 1}`, r))
      if (r.exit !== '0') notes.push(`streaming run ${i + 1}: sluice exited ${r.exit} after SIGTERM`)
      if (r.records !== backlog.events)
        notes.push(`streaming run ${i + 1}: ${r.records} records in the output, expected ${backlog.events}`)
      discard(r.dir)
      return r
    },
  )

  // One extra, unmeasured run under the V8 profiler.
  let profile: Profiled | null = null
  if (PROFILE) {
    say('profiling one more Sluice run (node --cpu-prof; not in the figures)')
    await copySlot(c, 'tmpl_stream', 'sluice_prof')
    const profDir = join(WORK, 'cpuprof')
    const r = await sluiceRun('stream-prof', 'sluice_prof', [
      '--cpu-prof',
      `--cpu-prof-dir=${profDir}`,
      '--cpu-prof-interval=500',
    ])
    await dropSlot(c, 'sluice_prof')
    say(describeRun('sluice (profiled)', r))
    const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : []
    if (files[0]) {
      profile = { ...selfTimes(join(profDir, files[0]), launcher.cwd), ms: r.ms }
      say(`  profile: ${join(profDir, files[0])}`)
    } else notes.push('the profiled run wrote no .cpuprofile')
  }
  await c.query(`SELECT pg_drop_replication_slot('tmpl_stream')`)
  return { backlog, recv, sluice, profile }
}

/** Fills bench_big with ROWS rows in one transaction; with `slots`, a template slot is made first. */
async function fillBig(c: pg.Client, withSlot: boolean): Promise<{ start: bigint; end: string }> {
  await c.query(createTableSql('bench_big'))
  await c.query('CREATE PUBLICATION big_pub FOR TABLE bench_big')
  if (withSlot) await c.query(`SELECT pg_create_logical_replication_slot('tmpl_big', 'pgoutput')`)
  const start = parseLsn(await lsnNow(c))
  const t = performance.now()
  await c.query(insertSql('bench_big'), [1, ROWS])
  const end = await lsnNow(c)
  say(
    `one INSERT ... SELECT of ${int(ROWS)} rows in ${fix((performance.now() - t) / 1000, 1)} s, ${fix(Number(parseLsn(end) - start) / 2 ** 20, 0)} MiB of WAL`,
  )
  await c.query('CHECKPOINT')
  return { start, end }
}

/** Scenario 2: one transaction of ROWS rows. */
async function bigScenario(
  c: pg.Client,
  launcher: SluiceLauncher,
  notes: string[],
): Promise<{ recv: Run[]; sluice: Run[] }> {
  say('\n== one large transaction ==')
  const { start, end } = await fillBig(c, true)
  const done = reached('1', start)
  const { as: recv, bs: sluice } = await alternate(
    RUNS,
    async (i) => {
      await copySlot(c, 'tmpl_big', `recv_big_${i}`)
      const r = await runRecvlogical(c, `recv_big_${i}`, 'big_pub', end, ROWS)
      await dropSlot(c, `recv_big_${i}`)
      say(describeRun(`pg_recvlogical #${i + 1}`, r))
      return r
    },
    async (i) => {
      await copySlot(c, 'tmpl_big', `sluice_big_${i}`)
      const r = await runSluice(launcher, c, {
        name: `big-${i}`,
        table: 'public.bench_big',
        slot: `sluice_big_${i}`,
        publication: 'big_pub',
        snapshot: 'never',
        events: ROWS,
        complete: done,
        nodeFlags: SLUICE_FLAGS,
      })
      await dropSlot(c, `sluice_big_${i}`)
      say(describeRun(`sluice #${i + 1}`, r))
      if (r.exit !== '0') notes.push(`large-transaction run ${i + 1}: sluice exited ${r.exit} after SIGTERM`)
      if (r.records !== ROWS)
        notes.push(`large-transaction run ${i + 1}: ${r.records} records in the output, expected ${ROWS}`)
      discard(r.dir)
      return r
    },
  )
  await c.query(`SELECT pg_drop_replication_slot('tmpl_big')`)
  return { recv, sluice }
}

/** Scenario 3: snapshot of the ROWS rows of bench_big, psql COPY against Sluice. */
async function snapshotScenario(
  c: pg.Client,
  launcher: SluiceLauncher,
  notes: string[],
  filled: boolean,
): Promise<{ psql: Run[]; sluice: Run[] }> {
  say('\n== snapshot ==')
  if (!filled) await fillBig(c, false)
  await c.query('VACUUM ANALYZE bench_big')
  const { as: psql, bs: sluice } = await alternate(
    RUNS,
    async (i) => {
      const log = join(WORK, `psql-${i}.log`)
      const m = spawnMeasured(
        join(PG_BIN, 'psql'),
        [
          '-X',
          '-q',
          '-h',
          '127.0.0.1',
          '-p',
          String(server!.port),
          '-U',
          'postgres',
          '-d',
          'postgres',
          '-o',
          '/dev/null',
          '-c',
          `COPY (SELECT ${COLUMNS} FROM bench_big) TO STDOUT`,
        ],
        { logFile: log },
      )
      const r = await m.exited
      if (r.code !== 0) throw new Error(`psql COPY failed:\n${tail(log)}`)
      const run: Run = {
        ms: r.ms,
        rate: ROWS / (r.ms / 1000),
        peak: m.watcher.last,
        walsender: null,
        exit: String(r.code),
      }
      say(describeRun(`psql COPY TO STDOUT #${i + 1}`, run))
      return run
    },
    async (i) => {
      const r = await runSluice(launcher, c, {
        name: `snap-${i}`,
        table: 'public.bench_big',
        slot: `sluice_snap_${i}`,
        publication: 'big_pub',
        snapshot: 'initial',
        events: ROWS,
        complete: reached('0', 0n),
        nodeFlags: SLUICE_FLAGS,
      })
      await dropSlot(c, `sluice_snap_${i}`)
      r.walsender = null
      say(describeRun(`sluice snapshot #${i + 1}`, r))
      if (r.exit !== '0') notes.push(`snapshot run ${i + 1}: sluice exited ${r.exit} after SIGTERM`)
      if (r.records !== ROWS)
        notes.push(`snapshot run ${i + 1}: ${r.records} records in the output, expected ${ROWS}`)
      discard(r.dir)
      return r
    },
  )
  return { psql, sluice }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const env = [
    'BENCH_ROWS',
    'BENCH_RUNS',
    'BENCH_ONLY',
    'BENCH_SLUICE',
    'BENCH_SLUICE_FLAGS',
    'BENCH_PROFILE',
  ]
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${JSON.stringify(process.env[k])}`)
  const command = [...env, 'npm run bench'].join(' ')
  say(
    `sluice bench: ${command} (${int(ROWS)} rows, ${RUNS} runs each)\n${info.date}, commit ${info.commit}${info.dirty ? ' (working tree has uncommitted changes)' : ''}, ${info.cpus} × ${info.model}, ${info.ramGiB} GiB, node ${info.node}`,
  )
  const notes: string[] = []
  const launcher = sluiceLauncher(REPO, WORK, (s) => {
    say(s)
    notes.push(s.split('\n')[0]!)
  })
  say(
    `sluice: ${launcher.describe}${SLUICE_FLAGS.length ? ` with node flags ${SLUICE_FLAGS.join(' ')}` : ''}`,
  )

  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  const st = ONLY.has('stream') ? await streamingScenario(c, launcher, notes) : null
  const big = ONLY.has('big') ? await bigScenario(c, launcher, notes) : null
  const snap = ONLY.has('snapshot') ? await snapshotScenario(c, launcher, notes, big !== null) : null
  await c.end()

  const lines: string[] = []
  lines.push(
    `## ${info.date} — commit ${info.commit}${info.dirty ? ' + uncommitted changes in the working tree' : ''}`,
  )
  lines.push('')
  lines.push(`- Command: \`${command}\` (${int(ROWS)} rows, ${RUNS} runs of each consumer per scenario)`)
  lines.push(
    `- Machine: ${info.cpus} × ${info.model} (nproc ${info.cpus}), ${info.ramGiB} GiB RAM; Node ${info.node}; ${info.postgres}`,
  )
  lines.push(
    `- Sluice: ${launcher.describe}${SLUICE_FLAGS.length ? `, node flags \`${SLUICE_FLAGS.join(' ')}\`` : ''}; file sink \`format: avro\` (codec null, fsync per commit group), state in a file; time from spawn to the state file holding the final checkpoint (the runner commits every 1 s); peak RSS = VmHWM of the node process`,
  )
  lines.push(
    '- pg_recvlogical: `pg_recvlogical --start --no-loop -o proto_version=1 -o publication_names=... --endpos=<end LSN> -f /dev/null`; time from spawn to exit',
  )
  lines.push(
    '- Runs alternate A B B A A ...; each streaming run reads a copy (`pg_copy_logical_replication_slot`) of one pristine slot made before the data was written',
  )
  if (st) {
    const { backlog } = st
    const r = summarise(st.recv)
    const s = summarise(st.sluice)
    const pair = st.sluice.map((x, i) => x.rate / st.recv[i]!.rate)
    const written = median(st.sluice.map((x) => x.writtenMs ?? NaN))
    lines.push('')
    lines.push(`### Streaming a backlog of ${int(backlog.events)} changes`)
    lines.push('')
    lines.push(
      `${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes in ${int(backlog.transactions)} transactions of ${TX_ROWS} rows (~100-byte text column), ${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL.`,
    )
    lines.push('')
    lines.push(
      table(HEAD, [
        row('pg_recvlogical', 'changes', st.recv, backlog.events),
        row('Sluice → file (Avro)', 'changes', st.sluice, backlog.events),
      ]),
    )
    lines.push('')
    lines.push(
      `**Sluice / pg_recvlogical = ${fix(s.rate / r.rate)}** (ratio of medians; per-pair ratios: median ${fix(median(pair))}, range ${fix(Math.min(...pair))}–${fix(Math.max(...pair))}). ` +
        `Every record was in complete Avro blocks at a median ${fix(written / 1000)} s (${int(backlog.events / (written / 1000))} changes/s); the rest is waiting for the 1 s state commit.`,
    )
    if (st.profile) {
      const p = st.profile
      lines.push('')
      lines.push(
        '#### CPU profile of one more Sluice streaming run (`node --cpu-prof`, not in the figures above)',
      )
      lines.push('')
      lines.push(
        `${fix(p.totalMs / 1000)} s on-CPU in the main thread, ${fix(p.idleMs / 1000)} s idle, of a ${fix(p.ms / 1000)} s run. Top self time (functions without a location are V8-generated code, e.g. avsc's compiled record writers):`,
      )
      lines.push('')
      lines.push(
        table(
          ['self %', 'self ms', 'function', 'where'],
          p.top.slice(0, 20).map((x) => [fix(x.pct, 1), int(x.ms), `\`${x.fn}\``, x.where]),
        ),
      )
      lines.push('')
      lines.push(
        'By file: ' +
          selfTimesByFile(p.top)
            .slice(0, 12)
            .map((f) => `${f.file} ${fix(f.pct, 1)} %`)
            .join(', '),
      )
    }
  }
  if (big) {
    const r = summarise(big.recv)
    const s = summarise(big.sluice)
    lines.push('')
    lines.push(`### One transaction of ${int(ROWS)} rows (a single INSERT ... SELECT)`)
    lines.push('')
    lines.push(
      table(HEAD, [
        row('pg_recvlogical', 'changes', big.recv, ROWS),
        row('Sluice → file (Avro)', 'changes', big.sluice, ROWS),
      ]),
    )
    lines.push('')
    lines.push(
      `Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)} (target ≤ 200 MB: ${s.peakMaxKb * 1024 <= 200e6 ? 'met' : '**not met**'}). Sluice / pg_recvlogical = ${fix(s.rate / r.rate)}. ` +
        `Sluice's VmRSS at 25/50/75/100 % of each run: ${big.sluice.map((x) => (x.rssCurve ?? []).map((k) => fix(k / 1024, 0)).join('/')).join('; ')} MiB. ` +
        'With proto_version 1 the server decodes the whole transaction (spilling to disk) before sending its first change, for both consumers.',
    )
  }
  if (snap) {
    const p = summarise(snap.psql)
    const s = summarise(snap.sluice)
    lines.push('')
    lines.push(`### Snapshot of ${int(ROWS)} rows`)
    lines.push('')
    lines.push(
      table(HEAD, [
        row('psql COPY (SELECT ...) TO STDOUT', 'rows', snap.psql, ROWS),
        row('Sluice snapshot: initial → file', 'rows', snap.sluice, ROWS),
      ]),
    )
    lines.push('')
    lines.push(
      `Sluice / psql COPY = ${fix(s.rate / p.rate)}. Sluice's time includes start-up, preflight and creating the slot with an exported snapshot; completion is the state file holding the snapshot's final checkpoint.`,
    )
  }
  if (notes.length > 0) {
    lines.push('')
    lines.push('Notes:')
    for (const n of notes) lines.push(`- ${n}`)
  }
  lines.push('')
  const section = lines.join('\n')
  say('\n' + section)
  if (process.env.BENCH_RESULTS !== '0') {
    appendFileSync(join(REPO, 'bench/RESULTS.md'), '\n' + section)
    say('appended to bench/RESULTS.md')
  }
}

main()
  .catch((err: unknown) => {
    process.stderr.write(`\nbenchmark failed: ${err instanceof Error ? err.message : String(err)}\n`)
    if (!(err instanceof SluiceFailed) && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`)
    process.exitCode = 1
  })
  .finally(() => cleanup())
