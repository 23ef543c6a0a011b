/**
 * Byte builders for hand-made binlog events (the MySQL 8 layouts and edge cases no captured
 * file has), following the layouts documented in connectors/mysql/binlog/.
 */
import { crc32 } from 'node:zlib'

/** Little-endian unsigned integer of `n` bytes. */
export function le(v: number | bigint, n: number): Buffer {
  const b = Buffer.alloc(n)
  let x = BigInt(v)
  if (x < 0n) x += 1n << BigInt(8 * n)
  for (let i = 0; i < n; i++) {
    b[i] = Number(x & 0xffn)
    x >>= 8n
  }
  return b
}

/** Length-encoded integer. */
export function lenenc(v: number): Buffer {
  if (v < 0xfb) return Buffer.from([v])
  if (v < 0x10000) return Buffer.concat([Buffer.from([0xfc]), le(v, 2)])
  if (v < 0x1000000) return Buffer.concat([Buffer.from([0xfd]), le(v, 3)])
  return Buffer.concat([Buffer.from([0xfe]), le(v, 8)])
}

/** Length-encoded string. */
export function lenencStr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  return Buffer.concat([lenenc(b.length), b])
}

/** Options of event(). */
export interface EventOptions {
  crc?: boolean
  logPos?: number
  flags?: number
  serverId?: number
  timestamp?: number
}

/** A whole event: 19-byte header, body, and a CRC32 unless `crc: false`. */
export function event(type: number, body: Buffer, opts: EventOptions = {}): Buffer {
  const crc = opts.crc ?? true
  const size = 19 + body.length + (crc ? 4 : 0)
  const header = Buffer.concat([
    le(opts.timestamp ?? 1_795_000_000, 4),
    Buffer.from([type]),
    le(opts.serverId ?? 1, 4),
    le(size, 4),
    le(opts.logPos ?? 1000, 4),
    le(opts.flags ?? 0, 2),
  ])
  const noCrc = Buffer.concat([header, body])
  return crc ? Buffer.concat([noCrc, le(crc32(noCrc), 4)]) : noCrc
}

/** Post-header lengths as a MySQL 8 server sends them (index = type − 1); only the ones we use matter. */
export function postHeaderLengths(count = 41): Buffer {
  const b = Buffer.alloc(count)
  b[2 - 1] = 13 // QUERY
  b[19 - 1] = 8 // TABLE_MAP
  b[23 - 1] = 8
  b[24 - 1] = 8
  b[25 - 1] = 8
  b[30 - 1] = 10
  b[31 - 1] = 10
  b[32 - 1] = 10
  return b
}

/** A FORMAT_DESCRIPTION_EVENT for `version` with checksum algorithm `alg`. */
export function fde(version: string, alg: 0 | 1, count = 41): Buffer {
  const v = Buffer.alloc(50)
  v.write(version, 'latin1')
  const body = Buffer.concat([
    le(4, 2),
    v,
    le(0, 4),
    Buffer.from([19]),
    postHeaderLengths(count),
    Buffer.from([alg]),
  ])
  // The FDE always has 4 checksum bytes after the alg byte; with alg 0 they are not a valid CRC.
  if (alg === 1) return event(15, body, { crc: true, logPos: 0 })
  return event(15, Buffer.concat([body, Buffer.from([0xde, 0xad, 0xbe, 0xef])]), { crc: false, logPos: 0 })
}

/** One TABLE_MAP column: type byte, metadata bytes, nullable. */
export interface ColDef {
  type: number
  meta?: number[]
  nullable?: boolean
}

/** A TABLE_MAP body. */
export function tableMapBody(
  tableId: number,
  schema: string,
  table: string,
  cols: ColDef[],
  tlvs: Buffer[] = [],
): Buffer {
  const meta = Buffer.from(cols.flatMap((c) => c.meta ?? []))
  const nulls = Buffer.alloc((cols.length + 7) >> 3)
  cols.forEach((c, i) => {
    if (c.nullable ?? true) nulls[i >> 3]! |= 1 << (i & 7)
  })
  return Buffer.concat([
    le(tableId, 6),
    le(1, 2),
    Buffer.from([schema.length]),
    Buffer.from(schema),
    Buffer.from([0]),
    Buffer.from([table.length]),
    Buffer.from(table),
    Buffer.from([0]),
    lenenc(cols.length),
    Buffer.from(cols.map((c) => c.type)),
    lenenc(meta.length),
    meta,
    nulls,
    ...tlvs,
  ])
}

/** An optional metadata TLV. */
export function tlv(type: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([type]), lenenc(value.length), value])
}

/** A bitmap with bit i set for each i in `set` (LSB first). */
export function bitmap(n: number, set: number[]): Buffer {
  const b = Buffer.alloc((n + 7) >> 3)
  for (const i of set) b[i >> 3]! |= 1 << (i & 7)
  return b
}

/** A row image: NULL bitmap over `present` values then the encoded non-NULL values. */
export function rowImage(values: (Buffer | null)[]): Buffer {
  const nulls = bitmap(
    values.length,
    values.flatMap((v, i) => (v === null ? [i] : [])),
  )
  return Buffer.concat([nulls, ...values.filter((v): v is Buffer => v !== null)])
}

/** A rows event body (v1 or v2). */
export function rowsBody(
  tableId: number,
  n: number,
  images: Buffer[],
  opts: {
    version?: 1 | 2
    extra?: Buffer
    update?: boolean
    present?: number[]
    presentAfter?: number[]
  } = {},
): Buffer {
  const all = Array.from({ length: n }, (_, i) => i)
  const parts = [le(tableId, 6), le(1, 2)]
  if ((opts.version ?? 1) === 2) {
    const extra = opts.extra ?? Buffer.alloc(0)
    parts.push(le(extra.length + 2, 2), extra)
  }
  parts.push(lenenc(n), bitmap(n, opts.present ?? all))
  if (opts.update) parts.push(bitmap(n, opts.presentAfter ?? all))
  return Buffer.concat([...parts, ...images])
}
