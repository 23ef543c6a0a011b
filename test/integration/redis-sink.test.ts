/**
 * The redis sink against a real redis-server (started per suite on a free port): cache
 * values, the version guard under replay, tombstones, key changes, truncate, the snapshot
 * sweep, hash values, TTLs, stream mode, script reloads, acknowledgement and errors.
 * Events are built here; the end-to-end suites drive the sink from real databases.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import pino from 'pino'
import { makePosition } from '../../connectors/postgres/position.js'
import { postgresSource } from '../../connectors/postgres/source-info.js'
import type { SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Op, Row } from '../../pipeline/event.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { SinkContext } from '../../pipeline/sink.js'
import { redisConfig } from '../../sinks/redis/config.js'
import { RedisSink, type RedisSinkDeps } from '../../sinks/redis/sink.js'
import { freePort } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'

const CTX: SinkContext = {
  pipeline: 'shop',
  log: pino({ level: process.env.SLUICE_TEST_LOG ?? 'silent' }),
  avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' },
}

const DATE = { type: 'int', 'connect.name': 'io.debezium.time.Date', 'connect.version': 1 }

function table(name: string, keyColumns: string[] = ['id']): TableSchema {
  return {
    connector: 'postgresql',
    db: 'shop',
    schema: 'public',
    table: name,
    version: 1,
    keyColumns,
    columns: [
      { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
      { name: 'name', sourceType: 'text', nullable: true, avro: 'string', fromText: String },
      { name: 'born', sourceType: 'date', nullable: true, avro: DATE, fromText: Number },
    ],
  }
}

const ITEMS = table('items')
const OTHER = table('other')

/** A streaming position: commit LSN `lsn`, index `i`. */
const pos = (lsn: number, i = 0, phase = '1'): string => makePosition(BigInt(lsn), phase, i)

function ev(op: Op, t: TableSchema, position: string, rows: { before?: Row; after?: Row }): ChangeEvent {
  const keyOf = (r: Row | undefined): Row | null =>
    r && t.keyColumns.length > 0 ? Object.fromEntries(t.keyColumns.map((c) => [c, r[c]])) : null
  return {
    op,
    table: t,
    key: op === 't' ? null : keyOf(rows.after ?? rows.before),
    before: rows.before ?? null,
    after: rows.after ?? null,
    position,
    source: postgresSource('shop', 'shop', t.schema, t.table, 1763712000000, 'false', 5, 8192, position),
    transaction: null,
    ts_ms: 1763712000001,
  }
}

const row = (id: number, name: string | null, born: number | null = null): Row => ({ id, name, born })
const batch = (events: ChangeEvent[], checkpoint?: string): ChangeBatch => ({
  events,
  checkpoint: checkpoint ?? events.at(-1)!.position,
  bytes: 100,
})

let server: RedisServer
let redis: Redis

before(async () => {
  server = await startRedis()
  redis = new Redis(server.url)
})
after(async () => {
  redis?.disconnect()
  await server?.stop()
})

async function openSink(cfg: Record<string, unknown> = {}, deps?: RedisSinkDeps): Promise<RedisSink> {
  const sink = new RedisSink(redisConfig.parse({ type: 'redis', url: server.url, ...cfg }), CTX, deps)
  await sink.open()
  return sink
}

/** Every key in the database with its value (strings as is, hashes as objects). */
async function dump(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {}
  for (const k of (await redis.keys('*')).sort()) {
    const type = await redis.type(k)
    out[k] = type === 'hash' ? await redis.hgetall(k) : type === 'string' ? await redis.get(k) : type
  }
  return out
}

