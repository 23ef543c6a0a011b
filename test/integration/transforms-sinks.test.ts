/**
 * The route, unwrap and mask transforms through the Kafka, Redis and Elasticsearch sinks,
 * with a real Postgres, librdkafka's mock cluster, the registry fake, a real redis-server
 * and the search fake driven through the real client. Kafka records are decoded with the
 * independent avsc decoder of helpers/kafka.ts (schemas from the registry or the schema
 * topic), never with Sluice's own decoder.
 */
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import pino from 'pino'
import { buildPipeline } from '../../cli/run.js'
import { parseConfigText } from '../../config/index.js'
import {
  decodeAll,
  freshPrefix,
  IndependentDecoder,
  readTopic,
  topicCount,
  withAdmin,
  type Decoded,
} from './helpers/kafka.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { rowKeys } from './helpers/redis-cache.js'
import { startSearchFake, type SearchFake } from './servers/elasticsearch-fake.js'
import { startKafka, type KafkaServer } from './servers/kafka.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'
import { startRegistry, type RegistryServer } from './servers/registry-fake.js'

const SECRET = 'mask-secret-canary-91c4e2'

let pg: PgServer
let kafka: KafkaServer
let registry: RegistryServer
let redisServer: RedisServer
let redis: Redis
let search: SearchFake

before(async () => {
  ;[pg, kafka, registry, redisServer, search] = await Promise.all([
    startPostgres(),
    startKafka(),
    startRegistry(),
    startRedis(),
    startSearchFake(),
  ])
  redis = new Redis(redisServer.url)
})
after(async () => {
  redis?.disconnect()
  await Promise.all([pg?.stop(), kafka?.stop(), registry?.stop(), redisServer?.stop(), search?.stop()])
})

/** A fresh database (and Kafka prefix) per test. */
async function database(name: string): Promise<string> {
  await freshPrefix(kafka, registry, name)
  await pg.sql(`CREATE DATABASE ${name}`)
  return pg.urlFor(name)
}

/** Runs the first pipeline of `yaml` in-process, with `env` for `${...}` interpolation. */
function start(
  yaml: string,
  dir: string,
  env: Record<string, string> = {},
): { done: Promise<void>; stop(): Promise<void> } {
  const { config } = parseConfigText(yaml, join(dir, 'sluice.yaml'), env)
  const runner = buildPipeline(config.pipelines[0]!, config, pino({ level: config.log.level }))
  const ac = new AbortController()
  const done = runner.run(ac.signal)
  done.catch(() => {})
  return {
    done,
    async stop() {
      ac.abort(new Error('test stop'))
      await done
    },
  }
}

