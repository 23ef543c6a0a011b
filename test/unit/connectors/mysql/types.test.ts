import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { compileSchema } from '../../../../avro/codec.js'
import { ABSENT, type BinlogValue } from '../../../../connectors/mysql/binlog/values.js'
import type { MysqlColumnInfo } from '../../../../connectors/mysql/catalog.js'
import {
  inet6Text,
  mysqlColumnSchema,
  parseEnumLabels,
  snapshotColumnSql,
  snapshotTypeCast,
  type MysqlColumnSchema,
} from '../../../../connectors/mysql/types.js'
import { EncodeError } from '../../../../pipeline/errors.js'

type Flavour = 'debezium' | 'logical'

/** A column as information_schema would describe it; `columnType` defaults to `dataType`. */
function info(dataType: string, extra: Partial<MysqlColumnInfo> = {}): MysqlColumnInfo {
  return {
    name: 'c',
    position: 1,
    dataType,
    columnType: dataType,
    nullable: true,
    numericPrecision: null,
    numericScale: null,
    datetimePrecision: null,
    charset: null,
    maxLength: null,
    mariadbJson: false,
    ...extra,
  }
}

interface Opts {
  types?: Flavour
  zeroDates?: 'null' | 'fail'
  unsupported?: 'fail' | 'string'
  bigintUnsigned?: 'long' | 'precise'
}

function col(column: MysqlColumnInfo, o: Opts = {}): MysqlColumnSchema {
  return mysqlColumnSchema({
    table: 'shop.t',
    column,
    avro: { types: o.types ?? 'debezium', prefix: 'p', unsupported: o.unsupported ?? 'fail' },
    flavour: 'mariadb',
    zeroDates: o.zeroDates ?? 'null',
    ...(o.bigintUnsigned ? { bigintUnsigned: o.bigintUnsigned } : {}),
  })
}

/** Asserts the value is valid for the column's (nullable) schema and encodes. */
function valid(c: MysqlColumnSchema, v: unknown): unknown {
  const type = compileSchema(['null', c.avro])
  assert.ok(type.isValid(v), `value of ${c.sourceType} is invalid for its schema: ${String(v)}`)
  type.toBuffer(v)
  return v
}

/**
 * The property every type must have: the snapshot value and the binlog value of the same
 * stored value convert to the identical, schema-valid Avro value. Returns it.
 */
function same(c: MysqlColumnSchema, snapshot: string | Buffer, binlog: BinlogValue): unknown {
  const a = c.fromText(snapshot)
  const b = c.fromBinlog(binlog)
  assert.deepStrictEqual(a, b)
  return valid(c, a)
}

function throwsCode(fn: () => unknown, code: string, mentions: string[] = []): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof EncodeError, `expected an EncodeError, got ${String(err)}`)
    assert.equal(err.code, code)
    for (const m of mentions) assert.ok(err.message.includes(m), `message lacks "${m}": ${err.message}`)
    return true
  })
}

/** Two's-complement big-endian bytes → bigint. */
function fromTwos(b: unknown): bigint {
  assert.ok(Buffer.isBuffer(b))
  let v = 0n
  for (const x of b) v = (v << 8n) | BigInt(x)
  return b.length > 0 && b[0]! & 0x80 ? v - (1n << BigInt(8 * b.length)) : v
}

const dbz = (type: string, name: string, params?: Record<string, string>): Record<string, unknown> =>
  params
    ? { type, 'connect.version': 1, 'connect.parameters': params, 'connect.name': name }
    : { type, 'connect.version': 1, 'connect.name': name }

