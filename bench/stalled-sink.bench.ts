/**
 * Back-pressure with a stalled sink, on the real `sluice run` CLI: Postgres under a steady
 * write load → Redis cache sink, and redis-server is stopped (SIGSTOP) for STALL_SECONDS
 * (default 300): its TCP connection stays open and Sluice's writes simply hang. Every 5 s
 * the bench records Sluice's RSS, its admin /metrics (in-flight events and bytes, lag,
 * retained WAL), the slot's confirmed_flush_lsn and the walsender (pid and the time of the
 * last status message it received). After SIGCONT the load goes on for 30 s, then stops;
 * the bench waits until Sluice has caught up and runs `sluice verify` (the Redis cache
 * must equal the table).
 *
 * It checks, and reports as met / not met:
 *   - RSS stays flat during the stall (last sample within 10 % of the first);
 *   - the slot's confirmed_flush_lsn never passes the WAL position taken when the stall
 *     began (nothing is acknowledged past what was delivered);
 *   - the same walsender serves the slot throughout and keeps receiving status messages
 *     (wal_sender_timeout is 60 s: a silent client would be disconnected);
 *   - after the stall every row arrives (`sluice verify` exit 0).
 *
 *   npm run bench:stall
 *   STALL_SECONDS=30 BENCH_RESULTS=0 npm run bench:stall      # quick check
 *   env: STALL_SECONDS (300), STALL_RATE (1000 changes/s: 80 % inserts, 20 % updates),
 *        STALL_WARMUP_SECONDS (30), BENCH_IN_FLIGHT, BENCH_SLUICE, BENCH_SLUICE_FLAGS,
 *        BENCH_KEEP, BENCH_RESULTS
 */
