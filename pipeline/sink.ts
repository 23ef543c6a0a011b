import type { Logger } from 'pino'
import type { ChangeBatch, ChangeEvent } from './event.js'
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
  /**
   * Hands over an event the sink refuses for good (a permanent SluiceError of that event
   * alone: a document the index rejects, a record that cannot be encoded) to the pipeline's
   * `on_error` policy. Resolves once the policy is applied, durably for `dead_letter`, so the
   * sink may then treat the event as done; the sink awaits it before its write() resolves.
   * Rejects with `error` under `halt` (and for a retriable error, which is never the policy's
   * to absorb): the sink then fails the write as it would have without a policy. Absent when
   * the sink runs outside a pipeline (tests): the sink fails the write.
   */
  readonly reject?: (event: ChangeEvent, error: unknown) => Promise<void>
}
