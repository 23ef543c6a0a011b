import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import avro from 'avsc'
import { Kafka, logLevel, type Admin } from 'kafkajs'

/** One record read back from a topic. */
export interface ReadRecord {
  readonly partition: number
  readonly offset: number
  readonly key: Buffer | null
  readonly value: Buffer | null
  readonly headers: Record<string, string>
}

/** YAML for one pipeline with a Kafka sink; state in `<dir>/state`. */
export function kafkaPipelineYaml(opts: {
  source: string
  dir: string
  brokers: string[]
  name?: string
  registry?: string
  extraSink?: string
}): string {
  return `
pipelines:
  - name: ${opts.name ?? 'shop'}
    source:
${opts.source}
    sinks:
      - type: kafka
        brokers: [${opts.brokers.join(', ')}]
        topic: "\${prefix}.\${schema}.\${table}"
${opts.registry ? `        registry: ${opts.registry}\n` : ''}${opts.extraSink ?? ''}
state:
  type: file
  path: ${join(opts.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

const clients = new Map<string, Kafka>()
function kafkaFor(brokers: string[]): Kafka {
  const k = brokers.join(',')
  let c = clients.get(k)
  if (!c)
    clients.set(
      k,
      (c = new Kafka({
        clientId: 'sluice-test',
        brokers,
        logLevel: logLevel.NOTHING,
        // Generous: the machine is shared and the test process runs the pipeline too.
        connectionTimeout: 10_000,
        requestTimeout: 30_000,
        retry: { retries: 8 },
      })),
    )
  return c
}

/** Runs `fn` with a connected admin client. */
export async function withAdmin<T>(brokers: string[], fn: (a: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaFor(brokers).admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

/** Number of records in a topic (sum of high watermarks); 0 when it does not exist yet. */
export async function topicCount(brokers: string[], topic: string): Promise<number> {
  return withAdmin(brokers, async (a) => {
    const topics = await a.listTopics()
    if (!topics.includes(topic)) return 0
    const offsets = await a.fetchTopicOffsets(topic)
    return offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0)
  })
}

/** Partition count of a topic. */
export async function partitionCount(brokers: string[], topic: string): Promise<number> {
  return withAdmin(brokers, async (a) => (await a.fetchTopicOffsets(topic)).length)
}

/**
 * Reads every record of `topic` up to its current high watermarks with a real kafkajs
 * consumer (a fresh group, from the beginning), per partition in offset order.
 */
export async function readTopic(brokers: string[], topic: string): Promise<ReadRecord[]> {
  const offsets = await withAdmin(brokers, (a) => a.fetchTopicOffsets(topic))
  const want = new Map(offsets.map((o) => [o.partition, Number(o.high)]))
  const got = new Map<number, number>()
  for (const o of offsets) got.set(o.partition, Number(o.low))
  const done = (): boolean => [...want].every(([p, high]) => (got.get(p) ?? 0) >= high)
  const out: ReadRecord[] = []
  if (done()) return out
  const consumer = kafkaFor(brokers).consumer({ groupId: `test-${randomUUID()}`, maxWaitTimeInMs: 200 })
  await consumer.connect()
  try {
    await consumer.subscribe({ topic, fromBeginning: true })
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}`)), 60_000)
      consumer
        .run({
          eachMessage: async ({ partition, message }) => {
            const offset = Number(message.offset)
            if (offset >= (want.get(partition) ?? 0)) return
            const headers: Record<string, string> = {}
            for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v)
            out.push({ partition, offset, key: message.key, value: message.value, headers })
            got.set(partition, offset + 1)
            if (done()) {
              clearTimeout(timer)
              resolve()
            }
          },
        })
        .catch(reject)
    })
  } finally {
    await consumer.disconnect()
  }
  return out.sort((a, b) => a.partition - b.partition || a.offset - b.offset)
}

/**
 * An Avro decoder written independently of Sluice's decoder: plain avsc, schemas fetched
 * from the registry by id (Confluent wire format) or taken from the schema topic by
 * fingerprint (single-object encoding).
 */
export class IndependentDecoder {
  private readonly ids = new Map<number, avro.Type>()
  readonly names = new Map<avro.Type, string>()
  private readonly fps = new Map<string, avro.Type>()

  constructor(private readonly registry?: string) {}

  /** Loads the schema topic's records (key: fingerprint hex, value: schema JSON). */
  loadSchemaTopic(records: readonly ReadRecord[]): void {
    for (const r of records) {
      const t = avro.Type.forSchema(JSON.parse(r.value!.toString('utf8')) as avro.Schema, {
        wrapUnions: false,
      })
      this.fps.set(r.key!.toString('utf8'), t)
    }
  }

