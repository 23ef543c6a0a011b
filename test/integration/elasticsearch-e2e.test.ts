/**
 * Postgres → search index and MariaDB → search index through the real pipeline (the
 * `sluice run` builder), with the in-test fake of both flavors, or a real server when
 * ES_URL is set (ES_FLAVOR, ES_USERNAME/ES_PASSWORD); fault injection needs the fake and
 * is left out only then. After each scenario, the index is compared with the table, read
 * back with SQL and rendered here independently of sinks/document.ts.
 */
import assert from 'node:assert/strict'
import { copyFileSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startSearchFake, type SearchFake, type SearchFlavor } from './servers/elasticsearch-fake.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startPipeline, tempDir, waitFor, type TestPipeline } from './helpers/pipeline.js'
import { readStatePosition } from './helpers/crash.js'

const REAL_URL = process.env.ES_URL
const flavors: SearchFlavor[] = REAL_URL
  ? [(process.env.ES_FLAVOR as SearchFlavor | undefined) ?? 'elasticsearch']
  : ['elasticsearch', 'opensearch']
const RUN = Date.now().toString(36)

const authHeaders = (): Record<string, string> =>
  process.env.ES_USERNAME
    ? {
        authorization: `Basic ${Buffer.from(`${process.env.ES_USERNAME}:${process.env.ES_PASSWORD ?? ''}`).toString('base64')}`,
      }
    : {}

/** Every document of an index (`_id` → `_source`), read over plain HTTP after a refresh. */
async function readIndex(url: string, index: string): Promise<Map<string, Record<string, unknown>>> {
  const headers = { 'content-type': 'application/json', ...authHeaders() }
  await fetch(`${url}/${index}/_refresh`, { method: 'POST', headers })
  const res = await fetch(`${url}/${index}/_search`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ size: 10_000, version: true, query: { match_all: {} } }),
  })
  if (res.status === 404) return new Map()
  const body = (await res.json()) as { hits: { hits: { _id: string; _source: Record<string, unknown> }[] } }
  return new Map(body.hits.hits.map((h) => [h._id, h._source]))
}

/** `2024-01-02 03:04:05.12` (as both databases print it) → `2024-01-02T03:04:05.120000`. */
function isoLocal(text: string): string {
  const [date, time] = text.split(' ') as [string, string]
  const [hms, frac] = time.split('.')
  const f = (frac ?? '').padEnd(6, '0')
  return `${date}T${hms}${/^0*$/.test(f) ? '' : `.${f}`}`
}

/** Polls until the index equals the expected documents; returns the last difference on timeout. */
async function converge(
  url: string,
  index: string,
  expected: () => Promise<Map<string, Record<string, unknown>>>,
  what: string,
  done?: Promise<void>,
): Promise<void> {
  let failure: unknown = null
  done?.catch((err: unknown) => (failure = err))
  let last = ''
  try {
    await waitFor(
      async () => {
        if (failure) throw failure
        const [want, got] = [await expected(), await readIndex(url, index)]
        try {
          assert.deepEqual(got, want)
          return true
        } catch (err) {
          last = (err as Error).message.slice(0, 2000)
          return false
        }
      },
      60_000,
      what,
    )
  } catch (err) {
    throw new Error(`${(err as Error).message}\n${last}`, { cause: err })
  }
}

const sinkYaml = (flavor: string, url: string, index: string, extra = ''): string => `
      - type: elasticsearch
        flavor: ${flavor}
        url: ${url}
        index: "${index}"
        retry_backoff_ms: 10
        retry_max_backoff_ms: 50
${process.env.ES_USERNAME ? `        username: ${process.env.ES_USERNAME}\n        password: ${process.env.ES_PASSWORD ?? ''}\n` : ''}${extra}`

const stateYaml = (dir: string): string => `
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`

