import type { SourceEntry } from '../../pipeline/registry.js'
import { mysqlConfig, type MysqlConfig } from './config.js'
import { createMysqlScanner } from './scan.js'
import { createMysqlSource } from './source.js'

/** Registry entry of the MySQL/MariaDB source. */
export const mysqlEntry: SourceEntry<MysqlConfig> = {
  type: 'mysql',
  config: mysqlConfig,
  create: createMysqlSource,
  scan: createMysqlScanner,
}
