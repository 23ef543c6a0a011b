/**
 * Postgres column type → Avro mapping, and the converters from Postgres's text output.
 *
 * Every converter receives the *text output* of a non-null value: what pgoutput sends in text
 * tuple data and what `COPY ... TO STDOUT` yields. Text output of dates, times and intervals
 * depends on session settings; the Postgres source sets, on every connection it reads from
 * (including the walsender, whose output functions render the pgoutput tuples):
 *
 *   DateStyle = 'ISO, MDY'      dates `2024-03-15`, timestamps `2024-03-15 10:00:00.5`, BC as ` BC` suffix
 *   TimeZone = 'UTC'            timestamptz printed with offset `+00`
 *   IntervalStyle = 'postgres'  intervals `1 year 2 mons 3 days 04:05:06.789`
 *   extra_float_digits = 3      floats printed shortest-exact (round-trip safe)
 *
 * The parsers below rely on exactly that. They are written as charCode loops and slices
 * because they run for every column of every row.
 *
 * Two flavours (`avro.types`): `debezium` reproduces Debezium's Postgres connector with
 * Confluent's AvroConverter (default settings), `logical` uses standard Avro logical types.
 * README.md ("Type mapping (Postgres)") has the full table and the treatment of special values.
 */
import { civilFromDays, daysFromCivil, twosComplement, unscaled, unscaledDecimal } from '../../avro/values.js'
import { wideLong } from '../../avro/codec.js'
import { EncodeError } from '../../pipeline/errors.js'
import type { AvroSchema, ColumnSchema } from '../../pipeline/schema.js'
import type { AvroOptions } from '../../pipeline/source.js'
import type { PgTypeInfo } from './catalog.js'

/** What the converters of one column need to know. */
interface Ctx {
  /** `schema.table.column`, for error messages. */
  readonly col: string
  readonly debezium: boolean
}

interface Mapping {
  readonly avro: AvroSchema
  readonly fromText: (text: string) => unknown
}

type Convert = (text: string) => unknown

// ---------------------------------------------------------------------------------------------
// Errors. Messages name the column and the kind of value, never the value (it may be sensitive).

function outOfRange(ctx: Ctx, what: string, fix: string): EncodeError {
  return new EncodeError('VALUE_OUT_OF_RANGE', `column ${ctx.col}: ${what}; ${fix}`)
}

function invalid(ctx: Ctx, kind: string): EncodeError {
  return new EncodeError('INVALID_VALUE', `column ${ctx.col}: cannot parse the ${kind} text sent by postgres`)
}

// ---------------------------------------------------------------------------------------------
// Character codes used by the parsers.

const CH_0 = 48
const CH_9 = 57
const CH_PLUS = 43
const CH_MINUS = 45
const CH_DOT = 46
const CH_COMMA = 44
const CH_COLON = 58
const CH_SPACE = 32
const CH_QUOTE = 34 // "
const CH_BACKSLASH = 92
const CH_LBRACE = 123 // {
const CH_RBRACE = 125 // }
const CH_LBRACKET = 91 // [
const CH_LPAREN = 40
const CH_ONE = 49

const isDigit = (c: number): boolean => c >= CH_0 && c <= CH_9

const MICROS_PER_SECOND = 1_000_000
const MICROS_PER_DAY = 86_400_000_000
const MICROS_PER_DAY_N = 86_400_000_000n
/**
 * Debezium's MicroDuration counts a month as 365.25 / 12 = 30.4375 days, which is exactly
 * 2_629_800 seconds: integer arithmetic reproduces it without floating-point error.
 */
const MICROS_PER_MONTH = 2_629_800_000_000
const MICROS_PER_MONTH_N = 2_629_800_000_000n
const INT64_MAX = 9_223_372_036_854_775_807n
const INT64_MIN = -9_223_372_036_854_775_808n
const INT32_MAX = 2_147_483_647
const INT32_MIN = -2_147_483_648

/** Narrows a bigint to a number when it is a safe integer (the wideLong() value convention). */
function narrow(v: bigint): number | bigint {
  return v >= -9_007_199_254_740_991n && v <= 9_007_199_254_740_991n ? Number(v) : v
}

/** Scanner state shared by the small parsers below (single-threaded, so one is enough). */
let at = 0

/** Reads an unsigned decimal integer at `at` (number: callers use it for ≤ 15 digits). */
function readUint(s: string): number {
  let n = 0
  const start = at
  let c = s.charCodeAt(at)
  while (isDigit(c)) {
    n = n * 10 + (c - CH_0)
    c = s.charCodeAt(++at)
  }
  if (at === start) at = -1
  return n
}

/** Reads `.ffffff` (0–6 digits) at `at` as microseconds; nothing there reads as 0. */
function readMicros(s: string): number {
  if (s.charCodeAt(at) !== CH_DOT) return 0
  at++
  let n = 0
  let digits = 0
  let c = s.charCodeAt(at)
  while (isDigit(c)) {
    if (digits < 6) n = n * 10 + (c - CH_0)
    digits++
    c = s.charCodeAt(++at)
  }
  for (let d = digits; d < 6; d++) n *= 10
  return n
}

/** Reads a UTC offset `+HH`, `+HH:MM` or `+HH:MM:SS` at `at`, in seconds east of UTC. */
function readOffset(s: string): number {
  const c = s.charCodeAt(at)
  if (c !== CH_PLUS && c !== CH_MINUS) {
    at = -1
    return 0
  }
  at++
  let secs = readUint(s) * 3600
  if (s.charCodeAt(at) === CH_COLON) {
    at++
    secs += readUint(s) * 60
    if (s.charCodeAt(at) === CH_COLON) {
      at++
      secs += readUint(s)
    }
  }
  return c === CH_MINUS ? -secs : secs
}

