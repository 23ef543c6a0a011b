/**
 * Load held: the highest change rate the real `sluice run` CLI sustains for SOAK_MINUTES
 * (default 10), Postgres → file sink (Avro), with flat memory and bounded lag.
 *
 *   1. ramp: a paced writer (80 % inserts in transactions of ≤ 1,000 rows, 20 % updates,
 *      every 100 ms) steps through SOAK_RAMP changes/s, SOAK_STEP_SECONDS each; a step
 *      passes when the writer achieved ≥ 95 % of it and Sluice's lag (admin /metrics
 *      `sluice_source_lag_milliseconds`) stayed ≤ 3 s over the step's second half. The
 *      ramp stops at the first step that fails;
 *   2. soak: SOAK_MINUTES at the highest step that passed, sampling every 5 s Sluice's RSS,
 *      its lag in milliseconds and in WAL bytes (`sluice_source_lag_bytes`: WAL after the
 *      slot's confirmed_flush_lsn, which includes the 1 s commit interval) and its
 *      in-flight events;
 *   3. the load stops; once Sluice has caught up, the Avro files must hold every change.
 *
 * The writer, Postgres and Sluice share the machine: on 2 cores the rate found is that of
 * the whole system, which the report says.
 *
 *   npm run bench:soak
 *   SOAK_MINUTES=1 BENCH_RESULTS=0 npm run bench:soak        # quick check
 *   env: SOAK_MINUTES (10), SOAK_RAMP (5000,10000,20000,30000,40000,50000,60000,80000),
 *        SOAK_STEP_SECONDS (20), SOAK_RATE (skip the ramp: soak at this rate),
 *        BENCH_IN_FLIGHT, BENCH_SLUICE, BENCH_SLUICE_FLAGS, BENCH_KEEP, BENCH_RESULTS
 */
import pg from 'pg'
import { freePort, startPostgres, type PgServer } from '../test/integration/servers/postgres.js'
import { benchCommand, benchSettings, REPO, runMain, say, sleep, tail, workspace } from './lib/harness.js'
import { lsnBytes, percentile, scrapeMetrics, slotView, startLoad, startStreaming } from './lib/live.js'
import { machineInfo } from './lib/machine.js'
import { OcfCounter } from './lib/ocf-count.js'
import { sampleProc, terminate } from './lib/proc.js'
import { finishSection, machineLine, sectionHead, subsection } from './lib/report.js'
import { PIPELINE, prepareLauncher, runDir, sluiceLine, writePipelineYaml } from './lib/sluice.js'
import { fix, int, table } from './lib/stats.js'
import { createTableSql } from './lib/workload.js'

const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'
const MINUTES = Number(process.env.SOAK_MINUTES ?? 10)
const RAMP = (process.env.SOAK_RAMP ?? '5000,10000,20000,30000,40000,50000,60000,80000')
  .split(',')
  .map(Number)
const STEP_S = Number(process.env.SOAK_STEP_SECONDS ?? 20)
const FIXED_RATE = process.env.SOAK_RATE ? Number(process.env.SOAK_RATE) : null
const SAMPLE_MS = 5000
const LAG_OK_MS = 3000
const SLOT = 'soak_slot'
const { inFlight: IN_FLIGHT, sluiceFlags: FLAGS } = benchSettings('')

let server: PgServer | null = null
const WORK = workspace({
  prefix: 'sluice-bench-soak-',
  serverName: 'Postgres',
  stopServer: async () => {
    await server?.stop().catch(() => {})
    server = null
  },
  signals: ['SIGINT', 'SIGTERM'],
})

interface Sample {
  t: number
  rssKb: number
  lagMs: number
  lagBytes: number
  inFlightEvents: number
}

