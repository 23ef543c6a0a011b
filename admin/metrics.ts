import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { RejectMetrics } from '../pipeline/dead-letter.js'
import type { Op } from '../pipeline/event.js'
import type { PipelineMetrics } from '../pipeline/metrics.js'
import type { PipelineState, RunnerStatus } from '../pipeline/runner.js'
import type { PipelineHandle } from './pipelines.js'

/** Every metric name starts with this (the default process metrics too). */
export const METRIC_PREFIX = 'sluice_'

const STATES: readonly PipelineState[] = [
  'starting',
  'snapshotting',
  'streaming',
  'paused',
  'stopped',
  'failed',
]

/** Sink write latency buckets (seconds): from a local file write to a slow remote bulk request. */
const WRITE_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

/** One scrape reads each runner's status once, whichever gauge asks first. */
const STATUS_REUSE_MS = 250

/**
 * Sluice's Prometheus metrics on their own registry (not prom-client's global one, so two
 * admin servers in one process, as in tests, do not clash). Counters and the histogram are
 * fed by the runners through PipelineMetrics as events flow; gauges are read from the
 * runners' status at scrape time.
 */
export class AdminMetrics implements PipelineMetrics, RejectMetrics {
  readonly registry = new Registry()
  private readonly pipelines: PipelineHandle[] = []
  private readonly events: Counter<'pipeline' | 'table' | 'op'>
  private readonly sinkWrites: Histogram<'pipeline' | 'sink'>
  private readonly errors: Counter<'pipeline' | 'code'>
  private readonly deadLettered: Counter<'pipeline'>
  private readonly skipped: Counter<'pipeline' | 'origin' | 'code'>
  private statuses: { at: number; value: Promise<RunnerStatus[]> } | null = null

  constructor() {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX })
    this.events = new Counter({
      name: `${METRIC_PREFIX}events_total`,
      help: 'Change events delivered: durable in every sink of the pipeline. op: c, u, d, r (snapshot read), t.',
      labelNames: ['pipeline', 'table', 'op'],
      registers,
    })
    this.sinkWrites = new Histogram({
      name: `${METRIC_PREFIX}sink_write_duration_seconds`,
      help: 'Time from handing a batch to a sink until the sink reports it durable (or fails).',
      labelNames: ['pipeline', 'sink'],
      buckets: WRITE_BUCKETS,
      registers,
    })
    this.errors = new Counter({
      name: `${METRIC_PREFIX}errors_total`,
      help: 'Pipeline failures by error code (see docs/errors.md).',
      labelNames: ['pipeline', 'code'],
      registers,
    })
    this.deadLettered = new Counter({
      name: `${METRIC_PREFIX}dead_letter_events_total`,
      help: 'Events written to the dead-letter destination (on_error: dead_letter) instead of failing the pipeline.',
      labelNames: ['pipeline'],
      registers,
    })
    this.skipped = new Counter({
      name: `${METRIC_PREFIX}events_skipped_total`,
      help: 'Events dropped by on_error: skip. origin: source, or the sink that refused it (sinks[i].type); code: the error code.',
      labelNames: ['pipeline', 'origin', 'code'],
      registers,
    })
    const statuses = (now: number): Promise<RunnerStatus[]> => this.statusesFor(now)
    const gauge = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (set: (labels: Record<L, string>, v: number) => void, s: RunnerStatus, now: number) => void,
    ): void => {
      new Gauge<L>({
        name: `${METRIC_PREFIX}${name}`,
        help,
        labelNames,
        registers,
        async collect() {
          this.reset()
          const now = Date.now()
          for (const s of await statuses(now)) fill((labels, v) => this.set(labels, v), s, now)
        },
      })
    }
    gauge(
      'pipeline_state',
      'Current state of the pipeline: 1 for the state it is in, 0 otherwise.',
      ['pipeline', 'state'],
      (set, s) => {
        for (const state of STATES) set({ pipeline: s.name, state }, s.state === state ? 1 : 0)
      },
    )
    gauge(
      'source_lag_milliseconds',
      'Now minus the source commit time (source.ts_ms) of the last delivered event; grows while the source is idle.',
      ['pipeline'],
      (set, s, now) => {
        if (s.lastEventSourceTsMs !== null)
          set({ pipeline: s.name }, Math.max(0, now - s.lastEventSourceTsMs))
      },
    )
    gauge(
      'source_lag_bytes',
      'Source log written but not yet confirmed by Sluice (Postgres: WAL after the slot confirmed_flush_lsn).',
      ['pipeline'],
      (set, s) => {
        if (s.source?.lagBytes != null) set({ pipeline: s.name }, s.source.lagBytes)
      },
    )
    gauge(
      'postgres_retained_wal_bytes',
      'WAL the Postgres server keeps for the pipeline slot (current WAL LSN minus the slot restart_lsn).',
      ['pipeline'],
      (set, s) => {
        if (s.source?.retainedBytes != null) set({ pipeline: s.name }, s.source.retainedBytes)
      },
    )
    gauge(
      'snapshot_rows_done',
      'Rows read so far by the snapshot, per table.',
      ['pipeline', 'table'],
      (set, s) => {
        for (const [table, p] of Object.entries(s.snapshot)) set({ pipeline: s.name, table }, p.rows)
      },
    )
    gauge(
      'snapshot_rows_estimated',
      'Rows the snapshot expects per table (planner estimate, or the rows read once done; 0 when unknown).',
      ['pipeline', 'table'],
      (set, s) => {
        for (const [table, p] of Object.entries(s.snapshot))
          set({ pipeline: s.name, table }, p.done ? p.rows : Math.max(p.estimate, p.rows))
      },
    )
    gauge(
      'in_flight_events',
      'Events handed to the sinks and not yet durable in all of them.',
      ['pipeline'],
      (set, s) => set({ pipeline: s.name }, s.inFlight.events),
    )
    gauge('in_flight_bytes', 'Row bytes of the in-flight events.', ['pipeline'], (set, s) =>
      set({ pipeline: s.name }, s.inFlight.bytes),
    )
  }

  /** Adds a pipeline whose status the gauges report; its zero-valued counters appear at once. */
  track(pipeline: PipelineHandle): void {
    this.pipelines.push(pipeline)
    this.deadLettered.inc({ pipeline: pipeline.name }, 0)
  }

  private statusesFor(now: number): Promise<RunnerStatus[]> {
    if (this.statuses && now - this.statuses.at < STATUS_REUSE_MS) return this.statuses.value
    const value = Promise.all(this.pipelines.map((p) => p.status(now)))
    this.statuses = { at: now, value }
    return value
  }

  eventsDelivered(pipeline: string, table: string, op: Op, count: number): void {
    this.events.inc({ pipeline, table, op }, count)
  }

  sinkWrite(pipeline: string, sink: string, seconds: number): void {
    this.sinkWrites.observe({ pipeline, sink }, seconds)
  }

  error(pipeline: string, code: string): void {
    this.errors.inc({ pipeline, code })
  }

  eventRejected(pipeline: string, origin: string, code: string, outcome: 'skipped' | 'dead_lettered'): void {
    if (outcome === 'skipped') this.skipped.inc({ pipeline, origin, code })
    else this.deadLettered.inc({ pipeline })
  }
}
