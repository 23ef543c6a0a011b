/**
 * TABLE_MAP_EVENT (19): binds a table id to a table definition for the rows events that
 * follow. Post-header: table_id (6 bytes; 4 if the FDE says the post-header is 6 long),
 * flags u16. Body: schema (u8 length, bytes, NUL), table (same), column count (lenenc),
 * one type byte per column, metadata block (lenenc length, per-column metadata of a
 * type-dependent size), NULL bitmap (⌈n/8⌉ bytes, LSB first), then optional metadata TLVs
 * (type u8, lenenc length, value) to the end (binlog_row_metadata=MINIMAL/FULL).
 */
import { charsetOf, decodeText } from './charsets.js'
import { ColumnType, MetadataField } from './codes.js'
import type { Reader } from './reader.js'
import type { ColumnInfo, Flavour } from './values.js'

/** A primary key column, from SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX. */
export interface PrimaryKeyPart {
  /** Column index. */
  column: number
  /** Prefix length in characters (`KEY (code(4))`); 0 = the whole column. */
  prefix: number
}

/** A decoded TABLE_MAP: the table's columns with everything needed to decode its rows. */
export interface TableMap {
  tableId: number
  flags: number
  schema: string
  table: string
  columns: ColumnInfo[]
  /** From SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX; null when neither was sent (not FULL, or no PK). */
  primaryKey: PrimaryKeyPart[] | null
  /** Optional metadata field codes present, in the order sent (diagnostics). */
  metadataFields: number[]
}

/** Type codes whose TABLE_MAP metadata is 1 byte. */
function metadataSize(type: number): number {
  switch (type) {
    case ColumnType.Float:
    case ColumnType.Double:
    case ColumnType.Blob:
    case ColumnType.TinyBlob:
    case ColumnType.MediumBlob:
    case ColumnType.LongBlob:
    case ColumnType.Geometry:
    case ColumnType.Json:
    case ColumnType.Time2:
    case ColumnType.DateTime2:
    case ColumnType.Timestamp2:
    case ColumnType.BlobCompressed:
    case ColumnType.Vector:
      return 1
    case ColumnType.VarChar:
    case ColumnType.VarString:
    case ColumnType.VarCharCompressed:
    case ColumnType.NewDecimal:
    case ColumnType.Bit:
    case ColumnType.String:
    case ColumnType.Enum:
    case ColumnType.Set:
      return 2
    default:
      return 0
  }
}

/** Numeric columns: they get a bit in SIGNEDNESS. YEAR counts (trap 1 in the notes), as does DECIMAL. */
function isNumeric(realType: number): boolean {
  switch (realType) {
    case ColumnType.Tiny:
    case ColumnType.Short:
    case ColumnType.Int24:
    case ColumnType.Long:
    case ColumnType.LongLong:
    case ColumnType.Float:
    case ColumnType.Double:
    case ColumnType.NewDecimal:
    case ColumnType.Decimal:
    case ColumnType.Year:
      return true
    default:
      return false
  }
}

/**
 * Character columns: they get an entry in DEFAULT_CHARSET / COLUMN_CHARSET. On MariaDB,
 * GEOMETRY counts too (trap 2 in the notes: MariaDB's base class for geometry is blob);
 * MySQL leaves it out. ENUM and SET have their own charset fields.
 */
function isCharacter(realType: number, flavour: Flavour): boolean {
  switch (realType) {
    case ColumnType.String:
    case ColumnType.VarString:
    case ColumnType.VarChar:
    case ColumnType.Blob:
    case ColumnType.TinyBlob:
    case ColumnType.MediumBlob:
    case ColumnType.LongBlob:
    case ColumnType.BlobCompressed:
    case ColumnType.VarCharCompressed:
      return true
    case ColumnType.Geometry:
      return flavour === 'mariadb'
    default:
      return false
  }
}

/** Reads `count` bits MSB-first from a bitmap of ⌈count/8⌉ bytes inside a TLV. */
function readMsbBitmap(r: Reader, count: number, end: number, what: string): boolean[] {
  const bytes = (count + 7) >> 3
  if (r.pos + bytes > end) r.fail(`${what}: bitmap of ${count} bits exceeds its field`)
  const out = new Array<boolean>(count)
  for (let i = 0; i < count; i++) out[i] = (r.buf[r.pos + (i >> 3)]! & (0x80 >> (i & 7))) !== 0
  r.pos += bytes
  return out
}

/** Reads a DEFAULT_CHARSET-style field: default collation, then (index, collation) exceptions. Returns one collation per listed column. */
function readDefaultCharset(r: Reader, count: number, end: number, what: string): number[] {
  const def = r.lenenc(what)
  const out = new Array<number>(count).fill(def)
  while (r.pos < end) {
    const idx = r.lenenc(what)
    const coll = r.lenenc(what)
    if (idx >= count) r.fail(`${what}: column index ${idx} out of range (${count} columns)`)
    out[idx] = coll
  }
  return out
}

