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
 *   env: BENCH_ROWS, BENCH_RUNS (3), BENCH_PROFILE (1: one extra profiled Sluice run),
 *        BENCH_SLUICE (build|dist|tsx), BENCH_KEEP (1: keep the temp dir), BENCH_RESULTS (0: do not append)
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
import { runDir, sluiceLauncher, startSluice, statePosition, writePipelineYaml, type SluiceLauncher } from './lib/sluice.js'
import { fix, int, median, mib, table } from './lib/stats.js'
import { COLUMNS, createTableSql, insertSql, parseLsn, writeBacklog, type Backlog } from './lib/workload.js'

const REPO = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '')
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const ROWS = Number(process.env.BENCH_ROWS ?? 1_000_000)
const RUNS = Math.max(1, Number(process.env.BENCH_RUNS ?? 3))
const PROFILE = process.env.BENCH_PROFILE !== '0'
const TX_ROWS = 1000
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
function watchWalsender(c: pg.Client, slot: string, until: Promise<unknown>): { result: () => ProcSample | null } {
  let watcher: ProcWatcher | null = null
  let done = false
  until.finally(() => (done = true)).catch(() => {})
  void (async () => {
    while (!done && !watcher) {
      const r = await c.query<{ pid: number | null }>('SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1', [slot])
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

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

const tail = (file: string, lines = 40): string => {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}

/** pg_recvlogical from `slot` up to `endLsn`, output to /dev/null. */
async function runRecvlogical(c: pg.Client, slot: string, publication: string, endLsn: string, events: number): Promise<Run> {
  const log = join(WORK, `${slot}.log`)
  const m = spawnMeasured(
    join(PG_BIN, 'pg_recvlogical'),
    ['-h', '127.0.0.1', '-p', String(server!.port), '-U', 'postgres', '-d', 'postgres', '--slot', slot, '--start', '--no-loop',
      '-o', 'proto_version=1', '-o', `publication_names=${publication}`, `--endpos=${endLsn}`, '-f', '/dev/null'],
    { logFile: log },
  )
  const ws = watchWalsender(c, slot, m.exited)
  const r = await m.exited
  if (r.code !== 0) throw new Error(`pg_recvlogical failed (${r.code ?? r.signal}):\n${tail(log)}`)
  return { ms: r.ms, rate: events / (r.ms / 1000), peak: m.watcher.last, walsender: ws.result(), exit: String(r.code) }
}

/**
 * Runs the Sluice CLI on a prepared pipeline until the state file holds a position that
 * `complete` accepts (all events durable and committed), then stops it with SIGTERM.
 */
async function runSluice(
  l: SluiceLauncher,
  c: pg.Client,
  opts: { name: string; table: string; slot: string; publication: string; snapshot: 'never' | 'initial'; events: number; complete: (pos: string) => boolean; nodeFlags?: string[] },
): Promise<Run & { dir: string }> {
  const dir = runDir(WORK, opts.name)
  const yaml = writePipelineYaml({ url: server!.url, table: opts.table, slot: opts.slot, publication: opts.publication, snapshot: opts.snapshot, dir })
  const counter = new OcfCounter(join(dir, 'out'))
  const m = startSluice(l, yaml, dir, opts.nodeFlags)
  const ws = watchWalsender(c, opts.slot, m.exited)
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null
  void m.exited.then((r) => (exited = r))
  let writtenMs: number | undefined
  let lastProgress = performance.now()
  let lastSeen = ''
  let doneMs: number | null = null
  for (;;) {
    const pos = statePosition(dir)
    const now = performance.now()
    if (pos !== null && opts.complete(pos)) {
      doneMs = now - m.t0
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
      throw new SluiceFailed(`sluice exited (${e.code ?? e.signal}) before completing; position ${pos}; log ${join(dir, 'sluice.log')}:\n${tail(join(dir, 'sluice.log'))}`)
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
    const r = await c.query<{ active: boolean }>('SELECT active FROM pg_replication_slots WHERE slot_name = $1', [slot])
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
async function alternate<A, B>(runs: number, a: (i: number) => Promise<A>, b: (i: number) => Promise<B>): Promise<{ as: A[]; bs: B[] }> {
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
  (r.records !== undefined ? `, ${int(r.records)} records` : '')

/** Median figures of a list of runs. */
function summarise(rs: readonly Run[]): { ms: number; rate: number; rateMin: number; rateMax: number; peakKb: number; peakMaxKb: number; cpuS: number; walsenderCpuS: number } {
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

const HEAD = ['consumer', 'runs', 'median wall s', 'median rate', 'rate range', 'peak RSS median', 'CPU (median)', 'walsender CPU']

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = `BENCH_ROWS=${ROWS} BENCH_RUNS=${RUNS} npm run bench`
  say(`sluice bench: ${command}\n${info.date}, commit ${info.commit}${info.dirty ? ' (working tree has uncommitted changes)' : ''}, ${info.cpus} × ${info.model}, ${info.ramGiB} GiB, node ${info.node}`)
  const notes: string[] = []
  const launcher = sluiceLauncher(REPO, WORK, (s) => {
    say(s)
    notes.push(s.split('\n')[0]!)
  })
  say(`sluice: ${launcher.describe}`)

  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()

  // 1. Streaming backlog. Slots first, so the backlog is ahead of them.
  say('\n== streaming backlog ==')
  await c.query(createTableSql('bench'))
  await c.query('CREATE PUBLICATION bench_pub FOR TABLE bench')
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_stream', 'pgoutput')`)
  const shape = { inserts: ROWS, updates: Math.round(ROWS / 4), deletes: Math.round(ROWS / 20), txRows: TX_ROWS }
  const backlog: Backlog = await writeBacklog(c, 'bench', shape, say)
  await c.query('CHECKPOINT')
  say(
    `backlog: ${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions, ` +
      `${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL, written in ${fix(backlog.ms / 1000, 1)} s; end LSN ${backlog.endLsn}`,
  )
  const streamDone = reached('1', backlog.lastTxStart)
  const streaming = await alternate(
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
      const r = await runSluice(launcher, c, { name: `stream-${i}`, table: 'public.bench', slot, publication: 'bench_pub', snapshot: 'never', events: backlog.events, complete: streamDone })
      await dropSlot(c, slot)
      say(describeRun(`sluice #${i + 1}`, r))
      if (r.records !== backlog.events) notes.push(`streaming run ${i + 1}: ${r.records} records in the output, expected ${backlog.events}`)
      rmSync(r.dir, { recursive: true, force: true })
      return r
    },
  )
  const pairRatios = streaming.bs.map((s, i) => s.rate / streaming.as[i]!.rate)

  // One extra, unmeasured run under the V8 profiler.
  let profile: { top: SelfTime[]; totalMs: number; idleMs: number; ms: number } | null = null
  if (PROFILE) {
    say('profiling one more Sluice run (node --cpu-prof; not in the figures)')
    await copySlot(c, 'tmpl_stream', 'sluice_prof')
    const profDir = join(WORK, 'cpuprof')
    const r = await runSluice(launcher, c, {
      name: 'stream-prof', table: 'public.bench', slot: 'sluice_prof', publication: 'bench_pub', snapshot: 'never', events: backlog.events, complete: streamDone,
      nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500'],
    })
    await dropSlot(c, 'sluice_prof')
    say(describeRun('sluice (profiled)', r))
    const files = existsSync(profDir) ? readdirSync(profDir).filter((f) => f.endsWith('.cpuprofile')) : []
    if (files[0]) profile = { ...selfTimes(join(profDir, files[0]), launcher.cwd), ms: r.ms }
    else notes.push('the profiled run wrote no .cpuprofile')
  }
  await c.query(`SELECT pg_drop_replication_slot('tmpl_stream')`)

  // 2. One large transaction.
  say('\n== one large transaction ==')
  await c.query(createTableSql('bench_big'))
  await c.query('CREATE PUBLICATION big_pub FOR TABLE bench_big')
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_big', 'pgoutput')`)
  const bigStart = parseLsn((await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l)
  let t = performance.now()
  await c.query(insertSql('bench_big'), [1, ROWS])
  const bigEnd = (await c.query<{ l: string }>('SELECT pg_current_wal_insert_lsn()::text AS l')).rows[0]!.l
  say(`one INSERT ... SELECT of ${int(ROWS)} rows in ${fix((performance.now() - t) / 1000, 1)} s, ${fix(Number(parseLsn(bigEnd) - bigStart) / 2 ** 20, 0)} MiB of WAL`)
  await c.query('CHECKPOINT')
  const bigDone = reached('1', bigStart)
  const big = await alternate(
    RUNS,
    async (i) => {
      await copySlot(c, 'tmpl_big', `recv_big_${i}`)
      const r = await runRecvlogical(c, `recv_big_${i}`, 'big_pub', bigEnd, ROWS)
      await dropSlot(c, `recv_big_${i}`)
      say(describeRun(`pg_recvlogical #${i + 1}`, r))
      return r
    },
    async (i) => {
      await copySlot(c, 'tmpl_big', `sluice_big_${i}`)
      const r = await runSluice(launcher, c, { name: `big-${i}`, table: 'public.bench_big', slot: `sluice_big_${i}`, publication: 'big_pub', snapshot: 'never', events: ROWS, complete: bigDone })
      await dropSlot(c, `sluice_big_${i}`)
      say(describeRun(`sluice #${i + 1}`, r))
      if (r.records !== ROWS) notes.push(`large-transaction run ${i + 1}: ${r.records} records in the output, expected ${ROWS}`)
      rmSync(r.dir, { recursive: true, force: true })
      return r
    },
  )
  await c.query(`SELECT pg_drop_replication_slot('tmpl_big')`)

  // 3. Snapshot of the ROWS rows now in bench_big.
  say('\n== snapshot ==')
  await c.query('VACUUM ANALYZE bench_big')
  const snap = await alternate(
    RUNS,
    async (i) => {
      const log = join(WORK, `psql-${i}.log`)
      const m = spawnMeasured(
        join(PG_BIN, 'psql'),
        ['-X', '-q', '-h', '127.0.0.1', '-p', String(server!.port), '-U', 'postgres', '-d', 'postgres', '-o', '/dev/null', '-c', `COPY (SELECT ${COLUMNS} FROM bench_big) TO STDOUT`],
        { logFile: log },
      )
      const r = await m.exited
      if (r.code !== 0) throw new Error(`psql COPY failed:\n${tail(log)}`)
      const run: Run = { ms: r.ms, rate: ROWS / (r.ms / 1000), peak: m.watcher.last, walsender: null, exit: String(r.code) }
      say(describeRun(`psql COPY TO STDOUT #${i + 1}`, run))
      return run
    },
    async (i) => {
      t = performance.now()
      const r = await runSluice(launcher, c, { name: `snap-${i}`, table: 'public.bench_big', slot: `sluice_snap_${i}`, publication: 'big_pub', snapshot: 'initial', events: ROWS, complete: reached('0', 0n) })
      await dropSlot(c, `sluice_snap_${i}`)
      r.walsender = null
      say(describeRun(`sluice snapshot #${i + 1}`, r))
      if (r.records !== ROWS) notes.push(`snapshot run ${i + 1}: ${r.records} records in the output, expected ${ROWS}`)
      rmSync(r.dir, { recursive: true, force: true })
      return r
    },
  )
  await c.end()

  // Summary.
  const sRecv = summarise(streaming.as)
  const sSluice = summarise(streaming.bs)
  const bRecv = summarise(big.as)
  const bSluice = summarise(big.bs)
  const pPsql = summarise(snap.as)
  const pSluice = summarise(snap.bs)
  const written = median(streaming.bs.map((r) => r.writtenMs ?? NaN))
  const lines: string[] = []
  lines.push(`## ${info.date} — commit ${info.commit}${info.dirty ? ' + uncommitted changes in the working tree' : ''}`)
  lines.push('')
  lines.push(`- Command: \`${command}\``)
  lines.push(`- Machine: ${info.cpus} × ${info.model} (nproc ${info.cpus}), ${info.ramGiB} GiB RAM; Node ${info.node}; ${info.postgres}`)
  lines.push(`- Sluice: ${launcher.describe}; file sink \`format: avro\`, codec null, fsync per commit group; wall time from spawn to the state file holding the final checkpoint (commit interval 1 s)`)
  lines.push(`- pg_recvlogical: \`pg_recvlogical --start --no-loop -o proto_version=1 -o publication_names=... --endpos=<end LSN> -f /dev/null\`; wall time from spawn to exit`)
  lines.push(
    `- Backlog: ${int(backlog.inserts)} inserts + ${int(backlog.updates)} updates + ${int(backlog.deletes)} deletes = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions of ${TX_ROWS} rows (~100-byte text column), ${fix(backlog.walBytes / 2 ** 20, 0)} MiB of WAL; every run reads it from a copy of one pristine slot; runs alternate A B B A ...`,
  )
  lines.push('')
  lines.push(`### Streaming the backlog (${int(backlog.events)} changes)`)
  lines.push('')
  lines.push(table(HEAD, [row('pg_recvlogical', 'changes', streaming.as, backlog.events), row('Sluice → file (Avro)', 'changes', streaming.bs, backlog.events)]))
  lines.push('')
  lines.push(
    `**Sluice / pg_recvlogical = ${fix(sSluice.rate / sRecv.rate)}** (ratio of medians; median of the per-pair ratios ${fix(median(pairRatios))}, range ${fix(Math.min(...pairRatios))}–${fix(Math.max(...pairRatios))}). ` +
      `Sluice had every record in complete Avro blocks at a median ${fix(written / 1000)} s (${int(backlog.events / (written / 1000))} changes/s); the rest is the 1 s state commit.`,
  )
  lines.push('')
  lines.push(`### One transaction of ${int(ROWS)} rows`)
  lines.push('')
  lines.push(table(HEAD, [row('pg_recvlogical', 'changes', big.as, ROWS), row('Sluice → file (Avro)', 'changes', big.bs, ROWS)]))
  lines.push('')
  lines.push(`Sluice peak RSS ${mib(bSluice.peakMaxKb)} at most (target ≤ 200 MB) — ${bSluice.peakMaxKb * 1024 <= 200e6 ? 'within' : '**over**'} the target. Sluice / pg_recvlogical = ${fix(bSluice.rate / bRecv.rate)}. The server decodes the whole transaction (proto_version 1, spilling to disk) before sending its first change, for both consumers.`)
  lines.push('')
  lines.push(`### Snapshot of ${int(ROWS)} rows`)
  lines.push('')
  lines.push(table(HEAD, [row('psql COPY (SELECT ...) TO STDOUT', 'rows', snap.as, ROWS), row('Sluice snapshot: initial → file', 'rows', snap.bs, ROWS)]))
  lines.push('')
  lines.push(`Sluice / psql COPY = ${fix(pSluice.rate / pPsql.rate)}. Sluice's time includes start-up, preflight and creating the slot with an exported snapshot.`)
  if (profile) {
    lines.push('')
    lines.push(`### CPU profile of one Sluice streaming run (node --cpu-prof, not in the figures above)`)
    lines.push('')
    lines.push(`${fix(profile.totalMs / 1000)} s on-CPU in the main thread, ${fix(profile.idleMs / 1000)} s idle, of a ${fix(profile.ms / 1000)} s run. Top self time:`)
    lines.push('')
    lines.push(table(['self %', 'self ms', 'function', 'where'], profile.top.slice(0, 20).map((x) => [fix(x.pct, 1), int(x.ms), `\`${x.fn}\``, x.where])))
    lines.push('')
    lines.push('By file: ' + selfTimesByFile(profile.top).slice(0, 12).map((f) => `${f.file} ${fix(f.pct, 1)} %`).join(', '))
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
    if (!(err instanceof SluiceFailed) && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`)
    process.exitCode = 1
  })
  .finally(() => cleanup())
