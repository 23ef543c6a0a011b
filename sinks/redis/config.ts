import { z } from 'zod'

/** Placeholders a key or stream template may use. */
export const TEMPLATE_VARS = ['prefix', 'db', 'schema', 'table', 'key'] as const

const PLACEHOLDER = /\$\{([^}]*)\}/g

/** Names of the `${...}` placeholders in a template, in order. */
export function placeholders(template: string): string[] {
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!)
}

/**
 * Whether a rendered key of `template` always carries a Redis Cluster hash tag: a `{`
 * followed later by a `}` with something in between. Placeholders count as non-empty text.
 */
export function hasHashTag(template: string): boolean {
  const literal = template.replace(PLACEHOLDER, 'x')
  const open = literal.indexOf('{')
  if (open < 0) return false
  const close = literal.indexOf('}', open + 1)
  return close > open + 1
}

const DAY_MS = 86_400_000

/** A `sinks:` entry of type `redis`. */
export const redisConfig = z
  .strictObject({
    type: z.literal('redis'),
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
      .optional()
      .describe(
        'Redis server URL: `redis://[user:password@]host:port[/db]`, `rediss://` for TLS. ' +
          'With `cluster: true`, a seed node of the cluster. Required unless `nodes` is given.',
      )
      .meta({ examples: ['redis://127.0.0.1:6379', 'rediss://:${REDIS_PASSWORD}@cache:6380/0'] }),
    mode: z
      .enum(['cache', 'stream'])
      .default('cache')
      .describe(
        '`cache`: one key per row holding the current row (idempotent: a version guard ignores ' +
          'stale writes, so replays converge); `stream`: one XADD per change event (at-least-once).',
      ),
    key: z
      .string()
      .min(1)
      .default('${schema}.${table}:${key}')
      .describe(
        'Cache mode: the key of a row. Placeholders: `${prefix}` (avro prefix, default the pipeline ' +
          'name), `${db}`, `${schema}`, `${table}` and `${key}` (the primary key values joined by `:`). ' +
          'Must contain `${key}`. With a cluster it must contain a hash tag, e.g. `${schema}.${table}:{${key}}`.',
      )
      .meta({ examples: ['${schema}.${table}:${key}', 'cache:${table}:{${key}}'] }),
    value: z
      .enum(['json', 'hash'])
      .default('json')
      .describe(
        'Cache mode: `json` stores the row as a JSON object string (column names as keys); `hash` ' +
          'stores one hash field per non-null column: strings as they are, other values as JSON text; ' +
          'NULL columns have no field.',
      ),
    ttl_ms: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Cache mode: expire row keys this many ms after their last write (0: never).')
      .meta({ examples: [3_600_000] }),
    tombstone_ttl_ms: z
      .number()
      .int()
      .min(0)
      .default(DAY_MS)
      .describe(
        'Cache mode: how long the version of a deleted (or expired) row is kept, so a replayed ' +
          'older event cannot bring the row back (0: keep forever). Must cover the longest replay ' +
          '(time since the last acknowledged position).',
      )
      .meta({ examples: [DAY_MS] }),
    version_prefix: z
      .string()
      .min(1)
      .regex(/^[^{}*?[\]\\]*$/, 'must not contain braces or glob characters')
      .default('sluice:v:')
      .describe(
        'Cache mode: each row key K has a companion key `<version_prefix>K` holding the version ' +
          '(source position) of its last write, or a tombstone after a delete.',
      ),
    stream: z
      .string()
      .min(1)
      .default('${prefix}.${schema}.${table}')
      .describe(
        'Stream mode: the stream key of a table. Placeholders: `${prefix}`, `${db}`, `${schema}`, `${table}`.',
      )
      .meta({ examples: ['${prefix}.${schema}.${table}'] }),
    maxlen: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe(
        'Stream mode: trim each stream to about this many entries (`XADD MAXLEN ~`); 0: never trim. ' +
          'Trimmed entries are gone for consumers that had not read them.',
      )
      .meta({ examples: [1_000_000] }),
    cluster: z
      .boolean()
      .default(false)
      .describe('Talk to a Redis Cluster, discovering it from `url` (or `nodes`).'),
    nodes: z
      .array(z.string().regex(/^(rediss?:\/\/)?[^\s/]+:\d+$/, 'must be host:port or redis://host:port'))
      .min(1)
      .optional()
      .describe('Redis Cluster seed nodes (`host:port`); implies `cluster: true`.')
      .meta({ examples: [['redis-1:6379', 'redis-2:6379']] }),
    connect_timeout_ms: z
      .number()
      .int()
      .min(100)
      .default(10_000)
      .describe('How long open() waits for Redis to answer before failing.'),
  })
  .superRefine((c, ctx) => {
    if (c.url === undefined && c.nodes === undefined)
      ctx.addIssue({
        code: 'custom',
        message: 'a redis sink needs url (or nodes for a cluster), e.g. url: redis://127.0.0.1:6379',
        path: ['url'],
      })
    const check = (field: 'key' | 'stream', allowed: readonly string[]): void => {
      for (const name of placeholders(c[field])) {
        if (!allowed.includes(name))
          ctx.addIssue({
            code: 'custom',
            message: `unknown placeholder '\${${name}}'; use ${allowed.map((a) => `\${${a}}`).join(', ')} (or '$\${' for a literal '\${')`,
            path: [field],
          })
      }
    }
    if (c.mode === 'cache') {
      check('key', TEMPLATE_VARS)
      if (!placeholders(c.key).includes('key'))
        ctx.addIssue({
          code: 'custom',
          message: "the cache key must contain '${key}', or every row of a table would share one key",
          path: ['key'],
        })
      if ((c.cluster || c.nodes !== undefined) && !hasHashTag(c.key))
        ctx.addIssue({
          code: 'custom',
          message:
            "with a cluster the key needs a hash tag so a row's value and version keys share a slot, " +
            "e.g. '${schema}.${table}:{${key}}'",
          path: ['key'],
        })
    } else {
      check(
        'stream',
        TEMPLATE_VARS.filter((v) => v !== 'key'),
      )
    }
  })
  .describe(
    'Writes rows to Redis: `cache` keeps one key per row (idempotent, version-guarded), ' +
      '`stream` appends every change event to a Redis stream per table (at-least-once).',
  )

/** Validated redis sink configuration. */
export type RedisConfig = z.infer<typeof redisConfig>

/** `url` with its password (and user name) masked, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return url.replace(/\/\/[^@/]*@/, '//***@')
  }
}
