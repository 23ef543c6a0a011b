/**
 * The admin HTTP server over real runners (node:http, real PipelineRunner, file state),
 * with an in-memory source and sink standing in for the databases: auth, routes, error
 * statuses, readiness and redaction. The same behaviour against a real Postgres pipeline is
 * in test/integration/admin.test.ts.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import { AdminMetrics } from '../../../admin/metrics.js'
import { PipelineHandle } from '../../../admin/pipelines.js'
import { AdminServer } from '../../../admin/server.js'
import type { ChangeBatch } from '../../../pipeline/event.js'
import { PipelineRunner } from '../../../pipeline/runner.js'
import type { Sink } from '../../../pipeline/sink.js'
import type { Source } from '../../../pipeline/source.js'
import { FileStateStore } from '../../../pipeline/state.js'

const TOKEN = 'tok-0123456789abcdef-SECRET'
const PASSWORD = 'pw-Canary-77x'

/** A source that yields nothing and waits for the stop, or fails its preflight with `failure`. */
class IdleSource implements Source {
  constructor(private readonly failure?: Error) {}
  async preflight(): Promise<void> {
    if (this.failure) throw this.failure
  }
  async *start(_from: string | null, signal: AbortSignal): AsyncGenerator<ChangeBatch> {
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }))
    yield* [] // ends with the stop, having yielded nothing
  }
  async acknowledge(): Promise<void> {}
  async stop(): Promise<void> {}
}

const nullSink = (): Sink => ({
  delivery: 'at-least-once',
  open: async () => {},
  write: async () => {},
  flush: async () => {},
  close: async () => {},
})

let dir: string
let logText = ''
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      logText += chunk.toString()
      cb()
    },
  }),
)
const stop = new AbortController()
let server: AdminServer
let base: string
const runs: Promise<void>[] = []

function pipeline(name: string, source: Source): PipelineHandle {
  const h = new PipelineHandle(name)
  const runner = new PipelineRunner({
    name,
    source,
    sinks: [nullSink()],
    state: new FileStateStore(join(dir, 'state')),
    log: log.child({ pipeline: name }),
    maxInFlightEvents: 100,
    maxInFlightBytes: 1 << 20,
    metrics,
    throughput: h.throughput,
  })
  h.attach(runner)
  metrics.track(h)
  runs.push(runner.run(stop.signal).catch(() => {}))
  return h
}

const metrics = new AdminMetrics()
let healthy: PipelineHandle
let broken: PipelineHandle

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sluice-admin-unit-'))
  healthy = pipeline('orders', new IdleSource())
  // A driver error that carries a URL with its password: what must never be shown.
  broken = pipeline(
    'billing',
    new IdleSource(new Error(`connect to postgres://sluice:${PASSWORD}@db:5432/x refused`)),
  )
  server = new AdminServer({
    host: '127.0.0.1',
    port: 0,
    token: TOKEN,
    pipelines: [healthy, broken],
    metrics,
    secrets: [PASSWORD],
    log,
  })
  base = await server.start()
})

