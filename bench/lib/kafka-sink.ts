import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Kafka, logLevel } from 'kafkajs'
import { PIPELINE, type PipelineOptions } from './sluice.js'

/** A Postgres → Kafka benchmark pipeline: the file pipeline's source, a Kafka sink. */
export interface KafkaPipelineOptions extends PipelineOptions {
  brokers: readonly string[]
  /** Topic of the run's table (each run writes its own topic, so counts stay per run). */
  topic: string
}

/** Writes `<dir>/sluice.yaml` (pipeline `bench`, Kafka sink, state in `<dir>/state`); returns its path. */
export function writeKafkaPipelineYaml(o: KafkaPipelineOptions): string {
  const yaml = `pipelines:
  - name: ${PIPELINE}
    source:
      type: postgres
      url: ${o.url}
      tables: [${o.table}]
      snapshot: ${o.snapshot}
      slot: ${o.slot}
      publication: ${o.publication}
    sinks:
      - type: kafka
        brokers: [${o.brokers.join(', ')}]
        topic: "${o.topic}"
${o.maxInFlightEvents ? `    max_in_flight_events: ${o.maxInFlightEvents}\n` : ''}state:
  type: file
  path: ${join(o.dir, 'state')}
log:
  level: info
`
  const file = join(o.dir, 'sluice.yaml')
  writeFileSync(file, yaml)
  return file
}

/**
 * Counts the records appended to topics through the admin API: the sum of the partitions'
 * high watermarks (each run writes a fresh topic, so that is every acknowledged record).
 * Not high minus low: librdkafka's mock cluster keeps only the last few MiB per partition
 * and moves the low watermark up, so what it still holds is less than what was written.
 */
export class KafkaCounter {
  private readonly kafka: Kafka

  constructor(brokers: readonly string[]) {
    this.kafka = new Kafka({
      clientId: 'sluice-bench',
      brokers: [...brokers],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 10_000,
    })
  }

  /** Records in `topic`; 0 when it does not exist. */
  async count(topic: string): Promise<number> {
    const admin = this.kafka.admin()
    await admin.connect()
    try {
      if (!(await admin.listTopics()).includes(topic)) return 0
      const offsets = await admin.fetchTopicOffsets(topic)
      return offsets.reduce((n, o) => n + Number(o.high), 0)
    } finally {
      await admin.disconnect()
    }
  }
}
