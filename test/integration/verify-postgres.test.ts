import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { exitWithin, runCli, spawnCli } from './helpers/cli.js'
import { startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { startRedis, type RedisServer } from './servers/redis.js'

// `sluice verify` on Postgres → Redis cache: the real pipeline fills the cache (snapshot,
// then streamed changes), verify (the CLI, as a process) finds it in sync for an
// all-types table with a composite key holding `:` and `\`; then tampering with the cache
// and with the source is reported key by key, and errors exit 2 without leaking secrets.

const PASSWORD = 'Verify-pw-7731x'

let pg: PgServer
let redis: RedisServer
let r: Redis
let dir: { dir: string; cleanup(): void }

interface JsonTable {
  table: string
  location: string
  sourceRows: number
  targetKeys: number | null
  matched: number
  rechecked: number
  missing: number
  extra: number
  differing: number
  examples: { missing: string[]; extra: string[]; differing: { key: string; columns: string[] }[] }
}
interface JsonReport {
  pipeline: string
  status: string
  inSync: boolean
  sinks: {
    index: number
    type: string
    target: string | null
    unverifiable: string | null
    tables: JsonTable[]
  }[]
  totals: { tables: number; sourceRows: number; missing: number; extra: number; differing: number }
}

function yaml(sinks: string, name = 'shop'): string {
  return `
pipelines:
  - name: ${name}
    source:
      type: postgres
      url: postgres://cdc:\${PG_PASSWORD}@127.0.0.1:${pg.port}/shop
      tables: [public.items, public.notes]
    sinks:
${sinks}
state:
  path: ${join(dir.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

const redisSink = (url: string): string => `      - type: redis\n        url: ${url}\n`
const fileSink = (): string =>
  `      - type: file\n        path: ${join(dir.dir, 'out')}\n        format: jsonl\n`

function writeConfig(name: string, text: string): string {
  const file = join(dir.dir, name)
  writeFileSync(file, text)
  return file
}

const env = { PG_PASSWORD: PASSWORD }

async function verify(
  file: string,
  extra: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCli(['verify', '-c', file, 'shop', '--chunk-size', '250', '--recheck-ms', '200', ...extra], {
    env,
    timeoutMs: 120_000,
  })
}

const byTable = (rep: JsonReport, table: string): JsonTable =>
  rep.sinks[0]!.tables.find((t) => t.table === table)!

async function countKeys(pattern: string): Promise<number> {
  let n = 0
  let cursor = '0'
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    n += keys.length
  } while (cursor !== '0')
  return n
}

before(async () => {
  dir = tempDir()
  pg = await startPostgres()
  redis = await startRedis()
  r = new Redis(redis.url)
  await pg.sql('CREATE DATABASE shop')
  await pg.sql(`CREATE ROLE cdc LOGIN SUPERUSER PASSWORD '${PASSWORD}'`)
  await pg.sql(
    `CREATE TABLE items (
       tenant text NOT NULL, id int NOT NULL,
       price numeric(12,3), amount numeric, ratio double precision, at timestamptz,
       local_at timestamp(3), day date, t time, flag boolean, payload jsonb, data bytea,
       tags text[], uid uuid, note text, big bigint, iv interval,
       PRIMARY KEY (tenant, id));
     INSERT INTO items
       SELECT CASE g % 3 WHEN 0 THEN 'a:b' WHEN 1 THEN 'x' ELSE 'back\\slash' END, g,
              g * 1.125, g / 7.0, g / 7.0, '2024-03-01 12:00:00.123456+02'::timestamptz + g * interval '1 hour',
              '1969-12-31 23:59:59.5'::timestamp + g * interval '1 day', '0001-01-01'::date + g,
              '23:59:59.999999'::time - g * interval '1 second', g % 2 = 0,
              jsonb_build_object('g', g, 'nested', jsonb_build_array(1, 'two', null)),
              decode(md5(g::text), 'hex'), ARRAY['a', 'b,c', NULL], md5(g::text)::uuid,
              CASE WHEN g % 4 = 0 THEN NULL ELSE E'line\\n\\ttab "q" ' || g END,
              9007199254740993 + g, g * interval '1 minute 1.5 seconds'
         FROM generate_series(1, 1200) g;
     INSERT INTO items (tenant, id) VALUES ('nulls', 1);
     INSERT INTO items (tenant, id, price, ratio) VALUES ('special', 1, -0.001, 'NaN'), ('special', 2, 0, '-Infinity');
     CREATE TABLE notes (id bigint PRIMARY KEY, body text);
     INSERT INTO notes SELECT g, 'note ' || g FROM generate_series(1, 700) g;`,
    [],
    'shop',
  )
})

after(async () => {
  r?.disconnect()
  await redis?.stop()
  await pg?.stop()
  dir?.cleanup()
})

describe('sluice verify: postgres → redis cache', () => {
  let config: string

  test('the cache the real pipeline filled (snapshot and stream) is in sync: exit 0', async () => {
    config = writeConfig('sluice.yaml', yaml(redisSink(redis.url) + fileSink()))
    const interpolated = yaml(redisSink(redis.url) + fileSink()).replace('${PG_PASSWORD}', PASSWORD)
    const p = startPipeline(interpolated, dir.dir)
    try {
      await waitFor(
        async () =>
          (await countKeys('public.items:*')) === 1203 && (await countKeys('public.notes:*')) === 700,
        60_000,
        'snapshot in redis',
      )
      // Streamed changes go through pgoutput's text, not COPY's: they must compare equal too.
      await pg.sql(
        `UPDATE items SET price = 5.5, note = 'upd', at = now() WHERE tenant = 'x' AND id = 1;
         INSERT INTO items (tenant, id, price, local_at) VALUES ('new:key', 1, 1.5, '2020-01-01 00:00:00.001');
         DELETE FROM notes WHERE id = 700;`,
        [],
        'shop',
      )
      await waitFor(
        async () =>
          (await r.exists('public.items:new\\:key:1')) === 1 &&
          (await r.exists('public.notes:700')) === 0 &&
          JSON.parse((await r.get('public.items:x:1')) ?? '{}').note === 'upd',
        30_000,
        'streamed changes in redis',
      )
    } finally {
      await p.stop()
    }

    const res = await verify(config, ['--json'])
    assert.equal(res.code, 0, res.stderr + res.stdout)
    const rep = JSON.parse(res.stdout) as JsonReport
    assert.equal(rep.status, 'in-sync')
    assert.deepEqual(rep.totals, { tables: 2, sourceRows: 1204 + 699, missing: 0, extra: 0, differing: 0 })
    const items = byTable(rep, 'public.items')
    assert.deepEqual(
      [items.location, items.sourceRows, items.targetKeys, items.matched],
      ['public.items:*', 1204, 1204, 1204],
    )
    assert.deepEqual(rep.sinks[1], {
      index: 1,
      type: 'file',
      target: null,
      unverifiable: 'the file sink keeps a log of change events, not the current rows',
      tables: [],
    })
    assert.ok(!res.stdout.includes(PASSWORD) && !res.stderr.includes(PASSWORD))
  })

  test('rows that changed before the scan and reach the cache before the recheck are not reported', async () => {
    // The pipeline is stopped: 30 updates wait in the slot. Verify's first pass sees them
    // differ; while it waits to recheck, the pipeline starts and delivers them.
    await pg.sql(
      `UPDATE items SET note = 'moving', price = price + 1 WHERE tenant = 'back\\slash' AND id <= 89`,
      [],
      'shop',
    )
    // Without the delay they are drift: the cache really is behind.
    const early = await verify(config, ['--json', '--recheck-ms', '0'])
    assert.equal(early.code, 1, early.stderr)
    const behind = byTable(JSON.parse(early.stdout) as JsonReport, 'public.items')
    assert.deepEqual([behind.differing, behind.rechecked], [30, 30])
    const logged = writeConfig(
      'info.yaml',
      yaml(redisSink(redis.url) + fileSink()).replace(/level: \w+/, 'level: info'),
    )
    const v = spawnCli(['verify', '-c', logged, 'shop', '--json', '--recheck-ms', '15000'], { env })
    let p: ReturnType<typeof startPipeline> | null = null
    try {
      await v.waitForOutput(/"table":"public.items","keys":30,.*rechecking/, 60_000)
      const interpolated = yaml(redisSink(redis.url) + fileSink()).replace('${PG_PASSWORD}', PASSWORD)
      p = startPipeline(interpolated, dir.dir)
      const { code } = await exitWithin(v, 60_000)
      assert.equal(code, 0, v.stderr() + v.stdout())
      const rep = JSON.parse(v.stdout()) as JsonReport
      assert.deepEqual(rep.totals, { tables: 2, sourceRows: 1903, missing: 0, extra: 0, differing: 0 })
      const items = byTable(rep, 'public.items')
      assert.deepEqual([items.rechecked, items.matched], [30, 1204])
      assert.equal(JSON.parse((await r.get('public.items:back\\\\slash:89'))!).note, 'moving')
    } finally {
      v.kill('SIGKILL')
      await p?.stop()
    }
  })

  test('tampered cache and a source changed behind the pipeline: exactly those keys, exit 1', async () => {
    await r.del('public.items:a\\:b:3')
    await r.set('public.items:zz:1', '{"tenant":"zz","id":1}')
    const five = JSON.parse((await r.get('public.notes:5'))!) as Record<string, unknown>
    five.body = 'tampered'
    await r.set('public.notes:5', JSON.stringify(five))
    await pg.sql(
      `UPDATE items SET price = price + 1 WHERE tenant = 'x' AND id = 4;
       INSERT INTO notes VALUES (5000, 'late');
       DELETE FROM notes WHERE id = 6;`,
      [],
      'shop',
    )

    const res = await verify(config, ['--json'])
    assert.equal(res.code, 1, res.stderr + res.stdout)
    const rep = JSON.parse(res.stdout) as JsonReport
    assert.equal(rep.status, 'drift')
    assert.deepEqual(rep.totals, { tables: 2, sourceRows: 1204 + 699, missing: 2, extra: 2, differing: 2 })
    const items = byTable(rep, 'public.items')
    assert.deepEqual(
      [items.missing, items.extra, items.differing, items.matched, items.targetKeys],
      [1, 1, 1, 1202, 1204],
    )
    assert.deepEqual(items.examples, {
      missing: ['a\\:b:3'],
      extra: ['zz:1'],
      differing: [{ key: 'x:4', columns: ['price'] }],
    })
    const notes = byTable(rep, 'public.notes')
    assert.deepEqual(notes.examples, {
      missing: ['5000'],
      extra: ['6'],
      differing: [{ key: '5', columns: ['body'] }],
    })

    const text = await verify(config)
    assert.equal(text.code, 1, text.stderr)
    const out = text.stdout
    assert.match(out, /^verify shop \(postgres source\)$/m)
    assert.match(out, /^sink 0 \(redis\) at redis:\/\/127\.0\.0\.1:\d+$/m)
    assert.match(
      out,
      /^ {2}public\.items \(public\.items:\*\): source 1204, target 1204, missing 1, extra 1, differing 1: DRIFT \(\d+ rechecked\)$/m,
    )
    assert.match(out, /^ {4}missing: "a\\\\:b:3"$/m)
    assert.match(out, /^ {4}extra: "zz:1"$/m)
    assert.match(out, /^ {4}differing: "x:4" in columns price$/m)
    assert.match(out, /^ {4}differing: "5" in columns body$/m)
    assert.match(out, /^sink 1 \(file\): not verifiable: the file sink keeps a log/m)
    assert.match(
      out,
      /^summary: DRIFT: 2 missing, 2 extra, 2 differing; 2 tables, 1903 rows compared on 1 of 2 sinks/m,
    )
    // Column values never appear: neither the tampered text nor the source's.
    assert.ok(!out.includes('tampered') && !out.includes('late'))
  })

  test('bad invocations and unreadable targets exit 2 with one clear message, no secret', async () => {
    const onlyFile = writeConfig('file-only.yaml', yaml(fileSink()))
    let res = await verify(onlyFile)
    assert.equal(res.code, 2)
    assert.match(res.stderr, /sink 0 \(file\): not verifiable/)
    assert.match(res.stderr, /VERIFY_NO_VERIFIABLE_SINK: pipeline shop has no sink verify can read back/)

    const closed = writeConfig('closed.yaml', yaml(redisSink('redis://:hunter2-secret@127.0.0.1:1')))
    res = await verify(closed)
    assert.equal(res.code, 2)
    assert.match(
      res.stderr,
      /VERIFY_TARGET_FAILED: cannot connect to redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    )
    assert.ok(!res.stderr.includes('hunter2-secret') && !res.stdout.includes('hunter2-secret'))

    const badPw = await runCli(['verify', '-c', config, 'shop'], { env: { PG_PASSWORD: 'wrong-pw-4411' } })
    assert.equal(badPw.code, 2)
    assert.match(badPw.stderr, /PG_AUTH_FAILED/)
    assert.ok(!badPw.stderr.includes('wrong-pw-4411'))

    res = await runCli(['verify', '-c', config, 'nope'], { env })
    assert.equal(res.code, 2)
    assert.match(res.stderr, /no pipeline 'nope' in .*; pipelines: shop/)

    res = await runCli(['verify', '-c', config, 'shop', '--chunk-size', '0'], { env })
    assert.equal(res.code, 2)
    assert.match(res.stderr, /--chunk-size must be an integer >= 1/)
  })
})
