import avro from 'avsc'
export type { AvroSchema } from '../pipeline/schema.js'
import type { Type } from 'avsc'
import type { ChangeEvent, Row } from '../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../pipeline/schema.js'
import type { AvroOptions } from '../pipeline/source.js'

/** An Avro record field as written in a schema. */
export interface AvroField {
  name: string
  type: AvroSchema
  default?: unknown
  doc?: string
  [attr: string]: unknown
}

/** Key, Value and Envelope schemas of one table, with their compiled avsc types. */
export interface TableCodec {
  readonly table: TableSchema
  /** `<prefix>.<schema>.<table>` with every part made a valid Avro name. */
  readonly namespace: string
  readonly keySchema: AvroSchema | null
  readonly keyType: Type | null
  readonly valueSchema: AvroSchema
  readonly envelopeSchema: AvroSchema
  readonly envelopeType: Type
  /**
   * The Envelope plus a trailing field `key` (`["null", Key]`), for sinks that store events
   * without a separate key (files, stdout): under REPLICA IDENTITY DEFAULT a delete has no
   * `before`, and the key is the only way to tell which row went. A reader using the plain
   * Envelope schema ignores the extra field (Avro schema resolution). Same as envelopeSchema
   * when the table has no key.
   */
  readonly keyedSchema: AvroSchema
  readonly keyedType: Type
  /** The envelope record of an event, as avsc expects it (field names as in the schema). */
  envelope(ev: ChangeEvent): EnvelopeRecord
  /**
   * Avro binary encoding of the event's envelope. A ChangeEvent carries the Envelope's field
   * names, and avsc's record writer reads exactly the schema's fields, so the event itself is
   * encoded (no per-event copy); `envelopeType.encode(ev, buf, pos)` works the same way.
   */
  encodeEnvelope(ev: ChangeEvent): Buffer
  /** Avro binary encoding of the event's key record; null when the table has no key. */
  encodeKey(ev: ChangeEvent): Buffer | null
}

/** The envelope as a plain object, Debezium field names. */
export interface EnvelopeRecord {
  before: Row | null
  after: Row | null
  source: Record<string, unknown>
  transaction: { id: string; total_order: number; data_collection_order: number } | null
  op: string
  ts_ms: number
}

/**
 * Avro `long` schemas that may carry values beyond ±2^53 (Postgres int8, MySQL BIGINT
 * UNSIGNED). Values for them are a `number` when safe and a `bigint` otherwise. Create
 * such a schema with wideLong(); every other `long` stays a plain JS number (fast path).
 */
const wideLongSchemas = new WeakSet<object>()

/** A `long` schema (optionally with extra attributes) whose values may be bigint. */
export function wideLong(attrs: Record<string, unknown> = {}): AvroSchema {
  const s = { type: 'long', ...attrs }
  wideLongSchemas.add(s)
  return s as AvroSchema
}

interface Tap {
  buf: Buffer
  pos: number
  writeLong(n: number): void
  readLong(): number
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER)

/**
 * avsc's AbstractLongType (the class behind `LongType.__with`): union branch selection asks
 * "abstract" types whether they take a value, which is what lets a bigint select the long
 * branch of `["null", long]`; it is exported as plain `long`.
 */
const LongBase = Object.getPrototypeOf(
  avro.types.LongType.__with({
    fromBuffer: (b: Buffer) => b.readBigInt64LE(0),
    toBuffer: (v: bigint) => {
      const b = Buffer.alloc(8)
      b.writeBigInt64LE(v)
      return b
    },
    fromJSON: (v: unknown) => v,
    toJSON: (v: unknown) => v,
    isValid: () => true,
    compare: () => 0,
  }),
).constructor as new (noUnpack?: boolean) => object

/**
 * A `long` whose values are numbers when safe and bigints otherwise. Same wire format as
 * every Avro long (zig-zag varint). Numbers go through avsc's own writer; bigints are
 * written by hand (7 bits per byte, low bits first), so no value allocates a buffer (avsc's
 * abstract long type would allocate 8 bytes per value on this hot path).
 */
