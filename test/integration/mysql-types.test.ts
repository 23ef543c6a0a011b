/**
 * Every MySQL/MariaDB column type through both paths on a real MariaDB: the same rows read by
 * a snapshot SELECT (SNAPSHOT_SESSION_SQL + snapshotColumnSql + SNAPSHOT_QUERY_OPTIONS →
 * fromText) and from the binlog (BinlogStream + BinlogDecoder WRITE_ROWS → fromBinlog) must
 * give identical Avro values, valid for the column's schema, and equal to what the server's
 * own functions say the value is (HEX, CAST, DATEDIFF, TIMESTAMPDIFF, UNIX_TIMESTAMP, ST_*).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
import { compileSchema } from '../../avro/codec.js'
import { BinlogDecoder, type RowImage } from '../../connectors/mysql/binlog/index.js'
import { tableColumns, type MysqlColumnInfo } from '../../connectors/mysql/catalog.js'
import { BinlogStream } from '../../connectors/mysql/replication.js'
import {
  mysqlColumnSchema,
  SNAPSHOT_QUERY_OPTIONS,
  SNAPSHOT_SESSION_SQL,
  snapshotColumnSql,
  type MysqlColumnSchema,
} from '../../connectors/mysql/types.js'
import { SluiceError } from '../../pipeline/errors.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

type Flavour = 'debezium' | 'logical'

/** An expected failure (by error code) instead of a value. */
class Fails {
  constructor(readonly code: string) {}
}

interface Spec {
  name: string
  ddl: string
  /** SQL computing the oracle from the stored value; `c` stands for the column. */
  oracle: string
  /** The expected Avro value from the oracle's text (never called for NULL). */
  expect: (o: string, flavour: Flavour) => unknown
  /** Maps the produced value before comparing it with `expect` (e.g. decimal bytes → bigint). */
  view?: (v: unknown) => unknown
}

const narrow = (b: bigint): number | bigint => (b >= -(2n ** 53n) + 1n && b <= 2n ** 53n - 1n ? Number(b) : b)
const utf8 = (hex: string): string => Buffer.from(hex, 'hex').toString('utf8')
/** Two's-complement big-endian bytes → bigint. */
const fromTwos = (v: unknown): unknown => {
  if (!Buffer.isBuffer(v)) return v
  let n = 0n
  for (const x of v) n = (n << 8n) | BigInt(x)
  return v.length > 0 && v[0]! & 0x80 ? n - (1n << BigInt(8 * v.length)) : n
}
/** HEX(bit column) (no leading zeros) → ⌈bits/8⌉ bytes, little-endian (Debezium) or big-endian. */
const bitBytes = (hex: string, bits: number, flavour: Flavour): Buffer => {
  const n = (bits + 7) >> 3
  const be = Buffer.from(hex.padStart(n * 2, '0'), 'hex')
  return flavour === 'debezium' ? Buffer.from(be).reverse() : be
}
/** `UNIX_TIMESTAMP(ts)` text → ZonedTimestamp (via JS Date) or epoch micros. */
const fromUnix = (o: string, fsp: number, flavour: Flavour): unknown => {
  const [sec, frac = ''] = o.split('.')
  if (Number(sec) === 0 && frac.replace(/0/g, '') === '') return null // the zero timestamp
  if (flavour === 'logical') return narrow(BigInt(sec!) * 1_000_000n + BigInt(frac.padEnd(6, '0')))
  return new Date(Number(sec) * 1000).toISOString().slice(0, 19) + (fsp > 0 ? '.' + frac : '') + 'Z'
}
const geometry = (o: string): unknown => {
  const [srid, hex] = o.split(' ')
  return { wkb: Buffer.from(hex!, 'hex'), srid: Number(srid) === 0 ? null : Number(srid) }
}

const int = (name: string, ddl: string): Spec => ({ name, ddl, oracle: 'c + 0', expect: Number })
const text = (name: string, ddl: string): Spec => ({
  name,
  ddl,
  oracle: 'HEX(CONVERT(c USING utf8mb4))',
  expect: utf8,
})
const bytes = (name: string, ddl: string): Spec => ({
  name,
  ddl,
  oracle: 'HEX(c)',
  expect: (o) => Buffer.from(o, 'hex'),
})