/** Does the text end with the era suffix ` BC` (ISO DateStyle marks BC dates that way)? */
function isBC(s: string): boolean {
  const n = s.length
  return n > 3 && s.charCodeAt(n - 1) === 67 && s.charCodeAt(n - 2) === 66 && s.charCodeAt(n - 3) === CH_SPACE
}

/**
 * Parses the date part `YYYY-MM-DD` (the year may have more than 4 digits) at `at`, honouring
 * a trailing ` BC`. Returns days since the epoch; sets `at` to -1 on malformed text.
 */
function readDate(s: string): number {
  const y = readUint(s)
  if (at < 0 || s.charCodeAt(at) !== CH_MINUS) return (at = -1)
  at++
  const m = readUint(s)
  if (at < 0 || s.charCodeAt(at) !== CH_MINUS) return (at = -1)
  at++
  const d = readUint(s)
  if (at < 0) return -1
  return daysFromCivil(isBC(s) ? 1 - y : y, m, d)
}

/** Parses `HH:MM:SS[.ffffff]` at `at` into microseconds since midnight (24:00:00 allowed). */
function readTime(s: string): number {
  const h = readUint(s)
  if (at < 0 || s.charCodeAt(at) !== CH_COLON) return (at = -1)
  at++
  const mi = readUint(s)
  if (at < 0 || s.charCodeAt(at) !== CH_COLON) return (at = -1)
  at++
  const sec = readUint(s)
  if (at < 0) return -1
  return (h * 3600 + mi * 60 + sec) * MICROS_PER_SECOND + readMicros(s)
}

/** A parsed timestamp: whole days since the epoch plus microseconds into the (UTC) day. */
interface Instant {
  days: number
  micros: number
}

const scratch: Instant = { days: 0, micros: 0 }

/**
 * Parses timestamp text (`YYYY-MM-DD HH:MM:SS[.ffffff][±HH[:MM[:SS]]][ BC]`) into `scratch`,
 * normalised to UTC when `zoned`. Returns false on malformed text.
 */
function readTimestamp(s: string, zoned: boolean): boolean {
  at = 0
  let days = readDate(s)
  if (at < 0 || s.charCodeAt(at) !== CH_SPACE) return false
  at++
  let micros = readTime(s)
  if (at < 0) return false
  if (zoned) {
    const off = readOffset(s)
    if (at < 0) return false
    micros -= off * MICROS_PER_SECOND
    if (micros < 0) {
      micros += MICROS_PER_DAY
      days--
    } else if (micros >= MICROS_PER_DAY) {
      micros -= MICROS_PER_DAY
      days++
    }
  }
  scratch.days = days
  scratch.micros = micros
  return true
}

/**
 * Microseconds since the epoch of `scratch` (number when safe, bigint otherwise). Postgres
 * timestamps reach 294276 AD, but int64 microseconds since 1970 end in 294247 AD: the last
 * 29 years of the range cannot be represented and throw.
 */
function epochMicros(ctx: Ctx): number | bigint {
  // |days| < 100_000 keeps days * 86_400_000_000 under 2^53: plain number arithmetic is exact.
  if (scratch.days > -100_000 && scratch.days < 100_000) return scratch.days * MICROS_PER_DAY + scratch.micros
  const v = BigInt(scratch.days) * MICROS_PER_DAY_N + BigInt(scratch.micros)
  if (v > INT64_MAX) {
    throw outOfRange(
      ctx,
      'timestamp after year 294247 (beyond int64 microseconds)',
      'cast the column to text',
    )
  }
  return narrow(v)
}

/** Milliseconds since the epoch of `scratch` (floor division, as java.time does). */
function epochMillis(): number | bigint {
  const ms = Math.floor(scratch.micros / 1000)
  if (scratch.days > -100_000 && scratch.days < 100_000) return scratch.days * 86_400_000 + ms
  return narrow(BigInt(scratch.days) * 86_400_000n + BigInt(ms))
}

const pad2 = (n: number): string => (n < 10 ? '0' + n : String(n))

/** java.time's ISO year: at least 4 digits, `+` above 9999, `-` for astronomical years < 0. */
function isoYear(y: number): string {
  if (y < 0) return '-' + String(-y).padStart(4, '0')
  if (y > 9999) return '+' + y
  return String(y).padStart(4, '0')
}

/** `HH:MM:SS` of microseconds into a day. */
function hms(micros: number): string {
  const secs = Math.floor(micros / MICROS_PER_SECOND)
  return pad2(Math.floor(secs / 3600)) + ':' + pad2(Math.floor(secs / 60) % 60) + ':' + pad2(secs % 60)
}

/** Fraction of a second: exactly `width` digits, or (width 0) as few as needed, none for zero. */
function fraction(micros: number, width: number): string {
  const f = micros % MICROS_PER_SECOND
  if (width > 0) return '.' + String(f).padStart(6, '0').slice(0, width)
  if (f === 0) return ''
  let t = String(f).padStart(6, '0')
  let end = t.length
  while (t.charCodeAt(end - 1) === CH_0) end--
  t = t.slice(0, end)
  return '.' + t
}

/** Unscaled integer of a digit string with an optional sign (number up to 15 digits). */

// ---------------------------------------------------------------------------------------------
// Schema helpers.

/** A Debezium semantic type as Confluent's AvroConverter writes it. */
function dbz(type: string, name: string, params?: Record<string, string>): Record<string, unknown> {
  return params
    ? { type, 'connect.version': 1, 'connect.parameters': params, 'connect.name': name }
    : { type, 'connect.version': 1, 'connect.name': name }
}

const identity: Convert = (t) => t

const stringMapping: Mapping = { avro: 'string', fromText: identity }

