/**
 * Postgres → Kafka throughput of the real `sluice run` CLI against pg_recvlogical, on one
 * throwaway Postgres 15 and librdkafka's mock cluster (3 brokers, started with kcat), in
 * one run:
 *
 *   1. streaming: one WAL backlog (inserts, updates, deletes in 1,000-row transactions),
 *      read by pg_recvlogical (pgoutput, to /dev/null) and by Sluice (snapshot: never,
 *      Kafka sink, single-object Avro, tombstones and transaction topic on), alternating
 *      A B B A ... on copies of one pristine slot, so both read the identical backlog;
 *   2. one large transaction (a single INSERT ... SELECT of BENCH_ROWS rows): Sluice's
 *      peak RSS and time (pg_recvlogical alongside for scale).
 *
 * Completion is the state file holding the final checkpoint: every record acknowledged by
 * the brokers (acks -1) and committed. Each Sluice run writes its own topic; the record
 * count is checked after the run. Prints a summary and appends a dated section to
 * bench/RESULTS.md.
 *
 *   npm run bench:kafka                               # 1,000,000 rows
 *   BENCH_ROWS=20000 BENCH_RUNS=1 BENCH_RESULTS=0 npm run bench:kafka   # smoke run
 *   env: BENCH_ROWS, BENCH_RUNS (5), BENCH_SLUICE (build|dist|tsx), BENCH_ONLY (stream,big),
 *        BENCH_IN_FLIGHT, BENCH_SLUICE_FLAGS, BENCH_KEEP (1: keep the temp dir), BENCH_RESULTS (0: do not append)
 */
import { join } from 'node:path'
import pg from 'pg'
import { startKafka, type KafkaServer } from '../test/integration/servers/kafka.js'
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
import { KafkaCounter, writeKafkaPipelineYaml } from './lib/kafka-sink.js'
import { machineInfo } from './lib/machine.js'
import { spawnMeasured } from './lib/proc.js'
import { commandLine, finishSection, machineLine, sectionHead, subsection } from './lib/report.js'
import {
  describeRun,
  exitedRun,
  interleave,
  noteSluiceRun,
  pairRatios,
  runHead,
  runRow,
  summarise,
  type Run,
} from './lib/runs.js'
import { prepareLauncher, runSluice as runSluiceIn, sluiceLine, type SluiceLauncher } from './lib/sluice.js'
import { fix, int, mib, table } from './lib/stats.js'
import {
  backlogShape,
  changeCounts,
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
  only: ONLY,
  inFlight: IN_FLIGHT,
  sluiceFlags: SLUICE_FLAGS,
} = benchSettings('stream,big')
const END_INDEX = '999999999999'

let server: PgServer | null = null
let kafka: KafkaServer | null = null
const WORK = workspace({
  prefix: 'sluice-bench-kafka-',
  serverName: 'Postgres and the Kafka mock cluster',
  stopServer: async () => {
    await server?.stop().catch(() => {})
    await kafka?.stop().catch(() => {})
    server = null
    kafka = null
  },
  signals: ['SIGINT'],
})

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
  const r = await m.exited
  if (r.code !== 0) throw new Error(`pg_recvlogical failed (${r.code ?? r.signal}):\n${tail(log)}`)
  return exitedRun(m, r, events, null)
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
    await sleep(100)
  }
  throw new Error(`slot ${slot} stayed active`)
}

/** One Sluice run into its own topic; `records` is what that topic holds afterwards. */
async function runSluice(
  l: SluiceLauncher,
  counter: KafkaCounter,
  o: {
    name: string
    table: string
    slot: string
    publication: string
    events: number
    complete: (p: string) => boolean
  },
): Promise<Run & { dir: string }> {
  const topic = `run-${o.name}`
  const r = await runSluiceIn(l, WORK.dir, {
    name: o.name,
    configure: (dir) =>
      writeKafkaPipelineYaml({
        url: server!.url,
        table: o.table,
        slot: o.slot,
        publication: o.publication,
        snapshot: 'never',
        dir,
        maxInFlightEvents: IN_FLIGHT,
        brokers: kafka!.brokers,
        topic,
      }),
    events: o.events,
    complete: o.complete,
    nodeFlags: SLUICE_FLAGS,
  })
  r.records = await counter.count(topic)
  return r
}

async function streamingScenario(
  c: pg.Client,
  launcher: SluiceLauncher,
  counter: KafkaCounter,
  notes: string[],
): Promise<{ backlog: Backlog; recv: Run[]; sluice: Run[] }> {
  say('\n== streaming backlog ==')
  await c.query(createTableSql('bench'))
  await c.query('CREATE PUBLICATION bench_pub FOR TABLE bench')
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_stream', 'pgoutput')`)
  const backlog = await writeBacklog(c, 'bench', backlogShape(ROWS), say)
  await c.query('CHECKPOINT')
  say(
    `backlog: ${changeCounts(backlog)} = ${int(backlog.events)} changes in ${int(backlog.transactions)} transactions`,
  )
  // Every delete is followed by its tombstone.
  const records = backlog.events + backlog.deletes
  const [recv, sluice] = await interleave(RUNS, [
    async (i) => {
      await copySlot(c, 'tmpl_stream', `recv_${i}`)
      const r = await runRecvlogical(`recv_${i}`, 'bench_pub', backlog.endLsn, backlog.events)
      await dropSlot(c, `recv_${i}`)
      say(describeRun(`pg_recvlogical #${i + 1}`, r))
      return r
    },
    async (i) => {
      await copySlot(c, 'tmpl_stream', `sluice_${i}`)
      const r = await runSluice(launcher, counter, {
        name: `stream-${i}`,
        table: 'public.bench',
        slot: `sluice_${i}`,
        publication: 'bench_pub',
        events: backlog.events,
        complete: reached('1', backlog.lastTxStart),
      })
      await dropSlot(c, `sluice_${i}`)
      say(describeRun(`sluice → kafka #${i + 1}`, r))
      noteSluiceRun(notes, 'streaming', i, r, records)
      WORK.discard(r.dir)
      return r
    },
  ])
  await c.query(`SELECT pg_drop_replication_slot('tmpl_stream')`)
  return { backlog, recv, sluice }
}