describe('redis cache', () => {
  test('rows are JSON documents under the templated key; versions and the tables set are the only other keys', async () => {
    await redis.flushall()
    const sink = await openSink()
    assert.equal(sink.delivery, 'idempotent')
    await sink.write(
      batch([
        ev('c', ITEMS, pos(0x100, 0), { after: row(1, 'ann', 19000) }),
        ev('c', ITEMS, pos(0x100, 1), { after: row(2, null) }),
        ev('u', ITEMS, pos(0x200, 0), { before: row(1, 'ann', 19000), after: row(1, 'anne', 19001) }),
        ev('c', ITEMS, pos(0x200, 1), { after: row(3, 'cy') }),
        ev('d', ITEMS, pos(0x300, 0), { before: row(3, 'cy') }),
      ]),
    )
    await sink.close()
    assert.deepEqual(await dump(), {
      'public.items:1': '{"id":1,"name":"anne","born":"2022-01-09"}',
      'public.items:2': '{"id":2,"name":null,"born":null}',
      'sluice:v:#tables:shop': 'set',
      'sluice:v:public.items:1': pos(0x200, 0),
      'sluice:v:public.items:2': pos(0x100, 1),
      'sluice:v:public.items:3': pos(0x300, 0),
    })
    assert.deepEqual(await redis.smembers('sluice:v:#tables:shop'), ['public.items:*'])
    // A live row's version has no TTL; a tombstone expires after tombstone_ttl_ms (24 h).
    assert.equal(await redis.pttl('sluice:v:public.items:1'), -1)
    const tomb = await redis.pttl('sluice:v:public.items:3')
    assert.ok(tomb > 86_000_000 && tomb <= 86_400_000, `tombstone TTL ${tomb}`)
    assert.deepEqual(sink.stats, { applied: 5, ignored: 0, streamed: 0, swept: 0 })
  })

  test('replaying earlier batches changes nothing: stale writes are ignored, the same event rewrites the same value', async () => {
    await redis.flushall()
    const sink = await openSink()
    const b1 = batch([
      ev('c', ITEMS, pos(0x100, 0), { after: row(1, 'v1') }),
      ev('c', ITEMS, pos(0x100, 1), { after: row(2, 'v1') }),
    ])
    const b2 = batch([
      ev('u', ITEMS, pos(0x200, 0), { before: row(1, 'v1'), after: row(1, 'v2') }),
      ev('d', ITEMS, pos(0x200, 1), { before: row(2, 'v1') }),
    ])
    const b3 = batch([ev('u', ITEMS, pos(0x300, 0), { before: row(1, 'v2'), after: row(1, 'v3') })])
    await sink.write(b1)
    await sink.write(b2)
    await sink.write(b3)
    const final = await dump()
    // Re-deliver from the start, and again only the middle, pipelined without waiting.
    await Promise.all([sink.write(b1), sink.write(b2), sink.write(b3), sink.write(b2)])
    assert.deepEqual(await dump(), final)
    assert.equal(final['public.items:1'], '{"id":1,"name":"v3","born":null}')
    assert.equal(
      final['public.items:2'],
      undefined,
      'the deleted row is not resurrected by its replayed insert',
    )
    // Replayed: b1 (both older: ignored), b2 (update older: ignored; delete at the stored
    // version: re-applied), b3 (same version: re-applied), b2 again (as before).
    assert.equal(sink.stats.ignored, 2 + 1 + 0 + 1)
    assert.equal(sink.stats.applied, 5 + 1 + 1 + 1)
    await sink.close()
  })

  test('a key change given as an update with the old key in before removes the old key', async () => {
    await redis.flushall()
    const sink = await openSink()
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
    await sink.write(batch([ev('u', ITEMS, pos(0x200), { before: row(1, 'a'), after: row(10, 'a') })]))
    // Replaying the original insert must not bring key 1 back (its tombstone is newer).
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
    await sink.close()
    const d = await dump()
    assert.equal(d['public.items:1'], undefined)
    assert.equal(d['public.items:10'], '{"id":10,"name":"a","born":null}')
    assert.equal(d['sluice:v:public.items:1'], pos(0x200))
  })

  test('composite keys, escaping, and a custom template with ${prefix} and ${db}', async () => {
    await redis.flushall()
    const t: TableSchema = { ...table('pairs', ['id', 'name']) }
    const sink = await openSink({ key: 'c:${prefix}:${db}.${table}:${key}' })
    await sink.write(batch([ev('c', t, pos(0x100), { after: row(7, 'x:y\\z') })]))
    await sink.close()
    assert.equal(await redis.get('c:shop:shop.pairs:7:x\\:y\\\\z'), '{"id":7,"name":"x:y\\\\z","born":null}')
  })

  test('truncate deletes every row of the table (not of others) and leaves tombstones', async () => {
    await redis.flushall()
    const sink = await openSink()
    const rows = Array.from({ length: 2500 }, (_, i) =>
      ev('c', ITEMS, pos(0x100, i), { after: row(i, `r${i}`) }),
    )
    await sink.write(batch(rows))
    await sink.write(batch([ev('c', OTHER, pos(0x180), { after: row(1, 'keep') })]))
    const w = sink.write(
      batch([
        ev('c', ITEMS, pos(0x200, 0), { after: row(5000, 'before truncate') }),
        ev('t', ITEMS, pos(0x200, 1), {}),
        ev('c', ITEMS, pos(0x200, 2), { after: row(7, 'after truncate') }),
      ]),
    )
    // A batch written meanwhile waits for the truncate and is applied after it.
    const later = sink.write(
      batch([ev('u', ITEMS, pos(0x300), { before: row(7, 'after truncate'), after: row(7, 'later') })]),
    )
    await Promise.all([w, later])
    // Replays of rows inserted before the truncate are ignored.
    await sink.write(batch(rows.slice(0, 10)))
    await sink.close()
    const keys = (await redis.keys('public.items:*')).sort()
    assert.deepEqual(keys, ['public.items:7'])
    assert.equal(await redis.get('public.items:7'), '{"id":7,"name":"later","born":null}')
    assert.equal(await redis.get('public.other:1'), '{"id":1,"name":"keep","born":null}')
    assert.equal(await redis.get('sluice:v:public.items:42'), pos(0x200, 1))
    assert.equal(await redis.get('sluice:v:public.items:5000'), pos(0x200, 1))
    assert.equal(sink.stats.swept, 2501)
  })

  test('a completed snapshot removes rows an earlier, interrupted snapshot left behind', async () => {
    await redis.flushall()
    // Run 1: a snapshot at 0x100 is interrupted after rows 1..3 (and a streamed row of the
    // other table exists from before).
    let sink = await openSink()
    await sink.write(batch([ev('c', OTHER, pos(0x50), { after: row(9, 'gone') })]))
    await sink.write(
      batch([1, 2, 3].map((i) => ev('r', ITEMS, pos(0x100, i, '0'), { after: row(i, 'old') }))),
    )
    await sink.close()
    // Run 2: a new snapshot at 0x200 finds rows 1 and 2 only (3 and other:9 were deleted meanwhile).
    sink = await openSink()
    await sink.write(
      batch(
        [1, 2].map((i) => ev('r', ITEMS, pos(0x200, i, '0'), { after: row(i, 'new') })),
        pos(0x200, 999_999_999_999, '0'),
      ),
    )
    await sink.write(batch([ev('c', ITEMS, pos(0x300), { after: row(4, 'streamed') })]))
    await sink.close()
    assert.deepEqual((await redis.keys('public.*')).sort(), [
      'public.items:1',
      'public.items:2',
      'public.items:4',
    ])
    assert.equal(await redis.get('public.items:1'), '{"id":1,"name":"new","born":null}')
    assert.equal(await redis.get('sluice:v:public.items:3'), pos(0x200, 0, '0'))
  })

  test('the first snapshot into an empty database needs no sweep (no SCAN)', async () => {
    await redis.flushall()
    await redis.config('RESETSTAT')
    const sink = await openSink()
    await sink.write(
      batch(
        [1, 2].map((i) => ev('r', ITEMS, pos(0x100, i, '0'), { after: row(i, 'a') })),
        pos(0x100, 999_999_999_999, '0'),
      ),
    )
    await sink.close()
    assert.doesNotMatch(await redis.info('commandstats'), /cmdstat_scan:/)
    assert.deepEqual((await redis.keys('public.*')).sort(), ['public.items:1', 'public.items:2'])
  })

  test('hash values: one field per non-null column, strings as is, the rest as JSON; updates replace the hash', async () => {
    await redis.flushall()
    const sink = await openSink({ value: 'hash' })
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'ann', 19000) })]))
    assert.deepEqual(await redis.hgetall('public.items:1'), { id: '1', name: 'ann', born: '2022-01-08' })
    await sink.write(
      batch([ev('u', ITEMS, pos(0x200), { before: row(1, 'ann', 19000), after: row(1, null, null) })]),
    )
    assert.deepEqual(await redis.hgetall('public.items:1'), { id: '1' })
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'ann', 19000) })]))
    assert.deepEqual(await redis.hgetall('public.items:1'), { id: '1' }, 'stale replay ignored')
    await sink.write(batch([ev('d', ITEMS, pos(0x300), { before: row(1, null) })]))
    assert.equal(await redis.exists('public.items:1'), 0)
    await sink.close()
  })

  test('ttl_ms expires rows; their versions outlive them by tombstone_ttl_ms', async () => {
    await redis.flushall()
    const sink = await openSink({ ttl_ms: 60_000, tombstone_ttl_ms: 30_000 })
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
    await sink.write(
      batch([
        ev('c', ITEMS, pos(0x100, 1), { after: row(2, 'b') }),
        ev('d', ITEMS, pos(0x100, 2), { before: row(2, 'b') }),
      ]),
    )
    await sink.close()
    const v = await redis.pttl('public.items:1')
    const vv = await redis.pttl('sluice:v:public.items:1')
    const tomb = await redis.pttl('sluice:v:public.items:2')
    assert.ok(v > 50_000 && v <= 60_000, `value TTL ${v}`)
    assert.ok(vv > 80_000 && vv <= 90_000, `version TTL ${vv}`)
    assert.ok(tomb > 20_000 && tomb <= 30_000, `tombstone TTL ${tomb}`)
  })

  test('a table without a primary key fails the write naming the table and the fix', async () => {
    await redis.flushall()
    const sink = await openSink()
    const keyless = table('logs', [])
    await assert.rejects(
      sink.write(batch([ev('c', keyless, pos(0x100), { after: row(1, 'x') })])),
      (err: SluiceError) => {
        assert.equal(err.code, 'REDIS_TABLE_NO_KEY')
        assert.match(err.message, /public\.logs has none: add a primary key/)
        return true
      },
    )
    // The sink stays failed: later writes reject too, and nothing was written.
    await assert.rejects(
      sink.write(batch([ev('c', ITEMS, pos(0x200), { after: row(1, 'x') })])),
      /earlier error/,
    )
    assert.deepEqual(await redis.keys('public.*'), [])
    await sink.close().catch(() => undefined)
  })

  test('an error reply fails the batch with the key named', async () => {
    await redis.flushall()
    await redis.lpush('sluice:v:public.items:2', 'not a version')
    const sink = await openSink()
    await assert.rejects(
      sink.write(
        batch([
          ev('c', ITEMS, pos(0x100, 0), { after: row(1, 'a') }),
          ev('c', ITEMS, pos(0x100, 1), { after: row(2, 'b') }),
        ]),
      ),
      (err: SluiceError) => {
        assert.equal(err.code, 'REDIS_COMMAND_FAILED')
        assert.match(err.message, /refused a write: WRONGTYPE .*\(key sluice:v:public\.items:2\)/)
        return true
      },
    )
    await sink.close().catch(() => undefined)
  })

  test('the guard script is loaded again after SCRIPT FLUSH', async () => {
    await redis.flushall()
    const sink = await openSink()
    await sink.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
    await redis.script('FLUSH')
    await sink.write(batch([ev('c', ITEMS, pos(0x200), { after: row(1, 'b') })]))
    assert.equal(await redis.get('public.items:1'), '{"id":1,"name":"b","born":null}')
    await sink.close()
  })
})

