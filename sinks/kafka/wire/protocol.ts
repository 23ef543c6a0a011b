/**
 * The few Kafka requests the producer speaks (non-flexible versions only): ApiVersions v0,
 * Metadata v1-v4, Produce v3-v7. Requests are built as buffer lists (a produce request
 * references the record batches instead of copying them); responses are decoded by Reader.
 */

export const API_PRODUCE = 0
export const API_METADATA = 3
export const API_VERSIONS = 18

/** Versions the producer can speak, [min, max] per API. */
export const SUPPORTED: Readonly<Record<number, readonly [number, number]>> = {
  [API_PRODUCE]: [3, 7],
  [API_METADATA]: [1, 4],
  [API_VERSIONS]: [0, 0],
}

/** Kafka error codes the producer acts on, with their names (for messages). */
export const ERRORS: Readonly<Record<number, { name: string; retriable: boolean }>> = {
  [-1]: { name: 'UNKNOWN_SERVER_ERROR', retriable: false },
  1: { name: 'OFFSET_OUT_OF_RANGE', retriable: false },
  2: { name: 'CORRUPT_MESSAGE', retriable: true },
  3: { name: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true },
  4: { name: 'INVALID_FETCH_SIZE', retriable: false },
  5: { name: 'LEADER_NOT_AVAILABLE', retriable: true },
  6: { name: 'NOT_LEADER_OR_FOLLOWER', retriable: true },
  7: { name: 'REQUEST_TIMED_OUT', retriable: true },
  8: { name: 'BROKER_NOT_AVAILABLE', retriable: true },
  9: { name: 'REPLICA_NOT_AVAILABLE', retriable: true },
  10: { name: 'MESSAGE_TOO_LARGE', retriable: false },
  13: { name: 'NETWORK_EXCEPTION', retriable: true },
  14: { name: 'COORDINATOR_LOAD_IN_PROGRESS', retriable: true },
  15: { name: 'COORDINATOR_NOT_AVAILABLE', retriable: true },
  17: { name: 'INVALID_TOPIC_EXCEPTION', retriable: false },
  18: { name: 'RECORD_LIST_TOO_LARGE', retriable: false },
  19: { name: 'NOT_ENOUGH_REPLICAS', retriable: true },
  20: { name: 'NOT_ENOUGH_REPLICAS_AFTER_APPEND', retriable: true },
  21: { name: 'INVALID_REQUIRED_ACKS', retriable: false },
  29: { name: 'TOPIC_AUTHORIZATION_FAILED', retriable: false },
  31: { name: 'CLUSTER_AUTHORIZATION_FAILED', retriable: false },
  35: { name: 'UNSUPPORTED_VERSION', retriable: false },
  42: { name: 'INVALID_REQUEST', retriable: false },
  43: { name: 'UNSUPPORTED_FOR_MESSAGE_FORMAT', retriable: false },
  44: { name: 'POLICY_VIOLATION', retriable: false },
  56: { name: 'KAFKA_STORAGE_ERROR', retriable: true },
  74: { name: 'FENCED_LEADER_EPOCH', retriable: true },
  75: { name: 'UNKNOWN_LEADER_EPOCH', retriable: true },
  76: { name: 'UNSUPPORTED_COMPRESSION_TYPE', retriable: false },
  87: { name: 'INVALID_RECORD', retriable: false },
}

/** Name and retriability of a Kafka error code (unknown codes are treated as retriable). */
export function errorOf(code: number): { name: string; retriable: boolean } {
  return ERRORS[code] ?? { name: `error code ${code}`, retriable: true }
}

/** Errors after which the client must refresh its metadata (leaders moved or topic missing). */
export function needsMetadata(code: number): boolean {
  return code === 3 || code === 5 || code === 6 || code === 74 || code === 75
}

/** What a failed produce of one partition's batch tells the user to do. */
export function fixFor(code: number | null): string {
  switch (code) {
    case 10:
    case 18:
      return "lower batch_bytes, or raise the topic's max.message.bytes (and the broker's message.max.bytes)"
    case 29:
      return 'grant the client WRITE and DESCRIBE on the topic'
    case 31:
      return 'grant the client IDEMPOTENT_WRITE on the cluster'
    case 17:
      return 'fix the topic name (topic or route template)'
    case 76:
      return 'set compression: none'
    case 19:
    case 20:
      return 'bring the in-sync replicas back, or lower the topic min.insync.replicas'
    default:
      return "see the broker's log"
  }
}

/** A small big-endian writer for request bodies. */
export class Writer {
  private buf: Buffer
  pos = 0

  constructor(size = 256) {
    this.buf = Buffer.allocUnsafe(size)
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  int8(v: number): this {
    this.room(1)
    this.buf.writeInt8(v, this.pos)
    this.pos += 1
    return this
  }

  int16(v: number): this {
    this.room(2)
    this.buf.writeInt16BE(v, this.pos)
    this.pos += 2
    return this
  }

  int32(v: number): this {
    this.room(4)
    this.buf.writeInt32BE(v, this.pos)
    this.pos += 4
    return this
  }

  /** A nullable int16-length string. */
  string(s: string | null): this {
    if (s === null) return this.int16(-1)
    const n = Buffer.byteLength(s, 'utf8')
    this.int16(n)
    this.room(n)
    this.buf.write(s, this.pos, 'utf8')
    this.pos += n
    return this
  }

  bytes(): Buffer {
    return this.buf.subarray(0, this.pos)
  }
}

/** A big-endian reader over one response; running past the end throws. */
export class Reader {
  pos = 0