describe('schema shape per type and flavour', () => {
  const cases: [string, MysqlColumnInfo, unknown, unknown][] = [
    ['tinyint', info('tinyint'), { type: 'int', 'connect.type': 'int16' }, 'int'],
    [
      'tinyint(1) is int16, not boolean',
      info('tinyint', { columnType: 'tinyint(1)' }),
      { type: 'int', 'connect.type': 'int16' },
      'int',
    ],
    [
      'tinyint unsigned',
      info('tinyint', { columnType: 'tinyint(3) unsigned' }),
      { type: 'int', 'connect.type': 'int16' },
      'int',
    ],
    ['smallint', info('smallint'), { type: 'int', 'connect.type': 'int16' }, 'int'],
    ['smallint unsigned', info('smallint', { columnType: 'smallint(5) unsigned' }), 'int', 'int'],
    ['mediumint unsigned', info('mediumint', { columnType: 'mediumint(8) unsigned' }), 'int', 'int'],
    ['int', info('int', { columnType: 'int(11)' }), 'int', 'int'],
    ['int unsigned', info('int', { columnType: 'int(10) unsigned' }), 'long', 'long'],
    ['float', info('float'), 'float', 'float'],
    ['float(7,3)', info('float', { columnType: 'float(7,3)' }), 'double', 'double'],
    ['double', info('double'), 'double', 'double'],
    ['bit(1)', info('bit', { columnType: 'bit(1)' }), 'boolean', 'boolean'],
    [
      'bit(10)',
      info('bit', { columnType: 'bit(10)' }),
      dbz('bytes', 'io.debezium.data.Bits', { length: '10' }),
      'bytes',
    ],
    ['year', info('year', { columnType: 'year(4)' }), dbz('int', 'io.debezium.time.Year'), 'int'],
    ['date', info('date'), dbz('int', 'io.debezium.time.Date'), { type: 'int', logicalType: 'date' }],
    [
      'time',
      info('time', { datetimePrecision: 3 }),
      dbz('long', 'io.debezium.time.MicroTime'),
      { type: 'long', logicalType: 'time-micros' },
    ],
    [
      'datetime(3)',
      info('datetime', { datetimePrecision: 3 }),
      dbz('long', 'io.debezium.time.Timestamp'),
      { type: 'long', logicalType: 'local-timestamp-micros' },
    ],
    [
      'datetime(6)',
      info('datetime', { datetimePrecision: 6 }),
      dbz('long', 'io.debezium.time.MicroTimestamp'),
      { type: 'long', logicalType: 'local-timestamp-micros' },
    ],
    [
      'timestamp',
      info('timestamp', { datetimePrecision: 0 }),
      dbz('string', 'io.debezium.time.ZonedTimestamp'),
      { type: 'long', logicalType: 'timestamp-micros' },
    ],
    ['varchar', info('varchar', { columnType: 'varchar(20)' }), 'string', 'string'],
    ['longtext', info('longtext'), 'string', 'string'],
    ['varbinary', info('varbinary', { columnType: 'varbinary(20)' }), 'bytes', 'bytes'],
    ['blob', info('blob'), 'bytes', 'bytes'],
    [
      "enum('a','b,c')",
      info('enum', { columnType: "enum('a','b,c')" }),
      dbz('string', 'io.debezium.data.Enum', { allowed: 'a,b,c' }),
      'string',
    ],
    [
      "set('x','y')",
      info('set', { columnType: "set('x','y')" }),
      dbz('string', 'io.debezium.data.EnumSet', { allowed: 'x,y' }),
      'string',
    ],
    ['json (mysql)', info('json'), dbz('string', 'io.debezium.data.Json'), 'string'],
    [
      'json (mariadb longtext + check)',
      info('longtext', { mariadbJson: true }),
      dbz('string', 'io.debezium.data.Json'),
      'string',
    ],
    ['uuid', info('uuid'), dbz('string', 'io.debezium.data.Uuid'), { type: 'string', logicalType: 'uuid' }],
    ['inet4', info('inet4'), 'string', 'string'],
    ['inet6', info('inet6'), 'string', 'string'],
  ]
  for (const [what, column, debezium, logical] of cases) {
    test(what, () => {
      assert.deepEqual(JSON.parse(JSON.stringify(col(column).avro)), debezium)
      assert.deepEqual(JSON.parse(JSON.stringify(col(column, { types: 'logical' }).avro)), logical)
    })
  }

  test('decimal(10,2) is Kafka Connect Decimal / Avro decimal', () => {
    const column = info('decimal', { columnType: 'decimal(10,2)', numericPrecision: 10, numericScale: 2 })
    assert.deepEqual(col(column).avro, {
      type: 'bytes',
      scale: 2,
      precision: 10,
      'connect.version': 1,
      'connect.parameters': { scale: '2', 'connect.decimal.precision': '10' },
      'connect.name': 'org.apache.kafka.connect.data.Decimal',
      logicalType: 'decimal',
    })
    assert.deepEqual(col(column, { types: 'logical' }).avro, {
      type: 'bytes',
      logicalType: 'decimal',
      precision: 10,
      scale: 2,
    })
  })

  test('bigint unsigned: long (default) or Decimal(20,0) when precise', () => {
    const column = info('bigint', { columnType: 'bigint(20) unsigned' })
    assert.equal((col(column).avro as { type: string }).type, 'long')
    const p = col(column, { bigintUnsigned: 'precise' }).avro as Record<string, unknown>
    assert.deepEqual(p['connect.parameters'], { scale: '0', 'connect.decimal.precision': '20' })
  })

  test('geometry and point are Debezium records; both compile', () => {
    const g = col(info('polygon')).avro as { name: string; fields: { name: string }[] }
    assert.equal(g.name, 'Geometry')
    assert.deepEqual(
      g.fields.map((f) => f.name),
      ['wkb', 'srid'],
    )
    const p = col(info('point')).avro as { name: string; fields: { name: string }[] }
    assert.equal(p.name, 'Point')
    assert.deepEqual(
      p.fields.map((f) => f.name),
      ['x', 'y', 'wkb', 'srid'],
    )
    compileSchema(g)
    compileSchema(col(info('geometry'), { types: 'logical' }).avro)
  })

  test('source type drops MariaDB version comments; JSON shows as json', () => {
    assert.equal(
      col(info('text', { columnType: 'text /*M!100301 COMPRESSED*/' })).sourceType,
      'text COMPRESSED',
    )
    assert.equal(col(info('longtext', { mariadbJson: true })).sourceType, 'json')
  })

  test('zero dates: nullable schema for date types when zeroDates is null', () => {
    for (const t of ['date', 'datetime', 'timestamp']) {
      assert.equal(col(info(t, { nullable: false })).nullable, true)
      assert.equal(col(info(t, { nullable: false }), { zeroDates: 'fail' }).nullable, false)
    }
    assert.equal(col(info('time', { nullable: false })).nullable, false)
    assert.equal(col(info('int', { nullable: false })).nullable, false)
  })

  test('unsupported type fails naming db.table.column and the fix, or falls back to text', () => {
    throwsCode(() => col(info('vector', { columnType: 'vector(3)' })), 'UNSUPPORTED_TYPE', [
      'shop.t.c',
      'vector(3)',
      'avro.unsupported: string',
    ])
    const c = col(info('vector', { columnType: 'vector(3)' }), { unsupported: 'string' })
    assert.equal(c.avro, 'string')
    const f = new Float32Array([1, 2])
    assert.equal(same(c, Buffer.from(f.buffer), f), '0000803f00000040')
  })
})

