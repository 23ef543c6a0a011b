/**
 * Crash convergence of the Redis cache: the real `sluice run` process (Postgres → Redis
 * cache) is SIGKILLed at seeded random moments (the first kill during the initial snapshot,
 * the rest mid-stream) while a writer inserts, updates and deletes rows, and restarted each
 * time. Afterwards the cache must equal the table exactly: every row under its key with its
 * current JSON, and no other keys besides the sink's documented version keys. A kill during
 * the snapshot makes the next run take a new snapshot, so rows the first one cached and the
 * writer deleted meanwhile must be swept.
 *
 * SLUICE_CRASH_SEED replays a schedule; SLUICE_REDIS_CRASH_KILLS sets the number of kills
 * (default 4).
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { Redis } from 'ioredis'
import pg from 'pg'
import { exitWithin, spawnCli, type CliProcess } from './helpers/cli.js'
import { prng, sleep } from './helpers/crash.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { cacheDiff } from './helpers/redis-cache.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'

const SNAPSHOT_ROWS = 60_000
const KILLS = Number(process.env.SLUICE_REDIS_CRASH_KILLS ?? 4)
const PIPELINE = 'rcrash'

let server: PgServer
let redisServer: RedisServer
let redis: Redis

before(async () => {
  ;[server, redisServer] = await Promise.all([startPostgres(), startRedis()])
  redis = new Redis(redisServer.url)
  await server.sql('CREATE DATABASE shop')
  await server.sql(
    `CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL, note text NOT NULL);
     INSERT INTO counters SELECT g, 0, 'seed-' || g FROM generate_series(1, ${SNAPSHOT_ROWS}) g;
     ANALYZE counters;`,
    [],
    'shop',
  )
})
after(async () => {
  redis?.disconnect()
  await Promise.all([server?.stop(), redisServer?.stop()])
})

/** Small transactions of inserts, updates, deletes (some multi-row, some rolled back, some moving keys). */
function startWriter(url: string, rand: () => number): { stop(): Promise<number> } {
  let running = true
  let txs = 0
  let nextId = SNAPSHOT_ROWS + 1
  const someId = (): number => 1 + Math.floor(rand() * (nextId - 1))
  const client = new pg.Client({ connectionString: url })
  const one = async (): Promise<void> => {
    const r = rand()
    if (r < 0.4) await client.query('UPDATE counters SET v = v + 1 WHERE id = $1', [someId()])
    else if (r < 0.65) {
      const id = nextId++
      await client.query('INSERT INTO counters VALUES ($1, 0, $2)', [id, `w${id}`])
    } else if (r < 0.9) await client.query('DELETE FROM counters WHERE id = $1', [someId()])
    else {
      // A primary-key change: the old key must disappear from the cache.
      const id = nextId++
      await client.query('UPDATE counters SET id = $2 WHERE id = $1', [someId(), id])
    }
  }
  const loop = (async () => {
    await client.connect()
    while (running) {
      const r = rand()
      if (r < 0.75) await one()
      else if (r < 0.85) {
        await client.query('BEGIN')
        for (let i = 0, n = 2 + Math.floor(rand() * 5); i < n; i++) await one()
        await client.query(rand() < 0.2 ? 'ROLLBACK' : 'COMMIT')
      } else if (r < 0.93) {
        await client.query('UPDATE counters SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 30', [someId()])
      } else {
        await client.query('DELETE FROM counters WHERE id BETWEEN $1 AND $1 + 10', [someId()])
      }
      txs++
      await sleep(2)
    }
  })()
  loop.catch(() => undefined) // reported by stop()
  return {
    async stop() {
      running = false
      try {
        await loop
      } finally {
        await client.end().catch(() => undefined)
      }
      return txs
    },
  }
}

