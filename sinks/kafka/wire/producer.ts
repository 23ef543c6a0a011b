import type { Logger } from 'pino'
import { SinkError } from '../../../pipeline/errors.js'
import { Connection, ConnectionError } from './connection.js'
import {
  API_METADATA,
  API_PRODUCE,
  API_VERSIONS,
  decodeApiVersions,
  decodeMetadata,
  decodeProduce,
  encodeMetadata,
  encodeProduce,
  errorOf,
  fixFor,
  needsMetadata,
  SUPPORTED,
  Writer,
  type BrokerInfo,
  type Metadata,
  type ProducePartition,
} from './protocol.js'

export interface WireProducerOptions {
  /** Bootstrap `host:port` list. */
  readonly brokers: readonly string[]
  readonly clientId: string
  readonly requestTimeoutMs: number
  readonly connectTimeoutMs: number
  readonly log: Logger
}

/** The outcome of one partition's batch that was not acknowledged. */
export interface ProduceFailure {
  readonly part: ProducePartition
  /** The broker's error code, or null for a connection failure (no answer). */
  readonly code: number | null
  readonly retriable: boolean
  readonly message: string
}

/** A topic's partitions and their leaders (node ids; -1 while a partition has none). */
interface TopicMeta {
  readonly leaders: number[]
}

/** Chosen API versions: the highest both sides speak. */
interface Versions {
  produce: number
  metadata: number
}

/**
 * A minimal Kafka producer for the sink's hot path: one connection per broker, ApiVersions
 * once at bootstrap, Metadata for the leader of each partition (refreshed after
 * NOT_LEADER / UNKNOWN_TOPIC errors and connection failures), and Produce requests carrying
 * ready-made record batches, acks -1. It does not retry by itself: `produce()` reports which
 * partitions were not acknowledged and the caller retries those (keeping one request in
 * flight per partition, so per-partition order holds).
 */
export class WireProducer {
  private readonly conns = new Map<number, Connection>()
  private bootstrapConn: Connection | null = null
  private brokers = new Map<number, BrokerInfo>()
  private readonly topics = new Map<string, TopicMeta>()
  /** The topic-level error of the last metadata that named the topic. */
  private readonly topicErrors = new Map<string, number>()
  private versions: Versions = { produce: 3, metadata: 1 }
  /** The controller id from the last metadata (the mock cluster reports 0, not a broker). */
  controller = -1
  private stale = false

  constructor(private readonly opts: WireProducerOptions) {}

  /** Whether the cluster's controller is one of its brokers. */
  get controllerReachable(): boolean {
    return this.brokers.has(this.controller)
  }

  /** Connects to the first reachable bootstrap broker, negotiates versions and reads the broker list. */
  async connect(): Promise<void> {
    let last: unknown = null
    for (const b of this.opts.brokers) {
      const i = b.lastIndexOf(':')
      const conn = this.newConnection(b.slice(0, i), Number(b.slice(i + 1)))
      try {
        const r = await conn.request(API_VERSIONS, 0, [])
        const { error, apis } = decodeApiVersions(r)
        if (error !== 0) throw new Error(`ApiVersions failed: ${errorOf(error).name}`)
        this.versions = {
          produce: pick(apis, API_PRODUCE, b),
          metadata: pick(apis, API_METADATA, b),
        }
        this.bootstrapConn = conn
        await this.refresh([])
        return
      } catch (err) {
        conn.close()
        last = err
      }
    }
    throw last instanceof Error ? last : new Error(String(last))
  }

  private newConnection(host: string, port: number): Connection {
    return new Connection(
      host,
      port,
      this.opts.clientId,
      this.opts.connectTimeoutMs,
      this.opts.requestTimeoutMs,
    )
  }

  /** A live connection to broker `nodeId` (reconnecting after a failure). */
  private connection(nodeId: number): Connection {
    let c = this.conns.get(nodeId)
    if (c && !c.broken) return c
    const b = this.brokers.get(nodeId)
    if (!b) throw new ConnectionError(`broker ${nodeId} is not in the cluster metadata`, `node ${nodeId}`)
    c = this.newConnection(b.host, b.port)
    this.conns.set(nodeId, c)
    return c
  }

  /** Any live connection for metadata: a known broker, else the bootstrap list in turn. */
  private async metadata(topics: readonly string[]): Promise<Metadata> {
    const candidates: (() => Connection)[] = []
    for (const id of this.brokers.keys()) candidates.push(() => this.connection(id))
    for (const b of this.opts.brokers) {
      const i = b.lastIndexOf(':')
      candidates.push(() => {
        if (this.bootstrapConn && !this.bootstrapConn.broken && this.bootstrapConn.address === b)
          return this.bootstrapConn
        this.bootstrapConn?.close()
        return (this.bootstrapConn = this.newConnection(b.slice(0, i), Number(b.slice(i + 1))))
      })
    }
    let last: unknown = null
    for (const get of candidates) {
      try {
        const w = new Writer()
        encodeMetadata(w, this.versions.metadata, topics)
        const r = await get().request(API_METADATA, this.versions.metadata, [w.bytes()])
        return decodeMetadata(r, this.versions.metadata)
      } catch (err) {
        last = err
      }
    }
    throw last instanceof Error ? last : new Error(String(last))
  }

