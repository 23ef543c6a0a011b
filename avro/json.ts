import type { ChangeEvent } from '../pipeline/event.js'
import type { AvroSchema } from '../pipeline/schema.js'
import type { TableCodec } from './codec.js'

/** Converts one Avro value (as avsc holds it, unions unwrapped) into a JSON-safe value. */
type Render = (value: unknown) => unknown

/** Kafka Connect's fixed-scale decimal: `bytes` holding the unscaled value, scale in `connect.parameters.scale`. */
const CONNECT_DECIMAL = 'org.apache.kafka.connect.data.Decimal'
/** Debezium's variable-scale decimal: record `{ scale: int, value: bytes }`. */
const VARIABLE_SCALE_DECIMAL = 'io.debezium.data.VariableScaleDecimal'

const identity: Render = (v) => v

/**
 * Numbers stay numbers; a wide `long` held as bigint becomes a decimal string, and NaN or
 * ±Infinity (valid Avro float/double, not valid JSON) become their names as strings.
 */
const renderNumber: Render = (v) => {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v)
  return v
}

const renderBase64: Render = (v) => (Buffer.isBuffer(v) ? v.toString('base64') : v)

/**
 * Avro/Kafka Connect decimal bytes are the unscaled integer in big-endian two's complement
 * (minimal length, may be empty for 0). Returns it as an exact decimal string with `scale`
 * digits after the point: (0xFB1E = -1250, scale 2) → "-12.50". No floating point involved.
 */
