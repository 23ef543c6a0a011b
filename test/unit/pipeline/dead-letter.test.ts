import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import pino from 'pino'
import { z } from 'zod'
import { ConfigInvalidError } from '../../../config/errors.js'
import { parseConfigWith } from '../../../config/load.js'
import { buildConfigSchema } from '../../../config/schema.js'
import { postgresConfig } from '../../../connectors/postgres/config.js'
import {
  RejectPolicy,
  rejectedEvent,
  splitRejected,
  type DeadLetterRecord,
  type RejectedRow,
} from '../../../pipeline/dead-letter.js'
import { EncodeError, SinkError } from '../../../pipeline/errors.js'
import type { ChangeEvent } from '../../../pipeline/event.js'
import type { SinkEntry, SourceEntry } from '../../../pipeline/registry.js'
import type { TableSchema } from '../../../pipeline/schema.js'

const unused = (): never => {
  throw new Error('not used')
}
const sources: SourceEntry[] = [{ type: 'postgres', config: postgresConfig, create: unused }]
const sinks: SinkEntry[] = [
  { type: 'stdout', config: z.strictObject({ type: z.literal('stdout') }), create: unused },
]
const schema = buildConfigSchema(sources, sinks)

const yaml = (extra: string): string => `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://db/shop
      tables: [public.orders]
    sinks:
      - type: stdout
${extra}`

function problems(text: string): string[] {
  try {
    parseConfigWith(schema, text, 'inline.yaml', {})
  } catch (e) {
    assert.ok(e instanceof ConfigInvalidError)
    return e.problems.map((p) => `${p.line}:${p.col} ${p.path}: ${p.message}`)
  }
  assert.fail('expected the config to be rejected')
}

describe('config: on_error and dead_letter', () => {
  it('defaults to halt, with no dead_letter block', () => {
    const { config } = parseConfigWith(schema, yaml(''), 'inline.yaml', {})
    assert.equal(config.pipelines[0]!.on_error, 'halt')
    assert.equal(config.pipelines[0]!.dead_letter, undefined)
  })

  it('on_error dead_letter without a dead_letter block is one error at on_error, with file:line', () => {
    const text = yaml('    on_error: dead_letter\n')
    assert.deepEqual(problems(text), [
      '9:15 pipelines[0].on_error: on_error is dead_letter but the pipeline has no dead_letter block; add one ' +
        '(dead_letter: {type: file, path: ...}, or type kafka or redis), or set on_error to halt or skip',
    ])
    assert.throws(
      () => parseConfigWith(schema, text, 'inline.yaml', {}),
      /inline\.yaml:9:15: pipelines\[0\]\.on_error: on_error is dead_letter but the pipeline has no dead_letter block/,
    )
  })

  it('a dead_letter block without on_error dead_letter is refused', () => {
    assert.deepEqual(problems(yaml('    on_error: skip\n    dead_letter: {type: file, path: /tmp/x}\n')), [
      '10:18 pipelines[0].dead_letter: dead_letter is set but on_error is skip; set on_error: dead_letter, or ' +
        'remove the dead_letter block',
    ])
  })

  it('each dead_letter type is validated', () => {
    const ok = (block: string): unknown =>
      parseConfigWith(
        schema,
        yaml(`    on_error: dead_letter\n    dead_letter: ${block}\n`),
        'inline.yaml',
        {},
      ).config.pipelines[0]!.dead_letter
    assert.deepEqual(ok('{type: file, path: /tmp/dl.jsonl}'), { type: 'file', path: '/tmp/dl.jsonl' })
    assert.deepEqual(ok('{type: kafka, brokers: [k:9092], topic: dlq}'), {
      type: 'kafka',
      brokers: ['k:9092'],
      topic: 'dlq',
    })
    assert.deepEqual(ok('{type: redis, url: "redis://h:6379", stream: dl, maxlen: 100}'), {
      type: 'redis',
      url: 'redis://h:6379',
      stream: 'dl',
      maxlen: 100,
    })
    const bad = problems(yaml('    on_error: dead_letter\n    dead_letter: {type: s3, bucket: b}\n'))
    assert.equal(bad.length, 1)
    assert.match(bad[0]!, /dead_letter.*dead_letter needs type: file, kafka or redis/)
    const missing = problems(
      yaml('    on_error: dead_letter\n    dead_letter: {type: kafka, brokers: [k:9092]}\n'),
    )
    assert.equal(missing.length, 1)
    assert.match(missing[0]!, /dead_letter\.topic/)
  })
})

const table: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'orders',
  keyColumns: ['id'],
  columns: [
    { name: 'id', avro: 'int', optional: false, fromText: (t: string) => Number(t) },
    { name: 'note', avro: ['null', 'string'], optional: true, fromText: (t: string) => t },
  ],
} as unknown as TableSchema

function event(position: string, id: number): ChangeEvent {
  return {
    op: 'c',
    table,
    key: { id },
    before: null,
    after: { id, note: `n${id}` },
    position,
    source: {
      version: 'x',
      connector: 'postgresql',
      name: 'shop',
      ts_ms: 0,
      snapshot: 'false',
      db: 'shop',
      schema: 'public',
      table: 'orders',
      position,
    },
    transaction: null,
    ts_ms: 0,
  }
}

