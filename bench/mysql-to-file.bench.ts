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
 *      `mariadb --quick -e "SELECT * FROM ..."` to /dev/null.
 *
 * Prints a summary and appends a dated section to bench/RESULTS.md. See bench/README.md.
 *
 *   npx tsx bench/mysql-to-file.bench.ts                     # 1,000,000 rows: 1.3M streamed changes
 *   BENCH_ROWS=100000 npx tsx bench/mysql-to-file.bench.ts   # quick
 *   env: BENCH_ROWS, BENCH_RUNS (5), BENCH_PROFILE (1: one extra profiled Sluice run),
 *        BENCH_SLUICE (build|dist|tsx), BENCH_ONLY (stream,snapshot: a subset),
 *        BENCH_IN_FLIGHT (the pipelines' max_in_flight_events), BENCH_SLUICE_FLAGS (extra
 *        node flags for every Sluice run), BENCH_KEEP (1: keep the temp dir),
 *        BENCH_RESULTS (0: do not append), MARIADB_BINLOG / MARIADB_CLIENT (binaries)
 */
import { execFileSync } from 'node:child_process'
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import avro from 'avsc'
import mysql from 'mysql2/promise'
import { formatPosition, sortKey } from '../connectors/mysql/position.js'
import { startMariadb, type MariaServer } from '../test/integration/servers/mariadb.js'
import { selfTimes, selfTimesByFile, type SelfTime } from './lib/cpuprofile.js'
import { machineInfo } from './lib/machine.js'
import {
  MARIA_DB,
  mariaInsertSql,
  mariaTableSql,
  masterStatus,
  writeMariaBacklog,
  type Coordinates,
  type MariaBacklog,
} from './lib/mariadb-workload.js'
import { OcfCounter } from './lib/ocf-count.js'
import { killAll, sampleProc, spawnMeasured, terminate } from './lib/proc.js'
import { describeRun, interleave, runHead, runRow, summarise, type Run } from './lib/runs.js'
import { seedState, writeMysqlPipelineYaml } from './lib/sluice-mysql.js'
import { runDir, sluiceLauncher, startSluice, statePosition, type SluiceLauncher } from './lib/sluice.js'
import { fix, int, median, mib, table } from './lib/stats.js'

const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000)
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 5))
const PROFILE = process.env.BENCH_PROFILE !== '0'
const TX_ROWS = 1000
const ONLY = new Set((process.env.BENCH_ONLY ?? 'stream,snapshot').split(',').map((x) => x.trim()))
const IN_FLIGHT = process.env.BENCH_IN_FLIGHT ? Number(process.env.BENCH_IN_FLIGHT) : undefined
const SLUICE_FLAGS = (process.env.BENCH_SLUICE_FLAGS ?? '').split(' ').filter(Boolean)
const MARIADB_BINLOG = process.env.MARIADB_BINLOG ?? 'mariadb-binlog'
const MARIADB_CLIENT = process.env.MARIADB_CLIENT ?? 'mariadb'
/** Replica server_id of Sluice's binlog connection (the server's own is 1). */
const SERVER_ID = 5401
const END_INDEX = 999_999_999_999
/** A Sluice run that makes no visible progress for this long is declared hung. */
const STALL_MS = 60_000

const say = (s: string): void => void process.stdout.write(`${s}\n`)

/** A Sluice failure, with the tail of its log. */
class SluiceFailed extends Error {}

let server: MariaServer | null = null
const WORK = mkdtempSync(join(tmpdir(), 'sluice-bench-mysql-'))

async function cleanup(): Promise<void> {
  killAll()
  await server?.stop().catch(() => {})
  server = null
  if (process.env.BENCH_KEEP !== '1') rmSync(WORK, { recursive: true, force: true })
  else say(`kept ${WORK}`)
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    say(`\n${sig === 'SIGINT' ? 'interrupted' : 'terminated'}: stopping children and MariaDB`)
    void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143))
  })
}

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
  const log = join(WORK, `${name}.log`)
  const out = join(WORK, `${name}-raw`)
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
  return { ms: r.ms, rate: b.events / (r.ms / 1000), peak: m.watcher.last, serverCpuS, exit: String(r.code) }
}

