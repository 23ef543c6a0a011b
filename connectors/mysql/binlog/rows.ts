/**
 * Rows events. Layout after the common header:
 *
 *   v1 (23–25, MariaDB):  table_id u48, flags u16
 *   v2 (30–32, MySQL):    table_id u48, flags u16, extra_len u16 (includes itself), extra data
 *   then:                 column count (lenenc), columns-present bitmap ⌈n/8⌉ (LSB first),
 *                         [UPDATE: a second bitmap for the after image], rows to the end.
 *
 * Each row image is a NULL bitmap over the *present* columns followed by the non-NULL
 * values in column order; an UPDATE row is the before image then the after image. MariaDB's
 * compressed variants (166–171) keep everything up to the bitmaps as is and compress the
 * rows: header byte 0x80 | n, the uncompressed size in n big-endian bytes, a zlib stream.
 */
import { inflateSync } from 'node:zlib'
import { EventType } from './codes.js'
import type { EventHeader, RowChange, RowsEvent } from './events.js'
import { Reader } from './reader.js'
import type { TableMap } from './table-map.js'
import { ABSENT, readValue, type ColumnInfo, type RowImage } from './values.js'

/** Tag of a v2 extra-data item (MySQL `enum_extra_row_info_typecode`). */
export const ExtraRowInfo = {
  /** NDB: length u8, format u8, data. */
  Ndb: 0,
  /** MySQL 8.0.16+: partition id u16 (UPDATE: also the source partition id u16). */
  Partition: 1,
} as const

/** What a rows event code means: kind, version and compression. */
interface RowsKind {
  type: RowsEvent['type']
  version: 1 | 2
  compressed: boolean
}

const ROWS_KINDS = new Map<number, RowsKind>([
  [EventType.WriteRowsV1, { type: 'writeRows', version: 1, compressed: false }],
  [EventType.UpdateRowsV1, { type: 'updateRows', version: 1, compressed: false }],
  [EventType.DeleteRowsV1, { type: 'deleteRows', version: 1, compressed: false }],
  [EventType.WriteRowsV2, { type: 'writeRows', version: 2, compressed: false }],
  [EventType.UpdateRowsV2, { type: 'updateRows', version: 2, compressed: false }],
  [EventType.DeleteRowsV2, { type: 'deleteRows', version: 2, compressed: false }],
  [EventType.WriteRowsCompressedV1, { type: 'writeRows', version: 1, compressed: true }],
  [EventType.UpdateRowsCompressedV1, { type: 'updateRows', version: 1, compressed: true }],
  [EventType.DeleteRowsCompressedV1, { type: 'deleteRows', version: 1, compressed: true }],
  [EventType.WriteRowsCompressedV2, { type: 'writeRows', version: 2, compressed: true }],
  [EventType.UpdateRowsCompressedV2, { type: 'updateRows', version: 2, compressed: true }],
  [EventType.DeleteRowsCompressedV2, { type: 'deleteRows', version: 2, compressed: true }],
])

/** Whether `code` is a rows event this module decodes. */
export function isRowsEvent(code: number): boolean {
  return ROWS_KINDS.has(code)
}

/**
 * Inflates a MariaDB-compressed block at r.pos..r.end (header 0x80 | n, n-byte big-endian
 * size, zlib stream) into a fresh Reader over the result.
 */
export function inflateMariadb(r: Reader, what: string): Reader {
  const header = r.u8(`${what} compression header`)
  const lenBytes = header & 7
  if ((header & 0x80) === 0 || lenBytes < 1 || lenBytes > 4) {
    r.fail(`${what}: bad compression header 0x${header.toString(16)}`)
  }
  r.need(lenBytes, `${what} uncompressed size`)
  let size = 0
  for (let i = 0; i < lenBytes; i++) size = size * 256 + r.buf[r.pos + i]!
  r.pos += lenBytes
  let out: Buffer
  try {
    out = inflateSync(r.buf.subarray(r.pos, r.end), { maxOutputLength: Math.max(size, 1) })
  } catch (err) {
    return r.fail(`${what}: inflate failed (${(err as Error).message})`)
  }
  if (out.length !== size) r.fail(`${what}: inflated ${out.length} bytes, header says ${size}`)
  r.pos = r.end
  return new Reader(out, 0, out.length, r.logPos, r.eventType)
}

