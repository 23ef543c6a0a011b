import { Redis } from 'ioredis'
import { SinkError } from '../../pipeline/errors.js'
import type { TableSchema } from '../../pipeline/schema.js'
import type { SinkContext } from '../../pipeline/sink.js'
import type { SinkReader, Verifier } from '../../pipeline/verify.js'
import type { Document } from '../document.js'
import { hashFields } from './cache.js'
import { redactUrl, type RedisConfig } from './config.js'
import { compileTemplate, type TableTemplate } from './template.js'

/** Keys per SCAN call (a hint to the server). */
const SCAN_COUNT = 1000

/** A hash-mode document as the cache stores it: the sink's own hashFields() as an object. */
export function hashDocument(doc: Document): Record<string, string> {
  const pairs = hashFields(doc)
  const out: Record<string, string> = {}
  for (let i = 0; i < pairs.length; i += 2) out[pairs[i]!] = pairs[i + 1]!
  return out
}

/** The key string inside a Redis key of the template, or null when the key is not one of the template's. */
export function keyFromRedisKey(t: TableTemplate, redisKey: string): string | null {
  const fixed = t.parts.reduce((n, p) => n + p.length, 0)
  const slots = t.parts.length - 1
  const len = (redisKey.length - fixed) / slots
  if (!Number.isInteger(len) || len < 0) return null
  const first = t.parts[0]!
  if (!redisKey.startsWith(first)) return null
  const key = redisKey.slice(first.length, first.length + len)
  return t.render(key) === redisKey ? key : null
}

/**
 * Reads the Redis cache back for `sluice verify`: row keys from the sink's key template
 * (`${key}` = keyString), values as JSON strings or hashes. Lists a table's keys with SCAN
 * MATCH on the template's pattern (never KEYS), skipping the version keys.
 */
export class RedisReader implements SinkReader {
  readonly target: string
  private redis: Redis | null = null
  private readonly template: (t: TableSchema) => TableTemplate

  constructor(
    private readonly cfg: RedisConfig & { url: string },
    ctx: SinkContext,
  ) {
    this.target = redactUrl(cfg.url)
    this.template = compileTemplate(cfg.key, ctx.avro.prefix)
  }

  async open(): Promise<void> {
    const r = new Redis(this.cfg.url, {
      lazyConnect: true,
      connectTimeout: this.cfg.connect_timeout_ms,
      maxRetriesPerRequest: 2,
      retryStrategy: () => null,
    })
    r.on('error', () => {}) // reported by the failing command
    this.redis = r
    try {
      await r.connect()
    } catch (err) {
      throw this.failed('connect to', err)
    }
  }

  location(table: TableSchema): string {
    return this.template(table).pattern
  }

  async fetch(table: TableSchema, keys: readonly string[]): Promise<Map<string, Document>> {
    const out = new Map<string, Document>()
    if (keys.length === 0) return out
    const t = this.template(table)
    const names = keys.map((k) => t.render(k))
    try {
      if (this.cfg.value === 'json') {
        const values = await this.redis!.mget(...names)
        values.forEach((v, i) => {
          if (v !== null) out.set(keys[i]!, parseDocument(v))
        })
        return out
      }
      const p = this.redis!.pipeline()
      for (const n of names) p.hgetall(n)
      const results = (await p.exec()) ?? []
      results.forEach(([err, v], i) => {
        // WRONGTYPE: something other than a hash sits at the key; it differs in every column.
        if (err) out.set(keys[i]!, {})
        else if (v && Object.keys(v as object).length > 0) out.set(keys[i]!, v as Document)
      })
      return out
    } catch (err) {
      throw this.failed('read', err)
    }
  }

  async *keys(table: TableSchema): AsyncIterable<string[]> {
    const t = this.template(table)
    let cursor = '0'
    do {
      let batch: string[]
      try {
        ;[cursor, batch] = await this.redis!.scan(cursor, 'MATCH', t.pattern, 'COUNT', SCAN_COUNT)
      } catch (err) {
        throw this.failed('scan', err)
      }
      const keys: string[] = []
      for (const name of batch) {
        if (name.startsWith(this.cfg.version_prefix)) continue
        const k = keyFromRedisKey(t, name)
        if (k !== null) keys.push(k)
      }
      if (keys.length > 0) yield keys
    } while (cursor !== '0')
  }

  expected(_table: TableSchema, doc: Document): Document {
    return this.cfg.value === 'hash' ? hashDocument(doc) : doc
  }

  async close(): Promise<void> {
    this.redis?.disconnect()
    this.redis = null
  }

  private failed(what: string, err: unknown): SinkError {
    return new SinkError(
      'VERIFY_TARGET_FAILED',
      `cannot ${what} redis at ${this.target}: ${(err as Error).message}; check the sink's url and that the server is up`,
      { cause: err, retriable: true },
    )
  }
}

/** A stored JSON value as a document; a value that is not a JSON object differs in every column. */
function parseDocument(text: string): Document {
  try {
    const v: unknown = JSON.parse(text)
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Document) : {}
  } catch {
    return {}
  }
}

/** The verifier of a redis sink config (registry hook), or why it cannot be verified. */
export function redisVerifier(cfg: RedisConfig, ctx: SinkContext): Verifier {
  if (cfg.mode === 'stream')
    return { unverifiable: 'stream mode keeps a log of change events, not the current rows' }
  if (cfg.ttl_ms > 0)
    return { unverifiable: `rows expire after ttl_ms (${cfg.ttl_ms} ms), so missing keys are expected` }
  if (cfg.cluster || cfg.nodes !== undefined || cfg.url === undefined)
    return { unverifiable: 'verify does not read Redis Cluster yet' }
  return new RedisReader({ ...cfg, url: cfg.url }, ctx)
}
