import type { RateWindow } from '../pipeline/metrics.js'
import { PipelineRunner, type LastError, type RunnerStatus } from '../pipeline/runner.js'

/**
 * One configured pipeline as the admin API sees it, across restarts: the supervisor builds
 * a fresh runner per attempt (pipeline/supervisor.ts) and attach()es it here. Counts and
 * the throughput history carry over; a pause requested by an operator holds every later
 * attempt too, until resumed; the last error stays visible after a restart.
 */
export class PipelineHandle {
  /** Pass to each attempt's runner (RunnerOptions.throughput) so the history survives restarts. */
  readonly throughput: RateWindow = PipelineRunner.newThroughput()
  private runner: PipelineRunner | null = null
  private paused = false
  private base = { read: 0, delivered: 0 }
  private previousError: LastError | null = null

  constructor(readonly name: string) {}

  /** Makes `runner` the current attempt (applying a standing pause before it reads anything). */
  attach(runner: PipelineRunner): void {
    const prev = this.runner
    if (prev) {
      this.previousError = prev.lastFailure ?? this.previousError
      this.base = {
        read: this.base.read + prev.stats.events,
        delivered: this.base.delivered + prev.stats.delivered,
      }
    }
    this.runner = runner
    if (this.paused) runner.pause()
  }

  /** Pauses the current attempt and any later one. False when the pipeline has stopped or failed for good. */
  pause(): boolean {
    const ok = this.runner ? this.runner.pause() : true
    if (ok) this.paused = true
    return ok
  }

  /** Resumes. False when the pipeline has stopped or failed for good. */
  resume(): boolean {
    const ok = this.runner ? this.runner.resume() : true
    if (ok) this.paused = false
    return ok
  }

  /** The current attempt's status with counts over every attempt; `starting` before the first. */
  async status(now = Date.now()): Promise<RunnerStatus> {
    const runner = this.runner
    if (!runner) {
      return {
        name: this.name,
        state: this.paused ? 'paused' : 'starting',
        committedPosition: null,
        eventsRead: 0,
        eventsDelivered: 0,
        lastEventSourceTsMs: null,
        inFlight: { events: 0, bytes: 0, batches: 0 },
        snapshot: {},
        lastError: null,
        throughput: this.throughput.series(now),
        throughputBucketMs: this.throughput.bucketMs,
        source: null,
      }
    }
    const s = await runner.status(now)
    if (s.lastError) this.previousError = s.lastError
    return {
      ...s,
      eventsRead: this.base.read + s.eventsRead,
      eventsDelivered: this.base.delivered + s.eventsDelivered,
      lastError: s.lastError ?? this.previousError,
    }
  }
}
