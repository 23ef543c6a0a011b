import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import pg from 'pg'
import { compileSchema } from '../../avro/codec.js'
import { resolveTypes } from '../../connectors/postgres/catalog.js'
import { columnSchema } from '../../connectors/postgres/types.js'
import { EncodeError } from '../../pipeline/errors.js'
import type { ColumnSchema } from '../../pipeline/schema.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

/**
 * The database is the oracle: for every column the converter gets the column's text output (the
 * output function pgoutput uses, under the session settings the source sets), and the expected value
 * is derived from a different rendering of the same datum: `to_jsonb(row)`, `extract(epoch)`,
 * `encode(..., 'base64')`, casts to bigint, `trim_scale`. Nothing expected is copied from the
 * implementation.
 */

type Flavour = 'debezium' | 'logical'
const FLAVOURS: Flavour[] = ['debezium', 'logical']

const EXT_DIR = '/usr/share/postgresql/15/extension'
const hasHstore = existsSync(`${EXT_DIR}/hstore.control`)
const hasCitext = existsSync(`${EXT_DIR}/citext.control`)
const hasLtree = existsSync(`${EXT_DIR}/ltree.control`)

interface Spec {
  /** Column name; also the test name. */
  name: string
  ddl: string
  /** SQL literals, one per row (other rows hold NULL). */
  values: string[]
  /** SQL text expression over the column `c` (and the row `r`) giving the oracle. */
  oracle: string
  /** Asserts `actual()` (the converter's output) against the oracle text. */
  check: (actual: () => unknown, oracle: string, f: Flavour, c: ColumnSchema) => void
  skip?: boolean
}

// ------------------------------------------------------------------------------------------
// Independent helpers for expected values.

/** Two's-complement big-endian bytes → bigint. */
function fromTwos(b: unknown): bigint {
  assert.ok(Buffer.isBuffer(b), 'expected bytes')
  const u = BigInt('0x' + (b.length ? b.toString('hex') : '0'))
  return b.length && (b[0]! & 0x80) !== 0 ? u - (1n << BigInt(b.length * 8)) : u
}

/** Decimal text at a given scale → unscaled bigint (pads, never rounds). */
function unscaledOf(text: string, scale: number): bigint {
  const neg = text.startsWith('-')
  const [i = '0', f = ''] = (neg ? text.slice(1) : text).split('.')
  assert.ok(
    f.length <= scale || /^0*$/.test(f.slice(scale)),
    `oracle ${text} has more than ${scale} decimals`,
  )
  const v = BigInt(i + f.slice(0, scale).padEnd(scale, '0'))
  return neg ? -v : v
}

const toBig = (v: unknown): bigint => {
  assert.ok(typeof v === 'number' || typeof v === 'bigint', `expected an integer, got ${typeof v}`)
  return BigInt(v)
}

/** The JS value a wideLong carries: number when safe. */
const wide = (v: bigint): number | bigint =>
  v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v

const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b))

const isoYear = (y: number): string =>
  y < 0 ? '-' + String(-y).padStart(4, '0') : y > 9999 ? '+' + y : String(y).padStart(4, '0')

function throwsEncode(actual: () => unknown, code: string): void {
  assert.throws(
    actual,
    (e: unknown) => e instanceof EncodeError && e.code === code && e.message.includes('public.types_t.'),
  )
}

// ------------------------------------------------------------------------------------------
// One column per type.

