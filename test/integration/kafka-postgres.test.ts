import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { buildPipeline } from '../../cli/run.js'
import { parseConfigText } from '../../config/index.js'
import { ChangeEventDecoder } from '../../decoder/index.js'
import { partitionForKey } from '../../sinks/kafka/partitioner.js'
import {
  checkPerKeyOrder,
  decodeAll,
  freshPrefix,
  IndependentDecoder,
  kafkaPipelineYaml,
  partitionCount,
  readTopic,
  topicCount,
  type Decoded,
} from './helpers/kafka.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startKafka, startKafkaProxy, type KafkaServer } from './servers/kafka.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRegistry, type RegistryServer } from './servers/registry-fake.js'

let pg: PgServer
let kafka: KafkaServer
let registry: RegistryServer

before(async () => {
  pg = await startPostgres()
  kafka = await startKafka()
  registry = await startRegistry()
})
after(async () => {
  await pg?.stop()
  await kafka?.stop()
  await registry?.stop()
})

/** Each test uses its own database, pipeline name (topic prefix) and tables. */
async function database(name: string): Promise<string> {
  await freshPrefix(kafka, registry, name)
  await pg.sql(`CREATE DATABASE ${name}`)
  return pg.urlFor(name)
}

const pgSource = (url: string, tables: string[], snapshot = 'initial'): string =>
  `      type: postgres
      url: ${url}
      tables: [${tables.join(', ')}]
      snapshot: ${snapshot}`

const statePosition = (dir: string, name: string): string | null => {
  try {
    return (JSON.parse(readFileSync(join(dir, 'state', `${name}.json`), 'utf8')) as { position: string })
      .position
  } catch {
    return null
  }
}

