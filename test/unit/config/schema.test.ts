import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { z } from 'zod'
import { buildConfigSchema, withDerivedDefaults } from '../../../config/schema.js'
import type { SinkEntry, SourceEntry } from '../../../pipeline/registry.js'

const unused = (): never => {
  throw new Error('not used in config tests')
}
const source = (type: string): SourceEntry => ({
  type,
  config: z.strictObject({ type: z.literal(type), url: z.string() }),
  create: unused,
})
const sink = (type: string): SinkEntry => ({
  type,
  config: z.strictObject({ type: z.literal(type) }),
  create: unused,
})

const pipeline = { name: 'p-1', source: { type: 'pg', url: 'x' }, sinks: [{ type: 'out' }] }

describe('buildConfigSchema', () => {
  const schema = buildConfigSchema([source('pg'), source('my')], [sink('out')])

  it('fills static defaults and leaves avro.prefix for withDerivedDefaults', () => {
    const parsed = schema.parse({ pipelines: [pipeline] })
    assert.deepEqual(parsed.pipelines[0]!.avro, { types: 'debezium', unsupported: 'fail' })
    const config = withDerivedDefaults(parsed)
    assert.deepEqual(config.pipelines[0]!.avro, { types: 'debezium', prefix: 'p-1', unsupported: 'fail' })
  })

  it('keeps an explicit avro.prefix', () => {
    const config = withDerivedDefaults(
      schema.parse({ pipelines: [{ ...pipeline, avro: { prefix: 'acme' } }] }),
    )
    assert.equal(config.pipelines[0]!.avro.prefix, 'acme')
  })

  it('dispatches the source block to the registry entry of its type', () => {
    const r = schema.safeParse({ pipelines: [{ ...pipeline, source: { type: 'my', url: 'x', extra: 1 } }] })
    assert.equal(r.success, false)
    assert.deepEqual(
      r.error?.issues.map((i) => [i.code, i.path.join('.')]),
      [['unrecognized_keys', 'pipelines.0.source']],
    )
  })

  it('lists every registered type when the type is unknown, and says when none are registered', () => {
    const r = schema.safeParse({ pipelines: [{ ...pipeline, source: { type: 'oracle' } }] })
    assert.equal(r.error?.issues[0]?.message, 'unknown source type; known types: pg, my')
    const empty = buildConfigSchema([source('pg')], []).safeParse({ pipelines: [pipeline] })
    assert.equal(empty.error?.issues[0]?.message, 'unknown sink type; known types: (none registered)')
  })

  it('checks pipeline names: pattern, and uniqueness even when another pipeline is invalid', () => {
    const r = schema.safeParse({
      pipelines: [
        pipeline,
        { ...pipeline, transforms: [{}] },
        { ...pipeline, name: 'a'.repeat(65) },
        pipeline,
      ],
    })
    assert.deepEqual(
      r.error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
      [
        'pipelines.1.transforms.0.type: missing transform type; set type to one of: (none registered)',
        'pipelines.2.name: must be 1 to 64 letters, digits, _ or -',
        "pipelines.1.name: duplicate pipeline name 'p-1' (already used by pipelines[0]); pipeline names must be unique",
        "pipelines.3.name: duplicate pipeline name 'p-1' (already used by pipelines[0]); pipeline names must be unique",
      ],
    )
  })
})