async function main(): Promise<void> {
  const info = machineInfo(REPO, PG_BIN)
  const command = benchCommand(
    [
      'SOAK_MINUTES',
      'SOAK_RAMP',
      'SOAK_STEP_SECONDS',
      'SOAK_RATE',
      'BENCH_IN_FLIGHT',
      'BENCH_SLUICE',
      'BENCH_SLUICE_FLAGS',
    ],
    'npm run bench:soak',
  )
  say(`soak bench: ${command}\n${info.date}, commit ${info.commit}, node ${info.node}`)
  const notes: string[] = []
  const launcher = prepareLauncher(WORK.dir, FLAGS, notes)

  server = await startPostgres({ autovacuum: 'off', max_wal_size: '8GB', checkpoint_timeout: '1h' })
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  await c.query(createTableSql('soak'))
  await c.query('CREATE PUBLICATION soak_pub FOR TABLE soak')
  const adminPort = await freePort()
  const dir = runDir(WORK.dir, 'soak')
  const yaml = writePipelineYaml({
    url: server.url,
    table: 'public.soak',
    slot: SLOT,
    publication: 'soak_pub',
    snapshot: 'never',
    dir,
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
  const sample = async (t0: number): Promise<Sample> => {
    const met = await scrapeMetrics(adminPort, PIPELINE)
    return {
      t: (Date.now() - t0) / 1000,
      rssKb: sampleProc(m.pid)?.rssKb ?? NaN,
      lagMs: met.get('sluice_source_lag_milliseconds') ?? NaN,
      lagBytes: met.get('sluice_source_lag_bytes') ?? NaN,
      inFlightEvents: met.get('sluice_in_flight_events') ?? NaN,
    }
  }
  const loadConn = new pg.Client({ connectionString: server.url })
  await loadConn.connect()
  const load = startLoad(loadConn, 'soak', FIXED_RATE ?? RAMP[0]!, { updateShare: 0.2 })

  // 1. Ramp.
  const steps: { rate: number; achieved: number; lagMaxMs: number; rssKb: number; ok: boolean }[] = []
  let rate = FIXED_RATE ?? 0
  if (FIXED_RATE === null) {
    say(`\n== ramp: ${RAMP.join(', ')} changes/s, ${STEP_S} s each ==`)
    for (const r of RAMP) {
      load.setRate(r)
      load.resetCount()
      await sleep((STEP_S / 2) * 1000)
      const t0 = Date.now()
      const lags: number[] = []
      let rssKb = 0
      while (Date.now() - t0 < (STEP_S / 2) * 1000) {
        const s = await sample(t0)
        lags.push(s.lagMs)
        rssKb = Math.max(rssKb, s.rssKb)
        await sleep(1000)
      }
      const achieved = load.achieved()
      const lagMaxMs = Math.max(...lags)
      const ok = achieved >= 0.95 * r && lagMaxMs <= LAG_OK_MS
      steps.push({ rate: r, achieved, lagMaxMs, rssKb, ok })
      say(
        `  ${int(r)} changes/s: achieved ${int(achieved)}, lag max ${int(lagMaxMs)} ms, RSS ${fix(rssKb / 1024, 1)} MiB: ${ok ? 'kept up' : 'not'}`,
      )
      if (exited()) throw new Error(`sluice exited during the ramp; log:\n${tail(log)}`)
      if (!ok) break
      rate = r
    }
    if (rate === 0) throw new Error(`sluice did not keep up with the first ramp step (${RAMP[0]} changes/s)`)
    // Let any lag of the failed step drain before the soak.
    load.setRate(rate)
    for (let i = 0; i < 120; i++) {
      if ((await sample(Date.now())).lagMs <= LAG_OK_MS) break
      await sleep(1000)
    }
  }

  // 2. Soak.
  say(`\n== soak: ${int(rate)} changes/s for ${MINUTES} min ==`)
  load.setRate(rate)
  load.resetCount()
  const before = { inserted: load.inserted, updated: load.updated }
  const t0 = Date.now()
  const samples: Sample[] = []
  let next = t0
  while (Date.now() - t0 < MINUTES * 60_000) {
    next += SAMPLE_MS
    await sleep(Math.max(0, next - Date.now()))
    const s = await sample(t0)
    samples.push(s)
    if (samples.length % 12 === 0)
      say(
        `  ${fix(s.t, 0)} s: RSS ${fix(s.rssKb / 1024, 1)} MiB, lag ${int(s.lagMs)} ms / ${fix(s.lagBytes / 2 ** 20, 1)} MiB WAL, in flight ${int(s.inFlightEvents)}, achieved ${int(load.achieved())} changes/s`,
      )
    if (exited()) throw new Error(`sluice exited during the soak; log:\n${tail(log)}`)
  }
  const achieved = load.achieved()
  const soakChanges = load.inserted - before.inserted + (load.updated - before.updated)
  const endLsn = lsnBytes(await load.stop())
  const total = load.inserted + load.updated

  // 3. Caught up: the slot is confirmed to the end of the load, the files hold every change.
  const counter = new OcfCounter(`${dir}/out`)
  const tEnd = Date.now()
  for (;;) {
    const v = await slotView(c, SLOT)
    if (v.confirmed !== null && v.confirmed >= endLsn && counter.count() >= total) break
    if (exited()) throw new Error(`sluice exited before catching up; log:\n${tail(log)}`)
    if (Date.now() - tEnd > 300_000)
      throw new Error(`sluice did not catch up within 5 minutes; log:\n${tail(log)}`)
    await sleep(500)
  }
  const catchUpS = (Date.now() - tEnd) / 1000
  const records = counter.count()
  const stop = await terminate(m)
  await loadConn.end()
  await c.end()

  const rss = samples.map((s) => s.rssKb)
  const lagMs = samples.map((s) => s.lagMs)
  const lagB = samples.map((s) => s.lagBytes)
  const perMin = Math.max(1, Math.round(60_000 / SAMPLE_MS))
  const firstMin = rss.slice(0, perMin)
  const lastMin = rss.slice(-perMin)
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
  const flat = Math.max(...lastMin) <= Math.max(...firstMin) * 1.1
  const bounded =
    Math.max(...lagMs) <= 10_000 && mean(lagMs.slice(-perMin)) <= mean(lagMs.slice(0, perMin)) * 2 + 1000
  const met = (ok: boolean): string => (ok ? 'met' : '**not met**')

  const lines: string[] = []
  lines.push(sectionHead(info, `Load held (soak, Postgres → file, ${MINUTES} min)`))
  lines.push('')
  lines.push(`- Command: \`${command}\``)
  lines.push(machineLine(info, info.postgres))
  lines.push(
    sluiceLine(
      launcher,
      FLAGS,
      `one pipeline, Postgres (\`snapshot: never\`) → file sink \`format: avro\`${IN_FLIGHT ? `, \`max_in_flight_events: ${IN_FLIGHT}\`` : ' with the default in-flight caps'}; admin API on loopback; samples every ${SAMPLE_MS / 1000} s from /metrics and /proc`,
    ),
  )
  lines.push(
    '- Load: a paced writer in the bench process (every 100 ms: 80 % inserts as INSERT ... SELECT in transactions of ≤ 1,000 rows, 20 % updates of earlier rows in one transaction), on the same 2 cores as Postgres and Sluice',
  )
  if (steps.length > 0)
    lines.push(
      ...subsection(
        `Ramp (${STEP_S} s per step; kept up = writer achieved ≥ 95 % and lag ≤ ${LAG_OK_MS / 1000} s over the step's second half)`,
        table(
          ['changes/s asked', 'achieved', 'lag max ms', 'RSS max', 'kept up'],
          steps.map((s) => [
            int(s.rate),
            int(s.achieved),
            int(s.lagMaxMs),
            `${fix(s.rssKb / 1024, 1)} MiB`,
            s.ok ? 'yes' : 'no',
          ]),
        ),
      ),
    )
  lines.push(
    ...subsection(
      `${MINUTES} minutes at ${int(rate)} changes/s`,
      table(
        [
          'rate asked',
          'achieved',
          'changes',
          'RSS first',
          'RSS last',
          'RSS max',
          'lag p50',
          'lag p99',
          'lag max',
          'WAL lag p50 / p99 / max',
        ],
        [
          [
            int(rate),
            int(achieved),
            int(soakChanges),
            `${fix(rss[0]! / 1024, 1)} MiB`,
            `${fix(rss[rss.length - 1]! / 1024, 1)} MiB`,
            `${fix(Math.max(...rss) / 1024, 1)} MiB`,
            `${int(percentile(lagMs, 50))} ms`,
            `${int(percentile(lagMs, 99))} ms`,
            `${int(Math.max(...lagMs))} ms`,
            [50, 99].map((p) => fix(percentile(lagB, p) / 2 ** 20, 1)).join(' / ') +
              ` / ${fix(Math.max(...lagB) / 2 ** 20, 1)} MiB`,
          ],
        ],
      ),
      [
        `- Memory flat (max of the last minute ≤ max of the first minute + 10 %): ${met(flat)} — ${fix(Math.max(...firstMin) / 1024, 1)} → ${fix(Math.max(...lastMin) / 1024, 1)} MiB.`,
        `- Lag bounded (max ≤ 10 s, last-minute mean ≤ 2 × first-minute mean + 1 s): ${met(bounded)} — ${int(mean(lagMs.slice(0, perMin)))} ms → ${int(mean(lagMs.slice(-perMin)))} ms. Lag = now − source timestamp (commit time) of the last delivered event, from /metrics.`,
        `- After the load stopped Sluice caught up in ${fix(catchUpS, 1)} s; the Avro files hold ${int(records)} records for ${int(total)} changes written (ramp + soak): ${met(records === total)}. Sluice stopped with ${stop.code ?? stop.signal}.`,
        `- RSS per minute (max): ${Array.from({ length: Math.ceil(rss.length / perMin) }, (_, i) => fix(Math.max(...rss.slice(i * perMin, (i + 1) * perMin)) / 1024, 0)).join(', ')} MiB.`,
      ].join('\n'),
    ),
  )
  finishSection(lines, notes, REPO)
  if (!flat || !bounded || records !== total) process.exitCode = 1
}

runMain(main, WORK.cleanup)