  /** Decodes a key or value; returns the datum and the writer schema's full name. */
  async decode(buf: Buffer | null): Promise<{ value: Record<string, unknown>; schema: string } | null> {
    if (buf === null) return null
    let type: avro.Type | undefined
    let body: Buffer
    if (buf[0] === 0) {
      const id = buf.readUInt32BE(1)
      type = this.ids.get(id)
      if (!type) {
        const res = await fetch(`${this.registry}/schemas/ids/${id}`)
        const { schema } = (await res.json()) as { schema: string }
        type = avro.Type.forSchema(JSON.parse(schema) as avro.Schema, { wrapUnions: false })
        this.ids.set(id, type)
      }
      body = buf.subarray(5)
    } else if (buf[0] === 0xc3 && buf[1] === 0x01) {
      const hex = buf.subarray(2, 10).toString('hex')
      type = this.fps.get(hex)
      if (!type) throw new Error(`fingerprint ${hex} is not in the schema topic`)
      body = buf.subarray(10)
    } else throw new Error(`unknown encoding, first byte ${buf[0]}`)
    return { value: type.fromBuffer(body) as Record<string, unknown>, schema: type.name ?? '' }
  }
}

/** A data record decoded: key, envelope (null for a tombstone), writer schema names. */
export interface Decoded {
  readonly rec: ReadRecord
  readonly key: Record<string, unknown> | null
  readonly keySchema: string | null
  readonly value: Record<string, unknown> | null
  readonly valueSchema: string | null
}

export async function decodeAll(d: IndependentDecoder, recs: readonly ReadRecord[]): Promise<Decoded[]> {
  const out: Decoded[] = []
  for (const rec of recs) {
    const k = await d.decode(rec.key)
    const v = await d.decode(rec.value)
    out.push({
      rec,
      key: k?.value ?? null,
      keySchema: k?.schema ?? null,
      value: v?.value ?? null,
      valueSchema: v?.schema ?? null,
    })
  }
  return out
}

/**
 * Per key, the records in partition order with replays removed (a replay repeats positions
 * already seen for that key): positions must then strictly increase, each delete must be
 * followed by its tombstone.
 */
export function checkPerKeyOrder(
  recs: readonly Decoded[],
  sortKey: (pos: string) => string = (p) => p,
): void {
  const byKey = new Map<string, Decoded[]>()
  for (const r of recs) {
    const k = JSON.stringify(r.key)
    let l = byKey.get(k)
    if (!l) byKey.set(k, (l = []))
    l.push(r)
  }
  for (const [k, list] of byKey) {
    assert.equal(new Set(list.map((r) => r.rec.partition)).size, 1, `key ${k} is in one partition`)
    let last = ''
    for (let i = 0; i < list.length; i++) {
      const r = list[i]!
      const full = r.rec.headers['sluice.position']!
      const pos = sortKey(full)
      if (r.value === null) {
        const prev = list[i - 1]
        assert.ok(
          prev && prev.value?.op === 'd' && prev.rec.headers['sluice.position'] === full,
          `tombstone of ${k} follows its delete`,
        )
        continue
      }
      if (pos <= last) continue // a replay after a retried produce: at-least-once
      last = pos
      assert.equal(
        (r.value.source as { position: string }).position,
        full,
        'header position = source.position',
      )
      if (r.value.op === 'd') {
        const next = list[i + 1]
        assert.ok(next && next.value === null, `delete of ${k} at ${full} is followed by a tombstone`)
      }
    }
  }
}

/**
 * Against a long-lived cluster (KAFKA_BROKERS / SCHEMA_REGISTRY_URL), removes what an
 * earlier run of a test left under `prefix` (topics `<prefix>.*`, subjects `<prefix>.*`), so
 * counts start from zero. The mock cluster and the registry fake are fresh per run.
 */
export async function freshPrefix(
  cluster: { brokers: string[]; mock: boolean },
  registry: { url: string; fake: boolean },
  prefix: string,
): Promise<void> {
  if (!cluster.mock) {
    await withAdmin(cluster.brokers, async (a) => {
      const old = (await a.listTopics()).filter((t) => t.startsWith(`${prefix}.`))
      if (old.length > 0) await a.deleteTopics({ topics: old, timeout: 30_000 })
    })
  }
  if (!registry.fake) {
    const subjects = (await (await fetch(`${registry.url}/subjects`)).json()) as string[]
    for (const s of subjects.filter((x) => x.startsWith(`${prefix}.`))) {
      await fetch(`${registry.url}/subjects/${encodeURIComponent(s)}`, { method: 'DELETE' })
      await fetch(`${registry.url}/subjects/${encodeURIComponent(s)}?permanent=true`, { method: 'DELETE' })
    }
  }
}