async function expected(): Promise<Map<string, string>> {
  const rows = await server.sql<{ id: number; v: number; note: string }>(
    'SELECT id, v, note FROM counters',
    [],
    'shop',
  )
  return new Map(
    rows.map((r) => [`public.counters:${r.id}`, JSON.stringify({ id: r.id, v: r.v, note: r.note })]),
  )
}

test('kill -9 under write load: the redis cache converges to the table', { timeout: 300_000 }, async (t) => {
  const seed = Number(process.env.SLUICE_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 32))
  t.diagnostic(`seed ${seed} (replay with SLUICE_CRASH_SEED=${seed})`)
  const rand = prng(seed)
  const tmp = tempDir()
  const configFile = join(tmp.dir, 'sluice.yaml')
  writeFileSync(
    configFile,
    `pipelines:
  - name: ${PIPELINE}
    source:
      type: postgres
      url: ${server.urlFor('shop')}
      tables: [public.counters]
      status_interval_ms: 1000
    sinks:
      - type: redis
        url: ${redisServer.url}
        mode: cache
state:
  type: file
  path: ${join(tmp.dir, 'state')}
log:
  level: info
`,
  )
  const slotReleased = (): Promise<boolean> =>
    server
      .sql(
        `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_${PIPELINE}' AND active_pid IS NOT NULL`,
        [],
        'shop',
      )
      .then((r) => r.length === 0)
  const writer = startWriter(server.urlFor('shop'), rand)
  let child: CliProcess | null = null
  const where: string[] = []
  try {
    for (let k = 0; k < KILLS; k++) {
      await waitFor(slotReleased, 10_000, 'the killed run to release the slot')
      child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
      if (k === 0) {
        // Kill by the snapshot's progress, not by time (a quiet machine snapshots in about a
        // second): once 5-30 % of the rows are cached (each row is a key plus its version key).
        await child.waitForOutput('snapshot of table started', 60_000)
        const target = Math.floor(SNAPSHOT_ROWS * (0.05 + rand() * 0.25)) * 2
        await waitFor(
          async () => (await redis.dbsize()) >= target,
          60_000,
          `${target / 2} snapshot rows cached`,
        )
      } else {
        await child.waitForOutput('streaming started', 60_000)
        await sleep(300 + rand() * 2700)
      }
      const logged = child.stderr()
      child.kill('SIGKILL')
      const { signal } = await exitWithin(child, 10_000)
      assert.equal(signal, 'SIGKILL', `run ${k} was killed, not exited on its own:\n${logged.slice(-2000)}`)
      where.push(
        logged.includes('streaming started')
          ? 'stream'
          : logged.includes('snapshot done')
            ? 'handoff'
            : 'snapshot',
      )
    }
    const txs = await writer.stop()
    await server.sql(`INSERT INTO counters VALUES (-1, 0, 'sentinel')`, [], 'shop')
    await waitFor(slotReleased, 10_000, 'the killed run to release the slot')
    child = spawnCli(['run', '-c', configFile], { cwd: tmp.dir })
    await child.waitForOutput('streaming started', 120_000)
    const want = await expected()
    let diff = { count: -1, sample: [] as string[] }
    await waitFor(
      async () => {
        diff = await cacheDiff(redis, want)
        return diff.count === 0
      },
      60_000,
      'the cache to converge',
    ).catch(() => undefined)
    t.diagnostic(`${txs} writer transactions; kills in: ${where.join(', ')}; ${want.size} rows`)
    assert.deepEqual(diff.sample, [], `the cache differs from the table in ${diff.count} keys (seed ${seed})`)
    assert.ok(where.includes('snapshot'), `a kill landed in the snapshot (${where.join(', ')})`)
    child.kill('SIGTERM')
    const exit = await exitWithin(child, 10_000)
    assert.equal(exit.code, 0, `SIGTERM exits 0:\n${child.stderr().slice(-2000)}`)
  } finally {
    child?.kill('SIGKILL')
    if (child) await exitWithin(child, 10_000).catch(() => undefined)
    await writer.stop().catch(() => undefined)
    tmp.cleanup()
  }
})