describe('integers', () => {
  test('signed and unsigned extremes, zerofill', () => {
    assert.equal(same(col(info('tinyint')), '-128', -128), -128)
    assert.equal(same(col(info('tinyint', { columnType: 'tinyint(3) unsigned' })), '255', 255), 255)
    assert.equal(
      same(col(info('int', { columnType: 'int(10) unsigned' })), '4294967295', 4294967295),
      4294967295,
    )
    assert.equal(same(col(info('int', { columnType: 'int(5) unsigned zerofill' })), '00042', 42), 42)
    assert.equal(same(col(info('mediumint')), '-8388608', -8388608), -8388608)
  })

  test('bigint: numbers when safe, bigints beyond', () => {
    const c = col(info('bigint'))
    assert.equal(same(c, '-9223372036854775808', -9223372036854775808n), -9223372036854775808n)
    assert.equal(same(c, '9007199254740993', 9007199254740993n), 9007199254740993n)
    assert.equal(same(c, '9007199254740991', 9007199254740991), 9007199254740991)
  })

  test('bigint unsigned max: long mode fails the same way from both sides, precise is exact', () => {
    const long = col(info('bigint', { columnType: 'bigint(20) unsigned' }))
    assert.equal(same(long, '9223372036854775807', 9223372036854775807n), 9223372036854775807n)
    throwsCode(() => long.fromText('18446744073709551615'), 'VALUE_OUT_OF_RANGE', ['shop.t.c', 'precise'])
    throwsCode(() => long.fromBinlog(18446744073709551615n), 'VALUE_OUT_OF_RANGE', ['shop.t.c'])
    const precise = col(info('bigint', { columnType: 'bigint(20) unsigned' }), { bigintUnsigned: 'precise' })
    assert.equal(
      fromTwos(same(precise, '18446744073709551615', 18446744073709551615n)),
      18446744073709551615n,
    )
    assert.equal(fromTwos(same(precise, '5', 5)), 5n)
  })

  test('wrong binlog representation is INVALID_VALUE', () => {
    throwsCode(() => col(info('int')).fromBinlog('12'), 'INVALID_VALUE', ['shop.t.c'])
    throwsCode(() => col(info('int')).fromText('12x'), 'INVALID_VALUE')
  })
})

