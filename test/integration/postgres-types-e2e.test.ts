import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startPostgres, type PgServer } from './servers/postgres.js'
import { pipelineYaml, readEnvelopes, startPipeline, tempDir, waitFor } from './helpers/pipeline.js'

let pg: PgServer
before(async () => {
  pg = await startPostgres()
  await pg.sql('CREATE DATABASE types')
})
after(async () => {
  await pg?.stop()
})

// One column per type; the same values are inserted before the pipeline starts (read by the
// snapshot through COPY) and again while it streams (read through pgoutput).
const COLUMNS: [string, string, string][] = [
  ['c_int2', 'smallint', '-32768'],
  ['c_int4', 'integer', '2147483647'],
  ['c_int8', 'bigint', '-9223372036854775808'],
  ['c_num', 'numeric(20,4)', '-1234567890123456.7891'],
  ['c_num_free', 'numeric', '3.14159265358979323846264338327950288'],
  ['c_float4', 'real', '3.4028235e38'],
  ['c_float8', 'double precision', "'NaN'"],
  ['c_bool', 'boolean', 'true'],
  ['c_text', 'text', "E'tab\\there\\nnewline \\\\ back ☃'"],
  ['c_varchar', 'varchar(10)', "'abc'"],
  ['c_char', 'char(5)', "'ab'"],
  ['c_bytea', 'bytea', "'\\x00ff10'"],
  ['c_uuid', 'uuid', "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"],
  ['c_json', 'json', '\'{"a": [1, 2.5, "x"]}\''],
  ['c_jsonb', 'jsonb', '\'{"b": {"c": null}}\''],
  ['c_date', 'date', "'0044-03-15 BC'"],
  ['c_time', 'time(3)', "'23:59:59.999'"],
  ['c_timetz', 'timetz', "'04:05:06.789+05:30'"],
  ['c_ts', 'timestamp', "'1900-01-01 00:00:00.000001'"],
  ['c_tstz', 'timestamptz', "'2038-01-19 03:14:08.5+02'"],
  ['c_ts_inf', 'timestamp', "'infinity'"],
  ['c_interval', 'interval', "'1 year 2 mons -3 days 04:05:06.789'"],
  ['c_int_arr', 'integer[]', "'{1,NULL,3}'"],
  ['c_text_arr', 'text[]', '\'{"a,b","c\\"d",NULL}\''],
  ['c_enum', 'mood', "'happy'"],
  ['c_domain', 'posint', '42'],
  ['c_inet', 'inet', "'192.168.0.1/24'"],
  ['c_cidr', 'cidr', "'10.0.0.0/8'"],
  ['c_mac', 'macaddr', "'08:00:2b:01:02:03'"],
  ['c_money', 'money', "'-1234.56'"],
  ['c_bit', 'bit(10)', "B'1010000001'"],
  ['c_varbit', 'varbit', "B'101'"],
  ['c_point', 'point', "'(1.5,-2)'"],
  ['c_point2', 'point', "'(0,0)'"],
  ['c_num_free2', 'numeric', "'-0.5'"],
  ['c_box', 'box', "'((1,2),(3,4))'"],
  ['c_xml', 'xml', "'<a>x</a>'"],
  ['c_tsvector', 'tsvector', "'fat cats'"],
  ['c_oid', 'oid', '4294967295'],
  ['c_null', 'text', 'NULL'],
]

test('every mapped type yields identical Avro values from the snapshot and from the stream', async () => {
  await pg.sql(
    `CREATE TYPE mood AS ENUM ('sad', 'happy');
     CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
     CREATE TABLE t (id int PRIMARY KEY, ${COLUMNS.map(([n, ty]) => `${n} ${ty}`).join(', ')});`,
    [],
    'types',
  )
  const insert = (id: number): string =>
    `INSERT INTO t VALUES (${id}, ${COLUMNS.map(([, , v]) => v).join(', ')})`
  await pg.sql(insert(1), [], 'types')
  const t = tempDir()
  const p = startPipeline(pipelineYaml({ url: pg.urlFor('types'), tables: ['public.t'], dir: t.dir }), t.dir)
  try {
    await waitFor(async () => (await readEnvelopes(p.out)).length >= 1, 20_000, 'snapshot row')
    await pg.sql(insert(2), [], 'types')
    const evs = await waitFor(async () => {
      const e = await readEnvelopes(p.out)
      return e.length >= 2 ? e : null
    })
    assert.equal(evs[0]!.op, 'r')
    assert.equal(evs[1]!.op, 'c')
    const snap: Record<string, unknown> = { ...evs[0]!.after!, id: 0 }
    const stream: Record<string, unknown> = { ...evs[1]!.after!, id: 0 }
    for (const [name] of COLUMNS) {
      assert.deepEqual(stream[name], snap[name], `column ${name} differs between snapshot and stream`)
    }
    assert.equal(snap.c_null, null)
    assert.equal(snap.c_int4, 2147483647)
    assert.equal(snap.c_text, 'tab\there\nnewline \\ back ☃', 'COPY escapes are undone')
    assert.equal(snap.c_char, 'ab   ', 'char(n) keeps its padding')
    assert.deepEqual(snap.c_int_arr, [1, null, 3])
    assert.deepEqual(snap.c_text_arr, ['a,b', 'c"d', null])
    assert.ok(Number.isNaN(snap.c_float8 as number))
  } finally {
    await p.stop()
    t.cleanup()
  }
})
