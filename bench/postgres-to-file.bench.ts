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
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import {
  announce,
  benchCommand,
  benchSettings,
  REPO,
  runMain,
  say,
  sleep,
  tail,
  workspace,
} from './lib/harness.js'
import { machineInfo } from './lib/machine.js'
import { ProcWatcher, spawnMeasured, type ProcSample } from './lib/proc.js'
import {
  commandLine,
  finishSection,
  machineLine,
  profileSection,
  sectionHead,
  subsection,
} from './lib/report.js'
import {
  allWritten,
  describeRun,
  exitedRun,
  interleave,
  noteSluiceRun,
  pairRatios,
  profileSluice,
  runHead,
  runRow,
  summarise,
  type Profiled,
  type Run,
} from './lib/runs.js'
import {
  prepareLauncher,
  runSluice as runSluiceIn,
  sluiceLine,
  writePipelineYaml,
  type SluiceLauncher,
  type SluiceRun,
} from './lib/sluice.js'
import { fix, int, mib, table } from './lib/stats.js'
import {
  backlogShape,
  changeCounts,
  COLUMNS,
  createTableSql,
  insertSql,
  lsnNow,
  parseLsn,
  TX_ROWS,
  writeBacklog,
  type Backlog,
} from './lib/workload.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const {
  rows: ROWS,
  runs: RUNS,
  profile: PROFILE,
  only: ONLY,
  inFlight: IN_FLIGHT,
  sluiceFlags: SLUICE_FLAGS,
} = benchSettings('stream,big,snapshot')
const END_INDEX = '999999999999'
/** The server-side CPU column: the walsender that served the slot. */
const SERVER = 'walsender'

