import type { Op } from './event.js'

/**
 * What the runner reports as it works, for metrics (admin/metrics.ts implements it with
 * prom-client). Every method is synchronous and cheap: it is called on the delivery path.
 * The pipeline name is part of each call so one implementation serves every pipeline.
 */
export interface PipelineMetrics {
  /** `count` events of one table (`schema.table`) and op are durable in every sink. */
  eventsDelivered(pipeline: string, table: string, op: Op, count: number): void
  /** One sink resolved (or rejected) one write() after `seconds`. */
  sinkWrite(pipeline: string, sink: string, seconds: number): void
  /** The pipeline failed with this error code. */
  error(pipeline: string, code: string): void
}

/** Reports nothing: the runner's default when no admin server is configured. */
export const NO_METRICS: PipelineMetrics = {
  eventsDelivered: () => {},
  sinkWrite: () => {},
  error: () => {},
}

/**
 * Event counts over a sliding window in fixed buckets (a ring), for "events per second over
 * the last minutes" and the status page's sparkline. Memory is fixed: one number per bucket.
 */
export class RateWindow {
  private readonly counts: number[]
  /** Index of the bucket that holds time `head * bucketMs`. */
  private head: number

  /**
   * @param bucketMs width of one bucket
   * @param buckets how many buckets the window keeps (window = bucketMs × buckets)
   */
  constructor(
    readonly bucketMs: number,
    readonly buckets: number,
    now = Date.now(),
  ) {
    this.counts = new Array<number>(buckets).fill(0)
    this.head = Math.floor(now / bucketMs)
  }

  /** Moves the ring forward to `now`, zeroing buckets that have no data yet. */
  private advance(now: number): void {
    const target = Math.floor(now / this.bucketMs)
    if (target <= this.head) return
    const steps = Math.min(target - this.head, this.buckets)
    for (let i = 1; i <= steps; i++) this.counts[(this.head + i) % this.buckets] = 0
    this.head = target
  }

  /** Counts `n` events at time `now`. */
  add(n: number, now = Date.now()): void {
    this.advance(now)
    this.counts[this.head % this.buckets]! += n
  }

  /** Counts per bucket, oldest first; the last one is the current (partial) bucket. */
  series(now = Date.now()): number[] {
    this.advance(now)
    const out: number[] = []
    for (let i = this.buckets - 1; i >= 0; i--) out.push(this.counts[(this.head - i) % this.buckets]!)
    return out
  }
}
