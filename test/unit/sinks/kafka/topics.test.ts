import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError } from '../../../../pipeline/errors.js'
import type { TableSchema } from '../../../../pipeline/schema.js'
import { compileTopicTemplate, topicName } from '../../../../sinks/kafka/topics.js'
import { kafkaConfig } from '../../../../sinks/kafka/config.js'
import { parseConfigText } from '../../../../config/index.js'

const table = (schema: string, name: string): TableSchema => ({
  connector: 'postgresql',
  db: 'shopdb',
  schema,
  table: name,
  columns: [],
  keyColumns: [],
  version: 1,
})

describe('kafka topic template', () => {
  it('defaults to Debezium naming <prefix>.<schema>.<table>', () => {
    const cfg = kafkaConfig.parse({ type: 'kafka', brokers: ['127.0.0.1:9092'] })
    assert.equal(cfg.topic, '${prefix}.${schema}.${table}')
    assert.equal(compileTopicTemplate(cfg.topic, 'shop')(table('public', 'orders')), 'shop.public.orders')
    assert.equal(cfg.tombstones, true)
    assert.equal(cfg.transaction_topic, true)
  })

  it('fills ${db} and replaces characters Kafka does not allow with _', () => {
    const t = compileTopicTemplate('cdc-${db}.${table}', 'p')
    assert.equal(t(table('public', 'order items')), 'cdc-shopdb.order_items')
    assert.equal(topicName('a/b:c'), 'a_b_c')
  })

  it('rejects an unknown placeholder, naming it and the known ones', () => {
    assert.throws(
      () => compileTopicTemplate('${prefix}.${tabel}', 'p'),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.code === 'KAFKA_TOPIC_TEMPLATE' &&
        err.message.includes("'${tabel}'") &&
        err.message.includes('${table}'),
    )
  })

  it('config validation rejects an unknown placeholder with the list of known ones', () => {
    const r = kafkaConfig.safeParse({
      type: 'kafka',
      brokers: ['127.0.0.1:9092'],
      topic: '${prefix}.${tabel}',
    })
    assert.equal(r.success, false)
    assert.match(r.error!.issues[0]!.message, /unknown placeholder '\$\{tabel\}'; use \$\{prefix\}/)
  })

  it('a template written literally in YAML survives environment interpolation', () => {
    const yaml = `
pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://u@127.0.0.1:5432/db
      tables: [public.t]
    sinks:
      - type: kafka
        brokers: [127.0.0.1:9092]
        topic: "\${prefix}.\${schema}.\${table}"
      - type: kafka
        brokers: [127.0.0.1:9092]
        topic: "$\${prefix}.x.\${table}"
`
    const { config } = parseConfigText(yaml, '/tmp/sluice.yaml', {})
    const sinks = config.pipelines[0]!.sinks as unknown as { topic: string }[]
    assert.equal(sinks[0]!.topic, '${prefix}.${schema}.${table}')
    assert.equal(sinks[1]!.topic, '${prefix}.x.${table}')
  })
})
