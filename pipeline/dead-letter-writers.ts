import { mkdir, open, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { Redis } from 'ioredis'
import { Kafka, logLevel, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { PreconditionError, SinkError } from './errors.js'
import type { DeadLetterRecord } from './dead-letter.js'

/** A pipeline's `dead_letter:` block (validated by config/schema.ts). */
export type DeadLetterConfig =
  | { readonly type: 'file'; readonly path: string }
  | {
      readonly type: 'kafka'
      readonly brokers: readonly string[]
      readonly topic: string
      readonly client_id?: string
    }
  | { readonly type: 'redis'; readonly url: string; readonly stream: string; readonly maxlen?: number }

/** Where dead-letter records go. write() resolves only when the records are durable there. */
export interface DeadLetterWriter {
  open(): Promise<void>
  write(records: readonly DeadLetterRecord[]): Promise<void>
  close(): Promise<void>
}

/** JSON text of a record (bigints, which documents never hold, as strings to be safe). */
export function recordJson(r: DeadLetterRecord): string {
  return JSON.stringify(r, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
}

/** The writer for a `dead_letter:` block. */
export function createDeadLetterWriter(
  cfg: DeadLetterConfig,
  pipeline: string,
  log: Logger,
): DeadLetterWriter {
  switch (cfg.type) {
    case 'file':
      return new FileDeadLetter(cfg.path)
    case 'kafka':
      return new KafkaDeadLetter(cfg, pipeline, log)
    case 'redis':
      return new RedisDeadLetter(cfg, log)
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function writeFailed(where: string, err: unknown): SinkError {
  return new SinkError(
    'DEAD_LETTER_WRITE_FAILED',
    `writing to the dead-letter ${where} failed: ${messageOf(err)}; the position is not advanced past the ` +
      'rejected event, and the pipeline restarts and retries',
    { cause: err, retriable: true },
  )
}

function unreachable(where: string, err: unknown, fix: string): PreconditionError {
  return new PreconditionError(
    'DEAD_LETTER_UNREACHABLE',
    `cannot open the dead-letter ${where}: ${messageOf(err)}; ${fix}`,
    { cause: err, retriable: true },
  )
}

/** JSON lines appended to one file; each write is fsynced before it resolves. */
export class FileDeadLetter implements DeadLetterWriter {
  private fh: FileHandle | null = null

  constructor(private readonly path: string) {}

  async open(): Promise<void> {
    try {
      await mkdir(dirname(this.path), { recursive: true })
      this.fh = await open(this.path, 'a')
      // The file's directory entry must survive a crash too.
      const dir = await open(dirname(this.path), 'r')
      await dir.sync().finally(() => dir.close())
    } catch (err) {
      throw new PreconditionError(
        'DEAD_LETTER_UNREACHABLE',
        `cannot open the dead-letter file ${this.path}: ${messageOf(err)}; create its directory or fix its permissions`,
        { cause: err },
      )
    }
  }

  async write(records: readonly DeadLetterRecord[]): Promise<void> {
    if (!this.fh) await this.open()
    try {
      await this.fh!.write(records.map((r) => recordJson(r) + '\n').join(''))
      await this.fh!.datasync()
    } catch (err) {
      throw writeFailed(`file ${this.path}`, err)
    }
  }

  async close(): Promise<void> {
    const fh = this.fh
    this.fh = null
    await fh?.close()
  }
}

/**
 * Messages on one Kafka topic (value: the record's JSON, key: the table), produced with
 * acks -1. The topic is left to broker auto-creation (allowAutoTopicCreation).
 */
export class KafkaDeadLetter implements DeadLetterWriter {
  private readonly kafka: Kafka
  private producer: Producer | null = null

  constructor(
    private readonly cfg: Extract<DeadLetterConfig, { type: 'kafka' }>,
    pipeline: string,
    log: Logger,
  ) {
    const klog = log.child({ client: 'kafkajs', component: 'dead-letter' })
    this.kafka = new Kafka({
      clientId: cfg.client_id ?? `sluice-${pipeline}-dead-letter`,
      brokers: [...cfg.brokers],
      connectionTimeout: 5000,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => klog.debug({ kafkajs: entry.namespace }, entry.log.message),
    })
  }

  private get where(): string {
    return `kafka topic ${this.cfg.topic}`
  }

  async open(): Promise<void> {
    const producer = this.kafka.producer({
      allowAutoTopicCreation: true,
      idempotent: false,
      maxInFlightRequests: 1,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
    })
    try {
      await producer.connect()
    } catch (err) {
      await producer.disconnect().catch(() => undefined)
      throw unreachable(this.where, err, `check dead_letter.brokers (${this.cfg.brokers.join(',')})`)
    }
    this.producer = producer
  }

  async write(records: readonly DeadLetterRecord[]): Promise<void> {
    if (!this.producer) await this.open()
    try {
      await this.producer!.send({
        topic: this.cfg.topic,
        acks: -1,
        messages: records.map((r) => ({ key: r.table, value: recordJson(r) })),
      })
    } catch (err) {
      throw writeFailed(this.where, err)
    }
  }

  async close(): Promise<void> {
    const p = this.producer
    this.producer = null
    await p?.disconnect().catch(() => undefined)
  }
}

/** The URL without its password, for messages. */
function redact(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable url)'
  }
}

/** Entries of one Redis stream (XADD, field `record`: the JSON), optionally capped with MAXLEN ~. */
export class RedisDeadLetter implements DeadLetterWriter {
  private readonly client: Redis
  private lastError: Error | null = null

  constructor(
    private readonly cfg: Extract<DeadLetterConfig, { type: 'redis' }>,
    log: Logger,
  ) {
    this.client = new Redis(cfg.url, {
      lazyConnect: true,
      connectTimeout: 5000,
      maxRetriesPerRequest: 5,
      retryStrategy: (times) => Math.min(times * 100, 2000),
    })
    this.client.on('error', (err: Error) => {
      if (this.lastError?.message !== err.message)
        log.warn({ component: 'dead-letter', error: err.message }, 'dead-letter redis connection error')
      this.lastError = err
    })
  }

  private get where(): string {
    return `redis stream ${this.cfg.stream} at ${redact(this.cfg.url)}`
  }

  async open(): Promise<void> {
    if (this.client.status === 'ready') return
    try {
      await this.client.connect()
    } catch (err) {
      throw unreachable(this.where, err, 'check dead_letter.url and that the server is up')
    }
  }

  async write(records: readonly DeadLetterRecord[]): Promise<void> {
    const cap = this.cfg.maxlen === undefined ? [] : ['MAXLEN', '~', String(this.cfg.maxlen)]
    const pipe = this.client.multi()
    for (const r of records) pipe.xadd(this.cfg.stream, ...cap, '*', 'record', recordJson(r))
    let replies: [Error | null, unknown][] | null
    try {
      replies = await pipe.exec()
    } catch (err) {
      throw writeFailed(this.where, err)
    }
    const failed = (replies ?? []).find(([e]) => e !== null)
    if (!replies || failed) throw writeFailed(this.where, failed?.[0] ?? new Error('transaction aborted'))
  }

  async close(): Promise<void> {
    // A client that lost its server would queue QUIT until its retries run out: just drop it.
    if (this.client.status !== 'ready') return this.client.disconnect()
    await this.client.quit().catch(() => this.client.disconnect())
  }
}
