import type { Type } from 'avsc'
import { CompressionTypes, Kafka, logLevel, type Admin, type Message, type Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { codecFor, compileSchema } from '../../avro/codec.js'
import { ConfigError, EncodeError, PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, TransactionSummary } from '../../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../../pipeline/schema.js'
import type { Sink, SinkContext } from '../../pipeline/sink.js'
import type { AvroOptions } from '../../pipeline/source.js'
import { GroupCommit, stoppedAfter } from '../group-commit.js'
import type { KafkaConfig } from './config.js'
import { partitionForKey } from './partitioner.js'
import { IncompatibleSchemaError, RegistryClient, WIRE_HEADER, writeWireHeader } from './registry-client.js'
import { fingerprintOf, SINGLE_OBJECT_MAGIC } from './single-object.js'
import { compileTopicTemplate, TopicCreator, topicName, type TopicTemplate } from './topics.js'
import {
  beginRecord,
  endRecord,
  TRANSACTION_KEY_SCHEMA,
  TRANSACTION_VALUE_SCHEMA,
  transactionKeyType,
  transactionValueType,
  type TransactionRecord,
} from './transactions.js'

/** Record headers every change event carries. */
export const HEADER_POSITION = 'sluice.position'
/** Header with the event's op (`c`, `u`, `d`, `r`, `t`); a tombstone carries `d`. */
export const HEADER_OP = 'sluice.op'

/** At most this many records go into one producer call (kafkajs groups per partition in O(n²)). */
const MAX_RECORDS_PER_SEND = 4000
/** Backoff between delivery attempts after a retriable failure: doubles from 200 ms up to 5 s. */
const BACKOFF_MIN_MS = 200
const BACKOFF_MAX_MS = 5000

/**
 * How one writer schema is announced to consumers and prefixed to each message: the
 * Confluent wire-format header (registry) or the single-object header (schema topic).
 */
interface SchemaRef {
  readonly header: Buffer
}

/**
 * Everything the sink needs to write the events of one value schema to one topic: the
 * table's envelope, or the flat row of `ChangeEvent.unwrapped`, whose TableSchema object
 * (derived once per table by the unwrap transform) serves only flat rows.
 */
interface TableTarget {
  /** The Key record of the event's table; null when the table has no key. */
  readonly keyType: Type | null
  /** The Envelope record, or the flat row record when `flat`. */
  readonly valueType: Type
  /** The value is `ev.unwrapped.row` rather than the event itself. */
  readonly flat: boolean
  readonly topic: string
  readonly key: SchemaRef | null
  readonly value: SchemaRef
}

/** Optional collaborators of KafkaSink (tests). */
export interface KafkaSinkDeps {
  readonly sleep?: (ms: number) => Promise<void>
}

/**
 * The bytes of one group of records, encoded back to back: key and value of each record are
 * subarrays of it, so encoding allocates nothing per record. Reused for every group once
 * that group is acknowledged (kafkajs copies records into its request buffers).
 */
class Arena {
  buf = Buffer.allocUnsafe(1024 * 1024)
  pos = 0

  /** Writes `header` then the Avro encoding of `value`; returns the slice holding both. */
  put(header: Buffer, type: Type, value: unknown): Buffer {
    for (;;) {
      const start = this.pos
      if (start + header.length <= this.buf.length) {
        header.copy(this.buf, start)
        const end = type.encode(value, this.buf, start + header.length)
        if (end >= 0) {
          this.pos = end
          return this.buf.subarray(start, end)
        }
        this.grow(header.length - end)
      } else this.grow(header.length)
    }
  }

  /** Continues in a new, larger buffer; slices handed out earlier keep the old one alive. */
  private grow(need: number): void {
    this.buf = Buffer.allocUnsafe(Math.max(this.buf.length * 2, need * 2))
    this.pos = 0
  }
}

/**
 * Writes change events to Kafka with kafkajs. Batches are applied strictly in call order by
 * one writer loop; every batch that arrives while a produce is in flight joins the next
 * group, which is sent with as few `sendBatch` calls as its size allows (group commit). A
 * write() resolves when every record of its batch (and of all earlier ones) is acknowledged
 * by all in-sync replicas (acks -1). One produce at a time, and one request in flight per
 * broker, keep per-partition order; the idempotent producer is used when the cluster
 * supports it.
 */
export class KafkaSink implements Sink {
  readonly delivery = 'at-least-once' as const

  private readonly kafka: Kafka
  /** Compiled topic templates by their text: the sink's `topic` and every `route.topic` seen. */
  private readonly topicTemplates = new Map<string, TopicTemplate>()
  private readonly registry: RegistryClient | null
  private readonly sleep: (ms: number) => Promise<void>
  private admin: Admin | null = null
  private producer: Producer | null = null
  private topics: TopicCreator | null = null
  /** Per value schema (`ev.unwrapped?.schema ?? ev.table`), per topic template text. */
  private readonly targets = new WeakMap<TableSchema, Map<string, TableTarget>>()
  /** Single-object mode: fingerprints (hex) already written to the schema topic. */
  private readonly published = new Set<string>()
  private txTarget: { key: SchemaRef; value: SchemaRef; topic: string } | null = null
  /** The transaction of the last event written, until its END is written. */
  private openTx: string | null = null
  private readonly arena = new Arena()
  /** The single writer loop (group commit); it holds the sink's failure. */
  private readonly writer: GroupCommit<ChangeBatch | null> = new GroupCommit<ChangeBatch | null>({
    commit: (group) => this.deliver(group),
    beforeRound: async () => {
      if (this.config.linger_ms > 0) await this.sleep(this.config.linger_ms)
    },
    wrap: (err) => new SinkError('KAFKA_SEND_FAILED', `kafka sink failed: ${messageOf(err)}`, { cause: err }),
    stopped: stoppedAfter('KAFKA_SINK_FAILED', 'kafka sink'),
  })
  private closed = false
  /** close() was called: a failing delivery stops retrying (what is unacknowledged is re-read on restart). */
  private stopping = false
  private closing: Promise<void> | null = null
  private readonly schemaTopic: string
  private readonly transactionTopic: string

  constructor(
    private readonly config: KafkaConfig,
    private readonly avro: AvroOptions,
    private readonly log: Logger,
    deps: KafkaSinkDeps = {},
  ) {
    this.topicTemplates.set(config.topic, compileTopicTemplate(config.topic, avro.prefix))
    this.schemaTopic = topicName(`${avro.prefix}.schemas`)
    this.transactionTopic = topicName(`${avro.prefix}.transaction`)
    this.registry = config.registry
      ? new RegistryClient({
          url: config.registry,
          username: config.registry_username,
          password: config.registry_password,
          timeoutMs: config.request_timeout_ms,
        })
      : null
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
    const klog = log.child({ client: 'kafkajs' })
    this.kafka = new Kafka({
      clientId: config.client_id,
      brokers: config.brokers,
      requestTimeout: config.request_timeout_ms,
      connectionTimeout: 5000,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      // kafkajs reports every connection error of a retry; the sink logs one warning per outage.
      logLevel: logLevel.WARN,
      logCreator: () => (entry) => klog.debug({ kafkajs: entry.namespace }, entry.log.message),
    })
  }

  /** Connects, decides idempotence and topic creation from the cluster's metadata. */
  async open(): Promise<void> {
    const admin = this.kafka.admin()
    let controllerReachable: boolean
    try {
      await admin.connect()
      const cluster = await admin.describeCluster()
      controllerReachable = cluster.brokers.some((b) => b.nodeId === cluster.controller)
    } catch (err) {
      await admin.disconnect().catch(() => undefined)
      throw new PreconditionError(
        'KAFKA_UNREACHABLE',
        `kafka sink cannot reach brokers ${this.config.brokers.join(',')}: ${messageOf(err)}; ` +
          'check `brokers` and that the cluster is up',
        { cause: err, retriable: true },
      )
    }
    if (!controllerReachable) {
      // librdkafka's mock cluster reports controller id 0 while its brokers are 1..N: CreateTopics
      // and InitProducerId (both sent to the controller) cannot work there.
      this.log.warn(
        'kafka cluster reports no reachable controller: topics are left to broker auto-creation and ' +
          'the idempotent producer is off (one request in flight per broker keeps the order)',
      )
    }
    if (controllerReachable && this.config.create_topics) this.admin = admin
    else await admin.disconnect().catch(() => undefined)
    this.topics = new TopicCreator(
      this.admin,
      { partitions: this.config.partitions, replicationFactor: this.config.replication_factor },
      this.log,
    )
    this.producer = this.kafka.producer({
      idempotent: controllerReachable,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 },
      createPartitioner: () => (args) => {
        const key = args.message.key
        if (key === null || key === undefined) return 0
        const bytes = typeof key === 'string' ? Buffer.from(key, 'utf8') : key
        return partitionForKey(bytes, args.partitionMetadata.length)
      },
    })
    try {
      await this.producer.connect()
    } catch (err) {
      throw new PreconditionError(
        'KAFKA_UNREACHABLE',
        `kafka sink cannot connect a producer to ${this.config.brokers.join(',')}: ${messageOf(err)}; ` +
          'check `brokers` and that the cluster is up',
        { cause: err, retriable: true },
      )
    }
    this.log.info(
      {
        brokers: this.config.brokers,
        idempotent: controllerReachable,
        encoding: this.registry ? 'confluent' : 'single-object',
        registry: this.registry?.url,
      },
      'kafka sink open',
    )
  }

  /** Queues the batch; resolves when all its records are acknowledged, in call order. */
  write(batch: ChangeBatch): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError('KAFKA_SINK_CLOSED', 'kafka sink is closed'))
    return this.enqueue(batch)
  }

  /** Resolves when everything written before it is acknowledged. */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(new SinkError('KAFKA_SINK_CLOSED', 'kafka sink is closed'))
    return this.enqueue(null)
  }

  /** Flushes (unless a write failed), then disconnects. */
  close(): Promise<void> {
    this.closing ??= this.doClose()
    return this.closing
  }

  private async doClose(): Promise<void> {
    this.stopping = true
    let flushError: unknown = null
    if (!this.failure && this.producer) await this.enqueue(null).catch((err: unknown) => (flushError = err))
    this.closed = true
    await this.producer?.disconnect().catch(() => undefined)
    await this.admin?.disconnect().catch(() => undefined)
    if (flushError) throw flushError
  }

  private enqueue(batch: ChangeBatch | null): Promise<void> {
    return this.writer.enqueue(batch)
  }

  private get failure(): SluiceError | null {
    return this.writer.failure
  }

  /** Prepares topics and schemas, encodes the group once, and sends it; retriable failures are retried. */
  private async deliver(group: readonly (ChangeBatch | null)[]): Promise<void> {
    const started = Date.now()
    const state = { warned: false, attempt: 0 }
    const events: ChangeEvent[][] = []
    let any = false
    for (const b of group) {
      if (!b) continue
      events.push(b.events as ChangeEvent[])
      if (b.events.length > 0 || (b.transactions?.length ?? 0) > 0) any = true
    }
    if (!any) return
    await this.retrying(started, state, () => this.prepare(group))
    const records = this.encode(group)
    let next = 0
    await this.retrying(started, state, async () => {
      while (next < records.length) {
        const end = chunkEnd(records, next, this.config.batch_bytes)
        await this.send(records, next, end)
        next = end
      }
    })
    if (state.warned) this.log.info({ attempts: state.attempt }, 'kafka delivery recovered')
  }

  /** Runs `fn` until it succeeds, a non-retriable error occurs, or delivery_timeout_ms is spent. */
  private async retrying(
    started: number,
    state: { warned: boolean; attempt: number },
    fn: () => Promise<void>,
  ): Promise<void> {
    for (;;) {
      try {
        await fn()
        return
      } catch (err) {
        const e = classify(err)
        const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(state.attempt, 10))
        if (!e.retriable) throw e
        if (this.stopping) {
          throw new SinkError(
            'KAFKA_SINK_CLOSED',
            `kafka sink closed while deliveries were failing (${e.message}); the undelivered batches ` +
              'were not acknowledged and are read again on restart',
            { cause: e, retriable: true },
          )
        }
        if (Date.now() - started + backoff > this.config.delivery_timeout_ms) {
          throw new SinkError(
            'KAFKA_DELIVERY_TIMEOUT',
            `kafka sink could not deliver to ${this.config.brokers.join(',')} within delivery_timeout_ms ` +
              `(${this.config.delivery_timeout_ms} ms): ${e.message}; check that the brokers are reachable, ` +
              'or raise delivery_timeout_ms',
            { cause: e, retriable: true },
          )
        }
        if (!state.warned) {
          state.warned = true
          this.log.warn({ err: e }, 'kafka delivery failing; retrying with backoff')
        }
        state.attempt++
        await this.sleep(backoff)
      }
    }
  }

  /** Topic creation and schema announcement for every table seen for the first time. */
  private async prepare(group: readonly (ChangeBatch | null)[]): Promise<void> {
    // First event of every (value schema, topic template) pair without a target yet.
    const todo = new Map<TableSchema, Map<string, ChangeEvent>>()
    let tx = false
    for (const b of group) {
      if (!b) continue
      if (b.transactions?.length) tx = true
      for (const ev of b.events) {
        if (ev.transaction) tx = true
        const schema = ev.unwrapped?.schema ?? ev.table
        const template = ev.route?.topic ?? this.config.topic
        if (this.targets.get(schema)?.has(template)) continue
        let pending = todo.get(schema)
        if (!pending) todo.set(schema, (pending = new Map()))
        if (!pending.has(template)) pending.set(template, ev)
      }
    }
    if (tx && this.config.transaction_topic && !this.txTarget) await this.prepareTransactions()
    for (const [schema, pending] of todo) {
      for (const [template, ev] of pending) {
        const target = await this.prepareTarget(ev, template)
        let byTemplate = this.targets.get(schema)
        if (!byTemplate) this.targets.set(schema, (byTemplate = new Map()))
        byTemplate.set(template, target)
      }
    }
  }

  /** The compiled topic template of `text` (the sink's `topic` or `ev.route.topic`). */
  private topicTemplate(text: string, ev: ChangeEvent): TopicTemplate {
    let t = this.topicTemplates.get(text)
    if (!t) {
      try {
        t = compileTopicTemplate(text, this.avro.prefix)
      } catch (err) {
        // Only a route's template can get here: the sink's own was checked at validation.
        throw new ConfigError(
          'TRANSFORM_ROUTE_TEMPLATE',
          `the route transform's topic '${text}' (table ${ev.table.schema}.${ev.table.table}) cannot be ` +
            `used by the kafka sink: ${messageOf(err)}; fix the route's topic`,
          { cause: err },
        )
      }
      this.topicTemplates.set(text, t)
    }
    return t
  }

  /** Topic, schemas and their announcement for the events like `ev` under topic template `template`. */
  private async prepareTarget(ev: ChangeEvent, template: string): Promise<TableTarget> {
    const table = ev.table
    const codec = codecFor(table, this.avro)
    const topic = this.topicTemplate(template, ev)(table)
    await this.topics!.ensure([{ topic, compact: true }])
    const name = `${table.schema}.${table.table}`
    let valueType: Type
    let value: SchemaRef
    if (ev.unwrapped) {
      // The flat row record, announced exactly like an envelope (subject `<topic>-value`).
      const flat = codecFor(ev.unwrapped.schema, this.avro).valueSchema
      valueType = compileSchema(flat)
      value = await this.announce(topic, 'value', flat, valueType, name)
    } else {
      valueType = codec.envelopeType
      value = await this.announce(topic, 'value', codec.envelopeSchema, valueType, name)
    }
    const key =
      codec.keySchema && codec.keyType
        ? await this.announce(topic, 'key', codec.keySchema, codec.keyType, name)
        : null
    return { keyType: codec.keyType ?? null, valueType, flat: ev.unwrapped !== undefined, topic, key, value }
  }

  private async prepareTransactions(): Promise<void> {
    const topic = this.transactionTopic
    await this.topics!.ensure([{ topic, compact: false }])
    const key = await this.announce(topic, 'key', TRANSACTION_KEY_SCHEMA, transactionKeyType, topic)
    const value = await this.announce(topic, 'value', TRANSACTION_VALUE_SCHEMA, transactionValueType, topic)
    this.txTarget = { topic, key, value }
  }

  /**
   * Makes a writer schema known before the first record that uses it: registered under its
   * subject (registry) or written to the compacted schema topic keyed by its fingerprint.
   */
  private async announce(
    topic: string,
    part: 'key' | 'value',
    schema: AvroSchema,
    type: Type,
    what: string,
  ): Promise<SchemaRef> {
    const json = JSON.stringify(schema)
    if (this.registry) {
      const subject = this.config.subject_strategy === 'record' ? fullName(schema) : `${topic}-${part}`
      let id: number
      try {
        id = await this.registry.register(subject, json)
      } catch (err) {
        if (!(err instanceof IncompatibleSchemaError)) throw err
        const registered = await this.registry.latest(subject).catch(() => null)
        throw new SinkError(
          'KAFKA_SCHEMA_INCOMPATIBLE',
          `schema registry refused the new ${part} schema of ${what} for subject ${subject}: ${err.message}. ` +
            `Registered schema (version ${registered?.version ?? '?'}): ${registered?.schema ?? '(unavailable)'}; ` +
            `new schema: ${json}. Make the change backward compatible (add columns as nullable or with a ` +
            `default), or change the subject's compatibility level; nothing after the change was delivered`,
          { cause: err },
        )
      }
      const header = Buffer.allocUnsafe(WIRE_HEADER)
      writeWireHeader(header, 0, id)
      return { header }
    }
    const fp = fingerprintOf(type)
    const hex = fp.toString('hex')
    if (!this.published.has(hex)) {
      await this.topics!.ensure([{ topic: this.schemaTopic, compact: true }])
      await this.producer!.send({
        topic: this.schemaTopic,
        acks: -1,
        timeout: this.config.request_timeout_ms,
        messages: [{ key: hex, value: json }],
      })
      this.published.add(hex)
    }
    return { header: Buffer.concat([SINGLE_OBJECT_MAGIC, fp]) }
  }

  /** Encodes every record of the group, in order (transaction records interleaved). */
  private encode(group: readonly (ChangeBatch | null)[]): TopicRecord[] {
    const arena = this.arena
    arena.pos = 0
    const out: TopicRecord[] = []
    for (const b of group) {
      if (!b) continue
      const summaries = this.config.transaction_topic ? b.transactions : undefined
      const ended = new Set<string>()
      let lastSchema: TableSchema | null = null
      let lastTemplate: string | null = null
      let target: TableTarget | null = null
      for (const ev of b.events) {
        const schema = ev.unwrapped?.schema ?? ev.table
        const template = ev.route?.topic ?? this.config.topic
        if (schema !== lastSchema || template !== lastTemplate) {
          lastSchema = schema
          lastTemplate = template
          target = this.targets.get(schema)!.get(template)!
        }
        if (this.txTarget && ev.transaction && ev.transaction.id !== this.openTx) {
          const prev = this.openTx
          const s = prev === null ? undefined : summaries?.find((x) => x.id === prev)
          if (s) {
            out.push(this.txRecord(endRecord(s)))
            ended.add(s.id)
          }
          this.openTx = ev.transaction.id
          out.push(this.txRecord(beginRecord(ev.transaction.id, ev.source.ts_ms)))
        }
        this.encodeEvent(target!, ev, out)
      }
      if (summaries && this.txTarget) {
        for (const s of summaries) {
          if (ended.has(s.id)) continue
          out.push(this.txRecord(endRecord(s as TransactionSummary)))
          if (s.id === this.openTx) this.openTx = null
        }
      }
    }
    return out
  }

  private encodeEvent(t: TableTarget, ev: ChangeEvent, out: TopicRecord[]): void {
    const arena = this.arena
    let key: Buffer | null = null
    let value: Buffer
    try {
      if (t.key && t.keyType && ev.key) key = arena.put(t.key.header, t.keyType, ev.key)
      // An envelope is the event itself (its fields carry the Envelope's names); a flat row is
      // the unwrap transform's record, `__deleted: "true"` for a delete.
      value = arena.put(t.value.header, t.valueType, t.flat ? ev.unwrapped!.row : ev)
    } catch (err) {
      throw new EncodeError(
        'KAFKA_ENCODE_FAILED',
        `cannot encode the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table}: ` +
          `${messageOf(err)}`,
        { cause: err },
      )
    }
    const headers = { [HEADER_POSITION]: ev.position, [HEADER_OP]: ev.op }
    out.push({ topic: t.topic, message: { key, value, headers }, bytes: value.length + (key?.length ?? 0) })
    if (ev.op === 'd' && key && this.config.tombstones) {
      out.push({ topic: t.topic, message: { key, value: null, headers }, bytes: key.length })
    }
  }

  private txRecord(r: TransactionRecord): TopicRecord {
    const t = this.txTarget!
    const key = this.arena.put(t.key.header, transactionKeyType, { id: r.id })
    const value = this.arena.put(t.value.header, transactionValueType, r)
    return { topic: t.topic, message: { key, value }, bytes: key.length + value.length }
  }

  /** One producer call for records [from, to), grouped per topic in order. */
  private async send(records: readonly TopicRecord[], from: number, to: number): Promise<void> {
    const byTopic = new Map<string, Message[]>()
    for (let i = from; i < to; i++) {
      const r = records[i]!
      let list = byTopic.get(r.topic)
      if (!list) byTopic.set(r.topic, (list = []))
      list.push(r.message)
    }
    await this.producer!.sendBatch({
      acks: -1,
      timeout: this.config.request_timeout_ms,
      compression: this.config.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
      topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
    })
  }
}

