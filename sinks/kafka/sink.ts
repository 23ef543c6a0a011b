import type { Type } from 'avsc'
import { promisify } from 'node:util'
import { gzip as gzipCb } from 'node:zlib'
import { Kafka, logLevel, type Admin } from 'kafkajs'
import type { Logger } from 'pino'
import { codecFor, compileSchema } from '../../avro/codec.js'
import { ConfigError, EncodeError, PreconditionError, SinkError, SluiceError } from '../../pipeline/errors.js'
import type { ChangeBatch, ChangeEvent, TransactionSummary } from '../../pipeline/event.js'
import type { AvroSchema, TableSchema } from '../../pipeline/schema.js'
import type { Sink, SinkContext } from '../../pipeline/sink.js'
import type { AvroOptions } from '../../pipeline/source.js'
import { GroupCommit, stoppedAfter } from '../group-commit.js'
import type { KafkaConfig } from './config.js'
import {
  HEARTBEAT_KEY_SCHEMA,
  HEARTBEAT_VALUE_SCHEMA,
  heartbeatKeyType,
  heartbeatValueType,
} from './heartbeat.js'
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
import { WireProducer, type ProduceFailure } from './wire/producer.js'
import { fixFor, type ProducePartition } from './wire/protocol.js'
import { CODEC_GZIP, HeaderKey, RecordBatchBuilder } from './wire/record-batch.js'

const gzip = promisify(gzipCb)

/** Record headers every change event carries. */
export const HEADER_POSITION = 'sluice.position'
/** Header with the event's op (`c`, `u`, `d`, `r`, `t`); a tombstone carries `d`. */
export const HEADER_OP = 'sluice.op'

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
  readonly out: TopicOut
  readonly key: SchemaRef | null
  readonly value: SchemaRef
}

/** Optional collaborators of KafkaSink (tests). */
export interface KafkaSinkDeps {
  readonly sleep?: (ms: number) => Promise<void>
  /** The pipeline's on_error for an event refused for good (SinkContext.reject); absent: it fails the sink. */
  readonly reject?: (event: ChangeEvent, error: unknown) => Promise<void>
}

/**
 * Scratch space for the Avro encoding of one record's key and value: both are subarrays of
 * it, copied into their partition's record batch right away, so the arena is rewound for
 * every record and encoding allocates no buffer per record.
 */
class Arena {
  buf: Buffer
  pos = 0

  constructor(size = 1024 * 1024) {
    this.buf = Buffer.allocUnsafe(size)
  }

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

/** Header keys, encoded once. */
const H_POSITION = new HeaderKey(HEADER_POSITION)
const H_OP = new HeaderKey(HEADER_OP)
/** Record overhead beyond key and value bytes, for the in-flight byte count (varints, attributes). */
const RECORD_OVERHEAD = 24

/** What the sink writes to one topic: its partition count and the batch being filled per partition. */
interface TopicOut {
  readonly name: string
  readonly partitions: number
  readonly builders: (RecordBatchBuilder | undefined)[]
}

/** One partition's batch taken out for sending. */
interface Outgoing {
  readonly topic: TopicOut
  readonly partition: number
  readonly builder: RecordBatchBuilder
}

/**
 * Writes change events to Kafka with Sluice's own producer (sinks/kafka/wire): each event's
 * Avro key and value are encoded into a reused arena and appended straight into one
 * RecordBatch per partition; full batches go out in one Produce request per leader broker
 * (acks -1). Batches are applied strictly in call order by one writer loop; every batch
 * that arrives while a produce is in flight joins the next group (group commit). A write()
 * resolves when every record of its batch (and of all earlier ones) is acknowledged by all
 * in-sync replicas. At most one produce request is in flight per partition (the encoding of
 * the next batches overlaps it), and a failed partition's batch is retried before anything
 * later of that partition is sent, so per-partition order holds; the bytes waiting or in
 * flight are bounded by about twice `batch_bytes`.
 */
export class KafkaSink implements Sink {
  readonly delivery = 'at-least-once' as const

