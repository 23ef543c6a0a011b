import type { AvroSchema, ColumnSchema, TableSchema } from '../../pipeline/schema.js'
import { columnSemantic } from '../document.js'

/** An Elasticsearch/OpenSearch field mapping (`{ type: 'long' }`...). */
export type FieldMapping = Record<string, unknown>

/**
 * Decimals with at most this many digits are indexed as `scaled_float`: the server parses
 * the document's decimal string as a double, and below 10^15 a double holds every such
 * value exactly once scaled, so range queries and aggregations are exact. Wider decimals
 * (and variable-scale ones) are `keyword`. The `_source` always keeps the exact string.
 */
const SCALED_FLOAT_MAX_PRECISION = 15

const KEYWORD: FieldMapping = { type: 'keyword' }
/** What Elasticsearch's dynamic mapping gives a string, kept for text columns. */
const TEXT: FieldMapping = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } }
const DATE: FieldMapping = { type: 'date' }

function decimalMapping(avro: Record<string, unknown>): FieldMapping {
  const precision = Number(avro.precision)
  const scale = Number(avro.scale ?? 0)
  if (Number.isInteger(precision) && precision <= SCALED_FLOAT_MAX_PRECISION && Number.isInteger(scale)) {
    return { type: 'scaled_float', scaling_factor: 10 ** scale }
  }
  return KEYWORD
}

/** The mapping of one Avro value schema (the column's, or an array's items); undefined: leave it dynamic. */
function avroMapping(
  avro: AvroSchema,
  semantic: string | undefined,
  type: AvroSchema,
): FieldMapping | undefined {
  const attrs = typeof avro === 'object' && !Array.isArray(avro) ? (avro as Record<string, unknown>) : {}
  switch (semantic) {
    case 'org.apache.kafka.connect.data.Decimal':
    case 'decimal':
      return decimalMapping(attrs)
    case 'io.debezium.data.VariableScaleDecimal':
      return KEYWORD
    case 'io.debezium.time.Date':
    case 'date':
    case 'io.debezium.time.Timestamp':
    case 'io.debezium.time.MicroTimestamp':
    case 'io.debezium.time.ZonedTimestamp':
    case 'local-timestamp-micros':
    case 'timestamp-micros':
      return DATE
    case 'io.debezium.time.MicroTime':
    case 'io.debezium.time.ZonedTime':
    case 'time-micros':
    case 'io.debezium.data.Uuid':
    case 'uuid':
    case 'io.debezium.data.Enum':
    case 'io.debezium.data.EnumSet':
    case 'io.debezium.data.Ltree':
      return KEYWORD
    case 'io.debezium.data.Json':
    case 'io.debezium.data.Xml':
    case 'io.debezium.data.Tsvector':
      return { type: 'text' }
    case 'io.debezium.time.Year':
      return { type: 'integer' }
    case 'io.debezium.data.Bits':
      return { type: 'binary' }
    default:
      break
  }
  switch (type) {
    case 'boolean':
      return { type: 'boolean' }
    case 'int':
      return { type: 'integer' }
    case 'long':
      return { type: 'long' }
    case 'float':
      return { type: 'float' }
    case 'double':
      return { type: 'double' }
    case 'string':
      return TEXT
    case 'bytes':
    case 'fixed':
      return { type: 'binary' }
    case 'array': {
      // Fields are multi-valued: an array column maps like its items.
      let items = attrs.items as AvroSchema | undefined
      // Nullable elements are a union with null: map the other branch.
      if (Array.isArray(items)) items = (items as AvroSchema[]).find((b) => b !== 'null')
      if (items === undefined) return undefined
      const s = typeof items === 'object' && !Array.isArray(items) ? (items as Record<string, unknown>) : {}
      const itemSemantic = (s['connect.name'] as string | undefined) ?? (s.logicalType as string | undefined)
      return avroMapping(items, itemSemantic, (s.type as AvroSchema | undefined) ?? items)
    }
    default:
      // Records (geometry), maps and anything new: dynamic mapping decides.
      return undefined
  }
}

/** The field mapping of a column (undefined: left to dynamic mapping). */
export function columnMapping(col: ColumnSchema): FieldMapping | undefined {
  const { type, semantic } = columnSemantic(col)
  return avroMapping(col.avro, semantic, type)
}

/** The `mappings` of a new index for a table: one property per column whose type maps. */
export function tableMappings(table: TableSchema): { properties: Record<string, FieldMapping> } {
  const properties: Record<string, FieldMapping> = {}
  for (const col of table.columns) {
    const m = columnMapping(col)
    if (m) properties[col.name] = m
  }
  return { properties }
}
