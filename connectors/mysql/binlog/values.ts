/**
 * Row values: how each binlog column type is represented in JS, and the decoders that read
 * them from a rows event. The representation is exact (no value is rounded, truncated or
 * re-zoned) so the type mapper can produce Avro from it without consulting the server:
 *
 * | Column type                           | JS value                                                      |
 * |---------------------------------------|---------------------------------------------------------------|
 * | TINYINT..INT, MEDIUMINT (signed/uns.) | `number`                                                      |
 * | BIGINT (signed/unsigned)              | `number` if a safe integer (abs ≤ 2^53−1), else `bigint`       |
 * | DECIMAL / NUMERIC                     | `string`, exact, scale digits kept (`"-12.50"`)               |
 * | FLOAT, DOUBLE                         | `number` (FLOAT is the float32 value widened to a double)     |
 * | YEAR                                  | `number` (0 for YEAR 0000)                                    |
 * | DATE                                  | MysqlDate `{year, month, day}`, zero parts allowed             |
 * | TIME, TIME(n)                         | MysqlTime `{negative, hours, minutes, seconds, micros}`        |
 * | DATETIME, DATETIME(n)                 | MysqlDateTime `{year, month, day, hour, minute, second, micros}` (no zone) |
 * | TIMESTAMP, TIMESTAMP(n)               | MysqlTimestamp `{epochSeconds, micros}` (UTC; 0 = zero date)   |
 * | CHAR, VARCHAR, TEXT (text charsets)   | `string`, decoded with the column charset; CHAR trailing spaces stripped as the server does |
 * | BINARY, VARBINARY, BLOB (charset 63)  | `Buffer`; BINARY(n) re-padded with 0x00 to n bytes             |
 * | text in a charset not in the table    | UndecodedText `{collation, bytes}`                             |
 * | ENUM                                  | `string` label ('' for index 0); the 1-based index `number` if the TABLE_MAP has no ENUM_STR_VALUE |
 * | SET                                   | `string[]` labels; the bitmask (`number`/`bigint`) without SET_STR_VALUE |
 * | BIT(n)                                | MysqlBit `{bits: n, bytes}` (big-endian, ⌈n/8⌉ bytes)          |
 * | JSON (MySQL, binary)                  | `string`: JSON text as MySQL prints it (`{"a": 1}`)            |
 * | JSON (MariaDB: LONGTEXT)              | `string` (it is a text column)                                 |
 * | GEOMETRY and subtypes                 | MysqlGeometry `{srid, wkb}`                                    |
 * | VECTOR (MySQL 9)                      | `Float32Array`                                                 |
 * | MariaDB UUID / INET4 / INET6          | `Buffer` (they are BINARY(16/4/16) in the binlog)              |
 * | MariaDB COMPRESSED columns            | decompressed, then as the uncompressed type                    |
 * | SQL NULL                              | `null`                                                         |
 * | not in the row image (MINIMAL)        | the ABSENT symbol (distinct from null)                         |
 *
 * Every Buffer is a copy the caller owns; strings and objects are fresh per value.
 */
import { inflateRawSync } from 'node:zlib'
import { CharsetKind, decodeText, type Charset } from './charsets.js'
import { ColumnType } from './codes.js'
import { jsonBinaryToText } from './json-binary.js'
import type { Reader } from './reader.js'

/** Which server wrote the binlog; decides layout details that differ (GEOMETRY charset, collation ids). */
export type Flavour = 'mysql' | 'mariadb'

/**
 * Marks a column that is not in a row image (binlog_row_image=MINIMAL or NOBLOB): the server
 * did not send it, which is different from SQL NULL.
 */
export const ABSENT: unique symbol = Symbol('binlog.absent')

/** DATE (and the date of a DATETIME). Zero dates (`0000-00-00`) and zero parts are allowed. */
export interface MysqlDate {
  year: number
  month: number
  day: number
}

/** TIME: a signed duration up to ±838:59:59.999999; hours may exceed 23. */
export interface MysqlTime {
  negative: boolean
  hours: number
  minutes: number
  seconds: number
  micros: number
}

/** DATETIME: wall-clock date and time without a zone; zero parts allowed. */
export interface MysqlDateTime {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  micros: number
}