for (const flavor of flavors) {
  describe(`postgres → ${flavor} (${REAL_URL ? 'real server' : 'in-test fake'})`, () => {
    let pg: PgServer
    let fake: SearchFake | undefined
    let url: string

    before(async () => {
      pg = await startPostgres()
      await pg.sql('CREATE DATABASE shop')
      if (REAL_URL) url = REAL_URL
      else {
        fake = await startSearchFake({ flavor })
        url = fake.url
      }
    })
    after(async () => {
      await fake?.stop()
      await pg?.stop()
    })

    /** The table as documents, rendered from SQL text here (not by sinks/document.ts). */
    const tableDocs = async (
      table: string,
      keyExpr = 'id',
    ): Promise<Map<string, Record<string, unknown>>> => {
      const rows = await pg.sql<{
        k: string
        id: number
        name: string | null
        price: string | null
        seen: string | null
        active: boolean | null
        body: string | null
        raw: string | null
      }>(
        `SELECT ${keyExpr}::text AS k, id, name, price::text AS price, seen::text AS seen, active, body,
                replace(encode(raw, 'base64'), E'\\n', '') AS raw FROM ${table}`,
        [],
        'shop',
      )
      return new Map(
        rows.map((r) => [
          r.k,
          {
            id: r.id,
            name: r.name,
            price: r.price,
            seen: r.seen === null ? null : isoLocal(r.seen),
            active: r.active,
            body: r.body,
            raw: r.raw,
          },
        ]),
      )
    }

    const createTable = (name: string): Promise<unknown> =>
      pg.sql(
        `CREATE TABLE ${name} (id int PRIMARY KEY, name text, price numeric(12,2), seen timestamp(6),
                               active boolean, body text, raw bytea);
         INSERT INTO ${name} SELECT g, 'n' || g, g * 1.25, timestamp '2024-01-02 03:04:05' + g * interval '1.5 second',
                                    g % 2 = 0, NULL, decode('00ff' || lpad(to_hex(g), 4, '0'), 'hex')
           FROM generate_series(1, 300) g;`,
        [],
        'shop',
      )

    test('snapshot, inserts, updates, deletes, key changes and large values converge to the table', async () => {
      const table = `items_${flavor.slice(0, 2)}`
      const index = `e2e-${RUN}-pg-\${table}`
      const indexName = `e2e-${RUN}-pg-${table}`
      await createTable(table)
      const t = tempDir()
      let p: TestPipeline | null = null
      try {
        p = startPipeline(
          `
pipelines:
  - name: shop
    source:
      type: postgres
      url: ${pg.urlFor('shop')}
      tables: [public.${table}]
    sinks:${sinkYaml(flavor, url, index, '        bulk_max_actions: 50\n')}
${stateYaml(t.dir)}`,
          t.dir,
        )
        await converge(url, indexName, () => tableDocs(table), 'snapshot in the index', p.done)
        if (fake) {
          // Per-item 429 and 503, and a whole failed request, on the streamed changes.
          fake.failNext({ index: indexName, id: '1001', status: 429, count: 3 })
          fake.failNext({ index: indexName, id: '5', status: 503, count: 2 })
          fake.failRequests(1, 502)
        }
        const large = 'ü'.repeat(600_000)
        await pg.sql(
          `INSERT INTO ${table} VALUES (1001, 'new', 10.50, '2024-05-06 07:08:09.123456', true, NULL, NULL);
           UPDATE ${table} SET price = price + 1, name = NULL WHERE id <= 20;
           DELETE FROM ${table} WHERE id BETWEEN 21 AND 40;
           UPDATE ${table} SET id = id + 5000 WHERE id BETWEEN 41 AND 45;`,
          [],
          'shop',
        )
        await pg.sql(`UPDATE ${table} SET body = $1 WHERE id = 5`, [large], 'shop')
        await pg.sql(
          `BEGIN;
           INSERT INTO ${table} VALUES (2001, 'tx', 1, NULL, NULL, NULL, NULL);
           UPDATE ${table} SET name = 'tx2' WHERE id = 2001;
           UPDATE ${table} SET id = 2002 WHERE id = 2001;
           DELETE FROM ${table} WHERE id = 50;
           INSERT INTO ${table} VALUES (50, 'reborn', 2, NULL, NULL, NULL, NULL);
           COMMIT;`,
          [],
          'shop',
        )
        await converge(url, indexName, () => tableDocs(table), 'stream in the index', p.done)
        const docs = await readIndex(url, indexName)
        assert.equal((docs.get('5')!.body as string).length, 600_000, 'large value intact')
        assert.ok(!docs.has('41') && docs.has('5041'), 'the old key of a key change is gone')
        assert.ok(!docs.has('2001') && docs.get('2002')!.name === 'tx2')
        if (fake) {
          assert.ok(fake.stats.itemFaults >= 5, 'the injected item faults happened')
          assert.equal(fake.stats.requestFaults, 1)
        }
      } finally {
        await p?.stop().catch(() => {})
        t.cleanup()
      }
    })

    test('a document the index refuses (400) halts the pipeline without advancing the position', async () => {
      const table = `halt_${flavor.slice(0, 2)}`
      const indexName = `e2e-${RUN}-pg-${table}`
      await pg.sql(
        `CREATE TABLE ${table} (id int PRIMARY KEY, name text);
         INSERT INTO ${table} SELECT g, g::text FROM generate_series(1, 10) g;`,
        [],
        'shop',
      )
      // An index whose mapping makes `name` a number: the table's numeric names fit, 'oops' does not.
      const created = await fetch(`${url}/${indexName}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', ...authHeaders() },
        body: JSON.stringify({ mappings: { properties: { name: { type: 'long' } } } }),
      })
      assert.equal(created.status, 200)
      const t = tempDir()
      try {
        const p = startPipeline(
          `
pipelines:
  - name: halt
    source:
      type: postgres
      url: ${pg.urlFor('shop')}
      tables: [public.${table}]
    sinks:${sinkYaml(flavor, url, `e2e-${RUN}-pg-\${table}`)}
${stateYaml(t.dir)}`,
          t.dir,
        )
        await waitFor(async () => (await readIndex(url, indexName)).size === 10, 30_000, 'snapshot indexed')
        // Every later commit LSN is above this point.
        const [hi, lo] = (
          await pg.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')
        )[0]!.lsn.split('/')
        const before = (BigInt('0x' + hi) << 32n) | BigInt('0x' + lo)
        await pg.sql(`INSERT INTO ${table} VALUES (11, '11'), (12, 'oops'), (13, '13')`, [], 'shop')
        await assert.rejects(p.done, (err: unknown) => {
          assert.equal((err as { code?: string }).code, 'ES_DOCUMENT_REJECTED')
          assert.match(
            (err as Error).message,
            new RegExp(`index ${indexName} refused document id '12' \\(400 `),
          )
          return true
        })
        const committed = readStatePosition(join(t.dir, 'state'), 'halt')
        assert.ok(committed !== null, 'the snapshot was committed')
        assert.ok(
          BigInt('0x' + committed.slice(0, 16)) <= before,
          `committed position ${committed} is past the refused transaction (after ${hi}/${lo})`,
        )
        assert.ok(!(await readIndex(url, indexName)).has('12'))
      } finally {
        t.cleanup()
      }
    })
  })

  describe(`mariadb → ${flavor} (${REAL_URL ? 'real server' : 'in-test fake'})`, () => {
    let db: MariaServer
    let fake: SearchFake | undefined
    let url: string

    before(async () => {
      db = await startMariadb()
      await db.sql('CREATE DATABASE shop')
      if (REAL_URL) url = REAL_URL
      else {
        fake = await startSearchFake({ flavor })
        url = fake.url
      }
    })
    after(async () => {
      await fake?.stop()
      await db?.stop()
    })

    const tableDocs = async (table: string): Promise<Map<string, Record<string, unknown>>> => {
      const rows = await db.sql<{
        id: number
        name: string | null
        price: string | null
        seen: string | null
        body: string | null
      }>(
        `SELECT id, name, CAST(price AS CHAR) AS price, DATE_FORMAT(seen, '%Y-%m-%d %H:%i:%s.%f') AS seen, body FROM ${table}`,
        [],
        'shop',
      )
      return new Map(
        rows.map((r) => [
          String(r.id),
          {
            id: r.id,
            name: r.name,
            price: r.price,
            seen: r.seen === null ? null : isoLocal(r.seen),
            body: r.body,
          },
        ]),
      )
    }

    test('snapshot and stream converge, and a replay from an earlier position regresses nothing', async () => {
      const table = `items_${flavor.slice(0, 2)}`
      const indexName = `e2e-${RUN}-my-${table}`
      await db.sql(
        `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(100), price DECIMAL(12,2), seen DATETIME(6), body MEDIUMTEXT)`,
        [],
        'shop',
      )
      for (let i = 1; i <= 200; i++) {
        await db.sql(
          `INSERT INTO ${table} VALUES (?, ?, ?, ?, NULL)`,
          [
            i,
            `n${i}`,
            (i * 1.25).toFixed(2),
            `2024-01-02 03:04:${String(i % 60).padStart(2, '0')}.${i % 3 === 0 ? '000000' : '250000'}`,
          ],
          'shop',
        )
      }
      const t = tempDir()
      const yaml = `
pipelines:
  - name: shopmy
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.${table}]
      server_id: ${5600 + flavors.indexOf(flavor)}
    sinks:${sinkYaml(flavor, url, `e2e-${RUN}-my-\${table}`, '        bulk_max_actions: 64\n')}
${stateYaml(t.dir)}`
      const stateFile = join(t.dir, 'state', 'shopmy.json')
      let p: TestPipeline | null = null
      try {
        p = startPipeline(yaml, t.dir)
        await converge(url, indexName, () => tableDocs(table), 'snapshot in the index', p.done)
        await waitFor(() => readStatePosition(join(t.dir, 'state'), 'shopmy'), 30_000, 'snapshot committed')
        copyFileSync(stateFile, `${stateFile}.early`)
        const early = readStatePosition(join(t.dir, 'state'), 'shopmy')!
        if (fake) fake.failNext({ index: indexName, status: 429, count: 4 })
        const large = 'ü'.repeat(400_000)
        await db.sql(
          `INSERT INTO ${table} VALUES (1001, 'new', 10.50, '2024-05-06 07:08:09.123456', ?)`,
          [large],
          'shop',
        )
        await db.sql(`UPDATE ${table} SET price = price + 1, name = NULL WHERE id <= 20`, [], 'shop')
        await db.sql(`DELETE FROM ${table} WHERE id BETWEEN 21 AND 40`, [], 'shop')
        await db.sql(`UPDATE ${table} SET id = id + 5000 WHERE id BETWEEN 41 AND 45`, [], 'shop')
        await db.sql(`UPDATE ${table} SET name = 'again' WHERE id = 1001`, [], 'shop')
        await converge(url, indexName, () => tableDocs(table), 'stream in the index', p.done)
        await waitFor(
          () =>
            (readStatePosition(join(t.dir, 'state'), 'shopmy') ?? '') > early &&
            p!.runner.stats.committedPosition,
          30_000,
          'stream committed',
        )
        const docs = await readIndex(url, indexName)
        assert.equal((docs.get('1001')!.body as string).length, 400_000, 'large value intact')
        assert.ok(!docs.has('41') && docs.has('5041'), 'the old key of a key change is gone')
        await p.stop()
        p = null
        const final = JSON.parse(readFileSync(stateFile, 'utf8')) as { position: string }
        const versionsBefore = fake ? fake.versions(indexName) : null
        const itemsBefore = fake?.stats.items ?? 0
        // Rewind the state to the snapshot's end and run again: the whole stream is replayed.
        copyFileSync(`${stateFile}.early`, stateFile)
        assert.equal(readStatePosition(join(t.dir, 'state'), 'shopmy'), early)
        p = startPipeline(yaml, t.dir)
        await waitFor(
          () => (readStatePosition(join(t.dir, 'state'), 'shopmy') ?? '') >= final.position,
          60_000,
          'replay committed up to the earlier final position',
        )
        await converge(url, indexName, () => tableDocs(table), 'index after the replay', p.done)
        if (fake) {
          assert.deepEqual(fake.versions(indexName), versionsBefore, 'no document version moved')
          // 51 documents were touched by the stream; each is re-sent at least once (events of one
          // document in one batch fold into the newest, which re-applies at an equal version).
          const resent = fake.stats.items - itemsBefore
          assert.ok(resent >= 51, `the replay re-sent only ${resent} items`)
        }
      } finally {
        await p?.stop().catch(() => {})
        t.cleanup()
      }
    })
  })
}