class WideLong extends LongBase {
  _check(v: unknown): boolean {
    return (typeof v === 'number' && Number.isSafeInteger(v)) || typeof v === 'bigint'
  }

  _write(tap: Tap, v: number | bigint): void {
    if (typeof v === 'number') {
      if (!Number.isSafeInteger(v)) throw new Error(`invalid long: ${v}`)
      // avsc's writer doubles the value in floating point: exact below 2^52 only.
      if (v < 2 ** 52 && v > -(2 ** 52)) {
        tap.writeLong(v)
        return
      }
    } else if (typeof v !== 'bigint') throw new Error(`invalid long: ${String(v)}`)
    const b = BigInt(v)
    let z = BigInt.asUintN(64, (b << 1n) ^ (b >> 63n))
    const buf = tap.buf
    while (z >= 0x80n) {
      buf[tap.pos++] = Number(z & 0x7fn) | 0x80
      z >>= 7n
    }
    buf[tap.pos++] = Number(z)
  }

  _read(tap: Tap): number | bigint {
    const buf = tap.buf
    let end = tap.pos
    while (end < buf.length && buf[end]! & 0x80) end++
    // Up to 7 varint bytes hold 49 bits: avsc's reader is exact there.
    if (end - tap.pos < 7) return tap.readLong()
    let z = 0n
    let shift = 0n
    for (;;) {
      const b = buf[tap.pos++]!
      z |= BigInt(b & 0x7f) << shift
      shift += 7n
      if (!(b & 0x80)) break
    }
    const n = (z >> 1n) ^ -(z & 1n)
    return n >= MIN_SAFE && n <= MAX_SAFE ? Number(n) : n
  }
}

const WideLongType = Object.freeze(new WideLong(true)) as unknown as Type

/**
 * Record schemas whose field names differ from the row's column names (a column name that
 * is not a valid Avro name, e.g. `unit price` or `prénom`, gets the field `unit_price` /
 * `pr_nom`), with their [column, field] pairs. Rows keep the column names everywhere else
 * (documents, verify, transforms); only the Avro encoding renames, through RenamedRecord.
 */
const renamedRecords = new WeakMap<object, readonly (readonly [string, string])[]>()
/** Renamed record schemas whose underlying plain record type is being compiled. */
const compilingRenamed = new WeakSet<object>()

/**
 * A record whose in-memory rows are keyed by column name and whose Avro fields carry the
 * adjusted names: rows are renamed on write and back on read. Only tables with such a
 * column pay for it.
 */
class RenamedRecord extends avro.types.LogicalType {
  private pairs: readonly (readonly [string, string])[] = []

  static create(schema: object, opts: avro.ForSchemaOptions): RenamedRecord {
    compilingRenamed.add(schema)
    try {
      const t = new RenamedRecord(schema as avro.Schema, opts)
      t.pairs = renamedRecords.get(schema)!
      return t
    } finally {
      compilingRenamed.delete(schema)
    }
  }

  protected override _toValue(row: unknown): unknown {
    if (row === null || typeof row !== 'object') return undefined
    const r = row as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [col, field] of this.pairs) out[field] = r[col]
    return out
  }

  protected override _fromValue(rec: unknown): unknown {
    const r = rec as Record<string, unknown>
    const out: Record<string, unknown> = {}
    for (const [col, field] of this.pairs) out[col] = r[field]
    return out
  }
}

/** Parses a schema with Sluice's conventions: unwrapped unions, wide longs where marked. */
export function compileSchema(schema: AvroSchema): Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: false,
    typeHook: (s, opts) => {
      if (typeof s !== 'object' || s === null) return undefined
      if (wideLongSchemas.has(s)) return WideLongType
      if (renamedRecords.has(s) && !compilingRenamed.has(s)) return RenamedRecord.create(s, opts)
      return undefined
    },
  })
}

