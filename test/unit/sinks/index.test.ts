import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { SINKS } from '../../../sinks/index.js'
import type { SinkContext } from '../../../pipeline/sink.js'

describe('sink registry', () => {
  it('lists every sink once', () => {
    assert.deepEqual(SINKS.map((e) => e.type).sort(), ['elasticsearch', 'file', 'kafka', 'redis', 'stdout'])
  })

  it('validates each entry with its own schema, defaults filled in, unknown keys refused', () => {
    const file = SINKS.find((e) => e.type === 'file')!
    assert.deepEqual(file.config.parse({ type: 'file', path: '/data/out' }), {
      type: 'file',
      path: '/data/out',
      format: 'avro',
      rotate_bytes: 64 * 1024 * 1024,
      rotate_interval_ms: 0,
      codec: 'null',
    })
    assert.equal(file.config.safeParse({ type: 'file', path: '/x', rotate_mb: 1 }).success, false)
    assert.equal(file.config.safeParse({ type: 'file' }).success, false)
  })

  it('creates each sink with the delivery it declares: idempotent where a replay converges', () => {
    const ctx: SinkContext = {
      pipeline: 'shop',
      log: pino({ level: 'silent' }),
      avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' },
    }
    const cases: [string, unknown, 'idempotent' | 'at-least-once'][] = [
      ['file', { type: 'file', path: '/tmp/sluice-registry-test' }, 'at-least-once'],
      ['stdout', { type: 'stdout' }, 'at-least-once'],
      ['kafka', { type: 'kafka', brokers: ['127.0.0.1:9092'] }, 'at-least-once'],
      ['redis', { type: 'redis', url: 'redis://127.0.0.1:6379', mode: 'stream' }, 'at-least-once'],
      ['redis', { type: 'redis', url: 'redis://127.0.0.1:6379', mode: 'cache' }, 'idempotent'],
      ['elasticsearch', { type: 'elasticsearch', url: 'http://127.0.0.1:9200' }, 'idempotent'],
    ]
    for (const [type, config, delivery] of cases) {
      const e = SINKS.find((x) => x.type === type)!
      const sink = e.create(e.config.parse(config) as never, ctx)
      assert.equal(sink.delivery, delivery, `${type} ${JSON.stringify(config)}`)
    }
    assert.deepEqual(new Set(cases.map((c) => c[0])), new Set(SINKS.map((e) => e.type)), 'every sink covered')
  })
})