describe('decimal', () => {
  const dec = (p: number, s: number, columnType = `decimal(${p},${s})`): MysqlColumnSchema =>
    col(info('decimal', { columnType, numericPrecision: p, numericScale: s }))

  test('negative with leading zeros, zerofill, zero, 65 digits', () => {
    assert.equal(fromTwos(same(dec(10, 2), '-0.05', '-0.05')), -5n)
    assert.equal(fromTwos(same(dec(10, 4), '-0012.5000', '-12.5000')), -125000n)
    assert.equal(fromTwos(same(dec(6, 2, 'decimal(6,2) unsigned zerofill'), '0001.50', '1.50')), 150n)
    assert.deepEqual(same(dec(10, 2), '0.00', '0.00'), Buffer.from([0]))
    assert.equal(fromTwos(same(dec(10, 0), '-128', '-128')), -128n)
    const big = '-' + '9'.repeat(35) + '.' + '9'.repeat(30)
    assert.equal(fromTwos(same(dec(65, 30), big, big)), -(10n ** 65n - 1n))
  })

  test('more decimals than the scale is invalid', () => {
    throwsCode(() => dec(10, 2).fromText('1.234'), 'INVALID_VALUE', ['shop.t.c'])
  })
})

describe('floating point', () => {
  test('float: the exact float32 (snapshot selects it as a double)', () => {
    const c = col(info('float'))
    const f = Math.fround(3.1415927)
    assert.equal(same(c, '3.1415927410125732', f), f)
    assert.equal(same(c, '16777216', 16777216), 16777216)
    // Math.fround also recovers the float32 from a shortest float32 rendering.
    assert.equal(c.fromText('0.1'), Math.fround(0.1))
  })

  test('float(7,3) and double(10,4): normalised to the decimal text MySQL prints', () => {
    const f = col(info('float', { columnType: 'float(7,3)' }))
    assert.equal(same(f, '1234.568', Math.fround(1234.568)), 1234.568)
    const d = col(info('double', { columnType: 'double(10,4)' }))
    assert.equal(same(d, '1.2346', 1.2346), 1.2346)
  })

  test('double: exact; -0 becomes 0', () => {
    const c = col(info('double'))
    assert.equal(same(c, '0.30000000000000004', 0.1 + 0.2), 0.1 + 0.2)
    assert.equal(same(c, '1.7976931348623157e308', Number.MAX_VALUE), Number.MAX_VALUE)
    assert.ok(Object.is(same(c, '0', -0), 0))
  })
})

