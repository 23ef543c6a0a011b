import type { Logger } from 'pino'
import type { ChangeBatch } from './event.js'
import type { AvroOptions } from './source.js'

/**
 * A sink (sinks/*). The runner calls open() once, then write() for each batch in
 * position order, then flush() and close() on shutdown.
 */
export interface Sink {
  /** `idempotent`: a replay converges to the same state; `at-least-once`: a replay duplicates. */
  readonly delivery: 'idempotent' | 'at-least-once'
  /** Connect, create what is missing; throw PreconditionError naming the fix. */
  open(): Promise<void>
  /**
   * Resolves only when the whole batch is durable in the target. The runner may call
   * write() again before an earlier call resolved (pipelining); the sink must apply
   * batches in call order, and may resolve them together (group commit). A rejection is
   * final for the pipeline: the position never moves past the batch.
   */
  write(batch: ChangeBatch): Promise<void>
  /** Make everything written so far durable. */
  flush(): Promise<void>
  /** Flush and release resources. Called once. */
  close(): Promise<void>
}

/** What a sink's create() gets besides its own validated config. */
export interface SinkContext {
  readonly pipeline: string
  readonly log: Logger
  readonly avro: AvroOptions
}
