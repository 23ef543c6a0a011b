/**
 * MySQL / MariaDB column type → Avro mapping, with two converters per column that must agree:
 *
 *   fromBinlog(v)  the value as the binlog decoder represents it (binlog/values.ts);
 *   fromText(v)    the value as a snapshot SELECT returns it with SNAPSHOT_QUERY_OPTIONS: the
 *                  server's text rendering as a string, or a Buffer for the binary-rendered
 *                  types (BINARY/VARBINARY/BLOB, BIT, GEOMETRY).
 *
 * For every type, both produce the identical Avro value for the same stored value (the
 * integration test proves it against a real MariaDB). Three things make the snapshot side
 * exact, and the snapshot reader must apply all of them:
 *
 *   - SNAPSHOT_SESSION_SQL on the connection: `time_zone = '+00:00'` (TIMESTAMP renders in the
 *     session zone), no PAD_CHAR_TO_FULL_LENGTH (CHAR padding), utf8mb4 results;
 *   - snapshotColumnSql(column) for each select-list item: plain FLOAT renders with only 6
 *     significant digits (`3.14159`), so it is selected as `col + 0e0`, a DOUBLE that renders
 *     the exact float32 value shortest-round-trip (`3.1415927410125732`);
 *   - SNAPSHOT_QUERY_OPTIONS on the query: strings for text, Buffers for binary data.
 *
 * Two flavours (`avro.types`): `debezium` reproduces Debezium's MySQL connector (default
 * settings: time.precision.mode=adaptive_time_microseconds, decimal.handling.mode=precise,
 * binary.handling.mode=bytes) through Confluent's AvroConverter; `logical` uses standard Avro
 * logical types. README.md ("Type mapping (MySQL / MariaDB)") has the full table and the special values.
 */
import { wideLong } from '../../avro/codec.js'
import { EncodeError } from '../../pipeline/errors.js'
import type { AvroSchema, ColumnSchema } from '../../pipeline/schema.js'
import type { AvroOptions } from '../../pipeline/source.js'
import { civilFromDays, daysFromCivil, twosComplement, unscaledDecimal } from '../../avro/values.js'
import { ABSENT, type BinlogValue } from './binlog/values.js'
import type { MysqlColumnInfo } from './catalog.js'

/** One column's mapping: the Avro schema and the converters from binlog and snapshot values. */
export interface MysqlColumnSchema extends ColumnSchema {
  /**
   * Converts a snapshot value as read with SNAPSHOT_QUERY_OPTIONS (non-null): the server's
   * text rendering as a string, or a Buffer for binary-rendered types. A string given for a
   * binary-rendered type is read as latin1 (one character per byte). Throws EncodeError
   * naming the column when the value cannot be represented.
   */
  readonly fromText: (text: string | Buffer) => unknown
  /**
   * Converts the decoded binlog value (connectors/mysql/binlog/values.ts) to the Avro value;
   * SQL NULL gives null. A value missing from the row image (ABSENT: binlog_row_image is not
   * FULL) throws INVALID_VALUE.
   */
  readonly fromBinlog: (v: BinlogValue) => unknown
}

/** Options of mysqlColumnSchema(). */
export interface MysqlColumnArgs {
  /** `db.table`, for error messages. */
  readonly table: string
  readonly column: MysqlColumnInfo
  readonly avro: AvroOptions
  readonly flavour: 'mysql' | 'mariadb'
  /**
   * Zero dates (`0000-00-00`), dates with zero parts (`2024-00-10`) and impossible dates
   * (`2024-02-30`, ALLOW_INVALID_DATES): `null` sends null, and then every DATE, DATETIME and
   * TIMESTAMP column is nullable in the schema (NOT NULL columns too, as such values are legal
   * there); `fail` throws VALUE_OUT_OF_RANGE naming the column.
   */
  readonly zeroDates: 'null' | 'fail'
  /**
   * BIGINT UNSIGNED: `long` (default, Debezium's default schema) fails with VALUE_OUT_OF_RANGE
   * on values above 2^63−1 instead of wrapping them negative as Debezium does; `precise` maps
   * to Decimal(20,0) (Debezium's bigint.unsigned.handling.mode=precise) and never fails.
   */
  readonly bigintUnsigned?: 'long' | 'precise'
}

/** What the converters of one column need to know. */
interface Ctx {
  /** `db.table.column`, for error messages. */
  readonly col: string
  readonly debezium: boolean
  readonly zeroDates: 'null' | 'fail'
}

type NonNullBinlog = Exclude<BinlogValue, null | typeof ABSENT>

interface Mapping {
  readonly avro: AvroSchema
  readonly fromText: (v: string | Buffer) => unknown
  readonly fromBinlog: (v: NonNullBinlog) => unknown
}

// ---------------------------------------------------------------------------------------------
// Errors. Messages name the column and the kind of value, never the value (it may be sensitive).

function outOfRange(ctx: Ctx, what: string, fix: string): EncodeError {
  return new EncodeError('VALUE_OUT_OF_RANGE', `column ${ctx.col}: ${what}; ${fix}`)
}

