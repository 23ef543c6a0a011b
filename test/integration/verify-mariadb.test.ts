import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Client } from '@elastic/elasticsearch'
import { Redis } from 'ioredis'
import { runCli } from './helpers/cli.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startSearchFake, type SearchFake } from './servers/elasticsearch-fake.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startRedis, type RedisServer } from './servers/redis.js'

// `sluice verify` on MariaDB → Redis (hash values, a custom key template) + Elasticsearch
// + OpenSearch (in-test fakes driven through the real clients): the real pipeline fills
// all three, verify finds them in sync for an all-types table with a composite key holding
// `:`; tampering with each target and with the source is reported per sink.

let db: MariaServer
let redis: RedisServer
let es: SearchFake
let os: SearchFake
let r: Redis
let esClient: Client
let dir: { dir: string; cleanup(): void }
let config: string

interface JsonTable {
  table: string
  location: string
  sourceRows: number
  targetKeys: number | null
  matched: number
  rechecked: number
  missing: number
  extra: number
  differing: number
  examples: { missing: string[]; extra: string[]; differing: { key: string; columns: string[] }[] }
}
interface JsonReport {
  status: string
  sinks: { index: number; type: string; target: string | null; tables: JsonTable[] }[]
  totals: { tables: number; sourceRows: number; missing: number; extra: number; differing: number }
}

const ROWS = 1203

