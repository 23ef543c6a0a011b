import type { ChangeBatch, ChangeEvent, TransactionSummary } from './event.js'

/** Settings of a StreamBuffer. */
export interface StreamBufferOptions<T> {
  /** Events per batch handed to the pipeline. */
  readonly batchEvents: number
  /** Bytes of row data per batch. */
  readonly batchBytes: number
  /** Batches queued for the pipeline before the connection is paused. */
  readonly maxQueued: number
  /** Events at or before this position were delivered before a restart and are dropped. */
  readonly from: string | null
  /** Orders positions (default: as strings). */
  readonly compare?: (a: string, b: string) => number
  /** Stops reading from the connection (back-pressure); status messages may still go out. */
  pause(): void
  /** Resumes reading. */
  resume(): void
  /** Turns one decoded message into emit()/checkpoint() calls; may call block(). */
  handle(item: T, n: number): void
}

/**
 * The streaming half shared by sources whose connection pushes messages (a replication
 * socket): messages are handled synchronously inside the socket callback, their events are
 * gathered into batches, and the batches queue for the pipeline, which pulls them through
 * batches(). A full queue pauses the connection. Work that needs a query (a catalog lookup,
 * a re-read) blocks the buffer: messages arriving meanwhile wait in a backlog, in order,
 * with the connection paused, until the work completes.
 */
export class StreamBuffer<T> {
  private readonly out: ChangeBatch[] = []
  private cur: ChangeEvent[] = []
  private curBytes = 0
  private curCheckpoint: string | null = null
  private curTransactions: TransactionSummary[] = []
  private flushScheduled = false
  private blocked = false
  private readonly backlog: T[] = []
  private readonly backlogN: number[] = []
  private failure: unknown = null
  private ended = false
  private wake: (() => void) | null = null
  private readonly compare: (a: string, b: string) => number
  private from: string | null

  constructor(private readonly opts: StreamBufferOptions<T>) {
    this.compare = opts.compare ?? ((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    this.from = opts.from
  }

  /** Nothing received is waiting here (not in a batch, not queued, not blocked). */
  get idle(): boolean {
    return !this.blocked && this.cur.length === 0 && this.out.length === 0 && this.backlog.length === 0
  }

  /** Hands one decoded message over (from the socket callback). */
  push(item: T, n = 0): void {
    if (this.failure) return
    if (this.blocked) {
      this.backlog.push(item)
      this.backlogN.push(n)
      return
    }
    this.handleSafely(item, n)
  }

  /** Adds an event to the current batch, unless it was delivered before a restart. */
  emit(ev: ChangeEvent, bytes: number): void {
    if (this.from !== null) {
      if (this.compare(ev.position, this.from) <= 0) return
      // Positions only grow along a stream: once past the resume point, stop comparing.
      this.from = null
    }
    this.cur.push(ev)
    this.curBytes += bytes
    this.curCheckpoint = ev.position
    if (this.cur.length >= this.opts.batchEvents || this.curBytes >= this.opts.batchBytes) this.flush()
  }

  /**
   * Marks `position` (the end of a transaction) as the checkpoint of the current batch;
   * `tx`, when given, is the committed transaction's summary carried by the batch.
   */
  checkpoint(position: string, tx?: TransactionSummary): void {
    this.curCheckpoint = position
    if (tx && tx.event_count > 0) this.curTransactions.push(tx)
  }

  /** Runs async work with the buffer blocked; messages arriving meanwhile wait in order. */
  block(work: () => Promise<void>): void {
    this.blocked = true
    this.opts.pause()
    work().then(
      () => {
        this.blocked = false
        while (this.backlog.length > 0 && !this.blocked && !this.failure) {
          this.handleSafely(this.backlog.shift()!, this.backlogN.shift()!)
        }
        if (!this.blocked && this.out.length < this.opts.maxQueued) this.opts.resume()
      },
      (err: unknown) => this.fail(err),
    )
  }

  /** Ends batches() with this error (the first one wins). */
  fail(err: unknown): void {
    if (!this.failure) this.failure = err
    this.notify()
  }

  /** The connection ended: batches() returns once the queue is drained. */
  end(): void {
    this.ended = true
    this.notify()
  }

  /** Batches in order, until `signal` aborts, end() or a failure. */
  async *batches(signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    const onAbort = (): void => this.notify()
    signal.addEventListener('abort', onAbort, { once: true })
    try {
      for (;;) {
        if (this.failure) throw this.failure
        const b = this.out.shift()
        if (b) {
          if (this.out.length < this.opts.maxQueued && !this.blocked) this.opts.resume()
          yield b
          continue
        }
        if (signal.aborted || this.ended) return
        await new Promise<void>((r) => (this.wake = r))
      }
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  private notify(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  private handleSafely(item: T, n: number): void {
    try {
      this.opts.handle(item, n)
    } catch (err) {
      this.fail(err)
    }
    if (!this.flushScheduled) {
      // Everything one socket read delivered becomes one batch.
      this.flushScheduled = true
      setImmediate(() => {
        this.flushScheduled = false
        this.flush()
      })
    }
  }

  private flush(): void {
    if (this.cur.length === 0 && this.curCheckpoint === null) return
    const checkpoint = this.curCheckpoint ?? this.cur[this.cur.length - 1]!.position
    const batch: ChangeBatch =
      this.curTransactions.length > 0
        ? { events: this.cur, checkpoint, bytes: this.curBytes, transactions: this.curTransactions }
        : { events: this.cur, checkpoint, bytes: this.curBytes }
    this.out.push(batch)
    if (this.curTransactions.length > 0) this.curTransactions = []
    this.cur = []
    this.curBytes = 0
    this.curCheckpoint = null
    if (this.out.length >= this.opts.maxQueued) this.opts.pause()
    this.notify()
  }
}
