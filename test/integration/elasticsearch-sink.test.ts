/**
 * The Elasticsearch/OpenSearch sink driven with change batches through the real client
 * libraries: against the in-test fake (both flavors) by default, or against a real server
 * when ES_URL is set (ES_FLAVOR: elasticsearch|opensearch, ES_USERNAME/ES_PASSWORD); the
 * fault-injection tests need the fake and are skipped only then.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { makePosition } from '../../connectors/postgres/position.js'
import { PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, Op, Row } from '../../pipeline/event.js'
import type { ColumnSchema, TableSchema } from '../../pipeline/schema.js'
import type { SinkContext } from '../../pipeline/sink.js'
import { keyString, toDocument } from '../../sinks/document.js'
import { elasticsearchConfig, type ElasticsearchConfig } from '../../sinks/elasticsearch/config.js'
import { createElasticsearchSink, type ElasticsearchSink } from '../../sinks/elasticsearch/sink.js'
import { freePort } from './servers/postgres.js'
import { startSearchFake, type SearchFake, type SearchFlavor } from './servers/elasticsearch-fake.js'

const REAL_URL = process.env.ES_URL
const FAKE_ONLY = REAL_URL
  ? 'fault injection and fake inspection need the in-test fake (ES_URL is set)'
  : false
const flavors: SearchFlavor[] = REAL_URL
  ? [(process.env.ES_FLAVOR as SearchFlavor | undefined) ?? 'elasticsearch']
  : ['elasticsearch', 'opensearch']

const ctx: SinkContext = {
  pipeline: 'shop',
  log: pino({ level: 'silent' }),
  avro: { types: 'debezium', prefix: 'shop', unsupported: 'fail' },
}

const col = (name: string, avro: ColumnSchema['avro'], nullable = true): ColumnSchema => ({
  name,
  sourceType: 'x',
  nullable,
  avro,
  fromText: (t) => t,
})

const items: TableSchema = {
  connector: 'postgresql',
  db: 'shop',
  schema: 'public',
  table: 'items',
  version: 1,
  keyColumns: ['id'],
  columns: [
    col('id', 'int', false),
    col('name', 'string'),
    col('qty', 'long'),
    col('at', { type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }),
  ],
}

const tableNamed = (name: string, base: TableSchema = items): TableSchema => ({ ...base, table: name })

let lsn = 0x1_0000_0000n
/** A transaction's worth of events at a fresh commit LSN. */
function tx(
  table: TableSchema,
  changes: { op: Op; before?: Row | null; after?: Row | null }[],
  commit: bigint = (lsn += 0x100n),
): ChangeBatch {
  const events: ChangeEvent[] = changes.map((c, i) => {
    const row = c.after ?? c.before ?? null
    const key =
      row && table.keyColumns.length > 0 ? Object.fromEntries(table.keyColumns.map((k) => [k, row[k]])) : null
    const position = makePosition(commit, '1', i + 1)
    return {
      op: c.op,
      table,
      key,
      before: c.before ?? null,
      after: c.after ?? null,
      position,
      source: {
        version: 'test',
        connector: 'postgresql',
        name: 'shop',
        ts_ms: 0,
        snapshot: 'false',
        db: table.db,
        schema: table.schema,
        table: table.table,
        position,
      },
      transaction: null,
      ts_ms: 0,
    }
  })
  return { events, checkpoint: makePosition(commit, '1', 999_999_999_999), bytes: 0 }
}

const row = (id: number, name: string, qty = id * 10): Row => ({
  id,
  name,
  qty,
  at: 1_700_000_000_123_456n + BigInt(id),
})

