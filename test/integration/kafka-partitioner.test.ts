import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { partitionForKey } from '../../sinks/kafka/partitioner.js'
import { partitionCount, readTopic } from './helpers/kafka.js'
import { startKafka, type KafkaServer } from './servers/kafka.js'

let kafka: KafkaServer

before(async () => {
  kafka = await startKafka()
})
after(async () => {
  await kafka?.stop()
})

describe('kafka partitioning', () => {
  test("librdkafka's Java-compatible murmur2_random partitioner puts every key where partitionForKey does", async () => {
    const keys = Array.from({ length: 200 }, (_, i) => `key-${i}-${'x'.repeat(i % 7)}`)
    const topic = `partitioner-${process.pid}`
    const r = spawnSync(
      'kcat',
      ['-P', '-b', kafka.brokers.join(','), '-t', topic, '-K', ':', '-X', 'partitioner=murmur2_random'],
      { input: keys.map((k) => `${k}:v`).join('\n') + '\n', encoding: 'utf8', timeout: 30_000 },
    )
    assert.equal(r.status, 0, `kcat failed: ${r.stderr}`)
    const n = await partitionCount(kafka.brokers, topic)
    assert.ok(n > 1, 'the topic has several partitions, so the check can fail')
    const recs = await readTopic(kafka.brokers, topic)
    assert.equal(recs.length, keys.length)
    const used = new Set<number>()
    for (const rec of recs) {
      used.add(rec.partition)
      assert.equal(rec.partition, partitionForKey(rec.key!, n), `key ${rec.key!.toString()}`)
    }
    assert.equal(used.size, n, 'keys spread over every partition')
  })
})
