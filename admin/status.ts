import type { PipelineState, RunnerStatus } from '../pipeline/runner.js'
import type { PipelineHandle } from './pipelines.js'
import { redactValue, type Redactor } from './redact.js'

/** Snapshot progress of one table, as `GET /api/pipelines` shows it. */
export interface TableProgress {
  readonly table: string
  readonly rows: number
  /** Planner estimate; 0 when unknown. */
  readonly estimate: number
  readonly done: boolean
}

/**
 * One pipeline in `GET /api/pipelines` (the JSON contract; snake_case like the config).
 * Example:
 * ```json
 * { "name": "shop", "state": "streaming", "position": "0000000001A2B3C8:1:FFFFFFFF",
 *   "lag": { "ms": 41, "bytes": 0 }, "retained_wal_bytes": 56,
 *   "events": { "delivered": 1200, "read": 1200, "per_second_1m": 3.5, "per_second_5m": 1.2 },
 *   "throughput": { "bucket_seconds": 5, "events": [0, 0, 12, 30] },
 *   "in_flight": { "events": 0, "bytes": 0, "batches": 0 },
 *   "snapshot": [{ "table": "public.accounts", "rows": 200, "estimate": 200, "done": true }],
 *   "last_error": null }
 * ```
 */
export interface PipelineStatusJson {
  readonly name: string
  readonly state: PipelineState
  /** The committed position (durable in every sink and in the state store); null before the first commit. */
  readonly position: string | null
  readonly lag: {
    /** Now minus `source.ts_ms` of the last delivered event; null before the first event. */
    readonly ms: number | null
    /** Source log not yet confirmed (Postgres: WAL after the slot's confirmed_flush_lsn); null when unknown. */
    readonly bytes: number | null
  }
  /** Postgres: WAL the server keeps for the slot (from its restart_lsn); null when unknown. */
  readonly retained_wal_bytes: number | null
  readonly events: {
    readonly delivered: number
    readonly read: number
    readonly per_second_1m: number
    readonly per_second_5m: number
  }
  /** Delivered events per bucket over the last minutes, oldest first. */
  readonly throughput: { readonly bucket_seconds: number; readonly events: readonly number[] }
  readonly in_flight: { readonly events: number; readonly bytes: number; readonly batches: number }
  readonly snapshot: readonly TableProgress[]
  readonly last_error: { readonly code: string; readonly message: string; readonly at: string } | null
}

/** The body of `GET /api/pipelines`. */
export interface StatusJson {
  readonly generated_at: string
  readonly pipelines: readonly PipelineStatusJson[]
}

/** Events per second over the last `windowMs`, from whole buckets before the current one. */
function rate(s: RunnerStatus, windowMs: number): number {
  const full = s.throughput.slice(0, -1)
  const n = Math.max(1, Math.min(full.length, Math.round(windowMs / s.throughputBucketMs)))
  const sum = full.slice(-n).reduce((a, b) => a + b, 0)
  return Math.round((sum / ((n * s.throughputBucketMs) / 1000)) * 100) / 100
}

/** The JSON view of one runner's status (not yet redacted). */
export function toJson(s: RunnerStatus, now: number): PipelineStatusJson {
  return {
    name: s.name,
    state: s.state,
    position: s.committedPosition,
    lag: {
      ms: s.lastEventSourceTsMs === null ? null : Math.max(0, now - s.lastEventSourceTsMs),
      bytes: s.source?.lagBytes ?? null,
    },
    retained_wal_bytes: s.source?.retainedBytes ?? null,
    events: {
      delivered: s.eventsDelivered,
      read: s.eventsRead,
      per_second_1m: rate(s, 60_000),
      per_second_5m: rate(s, 300_000),
    },
    throughput: { bucket_seconds: s.throughputBucketMs / 1000, events: s.throughput },
    in_flight: { ...s.inFlight },
    snapshot: Object.entries(s.snapshot)
      .map(([table, p]) => ({ table, rows: p.rows, estimate: p.estimate, done: p.done }))
      .sort((a, b) => a.table.localeCompare(b.table)),
    last_error: s.lastError
      ? {
          code: s.lastError.code,
          message: s.lastError.message,
          at: new Date(s.lastError.atMs).toISOString(),
        }
      : null,
  }
}

/** The status of every pipeline, redacted: what the API, the page and `sluice status` show. */
export async function collectStatus(
  pipelines: readonly PipelineHandle[],
  redact: Redactor,
  now = Date.now(),
): Promise<StatusJson> {
  const list = await Promise.all(pipelines.map(async (p) => toJson(await p.status(now), now)))
  return redactValue({ generated_at: new Date(now).toISOString(), pipelines: list }, redact)
}

/** States in which a pipeline counts as ready (`GET /readyz`). */
export const READY_STATES: ReadonlySet<PipelineState> = new Set(['snapshotting', 'streaming'])

/** Why each not-ready pipeline is not ready (empty: all ready). */
export function notReadyReasons(status: StatusJson): string[] {
  return status.pipelines
    .filter((p) => !READY_STATES.has(p.state))
    .map((p) => {
      const err =
        p.state === 'failed' && p.last_error ? `: ${p.last_error.code}: ${p.last_error.message}` : ''
      return `pipeline ${p.name} is ${p.state}${err}`
    })
}