describe('redis stream', () => {
  test('XADD per event in order with op, key, before, after, position; at-least-once', async () => {
    await redis.flushall()
    const sink = await openSink({ mode: 'stream' })
    assert.equal(sink.delivery, 'at-least-once')
    const events = [
      ev('r', ITEMS, pos(0x100, 0, '0'), { after: row(1, 'a', 19000) }),
      ev('u', ITEMS, pos(0x200, 0), { before: row(1, 'a', 19000), after: row(1, 'b', 19000) }),
      ev('d', ITEMS, pos(0x200, 1), { before: row(1, 'b', 19000) }),
      ev('t', ITEMS, pos(0x300, 0), {}),
      ev('c', OTHER, pos(0x300, 1), { after: row(5, null) }),
    ]
    await sink.write(batch(events.slice(0, 2)))
    await sink.write(batch(events.slice(2)))
    await sink.close()
    const entries = (await redis.xrange('shop.public.items', '-', '+')).map(([, f]) => f)
    assert.deepEqual(entries, [
      [
        'op',
        'r',
        'key',
        '{"id":1}',
        'before',
        '',
        'after',
        '{"id":1,"name":"a","born":"2022-01-08"}',
        'position',
        pos(0x100, 0, '0'),
      ],
      [
        'op',
        'u',
        'key',
        '{"id":1}',
        'before',
        '{"id":1,"name":"a","born":"2022-01-08"}',
        'after',
        '{"id":1,"name":"b","born":"2022-01-08"}',
        'position',
        pos(0x200, 0),
      ],
      [
        'op',
        'd',
        'key',
        '{"id":1}',
        'before',
        '{"id":1,"name":"b","born":"2022-01-08"}',
        'after',
        '',
        'position',
        pos(0x200, 1),
      ],
      ['op', 't', 'key', '', 'before', '', 'after', '', 'position', pos(0x300, 0)],
    ])
    assert.deepEqual(
      (await redis.xrange('shop.public.other', '-', '+')).map(([, f]) => f),
      [
        [
          'op',
          'c',
          'key',
          '{"id":5}',
          'before',
          '',
          'after',
          '{"id":5,"name":null,"born":null}',
          'position',
          pos(0x300, 1),
        ],
      ],
    )
    assert.deepEqual((await redis.keys('*')).sort(), ['shop.public.items', 'shop.public.other'])
  })

  test('maxlen trims each stream approximately', async () => {
    await redis.flushall()
    const sink = await openSink({ mode: 'stream', maxlen: 100 })
    for (let b = 0; b < 10; b++)
      await sink.write(
        batch(
          Array.from({ length: 200 }, (_, i) =>
            ev('c', ITEMS, pos(0x100 + b, i), { after: row(b * 200 + i, 'x') }),
          ),
        ),
      )
    await sink.close()
    const len = await redis.xlen('shop.public.items')
    assert.ok(len >= 100 && len < 400, `stream length ${len} after 2000 events with maxlen ~100`)
    const last = (await redis.xrevrange('shop.public.items', '+', '-', 'COUNT', 1))[0]![1]
    assert.equal(last[last.indexOf('position') + 1], pos(0x109, 199), 'the newest entries are kept')
  })
})