const rejected = (position: string): RejectedRow => ({
  position,
  table: 'public.orders',
  op: 'c',
  error: new EncodeError('VALUE_OUT_OF_RANGE', 'column public.orders.amount: numeric NaN'),
  column: 'amount',
  before: null,
  after: { id: '2', amount: 'NaN' },
})

describe('rejected rows in a batch', () => {
  it('splitRejected moves placeholders out of events, in order, and keeps the checkpoint', () => {
    const b = splitRejected({
      events: [event('p1', 1), rejectedEvent(event('p2', 2), rejected('p2')), event('p3', 3)],
      checkpoint: 'p3',
      bytes: 10,
    })
    assert.deepEqual(
      b.events.map((e) => e.position),
      ['p1', 'p3'],
    )
    assert.deepEqual(
      b.rejected?.map((r) => r.position),
      ['p2'],
    )
    assert.equal(b.checkpoint, 'p3')
    const plain = { events: [event('p1', 1)], checkpoint: 'p1', bytes: 1 }
    assert.equal(splitRejected(plain), plain)
  })
})

describe('RejectPolicy', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-dlq-unit-'))
  after(() => rmSync(dir, { recursive: true, force: true }))
  const log = pino({ level: 'silent' })

  it('halt rethrows the original error; skip counts; retriable errors are never absorbed', async () => {
    const counted: string[] = []
    const metrics = {
      eventRejected: (_p: string, o: string, c: string, out: string) => counted.push(`${o}/${c}/${out}`),
    }
    const halt = new RejectPolicy({ pipeline: 'shop', onError: 'halt', log, metrics })
    const r = rejected('p2')
    await assert.rejects(halt.rejectRows([r]), (e) => e === r.error)
    const skip = new RejectPolicy({ pipeline: 'shop', onError: 'skip', log, metrics })
    await skip.rejectRows([r])
    await skip.rejectEvent(
      event('p5', 5),
      new SinkError('ES_DOCUMENT_REJECTED', 'refused'),
      'sinks[0].elasticsearch',
    )
    assert.deepEqual(counted, [
      'source/VALUE_OUT_OF_RANGE/skipped',
      'sinks[0].elasticsearch/ES_DOCUMENT_REJECTED/skipped',
    ])
    assert.equal(skip.stats.skipped, 2)
    const retriable = new SinkError('ES_RETRIES_EXHAUSTED', 'busy', { retriable: true })
    await assert.rejects(
      skip.rejectEvent(event('p6', 6), retriable, 'sinks[0].elasticsearch'),
      (e) => e === retriable,
    )
    assert.equal(skip.stats.skipped, 2)
  })

  it('source-side records leave the raw row out when the pipeline masks columns', async () => {
    const path = join(dir, 'withheld.jsonl')
    const p = new RejectPolicy({
      pipeline: 'shop',
      onError: 'dead_letter',
      deadLetter: { type: 'file', path },
      log,
      withholdSourceValues: 'masked',
    })
    await p.open()
    await p.rejectRows([rejected('p2')])
    await p.close()
    const text = readFileSync(path, 'utf8')
    const rec = JSON.parse(text) as DeadLetterRecord
    assert.equal(rec.values_withheld, 'masked')
    assert.equal(rec.after, null)
    assert.equal(rec.column, 'amount')
    assert.equal(rec.position, 'p2')
    assert.ok(!text.includes('"amount":'), 'no raw value in the record')
  })

  it('dead_letter appends JSON lines to the file before resolving, with rendered rows and no extra fields', async () => {
    const path = join(dir, 'sub', 'dl.jsonl')
    const p = new RejectPolicy({
      pipeline: 'shop',
      onError: 'dead_letter',
      deadLetter: { type: 'file', path },
      log,
    })
    await p.open()
    await p.rejectRows([rejected('p2')])
    await p.rejectEvent(
      event('p5', 5),
      new SinkError('ES_DOCUMENT_REJECTED', 'refused'),
      'sinks[1].elasticsearch',
    )
    await p.close()
    const lines = readFileSync(path, 'utf8').trim().split('\n')
    assert.equal(lines.length, 2)
    const [a, b] = lines.map((l) => JSON.parse(l) as DeadLetterRecord)
    assert.equal(typeof a!.timestamp, 'string')
    assert.deepEqual(
      { ...a, timestamp: undefined },
      {
        pipeline: 'shop',
        origin: 'source',
        error: { code: 'VALUE_OUT_OF_RANGE', message: 'column public.orders.amount: numeric NaN' },
        position: 'p2',
        table: 'public.orders',
        op: 'c',
        column: 'amount',
        before: null,
        after: { id: '2', amount: 'NaN' },
        timestamp: undefined,
      },
    )
    assert.deepEqual(
      { ...b, timestamp: undefined },
      {
        pipeline: 'shop',
        origin: 'sinks[1].elasticsearch',
        error: { code: 'ES_DOCUMENT_REJECTED', message: 'refused' },
        position: 'p5',
        table: 'public.orders',
        op: 'c',
        key: { id: 5 },
        before: null,
        after: { id: 5, note: 'n5' },
        timestamp: undefined,
      },
    )
    assert.equal(p.stats.deadLettered, 2)
  })
})