function invalid(ctx: Ctx, kind: string, source: 'snapshot' | 'binlog'): EncodeError {
  return new EncodeError(
    'INVALID_VALUE',
    `column ${ctx.col}: unexpected ${kind} value from the ${source === 'binlog' ? 'binlog decoder' : 'snapshot query'}`,
  )
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

const CH_0 = 48
const CH_MINUS = 45
const CH_DOT = 46
const MICROS_PER_SECOND = 1_000_000
const MICROS_PER_DAY = 86_400_000_000
const MICROS_PER_DAY_N = 86_400_000_000n
const INT64_MAX = 9_223_372_036_854_775_807n

/** A number when it is a safe integer, else the bigint (the wideLong() value convention). */
function narrow(v: bigint): number | bigint {
  return v >= -9_007_199_254_740_991n && v <= 9_007_199_254_740_991n ? Number(v) : v
}

/** The decimal digits s[start, end) as a number (callers pass fixed-width date/time fields). */
function digits(s: string, start: number, end: number): number {
  let n = 0
  for (let i = start; i < end; i++) {
    const d = s.charCodeAt(i) - CH_0
    if (d < 0 || d > 9) return NaN
    n = n * 10 + d
  }
  return n
}

/** `.ffffff` (any number of digits, up to 6 used) starting at `at` as microseconds; 0 when absent. */
function fractionMicros(s: string, at: number): number {
  if (at >= s.length || s.charCodeAt(at) !== CH_DOT) return 0
  let n = 0
  let i = 0
  for (; i < 6 && at + 1 + i < s.length; i++) n = n * 10 + (s.charCodeAt(at + 1 + i) - CH_0)
  for (; i < 6; i++) n *= 10
  return n
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n))

/** Exactly `fsp` fraction digits of `micros` (none for fsp 0), as MySQL prints them. */
function fraction(micros: number, fsp: number): string {
  if (fsp <= 0) return ''
  return '.' + String(micros).padStart(6, '0').slice(0, fsp)
}

const DAYS_IN_MONTH = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

/** A real calendar date? Zero parts and days past the month's end (ALLOW_INVALID_DATES) are not. */
function isRealDate(y: number, m: number, d: number): boolean {
  if (m < 1 || m > 12 || d < 1 || d > DAYS_IN_MONTH[m]!) return false
  return m !== 2 || d < 29 || (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0))
}

/** What a zero or impossible date becomes: null, or an error (zeroDates: 'fail'). */
function zeroDate(ctx: Ctx): null {
  if (ctx.zeroDates === 'null') return null
  throw outOfRange(
    ctx,
    'zero or invalid date (0000-00-00, a zero month or day, or a day past the month end)',
    'allow zero dates to become null (zero dates: null), or update the row to a real date',
  )
}

/** Epoch microseconds of a wall-clock date-time read as UTC (number when safe, else bigint). */
function epochMicros(days: number, microsOfDay: number): number | bigint {
  // |days| < 100_000 keeps the product under 2^53.
  if (days > -100_000 && days < 100_000) return days * MICROS_PER_DAY + microsOfDay
  return narrow(BigInt(days) * MICROS_PER_DAY_N + BigInt(microsOfDay))
}

/** -0 → 0: MySQL renders -0 as `0`, and Avro would keep the sign bit. */
const noNegZero = (v: number): number => (v === 0 ? 0 : v)

const isBuffer = Buffer.isBuffer

/** A snapshot value of a binary-rendered type: the Buffer, or a latin1 string's bytes. */
const bytesOf = (v: string | Buffer): Buffer => (isBuffer(v) ? v : Buffer.from(v, 'latin1'))

/** A snapshot value of a text-rendered type (a Buffer only if a caller bypassed the typeCast). */
const textOf = (v: string | Buffer): string => (isBuffer(v) ? v.toString('utf8') : v)

// ---------------------------------------------------------------------------------------------
// Schema helpers.

/** A Debezium semantic type as Confluent's AvroConverter writes it. */
function dbz(type: string, name: string, params?: Record<string, string>): Record<string, unknown> {
  return params
    ? { type, 'connect.version': 1, 'connect.parameters': params, 'connect.name': name }
    : { type, 'connect.version': 1, 'connect.name': name }
}

function decimalSchema(ctx: Ctx, precision: number, scale: number): AvroSchema {
  if (!ctx.debezium) return { type: 'bytes', logicalType: 'decimal', precision, scale }
  return {
    type: 'bytes',
    scale,
    precision,
    'connect.version': 1,
    'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
    'connect.name': 'org.apache.kafka.connect.data.Decimal',
    logicalType: 'decimal',
  }
}

// ---------------------------------------------------------------------------------------------
// Numbers.

function intMapping(ctx: Ctx, avro: AvroSchema): Mapping {
  return {
    avro,
    fromText: (v) => {
      // ZEROFILL renders leading zeros (`00042`): Number() reads them as decimal.
      const n = Number(textOf(v))
      if (!Number.isSafeInteger(n)) throw invalid(ctx, 'integer', 'snapshot')
      return n
    },
    fromBinlog: (v) => {
      if (typeof v !== 'number') throw invalid(ctx, 'integer', 'binlog')
      return v
    },
  }
}