describe('redis connection', () => {
  test('open() fails fast and clearly when Redis is unreachable, without the password', async () => {
    const port = await freePort()
    const sink = new RedisSink(
      redisConfig.parse({
        type: 'redis',
        url: `redis://app:s3cretpw@127.0.0.1:${port}`,
        connect_timeout_ms: 2000,
      }),
      CTX,
    )
    const started = Date.now()
    await assert.rejects(sink.open(), (err: SluiceError) => {
      assert.equal(err.code, 'REDIS_UNREACHABLE')
      assert.match(
        err.message,
        /cannot reach redis redis:\/\/app:\*\*\*@127\.0\.0\.1:\d+.*check the redis sink's url/,
      )
      assert.doesNotMatch(err.message, /s3cretpw/)
      return true
    })
    assert.ok(Date.now() - started < 5000, 'fails within the connect timeout')
  })

  test('open() names wrong credentials, without the password', async () => {
    const secured = await startRedis(['--requirepass', 'rightpw'])
    try {
      const url = `redis://:wrongpw1@127.0.0.1:${secured.port}`
      const bad = new RedisSink(redisConfig.parse({ type: 'redis', url }), CTX)
      await assert.rejects(bad.open(), (err: SluiceError) => {
        assert.equal(err.code, 'REDIS_AUTH_FAILED')
        assert.match(err.message, /fix the user and password/)
        assert.doesNotMatch(err.message, /wrongpw1/)
        return true
      })
      const good = new RedisSink(
        redisConfig.parse({ type: 'redis', url: `redis://:rightpw@127.0.0.1:${secured.port}` }),
        CTX,
      )
      await good.open()
      await good.write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
      await good.close()
    } finally {
      await secured.stop()
    }
  })

  test('write() resolves only once Redis has answered, and rejects when the server is gone', async () => {
    const own = await startRedis()
    const admin = new Redis(own.url)
    try {
      const sink = new RedisSink(redisConfig.parse({ type: 'redis', url: own.url }), CTX, {
        redisOptions: { maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 3 ? null : 50) },
      })
      await sink.open()
      await admin.call('CLIENT', 'PAUSE', '1500', 'WRITE')
      const started = Date.now()
      let resolvedAt = 0
      await sink
        .write(batch([ev('c', ITEMS, pos(0x100), { after: row(1, 'a') })]))
        .then(() => (resolvedAt = Date.now()))
      assert.ok(resolvedAt - started >= 1200, `resolved after ${resolvedAt - started} ms of a 1500 ms pause`)
      assert.equal(await admin.get('public.items:1'), '{"id":1,"name":"a","born":null}')
      admin.disconnect()
      await own.stop()
      await assert.rejects(
        sink.write(batch([ev('c', ITEMS, pos(0x200), { after: row(1, 'b') })])),
        (err: SluiceError) => {
          assert.equal(err.code, 'REDIS_WRITE_FAILED')
          assert.match(err.message, /did not acknowledge|failed/)
          return true
        },
      )
      await sink.close().catch(() => undefined)
    } finally {
      admin.disconnect()
      await own.stop()
    }
  })
})