export function decimalString(unscaled: Uint8Array, scale: number): string {
  let n = 0n
  for (const b of unscaled) n = (n << 8n) | BigInt(b)
  // Sign-extend: the top bit of the first byte is the sign of a two's complement number.
  if (unscaled.length > 0 && (unscaled[0]! & 0x80) !== 0) n -= 1n << BigInt(unscaled.length * 8)
  const negative = n < 0n
  let digits = (negative ? -n : n).toString()
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0')
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`
  } else if (scale < 0 && n !== 0n) {
    digits += '0'.repeat(-scale)
  }
  return negative ? `-${digits}` : digits
}

function decimalRenderer(scale: number): Render {
  return (v) => (v instanceof Uint8Array ? decimalString(v, scale) : v)
}

/** Named types seen while compiling one top-level schema, by full name. Filled as the walk goes. */
type Names = Map<string, Render>

const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'bytes', 'string'])

function fullName(name: string, namespace: string | undefined): string {
  return name.includes('.') || !namespace ? name : `${namespace}.${name}`
}

/** Does `v` look like a value of `schema`? Used to pick the branch of a union with several non-null branches. */
function matcher(
  schema: AvroSchema,
  names: Map<string, string>,
  namespace: string | undefined,
): (v: unknown) => boolean {
  let t: unknown = schema
  if (typeof schema === 'object' && !Array.isArray(schema)) t = (schema as { type: unknown }).type
  if (
    typeof t === 'string' &&
    !PRIMITIVES.has(t) &&
    !['record', 'error', 'enum', 'fixed', 'array', 'map'].includes(t)
  ) {
    // A reference: resolve the kind of the named type.
    t = names.get(fullName(t, namespace)) ?? names.get(t) ?? 'record'
  }
  switch (t) {
    case 'null':
      return (v) => v === null || v === undefined
    case 'boolean':
      return (v) => typeof v === 'boolean'
    case 'int':
    case 'long':
    case 'float':
    case 'double':
      return (v) => typeof v === 'number' || typeof v === 'bigint'
    case 'string':
    case 'enum':
      return (v) => typeof v === 'string'
    case 'bytes':
    case 'fixed':
      return (v) => v instanceof Uint8Array
    case 'array':
      return (v) => Array.isArray(v)
    default:
      return (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array)
  }
}

/**
 * Compiles a renderer for `schema`. Named types (record, enum, fixed) are registered under
 * their full name before their fields are compiled, so recursive and later references
 * resolve through `names` at call time.
 */
function compile(
  schema: AvroSchema,
  names: Names,
  kinds: Map<string, string>,
  namespace: string | undefined,
): Render {
  if (typeof schema === 'string') {
    if (PRIMITIVES.has(schema)) return primitive(schema)
    // Late binding: the named type may be defined further down the schema (or be recursive).
    let bound: Render | undefined
    return (v) => {
      bound ??= names.get(fullName(schema, namespace)) ?? names.get(schema)
      if (!bound) throw new Error(`unknown avro type name '${schema}'`)
      return bound(v)
    }
  }

  if (Array.isArray(schema)) {
    // Union, unwrapped: the value is null or a value of one of the branches.
    const branches = (schema as readonly AvroSchema[]).filter((b) => b !== 'null')
    if (branches.length === 1) {
      const inner = compile(branches[0]!, names, kinds, namespace)
      return (v) => (v === null || v === undefined ? null : inner(v))
    }
    const compiled = branches.map((b) => ({
      test: matcher(b, kinds, namespace),
      render: compile(b, names, kinds, namespace),
    }))
    return (v) => {
      if (v === null || v === undefined) return null
      for (const c of compiled) if (c.test(v)) return c.render(v)
      return v
    }
  }

  const s = schema as { readonly [attr: string]: unknown }
  const type = s.type as AvroSchema
  if (typeof type !== 'string') return compile(type, names, kinds, namespace) // { type: <schema> }

  switch (type) {
    case 'record':
    case 'error': {
      const ns = typeof s.namespace === 'string' ? s.namespace : namespace
      const full = fullName(String(s.name), ns)
      const inner = full.includes('.') ? full.slice(0, full.lastIndexOf('.')) : undefined
      kinds.set(full, 'record')
      if (s['connect.name'] === VARIABLE_SCALE_DECIMAL) {
        const r: Render = (v) => {
          const d = v as { scale?: unknown; value?: unknown } | null
          return d && typeof d.scale === 'number' && d.value instanceof Uint8Array
            ? decimalString(d.value, d.scale)
            : v
        }
        names.set(full, r)
        return r
      }
      const fields: { name: string; render: Render }[] = []
      const r: Render = (v) => {
        if (typeof v !== 'object' || v === null) return v
        const src = v as Record<string, unknown>
        const out: Record<string, unknown> = {}
        for (const f of fields) out[f.name] = f.render(src[f.name])
        return out
      }
      names.set(full, r)
      for (const f of s.fields as readonly { name: string; type: AvroSchema }[]) {
        fields.push({ name: f.name, render: compile(f.type, names, kinds, inner) })
      }
      return r
    }
    case 'enum':
    case 'fixed': {
      const ns = typeof s.namespace === 'string' ? s.namespace : namespace
      const full = fullName(String(s.name), ns)
      kinds.set(full, type)
      const r = type === 'enum' ? identity : (decimalOf(s) ?? renderBase64)
      names.set(full, r)
      return r
    }
    case 'array': {
      const item = compile(s.items as AvroSchema, names, kinds, namespace)
      return (v) => (Array.isArray(v) ? v.map(item) : v)
    }
    case 'map': {
      const value = compile(s.values as AvroSchema, names, kinds, namespace)
      return (v) => {
        if (typeof v !== 'object' || v === null) return v
        const out: Record<string, unknown> = {}
        for (const [k, x] of Object.entries(v)) out[k] = value(x)
        return out
      }
    }
    case 'bytes':
      return decimalOf(s) ?? renderBase64
    default:
      if (PRIMITIVES.has(type)) return primitive(type)
      return compile(type, names, kinds, namespace) // a named reference with attributes
  }
}

function primitive(type: string): Render {
  switch (type) {
    case 'int':
    case 'long':
    case 'float':
    case 'double':
      return renderNumber
    case 'bytes':
      return renderBase64
    default:
      return identity
  }
}

/** The decimal renderer when a bytes/fixed schema is a Kafka Connect Decimal or an Avro decimal logical type. */
function decimalOf(s: { readonly [attr: string]: unknown }): Render | undefined {
  if (s['connect.name'] === CONNECT_DECIMAL) {
    const params = s['connect.parameters'] as { scale?: unknown } | undefined
    return decimalRenderer(Number(params?.scale ?? 0))
  }
  if (s.logicalType === 'decimal') return decimalRenderer(Number(s.scale ?? 0))
  return undefined
}

const renderers = new WeakMap<object, Render>()

function rendererFor(schema: AvroSchema): Render {
  if (typeof schema !== 'object') return compile(schema, new Map(), new Map(), undefined)
  let r = renderers.get(schema)
  if (!r) renderers.set(schema, (r = compile(schema, new Map(), new Map(), undefined)))
  return r
}

/**
 * Renders an Avro value of `schema` (as avsc holds it with unwrapped unions) as JSON-safe
 * values: unions → the value or null; Kafka Connect `Decimal`, Avro `decimal` and Debezium
 * `VariableScaleDecimal` → exact decimal strings (`"-12.50"`); other bytes/fixed → base64;
 * bigint → string; everything else as is. The renderer is compiled once per schema object.
 */
export function jsonValue(schema: AvroSchema, value: unknown): unknown {
  return rendererFor(schema)(value)
}

/** The change event's envelope (`codec.envelope(ev)`) as a JSON-safe object; see jsonValue(). */
export function envelopeToJson(codec: TableCodec, ev: ChangeEvent): Record<string, unknown> {
  if (!codec.keySchema)
    return rendererFor(codec.envelopeSchema)(codec.envelope(ev)) as Record<string, unknown>
  return rendererFor(codec.keyedSchema)({ ...codec.envelope(ev), key: ev.key }) as Record<string, unknown>
}
