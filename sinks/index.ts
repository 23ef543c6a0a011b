import type { SinkEntry } from '../pipeline/registry.js'
import { checkRegistry } from '../pipeline/registry.js'
import { elasticsearchEntry } from './elasticsearch/index.js'
import { fileEntry } from './file/index.js'
import { redisEntry } from './redis/index.js'
import { kafkaEntry } from './kafka/index.js'
import { stdoutEntry } from './stdout.js'

/** Every sink, by `type` in a pipeline's `sinks:` list. Adding one is one line here. */
export const SINKS: readonly SinkEntry<never>[] = [
  fileEntry as SinkEntry<never>,
  elasticsearchEntry as SinkEntry<never>,
  kafkaEntry as SinkEntry<never>,
  stdoutEntry as SinkEntry<never>,
  redisEntry as SinkEntry<never>,
]
checkRegistry('sink', SINKS)