describe('bits', () => {
  test('BIT(64) all ones and BIT(10): Debezium little-endian, logical big-endian', () => {
    const ones = Buffer.alloc(8, 0xff)
    const c64 = col(info('bit', { columnType: 'bit(64)' }))
    assert.deepEqual(same(c64, ones, { bits: 64, bytes: ones }), ones)
    const c10 = col(info('bit', { columnType: 'bit(10)' }))
    const be = Buffer.from([0x02, 0xaa]) // b'1010101010'
    assert.deepEqual(same(c10, be, { bits: 10, bytes: be }), Buffer.from([0xaa, 0x02]))
    const l10 = col(info('bit', { columnType: 'bit(10)' }), { types: 'logical' })
    assert.deepEqual(same(l10, be, { bits: 10, bytes: be }), be)
    // A value with all zero high bytes keeps its full length.
    const one = Buffer.from([0, 0, 0, 1])
    assert.deepEqual(
      same(col(info('bit', { columnType: 'bit(32)' })), one, { bits: 32, bytes: one }),
      Buffer.from([1, 0, 0, 0]),
    )
  })

  test('BIT(1) is boolean', () => {
    const c = col(info('bit', { columnType: 'bit(1)' }))
    assert.equal(same(c, Buffer.from([1]), { bits: 1, bytes: Buffer.from([1]) }), true)
    assert.equal(same(c, Buffer.from([0]), { bits: 1, bytes: Buffer.from([0]) }), false)
  })
})