async function bigScenario(
  c: pg.Client,
  launcher: SluiceLauncher,
  counter: KafkaCounter,
  notes: string[],
): Promise<{ recv: Run[]; sluice: Run[] }> {
  say('\n== one large transaction ==')
  await c.query(createTableSql('bench_big'))
  await c.query('CREATE PUBLICATION big_pub FOR TABLE bench_big')
  await c.query(`SELECT pg_create_logical_replication_slot('tmpl_big', 'pgoutput')`)
  const start = parseLsn(await lsnNow(c))
  await c.query(insertSql('bench_big'), [1, ROWS])
  const end = await lsnNow(c)
  await c.query('CHECKPOINT')
  const [recv, sluice] = await interleave(RUNS, [
    async (i) => {
      await copySlot(c, 'tmpl_big', `recv_big_${i}`)
      const r = await runRecvlogical(`recv_big_${i}`, 'big_pub', end, ROWS)
      await dropSlot(c, `recv_big_${i}`)
      say(describeRun(`pg_recvlogical #${i + 1}`, r))
      return r
    },
    async (i) => {
      await copySlot(c, 'tmpl_big', `sluice_big_${i}`)
      const r = await runSluice(launcher, counter, {
        name: `big-${i}`,
        table: 'public.bench_big',
        slot: `sluice_big_${i}`,
        publication: 'big_pub',
        events: ROWS,
        complete: reached('1', start),
      })
      await dropSlot(c, `sluice_big_${i}`)
      say(describeRun(`sluice → kafka #${i + 1}`, r))
      noteSluiceRun(notes, 'large-transaction', i, r, ROWS)
      WORK.discard(r.dir)
      return r
    },
  ])
  await c.query(`SELECT pg_drop_replication_slot('tmpl_big')`)
  return { recv, sluice }
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    ['BENCH_ROWS', 'BENCH_RUNS', 'BENCH_ONLY', 'BENCH_SLUICE', 'BENCH_SLUICE_FLAGS'],
    'npm run bench:kafka',
  )
  announce('sluice bench: postgres → kafka', command, info, ROWS, RUNS)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, SLUICE_FLAGS, notes)
  kafka = await startKafka()
  say(`kafka: librdkafka mock cluster ${kafka.brokers.join(',')}`)
  const counter = new KafkaCounter(kafka.brokers)
  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  const st = ONLY.has('stream') ? await streamingScenario(c, launcher, counter, notes) : null
  const big = ONLY.has('big') ? await bigScenario(c, launcher, counter, notes) : null
  await c.end()

  const head = runHead('server')
  const lines: string[] = []
  lines.push(sectionHead(info, 'Postgres → Kafka'))
  lines.push('')
  lines.push(commandLine(command, ROWS, RUNS))
  lines.push(machineLine(info, info.postgres))
  lines.push(
    sluiceLine(
      launcher,
      SLUICE_FLAGS,
      'Kafka sink to librdkafka 2.0.2 mock cluster (3 brokers, kcat, 4 partitions per auto-created topic), acks -1, ' +
        'no registry (single-object Avro + schema topic), tombstones and transaction topic on; time from spawn to the ' +
        'state file holding the final checkpoint (the runner commits every 1 s); peak RSS = VmHWM of the node process',
    ),
  )
  lines.push(
    '- pg_recvlogical: `pg_recvlogical --start --no-loop -o proto_version=1 ... -f /dev/null`; time from spawn to exit',
  )
  if (st) {
    const r = summarise(st.recv)
    const s = summarise(st.sluice)
    lines.push(
      ...subsection(
        `Streaming a backlog of ${int(st.backlog.events)} changes to Kafka`,
        `${changeCounts(st.backlog)} in ${int(st.backlog.transactions)} transactions of ${TX_ROWS} rows.`,
        table(head, [
          runRow('pg_recvlogical', 'changes', st.recv, st.backlog.events),
          runRow('Sluice → Kafka', 'changes', st.sluice, st.backlog.events),
        ]),
        `**Sluice → Kafka / pg_recvlogical = ${fix(s.rate / r.rate)}** (ratio of medians; ${pairRatios(st.sluice, st.recv)}). ` +
          `Sluice peak RSS: median ${mib(s.peakKb)}.`,
      ),
    )
  }
  if (big) {
    const r = summarise(big.recv)
    const s = summarise(big.sluice)
    lines.push(
      ...subsection(
        `One transaction of ${int(ROWS)} rows to Kafka`,
        table(head, [
          runRow('pg_recvlogical', 'changes', big.recv, ROWS),
          runRow('Sluice → Kafka', 'changes', big.sluice, ROWS),
        ]),
        `Sluice peak RSS: median ${mib(s.peakKb)}, max ${mib(s.peakMaxKb)}. Sluice / pg_recvlogical = ${fix(s.rate / r.rate)}.`,
      ),
    )
  }
  finishSection(lines, notes, REPO)
}

runMain(main, WORK.cleanup)