// ---------------------------------------------------------------------------------------------
// Numbers.

function intMapping(ctx: Ctx, avro: AvroSchema): Mapping {
  return {
    avro,
    fromText: (t) => {
      const n = Number(t)
      if (!Number.isInteger(n)) throw invalid(ctx, 'integer')
      return n
    },
  }
}

/** int8: a JS number when safe, else a bigint (values beyond ±2^53 are real in bigint columns). */
function int8Mapping(ctx: Ctx): Mapping {
  return {
    avro: wideLong(),
    fromText: (t) => {
      // Up to 15 characters (14–15 digits) is always a safe integer.
      if (t.length < 16) {
        const n = Number(t)
        if (!Number.isInteger(n)) throw invalid(ctx, 'bigint')
        return n
      }
      try {
        return narrow(BigInt(t))
      } catch {
        throw invalid(ctx, 'bigint')
      }
    },
  }
}

/**
 * float4/float8 text (`1.5`, `1e+20`, `-0`, `NaN`, `Infinity`, `-Infinity`) → number. Avro's
 * float and double carry NaN and ±Infinity natively (IEEE 754 bits), as Debezium does.
 */
function floatMapping(ctx: Ctx, avro: 'float' | 'double'): Mapping {
  return {
    avro,
    fromText: (t) => {
      const n = Number(t)
      if (n !== n && t !== 'NaN') throw invalid(ctx, avro)
      return n
    },
  }
}

/** numeric text has no exponent: `-123.4500`, or one of `NaN`, `Infinity`, `-Infinity` (PG 14+). */
function isSpecialNumeric(t: string): boolean {
  const c = t.charCodeAt(t.length - 1)
  return c === 78 /* N of NaN */ || c === 121 /* y of Infinity */
}

const SPECIAL_FIX =
  'avro decimals cannot hold NaN or Infinity (debezium fails the same way); store such values in a float8 column'

/** numeric text → the unscaled integer at a fixed scale, as two's-complement bytes. */
function decimalConverter(ctx: Ctx, scale: number): Convert {
  return (t) => {
    if (isSpecialNumeric(t)) throw outOfRange(ctx, 'numeric NaN or Infinity', SPECIAL_FIX)
    const u = unscaledDecimal(t, scale)
    // More non-zero fraction digits than the column scale (only via a domain/typmod mismatch).
    if (u === null) throw outOfRange(ctx, `numeric with more than ${scale} decimals`, 'fix the column type')
    return twosComplement(u)
  }
}

/**
 * Debezium's VariableScaleDecimal (numeric without typmod): `{scale, value}` where trailing
 * fraction zeros are stripped first (Java `stripTrailingZeros`, then never a negative scale).
 */
function variableScaleConverter(ctx: Ctx): Convert {
  return (t) => {
    if (isSpecialNumeric(t)) throw outOfRange(ctx, 'numeric NaN or Infinity', SPECIAL_FIX)
    const neg = t.charCodeAt(0) === CH_MINUS
    const start = neg ? 1 : 0
    const dot = t.indexOf('.', start)
    if (dot < 0) return { scale: 0, value: twosComplement(unscaled(neg, t.slice(start))) }
    let end = t.length
    while (end > dot + 1 && t.charCodeAt(end - 1) === CH_0) end--
    const digits = t.slice(start, dot) + t.slice(dot + 1, end)
    return { scale: end - dot - 1, value: twosComplement(unscaled(neg, digits)) }
  }
}

/**
 * numeric typmod: `((precision << 16) | (scale & 0x7ff)) + 4`, the scale an 11-bit signed
 * number (PG 15 allows scales from -1000 to 1000). -1 means no typmod.
 */
function numericTypmod(typmod: number): { precision: number; scale: number } | null {
  if (typmod < 4) return null
  const t = typmod - 4
  return { precision: (t >>> 16) & 0xffff, scale: ((t & 0x7ff) ^ 1024) - 1024 }
}

function numericMapping(ctx: Ctx, typmod: number): Mapping {
  const tm = numericTypmod(typmod)
  if (!tm) {
    if (!ctx.debezium) {
      // No typmod, no fixed scale: Avro decimal needs one, so carry the exact text.
      return stringMapping
    }
    return {
      avro: {
        type: 'record',
        name: 'VariableScaleDecimal',
        namespace: 'io.debezium.data',
        fields: [
          { name: 'scale', type: 'int' },
          { name: 'value', type: 'bytes' },
        ],
        'connect.doc': 'Variable scaled decimal',
        'connect.version': 1,
        'connect.name': 'io.debezium.data.VariableScaleDecimal',
      },
      fromText: variableScaleConverter(ctx),
    }
  }
  // Avro decimals need 0 <= scale <= precision. A negative scale (numeric(3,-2) holds
  // integers rounded to hundreds) is carried at scale 0 with the precision widened to cover
  // the trailing zeros; a scale above the precision (numeric(2,4)) widens the precision.
  const scale = Math.max(tm.scale, 0)
  const precision = tm.scale < 0 ? tm.precision - tm.scale : Math.max(tm.precision, tm.scale)
  return { avro: decimalSchema(ctx, precision, scale, true), fromText: decimalConverter(ctx, scale) }
}

function decimalSchema(ctx: Ctx, precision: number, scale: number, withPrecisionParam: boolean): AvroSchema {
  if (!ctx.debezium) return { type: 'bytes', logicalType: 'decimal', precision, scale }
  // Kafka Connect Decimal through AvroConverter. Without a `connect.decimal.precision`
  // parameter (Debezium's money schema) the converter writes precision 64.
  const params: Record<string, string> = { scale: String(scale) }
  if (withPrecisionParam) params['connect.decimal.precision'] = String(precision)
  return {
    type: 'bytes',
    scale,
    precision: withPrecisionParam ? precision : 64,
    'connect.version': 1,
    'connect.parameters': params,
    'connect.name': 'org.apache.kafka.connect.data.Decimal',
    logicalType: 'decimal',
  }
}