  private readonly kafka: Kafka
  private readonly producer: WireProducer
  /** Compiled topic templates by their text: the sink's `topic` and every `route.topic` seen. */
  private readonly topicTemplates = new Map<string, TopicTemplate>()
  private readonly registry: RegistryClient | null
  private readonly sleep: (ms: number) => Promise<void>
  private readonly reject: (event: ChangeEvent, error: unknown) => Promise<void>
  private admin: Admin | null = null
  private topics: TopicCreator | null = null
  private opened = false
  /** Per value schema (`ev.unwrapped?.schema ?? ev.table`), per topic template text. */
  private readonly targets = new WeakMap<TableSchema, Map<string, TableTarget>>()
  /** Single-object mode: fingerprints (hex) already written to the schema topic. */
  private readonly published = new Set<string>()
  private txTarget: { key: SchemaRef; value: SchemaRef; out: TopicOut } | null = null
  private hbTarget: { key: SchemaRef; value: SchemaRef; out: TopicOut } | null = null
  /** The transaction of the last event written, until its END is written. */
  private openTx: string | null = null
  private readonly arena = new Arena()
  /** Topics written to, by name. */
  private readonly outs = new Map<string, TopicOut>()
  /** Partitions with records waiting to be sent, in first-append order. */
  private dirty: Outgoing[] = []
  /** Bytes of the batches waiting to be sent. */
  private pendingBytes = 0
  /** Emptied builders for reuse. */
  private readonly spare: RecordBatchBuilder[] = []
  /** The produce of the previous batches (at most one at a time), with its retries. */
  private inflight: Promise<void> | null = null
  /** Checkpoint of the last batch every record of which was acknowledged (heartbeat value). */
  private lastDelivered: string | null = null
  private heartbeatTimer: NodeJS.Timeout | null = null
  private heartbeating = false
  private heartbeatWarned = false
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
  private readonly heartbeatTopic: string

