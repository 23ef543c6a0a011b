import type pg from 'pg'

/**
 * Everything needed to map a column type, resolved from `pg_type` (and `pg_enum`). Array,
 * domain and enum details are resolved recursively, so a `PgTypeInfo` is self-contained.
 */
export interface PgTypeInfo {
  oid: number
  /** `pg_type.typname`, e.g. `int4`, `_text`, `mood`. */
  name: string
  /** Namespace of the type (`pg_catalog` for built-ins, the extension's schema for citext/hstore). */
  schema: string
  /** `typtype`: b base, c composite, d domain, e enum, p pseudo, r range, m multirange. */
  type: 'b' | 'c' | 'd' | 'e' | 'p' | 'r' | 'm'
  /** `typcategory` (single letter: N numeric, S string, A array, D date/time, U user...). */
  category: string
  /**
   * `typdelim`: the delimiter between elements when this type appears inside an array's text
   * form. `,` for every built-in type except `box` (`;`).
   */
  delim: string
  /** Element type, for true arrays only (input function `array_in`). */
  elem?: PgTypeInfo
  /** Base type of a domain. */
  base?: PgTypeInfo
  /** The domain's own typmod (`typtypmod`), e.g. for `CREATE DOMAIN price AS numeric(10,2)`; -1 if none. */
  baseTypmod?: number
  /** Enum labels in sort order. */
  enumLabels?: string[]
}

interface TypeRow {
  oid: number
  typname: string
  nspname: string
  typtype: string
  typcategory: string
  typdelim: string
  elem: number
  basetype: number
  typtypmod: number
  labels: string[] | null
}

/**
 * One round trip: the recursive CTE follows array element and domain base types to a fixed
 * point, then each type's row comes back with its enum labels aggregated. True arrays are
 * recognised by their input function `array_in`: `typelem` alone is not enough (`name`,
 * `point`, `int2vector` also have one but are not arrays in text form).
 */
const TYPE_QUERY = `
WITH RECURSIVE wanted(oid) AS (
  SELECT unnest($1::oid[])
  UNION
  SELECT dep.oid
  FROM wanted w
  JOIN pg_type t ON t.oid = w.oid
  CROSS JOIN LATERAL (VALUES
    (CASE WHEN t.typinput = 'array_in'::regproc THEN t.typelem END),
    (CASE WHEN t.typtype = 'd' THEN t.typbasetype END)
  ) AS dep(oid)
  WHERE dep.oid IS NOT NULL AND dep.oid <> 0
)
SELECT t.oid::int8::float8 AS oid, t.typname::text AS typname, n.nspname::text AS nspname,
       t.typtype::text AS typtype, t.typcategory::text AS typcategory, t.typdelim::text AS typdelim,
       (CASE WHEN t.typinput = 'array_in'::regproc THEN t.typelem ELSE 0 END)::int8::float8 AS elem,
       (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE 0 END)::int8::float8 AS basetype,
       t.typtypmod AS typtypmod,
       (SELECT array_agg(e.enumlabel::text ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid) AS labels
FROM wanted w
JOIN pg_type t ON t.oid = w.oid
JOIN pg_namespace n ON n.oid = t.typnamespace`

type Queryable = pg.Client | pg.PoolClient

const caches = new WeakMap<Queryable, Map<number, PgTypeInfo>>()

/**
 * Resolves type oids (from a pgoutput Relation message or a catalog query) in one query,
 * following array elements and domain bases. Results are cached per client; an oid that does
 * not exist in `pg_type` is missing from the returned map. Call {@link forgetTypes} after DDL
 * that changes a type in place (`ALTER TYPE ... ADD VALUE`, `ALTER DOMAIN`).
 */
export async function resolveTypes(client: Queryable, oids: number[]): Promise<Map<number, PgTypeInfo>> {
  let cache = caches.get(client)
  if (!cache) caches.set(client, (cache = new Map()))
  const missing = [...new Set(oids)].filter((o) => !cache.has(o))
  if (missing.length > 0) {
    const { rows } = await client.query<TypeRow>(TYPE_QUERY, [missing])
    const byOid = new Map(rows.map((r) => [Number(r.oid), r]))
    const build = (oid: number): PgTypeInfo | undefined => {
      const hit = cache.get(oid)
      if (hit) return hit
      const r = byOid.get(oid)
      if (!r) return undefined
      const info: PgTypeInfo = {
        oid,
        name: r.typname,
        schema: r.nspname,
        type: r.typtype as PgTypeInfo['type'],
        category: r.typcategory,
        delim: r.typdelim,
      }
      // Register before recursing: the graph is acyclic in Postgres, but this keeps it safe.
      cache.set(oid, info)
      if (Number(r.elem) !== 0) info.elem = build(Number(r.elem))
      if (Number(r.basetype) !== 0) {
        info.base = build(Number(r.basetype))
        info.baseTypmod = r.typtypmod
      }
      if (r.labels) info.enumLabels = r.labels
      return info
    }
    for (const oid of byOid.keys()) build(oid)
  }
  const out = new Map<number, PgTypeInfo>()
  for (const oid of oids) {
    const info = cache.get(oid)
    if (info) out.set(oid, info)
  }
  return out
}

/** Drops the cached type metadata of a client (after DDL that changes types in place). */
export function forgetTypes(client: Queryable): void {
  caches.delete(client)
}
