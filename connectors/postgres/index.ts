import type { SourceEntry } from '../../pipeline/registry.js'
import { postgresConfig, type PostgresConfig } from './config.js'
import { createPostgresScanner } from './scan.js'
import { createPostgresSource } from './source.js'

/** Registry entry of the Postgres source. */
export const postgresEntry: SourceEntry<PostgresConfig> = {
  type: 'postgres',
  config: postgresConfig,
  create: createPostgresSource,
  cleanup: (cfg, ctx) => createPostgresSource(cfg, ctx).cleanup(),
  scan: createPostgresScanner,
}
