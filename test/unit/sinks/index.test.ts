import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { SINKS } from '../../../sinks/index.js'
import type { SinkContext } from '../../../pipeline/sink.js'

describe('sink registry', () => {
  it('lists the file and stdout sinks once each', () => {
    assert.deepEqual(
      SINKS.map((e) => e.type),
      ['file', 'stdout'],
    )
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

  it('creates at-least-once sinks', () => {
    const ctx: SinkContext = {
      pipeline: 'shop',
      log: pino({ level: 'silent' }),
      avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' },
    }
    const configs: Record<string, unknown> = {
      file: { type: 'file', path: '/tmp/sluice-registry-test' },
      stdout: { type: 'stdout' },
    }
    for (const e of SINKS) {
      const sink = e.create(e.config.parse(configs[e.type]) as never, ctx)
      assert.equal(sink.delivery, 'at-least-once', e.type)
    }
  })
})
