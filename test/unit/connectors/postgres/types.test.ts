import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileSchema } from '../../../../avro/codec.js'
import type { PgTypeInfo } from '../../../../connectors/postgres/catalog.js'
import { daysFromCivil } from '../../../../avro/values.js'
import { columnSchema } from '../../../../connectors/postgres/types.js'
import { EncodeError } from '../../../../pipeline/errors.js'
import type { ColumnSchema } from '../../../../pipeline/schema.js'

type Flavour = 'debezium' | 'logical'

const builtin = (oid: number, name: string, extra: Partial<PgTypeInfo> = {}): PgTypeInfo => ({
  oid,
  name,
  schema: 'pg_catalog',
  type: 'b',
  category: 'X',
  delim: ',',
  ...extra,
})
const arrayOf = (elem: PgTypeInfo): PgTypeInfo => ({
  ...builtin(elem.oid + 100_000, '_' + elem.name),
  category: 'A',
  elem,
})

const T = {
  int2: builtin(21, 'int2'),
  int4: builtin(23, 'int4'),
  int8: builtin(20, 'int8'),
  oid: builtin(26, 'oid'),
  float4: builtin(700, 'float4'),
  float8: builtin(701, 'float8'),
  numeric: builtin(1700, 'numeric'),
  money: builtin(790, 'money'),
  bool: builtin(16, 'bool'),
  text: builtin(25, 'text'),
  varchar: builtin(1043, 'varchar'),
  bpchar: builtin(1042, 'bpchar'),
  name: builtin(19, 'name'),
  bytea: builtin(17, 'bytea'),
  uuid: builtin(2950, 'uuid'),
  json: builtin(114, 'json'),
  jsonb: builtin(3802, 'jsonb'),
  xml: builtin(142, 'xml'),
  date: builtin(1082, 'date'),
  time: builtin(1083, 'time'),
  timetz: builtin(1266, 'timetz'),
  timestamp: builtin(1114, 'timestamp'),
  timestamptz: builtin(1184, 'timestamptz'),
  interval: builtin(1186, 'interval'),
  bit: builtin(1560, 'bit'),
  varbit: builtin(1562, 'varbit'),
  point: builtin(600, 'point'),
  box: builtin(603, 'box', { delim: ';' }),
  inet: builtin(869, 'inet'),
  tsvector: builtin(3614, 'tsvector'),
  tsquery: builtin(3615, 'tsquery'),
  pg_lsn: builtin(3220, 'pg_lsn'),
  int4range: { ...builtin(3904, 'int4range'), type: 'r' as const },
}
const mood: PgTypeInfo = {
  ...builtin(50_000, 'mood'),
  schema: 'public',
  type: 'e',
  enumLabels: ['sad', 'ok', 'happy'],
}
const hstore: PgTypeInfo = { ...builtin(50_001, 'hstore'), schema: 'public' }
const citext: PgTypeInfo = { ...builtin(50_002, 'citext'), schema: 'public' }
const ltree: PgTypeInfo = { ...builtin(50_003, 'ltree'), schema: 'public' }
const composite: PgTypeInfo = { ...builtin(50_004, 'addr'), schema: 'public', type: 'c' }

/** numeric(p,s) typmod as Postgres stores it. */
const numTypmod = (p: number, s: number): number => ((p << 16) | (s & 0x7ff)) + 4

function col(
  type: PgTypeInfo,
  typmod = -1,
  types: Flavour = 'debezium',
  unsupported: 'fail' | 'string' = 'fail',
) {
  return columnSchema({
    table: 'public.t',
    name: 'c',
    type,
    typmod,
    nullable: true,
    avro: { types, prefix: 'p', unsupported },
  })
}

/** fromText, asserting the schema compiles and the value is valid for it. */
function conv(c: ColumnSchema, text: string): unknown {
  const type = compileSchema(c.avro)
  const v = c.fromText(text)
  assert.ok(
    type.isValid(v),
    `value of ${c.sourceType} from a ${text.length}-char text is invalid for its schema`,
  )
  type.toBuffer(v) // and it encodes
  return v
}

