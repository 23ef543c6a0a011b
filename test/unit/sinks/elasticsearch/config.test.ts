import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SinkError } from '../../../../pipeline/errors.js'
import type { TableSchema } from '../../../../pipeline/schema.js'
import { elasticsearchConfig } from '../../../../sinks/elasticsearch/config.js'
import { indexNamer } from '../../../../sinks/elasticsearch/index-name.js'

const table = (schema: string, name: string): TableSchema => ({
  connector: 'postgresql',
  db: 'shop',
  schema,
  table: name,
  version: 1,
  keyColumns: ['id'],
  columns: [],
})

describe('elasticsearch sink config', () => {
  test('the minimal contract gets the documented defaults', () => {
    const c = elasticsearchConfig.parse({ type: 'elasticsearch', url: 'http://127.0.0.1:9200' })
    assert.equal(c.flavor, 'elasticsearch')
    assert.equal(c.index, '${table}')
    assert.equal(c.refresh, false)
    // Unset: the pipeline's on_error applies (default halt; see the elasticsearch sink tests).
    assert.equal(c.on_mapping_error, undefined)
    assert.equal(c.create_index, false)
    assert.equal(c.bulk_max_actions, 1000)
    assert.equal(c.bulk_max_bytes, 5 * 1024 * 1024)
  })

  test('unknown template variables, half basic auth, both auth kinds and unknown keys are refused', () => {
    const bad = (extra: Record<string, unknown>, path: string, msg: RegExp): void => {
      const r = elasticsearchConfig.safeParse({ type: 'elasticsearch', url: 'http://h:9200', ...extra })
      assert.equal(r.success, false)
      const issue = r.error!.issues.find((i) => i.path.join('.') === path)
      assert.ok(issue, `no issue at ${path}: ${JSON.stringify(r.error!.issues)}`)
      assert.match(issue.message, msg)
    }
    bad({ index: '${tabel}' }, 'index', /\$\{schema\}, \$\{table\}, \$\{db\}, \$\{prefix\}/)
    bad({ username: 'u' }, 'password', /username and password go together/)
    bad({ username: 'u', password: 'p', api_key: 'k' }, 'api_key', /either api_key or username/)
    bad({ refresh: 'sometimes' }, 'refresh', /./)
    bad({ bulk_size: 5 }, '', /bulk_size/)
  })
})

describe('index names from the template', () => {
  test('variables are filled per table and the result is lower-cased', () => {
    const name = indexNamer('${prefix}.${db}.${schema}.${table}', 'Shop')
    assert.equal(name(table('public', 'Orders')), 'shop.shop.public.orders')
    assert.equal(indexNamer('${table}', 'p')(table('s', 'items')), 'items')
  })

  test('a name the server would refuse is an error naming the table and the template', () => {
    assert.throws(
      () => indexNamer('${table}', 'p')(table('public', 'my table')),
      (err: unknown) =>
        err instanceof SinkError &&
        err.code === 'ES_INDEX_NAME_INVALID' &&
        /table public\.my table.*template '\$\{table\}'/.test(err.message),
    )
    assert.throws(() => indexNamer('_${table}', 'p')(table('public', 'x')), /starts with/)
  })
})