describe('postgres to kafka', () => {
  test('registry: every event once, Debezium names, key partitioning, tombstones, transaction metadata', async () => {
    const url = await database('reg')
    await pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2));
       CREATE TABLE orders (id bigint PRIMARY KEY, account int NOT NULL, total int);
       INSERT INTO accounts SELECT g, 'n' || g, g * 1.5 FROM generate_series(1, 50) g;`,
      [],
      'reg',
    )
    const t = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'reg',
        source: pgSource(url, ['public.accounts', 'public.orders']),
        dir: t.dir,
        brokers: kafka.brokers,
        registry: registry.url,
      }),
      t.dir,
    )
    try {
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'reg.public.accounts')) >= 50,
        30_000,
        'snapshot',
      )
      // 3 transactions: 2 tables in one, updates and deletes of the same keys in order.
      await pg.sql(
        `BEGIN;
         INSERT INTO accounts VALUES (51, 'new', 1);
         INSERT INTO orders SELECT g, g % 5 + 1, g FROM generate_series(1, 20) g;
         COMMIT;
         BEGIN; UPDATE accounts SET balance = balance + 1 WHERE id <= 10; DELETE FROM orders WHERE id <= 5; COMMIT;
         BEGIN; UPDATE accounts SET name = 'again' WHERE id <= 3; DELETE FROM accounts WHERE id = 3; COMMIT;`,
        [],
        'reg',
      )
      // accounts: 50 r + 1 c + 10 u + 3 u + 1 d + 1 tombstone = 66; orders: 20 c + 5 d + 5 tombstones = 30
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'reg.public.accounts')) >= 66,
        30_000,
        'accounts',
      )
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'reg.public.orders')) >= 30,
        30_000,
        'orders',
      )
      await waitFor(async () => (await topicCount(kafka.brokers, 'reg.transaction')) >= 6, 30_000, 'tx topic')

      const d = new IndependentDecoder(registry.url)
      const accounts = await decodeAll(d, await readTopic(kafka.brokers, 'reg.public.accounts'))
      const orders = await decodeAll(d, await readTopic(kafka.brokers, 'reg.public.orders'))
      assert.equal(accounts.length, 66)
      assert.equal(orders.length, 30)
      const ops = (l: Decoded[]): Record<string, number> =>
        l.reduce<Record<string, number>>(
          (m, r) => (
            (m[r.value ? (r.value.op as string) : 'tombstone'] =
              (m[r.value ? (r.value.op as string) : 'tombstone'] ?? 0) + 1),
            m
          ),
          {},
        )
      assert.deepEqual(ops(accounts), { r: 50, c: 1, u: 13, d: 1, tombstone: 1 })
      assert.deepEqual(ops(orders), { c: 20, d: 5, tombstone: 5 })
      assert.deepEqual(
        new Set(accounts.filter((r) => r.value?.op === 'r').map((r) => r.key!.id)),
        new Set(Array.from({ length: 50 }, (_, i) => i + 1)),
      )
      checkPerKeyOrder(accounts)
      checkPerKeyOrder(orders)

      // Debezium record names, and the Confluent TopicNameStrategy subjects.
      assert.equal(accounts[0]!.keySchema, 'reg.public.accounts.Key')
      assert.equal(accounts[0]!.valueSchema, 'reg.public.accounts.Envelope')
      const env = accounts.find((r) => r.value?.op === 'u')!.value!
      assert.deepEqual(Object.keys(env), ['before', 'after', 'source', 'transaction', 'op', 'ts_ms'])
      assert.equal((env.source as { connector: string }).connector, 'postgresql')
      assert.equal((env.after as { name: string }).name.length > 0, true)
      if (registry.fake) {
        for (const s of [
          'reg.public.accounts-key',
          'reg.public.accounts-value',
          'reg.public.orders-value',
          'reg.transaction-value',
        ])
          assert.equal(registry.registrations.get(s), 1, `subject ${s} registered once`)
      }

      // Partition = toPositive(murmur2(serialized key)) % partitions, as the Java client.
      const parts = await partitionCount(kafka.brokers, 'reg.public.orders')
      for (const r of [...accounts, ...orders]) {
        assert.equal(r.rec.partition, partitionForKey(r.rec.key!, parts), 'murmur2 partition')
        assert.ok(['r', 'c', 'u', 'd'].includes(r.rec.headers['sluice.op']!))
      }

      // Transaction metadata: BEGIN and END per transaction, END counts equal to the events.
      const txs = await decodeAll(d, await readTopic(kafka.brokers, 'reg.transaction'))
      const begins = txs.filter((r) => r.value!.status === 'BEGIN')
      const ends = txs.filter((r) => r.value!.status === 'END')
      assert.equal(begins.length, 3)
      assert.equal(ends.length, 3)
      assert.equal(txs[0]!.valueSchema, 'io.debezium.connector.common.TransactionMetadataValue')
      const events = [...accounts, ...orders].filter((r) => r.value && r.value.transaction)
      for (const e of ends) {
        const id = e.value!.id as string
        const mine = events.filter((r) => (r.value!.transaction as { id: string }).id === id)
        assert.equal(e.value!.event_count, mine.length, `END of ${id} counts its events`)
        const perTable = e.value!.data_collections as { data_collection: string; event_count: number }[]
        for (const dc of perTable) {
          const n = mine.filter(
            (r) => `public.${(r.value!.source as { table: string }).table}` === dc.data_collection,
          ).length
          assert.equal(dc.event_count, n, `${dc.data_collection} count in ${id}`)
        }
        assert.ok(
          begins.some((b) => b.value!.id === id && b.rec.partition === e.rec.partition),
          'BEGIN before END, same partition',
        )
      }
      assert.deepEqual(
        ends.map((e) => e.value!.event_count as number).sort((a, b) => a - b),
        [4, 15, 21],
      )
      // Sluice's own decoder reads the same records.
      const own = new ChangeEventDecoder({ registry: registry.url })
      const firstEnv = (await own.decode(accounts[0]!.rec.value)) as { op: string; after: { id: number } }
      assert.equal(firstEnv.after.id, accounts[0]!.key!.id)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('no registry: single-object encoding, schemas on <prefix>.schemas, a nullable column added mid-stream decodes on both sides', async () => {
    const url = await database('so')
    await pg.sql(
      `CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'one'), (2, 'two')`,
      [],
      'so',
    )
    const t = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'so',
        source: pgSource(url, ['public.items']),
        dir: t.dir,
        brokers: kafka.brokers,
      }),
      t.dir,
    )
    try {
      await waitFor(async () => (await topicCount(kafka.brokers, 'so.public.items')) >= 2, 30_000, 'snapshot')
      await pg.sql(`INSERT INTO items VALUES (3, 'three')`, [], 'so')
      await pg.sql(`ALTER TABLE items ADD COLUMN note text`, [], 'so')
      await pg.sql(
        `INSERT INTO items VALUES (4, 'four', 'noted'); UPDATE items SET note = 'later' WHERE id = 1; DELETE FROM items WHERE id = 2`,
        [],
        'so',
      )
      // 2 r + 1 c + 1 c + 1 u + 1 d + 1 tombstone
      await waitFor(async () => (await topicCount(kafka.brokers, 'so.public.items')) >= 7, 30_000, 'stream')
      const schemaRecs = await readTopic(kafka.brokers, 'so.schemas')
      const d = new IndependentDecoder()
      d.loadSchemaTopic(schemaRecs)
      const recs = await readTopic(kafka.brokers, 'so.public.items')
      for (const r of recs) assert.deepEqual([...r.key!.subarray(0, 2)], [0xc3, 0x01], 'single-object key')
      const items = await decodeAll(d, recs)
      assert.equal(items.length, 7)
      checkPerKeyOrder(items)
      const byPos = items
        .filter((r) => r.value)
        .sort((a, b) => (a.rec.headers['sluice.position']! < b.rec.headers['sluice.position']! ? -1 : 1))
      assert.deepEqual(
        byPos.map((r) => r.value!.op),
        ['r', 'r', 'c', 'c', 'u', 'd'],
      )
      const before = byPos[2]!.value!.after as Record<string, unknown>
      const afterChange = byPos[3]!.value!.after as Record<string, unknown>
      assert.deepEqual(Object.keys(before), ['id', 'label'])
      assert.deepEqual({ ...afterChange }, { id: 4, label: 'four', note: 'noted' })
      assert.equal((byPos[4]!.value!.after as { note: string }).note, 'later')
      // Two Envelope versions (and the key, and the transaction schemas) are on the schema topic, each before first use.
      const envelopes = schemaRecs.filter((r) => JSON.parse(r.value!.toString()).name === 'Envelope')
      assert.equal(envelopes.length, 2)
      assert.ok(schemaRecs.some((r) => JSON.parse(r.value!.toString()).name === 'TransactionMetadataValue'))
      // Sluice's decoder, fed from the schema topic, verifies fingerprints and decodes the same.
      const own = new ChangeEventDecoder()
      for (const r of schemaRecs) own.addSchema(r.key!.toString(), r.value!.toString())
      for (const r of items) {
        const v = (await own.decode(r.rec.value)) as { op: string } | null
        assert.equal(v?.op ?? null, (r.value?.op as string | undefined) ?? null)
      }
      const txs = await readTopic(kafka.brokers, 'so.transaction')
      // Two streamed transactions (the last statement list ran as one), a BEGIN and an END each.
      assert.equal(txs.length, 4, 'BEGIN and END of the two streamed transactions')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('registry: a compatible change adds a version; a 409 stops the pipeline before the incompatible event', async () => {
    const url = await database('evo')
    await pg.sql(
      `CREATE TABLE things (id int PRIMARY KEY, a text); INSERT INTO things VALUES (1, 'x')`,
      [],
      'evo',
    )
    const t = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'evo',
        source: pgSource(url, ['public.things']),
        dir: t.dir,
        brokers: kafka.brokers,
        registry: registry.url,
      }),
      t.dir,
    )
    try {
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'evo.public.things')) >= 1,
        30_000,
        'snapshot',
      )
      await pg.sql(`ALTER TABLE things ADD COLUMN b int`, [], 'evo')
      await pg.sql(`INSERT INTO things VALUES (2, 'y', 7)`, [], 'evo')
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'evo.public.things')) >= 2,
        30_000,
        'compatible change',
      )
      await waitFor(() => statePosition(t.dir, 'evo')?.startsWith('0') ?? false, 10_000, 'commit')
      const res = await fetch(`${registry.url}/subjects/evo.public.things-value/versions`)
      assert.deepEqual(await res.json(), [1, 2], 'the nullable column made version 2')

      // A NOT NULL column without an Avro default: the new Envelope cannot read old data (BACKWARD).
      await pg.sql(`ALTER TABLE things ADD COLUMN c int NOT NULL DEFAULT 0`, [], 'evo')
      const lsn = (await pg.sql<{ lsn: string }>(`SELECT pg_current_wal_lsn()::text AS lsn`, [], 'evo'))[0]!
        .lsn
      await pg.sql(`INSERT INTO things VALUES (3, 'z', 8, 9)`, [], 'evo')
      const err = await p.done.then(
        () => null,
        (e: unknown) => e as { code?: string; message: string },
      )
      assert.ok(err, 'the pipeline stopped with an error')
      assert.equal(err.code, 'KAFKA_SCHEMA_INCOMPATIBLE')
      assert.match(err.message, /public\.things/)
      assert.match(err.message, /evo\.public\.things-value/)
      assert.match(err.message, /Registered schema \(version 2\)/)
      assert.match(err.message, /"name":"c"/, 'the new schema is in the message')
      const pos = statePosition(t.dir, 'evo')!
      const [hi, lo] = lsn.split('/').map((h) => BigInt('0x' + h)) as [bigint, bigint]
      assert.ok(
        BigInt('0x' + pos.slice(0, 16)) < (hi << 32n) + lo,
        `state position ${pos} stays before the failing event (after ${lsn})`,
      )
      assert.equal(
        await topicCount(kafka.brokers, 'evo.public.things'),
        2,
        'nothing after the change was delivered',
      )
    } finally {
      await p.stop().catch(() => undefined)
      t.cleanup()
    }
  })

  test('brokers unreachable for 10 s under load: no loss, and the position does not move meanwhile', async () => {
    const url = await database('cut')
    await pg.sql(`CREATE TABLE ev (id int PRIMARY KEY, n int NOT NULL)`, [], 'cut')
    const proxy = await startKafkaProxy(kafka.brokers)
    const t = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'cut',
        source: pgSource(url, ['public.ev']),
        dir: t.dir,
        brokers: proxy.brokers,
      }),
      t.dir,
    )
    // Load starts once the (empty) snapshot is committed, so every change is streamed.
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'snapshot commit')
    let stopLoad = false
    let written = 0
    let updates = 0
    // Each transaction inserts 50 rows and bumps n of 20 hot keys, so per-key order and loss
    // show in the hot keys' n sequence (id, id + 1, id + 2, ...).
    const load = (async () => {
      while (!stopLoad) {
        await pg.sql(
          `INSERT INTO ev SELECT g, g FROM generate_series(${written + 1}, ${written + 50}) g;
           UPDATE ev SET n = n + 1 WHERE id <= 20`,
          [],
          'cut',
        )
        written += 50
        updates += 20
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    try {
      await waitFor(
        async () => (await topicCount(kafka.brokers, 'cut.public.ev')) >= 500,
        30_000,
        'load flowing',
      )
      await proxy.cut()
      await new Promise((r) => setTimeout(r, 2000))
      const during = statePosition(t.dir, 'cut')
      const delivered = await topicCount(kafka.brokers, 'cut.public.ev')
      await new Promise((r) => setTimeout(r, 8000))
      assert.equal(
        statePosition(t.dir, 'cut'),
        during,
        'the state position does not move while the brokers are unreachable',
      )
      assert.equal(
        await topicCount(kafka.brokers, 'cut.public.ev'),
        delivered,
        'nothing reached the brokers meanwhile',
      )
      assert.ok(
        written > delivered + 500,
        `the source kept producing (${written} rows written, ${delivered} delivered)`,
      )
      await proxy.restore()
      await new Promise((r) => setTimeout(r, 1000))
      stopLoad = true
      await load
      let have = 0
      await waitFor(
        async () => (have = await topicCount(kafka.brokers, 'cut.public.ev')) >= written + updates,
        60_000,
        'catch-up',
      ).catch((err: Error) => {
        throw new Error(`${err.message}: ${have} records, ${written} + ${updates} expected`)
      })
      await waitFor(() => statePosition(t.dir, 'cut') !== during, 10_000, 'position moves again')
      const d = new IndependentDecoder()
      d.loadSchemaTopic(await readTopic(kafka.brokers, 'cut.schemas'))
      const recs = await decodeAll(d, await readTopic(kafka.brokers, 'cut.public.ev'))
      const ids = new Set(recs.map((r) => (r.key as { id: number }).id))
      assert.equal(ids.size, written, 'every row arrived')
      checkPerKeyOrder(recs)
      const final = await pg.sql<{ id: number; n: number }>(`SELECT id, n FROM ev WHERE id <= 20`, [], 'cut')
      for (const { id, n } of final) {
        const seen: number[] = []
        for (const r of recs) {
          const after = r.value?.after as { id: number; n: number } | undefined
          if (after?.id === id && after.n > (seen.at(-1) ?? -1)) seen.push(after.n)
        }
        assert.deepEqual(
          seen,
          Array.from({ length: n - id + 1 }, (_, i) => id + i),
          `hot key ${id}: every update, in order (replays aside)`,
        )
      }
    } finally {
      stopLoad = true
      await load.catch(() => undefined)
      await p.stop().catch(() => undefined)
      await proxy.stop()
      t.cleanup()
    }
  })

  test('registry basic auth: credentials from the URL are sent, never logged, and a wrong password is a clear error', async () => {
    const secured = await startRegistry({ auth: { user: 'sluice', password: 's3cret-pw' }, fake: true })
    const url = await database('auth')
    await pg.sql(`CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1)`, [], 'auth')
    const lines: string[] = []
    const sinkLog = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString())
        cb()
      },
    })
    const dirs: (() => void)[] = []
    const run = (password: string, name: string): { done: Promise<void>; stop: () => void; dir: string } => {
      const t = tempDir()
      dirs.push(t.cleanup)
      const yaml = kafkaPipelineYaml({
        name,
        source: pgSource(url, ['public.t']),
        dir: t.dir,
        brokers: kafka.brokers,
        registry: secured.url.replace('http://', `http://sluice:${password}@`),
      })
      const { config } = parseConfigText(yaml, join(t.dir, 'sluice.yaml'), {})
      const runner = buildPipeline(config.pipelines[0]!, config, pino({ level: 'debug' }, sinkLog))
      const ac = new AbortController()
      const done = runner.run(ac.signal)
      done.catch(() => undefined)
      return { done, stop: () => ac.abort(), dir: t.dir }
    }
    try {
      const ok = run('s3cret-pw', 'auth')
      await waitFor(async () => (await topicCount(kafka.brokers, 'auth.public.t')) >= 1, 30_000, 'record')
      ok.stop()
      await ok.done
      const expected = 'Basic ' + Buffer.from('sluice:s3cret-pw').toString('base64')
      assert.ok(secured.authHeaders.length >= 2 && secured.authHeaders.every((h) => h === expected))
      assert.ok(
        lines.some((l) => l.includes('kafka sink open')),
        'the sink logged',
      )
      assert.ok(
        lines.some((l) => l.includes(secured.url)),
        'the registry URL is logged without credentials',
      )

      const bad = run('wrong-pw', 'auth2')
      const err = (await bad.done.then(
        () => null,
        (e: unknown) => e,
      )) as { code: string; message: string } | null
      assert.equal(err?.code, 'KAFKA_REGISTRY_AUTH')
      assert.match(err.message, /registry_username/)
      assert.ok(!err.message.includes('wrong-pw'))
      for (const l of lines) {
        assert.ok(
          !l.includes('s3cret-pw') && !l.includes('wrong-pw'),
          `a log line holds a password: ${l.slice(0, 200)}`,
        )
        assert.ok(!l.includes(expected.slice(6)), 'a log line holds the basic-auth token')
      }
    } finally {
      await secured.stop()
      for (const c of dirs) c()
    }
  })

  test('options: tombstones off, no transaction topic, RecordNameStrategy subjects, gzip', async () => {
    const url = await database('opt')
    await pg.sql(
      `CREATE TABLE o (id int PRIMARY KEY, v text); INSERT INTO o VALUES (1, 'a'), (2, 'b')`,
      [],
      'opt',
    )
    const t = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'opt',
        source: pgSource(url, ['public.o']),
        dir: t.dir,
        brokers: kafka.brokers,
        registry: registry.url,
        extraSink: `        tombstones: false
        transaction_topic: false
        subject_strategy: record
        compression: gzip`,
      }),
      t.dir,
    )
    try {
      await waitFor(async () => (await topicCount(kafka.brokers, 'opt.public.o')) >= 2, 30_000, 'snapshot')
      await pg.sql(`DELETE FROM o WHERE id = 1; INSERT INTO o VALUES (3, 'c')`, [], 'opt')
      await waitFor(async () => (await topicCount(kafka.brokers, 'opt.public.o')) >= 4, 30_000, 'stream')
      await waitFor(() => statePosition(t.dir, 'opt')?.includes('.1.') ?? false, 10_000, 'streamed commit')
      const d = new IndependentDecoder(registry.url)
      const recs = await decodeAll(d, await readTopic(kafka.brokers, 'opt.public.o'))
      assert.equal(recs.length, 4, 'no tombstone after the delete')
      assert.ok(recs.every((r) => r.value !== null))
      assert.equal(recs.filter((r) => r.value!.op === 'd').length, 1)
      assert.equal(await topicCount(kafka.brokers, 'opt.transaction'), 0, 'no transaction topic')
      const subjects = (await (await fetch(`${registry.url}/subjects`)).json()) as string[]
      assert.ok(subjects.includes('opt.public.o.Key'), 'RecordNameStrategy key subject')
      assert.ok(subjects.includes('opt.public.o.Envelope'), 'RecordNameStrategy value subject')
      assert.ok(!subjects.some((s) => s.startsWith('opt.public.o-')), 'no TopicNameStrategy subjects')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })
})
