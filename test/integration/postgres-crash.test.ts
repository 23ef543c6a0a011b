/**
 * Crash test: the real `sluice run` process is SIGKILLed at random moments (seeded; SLUICE_KILL_CYCLES
 * kills, default 20; set SLUICE_KILL_SEED to replay a run) during the snapshot, around the snapshot/stream
 * handoff and mid-stream, while a writer changes the table, and restarted each time.
 * Then the output files must replay to exactly the source table, committed positions
 * must never go backwards, and re-delivered events must carry their original positions.
 * The harness is helpers/crash.ts; this file holds what is Postgres's own.
 */
import { after, before, test } from 'node:test'
import pg from 'pg'
import { crashTimeoutMs, killCycles, runCrashScenario, sleep } from './helpers/crash.js'
import { waitFor } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

const SNAPSHOT_ROWS = 300_000
/** About what the snapshot writes (measured: ~178 bytes per Avro envelope of this table). */
const SNAPSHOT_BYTES = SNAPSHOT_ROWS * 170
const SERIES = 'public.counters'
const PIPELINE = 'crash'

let server: PgServer

before(async () => {
  server = await startPostgres()
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    // REPLICA IDENTITY FULL: the file sink writes no key, and under DEFAULT a delete's
    // `before` is null, so deletes could not be replayed from the files at all.
    `CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);
     ALTER TABLE counters REPLICA IDENTITY FULL;
     INSERT INTO counters SELECT g, 0, 'seed-' || g FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
     ANALYZE counters;`,
    [],
    'shop',
  )
})
after(async () => {
  await server?.stop()
})

/**
 * The write load: small transactions of inserts, updates (v = v + 1) and deletes, some
 * multi-statement and multi-row transactions, and some rolled back. Runs until stop().
 */
function startWriter(url: string, rand: () => number): { stop(): Promise<{ txs: number }> } {
  let running = true
  let txs = 0
  let nextId = SNAPSHOT_ROWS + 1
  const someId = (): number => 1 + Math.floor(rand() * (nextId - 1))
  const client = new pg.Client({ connectionString: url })
  const one = async (): Promise<void> => {
    const r = rand()
    if (r < 0.4) await client.query('UPDATE counters SET v = v + 1 WHERE id = $1', [someId()])
    else if (r < 0.7) {
      const id = nextId++
      await client.query(`INSERT INTO counters VALUES ($1, 0, $2)`, [id, `w${id}`])
    } else await client.query('DELETE FROM counters WHERE id = $1', [someId()])
  }
  const loop = (async () => {
    await client.connect()
    while (running) {
      const r = rand()
      if (r < 0.75) {
        await one()
      } else if (r < 0.85) {
        await client.query('BEGIN')
        for (let i = 0, n = 2 + Math.floor(rand() * 5); i < n; i++) await one()
        await client.query(rand() < 0.2 ? 'ROLLBACK' : 'COMMIT')
      } else if (r < 0.92) {
        const from = someId()
        await client.query('UPDATE counters SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 30', [from])
      } else if (r < 0.97) {
        const first = nextId
        nextId += 50
        await client.query(
          `INSERT INTO counters SELECT g, 0, 'm' || g FROM generate_series($1::int, $2::int) g`,
          [first, nextId - 1],
        )
      } else {
        const from = someId()
        await client.query('DELETE FROM counters WHERE id BETWEEN $1 AND $1 + 10', [from])
      }
      txs++
      await sleep(2)
    }
  })()
  loop.catch(() => undefined) // reported by stop()
  let ended = false
  return {
    async stop() {
      running = false
      try {
        await loop
      } finally {
        if (!ended) {
          ended = true
          await client.end()
        }
      }
      return { txs }
    },
  }
}

/**
 * Whether a committed position `<lsn, 16 hex>.<phase>.<index, 12 digits>` says the snapshot
 * finished: streaming (phase 1) or the snapshot's END index. Parsed here independently of
 * connectors/postgres/position.ts; anything else throws.
 */
function snapshotFinished(pos: string | null): boolean {
  if (pos === null) return false
  const m = /^[0-9A-F]{16}\.([01])\.(\d{12})$/.exec(pos)
  if (!m) throw new Error(`not a postgres position: ${pos}`)
  return m[1] === '1' || m[2] === '999999999999'
}

test(
  'kill -9 under write load: at-least-once, exact replay, no position regressions',
  { timeout: crashTimeoutMs(killCycles()) },
  (t) =>
    runCrashScenario(t, {
      label: 'postgres-crash',
      pipeline: PIPELINE,
      series: SERIES,
      table: 'counters',
      snapshotBytes: SNAPSHOT_BYTES,
      progressPollMs: 10,
      source: `type: postgres
url: ${server.urlFor('shop')}
tables: [${SERIES}]
status_interval_ms: 1000`,
      // Postgres positions sort as they are.
      sortKey: (pos) => pos,
      /** The snapshot a position belongs to: its consistent point and phase (`<lsn>.0`). */
      snapshotIdOf: (pos) => pos.slice(0, 18),
      snapshotFinished,
      snapshotLog: { starting: 'snapshot starting', tableStarted: 'snapshot of table started' },
      // A killed walsender may linger a moment; a real supervisor would retry, we wait.
      beforeRun: async () => {
        await waitFor(
          async () =>
            (
              await server.sql(
                `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_${PIPELINE}' AND active_pid IS NOT NULL`,
                [],
                'shop',
              )
            ).length === 0,
          10_000,
          'the killed run to release the slot',
        )
      },
      startWriter: (_seed, rand) => {
        const writer = startWriter(server.urlFor('shop'), rand)
        return { stop: async () => `${(await writer.stop()).txs} writer transactions` }
      },
      sql: (text) => server.sql(text, [], 'shop'),
    }),
)
