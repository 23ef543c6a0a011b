/** Pipelines and checks of the Postgres → Redis benchmark (bench/postgres-to-redis.bench.ts). */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Redis } from 'ioredis'
import { sampleProc } from './proc.js'
import { adminYaml, PIPELINE, type PipelineOptions, type ServerCpuMeter } from './sluice.js'

/**
 * Writes `<dir>/sluice.yaml`: pipeline `bench` reading Postgres into a redis sink in cache
 * mode (default key template, JSON values) at `redisUrl`, state in `<dir>/state`.
 */
export function writeRedisPipelineYaml(o: PipelineOptions & { redisUrl: string }): string {
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
      - type: redis
        url: ${o.redisUrl}
        mode: cache
${o.maxInFlightEvents ? `    max_in_flight_events: ${o.maxInFlightEvents}\n` : ''}state:
  type: file
  path: ${join(o.dir, 'state')}
log:
  level: info
${adminYaml(o)}`
  const file = join(o.dir, 'sluice.yaml')
  writeFileSync(file, yaml)
  return file
}

/** Counts the keys matching `pattern` (SCAN, never KEYS). */
export async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let n = 0
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 5000)
    cursor = next
    n += keys.length
  } while (cursor !== '0')
  return n
}

/** CPU seconds redis-server (`pid`) spends between the spawn of a run and its completion. */
export const redisCpu =
  (pid: number): ServerCpuMeter =>
  () => {
    const start = sampleProc(pid)?.cpuS ?? NaN
    return () => {
      const end = sampleProc(pid)?.cpuS ?? NaN
      return Number.isFinite(end - start) ? end - start : null
    }
  }