  constructor(
    private readonly config: KafkaConfig,
    private readonly avro: AvroOptions,
    private readonly log: Logger,
    deps: KafkaSinkDeps = {},
  ) {
    this.topicTemplates.set(config.topic, compileTopicTemplate(config.topic, avro.prefix))
    this.schemaTopic = topicName(`${avro.prefix}.schemas`)
    this.transactionTopic = topicName(`${avro.prefix}.transaction`)
    this.heartbeatTopic = topicName(config.heartbeat?.topic ?? `__sluice-heartbeat.${avro.prefix}`)
    this.registry = config.registry
      ? new RegistryClient({
          url: config.registry,
          username: config.registry_username,
          password: config.registry_password,
          timeoutMs: config.request_timeout_ms,
        })
      : null
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)))
    this.reject =
      deps.reject ??
      ((_ev, err) => {
        throw err
      })
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
    this.producer = new WireProducer({
      brokers: config.brokers,
      clientId: config.client_id,
      requestTimeoutMs: config.request_timeout_ms,
      connectTimeoutMs: 5000,
      log,
    })
  }

  /** Connects, reads the cluster's metadata, and decides topic creation from it. */
  async open(): Promise<void> {
    try {
      await this.producer.connect()
    } catch (err) {
      this.producer.close()
      throw new PreconditionError(
        'KAFKA_UNREACHABLE',
        `kafka sink cannot reach brokers ${this.config.brokers.join(',')}: ${messageOf(err)}; ` +
          'check `brokers` and that the cluster is up',
        { cause: err, retriable: true },
      )
    }
    const controllerReachable = this.producer.controllerReachable
    if (!controllerReachable) {
      // librdkafka's mock cluster reports controller id 0 while its brokers are 1..N: CreateTopics
      // (sent to the controller) cannot work there.
      this.log.warn('kafka cluster reports no reachable controller: topics are left to broker auto-creation')
    }
    if (controllerReachable && this.config.create_topics) {
      const admin = this.kafka.admin()
      try {
        await admin.connect()
        this.admin = admin
      } catch (err) {
        await admin.disconnect().catch(() => undefined)
        this.log.warn({ err }, 'kafka admin client cannot connect; relying on broker auto-creation of topics')
      }
    }
    this.topics = new TopicCreator(
      this.admin,
      { partitions: this.config.partitions, replicationFactor: this.config.replication_factor },
      this.log,
    )
    this.opened = true
    this.log.info(
      {
        brokers: this.config.brokers,
        encoding: this.registry ? 'confluent' : 'single-object',
        registry: this.registry?.url,
        heartbeat: this.config.heartbeat ? this.heartbeatTopic : undefined,
      },
      'kafka sink open',
    )
    if (this.config.heartbeat) {
      const every = this.config.heartbeat.interval_ms
      this.heartbeatTimer = setInterval(() => void this.heartbeat(), every)
      this.heartbeatTimer.unref()
    }
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
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer)
    this.heartbeatTimer = null
    let flushError: unknown = null
    if (!this.failure && this.opened) await this.enqueue(null).catch((err: unknown) => (flushError = err))
    this.closed = true
    await this.inflight?.catch(() => undefined)
    this.producer.close()
    await this.admin?.disconnect().catch(() => undefined)
    if (flushError) throw flushError
  }

  private enqueue(batch: ChangeBatch | null): Promise<void> {
    return this.writer.enqueue(batch)
  }

  private get failure(): SluiceError | null {
    return this.writer.failure
  }

  /**
   * Writes one heartbeat record: key the prefix, value the time and the checkpoint of the
   * last fully acknowledged batch. Produced beside the writer loop (its own topic); a failure
   * is logged, never fatal (the next interval tries again).
   */
  private async heartbeat(): Promise<void> {
    if (this.heartbeating || this.closed || this.stopping || this.failure) return
    this.heartbeating = true
    try {
      if (!this.hbTarget) {
        const topic = this.heartbeatTopic
        await this.topics!.ensure([{ topic, compact: false }])
        const out = await this.topicOut(topic)
        const key = await this.announce(topic, 'key', HEARTBEAT_KEY_SCHEMA, heartbeatKeyType, topic)
        const value = await this.announce(topic, 'value', HEARTBEAT_VALUE_SCHEMA, heartbeatValueType, topic)
        this.hbTarget = { key, value, out }
      }
      const t = this.hbTarget
      const arena = new Arena(256)
      const key = Buffer.from(arena.put(t.key.header, heartbeatKeyType, { serverName: this.avro.prefix }))
      const value = arena.put(t.value.header, heartbeatValueType, {
        ts_ms: Date.now(),
        position: this.lastDelivered,
      })
      await this.produceOne(t.out, key, value)
      if (this.heartbeatWarned) this.log.info({ topic: this.heartbeatTopic }, 'kafka heartbeat written again')
      this.heartbeatWarned = false
    } catch (err) {
      // One warning per outage, not one per interval.
      if (!this.stopping && !this.heartbeatWarned) {
        this.heartbeatWarned = true
        this.log.warn(
          { err, topic: this.heartbeatTopic },
          'kafka heartbeat failed; trying again every interval_ms',
        )
      }
    } finally {
      this.heartbeating = false
    }
  }

  /** Prepares topics and schemas, encodes the group into per-partition batches and sends them. */
  private async deliver(group: readonly (ChangeBatch | null)[]): Promise<void> {
    const started = Date.now()
    const state = { warned: false, attempt: 0 }
    let any = false
    let checkpoint: string | null = null
    for (const b of group) {
      if (!b) continue
      checkpoint = b.checkpoint
      if (b.events.length > 0 || (b.transactions?.length ?? 0) > 0) any = true
    }
    if (any) {
      await this.retrying(started, state, () => this.prepare(group))
      await this.encode(group, started, state)
      await this.flushOut(started, state)
      const last = this.inflight
      this.inflight = null
      await last
      if (state.warned) this.log.info({ attempts: state.attempt }, 'kafka delivery recovered')
    }
    if (checkpoint !== null) this.lastDelivered = checkpoint
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

  /** The output state of `topic`, reading its partition count (auto-creating it) the first time. */
  private async topicOut(topic: string): Promise<TopicOut> {
    let out = this.outs.get(topic)
    if (!out) {
      const partitions = await this.producer.partitionCount(topic, this.sleep)
      out = { name: topic, partitions, builders: [] }
      this.outs.set(topic, out)
    }
    return out
  }

  /** Topic, schemas and their announcement for the events like `ev` under topic template `template`. */
  private async prepareTarget(ev: ChangeEvent, template: string): Promise<TableTarget> {
    const table = ev.table
    const codec = codecFor(table, this.avro)
    const topic = this.topicTemplate(template, ev)(table)
    await this.topics!.ensure([{ topic, compact: true }])
    const out = await this.topicOut(topic)
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
    return { keyType: codec.keyType ?? null, valueType, flat: ev.unwrapped !== undefined, out, key, value }
  }

  private async prepareTransactions(): Promise<void> {
    const topic = this.transactionTopic
    await this.topics!.ensure([{ topic, compact: false }])
    const out = await this.topicOut(topic)
    const key = await this.announce(topic, 'key', TRANSACTION_KEY_SCHEMA, transactionKeyType, topic)
    const value = await this.announce(topic, 'value', TRANSACTION_VALUE_SCHEMA, transactionValueType, topic)
    this.txTarget = { key, value, out }
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
      const out = await this.topicOut(this.schemaTopic)
      await this.produceOne(out, Buffer.from(hex, 'utf8'), Buffer.from(json, 'utf8'))
      this.published.add(hex)
    }
    return { header: Buffer.concat([SINGLE_OBJECT_MAGIC, fp]) }
  }

  /** Produces one record on its own (schema topic, heartbeat) and waits for its acknowledgement. */
  private async produceOne(out: TopicOut, key: Buffer, value: Buffer): Promise<void> {
    const b = new RecordBatchBuilder(key.length + value.length + 128)
    b.append(key, value)
    const part = { topic: out.name, partition: partitionForKey(key, out.partitions), batch: b.finish() }
    const failures = await this.producer.produce([part], -1, this.config.request_timeout_ms)
    if (failures.length > 0) throw this.produceError(failures)
  }

  /** Encodes every record of the group, in order (transaction records interleaved). */
  private async encode(
    group: readonly (ChangeBatch | null)[],
    started: number,
    state: { warned: boolean; attempt: number },
  ): Promise<void> {
    const limit = this.config.batch_bytes
    for (const b of group) {
      if (!b) continue
      const summaries = this.config.transaction_topic ? b.transactions : undefined
      let ended: Set<string> | null = null
      let lastSchema: TableSchema | null = null
      let lastTemplate: string | null = null
      let target: TableTarget | null = null
      const events = b.events
      for (let i = 0; i < events.length; i++) {
        const ev = events[i]!
        if (this.pendingBytes >= limit) await this.flushOut(started, state)
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
            this.txRecord(endRecord(s))
            ;(ended ??= new Set()).add(s.id)
          }
          this.openTx = ev.transaction.id
          this.txRecord(beginRecord(ev.transaction.id, ev.source.ts_ms))
        }
        const refused = this.encodeEvent(target!, ev)
        if (refused) await this.reject(ev, refused)
      }
      if (summaries && this.txTarget) {
        for (const s of summaries) {
          if (ended?.has(s.id)) continue
          this.txRecord(endRecord(s as TransactionSummary))
          if (s.id === this.openTx) this.openTx = null
        }
      }
    }
  }

  /** Appends one record to its partition's batch. */
  private append(
    out: TopicOut,
    partition: number,
    key: Buffer | null,
    value: Buffer | null,
    position: string | null,
    op: string,
  ): void {
    let b = out.builders[partition]
    if (!b) {
      b = this.spare.pop() ?? new RecordBatchBuilder()
      out.builders[partition] = b
    }
    if (b.records === 0) this.dirty.push({ topic: out, partition, builder: b })
    if (position === null) b.append(key, value)
    else b.append(key, value, H_POSITION, position, H_OP, op)
    this.pendingBytes += (key?.length ?? 0) + (value?.length ?? 0) + (position?.length ?? 0) + RECORD_OVERHEAD
  }

  /**
   * Appends the event's record (and its tombstone); returns the error instead when the event
   * cannot be sent at all (not encodable, or larger than max_message_bytes), with nothing
   * appended, for the pipeline's on_error.
   */
  private encodeEvent(t: TableTarget, ev: ChangeEvent): EncodeError | null {
    const arena = this.arena
    arena.pos = 0
    let key: Buffer | null = null
    let value: Buffer
    try {
      if (t.key && t.keyType && ev.key) key = arena.put(t.key.header, t.keyType, ev.key)
      // An envelope is the event itself (its fields carry the Envelope's names); a flat row is
      // the unwrap transform's record, `__deleted: "true"` for a delete.
      value = arena.put(t.value.header, t.valueType, t.flat ? ev.unwrapped!.row : ev)
    } catch (err) {
      return new EncodeError(
        'KAFKA_ENCODE_FAILED',
        `cannot encode the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table}: ` +
          `${messageOf(err)}`,
        { cause: err },
      )
    }
    const size = (key?.length ?? 0) + value.length + ev.position.length + RECORD_OVERHEAD
    if (size > this.config.max_message_bytes) {
      return new EncodeError(
        'KAFKA_MESSAGE_TOO_LARGE',
        `the ${ev.op} event at position ${ev.position} of ${ev.table.schema}.${ev.table.table} is a ${size}-byte ` +
          `record for topic ${t.out.name}, over max_message_bytes (${this.config.max_message_bytes}): raise ` +
          "max_message_bytes and the topic's max.message.bytes, leave the large column out with a columns " +
          'transform, or set on_error: dead_letter or skip',
      )
    }
    const out = t.out
    const partition = key === null || out.partitions === 1 ? 0 : partitionForKey(key, out.partitions)
    this.append(out, partition, key, value, ev.position, ev.op)
    if (ev.op === 'd' && key && this.config.tombstones)
      this.append(out, partition, key, null, ev.position, ev.op)
    return null
  }

  private txRecord(r: TransactionRecord): void {
    const t = this.txTarget!
    const arena = this.arena
    arena.pos = 0
    const key = arena.put(t.key.header, transactionKeyType, { id: r.id })
    const value = arena.put(t.value.header, transactionValueType, r)
    this.append(t.out, partitionForKey(key, t.out.partitions), key, value, null, '')
  }

  /**
   * Hands the waiting batches to the producer: waits for the previous produce (and its
   * retries) first, then starts this one without waiting for it, so encoding goes on
   * meanwhile. Its outcome is awaited by the next flushOut or by deliver().
   */
  private async flushOut(started: number, state: { warned: boolean; attempt: number }): Promise<void> {
    if (this.inflight) {
      const prev = this.inflight
      this.inflight = null
      await prev
    }
    if (this.dirty.length === 0) return
    const batch = this.dirty
    this.dirty = []
    this.pendingBytes = 0
    for (const o of batch) o.topic.builders[o.partition] = undefined
    const p = this.sendAll(batch, started, state)
    p.catch(() => undefined) // observed by whoever awaits this.inflight
    this.inflight = p
  }

  /** Produces the batches, retrying the partitions that failed with a retriable error. */
  private async sendAll(
    batch: Outgoing[],
    started: number,
    state: { warned: boolean; attempt: number },
  ): Promise<void> {
    let parts: ProducePartition[] = []
    for (const o of batch) {
      let bytes = o.builder.finish()
      if (this.config.compression === 'gzip') {
        bytes = o.builder.finishCompressed(await gzip(o.builder.recordsSection()), CODEC_GZIP)
      }
      parts.push({ topic: o.topic.name, partition: o.partition, batch: bytes })
    }
    await this.retrying(started, state, async () => {
      const failures = await this.producer.produce(parts, -1, this.config.request_timeout_ms)
      if (failures.length === 0) {
        parts = []
        return
      }
      const failed = new Set(failures.map((f) => f.part))
      parts = parts.filter((p) => failed.has(p))
      throw this.produceError(failures)
    })
    for (const o of batch) {
      o.builder.reset()
      this.spare.push(o.builder)
    }
  }

  /** The error of a produce with failed partitions: permanent if any broker answer was. */
  private produceError(failures: readonly ProduceFailure[]): SinkError {
    const permanent = failures.find((f) => !f.retriable)
    const f = permanent ?? failures[0]!
    const more = failures.length > 1 ? ` (and ${failures.length - 1} more partition(s))` : ''
    if (permanent) {
      return new SinkError(
        'KAFKA_SEND_FAILED',
        `kafka refused records of topic ${f.part.topic} partition ${f.part.partition}: ${f.message}${more}; ` +
          fixFor(f.code),
        { retriable: false },
      )
    }
    return new SinkError('KAFKA_SEND_FAILED', `kafka produce failed: ${f.message}${more}`, {
      retriable: true,
    })
  }
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
  return new KafkaSink(config, ctx.avro, ctx.log, { ...(ctx.reject && { reject: ctx.reject }), ...deps })
}