function yamlOf(o: {
  name: string
  url: string
  tables: string[]
  dir: string
  transforms?: string
  sinks: string
}): string {
  return `
pipelines:
  - name: ${o.name}
    source:
      type: postgres
      url: ${o.url}
      tables: [${o.tables.join(', ')}]
      snapshot: initial
${o.transforms ? `    transforms:\n${o.transforms}\n` : ''}    sinks:
${o.sinks}
state:
  type: file
  path: ${join(o.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

/** Op counts of decoded records; tombstones count as `tombstone`. */
function ops(l: readonly Decoded[], op: (v: Record<string, unknown>) => unknown): Record<string, number> {
  const m: Record<string, number> = {}
  for (const r of l) {
    const k = r.value ? String(op(r.value)) : 'tombstone'
    m[k] = (m[k] ?? 0) + 1
  }
  return m
}

/**
 * Records in position order (readTopic returns them per partition, and the mock cluster
 * auto-creates topics with 4); a tombstone keeps its place after its delete (same position).
 */
function byPosition(l: readonly Decoded[]): Decoded[] {
  const pos = (r: Decoded): string => r.rec.headers['sluice.position']!
  return [...l].sort((a, b) => (pos(a) < pos(b) ? -1 : pos(a) > pos(b) ? 1 : a.rec.offset - b.rec.offset))
}

async function subjects(): Promise<string[]> {
  return (await (await fetch(`${registry.url}/subjects`)).json()) as string[]
}

async function latestSchema(subject: string): Promise<{ name: string; fields: { name: string }[] }> {
  const res = await fetch(`${registry.url}/subjects/${encodeURIComponent(subject)}/versions/latest`)
  assert.equal(res.status, 200, `subject ${subject} is registered`)
  const s = JSON.parse(((await res.json()) as { schema: string }).schema) as {
    name: string
    namespace?: string
    fields: { name: string }[]
  }
  // The full name: namespace and name, as the schema JSON may give them apart.
  return {
    name: s.namespace && !s.name.includes('.') ? `${s.namespace}.${s.name}` : s.name,
    fields: s.fields,
  }
}

const hmac = (text: string): string => createHmac('sha256', SECRET).update(text, 'utf8').digest('hex')

describe('transforms through the kafka, redis and elasticsearch sinks', () => {
  test('route: one table goes to the routed kafka topic, search index and redis key; the other keeps every default', async () => {
    const url = await database('rt')
    await pg.sql(
      `CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, qty int);
       CREATE TABLE refunds (id int PRIMARY KEY, amount int);
       INSERT INTO orders SELECT g, 'item-' || g, g FROM generate_series(1, 3) g;
       INSERT INTO refunds SELECT g, g * 10 FROM generate_series(1, 2) g;`,
      [],
      'rt',
    )
    const t = tempDir()
    const p = start(
      yamlOf({
        name: 'rt',
        url,
        tables: ['public.orders', 'public.refunds'],
        dir: t.dir,
        transforms: `      - type: route
        tables: [public.orders]
        topic: "sales.\${table}"
        index: "sales-\${schema}-\${table}"
        key: "sale:\${table}:\${key}"`,
        sinks: `      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]
        registry: ${registry.url}
      - type: redis
        url: ${redisServer.url}
      - type: elasticsearch
        url: ${search.url}
        on_truncate: ignore
        retry_backoff_ms: 10`,
      }),
      t.dir,
    )
    const searchIds = (index: string): string[] => [...search.docs(index).keys()].sort()
    try {
      // Changes made before the snapshot point would be read by the snapshot instead.
      await waitFor(async () => (await topicCount(kafka.brokers, 'sales.orders')) >= 3, 30_000, 'snapshot')
      await pg.sql(
        `INSERT INTO orders VALUES (4, 'item-4', 4);
         UPDATE orders SET qty = 100 WHERE id = 1;
         DELETE FROM orders WHERE id = 2;
         INSERT INTO refunds VALUES (3, 30);
         DELETE FROM refunds WHERE id = 1;`,
        [],
        'rt',
      )
      // orders: 3 r + c + u + d + tombstone = 7; refunds: 2 r + c + d + tombstone = 5.
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'sales.orders')) >= 7,
        30_000,
        'routed topic',
      )
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'rt.public.refunds')) >= 5,
        30_000,
        'default topic',
      )
      await waitFor(
        async () =>
          (await redis.exists('public.refunds:3')) === 1 && (await redis.exists('sale:orders:4')) === 1,
        30_000,
        'redis keys',
      )
      await waitFor(
        () => searchIds('sales-public-orders').join() === '1,3,4' && searchIds('refunds').join() === '2,3',
        30_000,
        'search documents',
      )

      // Kafka: the routed table's events (and only they) are on the routed topic, with
      // subjects named after it; the other table is on the sink's default topic.
      const d = new IndependentDecoder(registry.url)
      const orders = await decodeAll(d, await readTopic(kafka.brokers, 'sales.orders'))
      const refunds = await decodeAll(d, await readTopic(kafka.brokers, 'rt.public.refunds'))
      assert.deepEqual(
        ops(orders, (v) => v.op),
        { r: 3, c: 1, u: 1, d: 1, tombstone: 1 },
      )
      assert.deepEqual(
        ops(refunds, (v) => v.op),
        { r: 2, c: 1, d: 1, tombstone: 1 },
      )
      for (const r of orders.filter((x) => x.value)) {
        assert.equal((r.value!.source as { table: string }).table, 'orders')
        assert.equal(r.valueSchema, 'rt.public.orders.Envelope', 'record names do not follow the route')
      }
      for (const r of refunds.filter((x) => x.value))
        assert.equal((r.value!.source as { table: string }).table, 'refunds')
      assert.equal(
        await topicCount(kafka.brokers, 'rt.public.orders'),
        0,
        'nothing on the default orders topic',
      )
      const subs = await subjects()
      for (const s of ['sales.orders-key', 'sales.orders-value', 'rt.public.refunds-value'])
        assert.ok(subs.includes(s), `subject ${s} in ${subs.join(', ')}`)
      assert.ok(!subs.includes('rt.public.orders-value'), 'no subject for the unused default topic')

      // Redis: routed keys for orders, the default template for refunds.
      const rows = await rowKeys(redis)
      assert.deepEqual([...rows.keys()].sort(), [
        'public.refunds:2',
        'public.refunds:3',
        'sale:orders:1',
        'sale:orders:3',
        'sale:orders:4',
      ])
      assert.deepEqual(JSON.parse(rows.get('sale:orders:1')!), { id: 1, item: 'item-1', qty: 100 })
      assert.equal(await redis.exists('sluice:v:sale:orders:2'), 1, 'the delete left its tombstone version')

      // Search: routed index for orders, the default (`${table}`) for refunds.
      assert.ok(!search.indices().includes('orders'), `no default orders index in ${search.indices().join()}`)
      assert.deepEqual(search.docs('sales-public-orders').get('1'), { id: 1, item: 'item-1', qty: 100 })
      assert.deepEqual(search.docs('refunds').get('3'), { id: 3, amount: 30 })

      // A truncate of the routed table clears the routed keys (the sweep uses the route's
      // template) and goes to the routed topic; the search sink is set to ignore it.
      await pg.sql(`TRUNCATE orders; INSERT INTO orders VALUES (10, 'item-10', 10);`, [], 'rt')
      await waitFor(async () => (await topicCount(kafka.brokers, 'sales.orders')) >= 9, 30_000, 'truncate')
      await waitFor(async () => (await redis.exists('sale:orders:10')) === 1, 30_000, 'insert after truncate')
      // Records are read per partition (the mock cluster auto-creates 4): order the new ones by position.
      const seen = new Set(orders.map((r) => `${r.rec.partition}/${r.rec.offset}`))
      const added = byPosition(
        (await decodeAll(d, await readTopic(kafka.brokers, 'sales.orders'))).filter(
          (r) => !seen.has(`${r.rec.partition}/${r.rec.offset}`),
        ),
      )
      assert.deepEqual(
        added.map((r) => [r.value?.op, (r.value?.source as { table: string }).table]),
        [
          ['t', 'orders'],
          ['c', 'orders'],
        ],
      )
      assert.deepEqual([...(await rowKeys(redis)).keys()].sort(), [
        'public.refunds:2',
        'public.refunds:3',
        'sale:orders:10',
      ])
      await waitFor(
        () => searchIds('sales-public-orders').join() === '1,10,3,4',
        30_000,
        'search after truncate',
      )
      assert.equal(await topicCount(kafka.brokers, 'rt.public.orders'), 0)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('kafka unwrap: flat rows via the registry and via the schema topic, deletes rewritten, tombstones as configured', async () => {
    const url = await database('fl')
    await pg.sql(
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, qty int);
       CREATE TABLE logs (id int PRIMARY KEY, msg text);
       INSERT INTO items VALUES (1, 'one', 1), (2, 'two', 2);
       INSERT INTO logs VALUES (1, 'hello');`,
      [],
      'fl',
    )
    const t = tempDir()
    const p = start(
      yamlOf({
        name: 'fl',
        url,
        tables: ['public.items', 'public.logs'],
        dir: t.dir,
        sinks: `      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]
        topic: "\${prefix}.reg.\${table}"
        registry: ${registry.url}
        transforms:
          - type: unwrap
            tables: [public.items]
      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]
        topic: "\${prefix}.so.\${table}"
        tombstones: false
        transaction_topic: false
        transforms:
          - type: unwrap`,
      }),
      t.dir,
    )
    try {
      await waitFor(async () => (await topicCount(kafka.brokers, 'fl.so.items')) >= 2, 30_000, 'snapshot')
      await pg.sql(
        `INSERT INTO items VALUES (3, 'three', 3);
         UPDATE items SET name = 'uno' WHERE id = 1;
         DELETE FROM items WHERE id = 2;
         INSERT INTO logs VALUES (2, 'bye');`,
        [],
        'fl',
      )
      // registry sink: 2 r + c + u + d + tombstone; schema-topic sink: the same without the tombstone.
      await waitFor(async () => (await topicCount(kafka.brokers, 'fl.reg.items')) >= 6, 30_000, 'reg items')
      await waitFor(async () => (await topicCount(kafka.brokers, 'fl.so.items')) >= 5, 30_000, 'so items')
      await waitFor(async () => (await topicCount(kafka.brokers, 'fl.reg.logs')) >= 2, 30_000, 'reg logs')
      await waitFor(async () => (await topicCount(kafka.brokers, 'fl.so.logs')) >= 2, 30_000, 'so logs')

      const viaRegistry = new IndependentDecoder(registry.url)
      const viaTopic = new IndependentDecoder()
      viaTopic.loadSchemaTopic(await readTopic(kafka.brokers, 'fl.schemas'))
      const regItems = await decodeAll(viaRegistry, await readTopic(kafka.brokers, 'fl.reg.items'))
      const soItems = await decodeAll(viaTopic, await readTopic(kafka.brokers, 'fl.so.items'))
      const regLogs = await decodeAll(viaRegistry, await readTopic(kafka.brokers, 'fl.reg.logs'))
      const soLogs = await decodeAll(viaTopic, await readTopic(kafka.brokers, 'fl.so.logs'))

      assert.equal(regItems.length, 6)
      assert.equal(soItems.length, 5)
      assert.deepEqual(
        ops(regItems, (v) => v.__op),
        { r: 2, c: 1, u: 1, d: 1, tombstone: 1 },
      )
      assert.deepEqual(
        ops(soItems, (v) => v.__op),
        { r: 2, c: 1, u: 1, d: 1 },
        'tombstones: false writes none',
      )

      const byOp = (l: readonly Decoded[], op: string): Decoded =>
        l.find((r) => r.value?.__op === op && (op !== 'r' || r.key?.id === 1))!
      for (const [what, list] of [
        ['registry', regItems],
        ['schema topic', soItems],
      ] as const) {
        for (const r of list) {
          assert.equal(r.keySchema, 'fl.public.items.Key', `${what}: the key is the Key record`)
          if (!r.value) continue
          assert.equal(r.valueSchema, 'fl.public.items.Value', `${what}: the value is the flat row record`)
          assert.deepEqual(Object.keys(r.value), [
            'id',
            'name',
            'qty',
            '__op',
            '__table',
            '__position',
            '__deleted',
          ])
          assert.equal(r.value.__table, 'items')
          assert.equal(r.value.__position, r.rec.headers['sluice.position'], `${what}: __position = header`)
          assert.equal(r.value.id, r.key!.id)
          assert.equal(r.value.__deleted, r.value.__op === 'd' ? 'true' : 'false')
        }
        assert.deepEqual(
          { ...byOp(list, 'r').value },
          { ...byOp(list, 'r').value, id: 1, name: 'one', qty: 1, __op: 'r', __deleted: 'false' },
        )
        assert.deepEqual(
          { ...byOp(list, 'u').value },
          { ...byOp(list, 'u').value, id: 1, name: 'uno', qty: 1, __op: 'u' },
        )
        // Without REPLICA IDENTITY FULL a delete has the key only: the other columns are null.
        assert.deepEqual(
          { ...byOp(list, 'd').value },
          { ...byOp(list, 'd').value, id: 2, name: null, qty: null, __op: 'd', __deleted: 'true' },
        )
        assert.equal(byOp(list, 'd').rec.headers['sluice.op'], 'd')
      }
      // The tombstone follows its rewritten delete, with the same key.
      const del = regItems.findIndex((r) => r.value?.__op === 'd')
      assert.equal(regItems[del + 1]!.value, null)
      assert.deepEqual({ ...regItems[del + 1]!.key }, { id: 2 })
      assert.equal(regItems[del + 1]!.rec.partition, regItems[del]!.rec.partition)

      // The registry holds the flat record under `<topic>-value`; logs (outside the first
      // sink's unwrap tables) stay envelopes there, and are flat in the second sink.
      const flat = await latestSchema('fl.reg.items-value')
      assert.equal(flat.name, 'fl.public.items.Value')
      assert.ok(flat.fields.some((f) => f.name === '__deleted'))
      assert.equal((await latestSchema('fl.reg.items-key')).name, 'fl.public.items.Key')
      assert.deepEqual(
        byPosition(regLogs).map((r) => [r.valueSchema, r.value?.op]),
        [
          ['fl.public.logs.Envelope', 'r'],
          ['fl.public.logs.Envelope', 'c'],
        ],
      )
      assert.deepEqual(
        byPosition(soLogs).map((r) => [r.valueSchema, r.value?.__op, r.value?.msg]),
        [
          ['fl.public.logs.Value', 'r', 'hello'],
          ['fl.public.logs.Value', 'c', 'bye'],
        ],
      )
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('mask (hash) through kafka: no topic holds an original value or the secret, only the hashes', async () => {
    const url = await database('mk')
    const emails = [
      'canary-alice@private.example',
      'canary-bob@private.example',
      'canary-new@private.example',
    ]
    const changed = 'canary-changed@private.example'
    await pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, email text, plan text);
       ALTER TABLE accounts REPLICA IDENTITY FULL;
       INSERT INTO accounts VALUES (1, '${emails[0]}', 'free'), (2, '${emails[1]}', 'pro');`,
      [],
      'mk',
    )
    const t = tempDir()
    const p = start(
      yamlOf({
        name: 'mk',
        url,
        tables: ['public.accounts'],
        dir: t.dir,
        transforms: `      - type: mask
        columns: [public.accounts.email]
        with: hash
        secret: \${MASK_SECRET}`,
        sinks: `      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]
        registry: ${registry.url}
      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]
        topic: "\${prefix}.flat.\${table}"
        transaction_topic: false
        transforms:
          - type: unwrap`,
      }),
      t.dir,
      { MASK_SECRET: SECRET },
    )
    try {
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'mk.flat.accounts')) >= 2,
        30_000,
        'snapshot',
      )
      await pg.sql(
        `INSERT INTO accounts VALUES (3, '${emails[2]}', 'free');
         UPDATE accounts SET email = '${changed}' WHERE id = 1;
         DELETE FROM accounts WHERE id = 2;`,
        [],
        'mk',
      )
      // 2 r + c + u + d + tombstone on each topic.
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'mk.public.accounts')) >= 6,
        30_000,
        'envelopes',
      )
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'mk.flat.accounts')) >= 6,
        30_000,
        'flat rows',
      )

      // Every byte of every topic: keys, values and headers.
      const topics = await withAdmin(kafka.brokers, (a) => a.listTopics())
      for (const want of ['mk.public.accounts', 'mk.flat.accounts', 'mk.schemas', 'mk.transaction'])
        assert.ok(topics.includes(want), `topic ${want} in ${topics.join(', ')}`)
      const chunks: Buffer[] = []
      for (const topic of topics) {
        for (const r of await readTopic(kafka.brokers, topic)) {
          if (r.key) chunks.push(r.key)
          if (r.value) chunks.push(r.value)
          for (const [k, v] of Object.entries(r.headers)) chunks.push(Buffer.from(`${k}=${v}`))
        }
      }
      const all = Buffer.concat(chunks)
      for (const secret of [...emails, changed, SECRET])
        assert.ok(!all.includes(Buffer.from(secret)), `'${secret}' appears in a topic`)
      for (const original of [...emails, changed])
        assert.ok(all.includes(Buffer.from(hmac(original))), `the hash of '${original}' is in the topics`)

      // And the hashes are where the values were: envelope before/after, flat rows.
      const d = new IndependentDecoder(registry.url)
      d.loadSchemaTopic(await readTopic(kafka.brokers, 'mk.schemas'))
      const env = await decodeAll(d, await readTopic(kafka.brokers, 'mk.public.accounts'))
      const update = env.find((r) => r.value?.op === 'u')!.value!
      assert.equal((update.before as { email: string }).email, hmac(emails[0]!))
      assert.equal((update.after as { email: string }).email, hmac(changed))
      const del = env.find((r) => r.value?.op === 'd')!.value!
      assert.equal((del.before as { email: string }).email, hmac(emails[1]!))
      const flat = await decodeAll(d, await readTopic(kafka.brokers, 'mk.flat.accounts'))
      const flatDelete = flat.find((r) => r.value?.__op === 'd')!.value!
      assert.deepEqual(
        { id: flatDelete.id, email: flatDelete.email, plan: flatDelete.plan, deleted: flatDelete.__deleted },
        { id: 2, email: hmac(emails[1]!), plan: 'pro', deleted: 'true' },
      )
      assert.equal(flat.find((r) => r.value?.__op === 'c')!.value!.email, hmac(emails[2]!))
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('a route template a sink cannot fill stops the pipeline with TRANSFORM_ROUTE_TEMPLATE naming the route', async () => {
    const url = await database('bad')
    await pg.sql(`CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders VALUES (1);`, [], 'bad')
    const cases = [
      {
        route: 'topic: "orders.${id}"',
        sink: `      - type: kafka
        brokers: [${kafka.brokers.join(', ')}]`,
        message: /route transform's topic 'orders\.\$\{id\}'.*unknown placeholder '\$\{id\}'/,
      },
      {
        route: 'key: "order:${table}"',
        sink: `      - type: redis
        url: ${redisServer.url}`,
        message: /route transform's key 'order:\$\{table\}'.*must contain '\$\{key\}'/,
      },
      {
        route: 'index: "orders-${id}"',
        sink: `      - type: elasticsearch
        url: ${search.url}`,
        message: /route transform's index 'orders-\$\{id\}'.*unknown variable\(s\) \$\{id\}/,
      },
    ]
    for (const [i, c] of cases.entries()) {
      const t = tempDir()
      const p = start(
        yamlOf({
          name: `bad${i}`,
          url,
          tables: ['public.orders'],
          dir: t.dir,
          transforms: `      - type: route\n        ${c.route}`,
          sinks: c.sink,
        }),
        t.dir,
      )
      try {
        const err = await p.done.then(
          () => null,
          (e: unknown) => e,
        )
        assert.ok(err instanceof Error, `case ${i}: the pipeline stops with an error`)
        assert.equal(
          (err as Error & { code?: string }).code,
          'TRANSFORM_ROUTE_TEMPLATE',
          (err as Error).message,
        )
        assert.match((err as Error).message, c.message)
        assert.match((err as Error).message, /fix the route's/)
      } finally {
        await p.stop().catch(() => undefined)
        t.cleanup()
      }
    }
    assert.equal(await redis.exists('order:orders'), 0, 'the redis sink wrote nothing under the bad key')
    assert.ok(!search.indices().some((x) => x.startsWith('orders-')), 'no index from the bad template')
  })
})