/**
 * money text is locale-formatted by `lc_monetary`: `$1,234.56`, `-$1,234.56` in C/en_US,
 * `(1.234,56 €)` or `-1.234,56 €` elsewhere. Only digits, the sign (`-` or parentheses) and the
 * decimal separator matter: the last `.` or `,` followed by one or two digits (and no more) is
 * the decimal separator, every other one is grouping. The unscaled value is at scale 2, as
 * money's range (±92233720368547758.07) is an int64 of cents.
 */
function moneyConverter(ctx: Ctx): Convert {
  return (t) => {
    let neg = false
    let digits = ''
    let runStart = -1
    let lastSep = -1 // index in `digits` where the digits after the last separator start
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i)
      if (isDigit(c)) {
        if (runStart < 0) runStart = i
        continue
      }
      if (runStart >= 0) {
        digits += t.slice(runStart, i)
        runStart = -1
      }
      if (c === CH_MINUS || c === CH_LPAREN) neg = true
      // Only a separator between digits counts (`kr.` or `Rs.` may end or start the text).
      else if ((c === CH_DOT || c === CH_COMMA) && isDigit(t.charCodeAt(i + 1))) lastSep = digits.length
    }
    if (runStart >= 0) digits += t.slice(runStart)
    if (digits.length === 0) throw invalid(ctx, 'money')
    let frac = lastSep < 0 ? 0 : digits.length - lastSep
    if (frac > 2) frac = 0 // a grouping separator (`1,234`), not a decimal one
    const whole = digits + (frac === 0 ? '00' : frac === 1 ? '0' : '')
    return twosComplement(unscaled(neg, whole))
  }
}

// ---------------------------------------------------------------------------------------------
// Date and time.

/**
 * ±infinity. Postgres encodes them as the extreme values of its integers (date: INT32_MIN/MAX
 * days, timestamp: INT64_MIN/MAX µs); the logical flavour uses those extremes as sentinels.
 * Debezium emits timestamps as pgjdbc's PGStatement.DATE_POSITIVE/NEGATIVE_INFINITY
 * (9223372036825200000 / -9223372036832400000) read as microseconds (or /1000 as millis).
 */
const DBZ_TS_POS_INF_MICROS = 9_223_372_036_825_200_000n
const DBZ_TS_NEG_INF_MICROS = -9_223_372_036_832_400_000n
const DBZ_TS_POS_INF_MILLIS = 9_223_372_036_825_200n
const DBZ_TS_NEG_INF_MILLIS = -9_223_372_036_832_400n
/**
 * Debezium parses date `infinity` / `-infinity` to LocalDate -5877611-06-21 / -5877611-06-22
 * (Postgres's binary date extremes, counted from 2000-01-01 with int32 wrap-around) and emits
 * their epoch days: -2147472692 / -2147472691. Both lie ~5.9 million years BC and +infinity
 * sorts *below* -infinity, but that is what Debezium consumers receive.
 */
const DBZ_DATE_POS_INF = daysFromCivil(-5877611, 6, 21)
const DBZ_DATE_NEG_INF = daysFromCivil(-5877611, 6, 22)

function dateMapping(ctx: Ctx): Mapping {
  const pos = ctx.debezium ? DBZ_DATE_POS_INF : INT32_MAX
  const neg = ctx.debezium ? DBZ_DATE_NEG_INF : INT32_MIN
  return {
    avro: ctx.debezium ? dbz('int', 'io.debezium.time.Date') : { type: 'int', logicalType: 'date' },
    fromText: (t) => {
      if (t === 'infinity') return pos
      if (t === '-infinity') return neg
      at = 0
      const days = readDate(t)
      if (at < 0) throw invalid(ctx, 'date')
      return days
    },
  }
}

function timeMapping(ctx: Ctx): Mapping {
  return {
    avro: ctx.debezium
      ? dbz('long', 'io.debezium.time.MicroTime')
      : { type: 'long', logicalType: 'time-micros' },
    fromText: (t) => {
      at = 0
      const micros = readTime(t)
      if (at < 0) throw invalid(ctx, 'time')
      // 24:00:00 is a valid time: 86_400_000_000 µs (Debezium emits the same).
      return micros
    },
  }
}

/**
 * timetz → Debezium ZonedTime: ISO-8601 time normalised to UTC (`HH:MM:SS[.f]Z`, java's
 * ISO_OFFSET_TIME: as many fraction digits as needed). The offset may carry seconds.
 * `24:00:00+00` stays `24:00:00Z` (end of day); any other value wraps into 00:00–23:59:59.
 */
function timetzMapping(ctx: Ctx): Mapping {
  return {
    avro: ctx.debezium ? dbz('string', 'io.debezium.time.ZonedTime') : 'string',
    fromText: (t) => {
      at = 0
      let micros = readTime(t)
      if (at < 0) throw invalid(ctx, 'timetz')
      const off = readOffset(t)
      if (at < 0) throw invalid(ctx, 'timetz')
      if (micros === MICROS_PER_DAY && off === 0) return '24:00:00Z'
      micros -= off * MICROS_PER_SECOND
      micros = ((micros % MICROS_PER_DAY) + MICROS_PER_DAY) % MICROS_PER_DAY
      return hms(micros) + fraction(micros, 0) + 'Z'
    },
  }
}

/** Precision of a time/timestamp typmod: the typmod itself, 6 (microseconds) when absent. */
const timePrecision = (typmod: number): number => (typmod >= 0 ? typmod : 6)