/**
 * Parses a schema for *reading* data Sluice wrote (e.g. from a container file header):
 * every `long` decodes to a number when safe and a bigint otherwise, so int8 extremes read
 * back exactly instead of failing avsc's precision check.
 */
export function compileReaderSchema(schema: unknown): Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: false,
    typeHook: (s) =>
      s === 'long' || (typeof s === 'object' && s !== null && (s as { type?: unknown }).type === 'long')
        ? WideLongType
        : undefined,
  })
}

/** Makes one dot-separated part a valid Avro name (Debezium's SchemaNameAdjuster rule). */
export function avroName(part: string): string {
  let s = part.replace(/[^A-Za-z0-9_]/g, '_')
  if (!/^[A-Za-z_]/.test(s)) s = '_' + s
  return s
}

/** Schema of the envelope's `transaction` block (Debezium `event.block`). */
const TRANSACTION_BLOCK: AvroSchema = {
  type: 'record',
  name: 'block',
  namespace: 'event',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'total_order', type: 'long' },
    { name: 'data_collection_order', type: 'long' },
  ],
  'connect.version': 1,
  'connect.name': 'event.block',
} as AvroSchema

/** Per connector: the `source` record schema (connectors/<name>/source-info.ts registers it). */
const sourceSchemas = new Map<string, AvroSchema>()

/** Registers the `source` block schema of a connector (`postgresql`, `mysql`). */
export function registerSourceSchema(connector: string, schema: AvroSchema): void {
  sourceSchemas.set(connector, schema)
}

const cache = new WeakMap<TableSchema, Map<string, TableCodec>>()

/** The codec of a table; cached per TableSchema object and options. */
export function codecFor(table: TableSchema, opts: AvroOptions): TableCodec {
  const k = `${opts.types}\u0000${opts.prefix}`
  let m = cache.get(table)
  if (!m) cache.set(table, (m = new Map()))
  let c = m.get(k)
  if (!c) m.set(k, (c = buildCodec(table, opts)))
  return c
}

const NAMED = new Set(['record', 'enum', 'fixed', 'error'])

/**
 * Avro allows a named type (record, enum, fixed) to be defined once per schema; later uses
 * must refer to it by full name. Columns share named types (two unconstrained numerics are
 * both `io.debezium.data.VariableScaleDecimal`), so every definition after the first becomes
 * a reference, as Confluent's converter writes it. Unnamed objects keep their identity
 * (wideLong() marks schemas by identity).
 */
function dedupeNamed(schema: AvroSchema, seen: Set<string>, namespace = ''): AvroSchema {
  if (typeof schema === 'string') return schema
  if (Array.isArray(schema)) return schema.map((s: AvroSchema) => dedupeNamed(s, seen, namespace))
  const o = schema as { [k: string]: unknown }
  const type = o.type
  if (typeof type === 'string' && NAMED.has(type) && typeof o.name === 'string') {
    const ns = typeof o.namespace === 'string' ? o.namespace : o.name.includes('.') ? '' : namespace
    const full = o.name.includes('.') ? o.name : ns ? `${ns}.${o.name}` : o.name
    if (seen.has(full)) return full
    seen.add(full)
    if (type === 'record' || type === 'error') {
      const fields = (o.fields as AvroField[]).map((f) => ({ ...f, type: dedupeNamed(f.type, seen, ns) }))
      return { ...o, fields }
    }
    return schema
  }
  if (type === 'array') return { ...o, items: dedupeNamed(o.items as AvroSchema, seen, namespace) }
  if (type === 'map') return { ...o, values: dedupeNamed(o.values as AvroSchema, seen, namespace) }
  if (typeof type === 'object' && type !== null) {
    return { ...o, type: dedupeNamed(type as AvroSchema, seen, namespace) }
  }
  return schema
}

/**
 * Avro field names for columns, in order: the column name when it is a valid Avro name,
 * else Debezium's adjustment (every character outside [A-Za-z0-9_] becomes `_`, a leading
 * digit gets a `_` prefix), made unique with `_2`, `_3`... (Avro field names must differ).
 */
