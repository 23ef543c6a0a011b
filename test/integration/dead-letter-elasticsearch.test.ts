import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { DeadLetterRecord } from '../../pipeline/dead-letter.js'
import { readStatePosition } from './helpers/crash.js'
import { readTopic } from './helpers/kafka.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startSearchFake, type SearchFake } from './servers/elasticsearch-fake.js'
import { startKafka, type KafkaServer } from './servers/kafka.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

let pg: PgServer
let fake: SearchFake
let kafka: KafkaServer

before(async () => {
  pg = await startPostgres()
  fake = await startSearchFake()
  kafka = await startKafka()
  await pg.sql('CREATE DATABASE shop')
})
after(async () => {
  await fake?.stop()
  await kafka?.stop()
  await pg?.stop()
})

function yaml(dir: string, topic: string): string {
  return `
pipelines:
  - name: esdl
    source:
      type: postgres
      url: ${pg.urlFor('shop')}
      tables: [public.items]
    sinks:
      - type: elasticsearch
        url: ${fake.url}
        index: items
        retry_backoff_ms: 10
        retry_max_backoff_ms: 50
    on_error: dead_letter
    dead_letter:
      type: kafka
      brokers: [${kafka.brokers.join(', ')}]
      topic: ${topic}
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

describe('elasticsearch sink: documents the index refuses go to the pipeline on_error', () => {
  test('dead_letter to a kafka topic: each 400 (mapping conflict) is one record on the topic, the other documents are indexed and the position passes', async () => {
    // The index maps `note` as a number: rows whose note is not numeric are refused with 400.
    const res = await fetch(`${fake.url}/items`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mappings: { properties: { note: { type: 'long' } } } }),
    })
    assert.equal(res.status, 200)
    await pg.sql(
      `CREATE TABLE items (id int PRIMARY KEY, note text);
       INSERT INTO items VALUES (1, '11'), (2, '22'), (3, 'oops'), (4, '44');`,
      [],
      'shop',
    )
    const t = tempDir()
    const topic = `esdl-dead-${Date.now()}`
    const p = startPipeline(yaml(t.dir, topic), t.dir)
    try {
      await waitFor(() => fake.docs('items').size >= 3, 30_000, 'snapshot indexed')
      await pg.sql(`INSERT INTO items VALUES (5, 'bad'); INSERT INTO items VALUES (6, '66');`, [], 'shop')
      await waitFor(() => fake.docs('items').has('6'), 30_000, 'stream indexed')
      assert.deepEqual([...fake.docs('items').keys()].sort(), ['1', '2', '4', '6'])
      const recs = await waitFor(async () => {
        const r = await readTopic(kafka.brokers, topic).catch(() => [])
        return r.length >= 2 ? r : null
      }, 30_000)
      assert.equal(recs.length, 2)
      const dl = recs.map((r) => JSON.parse(r.value!.toString('utf8')) as DeadLetterRecord)
      dl.sort((a, b) => (a.position < b.position ? -1 : 1))
      for (const d of dl) {
        assert.equal(d.pipeline, 'esdl')
        assert.equal(d.origin, 'sinks[0].elasticsearch')
        assert.equal(d.error.code, 'ES_DOCUMENT_REJECTED')
        assert.match(
          d.error.message,
          /400 document_parsing_exception: .*failed to parse field \[note\] of type \[long\]/,
        )
        assert.equal(d.table, 'public.items')
      }
      assert.equal(recs[0]!.key!.toString(), 'public.items')
      assert.deepEqual(
        dl.map((d) => [d.op, d.key, d.after]),
        [
          ['r', { id: 3 }, { id: 3, note: 'oops' }],
          ['c', { id: 5 }, { id: 5, note: 'bad' }],
        ],
      )
      await waitFor(() => {
        const c = readStatePosition(join(t.dir, 'state'), 'esdl')
        return c !== null && c > dl[1]!.position
      })
    } finally {
      await p.stop()
      t.cleanup()
    }
  })
})