import { spawnSync } from 'node:child_process'
import { Redis } from 'ioredis'
import pg from 'pg'
import { freePort, startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import { startRedis, type RedisServer } from '../test/integration/servers/redis.js'
import { benchCommand, benchSettings, REPO, runMain, say, sleep, tail, workspace } from './lib/harness.js'
import {
  lsnBytes,
  percentile,
  scrapeMetrics,
  slotView,
  startLoad,
  startStreaming,
  type SlotView,
} from './lib/live.js'
import { machineInfo } from './lib/machine.js'
import { sampleProc, terminate } from './lib/proc.js'
import { finishSection, machineLine, sectionHead, subsection } from './lib/report.js'
import { PIPELINE, prepareLauncher, runDir, sluiceLine } from './lib/sluice.js'
import { countKeys, writeRedisPipelineYaml } from './lib/sluice-redis.js'
import { fix, int, table } from './lib/stats.js'
import { createTableSql } from './lib/workload.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const STALL_S = Number(process.env.STALL_SECONDS ?? 300)
const WARMUP_S = Number(process.env.STALL_WARMUP_SECONDS ?? 30)
const RATE = Number(process.env.STALL_RATE ?? 1000)
const AFTER_S = 30
const SAMPLE_MS = 5000
const SLOT = 'stall_slot'
const { inFlight: IN_FLIGHT, sluiceFlags: FLAGS } = benchSettings('')

let pgServer: PgServer | null = null
let redisServer: RedisServer | null = null
let stoppedPid: number | null = null
const WORK = workspace({
  prefix: 'sluice-bench-stall-',
  serverName: 'Postgres and Redis',
  stopServer: async () => {
    // A stopped redis-server cannot act on SIGTERM.
    if (stoppedPid !== null) process.kill(stoppedPid, 'SIGCONT')
    await Promise.all([pgServer?.stop().catch(() => {}), redisServer?.stop().catch(() => {})])
    pgServer = null
    redisServer = null
  },
  signals: ['SIGINT', 'SIGTERM'],
})

interface Sample {
  /** Seconds since the load started. */
  t: number
  phase: 'before' | 'stalled' | 'after'
  rssKb: number
  inFlightEvents: number
  inFlightBytes: number
  lagMs: number
  lagBytes: number
  retainedBytes: number
  slot: SlotView
}

const MiB = (b: number): string => `${fix(b / 2 ** 20, 1)} MiB`
const lsnText = (b: bigint | null): string =>
  b === null
    ? 'none'
    : `${(b >> 32n).toString(16).toUpperCase()}/${(b & 0xffffffffn).toString(16).toUpperCase()}`

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    [
      'STALL_SECONDS',
      'STALL_RATE',
      'STALL_WARMUP_SECONDS',
      'BENCH_IN_FLIGHT',
      'BENCH_SLUICE',
      'BENCH_SLUICE_FLAGS',
    ],
    'npm run bench:stall',
  )
  say(`stalled-sink bench: ${command}\n${info.date}, commit ${info.commit}, node ${info.node}`)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, FLAGS, notes)

  pgServer = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  redisServer = await startRedis()
  const c = new pg.Client({ connectionString: pgServer.url })
  await c.connect()
  const wsTimeout = (await c.query<{ v: string }>("SELECT current_setting('wal_sender_timeout') AS v"))
    .rows[0]!.v
  await c.query(createTableSql('stall'))
  await c.query('CREATE PUBLICATION stall_pub FOR TABLE stall')

  const adminPort = await freePort()
  const dir = runDir(WORK.dir, 'stall')
  const yaml = writeRedisPipelineYaml({
    url: pgServer.url,
    table: 'public.stall',
    slot: SLOT,
    publication: 'stall_pub',
    snapshot: 'never',
    dir,
    redisUrl: redisServer.url,
    adminPort,
    maxInFlightEvents: IN_FLIGHT,
  })
  const { m, log, exited } = await startStreaming({
    launcher,
    yaml,
    dir,
    flags: FLAGS,
    client: c,
    slot: SLOT,
    adminPort,
  })
  say(`sluice streaming (pid ${m.pid}); load ${int(RATE)} changes/s; admin port ${adminPort}`)

  const loadConn = new pg.Client({ connectionString: pgServer.url })
  await loadConn.connect()
  const load = startLoad(loadConn, 'stall', RATE, { updateShare: 0.2, txRows: 200 })
  const t0 = Date.now()
  const samples: Sample[] = []
  let phase: Sample['phase'] = 'before'
  let sampling = true
  const sampler = (async () => {
    let next = Date.now()
    while (sampling) {
      const proc = sampleProc(m.pid)
      const [met, slot] = await Promise.all([
        scrapeMetrics(adminPort, PIPELINE).catch(() => new Map<string, number>()),
        slotView(c, SLOT),
      ])
      const s: Sample = {
        t: (Date.now() - t0) / 1000,
        phase,
        rssKb: proc?.rssKb ?? NaN,
        inFlightEvents: met.get('sluice_in_flight_events') ?? NaN,
        inFlightBytes: met.get('sluice_in_flight_bytes') ?? NaN,
        lagMs: met.get('sluice_source_lag_milliseconds') ?? NaN,
        lagBytes: met.get('sluice_source_lag_bytes') ?? NaN,
        retainedBytes: met.get('sluice_postgres_retained_wal_bytes') ?? slot.retainedBytes ?? NaN,
        slot,
      }
      samples.push(s)
      say(
        `  ${fix(s.t, 0)} s ${s.phase}: RSS ${fix(s.rssKb / 1024, 1)} MiB, in flight ${int(s.inFlightEvents)} events / ${MiB(s.inFlightBytes)}, ` +
          `confirmed ${lsnText(slot.confirmed)}, walsender ${slot.pid ?? 'none'} (last reply ${slot.replyTime?.toISOString().slice(11, 19) ?? '-'}), retained WAL ${MiB(s.retainedBytes)}`,
      )
      next += SAMPLE_MS
      await sleep(Math.max(0, next - Date.now()))
    }
  })()

  await sleep(WARMUP_S * 1000)
  if (exited()) throw new Error(`sluice exited during the warm-up; log:\n${tail(log)}`)
  const stallLsn = (await slotView(c, SLOT)).current
  const rowsAtStall = load.inserted
  process.kill(redisServer.pid, 'SIGSTOP')
  stoppedPid = redisServer.pid
  phase = 'stalled'
  const stallT = (Date.now() - t0) / 1000
  say(
    `redis-server stopped (SIGSTOP) at ${fix(stallT, 0)} s; WAL position ${lsnText(stallLsn)}; ${int(rowsAtStall)} rows inserted`,
  )
  await sleep(STALL_S * 1000)
  process.kill(redisServer.pid, 'SIGCONT')
  stoppedPid = null
  phase = 'after'
  const contT = (Date.now() - t0) / 1000
  say(`redis-server continued (SIGCONT) at ${fix(contT, 0)} s`)
  await sleep(AFTER_S * 1000)
  const loadRate = load.achieved()
  const endLsn = lsnBytes(await load.stop())
  const loadEndT = (Date.now() - t0) / 1000
  say(
    `load stopped at ${fix(loadEndT, 0)} s: ${int(load.inserted)} rows inserted, ${int(load.updated)} updated (${int(loadRate)} changes/s)`,
  )

  // Caught up: every row key is in Redis and the slot is confirmed to the end of the load.
  const redis = new Redis(redisServer.url, { lazyConnect: true, maxRetriesPerRequest: 3 })
  await redis.connect()
  let caughtUpT: number
  for (let i = 0; ; i++) {
    const [keys, slot] = await Promise.all([countKeys(redis, 'public.stall:*'), slotView(c, SLOT)])
    if (keys === load.inserted && slot.confirmed !== null && slot.confirmed >= endLsn) {
      caughtUpT = (Date.now() - t0) / 1000
      break
    }
    if (exited()) throw new Error(`sluice exited before catching up; log:\n${tail(log)}`)
    if (i > 1200)
      throw new Error(`sluice did not catch up within 10 minutes (${keys} of ${load.inserted} keys)`)
    await sleep(500)
  }
  sampling = false
  await sampler
  say(`caught up at ${fix(caughtUpT, 0)} s`)
  const verifyArgs = launcher.args(yaml, FLAGS).map((a) => (a === 'run' ? 'verify' : a))
  const verify = spawnSync(process.execPath, [...verifyArgs, PIPELINE, '--recheck-ms', '2000'], {
    cwd: launcher.cwd,
    encoding: 'utf8',
  })
  say(
    `sluice verify: exit ${verify.status}\n${verify.stdout.trim()}${verify.stderr ? `\n${verify.stderr.trim()}` : ''}`,
  )
  const rows = Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM stall')).rows[0]!.n)
  const stop = await terminate(m)
  redis.disconnect()
  await loadConn.end()
  await c.end()

  // The stall window: from the first sample 5 s after SIGSTOP to the last before SIGCONT.
  const stalled = samples.filter((s) => s.phase === 'stalled' && s.t >= stallT + 5)
  if (stalled.length < 2) throw new Error('too few samples during the stall')
  const rss = stalled.map((s) => s.rssKb)
  const first = rss[0]!
  const last = rss[rss.length - 1]!
  const flat = last <= first * 1.1
  const confirmedMax = stalled.reduce<bigint>(
    (a, s) => (s.slot.confirmed !== null && s.slot.confirmed > a ? s.slot.confirmed : a),
    0n,
  )
  const confirmedMin = stalled.reduce<bigint>(
    (a, s) => (s.slot.confirmed !== null && s.slot.confirmed < a ? s.slot.confirmed : a),
    confirmedMax,
  )
  const noAckPast = confirmedMax <= stallLsn
  const pids = new Set(samples.map((s) => s.slot.pid))
  const sameWalsender = pids.size === 1 && !pids.has(null)
  // Seconds between a sample and the last status message the walsender had received then.
  const replyAge = stalled.map((s) => (t0 + s.t * 1000 - (s.slot.replyTime?.getTime() ?? NaN)) / 1000)
  const maxReplyAge = Math.max(...replyAge)
  const keptAlive = sameWalsender && Number.isFinite(maxReplyAge) && maxReplyAge < 30
  const inSync = verify.status === 0
  const ev = stalled.map((s) => s.inFlightEvents)
  const by = stalled.map((s) => s.inFlightBytes)
  const retained = stalled.map((s) => s.retainedBytes)
  const met = (ok: boolean): string => (ok ? 'met' : '**not met**')

  const lines: string[] = []
  lines.push(sectionHead(info, 'Stalled sink (Postgres → Redis cache, redis-server stopped)'))
  lines.push('')
  lines.push(`- Command: \`${command}\``)
  lines.push(machineLine(info, `${info.postgres}; redis-server (--save '' --appendonly no)`))
  lines.push(
    sluiceLine(
      launcher,
      FLAGS,
      `one pipeline, Postgres (\`snapshot: never\`) → redis sink \`mode: cache\`${IN_FLIGHT ? `, \`max_in_flight_events: ${IN_FLIGHT}\`` : ' with the default in-flight caps'}; admin API on loopback`,
    ),
  )
  lines.push(
    `- Load: ${int(RATE)} changes/s asked (${int(loadRate)} achieved; 80 % inserts in transactions of ≤ 200 rows, 20 % updates of earlier rows, every 100 ms) for ${WARMUP_S} s, then redis-server got SIGSTOP for ${STALL_S} s (load continuing), SIGCONT, ${AFTER_S} s more load, then none until Sluice caught up. Samples every ${SAMPLE_MS / 1000} s; wal_sender_timeout ${wsTimeout}`,
  )
  lines.push(
    ...subsection(
      `During the ${STALL_S} s stall (${stalled.length} samples, from 5 s after SIGSTOP)`,
      table(
        ['measure', 'first', 'last', 'min', 'max'],
        [
          [
            'Sluice RSS',
            ...[first, last, Math.min(...rss), Math.max(...rss)].map((k) => `${fix(k / 1024, 1)} MiB`),
          ],
          ['in-flight events', ...[ev[0]!, ev[ev.length - 1]!, Math.min(...ev), Math.max(...ev)].map(int)],
          ['in-flight bytes', ...[by[0]!, by[by.length - 1]!, Math.min(...by), Math.max(...by)].map(MiB)],
          [
            'retained WAL',
            ...[
              retained[0]!,
              retained[retained.length - 1]!,
              Math.min(...retained),
              Math.max(...retained),
            ].map(MiB),
          ],
          [
            'slot confirmed_flush_lsn',
            lsnText(stalled[0]!.slot.confirmed),
            lsnText(stalled[stalled.length - 1]!.slot.confirmed),
            lsnText(confirmedMin),
            lsnText(confirmedMax),
          ],
          [
            'seconds since the walsender last heard from Sluice',
            ...[replyAge[0]!, replyAge[replyAge.length - 1]!, Math.min(...replyAge), maxReplyAge].map((x) =>
              fix(x, 1),
            ),
          ],
        ],
      ),
      [
        `- RSS flat (last ≤ first + 10 %): ${met(flat)} — ${fix(first / 1024, 1)} → ${fix(last / 1024, 1)} MiB (${fix(((last - first) / first) * 100, 1)} %), p50 ${fix(percentile(rss, 50) / 1024, 1)} MiB.`,
        `- Nothing acknowledged past what was delivered: ${met(noAckPast)} — confirmed_flush_lsn stayed at or before ${lsnText(stallLsn)} (the WAL position when the stall began) through the stall; it moved ${confirmedMax === confirmedMin ? 'not at all' : `from ${lsnText(confirmedMin)} to ${lsnText(confirmedMax)}`}.`,
        `- Connection kept alive: ${met(keptAlive)} — walsender pid${pids.size === 1 ? '' : 's'} ${[...pids].join(', ')} for the whole run; its last status message from Sluice was never more than ${fix(maxReplyAge, 1)} s old (wal_sender_timeout ${wsTimeout}).`,
        `- After SIGCONT: caught up ${fix(caughtUpT - contT, 0)} s after SIGCONT (${fix(caughtUpT - loadEndT, 0)} s after the load stopped); ${int(rows)} rows in the table; \`sluice verify\` exit ${verify.status}: ${met(inSync)} (${verify.stdout.trim().split('\n').slice(-1)[0] ?? ''}).`,
        `- Sluice stopped with ${stop.code ?? stop.signal}${stop.killed ? ' (SIGKILL)' : ''}.`,
      ].join('\n'),
    ),
  )
  const every = Math.max(1, Math.round(30_000 / SAMPLE_MS))
  lines.push(
    ...subsection(
      'Samples (every 30 s)',
      table(
        [
          't s',
          'phase',
          'RSS MiB',
          'in-flight events',
          'in-flight bytes',
          'lag ms',
          'confirmed_flush_lsn',
          'walsender',
          'retained WAL',
        ],
        samples
          .filter((_, i) => i % every === 0 || i === samples.length - 1)
          .map((s) => [
            fix(s.t, 0),
            s.phase,
            fix(s.rssKb / 1024, 1),
            int(s.inFlightEvents),
            MiB(s.inFlightBytes),
            int(s.lagMs),
            lsnText(s.slot.confirmed),
            String(s.slot.pid ?? 'none'),
            MiB(s.retainedBytes),
          ]),
      ),
    ),
  )
  finishSection(lines, notes, REPO)
  if (!flat || !noAckPast || !keptAlive || !inSync) process.exitCode = 1
}

runMain(main, WORK.cleanup)
