/**
 * A small MySQL binary JSON encoder for tests, written from the layout documented in
 * connectors/mysql/binlog/json-binary.ts. Values are tagged so each scalar type can be
 * chosen explicitly.
 */
import { le } from './build.js'

/** A JSON value with explicit binary types. */
export type J =
  | null
  | boolean
  | string
  | { int16: number }
  | { uint16: number }
  | { int32: number }
  | { uint32: number }
  | { int64: bigint }
  | { uint64: bigint }
  | { double: number }
  | { opaque: [number, Buffer] }
  | { array: J[]; large?: boolean }
  | { object: [string, J][]; large?: boolean }

interface Encoded {
  type: number
  data: Buffer
}

function varLen(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n & 0x7f
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

function encode(j: J): Encoded {
  if (j === null) return { type: 0x04, data: Buffer.from([0]) }
  if (j === true) return { type: 0x04, data: Buffer.from([1]) }
  if (j === false) return { type: 0x04, data: Buffer.from([2]) }
  if (typeof j === 'string') {
    const b = Buffer.from(j)
    return { type: 0x0c, data: Buffer.concat([varLen(b.length), b]) }
  }
  if ('int16' in j) return { type: 0x05, data: le(j.int16, 2) }
  if ('uint16' in j) return { type: 0x06, data: le(j.uint16, 2) }
  if ('int32' in j) return { type: 0x07, data: le(j.int32, 4) }
  if ('uint32' in j) return { type: 0x08, data: le(j.uint32, 4) }
  if ('int64' in j) return { type: 0x09, data: le(j.int64, 8) }
  if ('uint64' in j) return { type: 0x0a, data: le(j.uint64, 8) }
  if ('double' in j) {
    const b = Buffer.alloc(8)
    b.writeDoubleLE(j.double)
    return { type: 0x0b, data: b }
  }
  if ('opaque' in j) {
    const [t, b] = j.opaque
    return { type: 0x0f, data: Buffer.concat([Buffer.from([t]), varLen(b.length), b]) }
  }
  const large = j.large ?? false
  const w = large ? 4 : 2
  const isObject = 'object' in j
  const entries: [string | null, J][] = isObject ? j.object : j.array.map((v) => [null, v])
  const n = entries.length
  const headerSize = 2 * w + (isObject ? n * (w + 2) : 0) + n * (1 + w)
  const keys = entries.map(([k]) => Buffer.from(k ?? ''))
  let offset = headerSize + keys.reduce((a, k) => a + k.length, 0)
  const keyEntries: Buffer[] = []
  let keyOffset = headerSize
  for (const k of keys) {
    keyEntries.push(Buffer.concat([le(keyOffset, w), le(k.length, 2)]))
    keyOffset += k.length
  }
  const valueEntries: Buffer[] = []
  const values: Buffer[] = []
  for (const [, v] of entries) {
    const e = encode(v)
    const inline =
      e.type === 0x04 || e.type === 0x05 || e.type === 0x06 || (large && (e.type === 0x07 || e.type === 0x08))
    if (inline) {
      const slot = Buffer.alloc(w)
      e.data.copy(slot)
      valueEntries.push(Buffer.concat([Buffer.from([e.type]), slot]))
    } else {
      valueEntries.push(Buffer.concat([Buffer.from([e.type]), le(offset, w)]))
      values.push(e.data)
      offset += e.data.length
    }
  }
  const body = Buffer.concat([
    ...(isObject ? keyEntries : []),
    ...valueEntries,
    ...(isObject ? keys : []),
    ...values,
  ])
  const size = 2 * w + body.length
  return {
    type: isObject ? (large ? 0x01 : 0x00) : large ? 0x03 : 0x02,
    data: Buffer.concat([le(n, w), le(size, w), body]),
  }
}

/** A binary JSON document: type byte + value. */
export function jsonBinary(j: J): Buffer {
  const e = encode(j)
  return Buffer.concat([Buffer.from([e.type]), e.data])
}