/** TIMESTAMP: seconds since the Unix epoch (UTC) and microseconds; `0, 0` is the zero timestamp. */
export interface MysqlTimestamp {
  epochSeconds: number
  micros: number
}

/** BIT(n): `bits` is n; `bytes` holds ⌈n/8⌉ bytes, most significant first. */
export interface MysqlBit {
  bits: number
  bytes: Buffer
}

/** A spatial value: SRID and the OGC well-known binary (WKB) geometry. */
export interface MysqlGeometry {
  srid: number
  wkb: Buffer
}

/** Text in a character set this decoder does not know: the raw bytes and the collation id. */
export interface UndecodedText {
  collation: number
  bytes: Buffer
}

/** One column value in a row image (see the table at the top of this file). */
export type BinlogValue =
  | null
  | typeof ABSENT
  | number
  | bigint
  | string
  | string[]
  | Buffer
  | Float32Array
  | MysqlDate
  | MysqlTime
  | MysqlDateTime
  | MysqlTimestamp
  | MysqlBit
  | MysqlGeometry
  | UndecodedText

/** A row image: one value per table column, in TABLE_MAP order. */
export type RowImage = BinlogValue[]

/**
 * Everything the value decoder needs about one column, resolved once per TABLE_MAP from the
 * type, the metadata block and the optional metadata.
 */
export interface ColumnInfo {
  /** Position in the table (0-based). */
  index: number
  /** From COLUMN_NAME metadata (binlog_row_metadata=FULL), else null. */
  name: string | null
  /** Column type as sent in TABLE_MAP (ENUM and SET arrive as STRING, 254). */
  type: number
  /** The real type: STRING unwrapped to ENUM (247), SET (248) or STRING (254). */
  realType: number
  /**
   * Type metadata: max byte length (VARCHAR, STRING), fsp (TIME2/DATETIME2/TIMESTAMP2),
   * length-prefix size (BLOB, GEOMETRY, JSON), pack length (FLOAT, DOUBLE, ENUM, SET),
   * precision (NEWDECIMAL), bit count (BIT); 0 when the type has none.
   */
  length: number
  /** Scale of NEWDECIMAL; 0 otherwise. */
  scale: number
  /** The NULL bitmap of TABLE_MAP allows NULL. */
  nullable: boolean
  /** From SIGNEDNESS metadata; false when absent. */
  unsigned: boolean
  /** Character set of character (and, on MariaDB, GEOMETRY) columns and of ENUM/SET; null when unknown or not applicable. */
  charset: Charset | null
  /** ENUM labels from ENUM_STR_VALUE. */
  enumValues: string[] | null
  /** SET labels from SET_STR_VALUE. */
  setValues: string[] | null
  /** GEOMETRY subtype from GEOMETRY_TYPE (0 GEOMETRY, 1 POINT, 2 LINESTRING, 3 POLYGON, 4 MULTIPOINT, 5 MULTILINESTRING, 6 MULTIPOLYGON, 7 GEOMETRYCOLLECTION). */
  geometryType: number | null
  /** From COLUMN_VISIBILITY (MySQL 8.0.23+); null when not sent. */
  visible: boolean | null
}

/** Bytes used by 0..9 leftover decimal digits in the binary DECIMAL format. */
const DIG2BYTES = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4]

/** The storage size in bytes of a binary DECIMAL(precision, scale). */
export function decimalBinarySize(precision: number, scale: number): number {
  const intg = precision - scale
  return ((intg / 9) | 0) * 4 + DIG2BYTES[intg % 9]! + ((scale / 9) | 0) * 4 + DIG2BYTES[scale % 9]!
}

/** Reads `n` (≤ 4) big-endian bytes at `p`, each XORed with `mask`; the byte at `signAt` also has its top bit flipped. */
function readBeMasked(buf: Buffer, p: number, n: number, mask: number, signAt: number): number {
  let v = 0
  for (let i = 0; i < n; i++) v = v * 256 + (buf[p + i]! ^ mask ^ (p + i === signAt ? 0x80 : 0))
  return v
}

/**
 * Binary DECIMAL → exact decimal string. The integer and fraction parts are each stored as
 * groups of 9 digits in 4 big-endian bytes, the leftover digits in DIG2BYTES bytes (the
 * integer part's leftover first, the fraction's last). The first byte's top bit is flipped
 * (1 = positive); a negative number additionally has every byte inverted.
 */
