import type { ChangeBatch, ChangeEvent } from './event.js'
import type { Sink } from './sink.js'
import type { Source, SourceStatus } from './source.js'

/**
 * A chain of transforms (transforms/chain.ts) as the pipeline sees it: events in, the
 * events to deliver out, in the same order. Dropping is allowed; reordering is not.
 */
export interface EventMapper {
  /**
   * Maps the events of one batch. Throws a SluiceError naming the transform when the
   * configuration does not fit an event's table (an unknown column) or an event cannot be
   * transformed; the pipeline then stops without acknowledging the batch.
   */
  map(events: readonly ChangeEvent[]): readonly ChangeEvent[]
}

/**
 * The batch with its events mapped. Checkpoint, byte estimate and transaction summaries
 * are kept: a batch whose events were all dropped still carries its checkpoint, so
 * filtered events never hold back acknowledgement (empty batches are valid, see
 * ChangeBatch). Transaction summaries keep the source's counts, as Debezium's do.
 */
export function mapBatch(batch: ChangeBatch, mapper: EventMapper): ChangeBatch {
  if (batch.events.length === 0) return batch
  const events = mapper.map(batch.events)
  return events === batch.events ? batch : { ...batch, events }
}

/**
 * A Source whose batches pass through the pipeline-level transforms before the runner
 * sees them, so the runner (and its checkpointer) only ever handles transformed batches.
 * Every other Source method, optional ones included, is the inner source's.
 */
export class TransformingSource implements Source {
  readonly status?: () => Promise<SourceStatus>

  constructor(
    private readonly inner: Source,
    private readonly mapper: EventMapper,
  ) {
    if (inner.status) this.status = () => inner.status!()
  }

  preflight(): Promise<void> {
    return this.inner.preflight()
  }

  async *start(from: string | null, signal: AbortSignal): AsyncIterable<ChangeBatch> {
    // A throwing mapper ends this generator; for-await then closes the inner iterator.
    for await (const batch of this.inner.start(from, signal)) yield mapBatch(batch, this.mapper)
  }

  acknowledge(position: string): Promise<void> {
    return this.inner.acknowledge(position)
  }

  stop(): Promise<void> {
    return this.inner.stop()
  }
}

/** A Sink that applies its own (per-sink) transforms to every batch before writing it. */
export class TransformingSink implements Sink {
  readonly delivery: Sink['delivery']

  constructor(
    private readonly inner: Sink,
    private readonly mapper: EventMapper,
  ) {
    this.delivery = inner.delivery
  }

  open(): Promise<void> {
    return this.inner.open()
  }

  write(batch: ChangeBatch): Promise<void> {
    let mapped: ChangeBatch
    try {
      mapped = mapBatch(batch, this.mapper)
    } catch (err) {
      // The runner expects a rejection, never a synchronous throw.
      return Promise.reject(err)
    }
    return this.inner.write(mapped)
  }

  flush(): Promise<void> {
    return this.inner.flush()
  }

  close(): Promise<void> {
    return this.inner.close()
  }
}