/** Reads `count` lenenc collations. */
function readColumnCharset(r: Reader, count: number, end: number, what: string): number[] {
  const out: number[] = []
  while (r.pos < end) out.push(r.lenenc(what))
  if (out.length !== count) r.fail(`${what}: ${out.length} collations for ${count} columns`)
  return out
}

/** Reads a lenenc-length string as raw bytes. */
function lenencBytes(r: Reader, what: string): Buffer {
  const n = r.lenenc(what)
  return r.view(n, what)
}

/** Reads STR_VALUE lists: per column a lenenc count, then lenenc strings (raw; decoded later with the charset). */
function readStrValues(r: Reader, end: number, what: string): Buffer[][] {
  const out: Buffer[][] = []
  while (r.pos < end) {
    const n = r.lenenc(what)
    if (n > end - r.pos) r.fail(`${what}: ${n} values cannot fit`)
    const list: Buffer[] = []
    for (let i = 0; i < n; i++) list.push(lenencBytes(r, what))
    out.push(list)
  }
  return out
}

/**
 * Decodes a TABLE_MAP body at r.pos (just after the common header) up to r.end. `idSize`
 * is the table-id width from the FDE's post-header length (6, or 4 for ancient servers).
 */
export function readTableMap(r: Reader, idSize: number, flavour: Flavour): TableMap {
  const tableId = idSize === 4 ? r.u32('table_id') : r.u48('table_id')
  const flags = r.u16('flags')
  const schemaLen = r.u8('schema length')
  const schema = r.utf8(schemaLen, 'schema')
  r.skip(1, 'schema NUL')
  const tableLen = r.u8('table length')
  const table = r.utf8(tableLen, 'table')
  r.skip(1, 'table NUL')
  const n = r.lenenc('column count')
  if (n > r.remaining) r.fail(`column count ${n} exceeds the event`)
  const types = r.view(n, 'column types')
  const metaLen = r.lenenc('metadata length')
  const metaEnd = r.pos + metaLen
  r.need(metaLen, 'metadata block')

  const columns = new Array<ColumnInfo>(n)
  for (let i = 0; i < n; i++) {
    const type = types[i]!
    let realType = type
    let length = 0
    let scale = 0
    const size = metadataSize(type)
    if (r.pos + size > metaEnd) r.fail(`metadata block too short at column ${i}`)
    const b = r.buf
    const p = r.pos
    switch (type) {
      case ColumnType.NewDecimal:
        length = b[p]!
        scale = b[p + 1]!
        if (scale > length || length > 65 || scale > 38)
          r.fail(`column ${i}: bad DECIMAL(${length},${scale})`)
        break
      case ColumnType.Bit:
        // byte0 = bits % 8, byte1 = bits / 8.
        length = b[p + 1]! * 8 + b[p]!
        break
      case ColumnType.String:
      case ColumnType.Enum:
      case ColumnType.Set: {
        // byte0 = real type, byte1 = length. Long CHAR (> 255 bytes) hides 2 length bits in byte0.
        const b0 = b[p]!
        const b1 = b[p + 1]!
        if ((b0 & 0x30) !== 0x30) {
          length = b1 | (((b0 & 0x30) ^ 0x30) << 4)
          realType = b0 | 0x30
        } else {
          realType = b0
          length = b1
        }
        if (realType !== ColumnType.String && realType !== ColumnType.Enum && realType !== ColumnType.Set) {
          r.fail(`column ${i}: STRING metadata names real type ${realType}`)
        }
        break
      }
      case ColumnType.VarChar:
      case ColumnType.VarString:
      case ColumnType.VarCharCompressed:
        length = b[p]! | (b[p + 1]! << 8)
        break
      default:
        if (size === 1) length = b[p]!
    }
    r.pos = p + size
    if (
      (realType === ColumnType.Time2 ||
        realType === ColumnType.DateTime2 ||
        realType === ColumnType.Timestamp2) &&
      length > 6
    ) {
      r.fail(`column ${i}: fractional-second precision ${length} > 6`)
    }
    columns[i] = {
      index: i,
      name: null,
      type,
      realType,
      length,
      scale,
      nullable: false,
      unsigned: false,
      charset: null,
      enumValues: null,
      setValues: null,
      geometryType: null,
      visible: null,
    }
  }
  if (r.pos !== metaEnd) r.fail(`metadata block has ${metaEnd - r.pos} unread byte(s)`)
  const nullBytes = (n + 7) >> 3
  r.need(nullBytes, 'NULL bitmap')
  for (let i = 0; i < n; i++) columns[i]!.nullable = (r.buf[r.pos + (i >> 3)]! & (1 << (i & 7))) !== 0
  r.pos += nullBytes

  // Optional metadata.
  const numeric: ColumnInfo[] = []
  const character: ColumnInfo[] = []
  const enumSet: ColumnInfo[] = []
  const enums: ColumnInfo[] = []
  const sets: ColumnInfo[] = []
  const geometry: ColumnInfo[] = []
  for (const c of columns) {
    if (isNumeric(c.realType)) numeric.push(c)
    if (isCharacter(c.realType, flavour)) character.push(c)
    if (c.realType === ColumnType.Enum || c.realType === ColumnType.Set) enumSet.push(c)
    if (c.realType === ColumnType.Enum) enums.push(c)
    if (c.realType === ColumnType.Set) sets.push(c)
    if (c.realType === ColumnType.Geometry) geometry.push(c)
  }
  const metadataFields: number[] = []
  let primaryKey: PrimaryKeyPart[] | null = null
  let enumRaw: Buffer[][] | null = null
  let setRaw: Buffer[][] | null = null
  while (r.pos < r.end) {
    const field = r.u8('optional metadata type')
    const len = r.lenenc('optional metadata length')
    r.need(len, `optional metadata field ${field}`)
    const end = r.pos + len
    metadataFields.push(field)
    const what = `optional metadata field ${field}`
    switch (field) {
      case MetadataField.Signedness: {
        const bits = readMsbBitmap(r, numeric.length, end, what)
        for (let i = 0; i < numeric.length; i++) numeric[i]!.unsigned = bits[i]!
        break
      }
      case MetadataField.DefaultCharset:
      case MetadataField.ColumnCharset: {
        const colls =
          field === MetadataField.DefaultCharset
            ? readDefaultCharset(r, character.length, end, what)
            : readColumnCharset(r, character.length, end, what)
        for (let i = 0; i < character.length; i++) character[i]!.charset = charsetOf(colls[i]!, flavour)
        break
      }
      case MetadataField.EnumAndSetDefaultCharset:
      case MetadataField.EnumAndSetColumnCharset: {
        const colls =
          field === MetadataField.EnumAndSetDefaultCharset
            ? readDefaultCharset(r, enumSet.length, end, what)
            : readColumnCharset(r, enumSet.length, end, what)
        for (let i = 0; i < enumSet.length; i++) enumSet[i]!.charset = charsetOf(colls[i]!, flavour)
        break
      }
      case MetadataField.ColumnName: {
        let i = 0
        while (r.pos < end) {
          const name = r.utf8(r.lenenc(what), what)
          if (i < n) columns[i]!.name = name
          i++
        }
        if (i !== n) r.fail(`${what}: ${i} names for ${n} columns`)
        break
      }
      case MetadataField.SetStrValue:
        setRaw = readStrValues(r, end, what)
        if (setRaw.length !== sets.length)
          r.fail(`${what}: ${setRaw.length} lists for ${sets.length} SET columns`)
        break
      case MetadataField.EnumStrValue:
        enumRaw = readStrValues(r, end, what)
        if (enumRaw.length !== enums.length)
          r.fail(`${what}: ${enumRaw.length} lists for ${enums.length} ENUM columns`)
        break
      case MetadataField.GeometryType: {
        let i = 0
        while (r.pos < end) {
          const t = r.lenenc(what)
          if (i < geometry.length) geometry[i]!.geometryType = t
          i++
        }
        break
      }
      case MetadataField.SimplePrimaryKey: {
        primaryKey = []
        while (r.pos < end) {
          const column = r.lenenc(what)
          if (column >= n) r.fail(`${what}: column ${column} out of range`)
          primaryKey.push({ column, prefix: 0 })
        }
        break
      }
      case MetadataField.PrimaryKeyWithPrefix: {
        primaryKey = []
        while (r.pos < end) {
          const column = r.lenenc(what)
          const prefix = r.lenenc(what)
          if (column >= n) r.fail(`${what}: column ${column} out of range`)
          primaryKey.push({ column, prefix })
        }
        break
      }
      case MetadataField.ColumnVisibility: {
        const bits = readMsbBitmap(r, n, end, what)
        for (let i = 0; i < n; i++) columns[i]!.visible = bits[i]!
        break
      }
      default:
        // Newer servers add fields; skip what we do not know.
        break
    }
    if (r.pos > end) r.fail(`${what} overran its length ${len}`)
    r.pos = end
  }
  // Labels are in the ENUM/SET column's charset, which may come after them.
  if (enumRaw !== null)
    for (let i = 0; i < enums.length; i++) enums[i]!.enumValues = labels(enumRaw[i]!, enums[i]!)
  if (setRaw !== null) for (let i = 0; i < sets.length; i++) sets[i]!.setValues = labels(setRaw[i]!, sets[i]!)
  return { tableId, flags, schema, table, columns, primaryKey, metadataFields }
}

/** ENUM/SET labels in the column's charset (UTF-8 when unknown or binary). */
function labels(raw: Buffer[], col: ColumnInfo): string[] {
  const out = new Array<string>(raw.length)
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!
    const text = col.charset === null ? null : decodeText(b, 0, b.length, col.charset)
    out[i] = typeof text === 'string' ? text : b.toString('utf8')
  }
  return out
}
