/**
 * MariaDB → file throughput of the real `sluice run` CLI against `mariadb-binlog
 * --read-from-remote-server`, on one throwaway MariaDB 10.11, in one run:
 *
 *   1. streaming: one binlog backlog (inserts, updates, deletes in 1,000-row transactions),
 *      read by mariadb-binlog decoding rows (`--verbose --base64-output=DECODE-ROWS`, to
 *      /dev/null; the baseline), by mariadb-binlog `--raw` (copying the files, for
 *      reference) and by Sluice (state file pre-seeded just before the backlog, file sink,
 *      Avro), interleaved A B C C B A ..., so machine-speed drift hits all alike;
 *   2. snapshot of BENCH_ROWS existing rows (snapshot: initial_only) against
 *      `mariadb --quick -e "SELECT * FROM ..."` to /dev/null;
 *   3. one large transaction (a single INSERT ... SELECT of BENCH_ROWS rows): Sluice's peak
 *      RSS (target ≤ 200 MB) and time, mariadb-binlog -v on the same range for scale.
 *
 * Prints a summary and appends a dated section to bench/RESULTS.md. See bench/README.md.
 *
 *   npx tsx bench/mysql-to-file.bench.ts                     # 1,000,000 rows: 1.3M streamed changes
 *   BENCH_ROWS=100000 npx tsx bench/mysql-to-file.bench.ts   # quick
 *   env: BENCH_ROWS, BENCH_RUNS (5), BENCH_PROFILE (1: one extra profiled Sluice run),
 *        BENCH_SLUICE (build|dist|tsx), BENCH_ONLY (stream,snapshot,big: a subset),
 *        BENCH_IN_FLIGHT (the pipelines' max_in_flight_events), BENCH_SLUICE_FLAGS (extra
 *        node flags for every Sluice run), BENCH_KEEP (1: keep the temp dir),
 *        BENCH_RESULTS (0: do not append), MARIADB_BINLOG / MARIADB_CLIENT (binaries)
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import avro from 'avsc'
import mysql from 'mysql2/promise'
import { formatPosition, sortKey } from '../connectors/mysql/position.js'
import { startMariadb, type MariaServer } from '../test/integration/servers/mariadb.js'
import { announce, benchCommand, benchSettings, REPO, runMain, say, tail, workspace } from './lib/harness.js'
import { machineInfo } from './lib/machine.js'
import {
  binlogFilesBetween,
  MARIA_DB,
  mariaInsertSql,
  mariaTableSql,
  masterStatus,
  writeMariaBacklog,
  type Coordinates,
  type MariaBacklog,
} from './lib/mariadb-workload.js'
import { sampleProc, spawnMeasured } from './lib/proc.js'
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
import { seedState, writeMysqlPipelineYaml } from './lib/sluice-mysql.js'
import {
  prepareLauncher,
  runSluice as runSluiceIn,
  sluiceLine,
  type SluiceLauncher,
  type SluiceRun,
} from './lib/sluice.js'
import { fix, int, mib, table } from './lib/stats.js'
import { backlogShape, changeCounts, TX_ROWS } from './lib/workload.js'

const {
  rows: ROWS,
  runs: RUNS,
  profile: PROFILE,
  only: ONLY,
  inFlight: IN_FLIGHT,
  sluiceFlags: SLUICE_FLAGS,
} = benchSettings('stream,snapshot,big')
const MARIADB_BINLOG = process.env.MARIADB_BINLOG ?? 'mariadb-binlog'
const MARIADB_CLIENT = process.env.MARIADB_CLIENT ?? 'mariadb'
/** Replica server_id of Sluice's binlog connection (the server's own is 1). */
const SERVER_ID = 5401
const END_INDEX = 999_999_999_999
/** The server-side CPU column. */
const SERVER = 'mariadbd'

let server: MariaServer | null = null
const WORK = workspace({
  prefix: 'sluice-bench-mysql-',
  serverName: 'MariaDB',
  stopServer: async () => {
    await server?.stop().catch(() => {})
    server = null
  },
  signals: ['SIGINT', 'SIGTERM'],
})

/** CPU seconds mariadbd has used so far (all threads); NaN when unknown. */
const serverCpu = (): number => {
  const pid = server?.pid
  return pid ? (sampleProc(pid)?.cpuS ?? NaN) : NaN
}

