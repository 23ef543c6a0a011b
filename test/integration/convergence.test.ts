/**
 * Convergence proof (issue #5), once per source: one pipeline with two sinks, a Redis cache
 * (real redis-server) and Elasticsearch (the in-test fake, through the real client), run as
 * the real `sluice run` process and SIGKILLed at seeded random moments (the first during the
 * initial snapshot of 50k rows) while a seeded workload of inserts, updates, deletes,
 * primary-key changes, 100-300 KB values and multi-row transactions runs. Afterwards
 * `sluice verify` and an independent comparison must both find the targets equal to the
 * table, and again after replaying from an older saved state. The scenario is
 * helpers/convergence.ts.
 *
 * SLUICE_CONVERGENCE_SEED replays a schedule and workload; SLUICE_CONVERGENCE_KILLS sets the
 * number of kills (default 4, at least 2).
 */
import { after, before, describe, test } from 'node:test'
import { runConvergenceScenario, mysqlConn, pgConn, type ConvergenceRow } from './helpers/convergence.js'
import { snapshotFinished } from './helpers/mysql.js'
import { waitFor } from './helpers/pipeline.js'
import { startSearchFake, type SearchFake } from './servers/elasticsearch-fake.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'

const SNAPSHOT_ROWS = 50_000
const KILLS = Number(process.env.SLUICE_CONVERGENCE_KILLS ?? 4)
const TIMEOUT_MS = 420_000

/** The seed of a test: SLUICE_CONVERGENCE_SEED, or a new one (printed). */
const newSeed = (): number =>
  Number(process.env.SLUICE_CONVERGENCE_SEED ?? Math.floor(Math.random() * 2 ** 32))

/** A Redis server and a search fake per test, so the two sources do not share targets. */
function targets(): { redis: () => RedisServer; es: () => SearchFake } {
  let redis: RedisServer | undefined
  let es: SearchFake | undefined
  before(async () => {
    ;[redis, es] = await Promise.all([startRedis(), startSearchFake({ flavor: 'elasticsearch' })])
  })
  after(async () => {
    await Promise.all([redis?.stop(), es?.stop()])
  })
  return { redis: () => redis!, es: () => es! }
}

describe('postgres → redis cache + elasticsearch', () => {
  const tg = targets()
  let server: PgServer
  before(async () => {
    server = await startPostgres()
    await server.sql('CREATE DATABASE shop')
    await server.sql(
      `CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL, body text);
       INSERT INTO counters
         SELECT g, 0, 'seed-' || g, CASE WHEN g % 1000 = 0 THEN repeat(md5(g::text), 3200) END
           FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
       ANALYZE counters;`,
      [],
      'shop',
    )
  })
  after(async () => {
    await server?.stop()
  })

  test(
    'kill -9 during snapshot and stream: both sinks converge, verify agrees, a replay regresses nothing',
    { timeout: TIMEOUT_MS },
    async (t) => {
      const seed = newSeed()
      t.diagnostic(`seed ${seed} (replay with SLUICE_CONVERGENCE_SEED=${seed}), ${KILLS} kills`)
      const pipeline = 'converge'
      await runConvergenceScenario(
        t,
        {
          pipeline,
          sourceYaml: `      type: postgres
      url: ${server.urlFor('shop')}
      tables: [public.counters]
      status_interval_ms: 1000`,
          redis: tg.redis(),
          es: tg.es(),
          keyPrefix: 'public.counters:',
          index: 'counters',
          table: 'counters',
          snapshotRows: SNAPSHOT_ROWS,
          snapshotStartedLog: 'snapshot of table started',
          // `<commit LSN>.<phase>.<index>`: phase 1 is streaming, index all nines a snapshot's end.
          snapshotFinished: (pos) => pos !== null && /^[0-9A-F]{16}\.(1\.\d{12}|0\.9{12})$/.test(pos),
          rows: () => server.sql<ConvergenceRow>('SELECT id, v, note, body FROM counters', [], 'shop'),
          connect: () => pgConn(server.urlFor('shop')),
          sql: (text) => server.sql(text, [], 'shop'),
          // A killed run's walsender keeps the slot for a moment.
          beforeRun: async () => {
            await waitFor(
              async () =>
                (
                  await server.sql(
                    `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_${pipeline}' AND active_pid IS NOT NULL`,
                    [],
                    'shop',
                  )
                ).length === 0,
              15_000,
              'the killed run to release the slot',
            )
          },
        },
        seed,
        KILLS,
      )
    },
  )
})

describe('mariadb → redis cache + elasticsearch', () => {
  const tg = targets()
  let server: MariaServer
  before(async () => {
    server = await startMariadb()
    await server.sql('CREATE DATABASE shop CHARACTER SET utf8mb4')
    await server.sql(
      `CREATE TABLE counters (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL, body MEDIUMTEXT)
         ENGINE=InnoDB`,
      [],
      'shop',
    )
    await server.sql(
      `INSERT INTO counters
         SELECT seq, 0, CONCAT('seed-', seq), IF(seq % 1000 = 0, REPEAT(MD5(seq), 3200), NULL)
           FROM seq_1_to_${SNAPSHOT_ROWS}`,
      [],
      'shop',
    )
    await server.sql('ANALYZE TABLE counters', [], 'shop')
  })
  after(async () => {
    await server?.stop()
  })

  test(
    'kill -9 during snapshot and stream: both sinks converge, verify agrees, a replay regresses nothing',
    { timeout: TIMEOUT_MS },
    async (t) => {
      const seed = newSeed()
      t.diagnostic(`seed ${seed} (replay with SLUICE_CONVERGENCE_SEED=${seed}), ${KILLS} kills`)
      await runConvergenceScenario(
        t,
        {
          pipeline: 'converge',
          sourceYaml: `      type: mysql
      url: ${server.urlFor('shop')}
      tables: [shop.counters]
      server_id: 5801
      heartbeat_interval_ms: 1000`,
          redis: tg.redis(),
          es: tg.es(),
          keyPrefix: 'shop.counters:',
          index: 'counters',
          table: 'counters',
          snapshotRows: SNAPSHOT_ROWS,
          snapshotStartedLog: 'snapshot started',
          snapshotFinished,
          rows: async () =>
            (
              (await server.sql('SELECT id, v, note, body FROM counters', [], 'shop')) as Record<
                string,
                unknown
              >[]
            ).map((r) => ({
              id: Number(r.id),
              v: Number(r.v),
              note: String(r.note),
              body: r.body === null ? null : String(r.body),
            })),
          connect: () => mysqlConn(server.urlFor('shop')),
          sql: (text) => server.sql(text, [], 'shop'),
        },
        seed,
        KILLS,
      )
    },
  )
})
