import type { Logger } from 'pino'
import type { ChangeBatch } from './event.js'

/**
 * A source connector (connectors/*). The runner calls, in order: preflight(), start(),
 * acknowledge() any number of times while iterating, then stop() exactly once.
 */
export interface Source {
  /** Check prerequisites and fail with a PreconditionError naming the fix. No side effects. */
  preflight(): Promise<void>
  /**
   * Changes strictly after `from` (null: fresh start, run the snapshot mode first), in
   * commit order. Batches are yielded in position order; their checkpoints increase.
   * The iterable ends when `signal` aborts, or by itself when there is nothing more to
   * read (snapshot mode `initial_only`). A source must not buffer without bound: it reads
   * from the database only as fast as the consumer pulls.
   */
  start(from: string | null, signal: AbortSignal): AsyncIterable<ChangeBatch>
  /**
   * Every sink holds everything up to `position` (a checkpoint previously yielded)
   * durably, and the state store has recorded it: release it upstream (Postgres standby
   * status update). Called with increasing positions, one call at a time.
   */
  acknowledge(position: string): Promise<void>
  /** Release connections. Called once, after the iteration ended. */
  stop(): Promise<void>
  /**
   * Read-only runtime status for the admin API and metrics; optional. Called at most about
   * once a second while the pipeline runs, possibly concurrently with the iteration; it must
   * not disturb it, and reports unknown values as null rather than failing.
   */
  status?(): Promise<SourceStatus>
}

/** What a source knows about itself that the events do not tell (see Source.status). */
export interface SourceStatus {
  /** What the source is reading now; null before it has started either. */
  readonly phase: 'snapshot' | 'streaming' | null
  /** Log bytes the server has written that the source has not confirmed yet (Postgres: current WAL LSN − slot's confirmed_flush_lsn). */
  readonly lagBytes: number | null
  /** Log bytes the server keeps for this source (Postgres: current WAL LSN − slot's restart_lsn). */
  readonly retainedBytes: number | null
}

/** What a connector's create() gets besides its own validated config. */
export interface SourceContext {
  readonly pipeline: string
  readonly log: Logger
  readonly avro: AvroOptions
  /** Snapshot progress per table (called at most a few times a second, and when a table is done). */
  readonly onSnapshotProgress?: (p: SnapshotProgress) => void
  /**
   * A row whose value cannot be converted (a permanent EncodeError of that row alone): when
   * true, the source passes it on in its batch's `rejected` (see ChangeBatch.rejected) and
   * goes on; when false or absent, the source fails with the error, as it always did.
   */
  readonly rejectRows?: boolean
}

/** Rows read so far of one table during a snapshot. */
export interface SnapshotProgress {
  readonly table: string
  readonly rows: number
  /** Planner estimate (pg_class.reltuples); 0 when unknown. */
  readonly estimate: number
  readonly done: boolean
}

/** Pipeline-level Avro options (config key `avro`). */
export interface AvroOptions {
  /** `debezium`: Kafka Connect / Debezium semantic types; `logical`: standard Avro logical types. */
  readonly types: 'debezium' | 'logical'
  /** Record-name prefix, default: the pipeline name. */
  readonly prefix: string
  /** A column of an unsupported type: fail naming it, or carry its text rendering as a string. */
  readonly unsupported: 'fail' | 'string'
}
