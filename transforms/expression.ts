import { compileExpression } from 'filtrex'
import { jsonValue } from '../avro/json.js'
import type { ChangeEvent, Row } from '../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../pipeline/schema.js'

/**
 * The filter expression language: filtrex 3 (compiled to a closure over a parse tree, never
 * eval of user text), with these conventions:
 *
 * - Names: `op` (`c`, `u`, `d`, `r`, `t`), `table`, `schema` (MySQL: the database),
 *   `before.<column>`, `after.<column>`. Constants `true`, `false`, `null`.
 * - Text literals in double or single quotes: `after.status != 'draft'` (filtrex itself
 *   reads single quotes as a quoted name; here they are text, as in SQL).
 * - A missing row image (`before` of an insert or of a Postgres update without REPLICA
 *   IDENTITY FULL, `after` of a delete) reads as null for every column, as does SQL NULL.
 *   `==`/`!=` treat null as a value (`after.note == null`); `<`, `<=`, `>`, `>=` with a
 *   null side are false, so `after.qty > 10` is false for deletes.
 * - Values: numbers (decimals and 64-bit integers as JS numbers), text, booleans; dates,
 *   times and timestamps are the Avro numbers (days, micros since the epoch); bytes are
 *   base64 text.
 * - Ordering text against a number is an error (EncodeError naming the transform and the
 *   event), not false: it is almost always a mistake in the expression.
 */

/** filtrex's built-in functions. */
const FUNCTIONS = new Set([
  'abs',
  'ceil',
  'floor',
  'log',
  'log2',
  'log10',
  'max',
  'min',
  'round',
  'sqrt',
  'exists',
  'empty',
])
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'of', 'if', 'then', 'else', 'mod'])
const CONSTANTS = { true: true, false: false, null: null } as const
const ROOTS = new Set(['op', 'table', 'schema', 'before', 'after'])

/** A column an expression reads. */
export interface ColumnRef {
  readonly side: 'before' | 'after'
  readonly column: string
}

/** A compiled condition. */
export interface Condition {
  readonly text: string
  /** Columns named in the expression (each must exist in the tables it runs on). */
  readonly columns: readonly ColumnRef[]
  /** Evaluates it for an event; throws a TypeError (type mismatch) with a readable message. */
  test(ev: ChangeEvent, view: RowView): boolean
}

/** Per table: how a column's Avro value reads in an expression. */
export type RowView = ReadonlyMap<string, (v: unknown) => unknown>

/** Scans for the names an expression uses; quoted text and numbers are skipped. */
function scanNames(text: string): { name: string; call: boolean }[] {
  const out: { name: string; call: boolean }[] = []
  let i = 0
  while (i < text.length) {
    const ch = text[i]!
    if (ch === '"' || ch === "'") {
      i++
      while (i < text.length && text[i] !== ch) i += text[i] === '\\' ? 2 : 1
      i++
    } else if (/[0-9]/.test(ch)) {
      const m = /^[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i))
      i += m ? m[0].length : 1
    } else if (/[A-Za-z_$]/.test(ch)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$.]*/.exec(text.slice(i))!
      i += m[0].length
      const call = /^\s*\(/.test(text.slice(i))
      out.push({ name: m[0], call })
    } else i++
  }
  return out
}

/** The names an expression reads, or the first problem with them. */
function analyse(text: string): { columns: ColumnRef[] } | { problem: string } {
  const columns: ColumnRef[] = []
  for (const { name, call } of scanNames(text)) {
    if (KEYWORDS.has(name)) continue // `in (...)`, `not (...)` are not calls
    if (call) {
      if (!FUNCTIONS.has(name))
        return { problem: `unknown function ${name}(); known: ${[...FUNCTIONS].join(', ')}` }
      continue
    }
    if (Object.hasOwn(CONSTANTS, name)) continue
    const dot = name.indexOf('.')
    const root = dot < 0 ? name : name.slice(0, dot)
    if (!ROOTS.has(root) || (dot >= 0 && root !== 'before' && root !== 'after') || name.endsWith('.')) {
      return {
        problem:
          `unknown name ${name}; expressions see op, table, schema, before.<column> and after.<column>` +
          ` (quote text: '${name}')`,
      }
    }
    if (dot >= 0) columns.push({ side: root as 'before' | 'after', column: name.slice(dot + 1) })
  }
  return { columns }
}

