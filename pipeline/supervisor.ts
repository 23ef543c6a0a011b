import type { Logger } from 'pino'
import { SluiceError } from './errors.js'

/** How a pipeline is restarted after a retriable failure. */
export interface RetryPolicy {
  /** First delay (ms); doubles per consecutive failure. */
  readonly initialMs: number
  /** Largest delay (ms). */
  readonly maxMs: number
  /**
   * Consecutive retriable failures allowed before giving up (0: never give up). A run
   * that lasted `healthyMs` resets the count.
   */
  readonly maxAttempts: number
  /** A run at least this long counts as healthy: the next failure starts from initialMs again. */
  readonly healthyMs: number
}

export const DEFAULT_RETRY: RetryPolicy = {
  initialMs: 500,
  maxMs: 30_000,
  maxAttempts: 0,
  healthyMs: 60_000,
}

/** One attempt at running a pipeline (a fresh runner each time: sources and sinks reconnect). */
export interface Attempt {
  run(signal: AbortSignal): Promise<void>
  /** Whether the attempt got past its start-up checks (preflight, sinks opened, state read). */
  readonly started?: boolean
}

/**
 * The delay before retry number `attempt` (1-based): exponential from initialMs, capped at
 * maxMs, with "equal jitter" (half fixed, half random), so restarts of many pipelines
 * after a shared outage spread out instead of arriving together.
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt - 1, 30))
  return Math.round(exp / 2 + (exp / 2) * random())
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const t = setTimeout(done, ms)
    function done(): void {
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done, { once: true })
  })
}

/**
 * Runs a pipeline until `signal` aborts or it fails permanently. A failure whose
 * SluiceError is `retriable` (a dropped connection, a server restart) starts a fresh
 * attempt after a backoff: the failed attempt already committed what every sink made
 * durable, and the new one resumes from the state store, so nothing is lost and only
 * unacknowledged events are delivered again. A permanent error (wrong password, missing
 * slot, a rejected event) is rethrown at once: retrying cannot fix it. So is any error while
 * no attempt has yet got past its start-up checks: a source that cannot be reached at the
 * very start is more likely a wrong address than an outage, and is reported at once.
 */
export async function supervise(
  name: string,
  attempt: () => Attempt,
  signal: AbortSignal,
  log: Logger,
  policy: RetryPolicy = DEFAULT_RETRY,
  onRetry?: (err: SluiceError, attempt: number, delayMs: number) => void,
): Promise<void> {
  let failures = 0
  let everStarted = false
  for (;;) {
    const started = Date.now()
    const a = attempt()
    try {
      await a.run(signal)
      return
    } catch (err) {
      if (signal.aborted) return
      everStarted ||= a.started ?? true
      if (!(err instanceof SluiceError) || !err.retriable || !everStarted) throw err
      if (Date.now() - started >= policy.healthyMs) failures = 0
      failures++
      if (policy.maxAttempts > 0 && failures > policy.maxAttempts) {
        throw new SluiceError(
          'RETRIES_EXHAUSTED',
          `pipeline ${name} failed ${failures} times in a row, last with ${err.code}: ${err.message}`,
          { cause: err },
        )
      }
      const delay = backoffMs(policy, failures)
      log.warn(
        {
          pipeline: name,
          code: err.code,
          attempt: failures,
          delayMs: delay,
          ...(log.isLevelEnabled('debug') ? { err } : { cause: (err.cause as Error | undefined)?.message }),
        },
        `pipeline ${name} failed with a retriable error; restarting in ${delay} ms`,
      )
      onRetry?.(err, failures, delay)
      await sleep(delay, signal)
      if (signal.aborted) return
    }
  }
}