/** One encoded record and its topic. */
interface TopicRecord {
  readonly topic: string
  readonly message: Message
  readonly bytes: number
}

/** The end (exclusive) of the chunk starting at `from`: at most `maxBytes` (at least one record). */
function chunkEnd(records: readonly TopicRecord[], from: number, maxBytes: number): number {
  let bytes = 0
  let i = from
  while (i < records.length && i - from < MAX_RECORDS_PER_SEND) {
    bytes += records[i]!.bytes
    if (bytes > maxBytes && i > from) break
    i++
  }
  return i
}

/** The full name of a named schema (record name with its namespace). */
function fullName(schema: AvroSchema): string {
  const s = schema as { name: string; namespace?: string }
  return s.name.includes('.') || !s.namespace ? s.name : `${s.namespace}.${s.name}`
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * One classifier for delivery failures. Sluice errors keep their flag. kafkajs gives up
 * after its own retries by wrapping the last failure in a final error
 * (KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded) even when that failure was a
 * refused connection, so its outer flag says little. Permanent is what the broker itself
 * answered with a non-retriable error code anywhere in the cause chain (record too large,
 * topic authorization failed, ...); everything else (connections, timeouts, moving leaders)
 * is retried until delivery_timeout_ms.
 */
export function classify(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err
  let retriable = true
  let e = err as { retriable?: unknown; type?: unknown; cause?: unknown } | undefined
  for (let depth = 0; e && depth < 10; depth++) {
    if (typeof e.type === 'string' && e.retriable === false) retriable = false
    e = e.cause as typeof e
  }
  return new SinkError('KAFKA_SEND_FAILED', `kafka produce failed: ${messageOf(err)}`, {
    cause: err,
    retriable,
  })
}

/** Creates a Kafka sink from its validated config. */
export function createKafkaSink(config: KafkaConfig, ctx: SinkContext, deps: KafkaSinkDeps = {}): KafkaSink {
  return new KafkaSink(config, ctx.avro, ctx.log, deps)
}
