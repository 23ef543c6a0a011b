import { civilFromDays } from '../avro/values.js'
import { jsonValue } from '../avro/json.js'
import type { Row } from '../pipeline/event.js'
import type { AvroSchema, ColumnSchema, TableSchema } from '../pipeline/schema.js'

/**
 * Rows as documents: the shared rendering of a row for the sinks that store rows rather
 * than events (the Redis cache, search indexes) and for `sluice verify`, which must
 * compute exactly what those sinks wrote.
 *
 * A document is a JSON object with the column names as keys, in table order:
 * - decimals: exact decimal strings (`"12.50"`); wide integers (bigint): decimal strings;
 * - dates: `"YYYY-MM-DD"`; times: `"HH:MM:SS[.ffffff]"`; timestamps without zone:
 *   `"YYYY-MM-DDTHH:MM:SS[.ffffff]"`; timestamps with zone: ISO 8601 ending in `Z`
 *   (Debezium's ZonedTimestamp strings are kept as they are);
 * - bytes: base64; JSON columns: the JSON text (a string, as in the change event);
 * - NaN and ±Infinity: their names as strings; everything else as in the event.
 */
export type Document = Record<string, unknown>

type Render = (v: unknown) => unknown

const pad = (n: number, w = 2): string => String(n).padStart(w, '0')

function dateString(days: number): string {
  const [year, month, day] = civilFromDays(days)
  const y = year < 0 ? `-${pad(-year, 4)}` : year > 9999 ? `+${year}` : pad(year, 4)
  return `${y}-${pad(month)}-${pad(day)}`
}

/** Microseconds within a day → `HH:MM:SS`, or `HH:MM:SS.ffffff` when there is a fraction. */
function timeString(micros: bigint): string {
  const us = Number(((micros % 86_400_000_000n) + 86_400_000_000n) % 86_400_000_000n)
  const secs = Math.floor(us / 1_000_000)
  const frac = us % 1_000_000
  const base = `${pad(Math.floor(secs / 3600))}:${pad(Math.floor(secs / 60) % 60)}:${pad(secs % 60)}`
  return frac === 0 ? base : `${base}.${pad(frac, 6)}`
}

/** Microseconds since the epoch → `YYYY-MM-DDTHH:MM:SS[.ffffff]` (+ `Z` when zoned). */
function timestampString(micros: bigint, zoned: boolean): string {
  const perDay = 86_400_000_000n
  let days = micros / perDay
  let rest = micros % perDay
  if (rest < 0n) {
    rest += perDay
    days -= 1n
  }
  return `${dateString(Number(days))}T${timeString(rest)}${zoned ? 'Z' : ''}`
}

const toBig = (v: unknown): bigint | null =>
  typeof v === 'bigint' ? v : typeof v === 'number' && Number.isFinite(v) ? BigInt(Math.trunc(v)) : null

/** The renderer of one column's non-null value, from its Avro schema's semantic name. */
function columnRenderer(col: ColumnSchema): Render {
  const avro = col.avro
  const s = typeof avro === 'object' && !Array.isArray(avro) ? (avro as Record<string, unknown>) : {}
  const semantic = (s['connect.name'] as string | undefined) ?? (s.logicalType as string | undefined)
  const fallback: Render = (v) => jsonValue(avro, v)
  switch (semantic) {
    case 'io.debezium.time.Date':
    case 'date':
      return (v) => (typeof v === 'number' ? dateString(v) : fallback(v))
    case 'io.debezium.time.MicroTime':
    case 'time-micros':
      return (v) => {
        const b = toBig(v)
        return b === null ? fallback(v) : timeString(b)
      }
    case 'io.debezium.time.Timestamp':
      return (v) => {
        const b = toBig(v)
        return b === null ? fallback(v) : timestampString(b * 1000n, false)
      }
    case 'io.debezium.time.MicroTimestamp':
    case 'local-timestamp-micros':
      return (v) => {
        const b = toBig(v)
        return b === null ? fallback(v) : timestampString(b, false)
      }
    case 'timestamp-micros':
      return (v) => {
        const b = toBig(v)
        return b === null ? fallback(v) : timestampString(b, true)
      }
    default:
      return fallback
  }
}

const renderers = new WeakMap<TableSchema, (row: Row) => Document>()

/** The document renderer of a table schema (compiled once per schema object). */
export function documentRenderer(table: TableSchema): (row: Row) => Document {
  let r = renderers.get(table)
  if (r) return r
  const cols = table.columns.map((c) => ({ name: c.name, render: columnRenderer(c) }))
  r = (row: Row): Document => {
    const out: Document = {}
    for (const c of cols) {
      const v = row[c.name]
      out[c.name] = v === null || v === undefined ? null : c.render(v)
    }
    return out
  }
  renderers.set(table, r)
  return r
}

/** One row as a document; see Document. */
export function toDocument(table: TableSchema, row: Row): Document {
  return documentRenderer(table)(row)
}

/** A key value's text: its document rendering (dates ISO, decimals exact), strings as is, numbers in decimal. */
function keyPart(col: ColumnSchema | undefined, v: unknown): string {
  if (v === null || v === undefined) return ''
  const r = col ? columnRenderer(col)(v) : v
  if (typeof r === 'string') return r
  if (typeof r === 'number' || typeof r === 'bigint' || typeof r === 'boolean') return String(r)
  return JSON.stringify(r)
}

/**
 * The stable string of a row's primary key: the key columns' values in key order, each
 * rendered as in a document (strings as is, numbers in decimal, decimals exact, dates
 * ISO), joined by `:`. A `:` or `\` inside a value is escaped with `\`, so distinct keys
 * never collide (`('a:b','c')` → `a\:b:c`, `('a','b:c')` → `a:b\:c`). Used as the Redis
 * key's `${key}` and as the search document `_id`.
 */
export function keyString(table: TableSchema, key: Row): string {
  const parts: string[] = []
  for (const name of table.keyColumns) {
    const col = table.columns.find((c) => c.name === name)
    parts.push(keyPart(col, key[name]).replace(/[\\:]/g, (m) => `\\${m}`))
  }
  return parts.join(':')
}

/** The schema attribute map of a column (for mappings derived from column types). */
export function columnSemantic(col: ColumnSchema): { type: AvroSchema; semantic: string | undefined } {
  const avro = col.avro
  const s = typeof avro === 'object' && !Array.isArray(avro) ? (avro as Record<string, unknown>) : {}
  return {
    type: (s.type as AvroSchema | undefined) ?? avro,
    semantic: (s['connect.name'] as string | undefined) ?? (s.logicalType as string | undefined),
  }
}
