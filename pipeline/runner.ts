import type { Logger } from 'pino'
import { Checkpointer } from './checkpointer.js'
import { SinkError, SluiceError } from './errors.js'
import type { Sink } from './sink.js'
import type { SnapshotProgress, Source } from './source.js'
import type { PipelineState, StateStore } from './state.js'

/** Runner settings for one pipeline. */
export interface RunnerOptions {
  readonly name: string
  readonly source: Source
  readonly sinks: readonly Sink[]
  readonly state: StateStore
  readonly log: Logger
  readonly maxInFlightEvents: number
  readonly maxInFlightBytes: number
  /** How often the resolved position is committed to the state store and the source. */
  readonly commitIntervalMs?: number
  /** After the stop signal, how long to wait for sinks to finish in-flight writes. */
  readonly drainTimeoutMs?: number
}

/** Counters exposed for status and tests. */
export interface RunnerStats {
  events: number
  batches: number
  committedPosition: string | null
}

/**
 * Runs one pipeline: source → every sink (fan-out), with ordered acknowledgement. The
 * source position advances only when every sink resolved everything up to it: resolved
 * positions are committed to the state store (durably) and only then acknowledged to the
 * source. Stops when `signal` aborts (drain, final commit, close) or on the first error
 * (no commit past the failed batch; the error is rethrown).
 */
export class PipelineRunner {
  readonly stats: RunnerStats = { events: 0, batches: 0, committedPosition: null }
  private readonly tracker: Checkpointer
  private committing: Promise<void> = Promise.resolve()
  private failure: unknown = null
  private readonly internal = new AbortController()
  private snapshotProgress: PipelineState['snapshot']

  constructor(private readonly opts: RunnerOptions) {
    this.tracker = new Checkpointer(opts.maxInFlightEvents, opts.maxInFlightBytes)
  }

  /**
   * Records a table's snapshot progress; it is saved with the next committed position, so
   * the state file shows how far a snapshot got (rows read, not necessarily delivered).
   */
  recordSnapshotProgress(p: SnapshotProgress): void {
    const tables = { ...(this.snapshotProgress?.tables ?? {}) }
    tables[p.table] = { rows: p.rows, estimate: p.estimate, done: p.done }
    this.snapshotProgress = { tables }
  }

  /** In-flight counts (events, bytes, batches). */
  get inFlight(): { events: number; bytes: number; batches: number } {
    return this.tracker.inFlight
  }

  async run(signal: AbortSignal): Promise<void> {
    const { source, sinks, state, log, name } = this.opts
    const onStop = (): void => this.internal.abort(signal.reason)
    signal.addEventListener('abort', onStop, { once: true })
    const stop = this.internal.signal

    const opened: Sink[] = []
    try {
      await source.preflight()
      for (const s of sinks) {
        await s.open()
        opened.push(s)
      }
      const saved = await state.load(name)
      const from = saved?.position ?? null
      this.stats.committedPosition = from
      this.snapshotProgress = saved?.snapshot
      log.info({ from }, from ? 'resuming' : 'starting from scratch')

      const timer = setInterval(() => this.commit(), this.opts.commitIntervalMs ?? 1000)
      try {
        await this.pump(from, stop)
      } finally {
        clearInterval(timer)
      }
      await this.drain()
      await this.commit()
      await this.committing
    } catch (err) {
      this.fail(err)
      // What every sink resolved before the failure is durable: committing it is safe and
      // saves a replay.
      await this.commit()
      await this.committing
    } finally {
      signal.removeEventListener('abort', onStop)
      for (const s of opened) {
        await s.close().catch((err: unknown) => {
          log.error({ err }, 'closing sink failed')
          this.fail(err)
        })
      }
      await source.stop().catch((err: unknown) => log.error({ err }, 'stopping source failed'))
    }
    if (this.failure) throw this.failure
  }

  private async pump(from: string | null, stop: AbortSignal): Promise<void> {
    const { source, sinks } = this.opts
    for await (const batch of source.start(from, stop)) {
      if (this.failure) break
      const entry = await this.tracker
        .track(batch.checkpoint, batch.events.length, batch.bytes, sinks.length, stop)
        .catch((err: unknown) => {
          if (stop.aborted) return null
          throw err
        })
      if (!entry) break
      this.stats.batches++
      this.stats.events += batch.events.length
      for (const sink of sinks) {
        sink.write(batch).then(
          () => this.tracker.resolve(entry),
          (err: unknown) => this.fail(err),
        )
      }
      if (stop.aborted) break
    }
  }

  private fail(err: unknown): void {
    if (this.failure) return
    this.failure =
      err instanceof SluiceError
        ? err
        : new SinkError(
            'PIPELINE_FAILED',
            `pipeline ${this.opts.name} failed: ${(err as Error)?.message ?? String(err)}`,
            {
              cause: err,
            },
          )
    this.internal.abort(this.failure)
    this.tracker.wakeAll()
  }

  /** Waits for every tracked batch to resolve (or the drain timeout, or a failure). */
  private async drain(): Promise<void> {
    const deadline = Date.now() + (this.opts.drainTimeoutMs ?? 8000)
    while (this.tracker.inFlight.batches > 0 && !this.failure && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5))
    }
    if (this.tracker.inFlight.batches > 0 && !this.failure) {
      this.opts.log.warn(
        { inFlight: this.tracker.inFlight },
        'stopping with undelivered batches; they will be re-read on restart',
      )
    }
  }

  /** Commits the resolved position: state store first (durable), then the source. Serialised. */
  private commit(): Promise<void> {
    this.committing = this.committing.then(async () => {
      const pos = this.tracker.resolved
      if (pos === null || pos === this.stats.committedPosition) return
      await this.opts.state.save(this.opts.name, { position: pos, snapshot: this.snapshotProgress })
      this.stats.committedPosition = pos
      await this.opts.source.acknowledge(pos)
    })
    this.committing = this.committing.catch((err: unknown) => this.fail(err))
    return this.committing
  }
}
