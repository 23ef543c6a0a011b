import type { SinkEntry } from '../../pipeline/registry.js'
import { redisConfig, type RedisConfig } from './config.js'
import { createRedisSink } from './sink.js'
import { redisVerifier } from './verify.js'

/** Registry entry of the redis sink (`type: redis`). */
export const redisEntry: SinkEntry<RedisConfig> = {
  type: 'redis',
  config: redisConfig,
  create: (config, ctx) => createRedisSink(config, ctx),
  verifier: redisVerifier,
}