export function decodeDecimal(buf: Buffer, start: number, precision: number, scale: number): string {
  const intg = precision - scale
  const intg0 = (intg / 9) | 0
  const intg0x = intg % 9
  const frac0 = (scale / 9) | 0
  const frac0x = scale % 9
  const negative = (buf[start]! & 0x80) === 0
  const mask = negative ? 0xff : 0
  let p = start
  let intPart = ''
  {
    if (intg0x > 0) {
      const n = DIG2BYTES[intg0x]!
      const v = readBeMasked(buf, p, n, mask, start)
      p += n
      if (v !== 0) intPart = String(v)
    }
    for (let i = 0; i < intg0; i++) {
      const v = readBeMasked(buf, p, 4, mask, start)
      p += 4
      if (intPart === '') {
        if (v !== 0) intPart = String(v)
      } else intPart += String(v).padStart(9, '0')
    }
    let frac = ''
    for (let i = 0; i < frac0; i++) {
      frac += String(readBeMasked(buf, p, 4, mask, start)).padStart(9, '0')
      p += 4
    }
    if (frac0x > 0) {
      const n = DIG2BYTES[frac0x]!
      frac += String(readBeMasked(buf, p, n, mask, start)).padStart(frac0x, '0')
    }
    const text = (intPart === '' ? '0' : intPart) + (scale > 0 ? '.' + frac : '')
    return negative ? '-' + text : text
  }
}

/** Bytes of fractional seconds stored after TIME2/DATETIME2/TIMESTAMP2 for fsp 0..6. */
const FSP_BYTES = [0, 1, 1, 2, 2, 3, 3]

/** Reads the fractional-second bytes of fsp `fsp` at r.pos as microseconds (unsigned). */
function readFracMicros(r: Reader, fsp: number): number {
  const b = r.buf
  const p = r.pos
  switch (FSP_BYTES[fsp]) {
    case 1:
      r.pos = p + 1
      return b[p]! * 10000
    case 2:
      r.pos = p + 2
      return ((b[p]! << 8) | b[p + 1]!) * 100
    case 3:
      r.pos = p + 3
      return (b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!
    default:
      return 0
  }
}

/** 2^24: TIME2 and DATETIME2 keep the integer part above 24 bits of fraction in their packed form. */
const TWO24 = 0x1000000

/**
 * TIME2: 3 bytes big-endian, offset by 0x800000: sign, 1 reserved bit, hour (10 bits),
 * minute (6), second (6); then FSP_BYTES[fsp] fraction bytes. A negative time is stored as
 * one offset-binary number over integer and fraction together, so the fraction borrows
 * from the integer part.
 */
function readTime2(r: Reader, fsp: number): MysqlTime {
  const nfrac = FSP_BYTES[fsp] ?? 0
  r.need(3 + nfrac, 'TIME2 value')
  const b = r.buf
  const p = r.pos
  const intPart = ((b[p]! << 16) | (b[p + 1]! << 8) | b[p + 2]!) - 0x800000
  // Packed value = intPart × 2^24 + fraction in µs (MySQL's my_time_packed_from_binary).
  let ip = intPart
  let f = 0
  if (nfrac === 1) {
    f = b[p + 3]!
    if (ip < 0 && f !== 0) {
      ip++
      f -= 0x100
    }
    f *= 10000
  } else if (nfrac === 2) {
    f = (b[p + 3]! << 8) | b[p + 4]!
    if (ip < 0 && f !== 0) {
      ip++
      f -= 0x10000
    }
    f *= 100
  } else if (nfrac === 3) {
    // fsp 5–6: integer and fraction form one 48-bit offset-binary number; no borrow needed.
    f = (b[p + 3]! << 16) | (b[p + 4]! << 8) | b[p + 5]!
  }
  r.pos = p + 3 + nfrac
  let packed = ip * TWO24 + f
  const negative = packed < 0
  if (negative) packed = -packed
  const hms = Math.floor(packed / TWO24)
  const micros = packed - hms * TWO24
  return {
    negative,
    hours: (hms >> 12) & 0x3ff,
    minutes: (hms >> 6) & 0x3f,
    seconds: hms & 0x3f,
    micros,
  }
}

/**
 * DATETIME2: 5 bytes big-endian, offset by 0x8000000000: sign, year×13+month (17 bits),
 * day (5), hour (5), minute (6), second (6); then FSP_BYTES[fsp] fraction bytes.
 */
function readDateTime2(r: Reader, fsp: number): MysqlDateTime {
  r.need(5 + (FSP_BYTES[fsp] ?? 0), 'DATETIME2 value')
  const b = r.buf
  const p = r.pos
  const hi = b[p]! - 0x80 // top byte without the offset bit
  const lo = ((b[p + 1]! << 24) | (b[p + 2]! << 16) | (b[p + 3]! << 8) | b[p + 4]!) >>> 0
  r.pos = p + 5
  const micros = readFracMicros(r, fsp)
  const ymdhms = hi * 0x100000000 + lo
  const ymd = Math.floor(ymdhms / 0x20000)
  const hms = lo & 0x1ffff
  const ym = ymd >> 5
  return {
    year: Math.floor(ym / 13),
    month: ym % 13,
    day: ymd & 31,
    hour: hms >> 12,
    minute: (hms >> 6) & 63,
    second: hms & 63,
    micros,
  }
}

/** TIMESTAMP2: 4 bytes big-endian epoch seconds, then the fraction bytes. */
function readTimestamp2(r: Reader, fsp: number): MysqlTimestamp {
  r.need(4 + (FSP_BYTES[fsp] ?? 0), 'TIMESTAMP2 value')
  const b = r.buf
  const p = r.pos
  const epochSeconds = b[p]! * 0x1000000 + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!)
  r.pos = p + 4
  return { epochSeconds, micros: readFracMicros(r, fsp) }
}

