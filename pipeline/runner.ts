import type { Logger } from 'pino'
import { Checkpointer } from './checkpointer.js'
import type { RejectPolicy } from './dead-letter.js'
import { SinkError, SluiceError } from './errors.js'
import type { ChangeBatch, Op } from './event.js'
import { NO_METRICS, RateWindow, type PipelineMetrics } from './metrics.js'
import type { Sink } from './sink.js'
import type { SnapshotProgress, Source, SourceStatus } from './source.js'
import type { PipelineState as SavedState, StateStore } from './state.js'

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
  /** Where delivery counts, sink latencies and errors are reported (default: nowhere). */
  readonly metrics?: PipelineMetrics
  /** A label per sink, same order as `sinks` (default `sink<i>`); the config `type`. */
  readonly sinkLabels?: readonly string[]
  /** Delivered-event history; pass the same one to each restart of a pipeline to keep it. */
  readonly throughput?: RateWindow
  /**
   * The pipeline's `on_error` policy: applied to the rows a batch carries in `rejected`
   * before the batch goes to the sinks, and opened/closed with the sinks (its dead-letter
   * destination). Without it a batch with rejected rows fails the pipeline (halt).
   */
  readonly rejects?: RejectPolicy
}

/** What a pipeline is doing, as the admin API shows it. */
export type PipelineState = 'starting' | 'snapshotting' | 'streaming' | 'paused' | 'stopped' | 'failed'

/** The last error of a pipeline: its stable code and message (callers redact before showing). */
export interface LastError {
  readonly code: string
  readonly message: string
  /** When it happened (ms since the epoch). */
  readonly atMs: number
}

/** Everything the admin API reports about one runner at one moment. */
export interface RunnerStatus {
  readonly name: string
  readonly state: PipelineState
  readonly committedPosition: string | null
  readonly eventsRead: number
  readonly eventsDelivered: number
  /** `source.ts_ms` of the last delivered event, or null before the first. */
  readonly lastEventSourceTsMs: number | null
  readonly inFlight: { events: number; bytes: number; batches: number }
  readonly snapshot: Readonly<Record<string, { rows: number; estimate: number; done: boolean }>>
  readonly lastError: LastError | null
  /** Delivered events per bucket, oldest first (see `throughputBucketMs`). */
  readonly throughput: readonly number[]
  readonly throughputBucketMs: number
  /** Null when the source does not implement status(). */
  readonly source: SourceStatus | null
}

/** Throughput history: 5-second buckets over the last 10 minutes. */
const RATE_BUCKET_MS = 5_000
const RATE_BUCKETS = 120
/** Source status is cached this long, so scrapes and page views do not query the database each. */
const SOURCE_STATUS_TTL_MS = 1_000

/** Counters exposed for status and tests. */
export interface RunnerStats {
  /** Events read from the source and handed to the sinks. */
  events: number
  batches: number
  committedPosition: string | null
  /** Events durable in every sink. */
  delivered: number
  /** Rows the source rejected (could not convert) and the policy skipped or dead-lettered. */
  rejected: number
}

/**
 * Runs one pipeline: source → every sink (fan-out), with ordered acknowledgement. The
 * source position advances only when every sink resolved everything up to it: resolved
 * positions are committed to the state store (durably) and only then acknowledged to the
 * source. Stops when `signal` aborts (drain, final commit, close) or on the first error
 * (no commit past the failed batch; the error is rethrown).
 */
export class PipelineRunner {
  readonly stats: RunnerStats = { events: 0, batches: 0, committedPosition: null, delivered: 0, rejected: 0 }
  private readonly tracker: Checkpointer
  private committing: Promise<void> = Promise.resolve()
  private failure: unknown = null
  private readonly internal = new AbortController()
  private snapshotProgress: SavedState['snapshot']
  private readonly metrics: PipelineMetrics
  private readonly rate: RateWindow
  private ranOnce = false
  private lifecycle: 'starting' | 'running' | 'stopped' | 'failed' = 'starting'
  /** Phase seen in events and snapshot progress (used when the source cannot tell). */
  private observedPhase: 'snapshotting' | 'streaming' = 'streaming'
  private lastEventSourceTsMs: number | null = null
  private lastError: LastError | null = null
  /** Set while paused: resolves when resumed. */
  private pauseGate: { promise: Promise<void>; release: () => void } | null = null
  private sourceStatusCache: { at: number; value: Promise<SourceStatus | null> } | null = null

  constructor(private readonly opts: RunnerOptions) {
    this.tracker = new Checkpointer(opts.maxInFlightEvents, opts.maxInFlightBytes)
    this.metrics = opts.metrics ?? NO_METRICS
    this.rate = opts.throughput ?? PipelineRunner.newThroughput()
  }