const SPECS: Spec[] = [
  int('id', 'INT PRIMARY KEY'),
  // YEAR before INT: the SIGNEDNESS bitmap counts YEAR (binlog notes §3, trap 1).
  { name: 'y', ddl: 'YEAR', oracle: 'c + 0', expect: Number },
  int('ti', 'TINYINT'),
  int('tb', 'TINYINT(1)'),
  int('tu', 'TINYINT UNSIGNED'),
  int('si', 'SMALLINT'),
  int('su', 'SMALLINT UNSIGNED'),
  int('mi', 'MEDIUMINT'),
  int('mu', 'MEDIUMINT UNSIGNED'),
  int('i', 'INT'),
  int('iu', 'INT UNSIGNED'),
  int('iz', 'INT(5) UNSIGNED ZEROFILL'),
  { name: 'bi', ddl: 'BIGINT', oracle: 'CAST(c AS CHAR)', expect: (o) => narrow(BigInt(o)) },
  {
    name: 'bu',
    ddl: 'BIGINT UNSIGNED',
    oracle: 'CAST(c AS CHAR)',
    expect: (o) => (BigInt(o) > 2n ** 63n - 1n ? new Fails('VALUE_OUT_OF_RANGE') : narrow(BigInt(o))),
  },
  // Mapped with bigintUnsigned: 'precise' (see schemaFor).
  {
    name: 'bup',
    ddl: 'BIGINT UNSIGNED',
    oracle: 'CAST(c AS CHAR)',
    expect: (o) => BigInt(o),
    view: fromTwos,
  },
  {
    name: 'd',
    ddl: 'DECIMAL(10,2)',
    oracle: 'CAST(c * 100 AS DECIMAL(65,0))',
    expect: BigInt,
    view: fromTwos,
  },
  {
    name: 'dz',
    ddl: 'DECIMAL(6,2) UNSIGNED ZEROFILL',
    oracle: 'CAST(c * 100 AS DECIMAL(65,0))',
    expect: BigInt,
    view: fromTwos,
  },
  {
    name: 'dl',
    ddl: 'DECIMAL(65,30)',
    oracle: 'CAST(c * 1000000000000000000000000000000 AS DECIMAL(65,0))',
    expect: BigInt,
    view: fromTwos,
  },
  { name: 'f', ddl: 'FLOAT', oracle: 'CAST(c AS DOUBLE)', expect: (o) => Math.fround(Number(o)) },
  { name: 'f2', ddl: 'FLOAT(7,3)', oracle: 'CAST(c AS CHAR)', expect: Number },
  { name: 'dbl', ddl: 'DOUBLE', oracle: 'CAST(c AS CHAR)', expect: (o) => Number(o) + 0 },
  { name: 'b1', ddl: 'BIT(1)', oracle: 'c + 0', expect: (o) => o !== '0' },
  { name: 'b10', ddl: 'BIT(10)', oracle: 'HEX(c)', expect: (o, f) => bitBytes(o, 10, f) },
  { name: 'b64', ddl: 'BIT(64)', oracle: 'HEX(c)', expect: (o, f) => bitBytes(o, 64, f) },
  // An impossible date (2023-02-30, ALLOW_INVALID_DATES) is not a day; DATEDIFF would roll it over.
  {
    name: 'dt',
    ddl: 'DATE',
    oracle: "IF(DAY(c) > DAY(LAST_DAY(c)), NULL, DATEDIFF(c, '1970-01-01'))",
    expect: Number,
  },
  { name: 'tm', ddl: 'TIME(6)', oracle: 'CAST(TIME_TO_SEC(c) * 1000000 AS SIGNED)', expect: Number },
  { name: 'tm0', ddl: 'TIME', oracle: 'CAST(TIME_TO_SEC(c) * 1000000 AS SIGNED)', expect: Number },
  {
    name: 'dt3',
    ddl: 'DATETIME(3)',
    oracle: "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', c)",
    expect: (o, f) => (f === 'debezium' ? Number(BigInt(o) / 1000n) : narrow(BigInt(o))),
  },
  {
    name: 'dt6',
    ddl: 'DATETIME(6)',
    oracle: "TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', c)",
    expect: (o) => narrow(BigInt(o)),
  },
  {
    name: 'ts0',
    ddl: 'TIMESTAMP NULL DEFAULT NULL',
    oracle: 'UNIX_TIMESTAMP(c)',
    expect: (o, f) => fromUnix(o, 0, f),
  },
  {
    name: 'ts6',
    ddl: 'TIMESTAMP(6) NULL DEFAULT NULL',
    oracle: 'UNIX_TIMESTAMP(c)',
    expect: (o, f) => fromUnix(o, 6, f),
  },
  text('ch', 'CHAR(5) CHARACTER SET utf8mb4'),
  text('vc', 'VARCHAR(50) CHARACTER SET utf8mb4'),
  text('la', 'VARCHAR(20) CHARACTER SET latin1'),
  text('tx', 'TEXT CHARACTER SET utf8mb4'),
  text('tc', 'TEXT COMPRESSED CHARACTER SET utf8mb4'),
  text('vcc', 'VARCHAR(300) COMPRESSED CHARACTER SET utf8mb4'),
  bytes('bn', 'BINARY(4)'),
  bytes('vb', 'VARBINARY(10)'),
  bytes('bl', 'BLOB'),
  text('e', "ENUM('a','b,c','it''s') CHARACTER SET utf8mb4"),
  text('st', "SET('x','y','z') CHARACTER SET utf8mb4"),
  text('j', 'JSON'),
  { name: 'g', ddl: 'GEOMETRY', oracle: "CONCAT(ST_SRID(c), ' ', HEX(ST_AsWKB(c)))", expect: geometry },
  { name: 'ls', ddl: 'LINESTRING', oracle: "CONCAT(ST_SRID(c), ' ', HEX(ST_AsWKB(c)))", expect: geometry },
  {
    name: 'p',
    ddl: 'POINT',
    oracle: "CONCAT(ST_SRID(c), ' ', HEX(ST_AsWKB(c)), ' ', ST_X(c), ' ', ST_Y(c))",
    expect: (o) => {
      const [, , x, y] = o.split(' ')
      return { x: Number(x), y: Number(y), ...(geometry(o) as object) }
    },
  },
  // After GEOMETRY: MariaDB lists GEOMETRY in COLUMN_CHARSET (binlog notes §3, trap 2).
  text('after_geo', 'VARCHAR(10) CHARACTER SET utf8mb4'),
  { name: 'u', ddl: 'UUID', oracle: 'CAST(c AS CHAR)', expect: String },
  { name: 'i4', ddl: 'INET4', oracle: 'CAST(c AS CHAR)', expect: String },
  { name: 'i6', ddl: 'INET6', oracle: 'CAST(c AS CHAR)', expect: String },
]

