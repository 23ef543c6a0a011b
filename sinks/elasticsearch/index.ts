import type { SinkEntry } from '../../pipeline/registry.js'
import { elasticsearchConfig, type ElasticsearchConfig } from './config.js'
import { createElasticsearchSink } from './sink.js'
import { searchVerifier } from './verify.js'

/**
 * Registry entry of the Elasticsearch/OpenSearch sink (`type: elasticsearch`). `sluice
 * verify` adds its `verifier` here (sinks/elasticsearch/verify.ts).
 */
export const elasticsearchEntry: SinkEntry<ElasticsearchConfig> = {
  type: 'elasticsearch',
  config: elasticsearchConfig,
  create: (config, ctx) => createElasticsearchSink(config, ctx),
  verifier: searchVerifier,
}
