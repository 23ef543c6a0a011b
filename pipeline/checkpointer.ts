/**
 * Ordered, capped tracker of in-flight batches (the idea of Redpanda Connect's
 * `checkpoint.Capped`). Each tracked batch must be resolved by every sink; the highest
 * checkpoint whose batch and all earlier batches are resolved is the one that may be
 * acknowledged. The caps (events and bytes) bound memory: track() waits while full, which
 * is the pipeline's back-pressure.
 */
export class Checkpointer {
  private readonly queue: Entry[] = []
  private events = 0
  private bytes = 0
  private waiters: (() => void)[] = []
  private resolvedPosition: string | null = null

  constructor(
    private readonly maxEvents: number,
    private readonly maxBytes: number,
  ) {}

  /** Number of events and bytes in flight. */
  get inFlight(): { events: number; bytes: number; batches: number } {
    return { events: this.events, bytes: this.bytes, batches: this.queue.length }
  }

  /** The highest contiguous resolved checkpoint, or null if none yet. */
  get resolved(): string | null {
    return this.resolvedPosition
  }

  /**
   * Waits for room, then tracks a batch needing `parts` resolutions (one per sink). A batch
   * larger than the caps is admitted alone when nothing else is in flight.
   */
  async track(
    checkpoint: string,
    events: number,
    bytes: number,
    parts: number,
    signal?: AbortSignal,
  ): Promise<Entry> {
    while (
      this.queue.length > 0 &&
      (this.events + events > this.maxEvents || this.bytes + bytes > this.maxBytes)
    ) {
      if (signal?.aborted) throw signal.reason
      await new Promise<void>((r) => this.waiters.push(r))
    }
    const e: Entry = { checkpoint, events, bytes, pending: parts }
    this.queue.push(e)
    this.events += events
    this.bytes += bytes
    if (parts === 0) this.resolve(e, 0)
    return e
  }

  /**
   * Marks one part of `entry` done. Returns the new contiguous resolved checkpoint when it
   * moved, else null.
   */
  resolve(entry: Entry, count = 1): string | null {
    entry.pending -= count
    let moved: string | null = null
    while (this.queue.length > 0 && this.queue[0]!.pending <= 0) {
      const head = this.queue.shift()!
      this.events -= head.events
      this.bytes -= head.bytes
      moved = head.checkpoint
    }
    if (moved !== null) {
      this.resolvedPosition = moved
      const w = this.waiters
      this.waiters = []
      for (const f of w) f()
    }
    return moved
  }

  /** Wakes every waiter (used on shutdown so track() can observe the abort). */
  wakeAll(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }
}

/** One tracked batch. */
export interface Entry {
  readonly checkpoint: string
  readonly events: number
  readonly bytes: number
  pending: number
}
