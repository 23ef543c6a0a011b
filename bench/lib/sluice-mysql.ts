import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PIPELINE } from './sluice.js'

/** Options of one Sluice pipeline reading MySQL/MariaDB into a file sink writing Avro. */
export interface MysqlPipelineOptions {
  /** `mysql://user:password@host:port/db`. */
  url: string
  /** `database.table` names. */
  tables: readonly string[]
  /** Replica server_id of the binlog connection (must differ from the server's own). */
  serverId: number
  snapshot: 'never' | 'initial' | 'initial_only'
  dir: string
  /** Pipeline `max_in_flight_events`; Sluice's default when absent. */
  maxInFlightEvents?: number
}

/**
 * Writes `<dir>/sluice.yaml` for a MySQL source with the same layout as
 * writePipelineYaml() in sluice.ts (pipeline `bench`, output in `<dir>/out`, state in
 * `<dir>/state`), so statePosition() and OcfCounter work unchanged. Returns its path.
 */
export function writeMysqlPipelineYaml(o: MysqlPipelineOptions): string {
  const yaml = `pipelines:
  - name: ${PIPELINE}
    source:
      type: mysql
      url: ${o.url}
      tables: [${o.tables.join(', ')}]
      server_id: ${o.serverId}
      snapshot: ${o.snapshot}
    sinks:
      - type: file
        path: ${join(o.dir, 'out')}
        format: avro
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
 * Pre-seeds the pipeline's state file (`<dir>/state/bench.json`) with `position`, so the
 * CLI resumes strictly after it instead of starting at the binlog's current end.
 */
export function seedState(dir: string, position: string): void {
  mkdirSync(join(dir, 'state'), { recursive: true })
  writeFileSync(join(dir, 'state', `${PIPELINE}.json`), JSON.stringify({ position }, null, 2) + '\n')
}
