import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { renderConfigJsonSchema, SCHEMA_FILE } from '../../../scripts/gen-schema.js'

describe('config/sluice.schema.json', () => {
  it('equals what scripts/gen-schema.ts generates now (run `npm run schema` when this fails)', () => {
    assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), renderConfigJsonSchema())
  })

  it('describes the input side: only pipelines and the keys without defaults are required', () => {
    const doc = JSON.parse(renderConfigJsonSchema()) as {
      $schema: string
      title: string
      required: string[]
      additionalProperties: boolean
      properties: {
        pipelines: { items: { required: string[]; properties: Record<string, { default?: unknown }> } }
      }
    }
    assert.equal(doc.$schema, 'https://json-schema.org/draft/2020-12/schema')
    assert.equal(doc.title, 'Sluice configuration')
    assert.deepEqual(doc.required, ['pipelines'])
    assert.equal(doc.additionalProperties, false)
    const pipeline = doc.properties.pipelines.items
    assert.deepEqual(pipeline.required, ['name', 'source', 'sinks'])
    assert.equal(pipeline.properties.max_in_flight_events?.default, 8_000)
  })
})