/** BIGINT (signed), or BIGINT UNSIGNED in `long` mode (values above 2^63−1 fail). */
function bigintMapping(ctx: Ctx, unsigned: boolean): Mapping {
  const check = (b: bigint): number | bigint => {
    if (unsigned && b > INT64_MAX) {
      throw outOfRange(
        ctx,
        'BIGINT UNSIGNED value above 2^63-1 does not fit an avro long',
        'set source.bigint_unsigned: precise (BIGINT UNSIGNED as Decimal(20,0))',
      )
    }
    return narrow(b)
  }
  return {
    avro: wideLong(),
    fromText: (v) => {
      const t = textOf(v)
      // Up to 15 characters is always a safe integer.
      if (t.length < 16) {
        const n = Number(t)
        if (!Number.isInteger(n)) throw invalid(ctx, 'BIGINT', 'snapshot')
        return n
      }
      let b: bigint
      try {
        b = BigInt(t)
      } catch {
        throw invalid(ctx, 'BIGINT', 'snapshot')
      }
      return check(b)
    },
    fromBinlog: (v) => {
      if (typeof v === 'number') return v
      if (typeof v !== 'bigint') throw invalid(ctx, 'BIGINT', 'binlog')
      return check(v)
    },
  }
}

/**
 * Exact decimal text (`-12.50`, `0001.50` with ZEROFILL, `18446744073709551615`) → the
 * unscaled integer at `scale`, as minimal big-endian two's-complement bytes (Kafka Connect
 * Decimal and Avro decimal alike).
 */
function decimalBytes(ctx: Ctx, t: string, scale: number, source: 'snapshot' | 'binlog'): Buffer {
  const u = unscaledDecimal(t, scale)
  if (u === null) throw invalid(ctx, `DECIMAL with more than ${scale} decimals, or not a decimal`, source)
  return twosComplement(u)
}

function decimalMapping(ctx: Ctx, precision: number, scale: number): Mapping {
  return {
    avro: decimalSchema(ctx, precision, scale),
    fromText: (v) => decimalBytes(ctx, textOf(v), scale, 'snapshot'),
    fromBinlog: (v) => {
      if (typeof v === 'string') return decimalBytes(ctx, v, scale, 'binlog')
      // BIGINT UNSIGNED in precise mode arrives as an integer.
      if (typeof v === 'number' || typeof v === 'bigint') return decimalBytes(ctx, String(v), scale, 'binlog')
      throw invalid(ctx, 'DECIMAL', 'binlog')
    },
  }
}

/**
 * FLOAT and DOUBLE. `float32`: the Avro float of a FLOAT column (the snapshot selects it as a
 * DOUBLE, see snapshotColumnSql, and Math.fround() recovers the stored float32 exactly).
 * `decimals`: FLOAT(M,D) / DOUBLE(M,D) print with D decimals, and the value stored was rounded
 * to D decimals on insert, so both sides are normalised to the nearest double of that decimal
 * text (what Debezium reads from JDBC).
 */
