import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import type { DeadLetterRecord } from '../../pipeline/dead-letter.js'
import { readStatePosition, sortKey } from './helpers/mysql.js'
import { readEnvelopes, startPipeline, tempDir, waitFor, type Envelope } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startRedis, type RedisServer } from './servers/redis.js'

let db: MariaServer
let redis: RedisServer

before(async () => {
  db = await startMariadb()
  redis = await startRedis()
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  await db?.stop()
  await redis?.stop()
})

const BIG = '18446744073709551615' // 2^64 - 1: above a signed long

function yaml(dir: string, name = 'mdl', table = 'counters', redisUrl = redis.url, serverId = 5611): string {
  return `
pipelines:
  - name: ${name}
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.${table}]
      server_id: ${serverId}
    sinks:
      - type: file
        path: ${join(dir, 'out')}
        format: avro
    on_error: dead_letter
    dead_letter:
      type: redis
      url: ${redisUrl}
      stream: "dead:${name}"
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

const ids = (evs: Envelope[]): number[] => evs.map((e) => Number((e.after ?? e.before)!.id))

async function streamRecords(r: Redis, stream = 'dead:mdl'): Promise<DeadLetterRecord[]> {
  const entries = await r.xrange(stream, '-', '+')
  return entries.map(([, fields]) => {
    assert.equal(fields[0], 'record')
    return JSON.parse(fields[1]!) as DeadLetterRecord
  })
}

describe('on_error dead_letter with a mariadb source and a redis stream', () => {
  test('BIGINT UNSIGNED values above 2^63-1 (snapshot and binlog) land in the stream; the other rows are delivered and the position passes them', async () => {
    await db.sql(
      'CREATE TABLE shop.counters (id INT PRIMARY KEY, hits BIGINT UNSIGNED NOT NULL, label VARBINARY(8))',
    )
    await db.sql(`INSERT INTO shop.counters VALUES (1, 10, 'a'), (2, ${BIG}, x'00ff'), (3, 30, 'c')`)
    const t = tempDir()
    const p = startPipeline(yaml(t.dir), t.dir)
    const r = new Redis(redis.url)
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 2, 30_000, 'snapshot')
      await db.sql(`INSERT INTO shop.counters VALUES (4, 40, 'd'), (5, ${BIG}, 'e'), (6, 60, 'f')`)
      await db.sql(`INSERT INTO shop.counters VALUES (7, 70, 'g')`)
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return ids(e).includes(7) ? e : null
      })
      assert.deepEqual(ids(evs), [1, 3, 4, 6, 7])
      const recs = await streamRecords(r)
      assert.equal(recs.length, 2, JSON.stringify(recs))
      const [snap, bin] = recs
      for (const rec of recs) {
        assert.equal(rec.pipeline, 'mdl')
        assert.equal(rec.origin, 'source')
        assert.equal(rec.error.code, 'VALUE_OUT_OF_RANGE')
        assert.equal(rec.table, 'shop.counters')
        assert.equal(rec.column, 'hits')
        assert.equal(rec.before, null)
      }
      assert.equal(snap!.op, 'r')
      assert.deepEqual(snap!.after, { id: '2', hits: BIG, label: Buffer.from([0, 0xff]).toString('base64') })
      assert.equal(bin!.op, 'c')
      assert.equal(bin!.after!.id, '5')
      assert.equal(bin!.after!.hits, BIG)
      const posOf = (id: number): string => evs.find((e) => Number(e.after!.id) === id)!.source.position
      assert.ok(sortKey(posOf(4)) < sortKey(bin!.position) && sortKey(bin!.position) < sortKey(posOf(6)))
      assert.ok(sortKey(posOf(1)) < sortKey(snap!.position) && sortKey(snap!.position) < sortKey(posOf(3)))
      await waitFor(() => {
        const c = readStatePosition(join(t.dir, 'state'), 'mdl')
        return c !== null && sortKey(c) >= sortKey(posOf(7))
      })
    } finally {
      r.disconnect()
      await p.stop()
      t.cleanup()
    }
  })

  test('a failed dead-letter write (redis down) fails the pipeline with a retriable DEAD_LETTER_WRITE_FAILED, the position stays before the row, and a restart delivers everything', async () => {
    const own = await startRedis()
    await db.sql(
      'CREATE TABLE shop.gauges (id INT PRIMARY KEY, hits BIGINT UNSIGNED NOT NULL, label VARBINARY(8))',
    )
    await db.sql(`INSERT INTO shop.gauges VALUES (1, 10, 'a'), (2, 20, 'b')`)
    const t = tempDir()
    const conf = yaml(t.dir, 'mdl2', 'gauges', own.url, 5612)
    const first = startPipeline(conf, t.dir)
    let again: ReturnType<typeof startPipeline> | null = null
    let back: RedisServer | null = null
    try {
      const before = await waitFor(async () => {
        const c = readStatePosition(join(t.dir, 'state'), 'mdl2')
        return c !== null && ids(await readEnvelopes(first.out)).length === 2 ? c : null
      }, 30_000)
      await own.stop()
      await db.sql(`INSERT INTO shop.gauges VALUES (3, 30, 'c'), (4, ${BIG}, 'd'), (5, 50, 'e')`)
      const err = await first.done.then(
        () => assert.fail('the pipeline should have failed'),
        (e: unknown) => e as { code: string; retriable: boolean },
      )
      assert.equal(err.code, 'DEAD_LETTER_WRITE_FAILED')
      assert.equal(err.retriable, true)
      assert.equal(readStatePosition(join(t.dir, 'state'), 'mdl2'), before)
      assert.deepEqual(ids(await readEnvelopes(first.out)), [1, 2])

      // A reachable destination again (a fresh server): a new attempt dead-letters the row and
      // delivers the rest.
      back = await startRedis()
      again = startPipeline(yaml(t.dir, 'mdl2', 'gauges', back.url, 5612), t.dir)
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(again!.out)
        return ids(e).includes(5) ? e : null
      })
      assert.deepEqual(ids(evs), [1, 2, 3, 5])
      const r = new Redis(back.url)
      try {
        const recs = await streamRecords(r, 'dead:mdl2')
        assert.equal(recs.length, 1)
        assert.equal(recs[0]!.after!.id, '4')
        assert.equal(recs[0]!.error.code, 'VALUE_OUT_OF_RANGE')
      } finally {
        r.disconnect()
      }
    } finally {
      await first.stop().catch(() => undefined)
      await again?.stop()
      await own.stop()
      await back?.stop()
      t.cleanup()
    }
  })
})