describe('date and time', () => {
  test('year, including 0000 and YEAR(2)', () => {
    const c = col(info('year', { columnType: 'year(4)' }))
    assert.equal(same(c, '2024', 2024), 2024)
    assert.equal(same(c, '0000', 0), 0)
    assert.equal(col(info('year', { columnType: 'year(2)' })).fromText('69'), 2069)
    assert.equal(col(info('year', { columnType: 'year(2)' })).fromText('70'), 1970)
  })

  test('date: days since the epoch, before 1970 too', () => {
    const c = col(info('date'))
    assert.equal(same(c, '1970-01-01', { year: 1970, month: 1, day: 1 }), 0)
    assert.equal(same(c, '2024-03-15', { year: 2024, month: 3, day: 15 }), 19797)
    assert.equal(same(c, '1000-01-01', { year: 1000, month: 1, day: 1 }), -354285)
    assert.equal(same(c, '9999-12-31', { year: 9999, month: 12, day: 31 }), 2932896)
  })

  test('zero dates: null, or VALUE_OUT_OF_RANGE naming the column', () => {
    const d = col(info('date'))
    assert.equal(same(d, '0000-00-00', { year: 0, month: 0, day: 0 }), null)
    assert.equal(same(d, '2024-00-10', { year: 2024, month: 0, day: 10 }), null)
    assert.equal(same(d, '2023-02-29', { year: 2023, month: 2, day: 29 }), null)
    assert.equal(same(d, '2024-02-29', { year: 2024, month: 2, day: 29 }), 19782)
    const dt = col(info('datetime', { datetimePrecision: 0 }))
    const zeroDt = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0, micros: 0 }
    assert.equal(same(dt, '0000-00-00 00:00:00', zeroDt), null)
    const ts = col(info('timestamp', { datetimePrecision: 0 }))
    assert.equal(same(ts, '0000-00-00 00:00:00', { epochSeconds: 0, micros: 0 }), null)

    const fail = (c: MysqlColumnInfo): MysqlColumnSchema => col(c, { zeroDates: 'fail' })
    throwsCode(() => fail(info('date')).fromText('0000-00-00'), 'VALUE_OUT_OF_RANGE', ['shop.t.c', 'zero'])
    throwsCode(() => fail(info('date')).fromBinlog({ year: 0, month: 0, day: 0 }), 'VALUE_OUT_OF_RANGE', [
      'shop.t.c',
    ])
    throwsCode(() => fail(info('datetime')).fromBinlog(zeroDt), 'VALUE_OUT_OF_RANGE', ['shop.t.c'])
    throwsCode(() => fail(info('timestamp')).fromBinlog({ epochSeconds: 0, micros: 0 }), 'VALUE_OUT_OF_RANGE')
  })

  test('time: negative, beyond 24 hours, fractions', () => {
    const c = col(info('time', { datetimePrecision: 6 }))
    const t = (negative: boolean, hours: number, minutes: number, seconds: number, micros: number) => ({
      negative,
      hours,
      minutes,
      seconds,
      micros,
    })
    assert.equal(same(c, '-838:59:59.000000', t(true, 838, 59, 59, 0)), -3_020_399_000_000)
    assert.equal(same(c, '838:59:59.999999', t(false, 838, 59, 59, 999_999)), 3_020_399_999_999)
    assert.equal(same(c, '-00:00:00.500000', t(true, 0, 0, 0, 500_000)), -500_000)
    assert.equal(same(c, '-12:34:56.789000', t(true, 12, 34, 56, 789_000)), -45_296_789_000)
    assert.equal(same(c, '25:00:00.000000', t(false, 25, 0, 0, 0)), 90_000_000_000)
    assert.ok(Object.is(same(c, '00:00:00.000000', t(true, 0, 0, 0, 0)), 0))
    assert.equal(col(info('time')).fromText('-12:00:00.50'), -43_200_500_000)
  })

  test('datetime: milliseconds up to fsp 3, microseconds above (bigint beyond 2^53)', () => {
    const dt = (y: number, mo: number, d: number, h: number, mi: number, s: number, us: number) => ({
      year: y,
      month: mo,
      day: d,
      hour: h,
      minute: mi,
      second: s,
      micros: us,
    })
    const c3 = col(info('datetime', { datetimePrecision: 3 }))
    assert.equal(same(c3, '2024-03-15 10:00:00.123', dt(2024, 3, 15, 10, 0, 0, 123_000)), 1_710_496_800_123)
    const c6 = col(info('datetime', { datetimePrecision: 6 }))
    assert.equal(
      same(c6, '2024-03-15 10:00:00.123456', dt(2024, 3, 15, 10, 0, 0, 123_456)),
      1_710_496_800_123_456,
    )
    assert.equal(
      same(c6, '9999-12-31 23:59:59.999999', dt(9999, 12, 31, 23, 59, 59, 999_999)),
      253_402_300_799_999_999n,
    )
    assert.equal(same(c6, '1000-01-01 00:00:00.000000', dt(1000, 1, 1, 0, 0, 0, 0)), -30_610_224_000_000_000n)
    const l = col(info('datetime', { datetimePrecision: 0 }), { types: 'logical' })
    assert.equal(same(l, '1969-12-31 23:59:59', dt(1969, 12, 31, 23, 59, 59, 0)), -1_000_000)
  })

  test('timestamp: ZonedTimestamp with exactly fsp digits, epoch micros when logical', () => {
    const c6 = col(info('timestamp', { datetimePrecision: 6 }))
    const v = { epochSeconds: 1_710_496_800, micros: 120_000 }
    assert.equal(same(c6, '2024-03-15 10:00:00.120000', v), '2024-03-15T10:00:00.120000Z')
    const c0 = col(info('timestamp', { datetimePrecision: 0 }))
    assert.equal(
      same(c0, '2038-01-19 03:14:07', { epochSeconds: 2_147_483_647, micros: 0 }),
      '2038-01-19T03:14:07Z',
    )
    assert.equal(same(c0, '1970-01-01 00:00:01', { epochSeconds: 1, micros: 0 }), '1970-01-01T00:00:01Z')
    const c2 = col(info('timestamp', { datetimePrecision: 2 }))
    assert.equal(same(c2, '2024-03-15 10:00:00.12', v), '2024-03-15T10:00:00.12Z')
    const l = col(info('timestamp', { datetimePrecision: 6 }), { types: 'logical' })
    assert.equal(same(l, '2024-03-15 10:00:00.120000', v), 1_710_496_800_120_000)
  })
})