/** Reads an index straight over HTTP (refresh, then search), independently of the sink. */
async function readIndex(
  url: string,
  index: string,
): Promise<Map<string, { source: unknown; version: number }>> {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (process.env.ES_USERNAME) {
    headers.authorization = `Basic ${Buffer.from(`${process.env.ES_USERNAME}:${process.env.ES_PASSWORD ?? ''}`).toString('base64')}`
  }
  await fetch(`${url}/${index}/_refresh`, { method: 'POST', headers })
  const res = await fetch(`${url}/${index}/_search`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ size: 10_000, version: true, query: { match_all: {} } }),
  })
  if (res.status === 404) return new Map()
  const body = (await res.json()) as { hits: { hits: { _id: string; _source: unknown; _version: number }[] } }
  return new Map(body.hits.hits.map((h) => [h._id, { source: h._source, version: h._version }]))
}

/** The documents the index must hold for these rows. */
const expected = (table: TableSchema, rows: Row[]): Map<string, unknown> =>
  new Map(rows.map((r) => [keyString(table, { id: r.id }), toDocument(table, r)]))

const sources = (m: Map<string, { source: unknown }>): Map<string, unknown> =>
  new Map([...m].map(([k, v]) => [k, v.source]))

let counter = 0
const uniqueIndex = (flavor: string): string =>
  `sluice-t${Date.now().toString(36)}-${flavor.slice(0, 2)}-${++counter}`