export function avroFieldNames(columns: readonly string[]): string[] {
  const used = new Set<string>()
  return columns.map((c) => {
    const base = avroName(c)
    let name = base
    for (let n = 2; used.has(name); n++) name = `${base}_${n}`
    used.add(name)
    return name
  })
}

/** A record schema of columns, registered as renamed when a field name differs from its column. */
function columnRecord(
  name: 'Value' | 'Key',
  cols: readonly TableSchema['columns'][number][],
  namespace: string,
  fieldOf: ReadonlyMap<string, string>,
): AvroSchema {
  const seen = new Set<string>()
  const names = cols.map((c) => fieldOf.get(c.name)!)
  const fields = cols.map((col, i): AvroField => {
    const t = dedupeNamed(col.avro, seen, namespace)
    const field = names[i]!
    return col.nullable ? { name: field, type: ['null', t], default: null } : { name: field, type: t }
  })
  const schema = { type: 'record', name, namespace, fields, 'connect.name': `${namespace}.${name}` }
  if (names.some((n, i) => n !== cols[i]!.name)) {
    renamedRecords.set(
      schema,
      cols.map((c, i) => [c.name, names[i]!] as const),
    )
  }
  return schema as AvroSchema
}

function buildCodec(table: TableSchema, opts: AvroOptions): TableCodec {
  const sourceSchema = sourceSchemas.get(table.connector)
  if (!sourceSchema) throw new Error(`no source schema registered for connector '${table.connector}'`)
  const namespace = [opts.prefix, table.schema, table.table].map(avroName).join('.')
  const byName = new Map(table.columns.map((c) => [c.name, c]))

  const names = avroFieldNames(table.columns.map((c) => c.name))
  const fieldOf = new Map(table.columns.map((c, i) => [c.name, names[i]!]))
  const valueSchema = columnRecord('Value', table.columns, namespace, fieldOf)

  let keySchema: AvroSchema | null = null
  if (table.keyColumns.length > 0) {
    keySchema = columnRecord(
      'Key',
      table.keyColumns.map((n) => {
        const col = byName.get(n)
        if (!col) throw new Error(`key column ${n} is not a column of ${table.schema}.${table.table}`)
        return col
      }),
      namespace,
      fieldOf,
    )
  }

  const envelopeSchema = {
    type: 'record',
    name: 'Envelope',
    namespace,
    fields: [
      { name: 'before', type: ['null', valueSchema], default: null },
      { name: 'after', type: ['null', `${namespace}.Value`], default: null },
      { name: 'source', type: sourceSchema },
      { name: 'transaction', type: ['null', TRANSACTION_BLOCK], default: null },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
    ],
    'connect.version': 2,
    'connect.name': `${namespace}.Envelope`,
  } as AvroSchema

  const envelopeType = compileSchema(envelopeSchema)
  const keyType = keySchema ? compileSchema(keySchema) : null
  const keyedSchema = keySchema
    ? ({
        ...(envelopeSchema as Record<string, unknown>),
        fields: [
          ...(envelopeSchema as { fields: AvroField[] }).fields,
          { name: 'key', type: ['null', keySchema], default: null },
        ],
      } as AvroSchema)
    : envelopeSchema
  const keyedType = keySchema ? compileSchema(keyedSchema) : envelopeType

  const envelope = (ev: ChangeEvent): EnvelopeRecord => ({
    before: ev.before,
    after: ev.after,
    source: ev.source as Record<string, unknown>,
    transaction: ev.transaction,
    op: ev.op,
    ts_ms: ev.ts_ms,
  })

  return {
    table,
    namespace,
    keySchema,
    keyType,
    valueSchema,
    envelopeSchema,
    envelopeType,
    keyedSchema,
    keyedType,
    envelope,
    encodeEnvelope: (ev) => envelopeType.toBuffer(ev),
    encodeKey: (ev) => (keyType && ev.key ? keyType.toBuffer(ev.key) : null),
  }
}
