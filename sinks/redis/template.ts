import type { TableSchema } from '../../pipeline/schema.js'

const PLACEHOLDER = /\$\{([^}]*)\}/g

/** Characters that SCAN MATCH patterns treat specially. */
const GLOB = /[*?[\]\\]/g

/** Escapes `text` for a SCAN MATCH pattern. */
export function globEscape(text: string): string {
  return text.replace(GLOB, (m) => `\\${m}`)
}

/**
 * A key template resolved for one table: the text around each `${key}`, so a row's key is
 * `parts.join(keyString)` without re-parsing the template per event.
 */
export interface TableTemplate {
  readonly parts: readonly string[]
  /** The row key for a key string. */
  render(key: string): string
  /** A SCAN MATCH pattern of every key of the table (`${key}` → `*`). */
  readonly pattern: string
}

/** Compiles a template for tables; `${prefix}`, `${db}`, `${schema}`, `${table}` are filled per table. */
export function compileTemplate(template: string, prefix: string): (t: TableSchema) => TableTemplate {
  const cache = new WeakMap<TableSchema, TableTemplate>()
  return (t) => {
    let r = cache.get(t)
    if (r) return r
    const vars: Record<string, string> = { prefix, db: t.db, schema: t.schema, table: t.table }
    const parts = template
      .split('${key}')
      .map((p) => p.replace(PLACEHOLDER, (m, name: string) => vars[name] ?? m))
    const only = parts.length === 2 ? parts : null
    r = {
      parts,
      render: only ? (key) => only[0]! + key + only[1]! : (key) => parts.join(key),
      pattern: parts.map(globEscape).join('*'),
    }
    cache.set(t, r)
    return r
  }
}