const ROWS: string[] = [
  // Typical values.
  `(1, 2024, 1, 1, 200, 1234, 65535, -5, 16777215, 42, 3000000000, 42, 1234567890123, 9223372036854775807,
    18446744073709551615, -0.05, 1.5, '-99999999999999999999999999999999999.999999999999999999999999999999',
    3.1415927, 1234.5678, 0.1e0 + 0.2e0, b'1', b'1010101010', 0xFFFFFFFFFFFFFFFF,
    '2024-03-15', '-838:59:59.000000', '838:59:59', '2024-03-15 10:00:00.123', '1969-12-31 23:59:59.999999',
    '2038-01-19 03:14:07', '2024-03-15 10:00:00.120000',
    'ab  ', 'cé😀 ok', 'café€', 'line1\nline2', REPEAT('abc', 200), REPEAT('z', 80),
    x'01000000', x'00ff00', x'',
    'b,c', 'x,z', '{"a": [1, 2.5, "é"]}',
    ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))', 4326), ST_GeomFromText('LINESTRING(0 0,1 1,2 0)'), POINT(1.5, -2.25),
    'k1', '6ccd780c-baba-1026-9564-5b8c656024db', '192.168.0.1', '::ffff:1.2.3.4')`,
  // Minimum / negative / empty values.
  `(2, 1901, -128, 0, 0, -32768, 0, -8388608, 0, -2147483648, 0, 0, -9223372036854775808, 0,
    0, -12345678.90, 0, 0,
    -1e-30, -9999.999, -1.7976931348623157e308, b'0', b'0', b'0',
    '1000-01-01', '-00:00:00.500000', '-00:00:01', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999',
    '1970-01-01 00:00:01', '1999-12-31 23:59:59.999999',
    '', '', 'ÿ', '', '', '',
    x'00000000', '', x'00',
    'zz', '', '[]',
    ST_GeomFromText('POINT(0 0)'), ST_GeomFromText('LINESTRING(0 0,0 1)', 3857), POINT(0, 0),
    '', '123e4567-e89b-42d3-a456-426614174000', '0.0.0.0', '::')`,
  // Zero and impossible dates, BIGINT UNSIGNED above 2^63-1, TIME beyond a day.
  `(3, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 18446744073709551615,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    '2023-02-30', '25:00:00.000001', '100:00:00', '0000-00-00 00:00:00', '2024-00-10 00:00:00.5',
    '0000-00-00 00:00:00', '0000-00-00 00:00:00',
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    '00000000-0000-0000-0000-000000000000', NULL, '1:0:0:1::1')`,
  // All NULL.
  `(4${', NULL'.repeat(SPECS.length - 1)})`,
]

