import type { SinkEntry } from '../../pipeline/registry.js'
import { kafkaConfig, type KafkaConfig } from './config.js'
import { createKafkaSink } from './sink.js'

/** Registry entry of the Kafka sink (`type: kafka`). */
export const kafkaEntry: SinkEntry<KafkaConfig> = {
  type: 'kafka',
  config: kafkaConfig,
  create: (config, ctx) => createKafkaSink(config, ctx),
}