/** The sort key of the commit checkpoint of the transaction starting at `c`. */
const txCheckpointKey = (c: Coordinates): string =>
  sortKey(formatPosition({ file: c.file, offset: c.position, phase: '1', index: END_INDEX, gtid: '' }))

/** Common mariadb-binlog connection arguments. */
const binlogConn = (): string[] => [
  '--read-from-remote-server',
  '--host=127.0.0.1',
  `--port=${server!.port}`,
  '--user=root',
]

/** The mariadb-binlog command lines, for the results. */
const DECODE_CMD =
  'mariadb-binlog --read-from-remote-server --host=127.0.0.1 --port=P --user=root --start-position=<start> --stop-position=<end> <files> --verbose --base64-output=DECODE-ROWS --result-file=/dev/null'
const RAW_CMD =
  'mariadb-binlog --read-from-remote-server --host=127.0.0.1 --port=P --user=root --start-position=<start> --stop-position=<end> <files> --raw --result-file=<tmp dir>/'
const SELECT_CMD =
  'mariadb --quick --batch -h 127.0.0.1 -P P -u root -e "SELECT * FROM benchdb.bench_snap" > /dev/null'

/** Runs `mariadb-binlog` on the backlog, decoding rows (to /dev/null) or `--raw` into a temp dir. */
async function runMariadbBinlog(b: MariaBacklog, raw: boolean, name: string): Promise<Run> {
  const log = join(WORK.dir, `${name}.log`)
  const out = join(WORK.dir, `${name}-raw`)
  if (raw) mkdirSync(out)
  const args = [
    ...binlogConn(),
    `--start-position=${b.start.position}`,
    `--stop-position=${b.end.position}`,
    ...b.files,
    ...(raw
      ? ['--raw', `--result-file=${out}/`]
      : ['--verbose', '--base64-output=DECODE-ROWS', '--result-file=/dev/null']),
  ]
  const cpu0 = serverCpu()
  const m = spawnMeasured(MARIADB_BINLOG, args, { logFile: log })
  const r = await m.exited
  const serverCpuS = serverCpu() - cpu0
  if (r.code !== 0) throw new Error(`mariadb-binlog failed (${r.code ?? r.signal}):\n${tail(log)}`)
  if (raw) {
    const bytes = readdirSync(out).reduce((n, f) => n + readFileSync(join(out, f)).length, 0)
    if (bytes < b.binlogBytes)
      throw new Error(`mariadb-binlog --raw wrote ${bytes} bytes, expected ≥ ${b.binlogBytes}`)
    rmSync(out, { recursive: true, force: true })
  }
  return exitedRun(m, r, b.events, serverCpuS)
}

/** The CPU seconds mariadbd uses while a process runs. */
const mariadbdCpu = (): (() => number) => {
  const cpu0 = serverCpu()
  return () => serverCpu() - cpu0
}

/**
 * Runs the Sluice CLI on a MariaDB pipeline until the state file holds a position other
 * than `seed` that `complete` accepts (all events durable and committed), then stops it
 * with SIGTERM.
 */
const runSluice = (
  l: SluiceLauncher,
  opts: {
    name: string
    table: string
    snapshot: 'never' | 'initial_only'
    /** State to resume from (null: none). */
    seed: string | null
    events: number
    complete: (pos: string) => boolean
    nodeFlags?: string[]
    /** `initial_only`: give the CLI this long to exit by itself after completing, before SIGTERM. */
    awaitExitMs?: number
  },
): Promise<SluiceRun> =>
  runSluiceIn(l, WORK.dir, {
    name: opts.name,
    configure: (dir) => {
      const yaml = writeMysqlPipelineYaml({
        url: server!.urlFor(MARIA_DB),
        tables: [`${MARIA_DB}.${opts.table}`],
        serverId: SERVER_ID,
        snapshot: opts.snapshot,
        dir,
        maxInFlightEvents: IN_FLIGHT,
      })
      if (opts.seed !== null) seedState(dir, opts.seed)
      return yaml
    },
    events: opts.events,
    complete: (pos) => pos !== opts.seed && opts.complete(pos),
    nodeFlags: [...SLUICE_FLAGS, ...(opts.nodeFlags ?? [])],
    serverCpu: mariadbdCpu,
    awaitExitMs: opts.awaitExitMs,
  })

