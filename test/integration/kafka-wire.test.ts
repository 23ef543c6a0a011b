import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { partitionForKey } from '../../sinks/kafka/partitioner.js'
import { WireProducer } from '../../sinks/kafka/wire/producer.js'
import type { ProducePartition } from '../../sinks/kafka/wire/protocol.js'
import { HeaderKey, RecordBatchBuilder } from '../../sinks/kafka/wire/record-batch.js'
import {
  decodeAll,
  freshPrefix,
  IndependentDecoder,
  kafkaPipelineYaml,
  readTopic,
  topicCount,
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

const log = pino({ level: 'silent' })
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))
const producer = (brokers: string[]): WireProducer =>
  new WireProducer({ brokers, clientId: 'wire-test', requestTimeoutMs: 5000, connectTimeoutMs: 2000, log })

describe("Sluice's own kafka producer on the mock cluster", () => {
  test('batches for every partition of two topics arrive whole, in order, with headers, read back by kafkajs', async () => {
    const p = producer(kafka.brokers)
    await p.connect()
    try {
      const h = new HeaderKey('sluice.position')
      const topics = ['wire.a', 'wire.b']
      const parts: ProducePartition[] = []
      const sent = new Map<string, string[]>()
      for (const topic of topics) {
        const n = await p.partitionCount(topic, sleep)
        assert.equal(n, 4, 'auto-created with the mock cluster default of 4 partitions')
        const builders = Array.from({ length: n }, () => new RecordBatchBuilder())
        for (let i = 0; i < 2000; i++) {
          const key = Buffer.from(`${topic}-key-${i % 37}`)
          const part = partitionForKey(key, n)
          builders[part]!.append(key, i % 100 === 99 ? null : Buffer.from(`value ${i}`), h, `pos-${i}`)
          const k = `${topic}/${part}`
          sent.set(k, [...(sent.get(k) ?? []), String(i)])
        }
        builders.forEach((b, partition) => parts.push({ topic, partition, batch: b.finish() }))
      }
      const failures = await p.produce(parts, -1, 5000)
      assert.deepEqual(failures, [])
      for (const topic of topics) {
        const recs = await readTopic(kafka.brokers, topic)
        assert.equal(recs.length, 2000)
        for (const r of recs) {
          const i = Number(r.headers['sluice.position']!.slice(4))
          assert.equal(r.key!.toString(), `${topic}-key-${i % 37}`)
          assert.equal(r.value === null ? null : r.value.toString(), i % 100 === 99 ? null : `value ${i}`)
          assert.equal(r.partition, partitionForKey(r.key!, 4), 'the partition the key hashes to')
        }
        for (let part = 0; part < 4; part++) {
          const got = recs
            .filter((r) => r.partition === part)
            .map((r) => r.headers['sluice.position']!.slice(4))
          assert.deepEqual(got, sent.get(`${topic}/${part}`), `order of ${topic}[${part}]`)
        }
      }
    } finally {
      p.close()
    }
  })

  test('unreachable brokers: connect fails; a cut mid-run returns retriable failures, and after restore the retry lands', async () => {
    const dead = producer(['127.0.0.1:1'])
    await assert.rejects(dead.connect(), /ECONNREFUSED|connection/)
    dead.close()
    const proxy = await startKafkaProxy(kafka.brokers)
    const p = producer(proxy.brokers)
    try {
      await p.connect()
      const n = await p.partitionCount('wire.cut', sleep)
      const batch = (): { topic: string; partition: number; batch: Buffer }[] => {
        const b = new RecordBatchBuilder()
        b.append(Buffer.from('k'), Buffer.from('v'))
        return [{ topic: 'wire.cut', partition: partitionForKey(Buffer.from('k'), n), batch: b.finish() }]
      }
      assert.deepEqual(await p.produce(batch(), -1, 5000), [])
      await proxy.cut()
      const failures = await p.produce(batch(), -1, 5000)
      assert.equal(failures.length, 1)
      assert.equal(failures[0]!.retriable, true)
      assert.equal(failures[0]!.code, null, 'no broker answer: a connection failure')
      assert.equal(await topicCount(kafka.brokers, 'wire.cut'), 1, 'nothing landed while cut')
      await proxy.restore()
      let left = batch()
      for (let i = 0; i < 20 && left.length > 0; i++) {
        left = (await p.produce(left, -1, 5000)).map((f) => f.part)
        if (left.length > 0) await sleep(200)
      }
      assert.deepEqual(left, [], 'the retry after restore is acknowledged')
      assert.equal(await topicCount(kafka.brokers, 'wire.cut'), 2)
    } finally {
      p.close()
      await proxy.stop()
    }
  })
})