function floatMapping(ctx: Ctx, float32: boolean, decimals: number | null): Mapping {
  const norm = (n: number): number => {
    if (decimals !== null) n = Number(n.toFixed(decimals))
    else if (float32) n = Math.fround(n)
    return noNegZero(n)
  }
  return {
    avro: float32 ? 'float' : 'double',
    fromText: (v) => {
      const n = Number(textOf(v))
      if (Number.isNaN(n)) throw invalid(ctx, 'floating-point', 'snapshot')
      return norm(n)
    },
    fromBinlog: (v) => {
      if (typeof v !== 'number') throw invalid(ctx, 'floating-point', 'binlog')
      return norm(v)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Bits.

/**
 * BIT(n), n > 1. MySQL sends ⌈n/8⌉ bytes most significant first, in the binlog and in the
 * snapshot alike. Debezium's io.debezium.data.Bits is the same number little-endian, exactly
 * ⌈n/8⌉ bytes (JdbcValueConverters.convertBits reverses big-endian input and pads); the
 * logical flavour keeps MySQL's order (what HEX(col) shows).
 */
function bitMapping(ctx: Ctx, bits: number): Mapping {
  const n = (bits + 7) >> 3
  if (bits === 1) {
    const bool = (b: Buffer): boolean => b.length > 0 && b[b.length - 1] !== 0
    return {
      avro: 'boolean',
      fromText: (v) => bool(bytesOf(v)),
      fromBinlog: (v) => {
        if (!isBit(v)) throw invalid(ctx, 'BIT', 'binlog')
        return bool(v.bytes)
      },
    }
  }
  const convert = (be: Buffer): Buffer => {
    const out = Buffer.alloc(n)
    // Right-align (a shorter input is missing its high-order zero bytes).
    const k = Math.min(be.length, n)
    if (ctx.debezium) for (let i = 0; i < k; i++) out[i] = be[be.length - 1 - i]!
    else be.copy(out, n - k, be.length - k)
    return out
  }
  return {
    avro: ctx.debezium ? dbz('bytes', 'io.debezium.data.Bits', { length: String(bits) }) : 'bytes',
    fromText: (v) => convert(bytesOf(v)),
    fromBinlog: (v) => {
      if (!isBit(v)) throw invalid(ctx, 'BIT', 'binlog')
      return convert(v.bytes)
    },
  }
}

const isBit = (v: NonNullBinlog): v is { bits: number; bytes: Buffer } =>
  typeof v === 'object' && 'bits' in v && 'bytes' in v

// ---------------------------------------------------------------------------------------------
// Date and time.

/** YEAR: 0 (YEAR 0000) or 1901–2155; YEAR(2) renders two digits (70–99 → 19xx, else 20xx). */
function yearMapping(ctx: Ctx): Mapping {
  return {
    avro: ctx.debezium ? dbz('int', 'io.debezium.time.Year') : 'int',
    fromText: (v) => {
      const t = textOf(v)
      const n = Number(t)
      if (!Number.isInteger(n)) throw invalid(ctx, 'YEAR', 'snapshot')
      if (t.length === 2) return n >= 70 ? 1900 + n : 2000 + n
      return n
    },
    fromBinlog: (v) => {
      if (typeof v !== 'number') throw invalid(ctx, 'YEAR', 'binlog')
      return v
    },
  }
}

/** DATE `YYYY-MM-DD` → days since 1970-01-01 (Debezium io.debezium.time.Date, Avro date). */
function dateMapping(ctx: Ctx): Mapping {
  const days = (y: number, m: number, d: number): number | null =>
    isRealDate(y, m, d) ? daysFromCivil(y, m, d) : zeroDate(ctx)
  return {
    avro: ctx.debezium ? dbz('int', 'io.debezium.time.Date') : { type: 'int', logicalType: 'date' },
    fromText: (v) => {
      const t = textOf(v)
      const y = digits(t, 0, 4)
      const m = digits(t, 5, 7)
      const d = digits(t, 8, 10)
      if (t.length !== 10 || Number.isNaN(y + m + d)) throw invalid(ctx, 'DATE', 'snapshot')
      return days(y, m, d)
    },
    fromBinlog: (v) => {
      if (typeof v !== 'object' || !('day' in v) || 'hour' in v) throw invalid(ctx, 'DATE', 'binlog')
      return days(v.year, v.month, v.day)
    },
  }
}

/**
 * TIME: a signed duration up to ±838:59:59.999999 → microseconds (Debezium MicroTime; Avro
 * time-micros, which then carries values outside 00:00–24:00 as they are).
 */
function timeMapping(ctx: Ctx): Mapping {
  return {
    avro: ctx.debezium
      ? dbz('long', 'io.debezium.time.MicroTime')
      : { type: 'long', logicalType: 'time-micros' },
    fromText: (v) => {
      // `[-]H+:MM:SS[.ffffff]`: hours take 2 or 3 digits.
      const t = textOf(v)
      const neg = t.charCodeAt(0) === CH_MINUS
      const c1 = t.indexOf(':')
      const h = digits(t, neg ? 1 : 0, c1)
      const mi = digits(t, c1 + 1, c1 + 3)
      const s = digits(t, c1 + 4, c1 + 6)
      if (c1 < 0 || Number.isNaN(h + mi + s)) throw invalid(ctx, 'TIME', 'snapshot')
      const us = (h * 3600 + mi * 60 + s) * MICROS_PER_SECOND + fractionMicros(t, c1 + 6)
      return neg ? noNegZero(-us) : us
    },
    fromBinlog: (v) => {
      if (typeof v !== 'object' || !('negative' in v)) throw invalid(ctx, 'TIME', 'binlog')
      const us = (v.hours * 3600 + v.minutes * 60 + v.seconds) * MICROS_PER_SECOND + v.micros
      return v.negative ? noNegZero(-us) : us
    },
  }
}

/** Parsed `YYYY-MM-DD hh:mm:ss[.ffffff]`: days since the epoch and microseconds into the day. */
interface WallClock {
  days: number
  micros: number
}

const wall: WallClock = { days: 0, micros: 0 }

/** Reads DATETIME text into `wall`; false for a zero or impossible date, throws when malformed. */
function readDateTime(ctx: Ctx, t: string): boolean {
  const y = digits(t, 0, 4)
  const m = digits(t, 5, 7)
  const d = digits(t, 8, 10)
  const h = digits(t, 11, 13)
  const mi = digits(t, 14, 16)
  const s = digits(t, 17, 19)
  if (t.length < 19 || Number.isNaN(y + m + d + h + mi + s)) throw invalid(ctx, 'DATETIME', 'snapshot')
  if (!isRealDate(y, m, d)) return false
  wall.days = daysFromCivil(y, m, d)
  wall.micros = (h * 3600 + mi * 60 + s) * MICROS_PER_SECOND + fractionMicros(t, 19)
  return true
}

/**
 * DATETIME(fsp): wall-clock time without a zone, read as UTC (as Debezium does). Debezium:
 * fsp 0–3 → io.debezium.time.Timestamp (epoch milliseconds), 4–6 → MicroTimestamp (epoch
 * microseconds). Logical: local-timestamp-micros.
 */
function datetimeMapping(ctx: Ctx, fsp: number): Mapping {
  const millis = ctx.debezium && fsp <= 3
  // DATETIME reaches year 9999: 2.5e17 µs is beyond 2^53 (wideLong); milliseconds stay safe.
  const avro = millis
    ? { type: 'long', 'connect.version': 1, 'connect.name': 'io.debezium.time.Timestamp' }
    : ctx.debezium
      ? wideLong({ 'connect.version': 1, 'connect.name': 'io.debezium.time.MicroTimestamp' })
      : wideLong({ logicalType: 'local-timestamp-micros' })
  const value = (days: number, micros: number): number | bigint =>
    millis ? days * 86_400_000 + Math.floor(micros / 1000) : epochMicros(days, micros)
  return {
    avro,
    fromText: (v) => (readDateTime(ctx, textOf(v)) ? value(wall.days, wall.micros) : zeroDate(ctx)),
    fromBinlog: (v) => {
      if (typeof v !== 'object' || !('hour' in v)) throw invalid(ctx, 'DATETIME', 'binlog')
      if (!isRealDate(v.year, v.month, v.day)) return zeroDate(ctx)
      const micros = (v.hour * 3600 + v.minute * 60 + v.second) * MICROS_PER_SECOND + v.micros
      return value(daysFromCivil(v.year, v.month, v.day), micros)
    },
  }
}

/**
 * TIMESTAMP(fsp): an instant (stored as UTC epoch seconds). Debezium: io.debezium.time.
 * ZonedTimestamp, ISO-8601 in UTC with exactly fsp fraction digits (none for fsp 0):
 * `2024-03-15T10:00:00.123456Z`. Logical: timestamp-micros. The snapshot text is the
 * rendering in the session time zone, which SNAPSHOT_SESSION_SQL sets to UTC. The zero
 * timestamp (`0000-00-00 00:00:00`, epoch 0 in the binlog) is a zero date.
 */
function timestampMapping(ctx: Ctx, fsp: number): Mapping {
  const fromParts = (days: number, micros: number): string | number | bigint => {
    if (!ctx.debezium) return epochMicros(days, micros)
    const [y, m, d] = civilFromDays(days)
    const secs = Math.floor(micros / MICROS_PER_SECOND)
    return (
      String(y).padStart(4, '0') +
      '-' +
      pad2(m) +
      '-' +
      pad2(d) +
      'T' +
      pad2(Math.floor(secs / 3600)) +
      ':' +
      pad2(Math.floor(secs / 60) % 60) +
      ':' +
      pad2(secs % 60) +
      fraction(micros % MICROS_PER_SECOND, fsp) +
      'Z'
    )
  }
  return {
    avro: ctx.debezium
      ? dbz('string', 'io.debezium.time.ZonedTimestamp')
      : wideLong({ logicalType: 'timestamp-micros' }),
    fromText: (v) => (readDateTime(ctx, textOf(v)) ? fromParts(wall.days, wall.micros) : zeroDate(ctx)),
    fromBinlog: (v) => {
      if (typeof v !== 'object' || !('epochSeconds' in v)) throw invalid(ctx, 'TIMESTAMP', 'binlog')
      if (v.epochSeconds === 0) return zeroDate(ctx)
      const days = Math.floor(v.epochSeconds / 86_400)
      return fromParts(days, (v.epochSeconds - days * 86_400) * MICROS_PER_SECOND + v.micros)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Strings, binary, enums and sets.

/** Character columns (CHAR, VARCHAR, TEXT; also MariaDB JSON and MySQL JSON as text). */
function textMapping(ctx: Ctx, avro: AvroSchema): Mapping {
  return {
    avro,
    fromText: textOf,
    fromBinlog: (v) => {
      if (typeof v === 'string') return v
      if (isBuffer(v)) return v.toString('utf8') // no charset metadata: utf8 is the only safe guess
      if (typeof v === 'object' && 'collation' in v) {
        throw new EncodeError(
          'INVALID_VALUE',
          `column ${ctx.col}: text in collation id ${v.collation}, which sluice cannot decode; convert the column to utf8mb4`,
        )
      }
      throw invalid(ctx, 'text', 'binlog')
    },
  }
}

/** BINARY, VARBINARY, BLOB → bytes. The binlog decoder re-pads BINARY(n) with 0x00 to n bytes. */
function bytesMapping(ctx: Ctx): Mapping {
  return {
    avro: 'bytes',
    fromText: bytesOf,
    fromBinlog: (v) => {
      if (!isBuffer(v)) throw invalid(ctx, 'binary', 'binlog')
      return v
    },
  }
}

/**
 * The labels of `enum('a','b,c','it''s')` / `set(...)` as COLUMN_TYPE prints them: quoted,
 * a quote inside doubled.
 */
export function parseEnumLabels(columnType: string): string[] {
  const out: string[] = []
  let i = columnType.indexOf('(') + 1
  while (i > 0 && i < columnType.length && columnType[i] === "'") {
    let label = ''
    let j = i + 1
    for (;;) {
      const q = columnType.indexOf("'", j)
      if (q < 0) return out
      label += columnType.slice(j, q)
      if (columnType[q + 1] === "'") {
        label += "'"
        j = q + 2
      } else {
        i = q + 1
        break
      }
    }
    out.push(label)
    if (columnType[i] === ',') i++
  }
  return out
}

/** ENUM: the label ('' for the invalid-value index 0). Debezium: io.debezium.data.Enum with `allowed`. */
function enumMapping(ctx: Ctx, labels: string[]): Mapping {
  return {
    avro: ctx.debezium ? dbz('string', 'io.debezium.data.Enum', { allowed: labels.join(',') }) : 'string',
    fromText: textOf,
    fromBinlog: (v) => {
      if (typeof v === 'string') return v
      // Without ENUM_STR_VALUE metadata the decoder hands over the 1-based index.
      if (typeof v === 'number') {
        if (v === 0) return ''
        const l = labels[v - 1]
        if (l !== undefined) return l
      }
      throw invalid(ctx, 'ENUM', 'binlog')
    },
  }
}

/** SET: the members in definition order, comma-joined ('' for none). Debezium: io.debezium.data.EnumSet. */
function setMapping(ctx: Ctx, labels: string[]): Mapping {
  return {
    avro: ctx.debezium ? dbz('string', 'io.debezium.data.EnumSet', { allowed: labels.join(',') }) : 'string',
    fromText: textOf,
    fromBinlog: (v) => {
      if (Array.isArray(v)) return v.join(',')
      // Without SET_STR_VALUE metadata the decoder hands over the bitmask.
      if (typeof v === 'number' || typeof v === 'bigint') {
        let mask = BigInt(v)
        const out: string[] = []
        for (let i = 0; mask !== 0n; i++, mask >>= 1n) {
          if (mask & 1n) {
            const l = labels[i]
            if (l === undefined) throw invalid(ctx, 'SET', 'binlog')
            out.push(l)
          }
        }
        return out.join(',')
      }
      throw invalid(ctx, 'SET', 'binlog')
    },
  }
}

// ---------------------------------------------------------------------------------------------
// MariaDB UUID, INET4, INET6: BINARY(16/4/16) in the binlog, their text form in a SELECT.

const HEX = '0123456789abcdef'

/**
 * UUID bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (lower-case). MariaDB stores v1–v5 UUIDs
 * with their segments swapped (for index locality), but the binlog carries the canonical byte
 * order (Type_handler_uuid's pack() converts record → memory form), which is the text order.
 */
function uuidText(b: Buffer): string {
  let s = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-'
    s += HEX[b[i]! >> 4]! + HEX[b[i]! & 15]!
  }
  return s
}

/**
 * INET6 bytes → MariaDB's rendering (Inet6::to_string): lower-case hex words without leading
 * zeros; the longest run of zero words (the first of equal runs, and even a single word)
 * becomes `::`; `::a.b.c.d` when the first 6 words are zero (and the rest not just `::1`-like)
 * and `::ffff:a.b.c.d` for IPv4-mapped addresses.
 */
export function inet6Text(b: Buffer): string {
  const w: number[] = []
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!)
  let gapPos = -1
  let gapLen = -1
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && w[j] === 0) j++
    if (j - i > gapLen) {
      gapPos = i
      gapLen = j - i
    }
    i = j
  }
  let s = ''
  for (let i = 0; i < 8; i++) {
    if (i === gapPos) {
      s += i === 0 ? '::' : ':'
      i += gapLen - 1
    } else if (i === 6 && gapPos === 0 && (gapLen === 6 || (gapLen === 5 && w[5] === 0xffff))) {
      return s + `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
    } else {
      s += w[i]!.toString(16)
      if (i < 7) s += ':'
    }
  }
  return s
}

function fixedBinaryTextMapping(
  ctx: Ctx,
  avro: AvroSchema,
  size: number,
  render: (b: Buffer) => string,
  kind: string,
): Mapping {
  return {
    avro,
    fromText: textOf,
    fromBinlog: (v) => {
      if (!isBuffer(v) || v.length !== size) throw invalid(ctx, kind, 'binlog')
      return render(v)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Geometry.

/** Debezium's Geometry record (Confluent naming): the OGC WKB and the SRID (null for 0). */
function geometrySchema(ctx: Ctx): AvroSchema {
  const s: Record<string, unknown> = {
    type: 'record',
    name: 'Geometry',
    namespace: 'io.debezium.data.geometry',
    fields: [
      { name: 'wkb', type: 'bytes' },
      { name: 'srid', type: ['null', 'int'], default: null },
    ],
  }
  if (ctx.debezium)
    Object.assign(s, {
      'connect.doc': 'Geometry',
      'connect.version': 1,
      'connect.name': 'io.debezium.data.geometry.Geometry',
    })
  return s
}

/** Debezium's Point record: x, y and the same WKB and SRID. */
function pointSchema(ctx: Ctx): AvroSchema {
  const s: Record<string, unknown> = {
    type: 'record',
    name: 'Point',
    namespace: 'io.debezium.data.geometry',
    fields: [
      { name: 'x', type: 'double' },
      { name: 'y', type: 'double' },
      { name: 'wkb', type: ['null', 'bytes'], default: null },
      { name: 'srid', type: ['null', 'int'], default: null },
    ],
  }
  if (ctx.debezium)
    Object.assign(s, {
      'connect.doc': 'Geometry (POINT)',
      'connect.version': 1,
      'connect.name': 'io.debezium.data.geometry.Point',
    })
  return s
}

/** WKB of a 2-D point: byte order (1 = little-endian), uint32 type 1, then x and y doubles. */
const WKB_POINT_SIZE = 21

/**
 * GEOMETRY and subtypes. The snapshot sends MySQL's internal form (4-byte little-endian SRID,
 * then WKB), the binlog the same split into {srid, wkb}. POINT columns become Debezium's
 * Point record (x, y parsed from the WKB), every other spatial type its Geometry record.
 */
function geometryMapping(ctx: Ctx, point: boolean): Mapping {
  const value = (srid: number, wkb: Buffer): unknown => {
    const s = srid === 0 ? null : srid
    if (!point) return { wkb, srid: s }
    if (wkb.length !== WKB_POINT_SIZE) throw invalid(ctx, 'POINT', 'binlog')
    const le = wkb[0] === 1
    const x = le ? wkb.readDoubleLE(5) : wkb.readDoubleBE(5)
    const y = le ? wkb.readDoubleLE(13) : wkb.readDoubleBE(13)
    return { x, y, wkb, srid: s }
  }
  return {
    avro: point ? pointSchema(ctx) : geometrySchema(ctx),
    fromText: (v) => {
      const b = bytesOf(v)
      if (b.length < 4) throw invalid(ctx, 'GEOMETRY', 'snapshot')
      return value(b.readUInt32LE(0), b.subarray(4))
    },
    fromBinlog: (v) => {
      if (typeof v !== 'object' || !('wkb' in v)) throw invalid(ctx, 'GEOMETRY', 'binlog')
      return value(v.srid, v.wkb)
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Unsupported types carried as text (avro.unsupported: string).

/** Text stays text; bytes become lower-case hex, the same from both sides. */
function fallbackMapping(): Mapping {
  const fromAny = (v: unknown): string => {
    if (typeof v === 'string') return v
    if (isBuffer(v)) return v.toString('hex')
    if (v instanceof Float32Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')
    if (Array.isArray(v)) return v.join(',')
    return typeof v === 'object' ? JSON.stringify(v) : String(v)
  }
  return { avro: 'string', fromText: fromAny, fromBinlog: fromAny }
}

// ---------------------------------------------------------------------------------------------
// The mapping.

const GEOMETRY_TYPES = new Set([
  'geometry',
  'linestring',
  'polygon',
  'multipoint',
  'multilinestring',
  'multipolygon',
  'geometrycollection',
  'geomcollection',
])

const TEXT_TYPES = new Set(['char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext'])
const BINARY_TYPES = new Set(['binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob'])

/** `(M,D)` of `float(7,3)` / `double(10,4)`: the D, or null without one. */
function fixedDecimals(columnType: string): number | null {
  const m = /\(\s*\d+\s*,\s*(\d+)\s*\)/.exec(columnType)
  return m ? Number(m[1]) : null
}

/** The number in `bit(10)` / `year(2)`, or `dflt`. */
function typeLength(columnType: string, dflt: number): number {
  const m = /\((\d+)\)/.exec(columnType)
  return m ? Number(m[1]) : dflt
}

function mapType(c: MysqlColumnInfo, ctx: Ctx, args: MysqlColumnArgs): Mapping | null {
  const unsigned = /\bunsigned\b/i.test(c.columnType)
  const int16: AvroSchema = ctx.debezium ? { type: 'int', 'connect.type': 'int16' } : 'int'
  if (c.mariadbJson) return textMapping(ctx, ctx.debezium ? dbz('string', 'io.debezium.data.Json') : 'string')
  if (TEXT_TYPES.has(c.dataType)) return textMapping(ctx, 'string')
  if (BINARY_TYPES.has(c.dataType)) return bytesMapping(ctx)
  if (GEOMETRY_TYPES.has(c.dataType)) return geometryMapping(ctx, false)
  switch (c.dataType) {
    case 'tinyint':
      // TINYINT(1) / BOOLEAN too: Debezium's MySQL connector maps them to INT16, not boolean.
      return intMapping(ctx, int16)
    case 'smallint':
      return intMapping(ctx, unsigned ? 'int' : int16)
    case 'mediumint':
      return intMapping(ctx, 'int')
    case 'int':
    case 'integer':
      return intMapping(ctx, unsigned ? 'long' : 'int')
    case 'bigint':
      if (unsigned && args.bigintUnsigned === 'precise') return decimalMapping(ctx, 20, 0)
      return bigintMapping(ctx, unsigned)
    case 'decimal':
    case 'numeric':
      return decimalMapping(ctx, c.numericPrecision ?? 10, c.numericScale ?? 0)
    case 'float': {
      // FLOAT(M,D) is a double in Debezium (FLOAT(p) with p > 24 shows as DATA_TYPE double).
      const d = fixedDecimals(c.columnType)
      return floatMapping(ctx, d === null, d)
    }
    case 'double':
    case 'real':
      return floatMapping(ctx, false, fixedDecimals(c.columnType))
    case 'bit':
      return bitMapping(ctx, typeLength(c.columnType, 1))
    case 'year':
      return yearMapping(ctx)
    case 'date':
      return dateMapping(ctx)
    case 'time':
      return timeMapping(ctx)
    case 'datetime':
      return datetimeMapping(ctx, c.datetimePrecision ?? 0)
    case 'timestamp':
      return timestampMapping(ctx, c.datetimePrecision ?? 0)
    case 'enum':
      return enumMapping(ctx, parseEnumLabels(c.columnType))
    case 'set':
      return setMapping(ctx, parseEnumLabels(c.columnType))
    case 'json':
      return textMapping(ctx, ctx.debezium ? dbz('string', 'io.debezium.data.Json') : 'string')
    case 'point':
      return geometryMapping(ctx, true)
    case 'uuid':
      return fixedBinaryTextMapping(
        ctx,
        ctx.debezium ? dbz('string', 'io.debezium.data.Uuid') : { type: 'string', logicalType: 'uuid' },
        16,
        uuidText,
        'UUID',
      )
    case 'inet4':
      return fixedBinaryTextMapping(ctx, 'string', 4, (b) => `${b[0]}.${b[1]}.${b[2]}.${b[3]}`, 'INET4')
    case 'inet6':
      return fixedBinaryTextMapping(ctx, 'string', 16, inet6Text, 'INET6')
    default:
      return null
  }
}

/** The column type as shown in schemas and errors: COLUMN_TYPE without MariaDB's version comments. */
function sourceTypeOf(c: MysqlColumnInfo): string {
  const t = c.columnType.replace(/\/\*M?!\d+\s*([^*]*?)\s*\*\//g, '$1').trim()
  return c.mariadbJson ? 'json' : t
}

/** Date/time types whose values can be zero dates. */
const ZERO_DATE_TYPES = new Set(['date', 'datetime', 'timestamp'])

/**
 * The Avro mapping and both converters of one MySQL/MariaDB column, in the configured flavour.
 * Throws EncodeError `UNSUPPORTED_TYPE` for a type with no mapping (MySQL 9 VECTOR, ...),
 * unless `avro.unsupported` is `string` (the column then carries its text, bytes as hex).
 */
export function mysqlColumnSchema(args: MysqlColumnArgs): MysqlColumnSchema {
  const c = args.column
  const ctx: Ctx = {
    col: `${args.table}.${c.name}`,
    debezium: args.avro.types !== 'logical',
    zeroDates: args.zeroDates,
  }
  const sourceType = sourceTypeOf(c)
  let m = mapType(c, ctx, args)
  if (!m) {
    if (args.avro.unsupported !== 'string') {
      throw new EncodeError(
        'UNSUPPORTED_TYPE',
        `column ${ctx.col} has type ${sourceType}, which has no avro mapping; set avro.unsupported: string to carry it as text`,
      )
    }
    m = fallbackMapping()
  }
  const convert = m.fromBinlog
  const absent = (): never => {
    throw new EncodeError(
      'INVALID_VALUE',
      `column ${ctx.col} is missing from the binlog row image; set binlog_row_image=FULL on the server`,
    )
  }
  return {
    name: c.name,
    sourceType,
    nullable: c.nullable || (args.zeroDates === 'null' && ZERO_DATE_TYPES.has(c.dataType)),
    avro: m.avro,
    fromText: m.fromText,
    fromBinlog: (v) => (v === null ? null : v === ABSENT ? absent() : convert(v)),
  }
}

// ---------------------------------------------------------------------------------------------
// Snapshot reading.

/** The mysql2 column description a typeCast receives (the fields used here). */
interface CastField {
  readonly type: string
  readonly extendedFormat?: string
  string(encoding?: string): string | null
  buffer(): Buffer | null
}

/**
 * mysql2 `typeCast` for snapshot SELECTs (text protocol): every value arrives as the server's
 * text rendering (a string), except binary data, which arrives as a Buffer: BIT and GEOMETRY
 * always, and BINARY/VARBINARY/BLOB (charset 63, where mysql2's own reader returns a Buffer).
 * JSON (MySQL's type 245, sent with charset 63) is read as utf8 text; MariaDB JSON is a text
 * column. NULL stays null.
 */
export function snapshotTypeCast(field: CastField, next: () => unknown): unknown {
  switch (field.type) {
    case 'BIT':
    case 'GEOMETRY':
      return field.buffer()
    case 'JSON':
      return field.string('utf8')
    case 'STRING':
    case 'VAR_STRING':
    case 'VARCHAR':
    case 'BLOB':
    case 'TINY_BLOB':
    case 'MEDIUM_BLOB':
    case 'LONG_BLOB':
    case 'ENUM':
    case 'SET':
      // mysql2 would JSON.parse MariaDB JSON (extended metadata); keep its text.
      if (field.extendedFormat === 'json') return field.string()
      // Charset-aware: a Buffer for charset 63, else a string in the result charset.
      return next()
    default:
      // Numbers, DECIMAL, dates and times: ASCII digits.
      return field.string('latin1')
  }
}

/**
 * mysql2 query options for snapshot SELECTs: `conn.query({ sql, ...SNAPSHOT_QUERY_OPTIONS })`.
 * With snapshotTypeCast the big-number and date options no longer matter; they are set so a
 * caller that drops the typeCast still gets exact strings rather than rounded numbers or Dates.
 */
export const SNAPSHOT_QUERY_OPTIONS = {
  typeCast: snapshotTypeCast as (field: unknown, next: () => unknown) => unknown,
  supportBigNumbers: true,
  bigNumberStrings: true,
  dateStrings: true,
} as const

/**
 * Statements to run on a snapshot connection before reading: TIMESTAMP renders in the
 * session zone (UTC gives the stored instant), PAD_CHAR_TO_FULL_LENGTH would pad CHAR values
 * (the binlog strips the padding), and utf8mb4 results carry every character set.
 */
export const SNAPSHOT_SESSION_SQL: readonly string[] = [
  "SET SESSION time_zone = '+00:00'",
  // sql_mode is a comma list: drop the one mode, keep the others.
  "SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',PAD_CHAR_TO_FULL_LENGTH,', ','))",
  'SET NAMES utf8mb4',
]

/** A backtick-quoted identifier. */
const ident = (name: string): string => '`' + name.replace(/`/g, '``') + '`'

/**
 * The select-list item of a column for snapshot SELECTs. Plain FLOAT renders with only 6
 * significant digits, so it is selected as `col + 0e0` (a DOUBLE: exact, shortest round-trip)
 * under its own name; every other column as itself.
 */
export function snapshotColumnSql(column: MysqlColumnInfo): string {
  const id = ident(column.name)
  if (column.dataType === 'float' && fixedDecimals(column.columnType) === null)
    return `(${id} + 0e0) AS ${id}`
  return id
}