  constructor(private readonly buf: Buffer) {}

  /** The bytes not read yet. */
  remaining(): Buffer {
    return this.buf.subarray(this.pos)
  }

  private need(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('truncated kafka response')
  }

  int8(): number {
    this.need(1)
    return this.buf.readInt8(this.pos++)
  }

  int16(): number {
    this.need(2)
    const v = this.buf.readInt16BE(this.pos)
    this.pos += 2
    return v
  }

  int32(): number {
    this.need(4)
    const v = this.buf.readInt32BE(this.pos)
    this.pos += 4
    return v
  }

  int64(): bigint {
    this.need(8)
    const v = this.buf.readBigInt64BE(this.pos)
    this.pos += 8
    return v
  }

  string(): string | null {
    const n = this.int16()
    if (n < 0) return null
    this.need(n)
    const s = this.buf.toString('utf8', this.pos, this.pos + n)
    this.pos += n
    return s
  }

  array<T>(item: () => T): T[] {
    const n = this.int32()
    const out: T[] = []
    for (let i = 0; i < n; i++) out.push(item())
    return out
  }
}

/** The request header (v1): api key, version, correlation id, client id. */
export function requestHeader(
  w: Writer,
  api: number,
  version: number,
  correlationId: number,
  clientId: string,
): void {
  w.int16(api).int16(version).int32(correlationId).string(clientId)
}

export interface ApiVersion {
  readonly api: number
  readonly min: number
  readonly max: number
}

export function decodeApiVersions(r: Reader): { error: number; apis: ApiVersion[] } {
  const error = r.int16()
  const apis = r.array(() => ({ api: r.int16(), min: r.int16(), max: r.int16() }))
  return { error, apis }
}

/** Metadata request body: `topics` null = all topics (v1+), [] = none (brokers only). */
export function encodeMetadata(w: Writer, version: number, topics: readonly string[] | null): void {
  if (topics === null) w.int32(-1)
  else {
    w.int32(topics.length)
    for (const t of topics) w.string(t)
  }
  if (version >= 4) w.int8(1) // allow_auto_topic_creation
}

export interface BrokerInfo {
  readonly nodeId: number
  readonly host: string
  readonly port: number
}

export interface PartitionInfo {
  readonly error: number
  readonly partition: number
  readonly leader: number
}

export interface TopicInfo {
  readonly error: number
  readonly name: string
  readonly partitions: PartitionInfo[]
}

export interface Metadata {
  readonly brokers: BrokerInfo[]
  readonly controller: number
  readonly topics: TopicInfo[]
}

export function decodeMetadata(r: Reader, version: number): Metadata {
  if (version >= 3) r.int32() // throttle_time_ms
  const brokers = r.array(() => {
    const nodeId = r.int32()
    const host = r.string() ?? ''
    const port = r.int32()
    r.string() // rack
    return { nodeId, host, port }
  })
  if (version >= 2) r.string() // cluster_id
  const controller = r.int32()
  const topics = r.array(() => {
    const error = r.int16()
    const name = r.string() ?? ''
    r.int8() // is_internal
    const partitions = r.array(() => {
      const error = r.int16()
      const partition = r.int32()
      const leader = r.int32()
      r.array(() => r.int32()) // replicas
      r.array(() => r.int32()) // isr
      return { error, partition, leader }
    })
    return { error, name, partitions }
  })
  return { brokers, controller, topics }
}

/** One partition's record batch of a produce request. */
export interface ProducePartition {
  readonly topic: string
  readonly partition: number
  readonly batch: Buffer
}

/**
 * A produce request body as a list of buffers (the batches are referenced, not copied):
 * transactional_id null, acks, timeout, then topics with their partitions' record sets.
 * `parts` must be grouped by topic (all partitions of a topic adjacent).
 */
export function encodeProduce(
  w: Writer,
  acks: number,
  timeoutMs: number,
  parts: readonly ProducePartition[],
): Buffer[] {
  const out: Buffer[] = []
  w.string(null).int16(acks).int32(timeoutMs)
  const topics: { topic: string; parts: ProducePartition[] }[] = []
  for (const p of parts) {
    const last = topics.at(-1)
    if (last && last.topic === p.topic) last.parts.push(p)
    else topics.push({ topic: p.topic, parts: [p] })
  }
  w.int32(topics.length)
  for (const t of topics) {
    w.string(t.topic).int32(t.parts.length)
    for (const p of t.parts) {
      w.int32(p.partition).int32(p.batch.length)
      out.push(Buffer.from(w.bytes())) // the header bytes up to here
      w.pos = 0
      out.push(p.batch)
    }
  }
  if (w.pos > 0) out.push(Buffer.from(w.bytes()))
  return out
}

export interface ProduceResult {
  readonly topic: string
  readonly partition: number
  readonly error: number
  readonly baseOffset: bigint
}

export function decodeProduce(r: Reader, version: number): ProduceResult[] {
  const out: ProduceResult[] = []
  r.array(() => {
    const topic = r.string() ?? ''
    r.array(() => {
      const partition = r.int32()
      const error = r.int16()
      const baseOffset = r.int64()
      if (version >= 2) r.int64() // log_append_time
      if (version >= 5) r.int64() // log_start_offset
      out.push({ topic, partition, error, baseOffset })
    })
  })
  return out
}