describe('kafka heartbeat topic', () => {
  test('written every interval_ms while no table changes, keyed by the prefix, carrying the last delivered position', async () => {
    await freshPrefix(kafka, registry, 'hb')
    await pg.sql(`CREATE DATABASE hb`)
    await pg.sql(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')`, [], 'hb')
    const tmp = tempDir()
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'hb',
        source: `      type: postgres\n      url: ${pg.urlFor('hb')}\n      tables: [public.t]\n      snapshot: initial`,
        dir: tmp.dir,
        brokers: kafka.brokers,
        extraSink: '        heartbeat:\n          interval_ms: 300\n',
      }),
      tmp.dir,
    )
    const topic = '__sluice-heartbeat.hb'
    try {
      await waitFor(async () => (await topicCount(kafka.brokers, 'hb.public.t')) >= 1, 30_000, 'snapshot')
      const quietFrom = await topicCount(kafka.brokers, topic)
      await sleep(2000)
      const quietTo = await topicCount(kafka.brokers, topic)
      assert.ok(quietTo - quietFrom >= 3, `heartbeats while nothing changes (${quietTo - quietFrom} in 2 s)`)
      assert.equal(await topicCount(kafka.brokers, 'hb.public.t'), 1, 'no table record meanwhile')
      await pg.sql(`INSERT INTO t VALUES (2, 'b')`, [], 'hb')
      await waitFor(async () => (await topicCount(kafka.brokers, 'hb.public.t')) >= 2, 30_000, 'stream')
      const d = new IndependentDecoder()
      d.loadSchemaTopic(await readTopic(kafka.brokers, 'hb.schemas'))
      const rows = await decodeAll(d, await readTopic(kafka.brokers, 'hb.public.t'))
      const insertPos = rows.find((r) => r.value?.op === 'c')!.rec.headers['sluice.position']!
      let beats: Awaited<ReturnType<typeof decodeAll>> = []
      await waitFor(
        async () => {
          beats = await decodeAll(d, await readTopic(kafka.brokers, topic))
          const last = beats.at(-1)?.value?.position as string | null | undefined
          return typeof last === 'string' && last >= insertPos
        },
        10_000,
        'a heartbeat with the position of the insert',
      )
      for (const b of beats) {
        assert.deepEqual({ ...b.key }, { serverName: 'hb' })
        assert.equal(b.keySchema, 'io.sluice.heartbeat.ServerNameKey')
        assert.equal(b.valueSchema, 'io.sluice.heartbeat.Heartbeat')
        assert.ok(Math.abs(Date.now() - Number(b.value!.ts_ms)) < 60_000, 'ts_ms is the current time')
      }
      const ts = beats.map((b) => Number(b.value!.ts_ms))
      assert.deepEqual(
        ts,
        [...ts].sort((a, b) => a - b),
        'one key, one partition: heartbeats in time order',
      )
      assert.ok(
        beats.some((b) => b.value!.position === null || (b.value!.position as string) < insertPos),
        'heartbeats before the insert carried an earlier position',
      )
    } finally {
      await p.stop()
      tmp.cleanup()
    }
  })
})
