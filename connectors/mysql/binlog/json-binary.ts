/**
 * MySQL binary JSON (the storage and binlog format of MySQL's JSON type, 245) → JSON text,
 * formatted as MySQL prints it (`{"a": 1, "b": [true, null]}`). Layout, from mysql-server
 * `sql-common/json_binary.h`: a document is one type byte followed by the value. Objects
 * and arrays come in a small (2-byte counts and offsets) and a large (4-byte) flavour:
 *
 *   object: element count, total size, key entries (key offset, key length u16),
 *           value entries (type u8, offset or inlined value), keys, values
 *   array:  element count, total size, value entries, values
 *
 * Offsets are relative to the start of the object/array (after its type byte). Literals
 * and 16-bit integers are inlined in the value entry; in the large flavour 32-bit integers
 * are too. Strings carry a variable-length size (7 bits a byte, low group first, high bit =
 * more). Opaque values carry the MySQL column type of what they hold (DECIMAL, DATE, TIME,
 * DATETIME, TIMESTAMP, or anything else as base64).
 */
import { decodeDecimal, decimalBinarySize } from './values.js'

/** Type byte of a binary JSON value. */
export const JsonType = {
  SmallObject: 0x00,
  LargeObject: 0x01,
  SmallArray: 0x02,
  LargeArray: 0x03,
  /** One byte: JsonLiteral. */
  Literal: 0x04,
  Int16: 0x05,
  Uint16: 0x06,
  Int32: 0x07,
  Uint32: 0x08,
  Int64: 0x09,
  Uint64: 0x0a,
  Double: 0x0b,
  /** Variable-length size, then UTF-8 bytes. */
  String: 0x0c,
  /** Column type u8, variable-length size, then the value in that type's binary form. */
  Opaque: 0x0f,
} as const

/** Values of a Literal. */
export const JsonLiteral = { Null: 0x00, True: 0x01, False: 0x02 } as const

/** MySQL column types that appear inside opaque JSON values with a readable rendering. */
const OPAQUE_DECIMAL = 246
const OPAQUE_DATE = 10
const OPAQUE_TIME = 11
const OPAQUE_DATETIME = 12
const OPAQUE_TIMESTAMP = 7

class JsonError extends Error {}

function fail(message: string): never {
  throw new JsonError(message)
}

/** Reads an unsigned little-endian integer of 2 or 4 bytes at `p`, bounds-checked against `end`. */
function uint(buf: Buffer, p: number, large: boolean, end: number): number {
  if (large) {
    if (p + 4 > end) fail('binary JSON truncated')
    return buf.readUInt32LE(p)
  }
  if (p + 2 > end) fail('binary JSON truncated')
  return buf.readUInt16LE(p)
}

/** Zero-pads a non-negative integer to `n` digits. */
function pad(v: number, n: number): string {
  return String(v).padStart(n, '0')
}

/**
 * MySQL's packed temporal (`TIME_to_longlong_packed`), as stored in JSON opaque values:
 * int64 LE, negative for negative TIMEs; the low 24 bits are microseconds; above them
 * DATETIME has ((year×13+month)<<5 | day) << 17 | hour<<12 | minute<<6 | second, and TIME
 * has hour<<12 | minute<<6 | second.
 */
function packedTemporal(buf: Buffer, p: number, end: number, type: number): string {
  if (p + 8 > end) fail('binary JSON opaque temporal truncated')
  let v = buf.readBigInt64LE(p)
  const negative = v < 0n
  if (negative) v = -v
  const micros = Number(v & 0xffffffn)
  const intPart = Number(v >> 24n)
  const frac = '.' + pad(micros, 6)
  if (type === OPAQUE_TIME) {
    const hms = intPart
    return `${negative ? '-' : ''}${pad((hms >> 12) & 0x3ff, 2)}:${pad((hms >> 6) & 63, 2)}:${pad(hms & 63, 2)}${frac}`
  }
  const ymd = Math.floor(intPart / 0x20000)
  const hms = intPart % 0x20000
  const ym = ymd >> 5
  const date = `${pad(Math.floor(ym / 13), 4)}-${pad(ym % 13, 2)}-${pad(ymd & 31, 2)}`
  if (type === OPAQUE_DATE) return date
  return `${date} ${pad(hms >> 12, 2)}:${pad((hms >> 6) & 63, 2)}:${pad(hms & 63, 2)}${frac}`
}

/** A double as MySQL prints it: integral values keep a `.0`. */
function formatDouble(v: number): string {
  if (!Number.isFinite(v)) fail('binary JSON double is not finite')
  const s = String(v)
  return Number.isInteger(v) && s.indexOf('e') < 0 ? s + '.0' : s
}

/** Reads a variable-length size at `p`; returns [value, bytes used]. */
function varLength(buf: Buffer, p: number, end: number): [number, number] {
  let v = 0
  for (let i = 0; i < 5; i++) {
    if (p + i >= end) fail('binary JSON variable-length size truncated')
    const byte = buf[p + i]!
    v += (byte & 0x7f) * 2 ** (7 * i)
    if ((byte & 0x80) === 0) return [v, i + 1]
  }
  return fail('binary JSON variable-length size too long')
}