function yaml(): string {
  return `
pipelines:
  - name: shop
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.items]
      server_id: 4711
    sinks:
      - type: redis
        url: ${redis.url}
        value: hash
        key: "m:\${db}.\${table}:{\${key}}"
      - type: elasticsearch
        url: ${es.url}
        index: "\${db}-\${table}"
      - type: elasticsearch
        flavor: opensearch
        url: ${os.url}
        index: "\${prefix}.\${table}"
state:
  path: ${join(dir.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

const verify = (extra: string[] = []): Promise<{ code: number | null; stdout: string; stderr: string }> =>
  runCli(['verify', '-c', config, 'shop', '--chunk-size', '300', '--recheck-ms', '200', '--json', ...extra], {
    timeoutMs: 120_000,
  })

const rkey = (k: string): string => `m:shop.items:{${k}}`

before(async () => {
  dir = tempDir()
  db = await startMariadb()
  redis = await startRedis()
  es = await startSearchFake({ flavor: 'elasticsearch' })
  os = await startSearchFake({ flavor: 'opensearch' })
  r = new Redis(redis.url)
  esClient = new Client({ node: es.url })
  await db.sql('CREATE DATABASE shop')
  await db.sql(
    `CREATE TABLE items (
       tenant varchar(20) NOT NULL, id int NOT NULL,
       price decimal(12,3), ratio double, f float, at timestamp(6) NULL, dt datetime(3), day date,
       t time(6), flag tinyint(1), payload json, data varbinary(16), note text, big bigint unsigned,
       e enum('a','b'), y year, ch char(5), u mediumint unsigned, bits bit(10),
       PRIMARY KEY (tenant, id))`,
    [],
    'shop',
  )
  await db.sql(
    `INSERT INTO items
       SELECT CASE seq % 3 WHEN 0 THEN 'a:b' WHEN 1 THEN 'x' ELSE 'b\\\\s' END, seq,
              seq * 1.125, seq / 7, seq / 3, TIMESTAMP'2024-03-01 12:00:00.123456' + INTERVAL seq HOUR,
              TIMESTAMP'1970-01-01 00:00:00.5' + INTERVAL seq DAY, DATE'1000-01-01' + INTERVAL seq DAY,
              SEC_TO_TIME(CAST(seq AS SIGNED) * 37 - 20000 + 0.25), seq % 2,
              JSON_OBJECT('g', seq, 'nested', JSON_ARRAY(1, 'two', NULL)), UNHEX(MD5(seq)),
              IF(seq % 4 = 0, NULL, CONCAT('line\\n\\ttab "q" ', seq)), 9007199254740993 + seq,
              IF(seq % 2, 'a', 'b'), 1901 + seq % 200, 'ab', seq * 1000, seq % 1024
         FROM seq_1_to_1200`,
    [],
    'shop',
  )
  await db.sql(`INSERT INTO items (tenant, id) VALUES ('nulls', 1)`, [], 'shop')
  await db.sql(
    `INSERT INTO items (tenant, id, price, ratio, f)
     VALUES ('special', 1, -0.001, -0.0, 1e-30), ('special', 2, 0, 1.7976931348623157e308, 3.4e38)`,
    [],
    'shop',
  )
  config = join(dir.dir, 'sluice.yaml')
  writeFileSync(config, yaml())
})

after(async () => {
  r?.disconnect()
  await esClient?.close()
  await redis?.stop()
  await es?.stop()
  await os?.stop()
  await db?.stop()
  dir?.cleanup()
})

describe('sluice verify: mariadb → redis (hash) + elasticsearch + opensearch', () => {
  test('targets the real pipeline filled (snapshot and binlog) are in sync: exit 0', async () => {
    const p = startPipeline(yaml(), dir.dir)
    try {
      await waitFor(
        () => es.docs('shop-items').size === ROWS && os.docs('shop.items').size === ROWS,
        60_000,
        'snapshot in the indices',
      )
      await db.sql(
        `UPDATE items SET price = 5.5, note = 'upd', at = NOW(6) WHERE tenant = 'x' AND id = 1`,
        [],
        'shop',
      )
      await db.sql(
        `INSERT INTO items (tenant, id, dt) VALUES ('new:key', 1, '2020-01-01 00:00:00.001')`,
        [],
        'shop',
      )
      await db.sql(`DELETE FROM items WHERE tenant = 'x' AND id = 10`, [], 'shop')
      await waitFor(
        async () =>
          (await r.exists(rkey('new\\:key:1'))) === 1 &&
          (await r.exists(rkey('x:10'))) === 0 &&
          (await r.hget(rkey('x:1'), 'note')) === 'upd' &&
          os.docs('shop.items').get('x:1')?.note === 'upd' &&
          es.docs('shop-items').has('new\\:key:1') &&
          !es.docs('shop-items').has('x:10'),
        30_000,
        'binlog changes in every target',
      )
    } finally {
      await p.stop()
    }

    const res = await verify()
    assert.equal(res.code, 0, res.stderr + res.stdout)
    const rep = JSON.parse(res.stdout) as JsonReport
    assert.equal(rep.status, 'in-sync')
    assert.deepEqual(rep.totals, { tables: 1, sourceRows: ROWS, missing: 0, extra: 0, differing: 0 })
    assert.deepEqual(
      rep.sinks.map((s) => [s.type, s.tables[0]!.location, s.tables[0]!.targetKeys, s.tables[0]!.matched]),
      [
        ['redis', 'm:shop.items:{*}', ROWS, ROWS],
        ['elasticsearch', 'shop-items', ROWS, ROWS],
        ['elasticsearch', 'shop.items', ROWS, ROWS],
      ],
    )
    assert.match(rep.sinks[1]!.target!, /^elasticsearch http:\/\/127\.0\.0\.1:\d+$/)
    assert.match(rep.sinks[2]!.target!, /^opensearch http:\/\/127\.0\.0\.1:\d+$/)
  })

  test('tampering with each target and the source is reported per sink: exit 1', async () => {
    // Redis: one field changed, one row deleted.
    await r.hset(rkey('x:4'), 'price', '0.000')
    await r.del(rkey('a\\:b:6'))
    // Elasticsearch: one document deleted, one extra, one field changed (through the real client).
    await esClient.delete({ index: 'shop-items', id: 'x:13' })
    await esClient.index({ index: 'shop-items', id: 'zz:1', document: { tenant: 'zz', id: 1 } })
    const doc = (await esClient.get({ index: 'shop-items', id: 'b\\\\s:2' }))._source as Record<
      string,
      unknown
    >
    await esClient.index({ index: 'shop-items', id: 'b\\\\s:2', document: { ...doc, day: '1999-01-01' } })
    // The source changes while no pipeline runs: every target misses it.
    await db.sql(`UPDATE items SET note = 'behind' WHERE tenant = 'x' AND id = 7`, [], 'shop')

    const res = await verify()
    assert.equal(res.code, 1, res.stderr + res.stdout)
    const rep = JSON.parse(res.stdout) as JsonReport
    assert.equal(rep.status, 'drift')
    const [redisT, esT, osT] = rep.sinks.map((s) => s.tables[0]!)
    assert.deepEqual(redisT!.examples, {
      missing: ['a\\:b:6'],
      extra: [],
      differing: [
        { key: 'x:4', columns: ['price'] },
        { key: 'x:7', columns: ['note'] },
      ],
    })
    assert.deepEqual(esT!.examples, {
      missing: ['x:13'],
      extra: ['zz:1'],
      differing: [
        { key: 'b\\\\s:2', columns: ['day'] },
        { key: 'x:7', columns: ['note'] },
      ],
    })
    assert.deepEqual(osT!.examples, {
      missing: [],
      extra: [],
      differing: [{ key: 'x:7', columns: ['note'] }],
    })
    assert.deepEqual(rep.totals, { tables: 1, sourceRows: ROWS, missing: 2, extra: 1, differing: 5 })
  })
})
