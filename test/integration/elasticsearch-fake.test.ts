/**
 * The in-test search fake, driven through both official clients: the semantics the sink
 * and `sluice verify` rely on (external / external_gte versions, delete tombstones,
 * per-item faults, listing every document with search_after or scroll).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Client as EsClient } from '@elastic/elasticsearch'
import { Client as OsClient } from '@opensearch-project/opensearch'
import { startSearchFake, type SearchFake } from './servers/elasticsearch-fake.js'

const bulkLine = (action: string, id: string, version: string, type: string, doc?: object): string =>
  `{"${action}":{"_index":"t","_id":"${id}","version":${version},"version_type":"${type}"}}\n` +
  (doc ? `${JSON.stringify(doc)}\n` : '')

describe('search fake through @elastic/elasticsearch', () => {
  let fake: SearchFake
  let client: EsClient
  before(async () => {
    fake = await startSearchFake({ flavor: 'elasticsearch' })
    client = new EsClient({ node: fake.url, maxRetries: 0 })
  })
  after(async () => {
    await client.close()
    await fake.stop()
  })

  const bulk = async (body: string): Promise<{ status: number; error?: { type: string } }[]> => {
    const res = await client.bulk({ operations: body as unknown as [] })
    return res.items.map((i) => Object.values(i)[0] as { status: number; error?: { type: string } })
  }

  test('external refuses equal and lower versions, external_gte only lower ones, exact to 2^63-1', async () => {
    const max = '9223372036854775807'
    const r = await bulk(
      bulkLine('index', 'a', '5', 'external', { v: 1 }) +
        bulkLine('index', 'a', '5', 'external', { v: 2 }) +
        bulkLine('index', 'a', '5', 'external_gte', { v: 3 }) +
        bulkLine('index', 'a', '4', 'external_gte', { v: 4 }) +
        bulkLine('index', 'b', '9223372036854775806', 'external', { v: 1 }) +
        bulkLine('index', 'b', max, 'external', { v: 2 }) +
        bulkLine('index', 'b', '9223372036854775808', 'external', { v: 3 }),
    )
    assert.deepEqual(
      r.map((i) => i.status),
      [201, 409, 200, 409, 201, 200, 400],
    )
    assert.equal(r[1]!.error!.type, 'version_conflict_engine_exception')
    assert.deepEqual(fake.docs('t').get('a'), { v: 3 })
    assert.equal(fake.versions('t').get('b')!.version, BigInt(max), 'versions above 2^53 kept exactly')
  })

  test('a delete leaves a tombstone that refuses older writes until forgotten', async () => {
    const r = await bulk(
      bulkLine('delete', 'c', '10', 'external_gte') +
        bulkLine('index', 'c', '9', 'external_gte', { v: 1 }) +
        bulkLine('index', 'c', '10', 'external_gte', { v: 2 }),
    )
    assert.deepEqual(
      r.map((i) => i.status),
      [404, 409, 201],
    )
    await bulk(bulkLine('delete', 'c', '11', 'external_gte'))
    assert.deepEqual(fake.versions('t').get('c'), { version: 11n, deleted: true })
    fake.forgetTombstones()
    assert.equal((await bulk(bulkLine('index', 'c', '1', 'external_gte', { v: 3 })))[0]!.status, 201)
  })

  test('per-item faults hit only the matching items, as often as asked', async () => {
    fake.failNext({ id: 'f1', status: 429, count: 2 })
    fake.failNext({ id: 'f2', status: 400, reason: 'nope' })
    const lines =
      bulkLine('index', 'f1', '1', 'external', { v: 1 }) + bulkLine('index', 'f2', '1', 'external', { v: 1 })
    assert.deepEqual(
      (await bulk(lines)).map((i) => [i.status, i.error?.type]),
      [
        [429, 'es_rejected_execution_exception'],
        [400, 'mapper_parsing_exception'],
      ],
    )
    assert.deepEqual(
      (await bulk(lines)).map((i) => i.status),
      [429, 201],
    )
    assert.deepEqual(
      (await bulk(lines)).map((i) => i.status),
      [201, 409],
    )
  })

  test('every document can be listed with search_after and with scroll', async () => {
    const many = Array.from({ length: 25 }, (_, i) =>
      bulkLine('index', `d${String(i).padStart(2, '0')}`, '1', 'external', { i }),
    ).join('')
    await client.indices.create({ index: 'list' })
    await bulk(many.replaceAll('"_index":"t"', '"_index":"list"'))
    const seen: string[] = []
    let after: unknown[] | undefined
    for (;;) {
      const res = await client.search({
        index: 'list',
        size: 10,
        sort: ['_doc'],
        ...(after ? { search_after: after as string[] } : {}),
      })
      if (res.hits.hits.length === 0) break
      for (const h of res.hits.hits) seen.push(h._id!)
      after = res.hits.hits.at(-1)!.sort
    }
    assert.equal(seen.length, 25)
    assert.deepEqual(new Set(seen), new Set(fake.docs('list').keys()))
    const scrolled: string[] = []
    let page = await client.search({ index: 'list', size: 7, scroll: '1m' })
    while (page.hits.hits.length > 0) {
      for (const h of page.hits.hits) scrolled.push(h._id!)
      page = await client.scroll({ scroll_id: page._scroll_id!, scroll: '1m' })
    }
    await client.clearScroll({ scroll_id: page._scroll_id! })
    assert.deepEqual(scrolled.sort(), seen.sort())
    assert.equal((await client.count({ index: 'list' })).count, 25)
    const got = await client.get({ index: 'list', id: 'd03' })
    assert.deepEqual(got._source, { i: 3 })
  })
})

describe('search fake through @opensearch-project/opensearch', () => {
  test('cluster info names OpenSearch, and there is no x-elastic-product header', async () => {
    const fake = await startSearchFake({ flavor: 'opensearch' })
    const client = new OsClient({ node: fake.url })
    try {
      const info = await client.info()
      assert.equal((info.body.version as { distribution?: string }).distribution, 'opensearch')
      assert.equal(info.headers?.['x-elastic-product'], undefined)
      const res = await client.bulk({ body: bulkLine('delete', 'x', '3', 'external') as unknown as [] })
      assert.equal((Object.values(res.body.items[0]!)[0] as { status: number }).status, 404)
      assert.deepEqual(fake.versions('t').get('x'), { version: 3n, deleted: true })
    } finally {
      await client.close()
      await fake.stop()
    }
  })
})
