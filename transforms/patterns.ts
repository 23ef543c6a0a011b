import picomatch from 'picomatch'
import { z } from 'zod'
import type { TableSchema } from '../pipeline/schema.js'

/**
 * Glob patterns over dotted names: `schema.table` for tables, `schema.table.column` for
 * columns (MySQL: `database.table[.column]`). A pattern is split at its dots and each part
 * is matched separately with picomatch (`*`, `?`, `[abc]`, `{a,b}`), so `*` never crosses
 * a dot: `public.*.note` is the `note` column of every table in `public`. Matching is
 * case-sensitive, as the names are stored in the catalog.
 */
type Matcher = (name: string) => boolean

const GLOB_OPTIONS = { dot: true, strictBrackets: true } as const

/** A compiled part; a literal part (no glob syntax) compares by equality. */
function part(text: string): { match: Matcher; literal: boolean } {
  if (text === '') throw new Error('has an empty part (two dots in a row, or a leading or trailing dot)')
  // Compiled even when it turns out literal: strictBrackets rejects an unclosed `[`, which
  // scan() would otherwise let through as a literal name.
  const match = picomatch(text, GLOB_OPTIONS)
  if (!picomatch.scan(text).isGlob) return { match: (n) => n === text, literal: true }
  return { match, literal: false }
}

/** A compiled `schema.table` pattern. */
export interface TablePattern {
  readonly text: string
  /** No glob syntax in either part. */
  readonly literal: boolean
  matches(schema: string, table: string): boolean
}

/** A compiled `schema.table.column` pattern. */
export interface ColumnPattern {
  readonly text: string
  /** The `schema.table` part. */
  readonly table: TablePattern
  /** The column part when it has no glob syntax (it must then name a real column). */
  readonly literalColumn: string | null
  matchesColumn(name: string): boolean
}

/** Compiles `schema.table`; throws an Error whose message completes "pattern X ...". */
export function tablePattern(text: string): TablePattern {
  const parts = text.split('.')
  if (parts.length !== 2) throw new Error('must be schema.table (exactly one dot)')
  const [s, t] = parts.map(part) as [ReturnType<typeof part>, ReturnType<typeof part>]
  return {
    text,
    literal: s.literal && t.literal,
    matches: (schema, table) => s.match(schema) && t.match(table),
  }
}

/** Compiles `schema.table.column`; throws an Error whose message completes "pattern X ...". */
export function columnPattern(text: string): ColumnPattern {
  const parts = text.split('.')
  if (parts.length !== 3) throw new Error('must be schema.table.column (exactly two dots)')
  const table = tablePattern(`${parts[0]}.${parts[1]}`)
  const c = part(parts[2]!)
  return { text, table, literalColumn: c.literal ? parts[2]! : null, matchesColumn: c.match }
}

/** Does a table pattern match this table? */
export function tableMatches(p: TablePattern, t: TableSchema): boolean {
  return p.matches(t.schema, t.table)
}

function patternList(kind: 'table' | 'column', compile: (t: string) => unknown) {
  const example = kind === 'table' ? 'public.orders' : 'public.accounts.note'
  return z
    .array(
      z.string().superRefine((text, ctx) => {
        try {
          compile(text)
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            message: `${kind} pattern ${JSON.stringify(text)} ${(err as Error).message}; e.g. ${example}`,
          })
        }
      }),
    )
    .min(1)
}

/** Zod field: a list of `schema.table` globs, each compiled at validation (bad glob syntax is an error). */
export const tablePatternsField = (): z.ZodArray<z.ZodString> =>
  patternList('table', tablePattern) as z.ZodArray<z.ZodString>

/** Zod field: a list of `schema.table.column` globs, each compiled at validation. */
export const columnPatternsField = (): z.ZodArray<z.ZodString> =>
  patternList('column', columnPattern) as z.ZodArray<z.ZodString>

/** The connectors' own table globs: `*` any run of characters (dots included), `?` one. */
function sourceGlob(glob: string): RegExp {
  let re = '^'
  for (const ch of glob) {
    if (ch === '*') re += '.*'
    else if (ch === '?') re += '.'
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(re + '$')
}

/**
 * Static check that a transform's `schema.table` pattern can match a table of
 * `source.tables`. Returns a message when it certainly cannot, null when it can or when
 * that cannot be told without the catalog (both sides globs, or source entries without a
 * schema part).
 */
export function uncapturedTable(pattern: string, sourceTables: readonly string[]): string | null {
  let mine: TablePattern
  try {
    mine = tablePattern(pattern)
  } catch {
    return null // reported by the field itself
  }
  if (sourceTables.length === 0 || sourceTables.some((t) => !t.includes('.'))) return null
  let captured: boolean
  if (mine.literal) captured = sourceTables.some((t) => sourceGlob(t).test(pattern))
  else if (sourceTables.every((t) => !/[*?]/.test(t))) {
    captured = sourceTables.some((t) => {
      const dot = t.indexOf('.')
      return mine.matches(t.slice(0, dot), t.slice(dot + 1))
    })
  } else return null
  return captured
    ? null
    : `${pattern} matches none of source.tables (${sourceTables.join(', ')}); fix the table name or capture the table`
}