const SPECS: Spec[] = [
  {
    name: 'c_int2',
    ddl: 'int2',
    values: ['-32768', '0', '32767'],
    oracle: `to_jsonb(r)->>'c_int2'`,
    check: (a, o) => assert.equal(a(), Number(o)),
  },
  {
    name: 'c_int4',
    ddl: 'int4',
    values: ['-2147483648', '42', '2147483647'],
    oracle: `to_jsonb(r)->>'c_int4'`,
    check: (a, o) => assert.equal(a(), Number(o)),
  },
  {
    name: 'c_int8',
    ddl: 'int8',
    values: ['-9223372036854775808', '9007199254740993', '12', '9223372036854775807'],
    oracle: `to_jsonb(r)->>'c_int8'`,
    check: (a, o) => assert.equal(a(), wide(BigInt(o))),
  },
  {
    name: 'c_oid',
    ddl: 'oid',
    values: ['0', '4294967295'],
    oracle: `to_jsonb(r)->>'c_oid'`,
    check: (a, o) => assert.equal(a(), Number(o)),
  },
  {
    name: 'c_num_fixed',
    ddl: 'numeric(20,3)',
    values: ['1234.5', '-0.001', '0', '99999999999999999.999', '-12345678901234.5'],
    oracle: `to_jsonb(r)->>'c_num_fixed'`,
    check: (a, o) => assert.equal(fromTwos(a()), unscaledOf(o, 3)),
  },
  {
    name: 'c_num_negscale',
    ddl: 'numeric(3,-2)',
    values: ['12345', '-99900'],
    oracle: `to_jsonb(r)->>'c_num_negscale'`,
    check: (a, o) => assert.equal(fromTwos(a()), unscaledOf(o, 0)),
  },
  {
    name: 'c_num_var',
    ddl: 'numeric',
    values: [
      '1.500',
      '100',
      '-0.00100',
      '123456789012345678901234567890.5',
      '0.000',
      `'NaN'`,
      `'Infinity'`,
      `'-Infinity'`,
    ],
    // trim_scale/scale (PG 13+) give the stripped scale and the unscaled integer independently.
    oracle: `CASE WHEN c_num_var IN ('NaN', 'Infinity', '-Infinity') THEN 'special'
                  ELSE scale(trim_scale(c_num_var)) || '|' || trunc(trim_scale(c_num_var) * power(10::numeric, scale(trim_scale(c_num_var))))::text END`,
    check: (a, o, f) => {
      if (o === 'special') {
        if (f === 'debezium') throwsEncode(a, 'VALUE_OUT_OF_RANGE')
        else assert.match(a() as string, /^-?(NaN|Infinity)$/)
        return
      }
      const [scale, unscaled] = o.split('|') as [string, string]
      if (f === 'logical') {
        // The exact text: same number as the oracle's.
        assert.equal(unscaledOf(a() as string, Number(scale)), BigInt(unscaled))
        return
      }
      const v = a() as { scale: number; value: Buffer }
      assert.equal(v.scale, Number(scale))
      assert.equal(fromTwos(v.value), BigInt(unscaled))
    },
  },
  {
    name: 'c_float8',
    ddl: 'float8',
    values: ['1.5', `'-0'`, '1e300', '0.1', `'NaN'`, `'Infinity'`, `'-Infinity'`, '5e-324'],
    // The binary send format: the IEEE 754 bits themselves (keeps -0 and NaN).
    oracle: `encode(float8send(c_float8), 'hex')`,
    check: (a, o) => assert.ok(Object.is(a(), Buffer.from(o, 'hex').readDoubleBE(0)), `float8 ${o}`),
  },
  {
    name: 'c_float4',
    ddl: 'float4',
    values: ['1.1', '3.4028235e38', `'NaN'`, '-1e-45'],
    // The binary send format: the float32 bits (Avro float keeps exactly these).
    oracle: `encode(float4send(c_float4), 'hex')`,
    check: (a, o) =>
      assert.ok(Object.is(Math.fround(a() as number), Buffer.from(o, 'hex').readFloatBE(0)), `float4 ${o}`),
  },
  {
    name: 'c_bool',
    ddl: 'bool',
    values: ['true', 'false'],
    oracle: `to_jsonb(r)->>'c_bool'`,
    check: (a, o) => assert.equal(a(), o === 'true'),
  },
  {
    name: 'c_text',
    ddl: 'text',
    values: [`'plain'`, `''`, `E'quote" back\\\\ nl\\n tab\\t'`, `'ünïcødé 😀'`, `'NULL'`],
    oracle: `to_jsonb(r)->>'c_text'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_varchar',
    ddl: 'varchar(10)',
    values: [`'abc'`, `'  sp  '`],
    oracle: `to_jsonb(r)->>'c_varchar'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_bpchar',
    ddl: 'char(5)',
    values: [`'ab'`, `'abcde'`],
    // char(n) output keeps the blank padding (a ::text cast would strip it).
    oracle: `rpad(c_bpchar::text, 5)`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_name',
    ddl: 'name',
    values: [`'pg_class'`],
    oracle: `to_jsonb(r)->>'c_name'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_bytea',
    ddl: 'bytea',
    values: [`'\\x00ff10'`, `''`, `convert_to('hello', 'UTF8')`],
    oracle: `encode(c_bytea, 'base64')`,
    check: (a, o) => assert.deepEqual(a(), Buffer.from(o, 'base64')),
  },
  {
    name: 'c_uuid',
    ddl: 'uuid',
    values: [`'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'`],
    oracle: `to_jsonb(r)->>'c_uuid'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_json',
    ddl: 'json',
    values: [`'{"b": 1,  "a": [true, null, "x"]}'`, `'"s"'`, `'12.50'`],
    oracle: `(to_jsonb(r)->'c_json')::text`,
    check: (a, o) => assert.deepEqual(JSON.parse(a() as string), JSON.parse(o)),
  },
  {
    name: 'c_jsonb',
    ddl: 'jsonb',
    values: [`'{"b": 1, "a": {"n": [1, 2]}}'`],
    oracle: `(to_jsonb(r)->'c_jsonb')::text`,
    check: (a, o) => assert.deepEqual(JSON.parse(a() as string), JSON.parse(o)),
  },
  {
    name: 'c_date',
    ddl: 'date',
    values: [
      `'1970-01-01'`,
      `'2000-02-29'`,
      `'0044-03-15 BC'`,
      `'4714-11-24 BC'`,
      `'5874897-12-31'`,
      `'1582-10-04'`,
      `'infinity'`,
      `'-infinity'`,
    ],
    oracle: `CASE WHEN isfinite(c_date) THEN (c_date - date '1970-01-01')::text ELSE c_date::text END`,
    check: (a, o, f) => {
      // Debezium's constants for date ±infinity (LocalDate -5877611-06-21 / -22 as epoch days).
      if (o === 'infinity') assert.equal(a(), f === 'debezium' ? -2147472692 : 2147483647)
      else if (o === '-infinity') assert.equal(a(), f === 'debezium' ? -2147472691 : -2147483648)
      else assert.equal(a(), Number(o))
    },
  },
  {
    name: 'c_ts',
    ddl: 'timestamp',
    values: [
      `'2024-03-15 10:20:30.123456'`,
      `'1900-01-01 00:00:00'`,
      `'2500-06-01 12:00:00'`,
      `'0044-03-15 12:00:00.5 BC'`,
      `'4713-01-01 00:00:00 BC'`,
      `'294246-12-31 23:59:59.999999'`,
      `'infinity'`,
      `'-infinity'`,
    ],
    oracle: `CASE WHEN isfinite(c_ts) THEN (extract(epoch from c_ts) * 1000000)::numeric(40,0)::text ELSE c_ts::text END`,
    check: (a, o, f) => {
      if (o === 'infinity') assert.equal(a(), f === 'debezium' ? 9223372036825200000n : 9223372036854775807n)
      else if (o === '-infinity')
        assert.equal(a(), f === 'debezium' ? -9223372036832400000n : -9223372036854775808n)
      else assert.equal(a(), wide(BigInt(o)))
    },
  },
  {
    name: 'c_ts3',
    ddl: 'timestamp(3)',
    values: [
      `'2024-03-15 10:20:30.123'`,
      `'1969-12-31 23:59:59.999'`,
      `'0010-01-01 00:00:00 BC'`,
      `'infinity'`,
    ],
    oracle: `CASE WHEN isfinite(c_ts3) THEN (extract(epoch from c_ts3) * 1000000)::numeric(40,0)::text ELSE c_ts3::text END`,
    check: (a, o, f) => {
      if (o === 'infinity') assert.equal(a(), f === 'debezium' ? 9223372036825200n : 9223372036854775807n)
      else if (f === 'debezium')
        assert.equal(toBig(a()), floorDiv(BigInt(o), 1000n)) // io.debezium.time.Timestamp: millis
      else assert.equal(toBig(a()), BigInt(o))
    },
  },
  {
    name: 'c_tstz',
    ddl: 'timestamptz',
    values: [
      `'2024-03-15 10:20:30.5+05:30'`,
      `'1850-01-01 00:00:00+00'`,
      `'0044-03-15 10:00:00+00 BC'`,
      `'12345-06-07 08:09:10.000001+00'`,
      `'2024-01-01 01:00:00+02'`,
      `'infinity'`,
      `'-infinity'`,
    ],
    oracle: `CASE WHEN isfinite(c_tstz) THEN
               (extract(epoch from c_tstz) * 1000000)::numeric(40,0)::text || '|' ||
               extract(year from c_tstz AT TIME ZONE 'UTC')::int::text || '|' ||
               to_char(c_tstz AT TIME ZONE 'UTC', 'MM-DD"T"HH24:MI:SS.US')
             ELSE c_tstz::text END`,
    check: (a, o, f) => {
      if (o === 'infinity' || o === '-infinity') {
        if (f === 'debezium') assert.equal(a(), o)
        else assert.equal(a(), o === 'infinity' ? 9223372036854775807n : -9223372036854775808n)
        return
      }
      const [micros, year, rest] = o.split('|') as [string, string, string]
      if (f === 'logical') {
        assert.equal(a(), wide(BigInt(micros)))
        return
      }
      // Postgres counts 44 BC as year -44; ISO-8601 (astronomical) as -43.
      const y = Number(year) < 0 ? Number(year) + 1 : Number(year)
      assert.equal(a(), `${isoYear(y)}-${rest}Z`)
    },
  },
  {
    name: 'c_time',
    ddl: 'time',
    values: [`'00:00:00'`, `'12:34:56.5'`, `'23:59:59.999999'`, `'24:00:00'`],
    oracle: `(extract(epoch from c_time) * 1000000)::numeric(20,0)::text`,
    check: (a, o) => assert.equal(a(), Number(o)),
  },
  {
    name: 'c_timetz',
    ddl: 'timetz',
    values: [
      `'10:15:30+05:30'`,
      `'23:00:00-03:30:15'`,
      `'00:00:00.25+01'`,
      `'24:00:00+00'`,
      `'12:00:00.123456-12'`,
    ],
    // extract(epoch) of a timetz: seconds after 00:00 UTC, offset applied (may leave 0..86400).
    oracle: `(extract(epoch from c_timetz) * 1000000)::numeric(20,0)::text`,
    check: (a, o) => {
      const us = Number(o)
      const day = 86_400_000_000
      const n = us === day ? day : ((us % day) + day) % day
      const s = Math.floor(n / 1e6)
      const frac =
        n % 1e6
          ? '.' +
            String(n % 1e6)
              .padStart(6, '0')
              .replace(/0+$/, '')
          : ''
      const hh = String(Math.floor(s / 3600)).padStart(2, '0')
      const mm = String(Math.floor(s / 60) % 60).padStart(2, '0')
      const ss = String(s % 60).padStart(2, '0')
      assert.equal(a(), `${hh}:${mm}:${ss}${frac}Z`)
    },
  },
  {
    name: 'c_interval',
    ddl: 'interval',
    values: [
      `'1 year 2 mons 3 days 04:05:06.789'`,
      `'-1 days +02:00:00'`,
      `'-00:00:01.5'`,
      `'0'`,
      `'1000 years'`,
      `'-1 years -2 mons +3 days -04:05:06'`,
      `'2562047788:00:54.775807'`,
      `'178000000 years'`,
    ],
    oracle: `(extract(year from c_interval) * 12 + extract(month from c_interval))::text || '|' ||
             extract(day from c_interval)::text || '|' ||
             (extract(hour from c_interval) * 3600000000 + extract(minute from c_interval) * 60000000
              + extract(microseconds from c_interval))::numeric(30,0)::text`,
    check: (a, o, f) => {
      const [m, d, us] = o.split('|').map((x) => BigInt(x)) as [bigint, bigint, bigint]
      if (f === 'debezium') {
        // io.debezium.time.MicroDuration: a month is 365.25 / 12 days.
        const total = m * 2_629_800_000_000n + d * 86_400_000_000n + us
        if (total > 9223372036854775807n || total < -9223372036854775808n)
          throwsEncode(a, 'VALUE_OUT_OF_RANGE')
        else assert.equal(a(), wide(total))
        return
      }
      const text = a() as string
      const parts = /^P(-?\d+)Y(-?\d+)M(-?\d+)DT(-?\d+)H(-?\d+)M(-?\d+(?:\.\d+)?)S$/.exec(text)
      assert.ok(parts, `ISO duration ${text}`)
      const [, y, mo, dd, h, mi, s] = parts
      assert.equal(BigInt(y!) * 12n + BigInt(mo!), m)
      assert.equal(BigInt(dd!), d)
      const secNeg = s!.startsWith('-')
      const [si = '0', sf = ''] = s!.replace('-', '').split('.')
      const secUs = BigInt(si) * 1_000_000n + BigInt(sf.padEnd(6, '0'))
      assert.equal(BigInt(h!) * 3_600_000_000n + BigInt(mi!) * 60_000_000n + (secNeg ? -secUs : secUs), us)
    },
  },
  {
    name: 'c_money',
    ddl: 'money',
    values: ['1234.56', '-1234.56', '0.05', '92233720368547758.07', '-92233720368547758.08'],
    oracle: `(c_money::numeric * 100)::numeric(30,0)::text`,
    check: (a, o) => assert.equal(fromTwos(a()), BigInt(o)),
  },
  {
    name: 'c_bit1',
    ddl: 'bit(1)',
    values: [`B'1'`, `B'0'`],
    oracle: `c_bit1::int::text`,
    check: (a, o) => assert.equal(a(), o === '1'),
  },
  {
    name: 'c_bit10',
    ddl: 'bit(10)',
    values: [`B'1000000001'`, `B'0000000000'`, `B'0000001010'`],
    oracle: `c_bit10::bigint::text || '|' || (to_jsonb(r)->>'c_bit10')`,
    check: (a, o, f) => {
      const [n, bits] = o.split('|') as [string, string]
      if (f === 'logical') return assert.equal(a(), bits)
      // io.debezium.data.Bits: the number in little-endian bytes, as long as its top set bit needs.
      let v = BigInt(n)
      const bytes: number[] = []
      while (v > 0n) {
        bytes.push(Number(v & 0xffn))
        v >>= 8n
      }
      assert.deepEqual(a(), Buffer.from(bytes))
    },
  },
  {
    name: 'c_varbit',
    ddl: 'varbit',
    values: [`B'101'`, `B'1111111111111111111111111'`],
    oracle: `(SELECT sum(get_bit(c_varbit, i)::numeric * power(2::numeric, length(c_varbit) - 1 - i))
              FROM generate_series(0, length(c_varbit) - 1) AS i)::numeric(40,0)::text || '|' || c_varbit::text`,
    check: (a, o, f) => {
      const [n, bits] = o.split('|') as [string, string]
      if (f === 'logical') return assert.equal(a(), bits)
      const buf = a() as Buffer
      let v = 0n
      for (let i = buf.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[i]!)
      assert.equal(v, BigInt(n))
    },
  },
  {
    name: 'c_point',
    ddl: 'point',
    values: [`'(1.5,-2)'`, `'(0.1,1e300)'`],
    oracle: `(c_point[0])::text || '|' || (c_point[1])::text`,
    check: (a, o, f) => {
      const [x, y] = o.split('|').map(Number) as [number, number]
      if (f === 'logical') {
        const m = /^\((.*),(.*)\)$/.exec(a() as string)
        assert.ok(m)
        assert.deepEqual([Number(m[1]), Number(m[2])], [x, y])
        return
      }
      const v = a() as { x: number; y: number; wkb: Buffer; srid: null }
      assert.deepEqual([v.x, v.y, v.srid], [x, y, null])
      assert.deepEqual([v.wkb.readDoubleLE(5), v.wkb.readDoubleLE(13)], [x, y])
    },
  },
  {
    name: 'c_mood',
    ddl: 'mood',
    values: [`'happy'`, `'a b,c'`],
    oracle: `to_jsonb(r)->>'c_mood'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_price',
    ddl: 'price',
    values: ['12.345', '-99999.999'],
    oracle: `to_jsonb(r)->>'c_price'`,
    check: (a, o) => assert.equal(fromTwos(a()), unscaledOf(o, 3)),
  },
  {
    name: 'c_int4_arr',
    ddl: 'int4[]',
    values: [`'{1,NULL,-3}'`, `'{}'`, `'[0:1]={7,8}'`],
    oracle: `(to_jsonb(r)->'c_int4_arr')::text`,
    check: (a, o) => assert.deepEqual(a(), JSON.parse(o)),
  },
  {
    name: 'c_text_arr',
    ddl: 'text[]',
    values: [`ARRAY['a b', '', NULL, 'NULL', 'q"x', E'back\\\\slash', '{br}', 'semi;colon', 'co,mma']`],
    oracle: `(to_jsonb(r)->'c_text_arr')::text`,
    check: (a, o) => assert.deepEqual(a(), JSON.parse(o)),
  },
  {
    name: 'c_num_arr',
    ddl: 'numeric(5,2)[]',
    values: [`'{1.5,NULL,-2}'`],
    oracle: `(SELECT jsonb_agg((x * 100)::int ORDER BY o) FROM unnest(c_num_arr) WITH ORDINALITY AS u(x, o))::text`,
    check: (a, o) =>
      assert.deepEqual(
        (a() as (Buffer | null)[]).map((b) => (b === null ? null : Number(fromTwos(b)))),
        JSON.parse(o),
      ),
  },
  {
    name: 'c_date_arr',
    ddl: 'date[]',
    values: [`ARRAY['2000-01-01'::date, NULL, '0001-01-01 BC']`],
    oracle: `(SELECT jsonb_agg(x - date '1970-01-01' ORDER BY o) FROM unnest(c_date_arr) WITH ORDINALITY AS u(x, o))::text`,
    check: (a, o) => assert.deepEqual(a(), JSON.parse(o)),
  },
  {
    name: 'c_bytea_arr',
    ddl: 'bytea[]',
    values: [`ARRAY['\\x0102'::bytea, NULL, '']`],
    oracle: `(SELECT jsonb_agg(encode(x, 'base64') ORDER BY o) FROM unnest(c_bytea_arr) WITH ORDINALITY AS u(x, o))::text`,
    check: (a, o) =>
      assert.deepEqual(
        a(),
        (JSON.parse(o) as (string | null)[]).map((s) => (s === null ? null : Buffer.from(s, 'base64'))),
      ),
  },
  {
    name: 'c_box_arr',
    ddl: 'box[]',
    values: [`ARRAY['((0,0),(1,1))'::box, '((2,2),(3,3))']`],
    oracle: `(SELECT jsonb_agg(x::text ORDER BY o) FROM unnest(c_box_arr) WITH ORDINALITY AS u(x, o))::text`,
    check: (a, o) => assert.deepEqual(a(), JSON.parse(o)),
  },
  {
    name: 'c_int_2d',
    ddl: 'int4[][]',
    values: [`'{{1,2},{3,4}}'`],
    oracle: `array_ndims(c_int_2d)::text`,
    check: (a, o) => {
      assert.equal(o, '2')
      throwsEncode(a, 'VALUE_OUT_OF_RANGE')
    },
  },
  // Types carried as their text rendering in both flavours: the oracle is the JSON rendering.
  ...(
    [
      ['c_inet', 'inet', `'192.168.0.1/24'`],
      ['c_cidr', 'cidr', `'10.0.0.0/8'`],
      ['c_macaddr', 'macaddr', `'08:00:2b:01:02:03'`],
      ['c_macaddr8', 'macaddr8', `'08:00:2b:01:02:03:04:05'`],
      ['c_int4range', 'int4range', `'[1,10)'`],
      ['c_tstzrange', 'tstzrange', `'[2024-01-01 00:00:00+00,)'`],
      ['c_multirange', 'int4multirange', `'{[1,3), [5,7)}'`],
      ['c_tsvector', 'tsvector', `'a fat cat'`],
      ['c_tsquery', 'tsquery', `'fat & rat'`],
      ['c_xml', 'xml', `'<a b="1">x</a>'`],
      ['c_lsn', 'pg_lsn', `'16/B374D848'`],
      ['c_line', 'line', `'{1,-1,0}'`],
      ['c_lseg', 'lseg', `'[(0,0),(1,1)]'`],
      ['c_box', 'box', `'((0,0),(1,1))'`],
      ['c_path', 'path', `'[(0,0),(1,1),(2,0)]'`],
      ['c_polygon', 'polygon', `'((0,0),(1,1),(2,0))'`],
      ['c_circle', 'circle', `'<(0,0),1.5>'`],
    ] as const
  ).map(([name, ddl, value]): Spec => ({
    name,
    ddl,
    values: [value],
    oracle: `to_jsonb(r)->>'${name}'`,
    check: (a, o) => assert.equal(a(), o),
  })),
  {
    name: 'c_hstore',
    ddl: 'hstore',
    skip: !hasHstore,
    values: [`'a=>1, b=>NULL, "q\\"k"=>"v\\\\", "sp ace"=>""'`, `''`],
    oracle: `hstore_to_json(c_hstore)::text`,
    check: (a, o, f) => {
      if (f === 'debezium') assert.deepEqual(JSON.parse(a() as string), JSON.parse(o))
      else assert.deepEqual({ ...(a() as object) }, JSON.parse(o))
    },
  },
  {
    name: 'c_citext',
    ddl: 'citext',
    skip: !hasCitext,
    values: [`'MiXeD Case'`],
    oracle: `to_jsonb(r)->>'c_citext'`,
    check: (a, o) => assert.equal(a(), o),
  },
  {
    name: 'c_ltree',
    ddl: 'ltree',
    skip: !hasLtree,
    values: [`'Top.Science.Astronomy'`],
    oracle: `to_jsonb(r)->>'c_ltree'`,
    check: (a, o) => assert.equal(a(), o),
  },
]

// ------------------------------------------------------------------------------------------

describe('postgres type mapping against a real postgres 15', () => {
  let server: PgServer | null = null
  let client: pg.Client | null = null
  const specs = SPECS.filter((s) => !s.skip)
  /** Column name → [atttypid, atttypmod] from pg_attribute. */
  const attrs = new Map<string, { oid: number; typmod: number }>()

  before(async () => {
    server = await startPostgres()
    client = new pg.Client({ connectionString: server.url })
    await client.connect()
    // Exactly the session settings the Postgres source uses (see connectors/postgres/types.ts).
    await client.query(
      `SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3`,
    )
    if (hasHstore) await client.query('CREATE EXTENSION hstore')
    if (hasCitext) await client.query('CREATE EXTENSION citext')
    if (hasLtree) await client.query('CREATE EXTENSION ltree')
    await client.query(`CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'a b,c')`)
    await client.query(`CREATE DOMAIN price AS numeric(8,3)`)
    await client.query(
      `CREATE TABLE types_t (id int PRIMARY KEY, ${specs.map((s) => `${s.name} ${s.ddl}`).join(', ')})`,
    )
    const rows = Math.max(...specs.map((s) => s.values.length))
    for (let i = 0; i < rows; i++) {
      const vals = specs.map((s) => s.values[i] ?? 'NULL')
      await client.query(
        `INSERT INTO types_t (id, ${specs.map((s) => s.name).join(', ')}) VALUES (${i}, ${vals.join(', ')})`,
      )
    }
    const { rows: a } = await client.query<{ attname: string; atttypid: number; atttypmod: number }>(
      `SELECT attname, atttypid::int8::float8 AS atttypid, atttypmod FROM pg_attribute
       WHERE attrelid = 'types_t'::regclass AND attnum > 0 AND NOT attisdropped`,
    )
    for (const r of a) attrs.set(r.attname, { oid: Number(r.atttypid), typmod: r.atttypmod })
  })

  after(async () => {
    await client?.end().catch(() => {})
    await server?.stop()
  })

  test('resolveTypes resolves arrays, domains and enums in one call and caches per client', async () => {
    const oids = [...attrs.values()].map((a) => a.oid)
    const types = await resolveTypes(client!, oids)
    for (const s of specs) assert.ok(types.get(attrs.get(s.name)!.oid), `type of ${s.name} resolved`)
    const price = types.get(attrs.get('c_price')!.oid)!
    assert.equal(price.type, 'd')
    assert.equal(price.base?.name, 'numeric')
    const { rows } = await client!.query<{ typtypmod: number }>(
      `SELECT typtypmod FROM pg_type WHERE typname = 'price'`,
    )
    assert.equal(price.baseTypmod, rows[0]!.typtypmod)
    const { rows: labels } = await client!.query<{ l: string[] }>(
      `SELECT enum_range(NULL::mood)::text[] AS l`,
    )
    assert.deepEqual(types.get(attrs.get('c_mood')!.oid)!.enumLabels, labels[0]!.l)
    assert.equal(types.get(attrs.get('c_box_arr')!.oid)!.elem?.delim, ';')
    assert.equal(
      types.get(attrs.get('c_point')!.oid)!.elem,
      undefined,
      'point has a typelem but is not an array',
    )
    const again = await resolveTypes(client!, oids)
    assert.equal(again.get(attrs.get('c_price')!.oid), price, 'second call served from the cache')
  })

  test('decimal schemas carry the precision and scale the database reports', async () => {
    const types = await resolveTypes(client!, [attrs.get('c_num_fixed')!.oid])
    const { rows } = await client!.query<{ p: number; s: number }>(
      `SELECT numeric_precision AS p, numeric_scale AS s FROM information_schema.columns
       WHERE table_name = 'types_t' AND column_name = 'c_num_fixed'`,
    )
    for (const f of FLAVOURS) {
      const c = columnSchema({
        table: 'public.types_t',
        name: 'c_num_fixed',
        type: types.get(attrs.get('c_num_fixed')!.oid)!,
        typmod: attrs.get('c_num_fixed')!.typmod,
        nullable: true,
        avro: { types: f, prefix: 'p', unsupported: 'fail' },
      })
      const avro = c.avro as { precision: number; scale: number }
      assert.deepEqual([avro.precision, avro.scale], [rows[0]!.p, rows[0]!.s])
    }
  })

  test('enum schema lists the labels the database reports', async () => {
    const types = await resolveTypes(client!, [attrs.get('c_mood')!.oid])
    const c = columnSchema({
      table: 'public.types_t',
      name: 'c_mood',
      type: types.get(attrs.get('c_mood')!.oid)!,
      typmod: -1,
      nullable: true,
      avro: { types: 'debezium', prefix: 'p', unsupported: 'fail' },
    })
    const { rows } = await client!.query<{ l: string }>(
      `SELECT array_to_string(enum_range(NULL::mood), ',') AS l`,
    )
    assert.equal(
      (c.avro as { 'connect.parameters': { allowed: string } })['connect.parameters'].allowed,
      rows[0]!.l,
    )
  })

  for (const spec of SPECS) {
    test(
      `${spec.name} (${spec.ddl}): converter output matches the database, both flavours`,
      { skip: spec.skip },
      async () => {
        const a = attrs.get(spec.name)!
        const types = await resolveTypes(client!, [a.oid])
        const info = types.get(a.oid)
        assert.ok(info, `type of ${spec.name} resolved`)
        // Every column comes back as the raw text its output function produced (no pg type
        // parsers): the same bytes pgoutput puts in text tuple data. A ::text cast would not do
        // (it strips char(n) padding).
        const { rows } = await client!.query<{ t: string; o: string }>({
          text: `SELECT ${spec.name} AS t, (${spec.oracle})::text AS o FROM types_t AS r WHERE ${spec.name} IS NOT NULL ORDER BY id`,
          types: { getTypeParser: () => (v: string) => v },
        })
        assert.equal(rows.length, spec.values.length, 'every inserted value is checked')
        for (const f of FLAVOURS) {
          const col = columnSchema({
            table: 'public.types_t',
            name: spec.name,
            type: info,
            typmod: a.typmod,
            nullable: true,
            avro: { types: f, prefix: 'p', unsupported: 'fail' },
          })
          const avroType = compileSchema(['null', col.avro])
          for (const row of rows) {
            let produced: unknown
            const actual = (): unknown => (produced = col.fromText(row.t))
            try {
              spec.check(actual, row.o, f, col)
            } catch (e) {
              throw new Error(
                `${spec.name} [${f}] text ${JSON.stringify(row.t)} oracle ${JSON.stringify(row.o)}`,
                { cause: e },
              )
            }
            if (produced !== undefined) {
              assert.ok(avroType.isValid(produced), `${spec.name} [${f}] value valid for its schema`)
              avroType.toBuffer(produced)
            }
          }
        }
      },
    )
  }
})
