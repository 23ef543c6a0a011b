/**
 * Reading a Redis cache back for the redis sink's end-to-end and crash tests: every key of
 * the database, split into row keys and the sink's documented bookkeeping keys (version
 * keys and the tables set, all under the version prefix), and a comparison with the rows
 * the test expects.
 */
import type { Redis } from 'ioredis'

/** The sink's default version prefix: version keys, tombstones and the tables set. */
export const VERSION_PREFIX = 'sluice:v:'

/**
 * Every key except the bookkeeping ones and `others` (keys other sinks own, such as a
 * stream), with its string value (`<not a string>` for other types).
 */
export async function rowKeys(redis: Redis, others: readonly string[] = []): Promise<Map<string, string>> {
  const keys: string[] = []
  let cursor = '0'
  do {
    const [next, batch] = await redis.scan(cursor, 'COUNT', 1000)
    cursor = next
    for (const k of batch) if (!k.startsWith(VERSION_PREFIX) && !others.includes(k)) keys.push(k)
  } while (cursor !== '0')
  const out = new Map<string, string>()
  for (let i = 0; i < keys.length; i += 500) {
    const part = keys.slice(i, i + 500)
    const values = await redis.mget(...part)
    part.forEach((k, j) => out.set(k, values[j] ?? '<not a string>'))
  }
  return out
}

/**
 * Differences between the cache and the expected rows (key → JSON text): missing keys,
 * different values, and keys that should not exist; at most `limit`, and the total.
 */
export async function cacheDiff(
  redis: Redis,
  expected: ReadonlyMap<string, string>,
  others: readonly string[] = [],
  limit = 10,
): Promise<{ count: number; sample: string[] }> {
  const actual = await rowKeys(redis, others)
  const out: string[] = []
  for (const [k, v] of expected) {
    const got = actual.get(k)
    if (got === undefined) out.push(`missing ${k}`)
    else if (got !== v) out.push(`${k}: cache ${got.slice(0, 200)}, table ${v.slice(0, 200)}`)
  }
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`extra ${k}`)
  return { count: out.length, sample: out.slice(0, limit) }
}
