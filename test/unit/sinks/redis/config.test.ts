import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import { parseConfigText } from '../../../../config/index.js'
import { hasHashTag, placeholders, redactUrl, redisConfig } from '../../../../sinks/redis/config.js'
import { redisEntry } from '../../../../sinks/redis/index.js'

const messages = (input: unknown): string[] => {
  const r = redisConfig.safeParse(input)
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
}

describe('redis sink config', () => {
  it('fills defaults: cache mode, the contract key template, JSON values, 24 h tombstones', () => {
    assert.deepEqual(redisConfig.parse({ type: 'redis', url: 'redis://127.0.0.1:6379' }), {
      type: 'redis',
      url: 'redis://127.0.0.1:6379',
      mode: 'cache',
      key: '${schema}.${table}:${key}',
      value: 'json',
      ttl_ms: 0,
      tombstone_ttl_ms: 86_400_000,
      version_prefix: 'sluice:v:',
      stream: '${prefix}.${schema}.${table}',
      maxlen: 0,
      cluster: false,
      connect_timeout_ms: 10_000,
    })
  })

  it('refuses unknown keys, a missing url, non-redis URLs and unknown placeholders', () => {
    assert.deepEqual(messages({ type: 'redis', url: 'redis://h:1', ttl: 5 }).length, 1)
    assert.deepEqual(messages({ type: 'redis' }), [
      'url: a redis sink needs url (or nodes for a cluster), e.g. url: redis://127.0.0.1:6379',
    ])
    assert.match(messages({ type: 'redis', url: 'http://h:1' })[0]!, /redis:\/\/ or rediss:\/\//)
    assert.deepEqual(messages({ type: 'redis', url: 'redis://h:1', key: '${tbl}:${key}' }), [
      "key: unknown placeholder '${tbl}'; use ${prefix}, ${db}, ${schema}, ${table}, ${key} (or '$${' for a literal '${')",
    ])
    assert.match(
      messages({ type: 'redis', url: 'redis://h:1', mode: 'stream', stream: 's:${key}' })[0]!,
      /'\$\{key\}'/,
    )
  })

  it('needs ${key} in a cache key, and a hash tag with a cluster', () => {
    assert.match(
      messages({ type: 'redis', url: 'redis://h:1', key: '${table}' })[0]!,
      /must contain '\$\{key\}'/,
    )
    assert.match(
      messages({ type: 'redis', url: 'redis://h:1', cluster: true })[0]!,
      /needs a hash tag .*'\$\{schema\}\.\$\{table\}:\{\$\{key\}\}'/,
    )
    assert.deepEqual(messages({ type: 'redis', nodes: ['a:1', 'b:2'], key: '${table}:{${key}}' }), [])
    // Stream mode does not need a hash tag (one key per command).
    assert.deepEqual(messages({ type: 'redis', url: 'redis://h:1', cluster: true, mode: 'stream' }), [])
  })

  it('finds hash tags and placeholders', () => {
    assert.equal(hasHashTag('${schema}.${table}:{${key}}'), true)
    assert.equal(hasHashTag('{${table}}:${key}'), true)
    assert.equal(hasHashTag('${schema}.${table}:${key}'), false)
    assert.equal(hasHashTag('x{}${key}'), false)
    assert.deepEqual(placeholders('a${x}b${key}'), ['x', 'key'])
  })

  it('masks passwords in URLs', () => {
    assert.equal(redactUrl('redis://app:s3cret@h:6379/1'), 'redis://app:***@h:6379/1')
    assert.equal(redactUrl('rediss://:s3cret@h:6380'), 'rediss://:***@h:6380')
    assert.equal(redactUrl('redis://h:6379'), 'redis://h:6379')
  })

  it('is registered as type redis; cache mode is idempotent, stream mode at-least-once', async () => {
    const ctx = {
      pipeline: 'shop',
      log: pino({ level: 'silent' }),
      avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' } as const,
    }
    assert.equal(redisEntry.type, 'redis')
    const cache = redisEntry.create(
      redisEntry.config.parse({ type: 'redis', url: 'redis://127.0.0.1:1' }),
      ctx,
    )
    const stream = redisEntry.create(
      redisEntry.config.parse({ type: 'redis', url: 'redis://127.0.0.1:1', mode: 'stream' }),
      ctx,
    )
    assert.equal(cache.delivery, 'idempotent')
    assert.equal(stream.delivery, 'at-least-once')
    await Promise.all([cache.close(), stream.close()])
  })
  it('reaches users through the config loader: file, line, key path and the fix; lower-case placeholders kept', () => {
    const yaml = (sink: string): string => `pipelines:
  - name: p
    source:
      type: postgres
      url: postgres://u@h/db
      tables: [public.t]
    sinks:
      - type: redis
${sink}
state:
  type: file
  path: /tmp/x
`
    assert.throws(
      () =>
        parseConfigText(yaml('        url: redis://:pw@h:6379\n        cluster: true'), '/etc/s.yaml', {}),
      /\/etc\/s\.yaml:8:9: pipelines\[0\]\.sinks\[0\]\.key: with a cluster the key needs a hash tag/,
    )
    const { config } = parseConfigText(
      yaml('        url: redis://:${REDIS_PW}@h:6379\n        key: "app:${table}:${key}"'),
      '/etc/s.yaml',
      { REDIS_PW: 'pw123' },
    )
    const sink = config.pipelines[0]!.sinks[0] as unknown as { url: string; key: string }
    assert.equal(sink.url, 'redis://:pw123@h:6379')
    assert.equal(sink.key, 'app:${table}:${key}')
  })
})
