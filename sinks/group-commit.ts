import { SinkError, SluiceError } from '../pipeline/errors.js'

/** What a GroupCommit needs from its sink. */
export interface GroupCommitOptions<T> {
  /** Makes every item of the group durable in the target, in order (one call at a time). */
  commit(group: readonly T[]): Promise<void>
  /** Runs before each round of commits (e.g. a linger delay that lets more items queue). */
  beforeRound?(): Promise<void>
  /** Runs when the queue is empty again after a successful round (e.g. re-arming a timer). */
  afterRound?(): void
  /** The error a failed commit becomes when it is not already a SluiceError. */
  wrap(err: unknown): SluiceError
  /** Called once when the queue fails (e.g. to stop a timer). */
  onFail?(failure: SluiceError): void
  /** The error later calls get once the sink has failed, from that failure. */
  stopped(failure: SluiceError): SluiceError
}

interface Pending<T> {
  readonly item: T
  resolve(): void
  reject(err: unknown): void
}

/**
 * The single-writer loop the file and Kafka sinks share: items queue in call order; one
 * loop takes everything queued as one group, commits it, resolves each item's promise,
 * and repeats (group commit). A failed commit fails the whole queue, once: the group and
 * everything queued behind it reject with the same error, and every later call rejects
 * with `stopped()`; nothing is committed after a failure, so positions never move past it.
 */
export class GroupCommit<T> {
  private queue: Pending<T>[] = []
  private running = false
  private failed: SluiceError | null = null

  constructor(private readonly opts: GroupCommitOptions<T>) {}

  /** The error the queue failed with, or null. */
  get failure(): SluiceError | null {
    return this.failed
  }

  /** Queues `item`; resolves when the group holding it has been committed. */
  enqueue(item: T): Promise<void> {
    if (this.failed) return Promise.reject(this.opts.stopped(this.failed))
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      if (!this.running) void this.pump()
    })
  }

  private async pump(): Promise<void> {
    this.running = true
    try {
      await this.opts.beforeRound?.()
      while (this.queue.length > 0) {
        const group = this.queue
        this.queue = []
        try {
          await this.opts.commit(group.map((p) => p.item))
        } catch (err) {
          this.failGroup(err, group)
          return
        }
        for (const p of group) p.resolve()
      }
      this.opts.afterRound?.()
    } finally {
      this.running = false
    }
  }

  /**
   * Fails the queue with `err` (from outside a commit, e.g. an item that cannot be
   * prepared): everything queued rejects, later calls get `stopped()`. Returns the failure.
   * The first failure wins.
   */
  fail(err: unknown): SluiceError {
    return this.failGroup(err, [])
  }

  private failGroup(err: unknown, group: Pending<T>[]): SluiceError {
    if (this.failed) return this.failed
    const failure = err instanceof SluiceError ? err : this.opts.wrap(err)
    this.failed = failure
    this.opts.onFail?.(failure)
    const rejected = [...group, ...this.queue]
    this.queue = []
    // Not logged here: the rejection reaches the runner, which reports it once.
    for (const p of rejected) p.reject(failure)
    return failure
  }
}

/** `stopped()` for a sink: "<what> stopped after an earlier error: ...", code `code`. */
export function stoppedAfter(code: string, what: string): (failure: SluiceError) => SluiceError {
  return (f) => new SinkError(code, `${what} stopped after an earlier error: ${f.message}`, { cause: f })
}