/** Two's-complement big-endian decode, checking minimal length (BigInteger.toByteArray rules). */
function fromTwos(b: unknown): bigint {
  assert.ok(Buffer.isBuffer(b))
  assert.ok(b.length >= 1)
  if (b.length > 1) {
    assert.ok(!(b[0] === 0 && (b[1]! & 0x80) === 0), 'not minimal (leading 0x00)')
    assert.ok(!(b[0] === 0xff && (b[1]! & 0x80) !== 0), 'not minimal (leading 0xff)')
  }
  const u = BigInt('0x' + b.toString('hex'))
  return (b[0]! & 0x80) !== 0 ? u - (1n << BigInt(b.length * 8)) : u
}

/** Days since 1970 of an astronomical year, by JS Date (proleptic Gregorian too). */
function jsDays(y: number, m: number, d: number): number {
  const dt = new Date(0)
  dt.setUTCFullYear(y, m - 1, d)
  return dt.getTime() / 86_400_000
}

function jsMicros(y: number, mo: number, d: number, h: number, mi: number, s: number, us = 0): bigint {
  return BigInt(jsDays(y, mo, d)) * 86_400_000_000n + BigInt(((h * 60 + mi) * 60 + s) * 1_000_000 + us)
}

const asBig = (v: unknown): bigint => {
  assert.ok(typeof v === 'number' || typeof v === 'bigint')
  if (typeof v === 'bigint')
    assert.ok(
      v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER),
      'bigint only beyond 2^53',
    )
  return BigInt(v)
}

function throwsCode(
  fn: () => unknown,
  code: string,
  mustInclude: string[] = ['public.t.c'],
  secret?: string,
): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof EncodeError)
    assert.equal(e.code, code)
    for (const s of mustInclude) assert.ok(e.message.includes(s), `message lacks ${s}: ${e.message}`)
    if (secret) assert.ok(!e.message.includes(secret), 'message leaks the value')
    return true
  })
}

describe('integers', () => {
  test('int2 carries connect.type int16 in debezium flavour, plain int in logical', () => {
    assert.deepEqual(col(T.int2).avro, { type: 'int', 'connect.type': 'int16' })
    assert.equal(col(T.int2, -1, 'logical').avro, 'int')
    assert.equal(conv(col(T.int2), '-32768'), -32768)
  })
  test('int4 and oid', () => {
    assert.equal(conv(col(T.int4), '2147483647'), 2147483647)
    assert.equal(col(T.oid).avro, 'long')
    assert.equal(conv(col(T.oid), '4294967295'), 4294967295)
  })
  test('int8 is a number when safe and a bigint beyond 2^53', () => {
    for (const f of ['debezium', 'logical'] as const) {
      const c = col(T.int8, -1, f)
      assert.equal(conv(c, '42'), 42)
      assert.equal(conv(c, '-9007199254740991'), -9007199254740991)
      assert.equal(conv(c, '9007199254740993'), 9007199254740993n)
      assert.equal(conv(c, '-9223372036854775808'), -9223372036854775808n)
    }
  })
  test('malformed integer text is an INVALID_VALUE naming the column', () => {
    throwsCode(() => col(T.int4).fromText('12x'), 'INVALID_VALUE', ['public.t.c'], '12x')
  })
})

describe('floats', () => {
  for (const f of ['debezium', 'logical'] as const) {
    test(`float4/float8 special values pass through (${f})`, () => {
      assert.equal(col(T.float4, -1, f).avro, 'float')
      assert.equal(col(T.float8, -1, f).avro, 'double')
      const c = col(T.float8, -1, f)
      assert.ok(Number.isNaN(conv(c, 'NaN')))
      assert.equal(conv(c, 'Infinity'), Infinity)
      assert.equal(conv(c, '-Infinity'), -Infinity)
      assert.equal(conv(c, '1e+20'), 1e20)
      assert.ok(Object.is(conv(c, '-0'), -0))
      assert.equal(conv(col(T.float4, -1, f), '1.1'), 1.1)
    })
  }
})