function describe(v: unknown): string {
  return typeof v === 'string' ? 'text' : typeof v
}

/** Ordering with SQL-like nulls: false when either side is null; text with text, numbers with numbers. */
function ordering(cmp: (a: number | string, b: number | string) => boolean) {
  return (a: unknown, b: unknown): boolean => {
    if (a === null || a === undefined || b === null || b === undefined) return false
    if (typeof a !== typeof b || (typeof a !== 'number' && typeof a !== 'string')) {
      throw new TypeError(`cannot order ${describe(a)} against ${describe(b)}`)
    }
    return cmp(a as number | string, b as number | string)
  }
}

const eq = (a: unknown, b: unknown): boolean => (a ?? null) === (b ?? null)

const OPERATORS = {
  '==': eq,
  '!=': (a: unknown, b: unknown) => !eq(a, b),
  '<': ordering((a, b) => a < b),
  '<=': ordering((a, b) => a <= b),
  '>': ordering((a, b) => a > b),
  '>=': ordering((a, b) => a >= b),
}

interface Scope {
  readonly ev: ChangeEvent
  readonly view: RowView
}

function sideValue(row: Row | null, view: RowView, column: string): unknown {
  if (row === null || !Object.hasOwn(row, column)) return null
  const v = row[column]
  if (v === null || v === undefined) return null
  const read = view.get(column)
  return read ? read(v) : v
}

/** Resolves a name for filtrex; single-quoted "names" are text literals. */
function resolve(name: string, _get: unknown, scope: Scope, type: string): unknown {
  if (type === 'single-quoted') return name
  const { ev, view } = scope
  switch (name) {
    case 'op':
      return ev.op
    case 'table':
      return ev.table.table
    case 'schema':
      return ev.table.schema
    case 'before':
      return ev.before
    case 'after':
      return ev.after
  }
  if (name.startsWith('before.')) return sideValue(ev.before, view, name.slice(7))
  if (name.startsWith('after.')) return sideValue(ev.after, view, name.slice(6))
  return null // unreachable: analyse() accepted only the names above
}

/** The problem with an expression's syntax or names, or null when it compiles. */
export function expressionProblem(text: string): string | null {
  try {
    compile(text)
    return null
  } catch (err) {
    return (err as Error).message
  }
}

/** Compiles a condition; throws an Error with a one-line readable message. */
export function compile(text: string): Condition {
  if (text.trim() === '') throw new Error('empty expression; write a condition such as after.qty > 10')
  let fn: (scope: Scope) => unknown
  try {
    fn = compileExpression(text, {
      constants: CONSTANTS,
      operators: OPERATORS,
      customProp: resolve as never,
    }) as (scope: Scope) => unknown
  } catch (err) {
    // filtrex's parse errors are multi-line (source, caret, expectation): keep them on one line.
    const msg = (err as Error).message.replace(/\s*\n[-\s]*\^?\s*/g, ' ').replace(/\s+/g, ' ')
    throw new Error(`expression syntax: ${msg}`, { cause: err })
  }
  const names = analyse(text)
  if ('problem' in names) throw new Error(names.problem)
  return {
    text,
    columns: names.columns,
    test(ev, view) {
      const r = fn({ ev, view })
      // filtrex returns runtime errors (type mismatches) as values.
      if (r instanceof Error) throw new TypeError(r.message)
      return Boolean(r)
    },
  }
}

const DECIMALS = new Set(['org.apache.kafka.connect.data.Decimal', 'io.debezium.data.VariableScaleDecimal'])

function isDecimal(schema: AvroSchema): boolean {
  if (typeof schema !== 'object' || Array.isArray(schema)) return false
  const s = schema as { readonly [k: string]: unknown }
  return DECIMALS.has(String(s['connect.name'])) || s.logicalType === 'decimal'
}

/** How each column of `table` reads in expressions (see the module comment). */
export function rowView(table: TableSchema): RowView {
  const view = new Map<string, (v: unknown) => unknown>()
  for (const col of table.columns) {
    const decimal = isDecimal(col.avro)
    view.set(col.name, (v) => {
      if (typeof v === 'bigint') return Number(v)
      if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') return v
      const j = jsonValue(col.avro, v)
      return decimal && typeof j === 'string' ? Number(j) : j
    })
  }
  return view
}