function timestampMapping(ctx: Ctx, typmod: number): Mapping {
  if (ctx.debezium && timePrecision(typmod) <= 3) {
    // adaptive_time_microseconds: timestamp(0..3) becomes io.debezium.time.Timestamp (millis).
    return {
      avro: wideLong({ 'connect.version': 1, 'connect.name': 'io.debezium.time.Timestamp' }),
      fromText: (t) => {
        if (t === 'infinity') return DBZ_TS_POS_INF_MILLIS
        if (t === '-infinity') return DBZ_TS_NEG_INF_MILLIS
        if (!readTimestamp(t, false)) throw invalid(ctx, 'timestamp')
        return epochMillis()
      },
    }
  }
  const pos = ctx.debezium ? narrow(DBZ_TS_POS_INF_MICROS) : INT64_MAX
  const neg = ctx.debezium ? narrow(DBZ_TS_NEG_INF_MICROS) : INT64_MIN
  return {
    avro: ctx.debezium
      ? wideLong({ 'connect.version': 1, 'connect.name': 'io.debezium.time.MicroTimestamp' })
      : wideLong({ logicalType: 'local-timestamp-micros' }),
    fromText: (t) => {
      if (t === 'infinity') return pos
      if (t === '-infinity') return neg
      if (!readTimestamp(t, false)) throw invalid(ctx, 'timestamp')
      return epochMicros(ctx)
    },
  }
}

function timestamptzMapping(ctx: Ctx, typmod: number): Mapping {
  if (!ctx.debezium) {
    return {
      avro: wideLong({ logicalType: 'timestamp-micros' }),
      fromText: (t) => {
        if (t === 'infinity') return INT64_MAX
        if (t === '-infinity') return INT64_MIN
        if (!readTimestamp(t, true)) throw invalid(ctx, 'timestamptz')
        return epochMicros(ctx)
      },
    }
  }
  // Debezium ZonedTimestamp: ISO-8601 in UTC with exactly <precision> fraction digits
  // (precision 6 when the column has none; 0 prints no fraction); ±infinity pass through as
  // the strings `infinity` / `-infinity`.
  const width = timePrecision(typmod)
  return {
    avro: dbz('string', 'io.debezium.time.ZonedTimestamp'),
    fromText: (t) => {
      if (t === 'infinity' || t === '-infinity') return t
      if (!readTimestamp(t, true)) throw invalid(ctx, 'timestamptz')
      const [y, m, d] = civilFromDays(scratch.days)
      return (
        isoYear(y) +
        '-' +
        pad2(m) +
        '-' +
        pad2(d) +
        'T' +
        hms(scratch.micros) +
        fraction(scratch.micros, width) +
        'Z'
      )
    },
  }
}

/** An interval's fields as Postgres keeps them: months, days and microseconds, each signed. */
interface IntervalParts {
  months: number
  days: number
  /** Microseconds of the time part; a bigint beyond 2^53 (hours may reach 2562047788). */
  micros: number | bigint
}

/**
 * IntervalStyle=postgres output: space-separated `<n> year(s)`, `<n> mon(s)`, `<n> day(s)`
 * (each with its own sign) and an optional `[+-]H:MM:SS[.ffffff]`, e.g.
 * `-1 years +2 mons -3 days +04:05:06.5`, `00:00:00`, `1 day`.
 */
function readInterval(s: string): IntervalParts | null {
  let months = 0
  let days = 0
  let micros: number | bigint = 0
  at = 0
  const n = s.length
  while (at < n) {
    while (s.charCodeAt(at) === CH_SPACE) at++
    let sign = 1
    const c = s.charCodeAt(at)
    if (c === CH_MINUS || c === CH_PLUS) {
      if (c === CH_MINUS) sign = -1
      at++
    }
    const numStart = at
    const v = readUint(s)
    if (at < 0) return null
    if (s.charCodeAt(at) === CH_COLON) {
      // Time part. Hours can exceed 2^53 µs / 3600e6, so go through bigint when large.
      const hours = at - numStart > 6 ? BigInt(s.slice(numStart, at)) : v
      at++
      const mi = readUint(s)
      if (at < 0 || s.charCodeAt(at) !== CH_COLON) return null
      at++
      const sec = readUint(s)
      if (at < 0) return null
      const sub = (mi * 60 + sec) * MICROS_PER_SECOND + readMicros(s)
      if (typeof hours === 'bigint') {
        const total = hours * 3_600_000_000n + BigInt(sub)
        micros = narrow(sign < 0 ? -total : total)
      } else {
        const total = hours * 3_600_000_000 + sub
        micros = sign < 0 ? -total : total
      }
      continue
    }
    if (s.charCodeAt(at) !== CH_SPACE) return null
    at++
    const unit = s.charCodeAt(at)
    while (at < n && s.charCodeAt(at) !== CH_SPACE) at++
    if (unit === 121 /* y */) months += sign * v * 12
    else if (unit === 109 /* m(ons) */) months += sign * v
    else if (unit === 100 /* d */) days += sign * v
    else return null
  }
  return { months, days, micros }
}