/** The first record of the first Avro file under `out` (decoded), or null. */
async function firstRecord(out: string): Promise<Record<string, unknown> | null> {
  const files = existsSync(out)
    ? (readdirSync(out, { recursive: true, encoding: 'utf8' }) as string[])
        .filter((f) => f.endsWith('.avro'))
        .sort()
    : []
  if (!files[0]) return null
  const file = join(out, files[0])
  return new Promise((resolve, reject) => {
    const d = avro.createFileDecoder(file)
    d.once('data', (r: Record<string, unknown>) => {
      resolve(r)
      d.destroy()
    })
    d.once('error', reject)
    d.once('end', () => resolve(null))
  })
}

/** `{"id": 1}`-ish rendering of a decoded row image, bigint-safe. */
const show = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))

/** Scenario 1: the streaming backlog; mariadb-binlog (decoding, raw) against Sluice, plus one profiled Sluice run. */
async function streamingScenario(
  c: mysql.Connection,
  launcher: SluiceLauncher,
  notes: string[],
): Promise<{
  backlog: MariaBacklog
  seed: string
  charset: string
  decode: Run[]
  raw: Run[]
  sluice: Run[]
  profile: Profiled | null
}> {
  say('\n== streaming backlog ==')
  await c.query(mariaTableSql('bench'))
  const [cs] = await c.query(
    `SELECT CHARACTER_SET_NAME AS cs FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'bench' AND COLUMN_NAME = 'note'`,
    [MARIA_DB],
  )
  const charset = String((cs as { cs: string }[])[0]?.cs)
  // A transaction on a table Sluice does not capture, just before the backlog: its start
  // is the seeded position. Seeding the backlog's own start offset (SHOW MASTER STATUS)
  // as "fully delivered" would skip the backlog's first transaction, whose commit
  // checkpoint has that same offset.
  await c.query(`CREATE TABLE ${MARIA_DB}.marker (id INT PRIMARY KEY) ENGINE=InnoDB`)
  const before = await masterStatus(c)
  await c.query(`INSERT INTO ${MARIA_DB}.marker VALUES (1)`)
  const seed = formatPosition({
    file: before.file,
    offset: before.position,
    phase: '1',
    index: END_INDEX,
    gtid: '',
  })
  const backlog = await writeMariaBacklog(c, 'bench', backlogShape(ROWS), say)
  say(
    `backlog: ${changeCounts(backlog)} = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions, ` +
      `${fix(backlog.binlogBytes / 2 ** 20, 0)} MiB of binlog (${backlog.files.join(', ')} ${backlog.start.position}..${backlog.end.position}), written in ${fix(backlog.ms / 1000, 1)} s; Sluice seeded with ${seed}`,
  )
  const lastKey = txCheckpointKey(backlog.lastTxStart)
  const done = (pos: string): boolean => sortKey(pos) >= lastKey
  const sluiceRun = (name: string, nodeFlags: string[] = []): Promise<SluiceRun> =>
    runSluice(launcher, {
      name,
      table: 'bench',
      snapshot: 'never',
      seed,
      events: backlog.events,
      complete: done,
      nodeFlags,
    })
  let checkedFirst = false
  const [decode, sluice, raw] = await interleave(RUNS, [
    async (i) => {
      const r = await runMariadbBinlog(backlog, false, `decode-${i}`)
      say(describeRun(`mariadb-binlog -v #${i + 1}`, r, SERVER))
      return r
    },
    async (i) => {
      const r = await sluiceRun(`stream-${i}`)
      say(describeRun(`sluice #${i + 1}`, r, SERVER))
      const hung =
        r.exit !== '0' &&
        readFileSync(join(r.dir, 'sluice.log'), 'utf8').includes('graceful stop took longer')
      noteSluiceRun(
        notes,
        'streaming',
        i,
        r,
        backlog.events,
        ` after SIGTERM${hung ? ' ("graceful stop took longer than 10 s; exiting": the process stayed alive after "pipeline stopped"; not in the figures)' : ''}`,
      )
      if (!checkedFirst) {
        checkedFirst = true
        const first = await firstRecord(join(r.dir, 'out'))
        const after = first?.after as Record<string, unknown> | null | undefined
        const ok = first?.op === 'c' && after !== null && after !== undefined && Number(after.id) === 1
        say(
          `  first record of the output: op ${String(first?.op)}, after ${show(after)}${ok ? " (the backlog's first insert: ok)" : ''}`,
        )
        if (!ok)
          notes.push(`the first output record is not the backlog's first insert (id 1): ${show(first)}`)
      }
      WORK.discard(r.dir)
      return r
    },
    async (i) => {
      const r = await runMariadbBinlog(backlog, true, `raw-${i}`)
      say(describeRun(`mariadb-binlog --raw #${i + 1}`, r, SERVER))
      return r
    },
  ])

  const profile = PROFILE
    ? await profileSluice(WORK.dir, launcher.cwd, notes, SERVER, async (flags) => {
        const r = await sluiceRun('stream-prof', flags)
        WORK.discard(r.dir)
        return r
      })
    : null
  return { backlog, seed, charset, decode, raw, sluice, profile }
}

