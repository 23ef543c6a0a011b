/**
 * Integer and calendar helpers shared by the connectors' type mappers (connectors/<name>/types.ts).
 */

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (Postgres uses the proleptic Gregorian
 * calendar for all dates). `y` is astronomical: 1 BC is year 0, 44 BC is -43.
 */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0
  const era = Math.floor(y / 400)
  const yoe = y - era * 400
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
}

/** The inverse of daysFromCivil: [astronomical year, month, day]. */
export function civilFromDays(z: number): [number, number, number] {
  z += 719468
  const era = Math.floor(z / 146097)
  const doe = z - era * 146097
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  )
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100))
  const mp = Math.floor((5 * doy + 2) / 153)
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1
  const m = mp < 10 ? mp + 3 : mp - 9
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d]
}

// Two's-complement big-endian bytes, as java.math.BigInteger.toByteArray(): the minimal length
// that holds the sign (0 is one 0x00 byte). Avro's decimal and Kafka Connect's Decimal both
// carry the unscaled integer this way.

const INT_LIMITS = [2 ** 7, 2 ** 15, 2 ** 23, 2 ** 31, 2 ** 39, 2 ** 47]

/** Minimal big-endian two's-complement bytes of an integer. */
export function twosComplement(n: number | bigint): Buffer {
  if (typeof n === 'number') {
    for (let len = 1; len <= 6; len++) {
      const lim = INT_LIMITS[len - 1]!
      if (n >= -lim && n < lim) {
        const b = Buffer.allocUnsafe(len)
        b.writeIntBE(n, 0, len)
        return b
      }
    }
    n = BigInt(n)
  }
  let len = 1
  let lim = 128n
  while (n < -lim || n >= lim) {
    len++
    lim <<= 8n
  }
  const b = Buffer.allocUnsafe(len)
  let v = BigInt.asUintN(len * 8, n)
  for (let i = len - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn)
    v >>= 8n
  }
  return b
}

/** `digits` (ASCII 0-9 only) as a signed integer: a number up to 15 digits, else a bigint. */
export function unscaled(neg: boolean, digits: string): number | bigint {
  if (digits.length <= 15) {
    const n = Number(digits)
    return neg ? -n : n
  }
  const b = BigInt(digits)
  return neg ? -b : b
}

/**
 * A decimal in text (`-12.5`) as its unscaled integer at `scale` (`-1250` at scale 2), the
 * form Avro's decimal and Kafka Connect's Decimal carry. Fraction digits beyond `scale` are
 * accepted only when they are zeros (dropping others would change the value): null then, and
 * also when the text is not a plain decimal.
 */
export function unscaledDecimal(t: string, scale: number): number | bigint | null {
  const neg = t.charCodeAt(0) === 0x2d // '-'
  const start = neg ? 1 : 0
  const dot = t.indexOf('.', start)
  let digits: string
  if (dot < 0) {
    digits = scale === 0 ? t.slice(start) : t.slice(start) + '0'.repeat(scale)
  } else {
    const fracLen = t.length - dot - 1
    if (fracLen <= scale) {
      digits = t.slice(start, dot) + t.slice(dot + 1) + '0'.repeat(scale - fracLen)
    } else {
      for (let i = dot + 1 + scale; i < t.length; i++) if (t.charCodeAt(i) !== 0x30) return null
      digits = t.slice(start, dot) + t.slice(dot + 1, dot + 1 + scale)
    }
  }
  if (digits.length === 0 || !/^[0-9]+$/.test(digits)) return null
  return unscaled(neg, digits)
}
