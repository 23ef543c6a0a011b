/**
 * An event the Kafka sink cannot send at all (a record over `max_message_bytes`) goes to the
 * pipeline's on_error, before anything of it is produced: dead-lettered (the topic gets
 * every other event, the position passes it) or, by default, halting the pipeline with
 * KAFKA_MESSAGE_TOO_LARGE and the position before it. librdkafka's mock cluster, real
 * Postgres, records read back with kafkajs and decoded with an independent avsc decoder.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { DeadLetterRecord } from '../../pipeline/dead-letter.js'
import { SluiceError } from '../../pipeline/errors.js'
import { readStatePosition } from './helpers/crash.js'
import { decodeAll, IndependentDecoder, kafkaPipelineYaml, readTopic, topicCount } from './helpers/kafka.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startKafka, type KafkaServer } from './servers/kafka.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

let pg: PgServer
let kafka: KafkaServer

before(async () => {
  pg = await startPostgres()
  kafka = await startKafka()
})
after(async () => {
  await pg?.stop()
  await kafka?.stop()
})

/** A database `name` with table t: rows 1..5 small, then row 6 with a 20 kB note, rows 7..9 small. */
async function setup(name: string): Promise<void> {
  await pg.sql(`CREATE DATABASE ${name}`)
  await pg.sql(
    `CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL);
     INSERT INTO t SELECT g, 'small ' || g FROM generate_series(1, 5) g`,
    [],
    name,
  )
}

const source = (name: string): string =>
  `      type: postgres\n      url: ${pg.urlFor(name)}\n      tables: [public.t]\n      snapshot: initial`

test('a record over max_message_bytes is dead-lettered; every other event reaches the topic and the position passes it', async (t) => {
  const name = 'kbig_dl'
  await setup(name)
  const tmp = tempDir()
  t.after(() => tmp.cleanup())
  const deadLetters = join(tmp.dir, 'dead.jsonl')
  const p = startPipeline(
    kafkaPipelineYaml({
      name,
      source: source(name),
      dir: tmp.dir,
      brokers: kafka.brokers,
      extraSink: '        max_message_bytes: 4096\n',
    }).replace(
      '    sinks:\n',
      `    on_error: dead_letter\n    dead_letter:\n      type: file\n      path: ${deadLetters}\n    sinks:\n`,
    ),
    tmp.dir,
  )
  try {
    const topic = `${name}.public.t`
    await waitFor(async () => (await topicCount(kafka.brokers, topic)) >= 5, 30_000, 'the snapshot')
    await pg.sql(`INSERT INTO t VALUES (6, repeat('x', 20000))`, [], name)
    await pg.sql(`INSERT INTO t SELECT g, 'small ' || g FROM generate_series(7, 9) g`, [], name)
    await waitFor(async () => (await topicCount(kafka.brokers, topic)) >= 8, 30_000, 'the streamed rows')
    const d = new IndependentDecoder()
    d.loadSchemaTopic(await readTopic(kafka.brokers, `${name}.schemas`))
    const rows = await decodeAll(d, await readTopic(kafka.brokers, topic))
    const byPosition = [...rows].sort((a, b) =>
      a.rec.headers['sluice.position']! < b.rec.headers['sluice.position']! ? -1 : 1,
    )
    assert.deepEqual(
      byPosition.map((r) => (r.value!.after as { id: number }).id),
      [1, 2, 3, 4, 5, 7, 8, 9],
      'every event but the oversized one (4 partitions: in position order)',
    )
    const lines = readFileSync(deadLetters, 'utf8').trim().split('\n')
    assert.equal(lines.length, 1, 'exactly one dead letter')
    const rec = JSON.parse(lines[0]!) as DeadLetterRecord
    assert.equal(rec.origin, 'sinks[0].kafka')
    assert.equal(rec.error.code, 'KAFKA_MESSAGE_TOO_LARGE')
    assert.match(rec.error.message, /max_message_bytes \(4096\)/)
    assert.equal(rec.op, 'c')
    assert.equal(rec.table, 'public.t')
    assert.equal((rec.after as { id: number; note: string }).note.length, 20000)
    const sixPos = rec.position
    const sevenPos = rows.find((r) => (r.value!.after as { id: number }).id === 7)!.rec.headers[
      'sluice.position'
    ]!
    assert.ok(sixPos < sevenPos)
    await waitFor(
      () => (readStatePosition(join(tmp.dir, 'state'), name) ?? '') >= sevenPos,
      30_000,
      'the committed position past the dead-lettered event',
    )
  } finally {
    await p.stop()
  }
})

test('by default (on_error: halt) the oversized record stops the pipeline before it, naming the fix', async (t) => {
  const name = 'kbig_halt'
  await setup(name)
  const tmp = tempDir()
  t.after(() => tmp.cleanup())
  const p = startPipeline(
    kafkaPipelineYaml({
      name,
      source: source(name),
      dir: tmp.dir,
      brokers: kafka.brokers,
      extraSink: '        max_message_bytes: 4096\n',
    }),
    tmp.dir,
  )
  const topic = `${name}.public.t`
  await waitFor(async () => (await topicCount(kafka.brokers, topic)) >= 5, 30_000, 'the snapshot')
  await waitFor(() => readStatePosition(join(tmp.dir, 'state'), name), 30_000, 'a committed position')
  const [{ lsn }] = (await pg.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn', [], name)) as [
    { lsn: string },
  ]
  await pg.sql(`INSERT INTO t VALUES (6, repeat('x', 20000))`, [], name)
  const err = await p.done.then(
    () => assert.fail('the pipeline went on past an event it could not send'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof SluiceError, String(err))
  assert.equal(err.code, 'KAFKA_MESSAGE_TOO_LARGE')
  assert.equal(err.retriable, false)
  assert.match(err.message, /raise max_message_bytes/)
  assert.equal(await topicCount(kafka.brokers, topic), 5, 'nothing of the oversized event was produced')
  const committed = readStatePosition(join(tmp.dir, 'state'), name)!
  const [hi, lo] = lsn.split('/') as [string, string]
  const before = ((BigInt('0x' + hi) << 32n) | BigInt('0x' + lo)).toString(16).toUpperCase().padStart(16, '0')
  assert.ok(committed.slice(0, 16) <= before, `committed ${committed} stays before the insert (WAL ${lsn})`)
})