/** Scenario 2: snapshot of ROWS rows, `mariadb --quick -e SELECT` against Sluice initial_only. */
async function snapshotScenario(
  c: mysql.Connection,
  launcher: SluiceLauncher,
  notes: string[],
): Promise<{ client: Run[]; sluice: Run[]; fillMs: number }> {
  say('\n== snapshot ==')
  await c.query(mariaTableSql('bench_snap'))
  const t = performance.now()
  for (let a = 1; a <= ROWS; a += 100_000)
    await c.query(mariaInsertSql('bench_snap', a, Math.min(ROWS, a + 99_999)))
  const fillMs = performance.now() - t
  await c.query(`ANALYZE TABLE ${MARIA_DB}.bench_snap`)
  say(`bench_snap: ${int(ROWS)} rows in ${fix(fillMs / 1000, 1)} s`)
  const snapDone = (pos: string): boolean => /^\d{10}\.\d{16}\.0\.999999999999$/.test(sortKey(pos))
  const [client, sluice] = await interleave(RUNS, [
    async (i) => {
      const args = [
        '--no-defaults',
        '--quick',
        '--batch',
        '-h',
        '127.0.0.1',
        '-P',
        String(server!.port),
        '-u',
        'root',
        '-e',
        `SELECT * FROM ${MARIA_DB}.bench_snap`,
      ]
      const cpu0 = serverCpu()
      // Output to /dev/null (spawnMeasured's default); on failure, run again to show the error.
      const m = spawnMeasured(MARIADB_CLIENT, args, {})
      const r = await m.exited
      const serverCpuS = serverCpu() - cpu0
      if (r.code !== 0) {
        let err = ''
        try {
          execFileSync(MARIADB_CLIENT, [...args.slice(0, -1), 'SELECT 1'], {
            stdio: ['ignore', 'ignore', 'pipe'],
          })
        } catch (e) {
          err = String((e as { stderr?: Buffer }).stderr ?? e)
        }
        throw new Error(`mariadb SELECT failed (${r.code ?? r.signal}): ${err}`)
      }
      const run = exitedRun(m, r, ROWS, serverCpuS)
      say(describeRun(`mariadb --quick SELECT #${i + 1}`, run, SERVER))
      return run
    },
    async (i) => {
      const r = await runSluice(launcher, {
        name: `snap-${i}`,
        table: 'bench_snap',
        snapshot: 'initial_only',
        awaitExitMs: 15_000,
        seed: null,
        events: ROWS,
        complete: snapDone,
      })
      say(
        describeRun(`sluice snapshot #${i + 1}`, r, SERVER) +
          (r.selfExitMs !== undefined
            ? `, exited by itself ${fix(r.selfExitMs / 1000)} s after the final commit`
            : ''),
      )
      noteSluiceRun(notes, 'snapshot', i, r, ROWS, '')
      WORK.discard(r.dir)
      return r
    },
  ])
  return { client, sluice, fillMs }
}