function opaque(buf: Buffer, p: number, end: number): string {
  if (p >= end) fail('binary JSON opaque truncated')
  const type = buf[p]!
  const [len, n] = varLength(buf, p + 1, end)
  const start = p + 1 + n
  if (start + len > end) fail('binary JSON opaque value truncated')
  switch (type) {
    case OPAQUE_DECIMAL: {
      if (len < 2) fail('binary JSON decimal truncated')
      const precision = buf[start]!
      const scale = buf[start + 1]!
      if (scale > precision || precision > 65 || decimalBinarySize(precision, scale) > len - 2) {
        fail('binary JSON decimal has a bad precision/scale')
      }
      return decodeDecimal(buf, start + 2, precision, scale)
    }
    case OPAQUE_DATE:
    case OPAQUE_TIME:
    case OPAQUE_DATETIME:
    case OPAQUE_TIMESTAMP:
      return JSON.stringify(packedTemporal(buf, start, start + len, type))
    default:
      return JSON.stringify(`base64:type${type}:${buf.toString('base64', start, start + len)}`)
  }
}

/** Renders the scalar or container of `type` whose data starts at `p` (container data: after its type byte). */
function value(buf: Buffer, type: number, p: number, end: number, depth: number): string {
  switch (type) {
    case JsonType.SmallObject:
    case JsonType.LargeObject:
      return container(buf, p, end, type === JsonType.LargeObject, true, depth)
    case JsonType.SmallArray:
    case JsonType.LargeArray:
      return container(buf, p, end, type === JsonType.LargeArray, false, depth)
    case JsonType.Literal:
      if (p >= end) fail('binary JSON literal truncated')
      return literal(buf[p]!)
    case JsonType.Int16:
      if (p + 2 > end) fail('binary JSON int16 truncated')
      return String(buf.readInt16LE(p))
    case JsonType.Uint16:
      if (p + 2 > end) fail('binary JSON uint16 truncated')
      return String(buf.readUInt16LE(p))
    case JsonType.Int32:
      if (p + 4 > end) fail('binary JSON int32 truncated')
      return String(buf.readInt32LE(p))
    case JsonType.Uint32:
      if (p + 4 > end) fail('binary JSON uint32 truncated')
      return String(buf.readUInt32LE(p))
    case JsonType.Int64:
      if (p + 8 > end) fail('binary JSON int64 truncated')
      return String(buf.readBigInt64LE(p))
    case JsonType.Uint64:
      if (p + 8 > end) fail('binary JSON uint64 truncated')
      return String(buf.readBigUInt64LE(p))
    case JsonType.Double:
      if (p + 8 > end) fail('binary JSON double truncated')
      return formatDouble(buf.readDoubleLE(p))
    case JsonType.String: {
      const [len, n] = varLength(buf, p, end)
      if (p + n + len > end) fail('binary JSON string truncated')
      return JSON.stringify(buf.toString('utf8', p + n, p + n + len))
    }
    case JsonType.Opaque:
      return opaque(buf, p, end)
    default:
      return fail(`binary JSON has unknown value type 0x${type.toString(16)}`)
  }
}

function literal(v: number): string {
  switch (v) {
    case JsonLiteral.Null:
      return 'null'
    case JsonLiteral.True:
      return 'true'
    case JsonLiteral.False:
      return 'false'
    default:
      return fail(`binary JSON has unknown literal 0x${v.toString(16)}`)
  }
}

/** Whether a value of `type` is stored inline in its value entry. */
function inlined(type: number, large: boolean): boolean {
  switch (type) {
    case JsonType.Literal:
    case JsonType.Int16:
    case JsonType.Uint16:
      return true
    case JsonType.Int32:
    case JsonType.Uint32:
      return large
    default:
      return false
  }
}

/** An object or array whose header starts at `base` (just after its type byte). */
function container(
  buf: Buffer,
  base: number,
  end: number,
  large: boolean,
  isObject: boolean,
  depth: number,
): string {
  if (depth > 100) fail('binary JSON nested too deeply')
  const w = large ? 4 : 2
  const count = uint(buf, base, large, end)
  const size = uint(buf, base + w, large, end)
  if (size > end - base) fail('binary JSON container size exceeds its value')
  const cend = base + size
  const keyEntries = base + 2 * w
  const valueEntries = keyEntries + (isObject ? count * (w + 2) : 0)
  if (valueEntries + count * (1 + w) > cend) fail('binary JSON container entries exceed its size')
  let out = isObject ? '{' : '['
  for (let i = 0; i < count; i++) {
    if (i > 0) out += ', '
    if (isObject) {
      const ke = keyEntries + i * (w + 2)
      const keyOffset = uint(buf, ke, large, cend)
      const keyLength = buf.readUInt16LE(ke + w)
      if (base + keyOffset + keyLength > cend) fail('binary JSON key outside its object')
      out += JSON.stringify(buf.toString('utf8', base + keyOffset, base + keyOffset + keyLength)) + ': '
    }
    const ve = valueEntries + i * (1 + w)
    const type = buf[ve]!
    if (inlined(type, large)) {
      out += value(buf, type, ve + 1, ve + 1 + w, depth + 1)
    } else {
      const offset = uint(buf, ve + 1, large, cend)
      if (offset >= size) fail('binary JSON value outside its container')
      out += value(buf, type, base + offset, cend, depth + 1)
    }
  }
  return out + (isObject ? '}' : ']')
}

/**
 * Renders one binary JSON document as JSON text. An empty document is JSON null (MySQL logs
 * that for a JSON column set to the JSON literal null in some versions). Throws an Error
 * for malformed input; never reads outside `doc`.
 */
export function jsonBinaryToText(doc: Buffer): string {
  if (doc.length === 0) return 'null'
  return value(doc, doc[0]!, 1, doc.length, 0)
}