  /** A throughput window of the size status() reports (5-second buckets over 10 minutes). */
  static newThroughput(): RateWindow {
    return new RateWindow(RATE_BUCKET_MS, RATE_BUCKETS)
  }

  /** The error this run failed with (code and message), or null. */
  get lastFailure(): LastError | null {
    return this.lastError
  }

  /** The pipeline's name. */
  /** Whether this run got past preflight, sink opening and the state load. */
  get started(): boolean {
    return this.ranOnce
  }

  get name(): string {
    return this.opts.name
  }

  /**
   * What the pipeline is doing now. `snapshotting`/`streaming` come from the events seen;
   * status() refines them with the source's own phase where the source reports one.
   */
  get state(): PipelineState {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'failed') return this.lifecycle
    if (this.pauseGate) return 'paused'
    return this.lifecycle === 'starting' ? 'starting' : this.observedPhase
  }

  /**
   * Stops pulling batches from the source: in-flight batches still complete and commit, the
   * source's bounded queue fills and the source stops reading its socket (Postgres keeps
   * sending status updates, so the connection stays up). Pausing a starting pipeline holds
   * it before its first read. Returns false when the pipeline has stopped or failed; pausing
   * twice is harmless.
   */
  pause(): boolean {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'failed') return false
    if (!this.pauseGate) {
      let release!: () => void
      const promise = new Promise<void>((r) => (release = r))
      this.pauseGate = { promise, release }
      this.opts.log.info('paused')
    }
    return true
  }

  /** Continues pulling from the source. Returns false when the pipeline has stopped or failed. */
  resume(): boolean {
    if (this.lifecycle === 'stopped' || this.lifecycle === 'failed') return false
    const gate = this.pauseGate
    if (gate) {
      this.pauseGate = null
      gate.release()
      this.opts.log.info('resumed')
    }
    return true
  }

  /** A snapshot of everything the admin API shows (the source's status is cached for a second). */
  async status(now = Date.now()): Promise<RunnerStatus> {
    const source = await this.sourceStatus(now)
    let state = this.state
    if ((state === 'snapshotting' || state === 'streaming') && source?.phase)
      state = source.phase === 'snapshot' ? 'snapshotting' : 'streaming'
    return {
      name: this.opts.name,
      state,
      committedPosition: this.stats.committedPosition,
      eventsRead: this.stats.events,
      eventsDelivered: this.stats.delivered,
      lastEventSourceTsMs: this.lastEventSourceTsMs,
      inFlight: this.tracker.inFlight,
      snapshot: { ...(this.snapshotProgress?.tables ?? {}) },
      lastError: this.lastError,
      throughput: this.rate.series(now),
      throughputBucketMs: this.rate.bucketMs,
      source,
    }
  }

  private sourceStatus(now: number): Promise<SourceStatus | null> {
    const { source } = this.opts
    if (!source.status || this.lifecycle !== 'running') return Promise.resolve(null)
    const cached = this.sourceStatusCache
    if (cached && now - cached.at < SOURCE_STATUS_TTL_MS) return cached.value
    const value = source.status().catch(() => null)
    this.sourceStatusCache = { at: now, value }
    return value
  }

  /**
   * Records a table's snapshot progress; it is saved with the next committed position, so
   * the state file shows how far a snapshot got (rows read, not necessarily delivered).
   */
  recordSnapshotProgress(p: SnapshotProgress): void {
    const tables = { ...(this.snapshotProgress?.tables ?? {}) }
    tables[p.table] = { rows: p.rows, estimate: p.estimate, done: p.done }
    this.snapshotProgress = { tables }
    if (!p.done) this.observedPhase = 'snapshotting'
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
    let rejectsOpened = false
    try {
      await source.preflight()
      for (const s of sinks) {
        await s.open()
        opened.push(s)
      }
      if (this.opts.rejects) {
        rejectsOpened = true
        await this.opts.rejects.open()
      }
      const saved = await state.load(name)
      const from = saved?.position ?? null
      this.stats.committedPosition = from
      this.snapshotProgress = saved?.snapshot
      log.info({ from }, from ? 'resuming' : 'starting from scratch')
      const unfinished = Object.values(saved?.snapshot?.tables ?? {}).some((t) => !t.done)
      this.observedPhase = from === null || unfinished ? 'snapshotting' : 'streaming'
      this.lifecycle = 'running'
      this.ranOnce = true

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
      if (rejectsOpened)
        await this.opts
          .rejects!.close()
          .catch((err: unknown) => log.error({ err }, 'closing the dead-letter destination failed'))
      await source.stop().catch((err: unknown) => log.error({ err }, 'stopping source failed'))
      this.lifecycle = this.failure ? 'failed' : 'stopped'
      this.pauseGate?.release()
      this.pauseGate = null
    }
    if (this.failure) throw this.failure
  }

  private async pump(from: string | null, stop: AbortSignal): Promise<void> {
    const { source } = this.opts
    const batches = source.start(from, stop)[Symbol.asyncIterator]()
    try {
      await this.pumpBatches(batches, stop)
    } finally {
      // As `for await` does on break: let the source's generator run its finally blocks.
      await batches.return?.()
    }
  }

  private async pumpBatches(batches: AsyncIterator<ChangeBatch>, stop: AbortSignal): Promise<void> {
    const { sinks } = this.opts
    for (;;) {
      // Paused: do not pull, so the source's bounded queue fills and it stops reading.
      if (this.pauseGate) await this.waitWhilePaused(stop)
      if (stop.aborted || this.failure) break
      const next = await batches.next()
      if (next.done) break
      // A pull that was already waiting when the pause came: hold its batch until resumed
      // (on a stop it is dropped unacknowledged, and read again after a restart).
      if (this.pauseGate) await this.waitWhilePaused(stop)
      if (stop.aborted || this.failure) break
      const batch = next.value
      // Rows the source could not convert: the policy is applied (dead letters durable)
      // before the batch is tracked, so its checkpoint cannot be committed first. Under
      // halt this throws the row's own error, and nothing of this batch is written.
      if (batch.rejected && batch.rejected.length > 0) {
        if (!this.opts.rejects) throw batch.rejected[0]!.error
        await this.opts.rejects.rejectRows(batch.rejected)
        this.stats.rejected += batch.rejected.length
        if (stop.aborted || this.failure) break
      }
      const entry = await this.tracker
        .track(batch.checkpoint, batch.events.length, batch.bytes, sinks.length, stop)
        .catch((err: unknown) => {
          if (stop.aborted) return null
          throw err
        })
      if (!entry) break
      this.stats.batches++
      this.stats.events += batch.events.length
      this.observePhase(batch)
      let pending = sinks.length
      sinks.forEach((sink, i) => {
        const label = this.opts.sinkLabels?.[i] ?? `sink${i}`
        const started = performance.now()
        sink.write(batch).then(
          () => {
            this.metrics.sinkWrite(this.opts.name, label, (performance.now() - started) / 1000)
            this.tracker.resolve(entry)
            if (--pending === 0) this.delivered(batch)
          },
          (err: unknown) => {
            this.metrics.sinkWrite(this.opts.name, label, (performance.now() - started) / 1000)
            this.fail(err)
          },
        )
      })
      if (stop.aborted) break
    }
  }

  /** Resolves on resume or stop, whichever comes first. */
  private async waitWhilePaused(stop: AbortSignal): Promise<void> {
    while (this.pauseGate && !stop.aborted) {
      const gate = this.pauseGate.promise
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve()
        stop.addEventListener('abort', onAbort, { once: true })
        void gate.then(() => {
          stop.removeEventListener('abort', onAbort)
          resolve()
        })
      })
    }
  }

  /** Snapshot events (`true`/`last`) mean snapshotting until the last; anything else, streaming. */
  private observePhase(batch: ChangeBatch): void {
    const last = batch.events[batch.events.length - 1]
    if (!last) return
    const marker = last.source.snapshot
    this.observedPhase = marker === 'true' ? 'snapshotting' : 'streaming'
  }

  /** Every sink holds the batch: count it per table and op, for status and metrics. */
  private delivered(batch: ChangeBatch): void {
    const n = batch.events.length
    if (n === 0) return
    this.stats.delivered += n
    this.rate.add(n)
    this.lastEventSourceTsMs = batch.events[n - 1]!.source.ts_ms
    const counts = new Map<string, Map<Op, number>>()
    for (const ev of batch.events) {
      const table = `${ev.table.schema}.${ev.table.table}`
      let perOp = counts.get(table)
      if (!perOp) counts.set(table, (perOp = new Map()))
      perOp.set(ev.op, (perOp.get(ev.op) ?? 0) + 1)
    }
    for (const [table, perOp] of counts)
      for (const [op, count] of perOp) this.metrics.eventsDelivered(this.opts.name, table, op, count)
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
    const f = this.failure as SluiceError
    this.lastError = { code: f.code, message: f.message, atMs: Date.now() }
    this.metrics.error(this.opts.name, f.code)
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
