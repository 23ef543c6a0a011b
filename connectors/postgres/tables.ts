import type pg from 'pg'
import { PreconditionError } from '../../pipeline/errors.js'

/** A captured table as found in the catalog. */
export interface TableRef {
  readonly oid: number
  readonly schema: string
  readonly name: string
}

/** Catalog facts about a table needed to build its TableSchema. */
export interface TableMeta extends TableRef {
  readonly columns: readonly { name: string; typeOid: number; typmod: number; notNull: boolean }[]
  /** Primary-key columns in key order (empty when there is none). */
  readonly primaryKey: readonly string[]
  /** pg_class.relreplident: d default, n nothing, f full, i index. */
  readonly replicaIdentity: string
  /** pg_class.reltuples estimate (-1: never analysed). */
  readonly estimate: number
}

/** `schema.table` as Sluice prints it. */
export const qualified = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`

/** Quotes an identifier for SQL. */
export const ident = (s: string): string => `"${s.replace(/"/g, '""')}"`

/** Quotes `schema.table` for SQL. */
export const quoteTable = (t: { schema: string; name: string }): string =>
  `${ident(t.schema)}.${ident(t.name)}`

function globToRegExp(glob: string): RegExp {
  let re = '^'
  for (const ch of glob) {
    if (ch === '*') re += '.*'
    else if (ch === '?') re += '.'
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(re + '$')
}

/**
 * Resolves configured names and glob patterns (`public.orders`, `sales.*`) to tables
 * (ordinary and partitioned tables outside the system schemas). A pattern without a dot
 * means schema `public`. Fails naming every pattern that matches nothing.
 */
export async function expandTables(client: pg.ClientBase, patterns: readonly string[]): Promise<TableRef[]> {
  const { rows } = await client.query<{ oid: number; schema: string; name: string }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
        AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
      ORDER BY n.nspname, c.relname`,
  )
  const out: TableRef[] = []
  const seen = new Set<number>()
  const missing: string[] = []
  for (const p of patterns) {
    const full = p.includes('.') ? p : `public.${p}`
    const re = globToRegExp(full)
    const matched = rows.filter((r) => re.test(`${r.schema}.${r.name}`))
    if (matched.length === 0) missing.push(p)
    for (const m of matched) {
      if (!seen.has(m.oid)) {
        seen.add(m.oid)
        out.push(m)
      }
    }
  }
  if (missing.length > 0) {
    throw new PreconditionError(
      'PG_TABLE_NOT_FOUND',
      `table ${missing.map((m) => `'${m}'`).join(', ')} not found in the database: check source.tables (names are schema.table, case-sensitive)`,
    )
  }
  return out
}

/** Reads columns, primary key, replica identity and row estimate of tables. */
export async function tableMeta(
  client: pg.ClientBase,
  oids: readonly number[],
): Promise<Map<number, TableMeta>> {
  const { rows } = await client.query<{
    oid: number
    schema: string
    name: string
    relreplident: string
    reltuples: number
    columns: { name: string; typeOid: number; typmod: number; notNull: boolean }[]
    pk: string[] | null
  }>(
    `SELECT c.oid::int AS oid, n.nspname AS schema, c.relname AS name, c.relreplident, c.reltuples::float8 AS reltuples,
            (SELECT json_agg(json_build_object('name', a.attname, 'typeOid', a.atttypid::int, 'typmod', a.atttypmod,
                                               'notNull', a.attnotnull) ORDER BY a.attnum)
               FROM pg_attribute a
              WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
            (SELECT array_agg(a.attname::text ORDER BY k.ord)
               FROM pg_index i
               CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
               JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = ANY($1::oid[])`,
    [oids],
  )
  return new Map(
    rows.map((r) => [
      r.oid,
      {
        oid: r.oid,
        schema: r.schema,
        name: r.name,
        columns: r.columns ?? [],
        primaryKey: r.pk ?? [],
        replicaIdentity: r.relreplident,
        estimate: r.reltuples,
      },
    ]),
  )
}