describe('redis cluster', () => {
  test('cache writes, key changes and truncate through a (one-node) Redis Cluster with a hash-tagged key', async () => {
    const node = await startRedis([
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-announce-ip',
      '127.0.0.1',
    ])
    const admin = new Redis(node.url)
    try {
      await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383')
      await waitForCluster(admin)
      const sink = new RedisSink(
        redisConfig.parse({
          type: 'redis',
          url: node.url,
          cluster: true,
          key: '${schema}.${table}:{${key}}',
        }),
        CTX,
      )
      await sink.open()
      await sink.write(
        batch([
          ev('c', ITEMS, pos(0x100, 0), { after: row(1, 'a') }),
          ev('c', ITEMS, pos(0x100, 1), { after: row(2, 'b') }),
          ev('u', ITEMS, pos(0x200, 0), { before: row(2, 'b'), after: row(3, 'b') }),
        ]),
      )
      await sink.write(batch([ev('c', ITEMS, pos(0x50, 0), { after: row(1, 'stale') })]))
      assert.equal(await admin.get('public.items:{1}'), '{"id":1,"name":"a","born":null}')
      assert.equal(await admin.get('public.items:{2}'), null)
      assert.equal(await admin.get('sluice:v:public.items:{2}'), pos(0x200, 0))
      assert.equal(sink.stats.ignored, 1)
      await sink.write(batch([ev('t', ITEMS, pos(0x300), {})]))
      assert.deepEqual(await admin.keys('public.items:*'), [])
      await sink.close()
    } finally {
      admin.disconnect()
      await node.stop()
    }
  })
})

/** Waits until CLUSTER INFO says the cluster is ok. */
async function waitForCluster(admin: Redis): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const info = String(await admin.call('CLUSTER', 'INFO'))
    if (info.includes('cluster_state:ok')) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('the one-node cluster did not become ok')
}