describe('numeric', () => {
  test('numeric(p,s), debezium: Connect Decimal as Confluent writes it', () => {
    const c = col(T.numeric, numTypmod(10, 2))
    assert.equal(c.sourceType, 'numeric(10,2)')
    assert.deepEqual(c.avro, {
      type: 'bytes',
      scale: 2,
      precision: 10,
      'connect.version': 1,
      'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    })
    assert.deepEqual(conv(c, '1234.56'), Buffer.from([0x01, 0xe2, 0x40]))
    assert.deepEqual(conv(c, '-1.50'), Buffer.from([0xff, 0x6a]))
    assert.deepEqual(conv(c, '0.00'), Buffer.from([0x00]))
    assert.deepEqual(conv(c, '1.28'), Buffer.from([0x00, 0x80]))
    assert.deepEqual(conv(c, '-1.28'), Buffer.from([0x80]))
  })
  test('numeric(p,s), logical: Avro decimal', () => {
    const c = col(T.numeric, numTypmod(38, 4), 'logical')
    assert.deepEqual(c.avro, { type: 'bytes', logicalType: 'decimal', precision: 38, scale: 4 })
    assert.equal(
      fromTwos(conv(c, '-12345678901234567890123456789.1234')),
      -123456789012345678901234567891234n,
    )
    assert.equal(fromTwos(conv(c, '7')), 70000n, 'pads fraction digits to the scale')
  })
  test('negative scale is carried at scale 0 with widened precision; scale > precision widens precision', () => {
    const neg = col(T.numeric, numTypmod(3, -2), 'logical')
    assert.deepEqual(neg.avro, { type: 'bytes', logicalType: 'decimal', precision: 5, scale: 0 })
    assert.equal(fromTwos(conv(neg, '12300')), 12300n)
    const small = col(T.numeric, numTypmod(2, 4))
    assert.equal((small.avro as { precision: number }).precision, 4)
    assert.equal(fromTwos(conv(small, '0.0012')), 12n)
  })
  test('numeric without typmod, debezium: VariableScaleDecimal with trailing zeros stripped', () => {
    const c = col(T.numeric)
    assert.equal((c.avro as { name: string }).name, 'VariableScaleDecimal')
    assert.equal((c.avro as Record<string, unknown>)['connect.name'], 'io.debezium.data.VariableScaleDecimal')
    const v = (t: string) => conv(c, t) as { scale: number; value: Buffer }
    assert.deepEqual(v('1.500'), { scale: 1, value: Buffer.from([15]) })
    assert.deepEqual(v('100'), { scale: 0, value: Buffer.from([100]) })
    assert.deepEqual(v('-0.001'), { scale: 3, value: Buffer.from([0xff]) })
    assert.deepEqual(v('0.000'), { scale: 0, value: Buffer.from([0]) })
    const big = v('123456789012345678901234567890.0123456789')
    assert.equal(big.scale, 10)
    assert.equal(fromTwos(big.value), 1234567890123456789012345678900123456789n)
  })
  test('numeric without typmod, logical: the exact text, special values included', () => {
    const c = col(T.numeric, -1, 'logical')
    assert.equal(c.avro, 'string')
    assert.equal(conv(c, '-0.0100'), '-0.0100')
    assert.equal(conv(c, 'NaN'), 'NaN')
    assert.equal(conv(c, '-Infinity'), '-Infinity')
  })
  test('NaN and ±Infinity in a decimal are VALUE_OUT_OF_RANGE (both flavours)', () => {
    for (const c of [
      col(T.numeric),
      col(T.numeric, numTypmod(10, 2)),
      col(T.numeric, numTypmod(10, 2), 'logical'),
    ]) {
      for (const t of ['NaN', 'Infinity', '-Infinity'])
        throwsCode(() => c.fromText(t), 'VALUE_OUT_OF_RANGE', ['public.t.c', 'NaN or Infinity'])
    }
  })
  test('extra non-zero decimals beyond the scale are refused, zeros are dropped', () => {
    const c = col(T.numeric, numTypmod(10, 2))
    assert.equal(fromTwos(conv(c, '1.2300')), 123n)
    throwsCode(() => c.fromText('1.234'), 'VALUE_OUT_OF_RANGE')
  })
})

describe('money', () => {
  test('debezium: Decimal scale 2 without precision parameter (precision 64)', () => {
    const c = col(T.money)
    assert.deepEqual(c.avro, {
      type: 'bytes',
      scale: 2,
      precision: 64,
      'connect.version': 1,
      'connect.parameters': { scale: '2' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    })
  })
  test('locale formats: sign, symbol, grouping, parentheses, comma decimals', () => {
    for (const f of ['debezium', 'logical'] as const) {
      const c = col(T.money, -1, f)
      const v = (t: string) => fromTwos(conv(c, t))
      assert.equal(v('$1,234.56'), 123456n)
      assert.equal(v('-$1,234.56'), -123456n)
      assert.equal(v('($5.00)'), -500n)
      assert.equal(v('$0.05'), 5n)
      assert.equal(v('1.234,56 €'), 123456n)
      assert.equal(v('-1.234,5 kr.'), -123450n)
      assert.equal(v('¥1,234'), 123400n)
      assert.equal(v('$92,233,720,368,547,758.07'), 9223372036854775807n)
      assert.equal(v('-$92,233,720,368,547,758.08'), -9223372036854775808n)
    }
    assert.deepEqual(col(T.money, -1, 'logical').avro, {
      type: 'bytes',
      logicalType: 'decimal',
      precision: 19,
      scale: 2,
    })
  })
})

describe('strings, bytes, uuid, json', () => {
  test('character types, enums and extension strings pass text through', () => {
    for (const t of [T.text, T.varchar, T.bpchar, T.name, T.inet, T.int4range, T.tsquery, T.pg_lsn, citext]) {
      assert.equal(col(t).avro, 'string')
      assert.equal(conv(col(t), 'ab  '), 'ab  ')
    }
    assert.equal(col(T.varchar, 24).sourceType, 'varchar(20)')
  })
  test('bytea hex and escape output', () => {
    const c = col(T.bytea)
    assert.equal(c.avro, 'bytes')
    assert.deepEqual(conv(c, '\\x00ff10'), Buffer.from([0, 255, 16]))
    assert.deepEqual(conv(c, '\\x'), Buffer.alloc(0))
    assert.deepEqual(conv(c, 'a\\\\b\\001'), Buffer.from([97, 92, 98, 1]))
  })
  test('semantic string types carry their connect.name in debezium flavour', () => {
    const names: [PgTypeInfo, string][] = [
      [T.uuid, 'io.debezium.data.Uuid'],
      [T.json, 'io.debezium.data.Json'],
      [T.jsonb, 'io.debezium.data.Json'],
      [T.xml, 'io.debezium.data.Xml'],
      [T.tsvector, 'io.debezium.data.Tsvector'],
      [ltree, 'io.debezium.data.Ltree'],
    ]
    for (const [t, name] of names) {
      assert.deepEqual(col(t).avro, { type: 'string', 'connect.version': 1, 'connect.name': name })
      assert.equal(conv(col(t), '{"a": 1}'), '{"a": 1}')
    }
    assert.deepEqual(col(T.uuid, -1, 'logical').avro, { type: 'string', logicalType: 'uuid' })
    assert.equal(col(T.jsonb, -1, 'logical').avro, 'string')
  })
  test('enum: io.debezium.data.Enum with the labels in `allowed`; logical: string', () => {
    assert.deepEqual(col(mood).avro, {
      type: 'string',
      'connect.version': 1,
      'connect.parameters': { allowed: 'sad,ok,happy' },
      'connect.name': 'io.debezium.data.Enum',
    })
    assert.equal(conv(col(mood), 'happy'), 'happy')
    assert.equal(col(mood, -1, 'logical').avro, 'string')
  })
  test('boolean', () => {
    const c = col(T.bool)
    assert.equal(conv(c, 't'), true)
    assert.equal(conv(c, 'f'), false)
  })
})

describe('date and time', () => {
  test('date: epoch days, BC dates, infinity as int32 extremes', () => {
    for (const f of ['debezium', 'logical'] as const) {
      const c = col(T.date, -1, f)
      assert.equal(conv(c, '1970-01-01'), 0)
      assert.equal(conv(c, '2000-02-29'), jsDays(2000, 2, 29))
      assert.equal(conv(c, '1969-12-31'), -1)
      assert.equal(conv(c, '0044-03-15 BC'), jsDays(-43, 3, 15))
      assert.equal(conv(c, '0001-01-01 BC'), jsDays(0, 1, 1))
      assert.equal(conv(c, '4714-11-24 BC'), jsDays(-4713, 11, 24))
      // The Gregorian calendar repeats every 400 years (146097 days): 5874897 = 274897 + 400 × 14000.
      assert.equal(conv(c, '5874897-12-31'), jsDays(274897, 12, 31) + 146097 * 14000)
    }
    assert.equal(conv(col(T.date, -1, 'logical'), 'infinity'), 2147483647)
    assert.equal(conv(col(T.date, -1, 'logical'), '-infinity'), -2147483648)
    assert.deepEqual(col(T.date).avro, {
      type: 'int',
      'connect.version': 1,
      'connect.name': 'io.debezium.time.Date',
    })
    assert.deepEqual(col(T.date, -1, 'logical').avro, { type: 'int', logicalType: 'date' })
  })
  test('debezium date infinity: epoch days of LocalDate -5877611-06-21 (+inf) and -06-22 (-inf)', () => {
    // JS Date reaches only year -271821: shift by 14100 Gregorian cycles of 400 years.
    const shift = 146097 * 14100
    assert.equal(conv(col(T.date), 'infinity'), jsDays(-5877611 + 400 * 14100, 6, 21) - shift)
    assert.equal(conv(col(T.date), '-infinity'), jsDays(-5877611 + 400 * 14100, 6, 22) - shift)
    assert.equal(daysFromCivil(-5877611, 6, 22) - 10957, -2147483648, 'INT32_MIN days from 2000-01-01')
  })
  test('large dates are exact', () => {
    const c = col(T.date)
    assert.equal(conv(c, '275000-01-01'), jsDays(275000, 1, 1))
  })
  test('time: microseconds since midnight, 24:00:00 allowed', () => {
    for (const f of ['debezium', 'logical'] as const) {
      const c = col(T.time, -1, f)
      assert.equal(conv(c, '00:00:00'), 0)
      assert.equal(conv(c, '12:34:56.5'), (12 * 3600 + 34 * 60 + 56) * 1e6 + 500_000)
      assert.equal(conv(c, '23:59:59.999999'), 86_399_999_999)
      assert.equal(conv(c, '24:00:00'), 86_400_000_000)
    }
    assert.deepEqual(col(T.time).avro, {
      type: 'long',
      'connect.version': 1,
      'connect.name': 'io.debezium.time.MicroTime',
    })
    assert.deepEqual(col(T.time, -1, 'logical').avro, { type: 'long', logicalType: 'time-micros' })
  })
  test('timetz: ISO time normalised to UTC, offsets with minutes and seconds', () => {
    for (const f of ['debezium', 'logical'] as const) {
      const c = col(T.timetz, -1, f)
      assert.equal(conv(c, '10:15:30+05:30'), '04:45:30Z')
      assert.equal(conv(c, '23:00:00-03:30:15'), '02:30:15Z')
      assert.equal(conv(c, '00:00:00.25+01'), '23:00:00.25Z')
      assert.equal(conv(c, '12:00:00.123456+00'), '12:00:00.123456Z')
      assert.equal(conv(c, '24:00:00+00'), '24:00:00Z')
      assert.equal(conv(c, '24:00:00+05'), '19:00:00Z')
    }
    assert.deepEqual(col(T.timetz).avro, {
      type: 'string',
      'connect.version': 1,
      'connect.name': 'io.debezium.time.ZonedTime',
    })
  })
  test('timestamp, debezium: MicroTimestamp (wide long), Timestamp millis for precision <= 3', () => {
    const c = col(T.timestamp)
    assert.equal((c.avro as Record<string, unknown>)['connect.name'], 'io.debezium.time.MicroTimestamp')
    assert.equal(asBig(conv(c, '2024-03-15 10:20:30.123456')), jsMicros(2024, 3, 15, 10, 20, 30, 123456))
    assert.equal(asBig(conv(c, '1900-01-01 00:00:00')), jsMicros(1900, 1, 1, 0, 0, 0))
    assert.equal(asBig(conv(c, '2500-06-01 12:00:00')), jsMicros(2500, 6, 1, 12, 0, 0))
    assert.equal(asBig(conv(c, '1600-06-01 12:00:00')), jsMicros(1600, 6, 1, 12, 0, 0))
    assert.equal(asBig(conv(c, '0044-03-15 12:00:00.5 BC')), jsMicros(-43, 3, 15, 12, 0, 0, 500_000))
    assert.equal(conv(c, 'infinity'), 9223372036825200000n)
    assert.equal(conv(c, '-infinity'), -9223372036832400000n)
    const ms = col(T.timestamp, 3)
    assert.deepEqual(ms.avro, {
      type: 'long',
      'connect.version': 1,
      'connect.name': 'io.debezium.time.Timestamp',
    })
    assert.equal(
      conv(ms, '2024-03-15 10:20:30.123'),
      Number(jsMicros(2024, 3, 15, 10, 20, 30, 123000) / 1000n),
    )
    assert.equal(conv(ms, '1969-12-31 23:59:59.999'), -1)
    assert.equal(conv(ms, 'infinity'), 9223372036825200n)
    assert.equal(conv(ms, '-infinity'), -9223372036832400n)
  })
  test('timestamp, logical: local-timestamp-micros, infinity as int64 extremes', () => {
    const c = col(T.timestamp, 3, 'logical')
    assert.deepEqual(c.avro, { type: 'long', logicalType: 'local-timestamp-micros' })
    assert.equal(asBig(conv(c, '2024-03-15 10:20:30.123')), jsMicros(2024, 3, 15, 10, 20, 30, 123000))
    assert.equal(conv(c, 'infinity'), 9223372036854775807n)
    assert.equal(conv(c, '-infinity'), -9223372036854775808n)
  })
  test('timestamps past int64 microseconds (year 294247+) are VALUE_OUT_OF_RANGE', () => {
    throwsCode(() => col(T.timestamp).fromText('294276-12-31 23:59:59.999999'), 'VALUE_OUT_OF_RANGE')
    assert.equal(typeof conv(col(T.timestamp), '294000-01-01 00:00:00'), 'bigint')
  })
  test('timestamptz, debezium: ZonedTimestamp in UTC with the column precision as fraction width', () => {
    const c = col(T.timestamptz)
    assert.deepEqual(c.avro, {
      type: 'string',
      'connect.version': 1,
      'connect.name': 'io.debezium.time.ZonedTimestamp',
    })
    assert.equal(conv(c, '2024-03-15 10:20:30.5+00'), '2024-03-15T10:20:30.500000Z')
    assert.equal(conv(c, '2024-03-15 10:20:30.5+05:30'), '2024-03-15T04:50:30.500000Z')
    assert.equal(conv(c, '2024-01-01 01:00:00+02'), '2023-12-31T23:00:00.000000Z')
    assert.equal(conv(c, '1850-01-01 00:00:00-00:01:15'), '1850-01-01T00:01:15.000000Z')
    assert.equal(conv(c, '0044-03-15 10:00:00+00 BC'), '-0043-03-15T10:00:00.000000Z')
    assert.equal(conv(c, '12345-06-07 08:09:10+00'), '+12345-06-07T08:09:10.000000Z')
    assert.equal(conv(c, 'infinity'), 'infinity')
    assert.equal(conv(c, '-infinity'), '-infinity')
    assert.equal(conv(col(T.timestamptz, 0), '2024-03-15 10:20:30+00'), '2024-03-15T10:20:30Z')
    assert.equal(conv(col(T.timestamptz, 3), '2024-03-15 10:20:30.12+00'), '2024-03-15T10:20:30.120Z')
  })
  test('timestamptz, logical: timestamp-micros, UTC instant', () => {
    const c = col(T.timestamptz, -1, 'logical')
    assert.deepEqual(c.avro, { type: 'long', logicalType: 'timestamp-micros' })
    assert.equal(asBig(conv(c, '2024-03-15 10:20:30.5+05:30')), jsMicros(2024, 3, 15, 4, 50, 30, 500_000))
    assert.equal(conv(c, 'infinity'), 9223372036854775807n)
  })
  test('interval, debezium: MicroDuration with 30.4375-day months', () => {
    const c = col(T.interval)
    assert.equal((c.avro as Record<string, unknown>)['connect.name'], 'io.debezium.time.MicroDuration')
    const month = 30.4375 * 86_400_000_000
    assert.equal(
      conv(c, '1 year 2 mons 3 days 04:05:06.789'),
      14 * month + 3 * 86_400_000_000 + 14_706_789_000,
    )
    assert.equal(conv(c, '-1 days +02:00:00'), -86_400_000_000 + 7_200_000_000)
    assert.equal(conv(c, '-00:00:01.5'), -1_500_000)
    assert.equal(conv(c, '00:00:00'), 0)
    assert.equal(conv(c, '1 day'), 86_400_000_000)
    assert.equal(conv(c, '2562047788:00:54.775807'), 9223372036854775807n)
    assert.equal(asBig(conv(c, '1000 years')), 12000n * 2_629_800_000_000n)
    throwsCode(() => c.fromText('178000000 years'), 'VALUE_OUT_OF_RANGE')
  })
  test('interval, logical: ISO-8601 duration with signed parts', () => {
    const c = col(T.interval, -1, 'logical')
    assert.equal(c.avro, 'string')
    assert.equal(conv(c, '1 year 2 mons 3 days 04:05:06.789'), 'P1Y2M3DT4H5M6.789S')
    assert.equal(conv(c, '-1 years -2 mons +3 days -04:05:06'), 'P-1Y-2M3DT-4H-5M-6S')
    assert.equal(conv(c, '00:00:00'), 'P0Y0M0DT0H0M0S')
  })
  test('malformed temporal text is INVALID_VALUE', () => {
    throwsCode(() => col(T.date).fromText('March 5'), 'INVALID_VALUE', ['public.t.c', 'date'], 'March')
    throwsCode(() => col(T.timestamptz).fromText('2024-03-15 10:00:00'), 'INVALID_VALUE')
    throwsCode(() => col(T.interval).fromText('@ 1 hour'), 'INVALID_VALUE')
  })
})

describe('bits and geometry', () => {
  test('bit(1) is boolean, bit(n) and varbit are io.debezium.data.Bits (little-endian, minimal)', () => {
    assert.equal(col(T.bit, 1).avro, 'boolean')
    assert.equal(conv(col(T.bit, 1), '1'), true)
    assert.equal(conv(col(T.varbit, 1), '0'), false)
    const c = col(T.bit, 10)
    assert.deepEqual(c.avro, {
      type: 'bytes',
      'connect.version': 1,
      'connect.parameters': { length: '10' },
      'connect.name': 'io.debezium.data.Bits',
    })
    assert.deepEqual(conv(c, '1000000001'), Buffer.from([0x01, 0x02]))
    assert.deepEqual(conv(c, '0000001010'), Buffer.from([0x0a]))
    assert.deepEqual(conv(c, '0000000000'), Buffer.alloc(0))
    assert.equal(
      (col(T.varbit).avro as { 'connect.parameters': { length: string } })['connect.parameters'].length,
      '2147483647',
    )
  })
  test('bits, logical: the bit string', () => {
    assert.equal(conv(col(T.varbit, 16, 'logical'), '0101'), '0101')
  })
  test('point: io.debezium.data.geometry.Point with WKB; logical: text', () => {
    const c = col(T.point)
    const v = conv(c, '(1.5,-2)') as { x: number; y: number; wkb: Buffer; srid: null }
    assert.equal(v.x, 1.5)
    assert.equal(v.y, -2)
    assert.equal(v.srid, null)
    assert.equal(v.wkb.length, 21)
    assert.equal(v.wkb[0], 1)
    assert.equal(v.wkb.readUInt32LE(1), 1)
    assert.equal(v.wkb.readDoubleLE(5), 1.5)
    assert.equal(v.wkb.readDoubleLE(13), -2)
    assert.equal(conv(col(T.point, -1, 'logical'), '(1.5,-2)'), '(1.5,-2)')
  })
  test('other geometric types are their text', () => {
    assert.equal(conv(col(T.box), '(2,2),(0,0)'), '(2,2),(0,0)')
  })
})

describe('hstore', () => {
  const text = '"a"=>"1", "b"=>NULL, "q\\"k"=>"v\\\\", "sp ace"=>""'
  test('debezium: JSON object string, NULL values as null', () => {
    const c = col(hstore)
    assert.deepEqual(c.avro, {
      type: 'string',
      'connect.version': 1,
      'connect.name': 'io.debezium.data.Json',
    })
    assert.deepEqual(JSON.parse(conv(c, text) as string), { a: '1', b: null, 'q"k': 'v\\', 'sp ace': '' })
    assert.equal(conv(c, ''), '{}')
  })
  test('logical: Avro map of nullable strings', () => {
    const c = col(hstore, -1, 'logical')
    assert.deepEqual({ ...(conv(c, text) as object) }, { a: '1', b: null, 'q"k': 'v\\', 'sp ace': '' })
  })
})

describe('arrays', () => {
  test('one-dimensional arrays with NULL elements, items nullable', () => {
    const c = col(arrayOf(T.int4))
    assert.deepEqual(c.avro, { type: 'array', items: ['null', 'int'] })
    assert.deepEqual(conv(c, '{1,NULL,-3}'), [1, null, -3])
    assert.deepEqual(conv(c, '{}'), [])
    assert.deepEqual(conv(c, '[0:1]={7,8}'), [7, 8])
  })
  test('quoted elements: empty, spaces, the word NULL, escaped quotes and backslashes', () => {
    const c = col(arrayOf(T.text))
    assert.deepEqual(conv(c, '{"a b","",NULL,"NULL","q\\"x","back\\\\slash",plain,"{br}"}'), [
      'a b',
      '',
      null,
      'NULL',
      'q"x',
      'back\\slash',
      'plain',
      '{br}',
    ])
  })
  test('element typmod and converters apply (numeric(5,2)[], timestamptz[], bytea[])', () => {
    const n = col(arrayOf(T.numeric), numTypmod(5, 2))
    assert.deepEqual(
      (conv(n, '{1.50,NULL,-2.00}') as (Buffer | null)[]).map((b) => (b ? fromTwos(b) : b)),
      [150n, null, -200n],
    )
    const ts = col(arrayOf(T.timestamptz))
    assert.deepEqual(conv(ts, '{"2024-01-01 00:00:00+00",infinity}'), [
      '2024-01-01T00:00:00.000000Z',
      'infinity',
    ])
    assert.deepEqual(conv(col(arrayOf(T.bytea)), '{"\\\\x0102"}'), [Buffer.from([1, 2])])
  })
  test('box[] uses the ; delimiter', () => {
    assert.deepEqual(conv(col(arrayOf(T.box)), '{(1,1),(0,0);(2,2),(1,1)}'), ['(1,1),(0,0)', '(2,2),(1,1)'])
  })
  test('multi-dimensional arrays are refused, naming the column and the kind', () => {
    throwsCode(() => col(arrayOf(T.int4)).fromText('{{1,2},{3,4}}'), 'VALUE_OUT_OF_RANGE', [
      'public.t.c',
      'multi-dimensional',
    ])
  })
  test('arrays of an enum and of a domain', () => {
    const c = col(arrayOf(mood))
    assert.deepEqual(conv(c, '{sad,happy}'), ['sad', 'happy'])
  })
})

describe('domains', () => {
  const price: PgTypeInfo = {
    ...builtin(60_000, 'price'),
    schema: 'public',
    type: 'd',
    base: T.numeric,
    baseTypmod: numTypmod(8, 3),
  }
  test('a domain maps as its base type with the domain typmod', () => {
    const c = col(price)
    assert.equal((c.avro as { scale: number }).scale, 3)
    assert.equal(fromTwos(conv(c, '12.345')), 12345n)
    assert.equal(c.sourceType, 'public.price')
  })
})

describe('unsupported types', () => {
  test('fail naming table.column, the type and the fix', () => {
    throwsCode(() => col(composite), 'UNSUPPORTED_TYPE', [
      'public.t.c',
      'public.addr',
      'avro.unsupported: string',
    ])
    throwsCode(() => col(arrayOf(composite)), 'UNSUPPORTED_TYPE', ['public.t.c'])
    throwsCode(() => col({ ...builtin(2249, 'record'), type: 'p' }), 'UNSUPPORTED_TYPE')
  })
  test('avro.unsupported: string carries the text rendering', () => {
    const c = col(composite, -1, 'debezium', 'string')
    assert.equal(c.avro, 'string')
    assert.equal(conv(c, '("1 Main St",Springfield)'), '("1 Main St",Springfield)')
  })
})

describe('every mapped type compiles in both flavours', () => {
  for (const f of ['debezium', 'logical'] as const) {
    test(`${f}: schemas compile (scalars and arrays), nullable union too`, () => {
      for (const t of [...Object.values(T), mood, hstore, citext, ltree]) {
        for (const type of [t, arrayOf(t)]) {
          const c = col(type, -1, f)
          compileSchema(['null', c.avro])
        }
      }
    })
  }
})
