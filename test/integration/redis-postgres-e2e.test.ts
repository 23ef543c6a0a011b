/**
 * Postgres → Redis cache through the real pipeline (in-process runner, real Postgres with
 * logical replication, real redis-server): after a snapshot and a stream of inserts,
 * updates, deletes, primary-key changes, large values and a truncate, the cache holds
 * exactly the table. Expected values are rendered here from SQL text (independently of
 * sinks/document.ts) and compared with every key in Redis.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { cacheDiff, VERSION_PREFIX } from './helpers/redis-cache.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'

let pg: PgServer
let server: RedisServer
let redis: Redis

before(async () => {
  ;[pg, server] = await Promise.all([startPostgres(), startRedis()])
  redis = new Redis(server.url)
  await pg.sql('CREATE DATABASE shop')
})
after(async () => {
  redis?.disconnect()
  await Promise.all([pg?.stop(), server?.stop()])
})

function yaml(dir: string, tables: string[], sinkExtra = ''): string {
  return `
pipelines:
  - name: pgcache
    source:
      type: postgres
      url: ${pg.urlFor('shop')}
      tables: [${tables.join(', ')}]
    sinks:
      - type: redis
        url: ${server.url}
        mode: cache
${sinkExtra}
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

/** `items` rows as the cache must hold them: key → JSON, rendered from SQL text here. */
async function expectedItems(): Promise<Map<string, string>> {
  const rows = await pg.sql<{
    id: number
    name: string | null
    price: string | null
    born: string | null
    at: string | null
    ok: boolean | null
    data: string | null
    big: string | null
  }>(
    `SELECT id, name, price::text AS price, to_char(born, 'YYYY-MM-DD') AS born,
            CASE WHEN date_part('microseconds', at)::int % 1000000 = 0
                 THEN to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS')
                 ELSE to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS.US') END AS at,
            ok, encode(data, 'base64') AS data, big
       FROM items`,
    [],
    'shop',
  )
  const out = new Map<string, string>()
  for (const r of rows) {
    const doc = {
      id: r.id,
      name: r.name,
      price: r.price,
      born: r.born,
      at: r.at,
      ok: r.ok,
      data: r.data === null ? null : r.data.replace(/\n/g, ''),
      big: r.big,
    }
    out.set(`public.items:${r.id}`, JSON.stringify(doc))
  }
  return out
}

/** `pairs` rows (composite key `(a, b)`): key → JSON. */
async function expectedPairs(): Promise<Map<string, string>> {
  const rows = await pg.sql<{ a: number; b: string; v: number | null }>(
    'SELECT a, b, v FROM pairs',
    [],
    'shop',
  )
  const esc = (s: string): string => s.replace(/[\\:]/g, (m) => `\\${m}`)
  return new Map(
    rows.map((r) => [`public.pairs:${r.a}:${esc(r.b)}`, JSON.stringify({ a: r.a, b: r.b, v: r.v })]),
  )
}

async function expectedAll(): Promise<Map<string, string>> {
  return new Map([...(await expectedItems()), ...(await expectedPairs())])
}

/** Waits until the cache equals the tables; fails with a sample of the differences. */
async function converged(what: string, timeoutMs = 60_000): Promise<void> {
  let last = { count: -1, sample: [] as string[] }
  try {
    await waitFor(
      async () => {
        last = await cacheDiff(redis, await expectedAll())
        return last.count === 0
      },
      timeoutMs,
      what,
    )
  } catch (err) {
    assert.fail(`${(err as Error).message}: ${last.count} differences: ${last.sample.join('; ')}`)
  }
}

describe('postgres to redis cache', () => {
  test('snapshot, inserts, updates, deletes, key changes, large values and truncate: the cache equals the tables', async () => {
    await redis.flushall()
    await pg.sql(
      `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), born date,
                           at timestamp, ok boolean, data bytea, big text);
       CREATE TABLE pairs (a int, b text, v int, PRIMARY KEY (a, b));
       INSERT INTO items SELECT g, 'item ' || g, g * 1.25, DATE '2020-01-01' + g,
                                TIMESTAMP '2024-05-06 07:08:09' + g * interval '1.5 second',
                                g % 2 = 0, decode(md5(g::text), 'hex'), NULL
                           FROM generate_series(1, 300) g;
       INSERT INTO pairs SELECT g, 'k:' || g, g FROM generate_series(1, 20) g;`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(yaml(t.dir, ['public.items', 'public.pairs']), t.dir)
    try {
      await converged('the snapshot in the cache')
      await pg.sql(
        `BEGIN;
         INSERT INTO items VALUES (1001, 'new', 9.99, '1999-12-31', '2000-01-01 00:00:00.000001', NULL, '\\x00ff', 'x');
         UPDATE items SET name = NULL, price = NULL, born = NULL, at = NULL, ok = NULL, data = NULL WHERE id = 1;
         DELETE FROM items WHERE id BETWEEN 10 AND 19;
         COMMIT;
         UPDATE items SET id = id + 5000 WHERE id BETWEEN 20 AND 24;
         UPDATE items SET big = repeat('large-', 400000) WHERE id = 30;
         UPDATE pairs SET b = 'moved' WHERE a = 3;
         TRUNCATE pairs;
         INSERT INTO pairs VALUES (1, 'after\\truncate', 1), (2, 'x', NULL);
         INSERT INTO items SELECT g, 'bulk', 1, NULL, NULL, true, NULL, NULL FROM generate_series(2001, 2500) g;
         UPDATE items SET price = price + 1 WHERE id % 7 = 0;
         DELETE FROM items WHERE id BETWEEN 2100 AND 2199;`,
        [],
        'shop',
      )
      await converged('the stream in the cache')
      assert.equal(await redis.exists('public.items:20'), 0, 'the old key of a key change is gone')
      assert.equal(JSON.parse((await redis.get('public.items:5020'))!).name, 'item 20')
      assert.equal(
        (await redis.strlen('public.items:30')) > 2_400_000,
        true,
        'the large value is stored whole',
      )
      // Deleted rows and truncated rows leave tombstones (version keys with a TTL).
      assert.ok((await redis.pttl(`${VERSION_PREFIX}public.items:10`)) > 0)
      assert.ok((await redis.pttl(`${VERSION_PREFIX}public.pairs:5:k\\:5`)) > 0)
      assert.equal(await redis.pttl(`${VERSION_PREFIX}public.items:2001`), -1, 'live versions do not expire')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })
})