/** Old TIME (pre-5.6): 3 bytes little-endian signed integer HHMMSS. */
function readOldTime(r: Reader): MysqlTime {
  let v = r.u24('TIME value')
  if (v & 0x800000) v -= 0x1000000
  const negative = v < 0
  if (negative) v = -v
  return {
    negative,
    hours: Math.floor(v / 10000),
    minutes: Math.floor(v / 100) % 100,
    seconds: v % 100,
    micros: 0,
  }
}

/** Old DATETIME (pre-5.6): 8 bytes little-endian integer YYYYMMDDhhmmss. */
function readOldDateTime(r: Reader): MysqlDateTime {
  const lo = r.u32('DATETIME value')
  const hi = r.u32('DATETIME value')
  const v = hi * 0x100000000 + lo
  const date = Math.floor(v / 1000000)
  const time = v % 1000000
  return {
    year: Math.floor(date / 10000),
    month: Math.floor(date / 100) % 100,
    day: date % 100,
    hour: Math.floor(time / 10000),
    minute: Math.floor(time / 100) % 100,
    second: time % 100,
    micros: 0,
  }
}

/** BIGINT: a number when it is a safe integer, else a bigint. */
function readLongLong(r: Reader, unsigned: boolean): number | bigint {
  r.need(8, 'BIGINT value')
  const b = r.buf
  const p = r.pos
  r.pos = p + 8
  const lo = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16)) + b[p + 3]! * 0x1000000
  const hiU = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16)) + b[p + 7]! * 0x1000000
  if (unsigned) {
    if (hiU < 0x200000) return hiU * 0x100000000 + lo
    return b.readBigUInt64LE(p)
  }
  const hi = hiU | 0
  if (hi >= -0x200000 && hi < 0x200000) {
    const v = hi * 0x100000000 + lo
    if (Number.isSafeInteger(v)) return v
  }
  return b.readBigInt64LE(p)
}

/** Reads a little-endian unsigned length prefix of `n` (1–4) bytes. */
function readLength(r: Reader, n: number, what: string): number {
  switch (n) {
    case 1:
      return r.u8(what)
    case 2:
      return r.u16(what)
    case 3:
      return r.u24(what)
    case 4:
      return r.u32(what)
    default:
      return r.fail(`${what}: invalid length-prefix size ${n}`)
  }
}

/**
 * A MariaDB COMPRESSED column value (`sql/field_comp.cc`): header byte, then either the value
 * stored as-is (header bit 0x80 clear), or (bit 0x80 set) the original length in
 * `header & 7` big-endian bytes followed by a raw deflate stream (observed header 0x89:
 * 1 length byte; bits 3–6 carry zlib parameters).
 */