let server: PgServer | null = null
const WORK = workspace({
  prefix: 'sluice-bench-',
  serverName: 'Postgres',
  stopServer: async () => {
    await server?.stop().catch(() => {})
    server = null
  },
  signals: ['SIGINT'],
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

/** The CPU seconds of the walsender serving `slot` while a process runs. */
const walsenderCpu =
  (c: pg.Client, slot: string) =>
  (exited: Promise<unknown>): (() => number | null) => {
    const ws = watchWalsender(c, slot, exited)
    return () => ws.result()?.cpuS ?? null
  }

/** Connection arguments of pg_recvlogical and psql. */
const pgConn = (): string[] => [
  '-h',
  '127.0.0.1',
  '-p',
  String(server!.port),
  '-U',
  'postgres',
  '-d',
  'postgres',
]

/** pg_recvlogical from `slot` up to `endLsn`, output to /dev/null. */
async function runRecvlogical(
  c: pg.Client,
  slot: string,
  publication: string,
  endLsn: string,
  events: number,
): Promise<Run> {
  const log = join(WORK.dir, `${slot}.log`)
  const m = spawnMeasured(
    join(PG_BIN, 'pg_recvlogical'),
    [
      ...pgConn(),
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
  return exitedRun(m, r, events, ws.result()?.cpuS ?? null)
}

/**
 * Runs the Sluice CLI on a Postgres pipeline reading `slot` until the state file holds a
 * position that `complete` accepts, then stops it with SIGTERM.
 */
const runSluice = (
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
): Promise<SluiceRun> =>
  runSluiceIn(l, WORK.dir, {
    name: opts.name,
    configure: (dir) =>
      writePipelineYaml({
        url: server!.url,
        table: opts.table,
        slot: opts.slot,
        publication: opts.publication,
        snapshot: opts.snapshot,
        dir,
        maxInFlightEvents: IN_FLIGHT,
      }),
    events: opts.events,
    complete: opts.complete,
    nodeFlags: opts.nodeFlags,
    serverCpu: walsenderCpu(c, opts.slot),
  })

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
  const backlog = await writeBacklog(c, 'bench', backlogShape(ROWS), say)
  await c.query('CHECKPOINT')
  say(
    `backlog: ${changeCounts(backlog)} = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions, ` +
      `${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL, written in ${fix(backlog.ms / 1000, 1)} s; end LSN ${backlog.endLsn}`,
  )
  const done = reached('1', backlog.lastTxStart)
  const sluiceRun = (name: string, slot: string, nodeFlags: string[] = []): Promise<SluiceRun> =>
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
  const [recv, sluice] = await interleave(RUNS, [
    async (i) => {
      const slot = `recv_${i}`
      await copySlot(c, 'tmpl_stream', slot)
      const r = await runRecvlogical(c, slot, 'bench_pub', backlog.endLsn, backlog.events)
      await dropSlot(c, slot)
      say(describeRun(`pg_recvlogical #${i + 1}`, r, SERVER))
      return r
    },
    async (i) => {
      const slot = `sluice_${i}`
      await copySlot(c, 'tmpl_stream', slot)
      const r = await sluiceRun(`stream-${i}`, slot)
      await dropSlot(c, slot)
      say(describeRun(`sluice #${i + 1}`, r, SERVER))
      noteSluiceRun(notes, 'streaming', i, r, backlog.events)
      WORK.discard(r.dir)
      return r
    },
  ])

  // One extra, unmeasured run under the V8 profiler.
  const profile = PROFILE
    ? await profileSluice(WORK.dir, launcher.cwd, notes, SERVER, async (flags) => {
        await copySlot(c, 'tmpl_stream', 'sluice_prof')
        const r = await sluiceRun('stream-prof', 'sluice_prof', flags)
        await dropSlot(c, 'sluice_prof')
        return r
      })
    : null
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
  const [recv, sluice] = await interleave(RUNS, [
    async (i) => {
      await copySlot(c, 'tmpl_big', `recv_big_${i}`)
      const r = await runRecvlogical(c, `recv_big_${i}`, 'big_pub', end, ROWS)
      await dropSlot(c, `recv_big_${i}`)
      say(describeRun(`pg_recvlogical #${i + 1}`, r, SERVER))
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
      say(describeRun(`sluice #${i + 1}`, r, SERVER))
      noteSluiceRun(notes, 'large-transaction', i, r, ROWS)
      WORK.discard(r.dir)
      return r
    },
  ])
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
  const [psql, sluice] = await interleave(RUNS, [
    async (i) => {
      const log = join(WORK.dir, `psql-${i}.log`)
      const m = spawnMeasured(
        join(PG_BIN, 'psql'),
        [
          '-X',
          '-q',
          ...pgConn(),
          '-o',
          '/dev/null',
          '-c',
          `COPY (SELECT ${COLUMNS} FROM bench_big) TO STDOUT`,
        ],
        { logFile: log },
      )
      const r = await m.exited
      if (r.code !== 0) throw new Error(`psql COPY failed:\n${tail(log)}`)
      const run = exitedRun(m, r, ROWS, null)
      say(describeRun(`psql COPY TO STDOUT #${i + 1}`, run, SERVER))
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
      r.serverCpuS = null
      say(describeRun(`sluice snapshot #${i + 1}`, r, SERVER))
      noteSluiceRun(notes, 'snapshot', i, r, ROWS)
      WORK.discard(r.dir)
      return r
    },
  ])
  return { psql, sluice }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    [
      'BENCH_ROWS',
      'BENCH_RUNS',
      'BENCH_ONLY',
      'BENCH_SLUICE',
      'BENCH_SLUICE_FLAGS',
      'BENCH_PROFILE',
      'SLUICE_HEAP_GROWING_PERCENT',
    ],
    'npm run bench',
  )
  announce('sluice bench', command, info, ROWS, RUNS)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, SLUICE_FLAGS, notes)

  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  const st = ONLY.has('stream') ? await streamingScenario(c, launcher, notes) : null
  const big = ONLY.has('big') ? await bigScenario(c, launcher, notes) : null
  const snap = ONLY.has('snapshot') ? await snapshotScenario(c, launcher, notes, big !== null) : null
  await c.end()

  const head = runHead(SERVER)
  const lines: string[] = []
  lines.push(sectionHead(info))
  lines.push('')
  lines.push(commandLine(command, ROWS, RUNS))
  lines.push(machineLine(info, info.postgres))
  lines.push(
    sluiceLine(
      launcher,
      SLUICE_FLAGS,
      'file sink `format: avro` (codec null, fsync per commit group), state in a file; time from spawn to the state file holding the final checkpoint (the runner commits every 1 s); peak RSS = VmHWM of the node process',
    ),
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
    const written = allWritten(st.sluice, backlog.events)
    lines.push(
      ...subsection(
        `Streaming a backlog of ${int(backlog.events)} changes`,
        `${changeCounts(backlog)} in ${int(backlog.transactions)} transactions of ${TX_ROWS} rows (~100-byte text column), ${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL.`,
        table(head, [
          runRow('pg_recvlogical', 'changes', st.recv, backlog.events),
          runRow('Sluice → file (Avro)', 'changes', st.sluice, backlog.events),
        ]),
        `**Sluice / pg_recvlogical = ${fix(s.rate / r.rate)}** (ratio of medians; ${pairRatios(st.sluice, st.recv)}). ` +
          `${written.text}; the rest is waiting for the 1 s state commit.`,
      ),
    )
    if (st.profile) lines.push(...profileSection(st.profile))
  }
  if (big) {
    const r = summarise(big.recv)
    const s = summarise(big.sluice)
    lines.push(
      ...subsection(
        `One transaction of ${int(ROWS)} rows (a single INSERT ... SELECT)`,
        table(head, [
          runRow('pg_recvlogical', 'changes', big.recv, ROWS),
          runRow('Sluice → file (Avro)', 'changes', big.sluice, ROWS),
        ]),
        `Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)} (target ≤ 200 MB: ${s.peakMaxKb * 1024 <= 200e6 ? 'met' : '**not met**'}). Sluice / pg_recvlogical = ${fix(s.rate / r.rate)}. ` +
          `Sluice's VmRSS at 25/50/75/100 % of each run: ${big.sluice.map((x) => (x.rssCurve ?? []).map((k) => fix(k / 1024, 0)).join('/')).join('; ')} MiB. ` +
          'With proto_version 1 the server decodes the whole transaction (spilling to disk) before sending its first change, for both consumers.',
      ),
    )
  }
  if (snap) {
    const p = summarise(snap.psql)
    const s = summarise(snap.sluice)
    lines.push(
      ...subsection(
        `Snapshot of ${int(ROWS)} rows`,
        table(head, [
          runRow('psql COPY (SELECT ...) TO STDOUT', 'rows', snap.psql, ROWS),
          runRow('Sluice snapshot: initial → file', 'rows', snap.sluice, ROWS),
        ]),
        `Sluice / psql COPY = ${fix(s.rate / p.rate)}. Sluice's time includes start-up, preflight and creating the slot with an exported snapshot; completion is the state file holding the snapshot's final checkpoint.`,
      ),
    )
  }
  finishSection(lines, notes, REPO)
}

runMain(main, WORK.cleanup)