function intervalMapping(ctx: Ctx): Mapping {
  if (ctx.debezium) {
    // io.debezium.time.MicroDuration: months × 30.4375 days + days × 24 h + time, in µs.
    return {
      avro: wideLong({ 'connect.version': 1, 'connect.name': 'io.debezium.time.MicroDuration' }),
      fromText: (t) => {
        const p = readInterval(t)
        if (!p) throw invalid(ctx, 'interval')
        // Each product stays below 2^53 with these bounds, so the number sum is exact.
        if (typeof p.micros === 'number' && Math.abs(p.months) < 3400 && Math.abs(p.days) < 100_000) {
          const total = p.months * MICROS_PER_MONTH + p.days * MICROS_PER_DAY + p.micros
          if (Math.abs(p.micros) < 2 ** 52 && Number.isSafeInteger(total)) return total
        }
        const big =
          BigInt(p.months) * MICROS_PER_MONTH_N + BigInt(p.days) * MICROS_PER_DAY_N + BigInt(p.micros)
        if (big > INT64_MAX || big < INT64_MIN) {
          throw outOfRange(
            ctx,
            'interval longer than int64 microseconds',
            'shorten the interval or cast it to text',
          )
        }
        return narrow(big)
      },
    }
  }
  // ISO-8601 duration with signed components, like Debezium's interval.handling.mode=string:
  // P<y>Y<m>M<d>DT<h>H<mi>M<s>S. Exact (no month-length approximation) and sign-preserving,
  // which Avro's `duration` logical type (unsigned, millisecond) is not.
  return {
    avro: 'string',
    fromText: (t) => {
      const p = readInterval(t)
      if (!p) throw invalid(ctx, 'interval')
      const years = Math.trunc(p.months / 12)
      const months = p.months - years * 12
      const us = BigInt(p.micros)
      const neg = us < 0n
      const a = neg ? -us : us
      const h = a / 3_600_000_000n
      const mi = (a / 60_000_000n) % 60n
      const secs = (a / 1_000_000n) % 60n
      const f = Number(a % 1_000_000n)
      const sg = neg ? '-' : ''
      return `P${years}Y${months}M${p.days}DT${sg}${h}H${sg}${mi}M${sg}${secs}${fraction(f, 0)}S`
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Binary, bits, geometry, hstore.

/**
 * bytea text: hex format `\x` then two hex digits per byte (the default since PG 9.0); the
 * legacy escape format (bytea_output=escape) prints `\\` for a backslash and `\ooo` (octal)
 * for non-printable bytes.
 */
function byteaConverter(ctx: Ctx): Convert {
  return (t) => {
    if (t.charCodeAt(0) === CH_BACKSLASH && t.charCodeAt(1) === 120 /* x */) {
      if ((t.length & 1) !== 0) throw invalid(ctx, 'bytea')
      return Buffer.from(t.slice(2), 'hex')
    }
    const out = Buffer.allocUnsafe(t.length)
    let n = 0
    for (let i = 0; i < t.length; i++) {
      const c = t.charCodeAt(i)
      if (c !== CH_BACKSLASH) {
        out[n++] = c
      } else if (t.charCodeAt(i + 1) === CH_BACKSLASH) {
        out[n++] = CH_BACKSLASH
        i++
      } else {
        out[n++] =
          ((t.charCodeAt(i + 1) - CH_0) << 6) |
          ((t.charCodeAt(i + 2) - CH_0) << 3) |
          (t.charCodeAt(i + 3) - CH_0)
        i += 3
      }
    }
    return out.subarray(0, n)
  }
}

/**
 * bit/varbit text is the bits, most significant first (`B'1010'` prints `1010`). Debezium's
 * Bits value is the bit string read as an unsigned integer, in little-endian bytes, as long as
 * its highest set bit needs (java.util.BitSet.toByteArray): `1010` → [0x0a], all zeros → [].
 */
function bitsToBytes(t: string): Buffer {
  const n = t.length
  let first = 0
  while (first < n && t.charCodeAt(first) !== CH_ONE) first++
  if (first === n) return Buffer.alloc(0)
  const highest = n - 1 - first
  const out = Buffer.alloc((highest >> 3) + 1)
  for (let i = first; i < n; i++) {
    if (t.charCodeAt(i) === CH_ONE) {
      const bit = n - 1 - i
      out[bit >> 3]! |= 1 << (bit & 7)
    }
  }
  return out
}

function bitMapping(ctx: Ctx, type: PgTypeInfo, typmod: number): Mapping {
  // bit(n): typmod is n. varbit(n): typmod n; plain varbit: -1, Debezium's length 2^31-1.
  const length = typmod > 0 ? typmod : type.name === 'bit' ? 1 : INT32_MAX
  if (length === 1) return { avro: 'boolean', fromText: (t) => t.charCodeAt(0) === CH_ONE }
  if (!ctx.debezium) return stringMapping
  return { avro: dbz('bytes', 'io.debezium.data.Bits', { length: String(length) }), fromText: bitsToBytes }
}

/** WKB of a 2-D point: byte order 1 (little-endian), uint32 type 1 (Point), then x and y as doubles. */
function pointWkb(x: number, y: number): Buffer {
  const b = Buffer.allocUnsafe(21)
  b[0] = 1
  b.writeUInt32LE(1, 1)
  b.writeDoubleLE(x, 5)
  b.writeDoubleLE(y, 13)
  return b
}

/** point text `(x,y)` → Debezium's io.debezium.data.geometry.Point record. */
function pointMapping(ctx: Ctx): Mapping {
  if (!ctx.debezium) return stringMapping
  return {
    avro: {
      type: 'record',
      name: 'Point',
      namespace: 'io.debezium.data.geometry',
      fields: [
        { name: 'x', type: 'double' },
        { name: 'y', type: 'double' },
        { name: 'wkb', type: ['null', 'bytes'], default: null },
        { name: 'srid', type: ['null', 'int'], default: null },
      ],
      'connect.doc': 'Geometry (POINT)',
      'connect.version': 1,
      'connect.name': 'io.debezium.data.geometry.Point',
    },
    fromText: (t) => {
      const comma = t.indexOf(',')
      if (t.charCodeAt(0) !== CH_LPAREN || comma < 0) throw invalid(ctx, 'point')
      const x = Number(t.slice(1, comma))
      const y = Number(t.slice(comma + 1, t.length - 1))
      return { x, y, wkb: pointWkb(x, y), srid: null }
    },
  }
}

/**
 * hstore text: `"key"=>"value", "k2"=>NULL`: keys and values always double-quoted, `"` and `\`
 * inside them backslash-escaped, NULL unquoted. Returns the pairs in output order.
 */
function parseHstore(ctx: Ctx, s: string): [string, string | null][] {
  const out: [string, string | null][] = []
  let i = 0
  const n = s.length
  const quoted = (): string => {
    if (s.charCodeAt(i) !== CH_QUOTE) throw invalid(ctx, 'hstore')
    let j = ++i
    let acc = ''
    for (;;) {
      const c = s.charCodeAt(j)
      if (c === CH_BACKSLASH) {
        acc += s.slice(i, j)
        i = j + 1
        j += 2
      } else if (c === CH_QUOTE) {
        break
      } else if (j >= n) {
        throw invalid(ctx, 'hstore')
      } else {
        j++
      }
    }
    acc += s.slice(i, j)
    i = j + 1
    return acc
  }
  while (i < n) {
    const key = quoted()
    if (s.charCodeAt(i) !== 61 /* = */ || s.charCodeAt(i + 1) !== 62 /* > */) throw invalid(ctx, 'hstore')
    i += 2
    if (s.charCodeAt(i) === 78 /* N */) {
      out.push([key, null])
      i += 4
    } else {
      out.push([key, quoted()])
    }
    while (s.charCodeAt(i) === CH_COMMA || s.charCodeAt(i) === CH_SPACE) i++
  }
  return out
}

function hstoreMapping(ctx: Ctx): Mapping {
  if (ctx.debezium) {
    // hstore.handling.mode=json: a JSON object string, values null where the hstore has NULL.
    return {
      avro: dbz('string', 'io.debezium.data.Json'),
      fromText: (t) => {
        let json = '{'
        for (const [k, v] of parseHstore(ctx, t)) {
          if (json.length > 1) json += ','
          json += JSON.stringify(k) + ':' + (v === null ? 'null' : JSON.stringify(v))
        }
        return json + '}'
      },
    }
  }
  return {
    avro: { type: 'map', values: ['null', 'string'] },
    fromText: (t) => {
      const m: Record<string, string | null> = Object.create(null) as Record<string, string | null>
      for (const [k, v] of parseHstore(ctx, t)) m[k] = v
      return m
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Arrays.

/**
 * Array text output: `{e1,e2,...}`, optionally preceded by `[lo:hi]=` when a lower bound is
 * not 1. Elements are separated by the element type's typdelim (`,`, `;` for box). An element
 * is double-quoted when empty, when it contains braces, the delimiter, quotes, backslashes or
 * white space, or when it reads NULL; inside quotes `"` and `\` are backslash-escaped. An
 * unquoted NULL is SQL NULL. Nested braces are a multi-dimensional array.
 */
function arrayConverter(ctx: Ctx, delim: number, elem: Convert): Convert {
  return (s) => {
    let i = 0
    if (s.charCodeAt(0) === CH_LBRACKET) i = s.indexOf('=') + 1
    if (s.charCodeAt(i) !== CH_LBRACE) throw invalid(ctx, 'array')
    i++
    const out: unknown[] = []
    if (s.charCodeAt(i) === CH_RBRACE) return out
    const n = s.length
    for (;;) {
      const c = s.charCodeAt(i)
      if (c === CH_LBRACE) {
        throw outOfRange(
          ctx,
          'multi-dimensional array',
          'avro arrays here are one-dimensional; store nested arrays as json or set the column to a 1-d array',
        )
      }
      if (c === CH_QUOTE) {
        let start = ++i
        let acc = ''
        for (;;) {
          const d = s.charCodeAt(i)
          if (d === CH_BACKSLASH) {
            acc += s.slice(start, i)
            start = i + 1
            i += 2
          } else if (d === CH_QUOTE) {
            break
          } else if (i >= n) {
            throw invalid(ctx, 'array')
          } else {
            i++
          }
        }
        acc += s.slice(start, i)
        i++
        out.push(elem(acc))
      } else {
        const start = i
        let d = c
        while (d !== delim && d !== CH_RBRACE && i < n) d = s.charCodeAt(++i)
        const tok = s.slice(start, i)
        out.push(tok === 'NULL' ? null : elem(tok))
      }
      const d = s.charCodeAt(i)
      if (d === delim) i++
      else if (d === CH_RBRACE) return out
      else throw invalid(ctx, 'array')
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The mapping.

/** Extension types recognised by name (their oids differ per database). */
const EXTENSION_STRINGS = new Set([
  'citext',
  'isbn',
  'isbn13',
  'ismn',
  'ismn13',
  'issn',
  'issn13',
  'ean13',
  'upc',
])

/** Built-ins carried as their text rendering in both flavours (Debezium: plain string). */
const PLAIN_STRINGS = new Set([
  'text',
  'varchar',
  'bpchar',
  'name',
  'char',
  'inet',
  'cidr',
  'macaddr',
  'macaddr8',
  'int4range',
  'int8range',
  'numrange',
  'tsrange',
  'tstzrange',
  'daterange',
  // Not mapped by Debezium releases (the columns are dropped); Sluice keeps their text:
  'line',
  'lseg',
  'box',
  'path',
  'polygon',
  'circle',
  'tsquery',
  'pg_lsn',
  'txid_snapshot',
  'pg_snapshot',
])

/** The mapping of a (non-domain) type, or null when Sluice has none. */
function mapType(type: PgTypeInfo, typmod: number, ctx: Ctx): Mapping | null {
  if (type.type === 'd') {
    // Domains are their base type; the column's typmod is -1, the domain carries its own.
    if (!type.base) return null
    return mapType(type.base, typmod >= 0 ? typmod : (type.baseTypmod ?? -1), ctx)
  }
  if (type.elem) {
    // The column typmod of an array applies to its elements (numeric(10,2)[]).
    const e = mapType(type.elem, typmod, ctx)
    if (!e) return null
    return {
      avro: { type: 'array', items: ['null', e.avro] },
      fromText: arrayConverter(ctx, type.elem.delim.charCodeAt(0), e.fromText),
    }
  }
  if (type.type === 'e') {
    const labels = type.enumLabels ?? []
    return {
      avro: ctx.debezium ? dbz('string', 'io.debezium.data.Enum', { allowed: labels.join(',') }) : 'string',
      fromText: identity,
    }
  }
  if (type.type === 'r' || type.type === 'm') return stringMapping
  if (type.type !== 'b') return null

  if (type.schema !== 'pg_catalog') {
    if (EXTENSION_STRINGS.has(type.name)) return stringMapping
    if (type.name === 'hstore') return hstoreMapping(ctx)
    if (type.name === 'ltree')
      return { avro: ctx.debezium ? dbz('string', 'io.debezium.data.Ltree') : 'string', fromText: identity }
    return null
  }
  if (PLAIN_STRINGS.has(type.name)) return stringMapping
  switch (type.name) {
    case 'int2':
      return intMapping(ctx, ctx.debezium ? { type: 'int', 'connect.type': 'int16' } : 'int')
    case 'int4':
      return intMapping(ctx, 'int')
    case 'int8':
      return int8Mapping(ctx)
    case 'oid':
    case 'xid':
    case 'cid':
      // Unsigned 32-bit: always a safe integer in a long.
      return intMapping(ctx, 'long')
    case 'float4':
      return floatMapping(ctx, 'float')
    case 'float8':
      return floatMapping(ctx, 'double')
    case 'numeric':
      return numericMapping(ctx, typmod)
    case 'money':
      // Debezium: Decimal with money.fraction.digits=2 and no precision parameter.
      return { avro: decimalSchema(ctx, 19, 2, false), fromText: moneyConverter(ctx) }
    case 'bool':
      // boolean text output is `t` or `f`.
      return { avro: 'boolean', fromText: (t) => t.charCodeAt(0) === 116 /* t */ }
    case 'bytea':
      return { avro: 'bytes', fromText: byteaConverter(ctx) }
    case 'uuid':
      return {
        avro: ctx.debezium ? dbz('string', 'io.debezium.data.Uuid') : { type: 'string', logicalType: 'uuid' },
        fromText: identity,
      }
    case 'json':
    case 'jsonb':
      return { avro: ctx.debezium ? dbz('string', 'io.debezium.data.Json') : 'string', fromText: identity }
    case 'xml':
      return { avro: ctx.debezium ? dbz('string', 'io.debezium.data.Xml') : 'string', fromText: identity }
    case 'tsvector':
      // Debezium's schema name really is spelled `Tsvector`.
      return {
        avro: ctx.debezium ? dbz('string', 'io.debezium.data.Tsvector') : 'string',
        fromText: identity,
      }
    case 'date':
      return dateMapping(ctx)
    case 'time':
      return timeMapping(ctx)
    case 'timetz':
      return timetzMapping(ctx)
    case 'timestamp':
      return timestampMapping(ctx, typmod)
    case 'timestamptz':
      return timestamptzMapping(ctx, typmod)
    case 'interval':
      return intervalMapping(ctx)
    case 'bit':
    case 'varbit':
      return bitMapping(ctx, type, typmod)
    case 'point':
      return pointMapping(ctx)
    default:
      return null
  }
}

/** The type as a short readable name with its modifier: `numeric(10,2)`, `varchar(20)`, `_int4`. */
export function formatType(type: PgTypeInfo, typmod: number): string {
  const base = type.elem ?? type
  let mod = ''
  if (typmod >= 0 && base.schema === 'pg_catalog') {
    switch (base.name) {
      case 'numeric': {
        const tm = numericTypmod(typmod)
        if (tm) mod = `(${tm.precision},${tm.scale})`
        break
      }
      case 'varchar':
      case 'bpchar':
        if (typmod >= 4) mod = `(${typmod - 4})`
        break
      case 'bit':
      case 'varbit':
      case 'time':
      case 'timetz':
      case 'timestamp':
      case 'timestamptz':
        mod = `(${typmod})`
        break
    }
  }
  const name = type.schema === 'pg_catalog' ? type.name : `${type.schema}.${type.name}`
  return name + mod
}

/**
 * The Avro mapping and text converter of one Postgres column, in the configured flavour.
 * Throws EncodeError `UNSUPPORTED_TYPE` for a type with no mapping, unless
 * `avro.unsupported` is `string` (the column then carries Postgres's text rendering).
 */
export function columnSchema(args: {
  /** `schema.table`, for error messages. */
  table: string
  name: string
  type: PgTypeInfo
  /** `atttypmod` (or the Relation message's type modifier); -1 when none. */
  typmod: number
  nullable: boolean
  avro: AvroOptions
}): ColumnSchema {
  const ctx: Ctx = { col: `${args.table}.${args.name}`, debezium: args.avro.types !== 'logical' }
  const sourceType = formatType(args.type, args.typmod)
  let m = mapType(args.type, args.typmod, ctx)
  if (!m) {
    if (args.avro.unsupported !== 'string') {
      throw new EncodeError(
        'UNSUPPORTED_TYPE',
        `column ${ctx.col} has type ${sourceType}, which has no avro mapping; set avro.unsupported: string to carry it as text`,
      )
    }
    m = stringMapping
  }
  return { name: args.name, sourceType, nullable: args.nullable, avro: m.avro, fromText: m.fromText }
}
