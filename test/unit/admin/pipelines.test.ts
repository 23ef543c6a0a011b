import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import pino from 'pino'
import { PipelineHandle } from '../../../admin/pipelines.js'
import type { ChangeBatch } from '../../../pipeline/event.js'
import { PipelineRunner } from '../../../pipeline/runner.js'
import type { Source } from '../../../pipeline/source.js'
import { FileStateStore } from '../../../pipeline/state.js'

const dir = mkdtempSync(join(tmpdir(), 'sluice-handle-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** Yields empty batches with the given checkpoints (counting pulls), then waits for the stop. */
class CheckpointSource implements Source {
  pulls = 0
  constructor(
    private readonly checkpoints: string[],
    private readonly failure?: Error,
  ) {}
  async preflight(): Promise<void> {
    if (this.failure) throw this.failure
  }
  async *start(_from: string | null, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    for (const checkpoint of this.checkpoints) {
      this.pulls++
      yield { events: [], checkpoint, bytes: 0 }
    }
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
  }
  async acknowledge(): Promise<void> {}
  async stop(): Promise<void> {}
}

function runner(name: string, source: Source, h: PipelineHandle): PipelineRunner {
  return new PipelineRunner({
    name,
    source,
    sinks: [
      {
        delivery: 'at-least-once',
        open: async () => {},
        write: async () => {},
        flush: async () => {},
        close: async () => {},
      },
    ],
    state: new FileStateStore(join(dir, name)),
    log: pino({ level: 'silent' }),
    maxInFlightEvents: 10,
    maxInFlightBytes: 1 << 20,
    commitIntervalMs: 20,
    throughput: h.throughput,
  })
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

describe('PipelineHandle (one pipeline across restarts)', () => {
  it('holds a pause requested before the attempt starts: nothing is read until resumed', async () => {
    const h = new PipelineHandle('held')
    assert.equal((await h.status()).state, 'starting')
    assert.equal(h.pause(), true)
    assert.equal((await h.status()).state, 'paused')
    const source = new CheckpointSource(['p1', 'p2', 'p3'])
    const r = runner('held', source, h)
    h.attach(r)
    const stop = new AbortController()
    const done = r.run(stop.signal)
    await new Promise((res) => setTimeout(res, 300))
    assert.equal(source.pulls, 0, 'no batch was pulled while paused')
    assert.equal((await h.status()).state, 'paused')
    assert.equal((await h.status()).committedPosition, null)
    assert.equal(h.resume(), true)
    await until(async () => (await h.status()).committedPosition === 'p3', 'p3 committed after resume')
    assert.equal(source.pulls, 3)
    stop.abort()
    await done
    assert.equal((await h.status()).state, 'stopped')
    assert.equal(h.pause(), false, 'a stopped pipeline cannot be paused')
  })

  it('keeps the last error visible after a restart replaced the failed attempt', async () => {
    const h = new PipelineHandle('flaky')
    const first = runner('flaky', new CheckpointSource([], new Error('boom')), h)
    h.attach(first)
    await assert.rejects(first.run(new AbortController().signal))
    assert.equal((await h.status()).state, 'failed')
    const second = runner('flaky', new CheckpointSource(['q1']), h)
    h.attach(second)
    const stop = new AbortController()
    const done = second.run(stop.signal)
    await until(async () => (await h.status()).committedPosition === 'q1', 'q1 committed')
    const s = await h.status()
    assert.notEqual(s.state, 'failed')
    assert.equal(s.lastError?.code, 'PIPELINE_FAILED')
    assert.match(s.lastError?.message ?? '', /pipeline flaky failed: boom/)
    stop.abort()
    await done
  })
})
