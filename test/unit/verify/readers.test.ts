import assert from 'node:assert/strict'
import { test } from 'node:test'
import pino from 'pino'
import { formatReport } from '../../../cli/verify.js'
import type { TableSchema } from '../../../pipeline/schema.js'
import type { VerifyReport } from '../../../pipeline/verify.js'
import { redisConfig } from '../../../sinks/redis/config.js'
import { compileTemplate } from '../../../sinks/redis/template.js'
import { hashDocument, keyFromRedisKey, redisVerifier, RedisReader } from '../../../sinks/redis/verify.js'

const table: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'orders',
  version: 1,
  keyColumns: ['id'],
  columns: [],
}
const ctx = {
  pipeline: 'p',
  log: pino({ level: 'silent' }),
  avro: { types: 'debezium', prefix: 'pre', unsupported: 'fail' },
} as const

test('keys are read back out of Redis keys of the template, and only of it', () => {
  const t = compileTemplate('${schema}.${table}:${key}', 'pre')(table)
  assert.equal(keyFromRedisKey(t, 'public.orders:a\\:b:7'), 'a\\:b:7')
  assert.equal(keyFromRedisKey(t, 'public.orders:'), '')
  assert.equal(keyFromRedisKey(t, 'public.order:1'), null)
  assert.equal(keyFromRedisKey(t, 'sluice:v:public.orders:1'), null)
  const twice = compileTemplate('${prefix}:{${key}}:${table}:${key}', 'pre')(table)
  assert.equal(keyFromRedisKey(twice, 'pre:{x:1}:orders:x:1'), 'x:1')
  assert.equal(keyFromRedisKey(twice, 'pre:{x:1}:orders:x:2'), null)
  assert.equal(keyFromRedisKey(twice, 'pre:{x:1}:orders:x:10'), null)
})

test('hash documents are the sink hash fields: strings as is, other values as JSON, no NULL fields', () => {
  assert.deepEqual(hashDocument({ a: 'x', b: 1.5, c: null, d: [1, '2'], e: true, f: '' }), {
    a: 'x',
    b: '1.5',
    d: '[1,"2"]',
    e: 'true',
    f: '',
  })
})

test('redis sinks that do not keep current rows are not verifiable, and say why', () => {
  const parse = (o: Record<string, unknown>): ReturnType<typeof redisConfig.parse> =>
    redisConfig.parse({ type: 'redis', ...o })
  const reason = (o: Record<string, unknown>): string | undefined => {
    const v = redisVerifier(parse(o), ctx)
    return 'unverifiable' in v ? v.unverifiable : undefined
  }
  assert.match(reason({ url: 'redis://h:1', mode: 'stream' })!, /stream mode keeps a log of change events/)
  assert.match(reason({ url: 'redis://h:1', ttl_ms: 5000 })!, /rows expire after ttl_ms \(5000 ms\)/)
  assert.match(reason({ nodes: ['h:1'], key: '${table}:{${key}}' })!, /Redis Cluster/)
  const reader = redisVerifier(parse({ url: 'redis://u:s3cret-pw@h:1/2' }), ctx)
  assert.ok(reader instanceof RedisReader)
  assert.equal(reader.target, 'redis://u:***@h:1/2')
  assert.equal(reader.location(table), 'public.orders:*')
})

test('the text report names every drifted key, column names only, and ends with the summary', () => {
  const report: VerifyReport = {
    sinks: [
      {
        index: 0,
        type: 'redis',
        target: 'redis://h:1',
        unverifiable: null,
        tables: [
          {
            table: 'public.orders',
            location: 'public.orders:*',
            sourceRows: 10,
            targetKeys: 10,
            matched: 7,
            rechecked: 4,
            missing: 2,
            extra: 1,
            differing: 2,
            examples: {
              missing: ['a\\:b'],
              extra: ['z'],
              differing: [{ key: '3', columns: ['note', 'price'] }],
            },
          },
        ],
      },
      { index: 1, type: 'file', target: null, unverifiable: 'keeps events', tables: [] },
    ],
    totals: { tables: 1, sourceRows: 10, missing: 2, extra: 1, differing: 2 },
    inSync: false,
    durationMs: 1234,
  }
  assert.equal(
    formatReport('shop', 'postgres', report),
    [
      'verify shop (postgres source)',
      'sink 0 (redis) at redis://h:1',
      '  public.orders (public.orders:*): source 10, target 10, missing 2, extra 1, differing 2: DRIFT (4 rechecked)',
      '    missing: "a\\\\:b" (and 1 more)',
      '    extra: "z"',
      '    differing: "3" in columns note, price',
      '    (and 1 more differing)',
      'sink 1 (file): not verifiable: keeps events',
      'summary: DRIFT: 2 missing, 1 extra, 2 differing; 1 table, 10 rows compared on 1 of 2 sinks in 1.2 s',
      '',
    ].join('\n'),
  )
})
