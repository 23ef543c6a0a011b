import type { SourceEntry } from '../pipeline/registry.js'
import { checkRegistry } from '../pipeline/registry.js'
import { mysqlEntry } from './mysql/index.js'
import { postgresEntry } from './postgres/index.js'

/** Every source connector, by `source.type`. Adding one is one line here. */
export const SOURCES: readonly SourceEntry<never>[] = [
  postgresEntry as SourceEntry<never>,
  mysqlEntry as SourceEntry<never>,
]
checkRegistry('source', SOURCES)