let db: MariaServer

before(async () => {
  db = await startMariadb()
})
after(async () => {
  await db?.stop()
})

/** The value, or the error code it throws (SluiceErrors only). */
function outcome(fn: () => unknown): unknown {
  try {
    return fn()
  } catch (err) {
    if (err instanceof SluiceError) return new Fails(err.code)
    throw err
  }
}

function schemaFor(column: MysqlColumnInfo, types: Flavour, zeroDates: 'null' | 'fail'): MysqlColumnSchema {
  return mysqlColumnSchema({
    table: 'cdc.alltypes',
    column,
    avro: { types, prefix: 't', unsupported: 'fail' },
    flavour: 'mariadb',
    zeroDates,
    ...(column.name === 'bup' ? { bigintUnsigned: 'precise' as const } : {}),
  })
}

describe('mysql types: snapshot and binlog agree with each other and with the server', () => {
  test('every type, both flavours', { timeout: 120_000 }, async () => {
    const conn = await mysql.createConnection({ uri: db.urlFor('') })
    let stream: BinlogStream | null = null
    try {
      await conn.query('CREATE DATABASE cdc')
      await conn.query(
        `CREATE TABLE cdc.alltypes (${SPECS.map((s) => `\`${s.name}\` ${s.ddl}`).join(', ')}) DEFAULT CHARSET=utf8mb4`,
      )

      // Binlog: stream from the current end, then write the rows.
      stream = new BinlogStream({ url: db.url, serverId: 4711 })
      const server = await stream.connect()
      const from = await stream.currentPosition()
      const decoder = new BinlogDecoder({ checksum: server.checksum === 'CRC32' ? 'crc32' : 'none' })
      const images = new Map<number, RowImage>()
      let decodeError: unknown = null
      const done = stream
        .start(
          { file: from.file, position: from.position },
          {
            onEvent: (buf) => {
              try {
                const ev = decoder.decode(buf)
                if (ev.type === 'writeRows' && ev.table.table === 'alltypes') {
                  for (const r of ev.rows) images.set(r.after![0] as number, r.after!)
                }
              } catch (err) {
                decodeError ??= err
              }
            },
          },
        )
        .catch((err: unknown) => (decodeError ??= err))

      // sql_mode '' allows zero dates, zero-in-date and the invalid ENUM value (index 0, '');
      // ALLOW_INVALID_DATES lets 2023-02-30 in.
      await conn.query("SET SESSION sql_mode = 'ALLOW_INVALID_DATES', time_zone = '+02:00'")
      for (const r of ROWS) await conn.query(`INSERT INTO cdc.alltypes VALUES ${r}`)

      const deadline = Date.now() + 20_000
      while (images.size < ROWS.length && decodeError === null && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await stream.end()
      await done
      assert.equal(decodeError, null)
      assert.equal(images.size, ROWS.length)

      // Catalog.
      const cols = (
        await tableColumns(conn, [
          { db: 'cdc', table: 'alltypes' },
          { db: 'cdc', table: 'nope' },
        ])
      ).get('cdc.alltypes')!
      assert.deepEqual(
        cols.map((c) => c.name),
        SPECS.map((s) => s.name),
      )
      assert.equal(cols.find((c) => c.name === 'j')!.mariadbJson, true)
      assert.equal(cols.find((c) => c.name === 'tx')!.mariadbJson, false)

      // Snapshot: its own connection and session, as the snapshot reader would.
      const snap = await mysql.createConnection({ uri: db.urlFor('') })
      let snapRows: Record<string, string | Buffer | null>[]
      try {
        await snap.query("SET SESSION time_zone = '-07:00', sql_mode = 'PAD_CHAR_TO_FULL_LENGTH,ANSI_QUOTES'")
        for (const s of SNAPSHOT_SESSION_SQL) await snap.query(s)
        const [modes] = await snap.query('SELECT @@SESSION.sql_mode AS m')
        assert.equal((modes as { m: string }[])[0]!.m, 'ANSI_QUOTES')
        const [rows] = await snap.query({
          sql: `SELECT ${cols.map(snapshotColumnSql).join(', ')} FROM cdc.alltypes ORDER BY id`,
          ...SNAPSHOT_QUERY_OPTIONS,
        })
        snapRows = rows as Record<string, string | Buffer | null>[]
      } finally {
        await snap.end()
      }
      assert.equal(snapRows.length, ROWS.length)

      // Oracle: the server's own functions, in a session with yet another time zone.
      await conn.query("SET SESSION time_zone = '+05:30'")
      const [oracleRows] = await conn.query({
        sql: `SELECT ${SPECS.map((s) => `${s.oracle.replace(/\bc\b/g, `\`${s.name}\``)} AS \`${s.name}\``).join(', ')}
                FROM cdc.alltypes ORDER BY id`,
        typeCast: (field: { string(enc: string): string | null }) => field.string('utf8'),
      })
      const oracle = oracleRows as Record<string, string | null>[]

      let checked = 0
      for (const types of ['debezium', 'logical'] as const) {
        const schemas = cols.map((c) => schemaFor(c, types, 'null'))
        for (let r = 0; r < ROWS.length; r++) {
          const id = r + 1
          const image = images.get(id)!
          for (let i = 0; i < SPECS.length; i++) {
            const spec = SPECS[i]!
            const col = schemas[i]!
            const where = `${types} row ${id} column ${spec.name} (${col.sourceType})`
            const s = snapRows[r]![spec.name]!
            const fromSnapshot = s === null ? null : outcome(() => col.fromText(s))
            const fromBinlog = outcome(() => col.fromBinlog(image[i]!))
            assert.deepStrictEqual(fromSnapshot, fromBinlog, `${where}: snapshot and binlog differ`)
            if (!(fromBinlog instanceof Fails)) {
              assert.ok(
                compileSchema(['null', col.avro]).isValid(fromBinlog),
                `${where}: invalid for its schema`,
              )
            }
            const o = oracle[r]![spec.name]!
            const expected = o === null ? null : spec.expect(o, types)
            const actual = fromBinlog instanceof Fails || !spec.view ? fromBinlog : spec.view(fromBinlog)
            assert.deepStrictEqual(
              actual,
              expected,
              `${where}: differs from the server's oracle ${spec.oracle}`,
            )
            checked++
          }
        }
      }
      assert.equal(checked, 2 * ROWS.length * SPECS.length)

      // zeroDates: 'fail' fails the same way from both sides, naming the column.
      const zeroCols = ['dt', 'dt3', 'dt6', 'ts0', 'ts6']
      for (const name of zeroCols) {
        const i = SPECS.findIndex((s) => s.name === name)
        const col = schemaFor(cols[i]!, 'debezium', 'fail')
        const a = outcome(() => col.fromText(snapRows[2]![name]!))
        const b = outcome(() => col.fromBinlog(images.get(3)![i]!))
        assert.deepStrictEqual(a, new Fails('VALUE_OUT_OF_RANGE'), name)
        assert.deepStrictEqual(b, a, name)
        assert.throws(() => col.fromBinlog(images.get(3)![i]!), new RegExp(`cdc\\.alltypes\\.${name}`))
      }
    } finally {
      await stream?.end()
      await conn.end()
    }
  })
})
