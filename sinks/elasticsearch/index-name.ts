import { SinkError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'

/** The variables an index template may use. */
export const INDEX_VARIABLES = ['schema', 'table', 'db', 'prefix'] as const

const PLACEHOLDER = /\$\{([^}]*)\}/g

/** Names in `${...}` that are not index variables (empty when the template is fine). */
export function unknownIndexVariables(template: string): string[] {
  const known: readonly string[] = INDEX_VARIABLES
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!).filter((v) => !known.includes(v))
}

/**
 * Index names Elasticsearch and OpenSearch accept: lowercase, no `\ / * ? " < > | , #`,
 * space or `:`, not starting with `-`, `_` or `+`, not `.` or `..`, at most 255 bytes.
 */
function indexNameProblem(name: string): string | undefined {
  if (name === '' || name === '.' || name === '..') return 'it is empty, `.` or `..`'
  if (/^[-_+]/.test(name)) return 'it starts with -, _ or +'
  if (/[\\/*?"<>|,# :]/.test(name)) return 'it contains one of \\ / * ? " < > | , # : or a space'
  if (Buffer.byteLength(name) > 255) return 'it is longer than 255 bytes'
  return undefined
}

/**
 * The index of each table from the sink's `index` template: `${schema}`, `${table}`,
 * `${db}` and `${prefix}` are replaced, and the result is lower-cased (indices cannot hold
 * upper case). A name the server would refuse is a SinkError naming the table and the
 * template. `sluice verify` uses the same function to find the documents.
 */
export function indexNamer(template: string, prefix: string): (table: TableSchema) => string {
  const cache = new WeakMap<TableSchema, string>()
  return (table) => {
    let name = cache.get(table)
    if (name !== undefined) return name
    const vars: Record<string, string> = { schema: table.schema, table: table.table, db: table.db, prefix }
    name = template.replace(PLACEHOLDER, (whole, v: string) => vars[v] ?? whole).toLowerCase()
    const problem = indexNameProblem(name)
    if (problem) {
      throw new SinkError(
        'ES_INDEX_NAME_INVALID',
        `index name '${name}' for table ${table.schema}.${table.table} (template '${template}') is not ` +
          `a valid index name: ${problem}; change the sink's index template`,
      )
    }
    cache.set(table, name)
    return name
  }
}
