import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import pino from 'pino'
import { SluiceError } from '../../../pipeline/errors.js'
import { backoffMs, supervise, type RetryPolicy } from '../../../pipeline/supervisor.js'

const log = pino({ level: 'silent' })
const fast: RetryPolicy = { initialMs: 5, maxMs: 40, maxAttempts: 0, healthyMs: 60_000 }
const retriable = (code = 'PG_CONNECTION_LOST'): SluiceError =>
  new SluiceError(code, 'connection lost', { retriable: true })

describe('supervise', () => {
  test('restarts after retriable failures with a fresh attempt each time, then returns', async () => {
    let made = 0
    const delays: number[] = []
    await supervise(
      'p',
      () => {
        const n = ++made
        return { run: async () => (n < 4 ? Promise.reject(retriable()) : undefined) }
      },
      new AbortController().signal,
      log,
      fast,
      (_e, _n, d) => delays.push(d),
    )
    assert.equal(made, 4)
    assert.equal(delays.length, 3)
    // Equal jitter: attempt k waits between half and all of min(max, initial * 2^(k-1)).
    delays.forEach((d, i) => {
      const exp = Math.min(40, 5 * 2 ** i)
      assert.ok(d >= exp / 2 && d <= exp, `delay ${d} of attempt ${i + 1} within [${exp / 2}, ${exp}]`)
    })
  })

  test('a retriable error before any attempt got started is rethrown at once (a wrong address, not an outage)', async () => {
    let made = 0
    const err = retriable('PG_CONNECTION_FAILED')
    await assert.rejects(
      supervise(
        'p',
        () => (made++, { started: false, run: () => Promise.reject(err) }),
        new AbortController().signal,
        log,
        fast,
      ),
      (e) => e === err,
    )
    assert.equal(made, 1)
  })

  test('once an attempt has started, later attempts failing at start-up are retried', async () => {
    let made = 0
    await supervise(
      'p',
      () => {
        const n = ++made
        // Attempt 1 runs, then fails; 2 and 3 cannot even connect (server restarting); 4 runs.
        return {
          started: n === 1 || n === 4,
          run: async () => (n < 4 ? Promise.reject(retriable()) : undefined),
        }
      },
      new AbortController().signal,
      log,
      fast,
    )
    assert.equal(made, 4)
  })

  test('a permanent error is rethrown at once, without retrying', async () => {
    let made = 0
    const err = new SluiceError('PG_AUTH_FAILED', 'bad password')
    await assert.rejects(
      supervise(
        'p',
        () => (made++, { run: () => Promise.reject(err) }),
        new AbortController().signal,
        log,
        fast,
      ),
      (e) => e === err,
    )
    assert.equal(made, 1)
  })

  test('a non-Sluice error is not retried', async () => {
    await assert.rejects(
      supervise(
        'p',
        () => ({ run: () => Promise.reject(new TypeError('bug')) }),
        new AbortController().signal,
        log,
        fast,
      ),
      TypeError,
    )
  })

  test('gives up after maxAttempts consecutive failures with RETRIES_EXHAUSTED naming the last error', async () => {
    let made = 0
    await assert.rejects(
      supervise(
        'shop',
        () => (made++, { run: () => Promise.reject(retriable('MYSQL_CONNECTION_LOST')) }),
        new AbortController().signal,
        log,
        { ...fast, maxAttempts: 3 },
      ),
      (e: SluiceError) => {
        assert.equal(e.code, 'RETRIES_EXHAUSTED')
        assert.match(e.message, /pipeline shop failed 4 times in a row, last with MYSQL_CONNECTION_LOST/)
        return true
      },
    )
    assert.equal(made, 4)
  })

  test('stopping during the backoff returns promptly without another attempt', async () => {
    const stop = new AbortController()
    let made = 0
    const started = Date.now()
    const p = supervise('p', () => (made++, { run: () => Promise.reject(retriable()) }), stop.signal, log, {
      ...fast,
      initialMs: 60_000,
      maxMs: 60_000,
    })
    setTimeout(() => stop.abort(), 50)
    await p
    assert.equal(made, 1)
    assert.ok(Date.now() - started < 5_000, 'returned promptly')
  })
})

test('backoffMs is capped and never below half the exponential step', () => {
  const policy: RetryPolicy = { initialMs: 100, maxMs: 1_000, maxAttempts: 0, healthyMs: 1 }
  assert.equal(
    backoffMs(policy, 1, () => 0),
    50,
  )
  assert.equal(
    backoffMs(policy, 1, () => 1),
    100,
  )
  assert.equal(
    backoffMs(policy, 3, () => 1),
    400,
  )
  assert.equal(
    backoffMs(policy, 50, () => 1),
    1_000,
  )
  assert.equal(
    backoffMs(policy, 50, () => 0),
    500,
  )
})
