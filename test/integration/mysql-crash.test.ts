/**
 * Crash test for the MySQL/MariaDB source: the real `sluice run` process is SIGKILLed at
 * random moments (seeded; set SLUICE_CRASH_SEED to replay a run) during the snapshot,
 * around the snapshot/stream handoff and mid-stream, while concurrent writers change the
 * table, and restarted each time. Then the output files must replay to exactly the source
 * table, committed positions must never go backwards, positions must increase within each
 * run's files, and re-delivered events must carry their original positions and content.
 * The harness is helpers/crash.ts; this file holds what is MySQL's own.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { exitWithin, spawnCli, type CliProcess } from './helpers/cli.js'
import { crashTimeoutMs, killCycles, readStatePosition, runCrashScenario, sleep } from './helpers/crash.js'
import { snapshotFinished, snapshotIdOf, sortKey, startMysqlLoad } from './helpers/mysql.js'
import { tempDir } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

const SNAPSHOT_ROWS = 300_000
/** About what the snapshot writes (measured: ~205 bytes per Avro envelope of this table). */
const SNAPSHOT_BYTES = SNAPSHOT_ROWS * 200
const SERIES = 'shop.counters'
const PIPELINE = 'crash'

let server: MariaServer

before(async () => {
  server = await startMariadb()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    'CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL) ENGINE=InnoDB',
    [],
    'shop',
  )
  await server.sql(
    `INSERT INTO counters SELECT seq, 0, CONCAT('seed-', seq) FROM seq_1_to_${SNAPSHOT_ROWS}`,
    [],
    'shop',
  )
  await server.sql('ANALYZE TABLE counters', [], 'shop')
})
after(async () => {
  await server?.stop()
})

test(
  'mysql: kill -9 under write load: at-least-once, exact replay, no position regressions',
  { timeout: crashTimeoutMs(killCycles()) },
  (t) =>
    runCrashScenario(t, {
      label: 'mysql-crash',
      pipeline: PIPELINE,
      series: SERIES,
      table: 'counters',
      snapshotBytes: SNAPSHOT_BYTES,
      progressPollMs: 5,
      source: `type: mysql
url: ${server.urlFor('shop')}
tables: [${SERIES}]
server_id: 5701
heartbeat_interval_ms: 1000`,
      sortKey,
      snapshotIdOf,
      snapshotFinished,
      // One log line both starts the snapshot and its table copy.
      snapshotLog: { starting: 'snapshot started', tableStarted: 'snapshot started' },
      startWriter: (seed) => {
        const writer = startMysqlLoad({
          url: server.urlFor('shop'),
          table: 'counters',
          writers: 2,
          seed,
          maxId: SNAPSHOT_ROWS,
          firstNewId: SNAPSHOT_ROWS + 1,
          mixed: true,
          pauseMs: 2,
        })
        return {
          async stop() {
            const stats = await writer.stop()
            return `${stats.txs} writer transactions (${stats.rollbacks} rolled back, ${stats.conflicts} conflicts)`
          },
        }
      },
      sql: (text) => server.sql(text, [], 'shop'),
    }),
)

test('SIGTERM exits 0 within 10 s while the binlog stream is idle', { timeout: 60_000 }, async () => {
  await server.sql('CREATE TABLE idle (id INT PRIMARY KEY)', [], 'shop')
  const tmp = tempDir()
  const configFile = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    configFile,
    `pipelines:
  - name: idle
    source:
      type: mysql
      url: ${server.urlFor('shop')}
      tables: [shop.idle]
      server_id: 5702
      heartbeat_interval_ms: 1000
    sinks:
      - type: file
        path: ${join(tmp.dir, 'out')}
state:
  type: file
  path: ${join(tmp.dir, 'state')}
log:
  level: info
`,
  )
  // A fresh start (snapshot, then streaming) and a resumed run, each stopped while idle.
  let child: CliProcess | null = null
  try {
    for (const run of ['fresh', 'resumed']) {
      child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
      await child.waitForOutput('streaming started', 60_000)
      await sleep(1500)
      child.kill('SIGTERM')
      const exit = await exitWithin(child, 12_000)
      assert.equal(
        exit.code,
        0,
        `${run}: exit code ${exit.code} after ${exit.elapsedMs} ms:\n${child.stderr().slice(-2000)}`,
      )
      assert.ok(exit.elapsedMs < 10_000, `${run}: exited after ${exit.elapsedMs} ms`)
      if (run === 'fresh')
        assert.ok(readStatePosition(join(tmp.dir, 'state'), 'idle'), 'the snapshot end is recorded')
    }
  } finally {
    child?.kill('SIGKILL')
    if (child) await exitWithin(child, 10_000).catch(() => undefined)
    tmp.cleanup()
  }
})
