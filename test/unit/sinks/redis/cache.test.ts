import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { makePosition } from '../../../../connectors/postgres/position.js'
import { postgresSource } from '../../../../connectors/postgres/source-info.js'
import type { ChangeEvent, Op, Row } from '../../../../pipeline/event.js'
import type { TableSchema } from '../../../../pipeline/schema.js'
import { CacheEncoder, CommandList, hashFields, versionOf } from '../../../../sinks/redis/cache.js'
import { redisConfig } from '../../../../sinks/redis/config.js'
import { GUARD_SHA } from '../../../../sinks/redis/scripts.js'
import { compileTemplate, globEscape } from '../../../../sinks/redis/template.js'

const T: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'items',
  version: 1,
  keyColumns: ['id'],
  columns: [
    { name: 'id', sourceType: 'int4', nullable: false, avro: 'int', fromText: Number },
    { name: 'name', sourceType: 'text', nullable: true, avro: 'string', fromText: String },
  ],
}

function ev(op: Op, position: string, before: Row | null, after: Row | null): ChangeEvent {
  return {
    op,
    table: T,
    key: { id: (after ?? before)!.id },
    before,
    after,
    position,
    source: postgresSource('shop', 'shop', 'public', 'items', 1, 'false', 5, 8192, position),
    transaction: null,
    ts_ms: 1,
  }
}

const P1 = makePosition(0x10n, '1', 3)

describe('redis cache encoding', () => {
  it('versions are positions up to the first `;`', () => {
    assert.equal(versionOf(P1), '0000000000000010.1.000000000003')
    assert.equal(
      versionOf('0000000007.0000000000000123.1.000000000002;binlog.000007;0-1-5'),
      '0000000007.0000000000000123.1.000000000002',
    )
  })

  it('hash fields: strings as they are, other values as JSON, nulls left out', () => {
    assert.deepEqual(hashFields({ id: 1, s: 'a "b"', n: null, ok: false, d: '12.50', arr: [1, 'x'] }), [
      'id',
      '1',
      's',
      'a "b"',
      'ok',
      'false',
      'd',
      '12.50',
      'arr',
      '[1,"x"]',
    ])
  })

  it('creates set the JSON, deletes leave tombstones, key changes delete the old key first', () => {
    const enc = new CacheEncoder(redisConfig.parse({ type: 'redis', url: 'redis://h:1' }), 'shop', 'TABLES')
    const out = new CommandList(enc, 500)
    enc.encode(ev('c', P1, null, { id: 1, name: 'a' }), out)
    enc.encode(ev('u', P1, { id: 1, name: 'a' }, { id: 2, name: 'a' }), out)
    enc.encode(ev('d', P1, { id: 2, name: 'a' }, null), out)
    const v = versionOf(P1)
    const k1 = ['public.items:1', 'sluice:v:public.items:1']
    const k2 = ['public.items:2', 'sluice:v:public.items:2']
    assert.deepEqual(out.finish(), [
      ['sadd', 'TABLES', 'public.items:*'],
      // One guard call for the four rows: keys, TTLs (row, live version, tombstone), then rows.
      [
        'evalsha',
        GUARD_SHA,
        8,
        ...k1,
        ...k1,
        ...k2,
        ...k2,
        '0',
        '0',
        '86400000',
        'j',
        v,
        '1',
        '{"id":1,"name":"a"}',
        'd',
        v,
        '0',
        'j',
        v,
        '1',
        '{"id":2,"name":"a"}',
        'd',
        v,
        '0',
      ],
    ])
  })

  it('packs at most maxRows rows per call; other commands split the run', () => {
    const enc = new CacheEncoder(redisConfig.parse({ type: 'redis', url: 'redis://h:1' }), 'shop', 'T')
    const out = new CommandList(enc, 2)
    for (let i = 0; i < 5; i++) out.row(`k${i}`, 'd', 'v', [])
    out.command(['sadd', 'T', 'x'])
    out.row('k5', 'w', 'v', [])
    assert.deepEqual(
      out.finish().map((c) => (c[0] === 'evalsha' ? `evalsha ${String(c[2])}` : c[0])),
      ['evalsha 4', 'evalsha 4', 'evalsha 2', 'sadd', 'evalsha 2'],
    )
  })

  it('hash values and TTLs: versions outlive rows by the tombstone TTL', () => {
    const enc = new CacheEncoder(
      redisConfig.parse({
        type: 'redis',
        url: 'redis://h:1',
        value: 'hash',
        ttl_ms: 1000,
        tombstone_ttl_ms: 500,
      }),
      'shop',
      'TABLES',
    )
    const out = new CommandList(enc, 1)
    enc.encode(ev('r', P1, null, { id: 1, name: null }), out)
    assert.deepEqual(out.finish()[1], [
      'evalsha',
      GUARD_SHA,
      2,
      'public.items:1',
      'sluice:v:public.items:1',
      '1000',
      '1500',
      '500',
      'h',
      versionOf(P1),
      '2',
      'id',
      '1',
    ])
  })

  it('templates render keys and SCAN patterns with glob characters escaped', () => {
    const t = compileTemplate('${prefix}:${db}/${schema}.${table}[${key}]', 'p*')(T)
    assert.equal(t.render('7'), 'p*:shop/public.items[7]')
    assert.equal(t.pattern, 'p\\*:shop/public.items\\[*\\]')
    assert.equal(globEscape('a?b\\c'), 'a\\?b\\\\c')
  })
})