/**
 * Runs the Sluice CLI on a prepared pipeline until the state file holds a position that
 * `complete` accepts (all events durable and committed), then stops it with SIGTERM.
 */
async function runSluice(
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
): Promise<Run & { dir: string; selfExitMs?: number }> {
  const dir = runDir(WORK, opts.name)
  const yaml = writeMysqlPipelineYaml({
    url: server!.urlFor(MARIA_DB),
    tables: [`${MARIA_DB}.${opts.table}`],
    serverId: SERVER_ID,
    snapshot: opts.snapshot,
    dir,
    ...(IN_FLIGHT ? { maxInFlightEvents: IN_FLIGHT } : {}),
  })
  if (opts.seed !== null) seedState(dir, opts.seed)
  const counter = new OcfCounter(join(dir, 'out'))
  const cpu0 = serverCpu()
  const m = startSluice(l, yaml, dir, [...SLUICE_FLAGS, ...(opts.nodeFlags ?? [])])
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  void m.exited.then((r) => (exited = r))
  let writtenMs: number | undefined
  let lastProgress = performance.now()
  let lastSeen = ''
  let doneMs: number
  for (;;) {
    const pos = statePosition(dir)
    const now = performance.now()
    if (pos !== null && pos !== opts.seed && opts.complete(pos)) {
      doneMs = now - m.t0
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
      const stop = await terminate(m, 12_000)
      throw new SluiceFailed(
        `sluice made no progress for ${STALL_MS / 1000} s (position ${pos}, ${counter.count()} records written; stopped: ${stop.code ?? stop.signal}${stop.killed ? ', needed SIGKILL' : ''}); log:\n${tail(join(dir, 'sluice.log'))}`,
      )
    }
    await sleep(20)
  }
  const serverCpuS = serverCpu() - cpu0
  m.watcher.poll()
  const rssCurve = m.watcher.rssAt([0.25, 0.5, 0.75, 1])
  let selfExitMs: number | undefined
  if (opts.awaitExitMs) {
    const t = performance.now()
    const gone = await Promise.race([m.exited.then(() => true), sleep(opts.awaitExitMs).then(() => false)])
    if (gone) selfExitMs = performance.now() - t
  }
  const stop = await terminate(m)
  const records = counter.count()
  return {
    dir,
    ms: doneMs,
    rate: opts.events / (doneMs / 1000),
    peak: m.watcher.last,
    serverCpuS,
    ...(writtenMs !== undefined ? { writtenMs } : {}),
    records,
    rssCurve,
    exit: `${stop.code ?? stop.signal}${stop.killed ? ' (SIGKILL after 15 s)' : ''}${opts.awaitExitMs && selfExitMs === undefined ? ` (did not exit by itself within ${opts.awaitExitMs / 1000} s; SIGTERM)` : ''}`,
    ...(selfExitMs !== undefined ? { selfExitMs } : {}),
  }
}

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