for (const flavor of flavors) {
  describe(`elasticsearch sink: ${flavor} (${REAL_URL ? 'real server' : 'in-test fake'})`, () => {
    let fake: SearchFake | undefined
    let url: string
    const open: ElasticsearchSink[] = []

    before(async () => {
      if (REAL_URL) url = REAL_URL
      else {
        fake = await startSearchFake({ flavor })
        url = fake.url
      }
    })
    after(async () => {
      for (const s of open) await s.close().catch(() => {})
      await fake?.stop()
    })

    const sinkFor = async (
      index: string,
      extra: Partial<Record<keyof ElasticsearchConfig, unknown>> = {},
      deps: Parameters<typeof createElasticsearchSink>[2] = {},
    ): Promise<ElasticsearchSink> => {
      const config = elasticsearchConfig.parse({
        type: 'elasticsearch',
        flavor,
        url,
        index,
        retry_backoff_ms: 5,
        retry_max_backoff_ms: 20,
        ...(process.env.ES_USERNAME
          ? { username: process.env.ES_USERNAME, password: process.env.ES_PASSWORD }
          : {}),
        ...extra,
      })
      const sink = createElasticsearchSink(config, ctx, deps)
      open.push(sink)
      await sink.open()
      return sink
    }

    test('inserts, updates and deletes leave exactly the rows, rendered by toDocument, under keyString ids', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      const t = tableNamed(index)
      await sink.write(
        tx(
          t,
          [1, 2, 3, 4].map((i) => ({ op: 'c' as const, after: row(i, `n${i}`) })),
        ),
      )
      await sink.write(tx(t, [{ op: 'u', before: row(2, 'n2'), after: row(2, 'two', 99) }]))
      const last = tx(t, [{ op: 'd', before: row(3, 'n3') }])
      await sink.write(last)
      await sink.flush()
      const docs = await readIndex(url, index)
      assert.deepEqual(sources(docs), expected(t, [row(1, 'n1'), row(2, 'two', 99), row(4, 'n4')]))
      assert.equal(
        (docs.get('2')!.source as { at: string }).at,
        '2023-11-14T22:13:20.123458',
        'timestamps ISO 8601',
      )
      const commit = BigInt('0x' + last.checkpoint.slice(0, 16))
      assert.equal(BigInt(docs.get('1')!.version), commit - 0x200n, 'the version is the commit LSN')
      assert.equal(sink.stats.indexed, 5)
      assert.equal(sink.stats.deleted, 1)
      assert.equal(sink.stats.stale, 0)
    })

    test('a replay of earlier batches changes nothing: every stale item is a counted 409', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      const t = tableNamed(index)
      const b1 = tx(
        t,
        [1, 2, 3].map((i) => ({ op: 'c' as const, after: row(i, `v1-${i}`) })),
      )
      const b2 = tx(t, [
        { op: 'u', before: row(1, 'v1-1'), after: row(1, 'v2-1') },
        { op: 'd', before: row(2, 'v1-2') },
      ])
      const b3 = tx(t, [{ op: 'u', before: row(3, 'v1-3'), after: row(3, 'v3-3') }])
      for (const b of [b1, b2, b3]) await sink.write(b)
      const before = await readIndex(url, index)
      // Late duplicates, in the original order and out of order.
      for (const b of [b1, b2, b1, b3, b2]) await sink.write(b)
      await sink.flush()
      const afterReplay = await readIndex(url, index)
      assert.deepEqual(afterReplay, before, 'documents and versions unchanged')
      assert.deepEqual(sources(afterReplay), expected(t, [row(1, 'v2-1'), row(3, 'v3-3')]))
      // Older transactions are refused (b1 twice: 3 + 3 stale, the delete's tombstone refuses
      // id 2 too); a duplicate of the newest transaction of a document carries the same
      // version and the same content, so external_gte re-applies it without any change.
      assert.equal(sink.stats.stale, 6)
      // A fresh sink (a restart) replaying the same range is refused the same way.
      const restarted = await sinkFor(index)
      for (const b of [b1, b2, b3]) await restarted.write(b)
      assert.equal(restarted.stats.stale, 3)
      assert.deepEqual(await readIndex(url, index), before)
    })

    test('events of one transaction on one key apply in order, also across batches of the transaction', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      const t = tableNamed(index)
      const commit = (lsn += 0x100n)
      await sink.write(
        tx(
          t,
          [
            { op: 'c', after: row(1, 'a') },
            { op: 'u', before: row(1, 'a'), after: row(1, 'b') },
            { op: 'd', before: row(1, 'b') },
            { op: 'c', after: row(1, 'c') },
          ],
          commit,
        ),
      )
      assert.equal(sink.stats.coalesced, 3, 'one action per document per batch')
      // The same transaction continued in a later batch (large transactions span batches).
      await sink.write(tx(t, [{ op: 'u', before: row(1, 'c'), after: row(1, 'd') }], commit))
      assert.deepEqual(sources(await readIndex(url, index)), expected(t, [row(1, 'd')]))
      // An older transaction arriving late cannot touch it.
      await sink.write(tx(t, [{ op: 'd', before: row(1, 'x') }], commit - 0x10n))
      assert.deepEqual(sources(await readIndex(url, index)), expected(t, [row(1, 'd')]))
      assert.equal(sink.stats.stale, 1)
    })

    test('primary-key changes remove the old document (u with the old key in before, and d+c)', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      const t = tableNamed(index)
      await sink.write(
        tx(
          t,
          [1, 2].map((i) => ({ op: 'c' as const, after: row(i, `n${i}`) })),
        ),
      )
      await sink.write(tx(t, [{ op: 'u', before: row(1, 'n1'), after: row(10, 'moved') }]))
      await sink.write(
        tx(t, [
          { op: 'd', before: row(2, 'n2') },
          { op: 'c', after: row(20, 'moved2') },
        ]),
      )
      assert.deepEqual(
        sources(await readIndex(url, index)),
        expected(t, [row(10, 'moved'), row(20, 'moved2')]),
      )
    })

    test('large values and bulk limits: requests split by count and bytes, one oversized document alone', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index, { bulk_max_actions: 10, bulk_max_bytes: 64 * 1024 })
      const t = tableNamed(index)
      const big = 'x'.repeat(300 * 1024) + 'é'
      const rows = Array.from({ length: 35 }, (_, i) => row(i + 1, i === 7 ? big : `r${i}`))
      const requestsBefore = sink.stats.bulkRequests
      await sink.write(
        tx(
          t,
          rows.map((r) => ({ op: 'c' as const, after: r })),
        ),
      )
      // 35 actions, at most 10 per request; document 8 (300 KiB) exceeds 64 KiB and goes alone:
      // [1..7] [8] [9..18] [19..28] [29..35].
      assert.equal(sink.stats.bulkRequests - requestsBefore, 5)
      const docs = await readIndex(url, index)
      assert.deepEqual(sources(docs), expected(t, rows))
      assert.equal((docs.get('8')!.source as { name: string }).name.length, big.length)
    })

    test('a table without a primary key is refused with an error naming the table and the fix', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      const t: TableSchema = { ...tableNamed(index), table: 'audit_log', keyColumns: [] }
      await assert.rejects(sink.write(tx(t, [{ op: 'c', after: row(1, 'a') }])), (err: unknown) => {
        assert.ok(err instanceof SinkError)
        assert.equal(err.code, 'ES_NO_PRIMARY_KEY')
        assert.match(err.message, /table public\.audit_log has no primary key.*add a primary key/)
        return true
      })
      // The sink stays failed: nothing after the refused batch can be acknowledged.
      await assert.rejects(
        sink.write(tx(tableNamed(index), [{ op: 'c', after: row(1, 'a') }])),
        /no primary key/,
      )
    })

    test('a truncate halts naming the table and the fix, unless on_truncate: ignore', async () => {
      const index = uniqueIndex(flavor)
      const t = tableNamed(index)
      const ignoring = await sinkFor(index, { on_truncate: 'ignore' })
      await ignoring.write(tx(t, [{ op: 'c', after: row(1, 'a') }]))
      await ignoring.write(tx(t, [{ op: 't' }, { op: 'c', after: row(2, 'b') }]))
      assert.equal(ignoring.stats.truncatesIgnored, 1)
      assert.deepEqual(sources(await readIndex(url, index)), expected(t, [row(1, 'a'), row(2, 'b')]))
      const halting = await sinkFor(index)
      await assert.rejects(halting.write(tx(t, [{ op: 't' }])), (err: unknown) => {
        assert.ok(err instanceof SinkError)
        assert.equal(err.code, 'ES_TRUNCATE')
        assert.match(
          err.message,
          new RegExp(`table public\\.${index} was truncated.*empty the index '${index}'`),
        )
        return true
      })
    })

    test('a document the index mapping refuses halts with index, id and reason; skip counts it', async () => {
      const index = uniqueIndex(flavor)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (process.env.ES_USERNAME) {
        headers.authorization = `Basic ${Buffer.from(`${process.env.ES_USERNAME}:${process.env.ES_PASSWORD ?? ''}`).toString('base64')}`
      }
      // A pre-existing index whose mapping disagrees with the table: name is a number there.
      const created = await fetch(`${url}/${index}`, {
        method: 'PUT',
        headers,
        body: JSON.stringify({ mappings: { properties: { name: { type: 'long' } } } }),
      })
      assert.equal(created.status, 200)
      const t = tableNamed(index)
      const halting = await sinkFor(index)
      await assert.rejects(
        halting.write(
          tx(t, [
            { op: 'c', after: row(1, '12') },
            { op: 'c', after: row(2, 'not a number') },
          ]),
        ),
        (err: unknown) => {
          assert.ok(err instanceof SinkError)
          assert.equal(err.code, 'ES_DOCUMENT_REJECTED')
          assert.match(err.message, new RegExp(`index ${index} refused document id '2' \\(400 `))
          assert.match(err.message, /name/)
          assert.match(err.message, /on_mapping_error: skip/)
          return true
        },
      )
      const skipping = await sinkFor(index, { on_mapping_error: 'skip' })
      await skipping.write(
        tx(t, [
          { op: 'c', after: row(3, 'bad') },
          { op: 'c', after: row(4, '44') },
        ]),
      )
      assert.equal(skipping.stats.skipped, 1)
      assert.deepEqual([...(await readIndex(url, index)).keys()].sort(), ['1', '4'])
    })

    test('create_index creates the index with mappings from the column types', async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index, { create_index: true })
      const t = tableNamed(index)
      await sink.write(tx(t, [{ op: 'c', after: row(1, 'a') }]))
      const res = await fetch(`${url}/${index}/_mapping`, {
        headers: process.env.ES_USERNAME
          ? {
              authorization: `Basic ${Buffer.from(`${process.env.ES_USERNAME}:${process.env.ES_PASSWORD ?? ''}`).toString('base64')}`,
            }
          : {},
      })
      const body = (await res.json()) as Record<
        string,
        { mappings: { properties: Record<string, { type: string }> } }
      >
      const props = body[index]!.mappings.properties
      assert.equal(props.id!.type, 'integer')
      assert.equal(props.name!.type, 'text')
      assert.equal(props.qty!.type, 'long')
      assert.equal(props.at!.type, 'date')
      // A second sink finds it there (no error on an existing index).
      const again = await sinkFor(index, { create_index: true })
      await again.write(tx(t, [{ op: 'c', after: row(2, 'b') }]))
      assert.equal((await readIndex(url, index)).size, 2)
    })

    test(
      'per-item 429 and 5xx are retried with backoff until they converge, keeping per-key order',
      { skip: FAKE_ONLY },
      async () => {
        const index = uniqueIndex(flavor)
        const delays: number[] = []
        const sink = await sinkFor(
          index,
          {},
          { sleep: async (ms) => void delays.push(ms), random: () => 0.999 },
        )
        const t = tableNamed(index)
        fake!.failNext({ index, id: '2', status: 429, count: 3 })
        fake!.failNext({ index, id: '4', status: 503, count: 1 })
        await sink.write(
          tx(
            t,
            [1, 2, 3, 4].map((i) => ({ op: 'c' as const, after: row(i, `v1-${i}`) })),
          ),
        )
        assert.equal(sink.stats.retried, 4, 'only the failed items are retried')
        assert.deepEqual(delays, [4, 9, 19], 'exponential backoff (5, 10, 20 ms × jitter), capped at 20')
        // Key 2 keeps failing in batch 1 while batch 2 updates it: batch 2 must land last.
        fake!.failNext({ index, id: '2', status: 500, count: 2 })
        const w1 = sink.write(tx(t, [{ op: 'u', before: row(2, 'v1-2'), after: row(2, 'v2-2') }]))
        const w2 = sink.write(tx(t, [{ op: 'u', before: row(2, 'v2-2'), after: row(2, 'v3-2') }]))
        await Promise.all([w1, w2])
        fake!.failRequests(2, 503)
        await sink.write(tx(t, [{ op: 'd', before: row(1, 'v1-1') }]))
        assert.deepEqual(
          fake!.docs(index),
          expected(t, [row(2, 'v3-2'), row(3, 'v1-3'), row(4, 'v1-4')]),
          'converged to the source state',
        )
        assert.equal(fake!.stats.requestFaults, 2)
      },
    )

    test(
      'retries are bounded: exhausted, the write fails and nothing past it is acknowledged',
      { skip: FAKE_ONLY },
      async () => {
        const index = uniqueIndex(flavor)
        const sink = await sinkFor(index, { max_retries: 2 }, { sleep: async () => {} })
        fake!.failNext({ index, id: '1', status: 429, count: 10 })
        await assert.rejects(
          sink.write(tx(tableNamed(index), [{ op: 'c', after: row(1, 'a') }])),
          (err: unknown) => {
            assert.ok(err instanceof SinkError)
            assert.equal(err.code, 'ES_RETRIES_EXHAUSTED')
            assert.match(
              err.message,
              new RegExp(`index ${index}, id 1: status 429 es_rejected_execution_exception`),
            )
            return true
          },
        )
        await assert.rejects(sink.flush(), /still failing/)
      },
    )

    test('an injected per-item 400 halts naming index, id and reason', { skip: FAKE_ONLY }, async () => {
      const index = uniqueIndex(flavor)
      const sink = await sinkFor(index)
      fake!.failNext({ index, id: '5', status: 400, reason: 'failed to parse field [qty] of type [long]' })
      await assert.rejects(
        sink.write(tx(tableNamed(index), [{ op: 'c', after: row(5, 'a') }])),
        /index .* refused document id '5' \(400 mapper_parsing_exception: failed to parse field \[qty\] of type \[long\]\)/,
      )
    })

    test('open() fails fast when the server is the other product', { skip: FAKE_ONLY }, async () => {
      const other = await startSearchFake({
        flavor: flavor === 'elasticsearch' ? 'opensearch' : 'elasticsearch',
      })
      try {
        const config = elasticsearchConfig.parse({ type: 'elasticsearch', flavor, url: other.url })
        const sink = createElasticsearchSink(config, ctx)
        await assert.rejects(sink.open(), (err: unknown) => {
          assert.ok(err instanceof PreconditionError)
          assert.equal(err.code, 'ES_WRONG_FLAVOR')
          assert.match(err.message, /set flavor: (opensearch|elasticsearch)/)
          return true
        })
        await sink.close()
      } finally {
        await other.stop()
      }
    })

    test('open() fails fast and clearly when the server is unreachable', async () => {
      const port = await freePort()
      const config = elasticsearchConfig.parse({
        type: 'elasticsearch',
        flavor,
        url: `http://127.0.0.1:${port}`,
      })
      const sink = createElasticsearchSink(config, ctx)
      const started = Date.now()
      await assert.rejects(sink.open(), (err: unknown) => {
        assert.ok(err instanceof PreconditionError)
        assert.equal(err.code, 'ES_UNREACHABLE')
        assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} cannot be reached.*check the sink url`))
        return true
      })
      assert.ok(Date.now() - started < 10_000)
      await sink.close()
    })

    test(
      'basic and API-key credentials are sent, and never appear in errors',
      { skip: FAKE_ONLY },
      async () => {
        const password = 's3cret-Pa55'
        const apiKey = 'a2V5aWQ6c2VjcmV0a2V5'
        const basic = await startSearchFake({ flavor, auth: { username: 'sluice', password } })
        const keyed = await startSearchFake({ flavor, auth: { apiKey } })
        try {
          const make = (u: string, extra: Record<string, unknown>): ElasticsearchSink =>
            createElasticsearchSink(
              elasticsearchConfig.parse({ type: 'elasticsearch', flavor, url: u, ...extra }),
              ctx,
            )
          const ok1 = make(basic.url, { username: 'sluice', password })
          await ok1.open()
          await ok1.write(tx(tableNamed('authbasic'), [{ op: 'c', after: row(1, 'a') }]))
          await ok1.close()
          assert.equal(basic.docs('authbasic').size, 1)
          // Credentials written in the URL are taken out of it and sent the same way.
          const inUrl = make(basic.url.replace('http://', `http://sluice:${password}@`), {})
          await inUrl.open()
          await inUrl.close()
          const ok2 = make(keyed.url, { api_key: apiKey })
          await ok2.open()
          await ok2.close()
          assert.ok(keyed.authorizations.includes(`ApiKey ${apiKey}`))
          for (const [u, extra] of [
            [basic.url, { username: 'sluice', password: 'wrong-' + password }],
            [basic.url.replace('http://', `http://sluice:x${password}@`), {}],
            [keyed.url, { api_key: 'x' + apiKey }],
          ] as const) {
            const bad = make(u, extra)
            const err = await bad.open().then(
              () => assert.fail('open succeeded with wrong credentials'),
              (e: unknown) => e,
            )
            assert.ok(err instanceof SluiceError)
            assert.equal(err.code, 'ES_AUTH_FAILED')
            assert.match(err.message, /check the sink username\/password or api_key/)
            // The error as the pipeline logs it (pino's err serializer walks the cause chain).
            let logged = ''
            const sinkLog = pino({ level: 'info' }, { write: (line: string) => void (logged += line) })
            sinkLog.error({ err }, 'pipeline failed')
            assert.match(logged, /ES_AUTH_FAILED/)
            for (const secret of [
              password,
              apiKey,
              Buffer.from(`sluice:wrong-${password}`).toString('base64'),
            ]) {
              assert.ok(!logged.includes(secret), 'no secret in the logged error')
              assert.ok(!String(err.stack).includes(secret), 'no secret in the stack')
            }
            await bad.close()
          }
        } finally {
          await basic.stop()
          await keyed.stop()
        }
      },
    )
  })
}