describe('strings, binary, enum, set', () => {
  test('text: utf8mb4 emoji, undecodable collation fails', () => {
    const c = col(info('varchar', { charset: 'utf8mb4' }))
    assert.equal(same(c, 'cé😀', 'cé😀'), 'cé😀')
    throwsCode(() => c.fromBinlog({ collation: 999, bytes: Buffer.from('x') }), 'INVALID_VALUE', ['999'])
  })

  test('binary(4) with trailing zeros keeps them', () => {
    const b = Buffer.from([1, 0, 0, 0])
    assert.deepEqual(same(col(info('binary', { columnType: 'binary(4)' })), b, b), b)
    // A latin1 string is taken byte for byte.
    assert.deepEqual(col(info('blob')).fromText('\u0001\u00ff'), Buffer.from([1, 255]))
  })

  test("enum: labels with commas and quotes, '' for the invalid value, index fallback", () => {
    const columnType = "enum('a','b,c','it''s')"
    assert.deepEqual(parseEnumLabels(columnType), ['a', 'b,c', "it's"])
    const c = col(info('enum', { columnType }))
    assert.equal(same(c, 'b,c', 'b,c'), 'b,c')
    assert.equal(same(c, '', ''), '')
    assert.equal(c.fromBinlog(3), "it's")
    assert.equal(c.fromBinlog(0), '')
  })

  test('set: comma-joined in definition order, empty set, bitmask fallback', () => {
    const c = col(info('set', { columnType: "set('x','y','z')" }))
    assert.equal(same(c, 'x,z', ['x', 'z']), 'x,z')
    assert.equal(same(c, '', []), '')
    assert.equal(c.fromBinlog(6), 'y,z')
  })

  test('json: text from both sides', () => {
    const c = col(info('longtext', { mariadbJson: true }))
    assert.equal(same(c, '{"a": [1, 2]}', '{"a": [1, 2]}'), '{"a": [1, 2]}')
  })
})

describe('MariaDB uuid and inet', () => {
  test('uuid: binlog bytes in canonical order → the text SELECT shows', () => {
    const c = col(info('uuid'))
    const text = '6ccd780c-baba-1026-9564-5b8c656024db'
    assert.equal(same(c, text, Buffer.from(text.replace(/-/g, ''), 'hex')), text)
    throwsCode(() => c.fromBinlog(Buffer.alloc(4)), 'INVALID_VALUE')
  })

  test('inet4', () => {
    assert.equal(same(col(info('inet4')), '10.0.255.1', Buffer.from([10, 0, 255, 1])), '10.0.255.1')
  })

  test("inet6 renders as MariaDB's Inet6::to_string", () => {
    const h = (hex: string): Buffer => Buffer.from(hex, 'hex')
    const cases: [string, string][] = [
      ['00000000000000000000ffff01020304', '::ffff:1.2.3.4'],
      ['00000000000000000000000001020304', '::1.2.3.4'],
      ['00000000000000000000000000000000', '::'],
      ['00000000000000000000000000000001', '::1'],
      ['00010000000000010000000000000001', '1:0:0:1::1'],
      ['00010002000300040005000600070008', '1:2:3:4:5:6:7:8'],
      ['00000000000100000000000000000000', '0:0:1::'],
      ['20010db8000000000000000000000001', '2001:db8::1'],
      ['00010000000200030004000500060007', '1::2:3:4:5:6:7'],
      ['fe800000000000000000000000000000', 'fe80::'],
    ]
    for (const [hex, text] of cases) assert.equal(inet6Text(h(hex)), text, hex)
    assert.equal(
      same(col(info('inet6')), '2001:db8::1', h('20010db8000000000000000000000001')),
      '2001:db8::1',
    )
  })
})

