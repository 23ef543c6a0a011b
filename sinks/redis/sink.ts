import { Cluster, Redis, ReplyError, type ClusterOptions, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import { PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent } from '../../pipeline/event.js'
import type { Sink, SinkContext } from '../../pipeline/sink.js'
import { CacheEncoder, CommandList, versionOf, type Command } from './cache.js'
import { redactUrl, type RedisConfig } from './config.js'
import { GUARD_ROWS, GUARD_SCRIPT } from './scripts.js'
import { StreamEncoder } from './stream.js'
import { globEscape } from './template.js'

/** Optional collaborators of RedisSink (tests shorten retries). */
export interface RedisSinkDeps {
  /** Merged into the ioredis options (standalone) or `redisOptions` (cluster). */
  readonly redisOptions?: Partial<RedisOptions>
}

/** What the sink did so far: guard-script calls that wrote, and those ignored as stale. */
export interface RedisSinkStats {
  applied: number
  ignored: number
  streamed: number
  swept: number
}

/** Keys per SCAN call and per pipeline while sweeping. */
const SCAN_COUNT = 1000

/** A snapshot's final checkpoint: phase 0 (snapshot), index END (see connectors/*\/position.ts). */
const SNAPSHOT_END = /\.0\.999999999999$/

/** Redis error replies start with an upper-case code word (`NOSCRIPT`, `WRONGPASS`, `OOM`...). */
function replyCode(err: unknown): string {
  const m = err instanceof Error ? /^([A-Z]+)\b/.exec(err.message) : null
  return m ? m[1]! : ''
}

/** `host:port` of a `nodes` entry or a URL. */
function hostPort(spec: string): { host: string; port: number } {
  const u = new URL(/^rediss?:\/\//.test(spec) ? spec : `redis://${spec}`)
  return { host: u.hostname, port: Number(u.port || 6379) }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (${what})`)), ms)
  })
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Writes change events to Redis, as a cache of rows (`mode: cache`) or as one stream per
 * table (`mode: stream`).
 *
 * Each batch becomes one pipeline (standalone) or auto-pipelined commands per node (cluster),
 * sent as soon as write() is called, so batches reach Redis in call order; write() resolves
 * when every reply of its batch arrived and none is an error. Truncates and the sweep at the
 * end of a snapshot need SCANs: a batch with one waits for every earlier batch, and later
 * batches wait for it. The guard script is loaded at open() and sent by SHA; after a
 * NOSCRIPT (a restarted or flushed server) it is loaded again and the batch re-sent, which
 * the version guard makes harmless.
 */
export class RedisSink implements Sink {
  readonly delivery: 'idempotent' | 'at-least-once'
  readonly stats: RedisSinkStats = { applied: 0, ignored: 0, streamed: 0, swept: 0 }

  private readonly client: Redis | Cluster
  private readonly cache: CacheEncoder | null
  private readonly stream: StreamEncoder | null
  private readonly tablesKey: string
  private readonly where: string
  /** Completes when every write so far has settled. */
  private tail: Promise<void> = Promise.resolve()
  /** Writes queued behind a truncate or sweep (or behind such a write) that have not finished. */
  private barriers = 0
  private failure: SluiceError | null = null
  private closed = false
  private closing: Promise<void> | null = null
  private connectedOnce = false
  private warnedDown = false
  /** The last 'error' event: connect() rejects with "Connection is closed" after an AUTH failure. */
  private lastError: Error | null = null
  /** Whether rows this pipeline wrote before may exist (the tables set existed at open). */
  private sweepNeeded = true

  constructor(
    private readonly config: RedisConfig,
    ctx: SinkContext,
    deps: RedisSinkDeps = {},
  ) {
    this.log = ctx.log
    this.delivery = config.mode === 'cache' ? 'idempotent' : 'at-least-once'
    this.tablesKey = `${config.version_prefix}#tables:${ctx.pipeline}`
    this.cache = config.mode === 'cache' ? new CacheEncoder(config, ctx.avro.prefix, this.tablesKey) : null
    this.stream = config.mode === 'stream' ? new StreamEncoder(config, ctx.avro.prefix) : null
    const base: RedisOptions = {
      lazyConnect: true,
      connectTimeout: config.connect_timeout_ms,
      // A lost connection is retried; commands wait (and are re-sent) meanwhile, and fail
      // the write after this many reconnect attempts (about 40 s with the backoff below).
      maxRetriesPerRequest: 20,
      retryStrategy: (times) => Math.min(times * 100, 2000),
      ...deps.redisOptions,
    }
    const cluster = config.cluster || config.nodes !== undefined
    if (cluster) {
      const seeds = (config.nodes ?? [config.url!]).map(hostPort)
      const auth = config.url ? new URL(config.url) : null
      // The cluster connects its node clients itself: they must not be lazy.
      const redisOptions: RedisOptions = { ...base, lazyConnect: false }
      if (auth?.username) redisOptions.username = decodeURIComponent(auth.username)
      if (auth?.password) redisOptions.password = decodeURIComponent(auth.password)
      if (auth?.protocol === 'rediss:') redisOptions.tls = {}
      const options: ClusterOptions = {
        lazyConnect: true,
        enableAutoPipelining: true,
        redisOptions,
        clusterRetryStrategy: base.retryStrategy,
      }
      this.client = new Cluster(seeds, options)
      this.where = `redis cluster ${seeds.map((s) => `${s.host}:${s.port}`).join(',')}`
    } else {
      this.client = new Redis(config.url!, base)
      this.where = `redis ${redactUrl(config.url!)}`
    }
    // ioredis reports every failed reconnect as an 'error' event; without a listener it
    // prints them. One warning per outage; the write that gives up reports the error.
    this.client.on('error', (err: Error) => {
      this.lastError = err
      if (this.connectedOnce && !this.warnedDown) {
        this.warnedDown = true
        this.log.warn({ err, target: this.where }, 'redis connection lost; retrying')
      }
    })
    this.client.on('ready', () => {
      if (this.warnedDown) this.log.info({ target: this.where }, 'redis connection restored')
      this.warnedDown = false
    })
  }

  private readonly log: Logger

  /** Connects, checks Redis answers (and the credentials), loads the guard script. */
  async open(): Promise<void> {
    const ms = this.config.connect_timeout_ms
    try {
      await withTimeout(this.client.connect(), ms, 'connect')
      await withTimeout(this.client.ping(), ms, 'PING')
      if (this.cache) {
        await withTimeout(this.loadScript(), ms, 'SCRIPT LOAD')
        // Without the tables set, this pipeline has written no row before: a snapshot
        // cannot leave anything behind to sweep (which saves a SCAN of every row).
        this.sweepNeeded = (await withTimeout(this.client.exists(this.tablesKey), ms, 'EXISTS')) === 1
      }
    } catch (err) {
      this.client.disconnect()
      const code = replyCode(err) || replyCode(this.lastError)
      if (code === 'WRONGPASS' || code === 'NOAUTH' || code === 'NOPERM') {
        throw new PreconditionError(
          'REDIS_AUTH_FAILED',
          `${this.where} refused the sink (${code}): fix the user and password in the redis sink's url, ` +
            'and give that user the commands it needs (GET, SET, DEL, HSET, PEXPIRE, EVALSHA, SCRIPT, SCAN, SADD, SMEMBERS, XADD)',
          { cause: err },
        )
      }
      const reason = (err as NodeJS.ErrnoException).code ?? (err instanceof Error ? err.message : String(err))
      throw new PreconditionError(
        'REDIS_UNREACHABLE',
        `cannot reach ${this.where}: ${reason}; check the redis sink's url (host, port, TLS) and that Redis is running`,
        { cause: err, retriable: true },
      )
    }
    this.connectedOnce = true
    this.log.info({ target: this.where, mode: this.config.mode }, 'redis sink open')
  }

  /** Sends the batch now (or after a pending truncate/sweep); resolves when Redis acknowledged all of it. */
  write(batch: ChangeBatch): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError('REDIS_SINK_CLOSED', 'redis sink is closed'))
    if (this.failure) return Promise.reject(this.stopped())
    const slow = this.cache !== null && (SNAPSHOT_END.test(versionOf(batch.checkpoint)) || hasTruncate(batch))
    let job: Promise<void>
    if (!slow && this.barriers === 0) {
      let commands: Command[]
      try {
        commands = this.encode(batch.events)
      } catch (err) {
        return this.settle(Promise.reject(err))
      }
      job = this.send(commands)
    } else {
      this.barriers++
      // Until it is done, later writes queue behind it too (they must not overtake its SCANs).
      job = this.tail.then(async () => {
        try {
          if (this.failure) throw this.stopped()
          await this.applyInOrder(batch)
        } finally {
          this.barriers--
        }
      })
    }
    return this.settle(job)
  }

  /** Resolves when every write so far is acknowledged by Redis. */
  async flush(): Promise<void> {
    await this.tail
    if (this.failure) throw this.failure
  }

  /** Flushes, then closes the connection. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.closed = true
      try {
        await this.tail
      } finally {
        await this.client.quit().catch(() => this.client.disconnect())
      }
      if (this.failure) throw this.failure
    })()
    return this.closing
  }

  /** Records the job in the tail; a failure becomes the sink's failure. */
  private settle(job: Promise<void>): Promise<void> {
    const settled = job.catch((err: unknown) => {
      this.failure ??=
        err instanceof SluiceError
          ? err
          : new SinkError('REDIS_WRITE_FAILED', `writing to ${this.where} failed: ${String(err)}`, {
              cause: err,
              retriable: true,
            })
      throw this.failure
    })
    this.tail = Promise.all([this.tail, settled.catch(() => undefined)]).then(() => undefined)
    return settled
  }

  private stopped(): SinkError {
    const f = this.failure!
    return new SinkError('REDIS_SINK_FAILED', `redis sink stopped after an earlier error: ${f.message}`, {
      cause: f,
    })
  }

  private encode(events: readonly ChangeEvent[]): Command[] {
    if (this.stream) {
      const out: Command[] = []
      for (const ev of events) this.stream.encode(ev, out)
      return out
    }
    const list = this.commandList()
    for (const ev of events) this.cache!.encode(ev, list)
    return list.finish()
  }

  /** A list packing guard rows into calls: many per call on one server, one per call in a cluster. */
  private commandList(): CommandList {
    return new CommandList(this.cache!, this.client instanceof Cluster ? 1 : GUARD_ROWS)
  }

  /** A cache batch with truncates or a snapshot end: rows up to each truncate, the truncate, ..., the sweep. */
  private async applyInOrder(batch: ChangeBatch): Promise<void> {
    const cache = this.cache!
    let out = this.commandList()
    for (const ev of batch.events) {
      if (ev.op !== 't') {
        cache.encode(ev, out)
        continue
      }
      await this.send(out.finish())
      out = this.commandList()
      await this.truncate(ev, versionOf(ev.position))
    }
    await this.send(out.finish())
    const end = versionOf(batch.checkpoint)
    if (SNAPSHOT_END.test(end)) {
      if (this.sweepNeeded) await this.sweepAfterSnapshot(end.replace(/999999999999$/, '000000000000'))
      this.sweepNeeded = true
    }
  }

  /**
   * A truncate deletes every key of the table, leaving tombstones at the truncate's version:
   * SCAN for the table's version keys (every row written has one) and apply a sweep to each.
   */
  private async truncate(ev: ChangeEvent, version: string): Promise<void> {
    const t = ev.table
    // The keys of the template the table's rows were written under (its route's, when routed).
    const pattern = this.cache!.templateOf(ev).pattern
    const n = await this.sweepPattern(pattern, version)
    this.log.debug({ table: `${t.schema}.${t.table}`, keys: n }, 'redis cache: truncate applied')
  }

  /**
   * After a snapshot (phase 0) completed: every row of the tables this pipeline wrote whose
   * version is older than the snapshot's start was not in the snapshot, so it no longer
   * exists at the source (left over from an interrupted earlier snapshot, or from before a
   * re-snapshot): delete it. Rows read by this snapshot carry newer versions and stay.
   */
  private async sweepAfterSnapshot(start: string): Promise<void> {
    const patterns = (await this.client.smembers(this.tablesKey)).sort()
    const before = this.stats.swept
    for (const p of patterns) await this.sweepPattern(p, start)
    const removed = this.stats.swept - before
    if (removed > 0)
      this.log.info(
        { rows: removed, tables: patterns.length },
        'redis cache: removed rows missing from the snapshot',
      )
  }

  /** Applies a sweep at `version` to every key whose version key matches the value-key pattern. */
  private async sweepPattern(pattern: string, version: string): Promise<number> {
    const prefix = this.cache!.versionKey('')
    const match = globEscape(prefix) + pattern
    let examined = 0
    for (const node of this.scanNodes()) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', SCAN_COUNT)
        cursor = next
        if (keys.length === 0) continue
        examined += keys.length
        const list = this.commandList()
        for (const vk of keys) list.row(vk.slice(prefix.length), 'w', version, [])
        await this.send(list.finish(), true)
      } while (cursor !== '0')
    }
    return examined
  }

  /** The servers to SCAN: the standalone server, or every cluster master. */
  private scanNodes(): Redis[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client]
  }

  private async loadScript(): Promise<void> {
    await Promise.all(this.scanNodes().map((n) => n.script('LOAD', GUARD_SCRIPT)))
  }

  /**
   * Sends the commands; resolves when all replied without error (reloading the script once
   * on NOSCRIPT). `sweeping`: the guard rows are sweeps (counted apart).
   */
  private async send(commands: Command[], sweeping = false): Promise<void> {
    if (commands.length === 0) return
    let replies = await this.exec(commands)
    if (replies.some(([err]) => err && replyCode(err) === 'NOSCRIPT')) {
      await this.loadScript()
      replies = await this.exec(commands)
    }
    for (let i = 0; i < replies.length; i++) {
      const [err, result] = replies[i]!
      const cmd = commands[i]!
      if (err && !(err instanceof ReplyError)) {
        // No answer: the connection was lost and not restored within the retries.
        throw new SinkError(
          'REDIS_WRITE_FAILED',
          `${this.where} did not acknowledge a write: ${err.message}; check that Redis is up and reachable`,
          { cause: err, retriable: true },
        )
      }
      if (err) {
        // Guard-script errors name their key themselves.
        const what = cmd[0] === 'evalsha' ? 'a write' : `${cmd[0]} ${String(cmd[1])}`
        throw new SinkError(
          'REDIS_COMMAND_FAILED',
          `${this.where} refused ${what}: ${err.message}` +
            (replyCode(err) === 'OOM' ? '; raise maxmemory or set an eviction policy' : ''),
          { cause: err, retriable: replyCode(err) !== 'WRONGTYPE' },
        )
      }
      if (cmd[0] === 'evalsha') {
        for (const r of result as number[]) {
          if (sweeping) this.stats.swept += r
          else if (r === 1) this.stats.applied++
          else this.stats.ignored++
        }
      } else if (cmd[0] === 'xadd') this.stats.streamed++
    }
  }

  private async exec(commands: Command[]): Promise<[Error | null, unknown][]> {
    if (this.client instanceof Cluster) {
      // Cluster pipelines must stay within one slot; auto-pipelining batches per node instead.
      const client = this.client
      return Promise.all(
        commands.map(([name, ...args]) =>
          client.call(name, ...args).then(
            (r): [null, unknown] => [null, r],
            (e: Error): [Error, null] => [e, null],
          ),
        ),
      )
    }
    const res = await this.client.pipeline(commands).exec()
    if (!res)
      throw new SinkError('REDIS_WRITE_FAILED', `${this.where}: the pipeline was discarded`, {
        retriable: true,
      })
    return res
  }
}

function hasTruncate(batch: ChangeBatch): boolean {
  for (const ev of batch.events) if (ev.op === 't') return true
  return false
}

/** Creates the redis sink for a `sinks:` entry. */
export function createRedisSink(config: RedisConfig, ctx: SinkContext, deps?: RedisSinkDeps): RedisSink {
  return new RedisSink(config, ctx, deps)
}
