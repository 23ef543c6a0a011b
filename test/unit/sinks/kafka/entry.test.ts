import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { SinkContext } from '../../../../pipeline/sink.js'
import { SINKS } from '../../../../sinks/index.js'

describe('kafka sink registry entry', () => {
  it('is registered as type kafka, fills defaults and creates an at-least-once sink without connecting', () => {
    const entry = SINKS.find((e) => e.type === 'kafka')
    assert.ok(entry, 'kafka is in sinks/index.ts')
    const config = entry.config.parse({ type: 'kafka', brokers: ['127.0.0.1:9092'] }) as Record<
      string,
      unknown
    >
    assert.equal(config.topic, '${prefix}.${schema}.${table}')
    assert.equal(config.tombstones, true)
    assert.equal(config.registry, undefined)
    assert.equal(
      entry.config.safeParse({ type: 'kafka', brokers: ['127.0.0.1:9092'], acks: 1 }).success,
      false,
    )
    assert.equal(entry.config.safeParse({ type: 'kafka', brokers: ['no-port'] }).success, false)
    const ctx: SinkContext = {
      pipeline: 'shop',
      log: pino({ level: 'silent' }),
      avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' },
    }
    assert.equal(entry.create(config as never, ctx).delivery, 'at-least-once')
  })
})
