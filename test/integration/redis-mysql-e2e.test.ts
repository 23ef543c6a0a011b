/**
 * MariaDB → Redis through the real pipeline, with two redis sinks on one server: a cache and
 * a stream. After a snapshot and a stream of changes the cache equals the table exactly
 * (expected JSON rendered here from SQL text) and the stream holds every event in order.
 * Then the committed position is set back to an earlier one and the pipeline restarted:
 * the binlog is re-read and every event re-delivered (the stream, at-least-once, shows the
 * duplicates), while the cache never shows an older value than the final one and ends equal
 * to the table.
 */
import assert from 'node:assert/strict'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import mysql from 'mysql2/promise'
import { cacheDiff, rowKeys } from './helpers/redis-cache.js'
import { sortKey } from './helpers/mysql.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startRedis, type RedisServer } from './servers/redis.js'

let db: MariaServer
let server: RedisServer
let redis: Redis

before(async () => {
  ;[db, server] = await Promise.all([startMariadb(), startRedis()])
  redis = new Redis(server.url)
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  redis?.disconnect()
  await Promise.all([db?.stop(), server?.stop()])
})

const PIPELINE = 'mycache'
const STREAM = 'mycache.shop.accounts'

function yaml(dir: string): string {
  return `
pipelines:
  - name: ${PIPELINE}
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.accounts]
      server_id: 5501
    sinks:
      - type: redis
        url: ${server.url}
        mode: cache
      - type: redis
        url: ${server.url}
        mode: stream
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

/** The table as the cache must hold it (key → JSON), rendered from SQL text here. */
async function expected(): Promise<Map<string, string>> {
  const rows = (await db.sql(
    `SELECT id, name, CAST(balance AS CHAR) AS balance, DATE_FORMAT(opened, '%Y-%m-%d') AS opened,
            active, notes FROM shop.accounts`,
  )) as {
    id: number
    name: string
    balance: string | null
    opened: string | null
    active: number | null
    notes: string | null
  }[]
  const out = new Map<string, string>()
  for (const r of rows) {
    const doc = {
      id: Number(r.id),
      name: r.name,
      balance: r.balance,
      opened: r.opened,
      // BOOLEAN is TINYINT(1): an int16 column, as in Debezium.
      active: r.active === null ? null : Number(r.active),
      notes: r.notes,
    }
    out.set(`shop.accounts:${doc.id}`, JSON.stringify(doc))
  }
  return out
}

async function converged(what: string): Promise<void> {
  let last = { count: -1, sample: [] as string[] }
  try {
    await waitFor(
      async () => {
        last = await cacheDiff(redis, await expected(), [STREAM])
        return last.count === 0
      },
      60_000,
      what,
    )
  } catch (err) {
    assert.fail(`${(err as Error).message}: ${last.count} differences: ${last.sample.join('; ')}`)
  }
}

/** The `position` field of every stream entry, in stream order. */
async function streamPositions(): Promise<string[]> {
  return (await redis.xrange(STREAM, '-', '+')).map(([, f]) => f[f.indexOf('position') + 1]!)
}

describe('mariadb to redis', () => {
  test('cache equals the table, the stream has every event in order, and a replay regresses nothing', async () => {
    await redis.flushall()
    await db.sql(
      `CREATE TABLE shop.accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, balance DECIMAL(12,2),
                                   opened DATE, active BOOLEAN, notes MEDIUMTEXT)`,
    )
    const values = Array.from(
      { length: 200 },
      (_, i) =>
        `(${i + 1}, 'n${i + 1}', ${(i + 1) * 1.5}, '2021-03-${String((i % 28) + 1).padStart(2, '0')}', ${i % 2}, NULL)`,
    )
    await db.sql(`INSERT INTO shop.accounts VALUES ${values.join(',')}`)
    const t = tempDir()
    let p = startPipeline(yaml(t.dir), t.dir)
    const conn = await mysql.createConnection({ uri: db.urlFor('shop') })
    try {
      await converged('the snapshot in the cache')
      // Phase 1.
      await conn.query('START TRANSACTION')
      await conn.query("INSERT INTO accounts VALUES (1001, 'new', 10.25, NULL, NULL, 'x')")
      await conn.query('UPDATE accounts SET balance = balance + 1 WHERE id <= 50')
      await conn.query('DELETE FROM accounts WHERE id BETWEEN 60 AND 69')
      await conn.query('COMMIT')
      await conn.query('UPDATE accounts SET id = id + 3000 WHERE id BETWEEN 70 AND 74')
      await converged('phase 1 in the cache')
      await waitFor(() => p.runner.stats.committedPosition !== null, 10_000, 'a committed position')
      await p.stop()
      const stateFile = join(t.dir, 'state', `${PIPELINE}.json`)
      const earlier = (JSON.parse(readFileSync(stateFile, 'utf8')) as { position: string }).position

      // Phase 2: more changes, including to rows changed in phase 1 and deletes of them.
      p = startPipeline(yaml(t.dir), t.dir)
      await conn.query("UPDATE accounts SET name = 'phase2', notes = REPEAT('z', 300000) WHERE id <= 20")
      await conn.query('DELETE FROM accounts WHERE id BETWEEN 21 AND 30 OR id = 1001')
      await conn.query("INSERT INTO accounts VALUES (2001, 'late', NULL, '2030-01-01', 1, NULL)")
      await conn.query('UPDATE accounts SET id = 4001 WHERE id = 3070')
      // The same row changed twice more, and a row inserted then deleted: a replay without
      // the version guard would set row 5 three times and bring row 5000 back meanwhile.
      await conn.query("UPDATE accounts SET name = 'first' WHERE id = 5")
      await conn.query("UPDATE accounts SET name = 'second' WHERE id = 5")
      await conn.query("INSERT INTO accounts VALUES (5000, 'brief', NULL, NULL, NULL, NULL)")
      await conn.query('DELETE FROM accounts WHERE id = 5000')
      await converged('phase 2 in the cache')
      const final = await rowKeys(redis, [STREAM])

      // The stream: every event once so far, in position order.
      // Events: snapshot 200; phase 1: 1 + 50 + 10 + 5 key changes × 2; phase 2: 20 + 11 + 1 + 2 + 2 + 2.
      const total = 200 + (1 + 50 + 10 + 10) + (20 + 11 + 1 + 2 + 2 + 2)
      const before = await waitFor(
        async () => {
          const ps = await streamPositions()
          return ps.length >= total ? ps : null
        },
        30_000,
        'the stream',
      )
      const keys = before.map(sortKey)
      for (let i = 1; i < keys.length; i++)
        assert.ok(keys[i - 1]! < keys[i]!, `stream position ${i} increases`)
      assert.equal(before.length, total)
      const replayed = keys.filter((k) => k > sortKey(earlier)).length
      assert.ok(replayed >= 38, `phase 2 is after the earlier position (${replayed} events)`)

      // Replay: back to the earlier position, restart, and watch the cache while it runs.
      await p.stop()
      const state = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, unknown>
      writeFileSync(stateFile, JSON.stringify({ ...state, position: earlier }))
      // Keyspace notifications show every write the replay makes to the cache.
      await redis.config('SET', 'notify-keyspace-events', 'Kg$')
      const sub = new Redis(server.url)
      const writes: string[] = []
      sub.on('pmessage', (_p: string, channel: string, event: string) =>
        writes.push(`${channel.slice(channel.indexOf(':') + 1)} ${event}`),
      )
      await sub.psubscribe('__keyspace@0__:shop.accounts:*')
      p = startPipeline(yaml(t.dir), t.dir)
      const regressions: string[] = []
      let samples = 0
      await waitFor(
        async () => {
          samples++
          const now = await rowKeys(redis, [STREAM])
          for (const [k, v] of final) if (now.get(k) !== v) regressions.push(`${k} changed during the replay`)
          for (const k of now.keys()) if (!final.has(k)) regressions.push(`${k} came back during the replay`)
          return (await redis.xlen(STREAM)) >= before.length + replayed
        },
        60_000,
        'the replayed events in the stream',
      )
      assert.deepEqual(
        regressions.slice(0, 10),
        [],
        `cache regressions during the replay (${samples} samples)`,
      )
      await new Promise((r) => setTimeout(r, 300))
      await sub.quit()
      // Row 5's older versions were ignored (only the replay of its newest write rewrote it), and
      // row 5000 was never recreated: its insert is older than its tombstone.
      assert.deepEqual(
        writes.filter((w) => w.startsWith('shop.accounts:5 ')),
        ['shop.accounts:5 set'],
      )
      assert.deepEqual(
        writes.filter((w) => w.startsWith('shop.accounts:5000 ')),
        [],
      )
      const after = await streamPositions()
      assert.equal(
        after.length,
        before.length + replayed,
        'every event after the earlier position was re-delivered',
      )
      assert.deepEqual(
        after.slice(before.length),
        before.slice(before.length - replayed),
        'in the same order, same positions',
      )
      assert.deepEqual(await cacheDiff(redis, await expected(), [STREAM]), { count: 0, sample: [] })
    } finally {
      await conn.end()
      await p.stop()
      t.cleanup()
    }
  })
})