describe('geometry', () => {
  const pointWkb = (x: number, y: number): Buffer => {
    const b = Buffer.alloc(21)
    b[0] = 1
    b.writeUInt32LE(1, 1)
    b.writeDoubleLE(x, 5)
    b.writeDoubleLE(y, 13)
    return b
  }
  const internal = (srid: number, wkb: Buffer): Buffer => {
    const s = Buffer.alloc(4)
    s.writeUInt32LE(srid)
    return Buffer.concat([s, wkb])
  }

  test('geometry: wkb and srid (0 → null)', () => {
    const c = col(info('geometry'))
    const wkb = pointWkb(1, 2)
    assert.deepEqual(same(c, internal(4326, wkb), { srid: 4326, wkb }), { wkb, srid: 4326 })
    assert.deepEqual(same(c, internal(0, wkb), { srid: 0, wkb }), { wkb, srid: null })
  })

  test('point: x and y from the WKB', () => {
    const c = col(info('point'))
    const wkb = pointWkb(3.5, -4)
    assert.deepEqual(same(c, internal(0, wkb), { srid: 0, wkb }), { x: 3.5, y: -4, wkb, srid: null })
  })
})

describe('nulls and absent values', () => {
  test('SQL NULL is null; ABSENT names the fix', () => {
    const c = col(info('int'))
    assert.equal(c.fromBinlog(null), null)
    throwsCode(() => c.fromBinlog(ABSENT), 'INVALID_VALUE', ['shop.t.c', 'binlog_row_image=FULL'])
  })
})

describe('snapshot query helpers', () => {
  test('plain FLOAT is selected as a double, everything else as itself', () => {
    assert.equal(snapshotColumnSql(info('float', { name: 'f`x' })), '(`f``x` + 0e0) AS `f``x`')
    assert.equal(snapshotColumnSql(info('float', { name: 'f', columnType: 'float(7,3)' })), '`f`')
    assert.equal(snapshotColumnSql(info('int', { name: 'i' })), '`i`')
  })

  test('typeCast: buffers for BIT and GEOMETRY, text for numbers and dates, charset-aware strings', () => {
    const field = (type: string, value: Buffer | null, extendedFormat?: string) => ({
      type,
      ...(extendedFormat ? { extendedFormat } : {}),
      string: (enc?: string) => (value === null ? null : value.toString((enc ?? 'utf8') as BufferEncoding)),
      buffer: () => value,
    })
    const next = () => 'next'
    assert.deepEqual(snapshotTypeCast(field('BIT', Buffer.from([1])), next), Buffer.from([1]))
    assert.equal(snapshotTypeCast(field('GEOMETRY', null), next), null)
    assert.equal(snapshotTypeCast(field('NEWDECIMAL', Buffer.from('-1.50')), next), '-1.50')
    assert.equal(
      snapshotTypeCast(field('LONGLONG', Buffer.from('18446744073709551615')), next),
      '18446744073709551615',
    )
    assert.equal(
      snapshotTypeCast(field('DATETIME', Buffer.from('0000-00-00 00:00:00')), next),
      '0000-00-00 00:00:00',
    )
    assert.equal(snapshotTypeCast(field('BLOB', Buffer.from('{"a":1}'), 'json'), next), '{"a":1}')
    assert.equal(snapshotTypeCast(field('VAR_STRING', Buffer.from('x')), next), 'next')
  })
})
