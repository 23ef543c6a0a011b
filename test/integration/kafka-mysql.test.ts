import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
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
import { sortKey } from './helpers/mysql.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startKafka, type KafkaServer } from './servers/kafka.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startRegistry, type RegistryServer } from './servers/registry-fake.js'

let db: MariaServer
let kafka: KafkaServer
let registry: RegistryServer

before(async () => {
  db = await startMariadb()
  kafka = await startKafka()
  registry = await startRegistry()
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  await db?.stop()
  await kafka?.stop()
  await registry?.stop()
})

const opsOf = (l: readonly Decoded[]): Record<string, number> => {
  const m: Record<string, number> = {}
  for (const r of l) {
    const op = r.value ? (r.value.op as string) : 'tombstone'
    m[op] = (m[op] ?? 0) + 1
  }
  return m
}

describe('mariadb to kafka', () => {
  test('every event, <prefix>.<database>.<table> topics, tombstones, per-key order, transaction metadata', async () => {
    await db.sql(
      'CREATE TABLE shop.accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, balance DECIMAL(12,2))',
    )
    await db.sql("INSERT INTO shop.accounts VALUES (1,'ann',10.50),(2,'bob',20.00),(3,'cy',NULL)")
    await freshPrefix(kafka, registry, 'maria')
    const t = tempDir()
    const source = `      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.accounts]
      server_id: 5711
      snapshot: initial`
    const p = startPipeline(
      kafkaPipelineYaml({
        name: 'maria',
        source,
        dir: t.dir,
        brokers: kafka.brokers,
        registry: registry.url,
      }),
      t.dir,
    )
    const conn = await mysql.createConnection({ uri: db.urlFor('shop') })
    try {
      const topic = 'maria.shop.accounts'
      await waitFor(async () => (await topicCount(kafka.brokers, topic)) >= 3, 30_000, 'snapshot')
      await conn.query('START TRANSACTION')
      await conn.query("INSERT INTO accounts VALUES (4,'dee',1.25)")
      await conn.query('UPDATE accounts SET balance = 11.50 WHERE id = 1')
      await conn.query('DELETE FROM accounts WHERE id = 2')
      await conn.query('COMMIT')
      await conn.query("UPDATE accounts SET name = 'ann2' WHERE id = 1")
      await conn.query('DELETE FROM accounts WHERE id = 1')
      // 3 r + c + u + d + tombstone + u + d + tombstone
      await waitFor(async () => (await topicCount(kafka.brokers, topic)) >= 10, 30_000, 'stream')
      await waitFor(async () => (await topicCount(kafka.brokers, 'maria.transaction')) >= 6, 30_000, 'tx')

      const d = new IndependentDecoder(registry.url)
      const recs = await decodeAll(d, await readTopic(kafka.brokers, topic))
      assert.equal(recs.length, 10)
      assert.deepEqual(opsOf(recs), { r: 3, c: 1, u: 2, d: 2, tombstone: 2 })
      checkPerKeyOrder(recs, sortKey)
      const key1 = recs
        .filter((r) => r.key!.id === 1)
        .map((r) => (r.value ? (r.value.op as string) : 'tombstone'))
      assert.deepEqual(key1, ['r', 'u', 'u', 'd', 'tombstone'], 'key 1 in order, in one partition')
      assert.equal(recs[0]!.keySchema, 'maria.shop.accounts.Key')
      assert.equal(recs[0]!.valueSchema, 'maria.shop.accounts.Envelope')
      const src = recs.find((r) => r.value?.op === 'c')!.value!.source as Record<string, unknown>
      assert.equal(src.connector, 'mysql')
      assert.equal(src.db, 'shop')
      const parts = await partitionCount(kafka.brokers, topic)
      for (const r of recs) assert.equal(r.rec.partition, partitionForKey(r.rec.key!, parts))

      const txs = await decodeAll(d, await readTopic(kafka.brokers, 'maria.transaction'))
      const ends = txs.filter((r) => r.value!.status === 'END')
      assert.equal(txs.filter((r) => r.value!.status === 'BEGIN').length, 3)
      assert.equal(ends.length, 3)
      const streamed = recs.filter((r) => r.value?.transaction)
      for (const e of ends) {
        const id = e.value!.id as string
        const n = streamed.filter((r) => (r.value!.transaction as { id: string }).id === id).length
        assert.equal(e.value!.event_count, n, `END of ${id}`)
        assert.deepEqual(
          (e.value!.data_collections as { data_collection: string }[]).map((x) => x.data_collection),
          ['shop.accounts'],
        )
      }
      assert.deepEqual(
        ends.map((e) => e.value!.event_count as number).sort((a, b) => a - b),
        [1, 1, 3],
      )
    } finally {
      await conn.end()
      await p.stop()
      t.cleanup()
    }
  })
})