  /** Reads metadata for `topics` (and the broker list); unknown or leaderless topics are left out. */
  async refresh(topics: readonly string[]): Promise<void> {
    const md = await this.metadata(topics)
    this.brokers = new Map(md.brokers.map((b) => [b.nodeId, b]))
    this.controller = md.controller
    for (const [id, c] of this.conns) {
      const b = this.brokers.get(id)
      if (!b || b.host !== c.host || b.port !== c.port) {
        c.close()
        this.conns.delete(id)
      }
    }
    for (const t of md.topics) {
      this.topicErrors.set(t.name, t.error)
      if (t.error !== 0 || t.partitions.length === 0) {
        this.topics.delete(t.name)
        continue
      }
      const leaders: number[] = []
      for (const p of t.partitions) leaders[p.partition] = p.error === 0 || p.leader >= 0 ? p.leader : -1
      this.topics.set(t.name, { leaders: Array.from(leaders, (l) => l ?? -1) })
    }
    this.stale = false
  }

  /**
   * The partition count of `topic`, auto-creating it through Metadata when the broker allows;
   * retries while the topic or its leaders are not there yet, then throws.
   */
  async partitionCount(topic: string, sleep: (ms: number) => Promise<void>): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      const known = this.topics.get(topic)
      if (known && !this.stale && known.leaders.every((l) => l >= 0)) return known.leaders.length
      await this.refresh([topic])
      const t = this.topics.get(topic)
      if (t && t.leaders.every((l) => l >= 0)) return t.leaders.length
      const code = this.topicErrors.get(topic) ?? 0
      if (code !== 0 && !errorOf(code).retriable) {
        throw new SinkError(
          'KAFKA_SEND_FAILED',
          `kafka refused topic ${topic}: the metadata answered ${errorOf(code).name}; ${fixFor(code)}`,
          { retriable: false },
        )
      }
      if (attempt >= 20) {
        throw new ConnectionError(
          `topic ${topic} ${code === 0 ? 'has no leader for every partition' : `answers ${errorOf(code).name}`} ` +
            `after ${attempt} metadata requests; create the topic (or turn on create_topics, or the broker's ` +
            'auto.create.topics.enable)',
          'cluster',
        )
      }
      await sleep(Math.min(500, 50 * (attempt + 1)))
    }
  }

  /**
   * Sends every batch to its partition's leader (one request per broker, all brokers at
   * once, acks -1) and returns the batches that were not acknowledged. Never throws for a
   * broker or connection failure: those come back as failures.
   */
  async produce(
    parts: readonly ProducePartition[],
    acks: number,
    timeoutMs: number,
  ): Promise<ProduceFailure[]> {
    if (this.stale) {
      const topics = [...new Set(parts.map((p) => p.topic))]
      await this.refresh(topics).catch(() => undefined)
    }
    const failures: ProduceFailure[] = []
    const byBroker = new Map<number, ProducePartition[]>()
    for (const p of parts) {
      const leader = this.topics.get(p.topic)?.leaders[p.partition] ?? -1
      if (leader < 0 || !this.brokers.has(leader)) {
        this.stale = true
        failures.push({
          part: p,
          code: 5,
          retriable: true,
          message: `no leader known for ${p.topic}[${p.partition}]`,
        })
        continue
      }
      let list = byBroker.get(leader)
      if (!list) byBroker.set(leader, (list = []))
      list.push(p)
    }
    await Promise.all(
      [...byBroker].map(async ([nodeId, list]) => {
        list.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0))
        try {
          const conn = this.connection(nodeId)
          const body = encodeProduce(new Writer(), acks, timeoutMs, list)
          const r = await conn.request(
            API_PRODUCE,
            this.versions.produce,
            body,
            timeoutMs + this.opts.requestTimeoutMs,
          )
          const results = decodeProduce(r, this.versions.produce)
          const byKey = new Map(results.map((x) => [`${x.partition}\u0000${x.topic}`, x]))
          for (const p of list) {
            const x = byKey.get(`${p.partition}\u0000${p.topic}`)
            if (!x) {
              failures.push({
                part: p,
                code: null,
                retriable: true,
                message: `broker ${nodeId} did not answer for ${p.topic}[${p.partition}]`,
              })
              continue
            }
            if (x.error === 0) continue
            const e = errorOf(x.error)
            if (needsMetadata(x.error)) this.stale = true
            failures.push({
              part: p,
              code: x.error,
              retriable: e.retriable,
              message: `broker ${nodeId} answered ${e.name} for ${p.topic}[${p.partition}]`,
            })
          }
        } catch (err) {
          this.stale = true
          const msg = err instanceof Error ? err.message : String(err)
          for (const p of list) failures.push({ part: p, code: null, retriable: true, message: msg })
        }
      }),
    )
    return failures
  }

  close(): void {
    for (const c of this.conns.values()) c.close()
    this.conns.clear()
    this.bootstrapConn?.close()
    this.bootstrapConn = null
  }
}

/** The highest version of `api` both the broker and this producer speak; throws when none. */
function pick(
  apis: readonly { api: number; min: number; max: number }[],
  api: number,
  broker: string,
): number {
  const [lo, hi] = SUPPORTED[api]!
  const b = apis.find((a) => a.api === api)
  const v = b ? Math.min(hi, b.max) : -1
  if (!b || v < lo || v < b.min) {
    throw new Error(
      `broker ${broker} does not speak API ${api} versions ${lo}-${hi} (it offers ${b ? `${b.min}-${b.max}` : 'none'}); ` +
        'Kafka 0.11 or newer is needed',
    )
  }
  return v
}