/** Indexes of the columns whose bit is set in the bitmap at `p` (LSB first). */
function presentColumns(buf: Buffer, p: number, n: number): number[] {
  const out: number[] = []
  for (let i = 0; i < n; i++) if (buf[p + (i >> 3)]! & (1 << (i & 7))) out.push(i)
  return out
}

/** Reads one row image over the `present` columns. */
function readImage(r: Reader, columns: ColumnInfo[], present: number[], full: boolean): RowImage {
  const count = present.length
  const nullBytes = (count + 7) >> 3
  r.need(nullBytes, 'row NULL bitmap')
  const nullAt = r.pos
  r.pos += nullBytes
  const b = r.buf
  const row: RowImage = full ? new Array(count) : new Array(columns.length).fill(ABSENT)
  for (let k = 0; k < count; k++) {
    const i = present[k]!
    if (b[nullAt + (k >> 3)]! & (1 << (k & 7))) row[i] = null
    else row[i] = readValue(r, columns[i]!)
  }
  return row
}

/**
 * Decodes a rows event body at r.pos. `tableIdSize` comes from the FDE (6, or 4 for
 * ancient servers); `tables` is the decoder's TABLE_MAP cache.
 */
export function readRows(
  r: Reader,
  header: EventHeader,
  tableIdSize: number,
  tables: Map<number, TableMap>,
): RowsEvent {
  const kind = ROWS_KINDS.get(header.eventType)!
  const tableId = tableIdSize === 4 ? r.u32('table_id') : r.u48('table_id')
  const flags = r.u16('flags')
  let extraData: Buffer | null = null
  let partitionId: number | null = null
  if (kind.version === 2) {
    const extraLen = r.u16('extra data length')
    if (extraLen < 2) r.fail(`extra data length ${extraLen} < 2`)
    extraData = r.bytes(extraLen - 2, 'extra data')
    if (extraData.length >= 3 && extraData[0] === ExtraRowInfo.Partition)
      partitionId = extraData.readUInt16LE(1)
  }
  const table = tables.get(tableId)
  if (table === undefined) r.fail(`rows event for table id ${tableId} without a preceding TABLE_MAP`)
  const n = r.lenenc('column count')
  const columns = table.columns
  if (n !== columns.length) {
    r.fail(`rows event has ${n} columns, TABLE_MAP of ${table.schema}.${table.table} has ${columns.length}`)
  }
  const bitmapBytes = (n + 7) >> 3
  r.need(bitmapBytes, 'columns-present bitmap')
  const before = presentColumns(r.buf, r.pos, n)
  r.pos += bitmapBytes
  let after = before
  if (kind.type === 'updateRows') {
    r.need(bitmapBytes, 'after-image bitmap')
    after = presentColumns(r.buf, r.pos, n)
    r.pos += bitmapBytes
  }
  const body = kind.compressed ? inflateMariadb(r, 'rows') : r
  const beforeFull = before.length === n
  const afterFull = after.length === n
  const rows: RowChange[] = []
  if (body.pos >= body.end) body.fail('rows event has no rows')
  while (body.pos < body.end) {
    // A row over no columns reads no bytes: a corrupt bitmap would loop here forever,
    // collecting empty rows until memory runs out.
    const rowStart = body.pos
    switch (kind.type) {
      case 'writeRows':
        rows.push({ before: null, after: readImage(body, columns, before, beforeFull) })
        break
      case 'deleteRows':
        rows.push({ before: readImage(body, columns, before, beforeFull), after: null })
        break
      default: {
        const b = readImage(body, columns, before, beforeFull)
        rows.push({ before: b, after: readImage(body, columns, after, afterFull) })
      }
    }
    if (body.pos === rowStart)
      body.fail('rows event has a row image of no columns (empty columns-present bitmap)')
  }
  r.pos = r.end
  return {
    type: kind.type,
    header,
    version: kind.version,
    compressed: kind.compressed,
    tableId,
    table,
    flags,
    extraData,
    partitionId,
    rows,
  }
}
