import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stateFile, writeSluiceYaml, type PipelineBase } from './sluice.js'

/** Options of one Sluice pipeline reading MySQL/MariaDB into a file sink writing Avro. */
export interface MysqlPipelineOptions extends PipelineBase {
  /** `mysql://user:password@host:port/db`. */
  url: string
  /** `database.table` names. */
  tables: readonly string[]
  /** Replica server_id of the binlog connection (must differ from the server's own). */
  serverId: number
}

/**
 * Writes `<dir>/sluice.yaml` for a MySQL source with the same layout as
 * writePipelineYaml() in sluice.ts (pipeline `bench`, output in `<dir>/out`, state in
 * `<dir>/state`), so statePosition() and OcfCounter work unchanged. Returns its path.
 */
export const writeMysqlPipelineYaml = (o: MysqlPipelineOptions): string =>
  writeSluiceYaml(o, [
    ['type', 'mysql'],
    ['url', o.url],
    ['tables', `[${o.tables.join(', ')}]`],
    ['server_id', o.serverId],
    ['snapshot', o.snapshot],
  ])

/**
 * Pre-seeds the pipeline's state file (`<dir>/state/bench.json`) with `position`, so the
 * CLI resumes strictly after it instead of starting at the binlog's current end.
 */
export function seedState(dir: string, position: string): void {
  mkdirSync(join(dir, 'state'), { recursive: true })
  writeFileSync(stateFile(dir), JSON.stringify({ position }, null, 2) + '\n')
}