function decompressColumn(r: Reader, start: number, end: number): Buffer {
  if (end === start) return Buffer.alloc(0)
  const b = r.buf
  const header = b[start]!
  if ((header & 0x80) === 0) return b.subarray(start + 1, end)
  const lenBytes = header & 7
  if (lenBytes < 1 || lenBytes > 4 || start + 1 + lenBytes > end) {
    r.fail(`compressed column: bad envelope header 0x${header.toString(16)}`)
  }
  let original = 0
  for (let i = 0; i < lenBytes; i++) original = original * 256 + b[start + 1 + i]!
  let out: Buffer
  try {
    out = inflateRawSync(b.subarray(start + 1 + lenBytes, end), { maxOutputLength: Math.max(original, 1) })
  } catch (err) {
    return r.fail(`compressed column: inflate failed (${(err as Error).message})`)
  }
  if (out.length !== original)
    r.fail(`compressed column: inflated ${out.length} bytes, header says ${original}`)
  return out
}

/** Text or Buffer for `[start, end)` of `buf` in the column's charset (Buffer when unknown charset info). */
function textOf(
  buf: Buffer,
  start: number,
  end: number,
  cs: Charset | null,
): string | Buffer | UndecodedText {
  if (cs === null) return Buffer.from(buf.subarray(start, end))
  return decodeText(buf, start, end, cs)
}

/** CHAR / BINARY (STRING 254 with real type STRING): strip CHAR padding, re-pad BINARY. */
function readFixedString(r: Reader, col: ColumnInfo): string | Buffer | UndecodedText {
  const len = col.length < 256 ? r.u8('CHAR length') : r.u16('CHAR length')
  r.need(len, 'CHAR value')
  const b = r.buf
  const start = r.pos
  let end = start + len
  r.pos = end
  const cs = col.charset
  if (cs !== null && cs.kind === CharsetKind.Binary) {
    // The server strips trailing 0x00 from BINARY(n) in row images; SELECT returns n bytes.
    if (len >= col.length) return Buffer.from(b.subarray(start, end))
    const out = Buffer.alloc(col.length)
    b.copy(out, 0, start, end)
    return out
  }
  // CHAR: trailing spaces are not significant (PAD_CHAR_TO_FULL_LENGTH off), as SELECT shows.
  if (cs !== null && cs.asciiSpace) while (end > start && b[end - 1] === 0x20) end--
  return textOf(b, start, end, cs)
}

/** A SET bitmask of `n` bytes → labels (or the mask when labels are unknown). */
function readSet(r: Reader, col: ColumnInfo): string[] | number | bigint {
  const n = col.length
  r.need(n, 'SET value')
  const b = r.buf
  const p = r.pos
  r.pos = p + n
  const labels = col.setValues
  if (labels === null) {
    if (n <= 6) {
      let v = 0
      for (let i = n - 1; i >= 0; i--) v = v * 256 + b[p + i]!
      return v
    }
    let v = 0n
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[p + i]!)
    return v
  }
  const out: string[] = []
  for (let i = 0; i < labels.length && i < n * 8; i++) {
    if (b[p + (i >> 3)]! & (1 << (i & 7))) out.push(labels[i]!)
  }
  return out
}

/**
 * Reads one non-NULL value of `col` at r.pos and advances past it. Throws a BinlogDecodeError
 * when the value runs past the event or the type cannot appear in a row.
 */