interface Profiled {
  top: SelfTime[]
  totalMs: number
  idleMs: number
  ms: number
}

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
  const shape = {
    inserts: ROWS,
    updates: Math.round(ROWS / 4),
    deletes: Math.round(ROWS / 20),
    txRows: TX_ROWS,
  }
  const backlog = await writeMariaBacklog(c, 'bench', shape, say)
  say(
    `backlog: ${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions, ` +
      `${fix(backlog.binlogBytes / 2 ** 20, 0)} MiB of binlog (${backlog.files.join(', ')} ${backlog.start.position}..${backlog.end.position}), written in ${fix(backlog.ms / 1000, 1)} s; Sluice seeded with ${seed}`,
  )
  const lastKey = txCheckpointKey(backlog.lastTxStart)
  const done = (pos: string): boolean => sortKey(pos) >= lastKey
  const sluiceRun = (name: string, nodeFlags: string[] = []): Promise<Run & { dir: string }> =>
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
      say(describeRun(`mariadb-binlog -v #${i + 1}`, r, 'mariadbd'))
      return r
    },
    async (i) => {
      const r = await sluiceRun(`stream-${i}`)
      say(describeRun(`sluice #${i + 1}`, r, 'mariadbd'))
      if (r.exit !== '0') {
        const hung = readFileSync(join(r.dir, 'sluice.log'), 'utf8').includes('graceful stop took longer')
        notes.push(
          `streaming run ${i + 1}: sluice exited ${r.exit} after SIGTERM${hung ? ' ("graceful stop took longer than 10 s; exiting": the process stayed alive after "pipeline stopped"; not in the figures)' : ''}`,
        )
      }
      if (r.records !== backlog.events)
        notes.push(`streaming run ${i + 1}: ${r.records} records in the output, expected ${backlog.events}`)
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
      discard(r.dir)
      return r
    },
    async (i) => {
      const r = await runMariadbBinlog(backlog, true, `raw-${i}`)
      say(describeRun(`mariadb-binlog --raw #${i + 1}`, r, 'mariadbd'))
      return r
    },
  ])

  let profile: Profiled | null = null
  if (PROFILE) {
    say('profiling one more Sluice run (node --cpu-prof; not in the figures)')
    const profDir = join(WORK, 'cpuprof')
    const r = await sluiceRun('stream-prof', [
      '--cpu-prof',
      `--cpu-prof-dir=${profDir}`,
      '--cpu-prof-interval=500',
    ])
    say(describeRun('sluice (profiled)', r, 'mariadbd'))
    discard(r.dir)
    const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : []
    if (files[0]) {
      profile = { ...selfTimes(join(profDir, files[0]), launcher.cwd), ms: r.ms }
      say(`  profile: ${join(profDir, files[0])}`)
    } else notes.push('the profiled run wrote no .cpuprofile')
  }
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
      const run: Run = {
        ms: r.ms,
        rate: ROWS / (r.ms / 1000),
        peak: m.watcher.last,
        serverCpuS,
        exit: String(r.code),
      }
      say(describeRun(`mariadb --quick SELECT #${i + 1}`, run, 'mariadbd'))
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
        describeRun(`sluice snapshot #${i + 1}`, r, 'mariadbd') +
          (r.selfExitMs !== undefined
            ? `, exited by itself ${fix(r.selfExitMs / 1000)} s after the final commit`
            : ''),
      )
      if (r.exit !== '0') notes.push(`snapshot run ${i + 1}: sluice exited ${r.exit}`)
      if (r.records !== ROWS)
        notes.push(`snapshot run ${i + 1}: ${r.records} records in the output, expected ${ROWS}`)
      discard(r.dir)
      return r
    },
  ])
  return { client, sluice, fillMs }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, '/nonexistent')
  const env = [
    'BENCH_ROWS',
    'BENCH_RUNS',
    'BENCH_ONLY',
    'BENCH_SLUICE',
    'BENCH_SLUICE_FLAGS',
    'BENCH_PROFILE',
    'BENCH_IN_FLIGHT',
  ]
    .filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${JSON.stringify(process.env[k])}`)
  const command = [...env, 'npx tsx bench/mysql-to-file.bench.ts'].join(' ')
  say(
    `sluice mysql bench: ${command} (${int(ROWS)} rows, ${RUNS} runs each)\n${info.date}, commit ${info.commit}${info.dirty ? ' (working tree has uncommitted changes)' : ''}, ${info.cpus} × ${info.model}, ${info.ramGiB} GiB, node ${info.node}`,
  )
  const notes: string[] = []
  const launcher = sluiceLauncher(REPO, WORK, (s) => {
    say(s)
    notes.push(s.split('\n').slice(0, 2).join(' ').trim())
  })
  say(
    `sluice: ${launcher.describe}${SLUICE_FLAGS.length ? ` with node flags ${SLUICE_FLAGS.join(' ')}` : ''}`,
  )

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
  await c.end()
  const totalS = (performance.now() - t0) / 1000

  const lines: string[] = []
  lines.push(
    `## ${info.date} — MariaDB → file — commit ${info.commit}${info.dirty ? ' + uncommitted changes in the working tree' : ''}`,
  )
  lines.push('')
  lines.push(
    `- Command: \`${command}\` (${int(ROWS)} rows, ${RUNS} runs of each consumer per scenario; ${fix(totalS / 60, 1)} min with the server)`,
  )
  lines.push(
    `- Machine: ${info.cpus} × ${info.model} (nproc ${info.cpus}), ${info.ramGiB} GiB RAM; Node ${info.node}; MariaDB ${version} (\`startMariadb()\`: ROW, FULL image and metadata, CRC32, sync_binlog 0); ${binlogVersion}`,
  )
  lines.push(
    `- Sluice: ${launcher.describe}${SLUICE_FLAGS.length ? `, node flags \`${SLUICE_FLAGS.join(' ')}\`` : ''}; \`type: mysql\`, file sink \`format: avro\`, state in a file; time from spawn to the state file holding the last transaction's commit checkpoint (the runner commits every 1 s); peak RSS = VmHWM of the node process`,
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
    const pair = st.sluice.map((x, i) => x.rate / st.decode[i]!.rate)
    const written = median(st.sluice.map((x) => x.writtenMs ?? NaN))
    lines.push('')
    lines.push(`### Streaming a binlog backlog of ${int(backlog.events)} changes`)
    lines.push('')
    lines.push(
      `${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes in ${int(backlog.transactions)} transactions of ${TX_ROWS} rows (~100-byte VARCHAR, character set ${st.charset}: the server's default), ${fix(backlog.binlogBytes / 2 ** 20, 0)} MiB of binlog in ${backlog.files.join(', ')}, written in ${fix(backlog.ms / 1000, 1)} s. ` +
        `Sluice resumes from a state file seeded with \`${st.seed}\` (an uncaptured one-row transaction just before the backlog), i.e. \`snapshot: never\` from a past position.`,
    )
    lines.push('')
    lines.push(
      table(runHead('mariadbd'), [
        runRow('mariadb-binlog -v (DECODE-ROWS, baseline)', 'changes', st.decode, backlog.events),
        runRow('mariadb-binlog --raw (reference)', 'changes', st.raw, backlog.events),
        runRow('Sluice → file (Avro)', 'changes', st.sluice, backlog.events),
      ]),
    )
    lines.push('')
    lines.push(
      `**Sluice / mariadb-binlog -v = ${fix(s.rate / d.rate)}** (target ≥ 0.7: ${s.rate / d.rate >= 0.7 ? 'met' : '**not met**'}; ratio of medians; per-pair ratios: median ${fix(median(pair))}, range ${fix(Math.min(...pair))}–${fix(Math.max(...pair))}). ` +
        `Every record was in complete Avro blocks at a median ${fix(written / 1000)} s (${int(backlog.events / (written / 1000))} changes/s); the rest is start-up and waiting for the 1 s state commit (Sluice by that time / mariadb-binlog -v = ${fix(backlog.events / (written / 1000) / d.rate)}). Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)}.`,
    )
    if (st.profile) {
      const p = st.profile
      lines.push('')
      lines.push(
        '#### CPU profile of one more Sluice streaming run (`node --cpu-prof`, not in the figures above)',
      )
      lines.push('')
      lines.push(
        `${fix(p.totalMs / 1000)} s on-CPU in the main thread, ${fix(p.idleMs / 1000)} s idle (start-up waits and the shutdown after completion, see the notes), of a ${fix(p.ms / 1000)} s run to completion. Top self time (functions without a location are V8-generated code, e.g. avsc's compiled record writers):`,
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
  if (snap) {
    const p = summarise(snap.client)
    const s = summarise(snap.sluice)
    lines.push('')
    lines.push(`### Snapshot of ${int(ROWS)} rows`)
    lines.push('')
    lines.push(
      table(runHead('mariadbd'), [
        runRow('mariadb --quick -e "SELECT * ..." > /dev/null', 'rows', snap.client, ROWS),
        runRow('Sluice snapshot: initial_only → file', 'rows', snap.sluice, ROWS),
      ]),
    )
    lines.push('')
    lines.push(
      `Sluice / mariadb client = ${fix(s.rate / p.rate)}; Sluice peak RSS median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)}. Client: \`${SELECT_CMD}\`. Sluice's time includes start-up, preflight and the consistent-snapshot transaction; completion is the state file holding the snapshot's final checkpoint (\`<file>.<offset>.0.999999999999\`).`,
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