/** Scenario 3: one transaction of ROWS rows, mariadb-binlog -v against Sluice (peak RSS). */
async function bigScenario(
  c: mysql.Connection,
  launcher: SluiceLauncher,
  notes: string[],
): Promise<{ tx: MariaBacklog; seed: string; decode: Run[]; sluice: Run[] }> {
  say('\n== one large transaction ==')
  await c.query(mariaTableSql('bench_big'))
  await c.query(`CREATE TABLE IF NOT EXISTS ${MARIA_DB}.marker (id INT PRIMARY KEY) ENGINE=InnoDB`)
  // As in the streaming scenario: an uncaptured transaction just before, whose start is the seed.
  const before = await masterStatus(c)
  await c.query(`INSERT INTO ${MARIA_DB}.marker VALUES (2)`)
  const seed = formatPosition({
    file: before.file,
    offset: before.position,
    phase: '1',
    index: END_INDEX,
    gtid: '',
  })
  const start = await masterStatus(c)
  const t = performance.now()
  await c.query(mariaInsertSql('bench_big', 1, ROWS))
  const ms = performance.now() - t
  const end = await masterStatus(c)
  const files = await binlogFilesBetween(c, start.file, end.file)
  const tx: MariaBacklog = {
    inserts: ROWS,
    updates: 0,
    deletes: 0,
    txRows: ROWS,
    events: ROWS,
    transactions: 1,
    start,
    lastTxStart: start,
    end,
    files: files.map((f) => f.name),
    binlogBytes:
      files.length === 1
        ? end.position - start.position
        : files.slice(0, -1).reduce((n, f) => n + f.size, 0) - start.position + end.position,
    ms,
  }
  say(
    `one INSERT ... SELECT of ${int(ROWS)} rows in ${fix(ms / 1000, 1)} s, ${fix(tx.binlogBytes / 2 ** 20, 0)} MiB of binlog`,
  )
  const lastKey = txCheckpointKey(start)
  const [decode, sluice] = await interleave(RUNS, [
    async (i) => {
      const r = await runMariadbBinlog(tx, false, `big-decode-${i}`)
      say(describeRun(`mariadb-binlog -v #${i + 1}`, r, SERVER))
      return r
    },
    async (i) => {
      const r = await runSluice(launcher, {
        name: `big-${i}`,
        table: 'bench_big',
        snapshot: 'never',
        seed,
        events: ROWS,
        complete: (pos) => sortKey(pos) >= lastKey,
      })
      say(describeRun(`sluice #${i + 1}`, r, SERVER))
      noteSluiceRun(notes, 'large-transaction', i, r, ROWS, ' after SIGTERM')
      WORK.discard(r.dir)
      return r
    },
  ])
  return { tx, seed, decode, sluice }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, '/nonexistent')
  const command = benchCommand(
    [
      'BENCH_ROWS',
      'BENCH_RUNS',
      'BENCH_ONLY',
      'BENCH_SLUICE',
      'BENCH_SLUICE_FLAGS',
      'BENCH_PROFILE',
      'BENCH_IN_FLIGHT',
    ],
    'npx tsx bench/mysql-to-file.bench.ts',
  )
  announce('sluice mysql bench', command, info, ROWS, RUNS)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, SLUICE_FLAGS, notes, 2)

  const t0 = performance.now()
  server = await startMariadb()
  const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'root' })
  const [vrows] = await c.query('SELECT VERSION() AS v')
  const version = String((vrows as { v: string }[])[0]?.v)
  const binlogVersion = (() => {
    try {
      return execFileSync(MARIADB_BINLOG, ['--version'], { encoding: 'utf8' }).trim()
    } catch {
      return 'unknown'
    }
  })()
  say(`MariaDB ${version} on port ${server.port}; ${binlogVersion}`)
  await c.query(`CREATE DATABASE ${MARIA_DB}`)
  const st = ONLY.has('stream') ? await streamingScenario(c, launcher, notes) : null
  const snap = ONLY.has('snapshot') ? await snapshotScenario(c, launcher, notes) : null
  const big = ONLY.has('big') ? await bigScenario(c, launcher, notes) : null
  await c.end()
  const totalS = (performance.now() - t0) / 1000

  const head = runHead(SERVER)
  const lines: string[] = []
  lines.push(sectionHead(info, 'MariaDB → file'))
  lines.push('')
  lines.push(commandLine(command, ROWS, RUNS, `; ${fix(totalS / 60, 1)} min with the server`))
  lines.push(
    machineLine(
      info,
      `MariaDB ${version} (\`startMariadb()\`: ROW, FULL image and metadata, CRC32, sync_binlog 0); ${binlogVersion}`,
    ),
  )
  lines.push(
    sluiceLine(
      launcher,
      SLUICE_FLAGS,
      "`type: mysql`, file sink `format: avro`, state in a file; time from spawn to the state file holding the last transaction's commit checkpoint (the runner commits every 1 s); peak RSS = VmHWM of the node process",
    ),
  )
  lines.push(
    `- Baseline: \`${DECODE_CMD}\`; reference: \`${RAW_CMD}\`; time from spawn to exit; \`mariadbd CPU\` = the server's CPU time during the run (the binlog dump thread; nothing else runs)`,
  )
  lines.push(
    '- Runs interleave mariadb-binlog -v, Sluice, mariadb-binlog --raw, then backwards, ...; all read the same backlog',
  )
  if (st) {
    const { backlog } = st
    const d = summarise(st.decode)
    const s = summarise(st.sluice)
    const written = allWritten(st.sluice, backlog.events)
    lines.push(
      ...subsection(
        `Streaming a binlog backlog of ${int(backlog.events)} changes`,
        `${changeCounts(backlog)} in ${int(backlog.transactions)} transactions of ${TX_ROWS} rows (~100-byte VARCHAR, character set ${st.charset}: the server's default), ${fix(backlog.binlogBytes / 2 ** 20, 0)} MiB of binlog in ${backlog.files.join(', ')}, written in ${fix(backlog.ms / 1000, 1)} s. ` +
          `Sluice resumes from a state file seeded with \`${st.seed}\` (an uncaptured one-row transaction just before the backlog), i.e. \`snapshot: never\` from a past position.`,
        table(head, [
          runRow('mariadb-binlog -v (DECODE-ROWS, baseline)', 'changes', st.decode, backlog.events),
          runRow('mariadb-binlog --raw (reference)', 'changes', st.raw, backlog.events),
          runRow('Sluice → file (Avro)', 'changes', st.sluice, backlog.events),
        ]),
        `**Sluice / mariadb-binlog -v = ${fix(s.rate / d.rate)}** (target ≥ 0.7: ${s.rate / d.rate >= 0.7 ? 'met' : '**not met**'}; ratio of medians; ${pairRatios(st.sluice, st.decode)}). ` +
          `${written.text}; the rest is start-up and waiting for the 1 s state commit (Sluice by that time / mariadb-binlog -v = ${fix(backlog.events / (written.ms / 1000) / d.rate)}). Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)}.`,
      ),
    )
    if (st.profile)
      lines.push(
        ...profileSection(
          st.profile,
          ' (start-up waits and the shutdown after completion, see the notes)',
          'run to completion',
        ),
      )
  }
  if (snap) {
    const p = summarise(snap.client)
    const s = summarise(snap.sluice)
    lines.push(
      ...subsection(
        `Snapshot of ${int(ROWS)} rows`,
        table(head, [
          runRow('mariadb --quick -e "SELECT * ..." > /dev/null', 'rows', snap.client, ROWS),
          runRow('Sluice snapshot: initial_only → file', 'rows', snap.sluice, ROWS),
        ]),
        `Sluice / mariadb client = ${fix(s.rate / p.rate)}; Sluice peak RSS median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)}. Client: \`${SELECT_CMD}\`. Sluice's time includes start-up, preflight and the consistent-snapshot transaction; completion is the state file holding the snapshot's final checkpoint (\`<file>.<offset>.0.999999999999\`).`,
      ),
    )
  }
  if (big) {
    const d = summarise(big.decode)
    const s = summarise(big.sluice)
    lines.push(
      ...subsection(
        `One transaction of ${int(ROWS)} rows (a single INSERT ... SELECT)`,
        `${fix(big.tx.binlogBytes / 2 ** 20, 0)} MiB of binlog in one transaction (written in ${fix(big.tx.ms / 1000, 1)} s); Sluice resumes from a state file seeded with \`${big.seed}\` (an uncaptured transaction just before).`,
        table(head, [
          runRow('mariadb-binlog -v (DECODE-ROWS)', 'changes', big.decode, ROWS),
          runRow('Sluice → file (Avro)', 'changes', big.sluice, ROWS),
        ]),
        `Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)} (target ≤ 200 MB: ${s.peakMaxKb * 1024 <= 200e6 ? 'met' : '**not met**'}). Sluice / mariadb-binlog -v = ${fix(s.rate / d.rate)}. ` +
          `Sluice's VmRSS at 25/50/75/100 % of each run: ${big.sluice.map((x) => (x.rssCurve ?? []).map((k) => fix(k / 1024, 0)).join('/')).join('; ')} MiB.`,
      ),
    )
  }
  finishSection(lines, notes, REPO)
}

runMain(main, WORK.cleanup)