after(async () => {
  stop.abort()
  await Promise.all(runs)
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

const auth = { authorization: `Bearer ${TOKEN}` }
const get = (path: string, headers: Record<string, string> = auth): Promise<Response> =>
  fetch(base + path, { headers })

async function waitForState(h: PipelineHandle, state: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while ((await h.status()).state !== state) {
    if (Date.now() > deadline) throw new Error(`${h.name} never reached ${state}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('admin server', () => {
  it('listens on port 0 and logs the bound address', () => {
    assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.notEqual(base, 'http://127.0.0.1:0')
    assert.ok(logText.includes(`"address":"${base}"`), logText)
    assert.ok(logText.includes('admin API listening'))
  })

  it('keeps /healthz open and demands the token everywhere else', async () => {
    const h = await fetch(`${base}/healthz`)
    assert.equal(h.status, 200)
    assert.equal(await h.text(), 'ok\n')
    for (const path of ['/metrics', '/api/pipelines', '/readyz', '/']) {
      const none = await get(path, {})
      assert.equal(none.status, 401, `${path} without token`)
      const wrong = await get(path, { authorization: `Bearer ${TOKEN}x` })
      assert.equal(wrong.status, 401, `${path} with a wrong token`)
      const ok = await get(path)
      assert.notEqual(ok.status, 401, `${path} with the token`)
    }
    const page = await get('/', {})
    assert.match(page.headers.get('www-authenticate') ?? '', /^Basic realm="sluice"/)
    const api = await get('/api/pipelines', {})
    assert.match(api.headers.get('www-authenticate') ?? '', /^Bearer/)
    const pause = await fetch(`${base}/api/pipelines/orders/pause`, { method: 'POST' })
    assert.equal(pause.status, 401)
    // A fresh start with a source that reports no phase counts as snapshotting.
    assert.equal((await healthy.status()).state, 'snapshotting', 'an unauthorised pause changes nothing')
  })

  it('accepts the token as a Basic-auth password, as a browser sends it', async () => {
    const basic = Buffer.from(`anyone:${TOKEN}`).toString('base64')
    const r = await get('/', { authorization: `Basic ${basic}` })
    assert.equal(r.status, 200)
    assert.match(r.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(r.headers.get('content-security-policy') ?? '', /script-src 'sha256-/)
  })

  it('answers /readyz 503 naming the failed pipeline and its error code', async () => {
    await waitForState(broken, 'failed')
    const r = await get('/readyz')
    assert.equal(r.status, 503)
    const body = (await r.json()) as { ready: boolean; reasons: string[] }
    assert.equal(body.ready, false)
    assert.equal(body.reasons.length, 1)
    assert.match(
      body.reasons[0]!,
      /^pipeline billing is failed: PIPELINE_FAILED: pipeline billing failed: connect to/,
    )
  })

  it('never shows the password or the token, and shows the redacted error instead', async () => {
    const bodies: Record<string, string> = {}
    for (const path of ['/api/pipelines', '/metrics', '/', '/readyz'])
      bodies[path] = await (await get(path)).text()
    for (const [path, text] of Object.entries(bodies)) {
      for (const secret of [PASSWORD, encodeURIComponent(PASSWORD), TOKEN])
        assert.ok(!text.includes(secret), `${path} leaks a secret`)
    }
    const api = JSON.parse(bodies['/api/pipelines']!) as {
      pipelines: { name: string; last_error: { message: string } | null }[]
    }
    const billing = api.pipelines.find((p) => p.name === 'billing')!
    assert.match(billing.last_error!.message, /postgres:\/\/sluice:\*\*\*@db:5432\/x refused/)
    assert.match(bodies['/']!, /postgres:\/\/sluice:\*\*\*@db:5432\/x refused/)
    assert.match(bodies['/metrics']!, /sluice_errors_total\{pipeline="billing",code="PIPELINE_FAILED"\} 1/)
  })

  it('pauses and resumes by name, and refuses what cannot be done', async () => {
    const post = (path: string, headers: Record<string, string> = {}): Promise<Response> =>
      fetch(base + path, { method: 'POST', headers: { ...auth, ...headers } })
    const paused = await post('/api/pipelines/orders/pause')
    assert.equal(paused.status, 200)
    assert.equal(((await paused.json()) as { state: string }).state, 'paused')
    const ready = (await (await get('/readyz')).json()) as { reasons: string[] }
    assert.ok(ready.reasons.includes('pipeline orders is paused'), ready.reasons.join('; '))
    const resumed = await post('/api/pipelines/orders/resume')
    assert.equal(((await resumed.json()) as { state: string }).state, 'snapshotting')

    assert.equal((await post('/api/pipelines/nope/pause')).status, 404)
    assert.equal((await post('/api/pipelines/billing/pause')).status, 409, 'a failed pipeline cannot pause')
    assert.equal((await get('/api/pipelines/orders/pause')).status, 405)
    const csrf = await post('/api/pipelines/orders/pause', { origin: 'http://evil.example' })
    assert.equal(csrf.status, 403)
    assert.equal((await healthy.status()).state, 'snapshotting', 'the cross-origin pause was refused')
    assert.equal((await get('/nowhere')).status, 404)
  })

  it('fails with ADMIN_LISTEN_FAILED naming the address when the port is taken', async () => {
    const blocker = createServer()
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()))
    const port = (blocker.address() as { port: number }).port
    const second = new AdminServer({
      host: '127.0.0.1',
      port,
      pipelines: [],
      metrics: new AdminMetrics(),
      secrets: [],
      log,
    })
    await assert.rejects(second.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ADMIN_LISTEN_FAILED')
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\).*admin\\.port`))
      return true
    })
    await new Promise<void>((r) => blocker.close(() => r()))
  })
})