export function readValue(r: Reader, col: ColumnInfo): BinlogValue {
  const b = r.buf
  switch (col.realType) {
    case ColumnType.Tiny: {
      const v = r.u8('TINYINT value')
      return col.unsigned ? v : (v << 24) >> 24
    }
    case ColumnType.Short: {
      const v = r.u16('SMALLINT value')
      return col.unsigned ? v : (v << 16) >> 16
    }
    case ColumnType.Int24: {
      const v = r.u24('MEDIUMINT value')
      return col.unsigned ? v : (v << 8) >> 8
    }
    case ColumnType.Long: {
      const v = r.u32('INT value')
      return col.unsigned ? v : v | 0
    }
    case ColumnType.LongLong:
      return readLongLong(r, col.unsigned)
    case ColumnType.Float: {
      r.need(4, 'FLOAT value')
      const v = b.readFloatLE(r.pos)
      r.pos += 4
      return v
    }
    case ColumnType.Double: {
      r.need(8, 'DOUBLE value')
      const v = b.readDoubleLE(r.pos)
      r.pos += 8
      return v
    }
    case ColumnType.NewDecimal: {
      const size = decimalBinarySize(col.length, col.scale)
      r.need(size, 'DECIMAL value')
      const v = decodeDecimal(b, r.pos, col.length, col.scale)
      r.pos += size
      return v
    }
    case ColumnType.Year: {
      const v = r.u8('YEAR value')
      return v === 0 ? 0 : 1900 + v
    }
    case ColumnType.Date: {
      // 3 bytes LE: day bits 0–4, month 5–8, year 9–23.
      const v = r.u24('DATE value')
      return { year: v >>> 9, month: (v >>> 5) & 15, day: v & 31 }
    }
    case ColumnType.Time2:
      return readTime2(r, col.length)
    case ColumnType.DateTime2:
      return readDateTime2(r, col.length)
    case ColumnType.Timestamp2:
      return readTimestamp2(r, col.length)
    case ColumnType.Time:
      return readOldTime(r)
    case ColumnType.DateTime:
      return readOldDateTime(r)
    case ColumnType.Timestamp:
      return { epochSeconds: r.u32('TIMESTAMP value'), micros: 0 }
    case ColumnType.VarChar:
    case ColumnType.VarString: {
      const len = col.length < 256 ? r.u8('VARCHAR length') : r.u16('VARCHAR length')
      r.need(len, 'VARCHAR value')
      const start = r.pos
      r.pos = start + len
      return textOf(b, start, start + len, col.charset)
    }
    case ColumnType.String:
      return readFixedString(r, col)
    case ColumnType.Enum: {
      const idx = col.length === 1 ? r.u8('ENUM value') : r.u16('ENUM value')
      const labels = col.enumValues
      if (labels === null) return idx
      return idx === 0
        ? ''
        : (labels[idx - 1] ?? r.fail(`ENUM index ${idx} out of range (${labels.length} labels)`))
    }
    case ColumnType.Set:
      return readSet(r, col)
    case ColumnType.Bit: {
      const n = (col.length + 7) >> 3
      return { bits: col.length, bytes: r.bytes(n, 'BIT value') }
    }
    case ColumnType.Blob:
    case ColumnType.TinyBlob:
    case ColumnType.MediumBlob:
    case ColumnType.LongBlob: {
      const len = readLength(r, col.length, 'BLOB length')
      r.need(len, 'BLOB value')
      const start = r.pos
      r.pos = start + len
      return textOf(b, start, start + len, col.charset)
    }
    case ColumnType.Json: {
      const len = readLength(r, col.length, 'JSON length')
      const view = r.view(len, 'JSON value')
      try {
        return jsonBinaryToText(view)
      } catch (err) {
        return r.fail(`JSON value: ${(err as Error).message}`)
      }
    }
    case ColumnType.Geometry: {
      const len = readLength(r, col.length, 'GEOMETRY length')
      if (len < 4) r.fail(`GEOMETRY value of ${len} bytes has no SRID`)
      const srid = r.u32('GEOMETRY SRID')
      return { srid, wkb: r.bytes(len - 4, 'GEOMETRY WKB') }
    }
    case ColumnType.Vector: {
      const len = readLength(r, col.length, 'VECTOR length')
      const bytes = r.view(len, 'VECTOR value')
      const out = new Float32Array(len >> 2)
      for (let i = 0; i < out.length; i++) out[i] = bytes.readFloatLE(i * 4)
      return out
    }
    case ColumnType.BlobCompressed: {
      const len = readLength(r, col.length, 'compressed BLOB length')
      r.need(len, 'compressed BLOB value')
      const start = r.pos
      r.pos = start + len
      const raw = decompressColumn(r, start, start + len)
      return textOf(raw, 0, raw.length, col.charset)
    }
    case ColumnType.VarCharCompressed: {
      const len = col.length < 256 ? r.u8('compressed VARCHAR length') : r.u16('compressed VARCHAR length')
      r.need(len, 'compressed VARCHAR value')
      const start = r.pos
      r.pos = start + len
      const raw = decompressColumn(r, start, start + len)
      return textOf(raw, 0, raw.length, col.charset)
    }
    default:
      return r.fail(`column ${col.index} has type ${col.realType}, which cannot appear in a row event`)
  }
}
