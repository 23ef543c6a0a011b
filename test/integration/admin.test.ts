/**
 * The admin API over a real Postgres → file pipeline, run in-process as `sluice run` wires
 * it (PipelineHandle, AdminMetrics, AdminServer): metrics follow real events, readiness
 * reflects a pipeline that cannot connect, pause stops the flow (the replication
 * connection stays up) and resume delivers everything, and no secret reaches any route.
 */
import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { AdminMetrics } from '../../admin/metrics.js'
import { PipelineHandle } from '../../admin/pipelines.js'
import { AdminServer } from '../../admin/server.js'
import type { StatusJson } from '../../admin/status.js'
import { buildPipeline } from '../../cli/run.js'
import { parseConfigText } from '../../config/index.js'
import { readEnvelopes, tempDir, waitFor } from './helpers/pipeline.js'
import { parseMetrics, sampleValue } from './helpers/prometheus.js'
import { freePort, startPostgres, type PgServer } from './servers/postgres.js'

const CANARY = 'canary-Admin-Pw-5e1d'
const TOKEN = 'admin-token-9c2f5b7e1a3d4f60'

let pg: PgServer
let tmp: ReturnType<typeof tempDir>
const stop = new AbortController()
const runs: Promise<void>[] = []
let shop: PipelineHandle
let billing: PipelineHandle
let full: AdminServer
let shopOnly: AdminServer
let fullUrl: string
let shopOnlyUrl: string

before(async () => {
  // A short walsender timeout: a paused pipeline must keep its connection alive by itself.
  pg = await startPostgres({ wal_sender_timeout: '2s' })
  await pg.sql('CREATE DATABASE shop')
  await pg.sql(
    `CREATE ROLE sluice LOGIN REPLICATION PASSWORD '${CANARY}';
     CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
     INSERT INTO accounts SELECT g, 'n' || g FROM generate_series(1, 200) g;
     ALTER TABLE accounts OWNER TO sluice;
     GRANT CREATE ON DATABASE shop TO sluice;`,
    [],
    'shop',
  )
  tmp = tempDir()
  const dead = await freePort()
  const yaml = `
pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:${pg.port}/shop
      tables: [public.accounts]
      status_interval_ms: 500
    sinks:
      - type: file
        path: ${join(tmp.dir, 'out')}
        format: avro
  - name: billing
    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:${dead}/shop
      tables: [public.accounts]
    sinks:
      - type: file
        path: ${join(tmp.dir, 'out-billing')}
        format: avro
state:
  type: file
  path: ${join(tmp.dir, 'state')}
admin:
  port: 0
  token: \${ADMIN_TOKEN}
log:
  level: fatal
`
  const { config, secrets } = parseConfigText(yaml, join(tmp.dir, 'sluice.yaml'), {
    PG_PASSWORD: CANARY,
    ADMIN_TOKEN: TOKEN,
  })
  assert.ok(secrets.includes(CANARY) && secrets.includes(TOKEN))
  const log = pino({ level: 'fatal' })
  const metrics = new AdminMetrics()
  const handles = config.pipelines.map((p) => {
    const h = new PipelineHandle(p.name)
    metrics.track(h)
    const runner = buildPipeline(p, config, log, { metrics, throughput: h.throughput })
    h.attach(runner)
    runs.push(runner.run(stop.signal).catch(() => {}))
    return h
  })
  ;[shop, billing] = handles as [PipelineHandle, PipelineHandle]
  const admin = config.admin!
  full = new AdminServer({ ...admin, pipelines: handles, metrics, secrets, log })
  shopOnly = new AdminServer({ ...admin, pipelines: [shop], metrics, secrets, log })
  fullUrl = await full.start()
  shopOnlyUrl = await shopOnly.start()
})

after(async () => {
  stop.abort()
  await Promise.all(runs)
  await full?.stop()
  await shopOnly?.stop()
  await pg?.stop()
  tmp?.cleanup()
})

const auth = { authorization: `Bearer ${TOKEN}` }
const getText = async (url: string): Promise<string> => {
  const r = await fetch(url, { headers: auth })
  assert.equal(r.status < 500 || url.endsWith('/readyz'), true, `${url}: ${r.status}`)
  return r.text()
}
const metricsNow = async (): Promise<ReturnType<typeof parseMetrics>> =>
  parseMetrics(await getText(`${fullUrl}/metrics`))
const created = async (): Promise<number> =>
  sampleValue(await metricsNow(), 'sluice_events_total', {
    pipeline: 'shop',
    table: 'public.accounts',
    op: 'c',
  }) ?? 0
const shopStatus = async (): Promise<StatusJson['pipelines'][number]> => {
  const body = JSON.parse(await getText(`${fullUrl}/api/pipelines`)) as StatusJson
  return body.pipelines.find((p) => p.name === 'shop')!
}

describe('admin API over a real Postgres pipeline', () => {
  test('the pipeline reports its snapshot and then streaming', async () => {
    await waitFor(
      async () => {
        const s = await shopStatus()
        return s.state === 'streaming' && s.position !== null && s.events.delivered === 200
      },
      60_000,
      'shop streaming with the snapshot committed',
    )
    const s = await shopStatus()
    assert.deepEqual(s.snapshot, [
      { table: 'public.accounts', rows: 200, estimate: s.snapshot[0]!.estimate, done: true },
    ])
    assert.ok(s.position !== null, 'a committed position')
    assert.equal(s.events.delivered, 200)
  })

  test('sluice_events_total moves by exactly the rows inserted and updated', async () => {
    const samples = await metricsNow()
    assert.equal(
      sampleValue(samples, 'sluice_events_total', { pipeline: 'shop', table: 'public.accounts', op: 'r' }),
      200,
    )
    const before = await created()
    await pg.sql(`INSERT INTO accounts SELECT g, 'new' || g FROM generate_series(501, 537) g`, [], 'shop')
    await waitFor(async () => (await created()) >= before + 37, 30_000, '37 inserts counted')
    await pg.sql(`UPDATE accounts SET name = 'upd' WHERE id BETWEEN 1 AND 5`, [], 'shop')
    await waitFor(
      async () =>
        sampleValue(await metricsNow(), 'sluice_events_total', {
          pipeline: 'shop',
          table: 'public.accounts',
          op: 'u',
        }) === 5,
      30_000,
      '5 updates counted',
    )
    assert.equal(await created(), before + 37, 'no extra creates were counted')
  })

  test('/metrics is Prometheus text with every name prefixed sluice_ and the promised series', async () => {
    const res = await fetch(`${fullUrl}/metrics`, { headers: auth })
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/)
    const text = await res.text()
    const samples = parseMetrics(text)
    for (const s of samples) assert.ok(s.name.startsWith('sluice_'), `${s.name} lacks the prefix`)
    for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE')))
      assert.match(line, /^# TYPE sluice_/)
    const v = (name: string, labels: Record<string, string>): number | null =>
      sampleValue(samples, name, labels)
    assert.ok((v('sluice_process_resident_memory_bytes', {}) ?? 0) > 0, 'default process metrics')
    assert.ok((v('sluice_sink_write_duration_seconds_count', { pipeline: 'shop', sink: 'file' }) ?? 0) > 0)
    assert.equal(v('sluice_dead_letter_events_total', { pipeline: 'shop' }), 0)
    assert.equal(v('sluice_snapshot_rows_done', { pipeline: 'shop', table: 'public.accounts' }), 200)
    assert.equal(v('sluice_snapshot_rows_estimated', { pipeline: 'shop', table: 'public.accounts' }), 200)
    assert.equal(v('sluice_pipeline_state', { pipeline: 'shop', state: 'streaming' }), 1)
    assert.equal(v('sluice_pipeline_state', { pipeline: 'billing', state: 'failed' }), 1)
    assert.equal(v('sluice_errors_total', { pipeline: 'billing', code: 'PG_CONNECTION_FAILED' }), 1)
    assert.ok(
      (v('sluice_postgres_retained_wal_bytes', { pipeline: 'shop' }) ?? -1) >= 0,
      'retained WAL of the slot',
    )
    assert.ok((v('sluice_source_lag_bytes', { pipeline: 'shop' }) ?? -1) >= 0, 'unconfirmed WAL of the slot')
    assert.ok((v('sluice_source_lag_milliseconds', { pipeline: 'shop' }) ?? -1) >= 0)
    assert.notEqual(v('sluice_in_flight_events', { pipeline: 'shop' }), null)
    assert.notEqual(v('sluice_in_flight_bytes', { pipeline: 'shop' }), null)
  })

  test('/readyz: 503 naming the pipeline that cannot connect; 200 when all are streaming', async () => {
    await waitFor(async () => (await billing.status()).state === 'failed', 30_000, 'billing failed')
    const bad = await fetch(`${fullUrl}/readyz`, { headers: auth })
    assert.equal(bad.status, 503)
    const body = (await bad.json()) as { ready: boolean; reasons: string[] }
    assert.equal(body.reasons.length, 1, body.reasons.join('; '))
    assert.match(
      body.reasons[0]!,
      /^pipeline billing is failed: PG_CONNECTION_FAILED: cannot reach postgres:\/\/sluice(:\*\*\*)?@127\.0\.0\.1:\d+\/shop/,
    )
    const good = await fetch(`${shopOnlyUrl}/readyz`, { headers: auth })
    assert.equal(good.status, 200)
    assert.equal(((await good.json()) as { ready: boolean }).ready, true)
  })

  test('no route shows the source password or the token', async () => {
    for (const path of ['/metrics', '/api/pipelines', '/', '/readyz', '/healthz']) {
      const text = await getText(fullUrl + path)
      for (const secret of [CANARY, encodeURIComponent(CANARY), TOKEN])
        assert.ok(!text.includes(secret), `${path} leaks a secret:\n${text.slice(0, 2000)}`)
    }
    const billingJson = (JSON.parse(await getText(`${fullUrl}/api/pipelines`)) as StatusJson).pipelines[1]!
    assert.equal(billingJson.last_error?.code, 'PG_CONNECTION_FAILED')
  })

  test('pause stops the flow while the replication connection stays up; resume delivers everything once', async () => {
    const slot = async (): Promise<{ active: boolean; active_pid: number | null }> =>
      (
        await pg.sql<{ active: boolean; active_pid: number | null }>(
          `SELECT active, active_pid FROM pg_replication_slots WHERE slot_name = 'sluice_shop'`,
        )
      )[0]!
    const pidBefore = (await slot()).active_pid
    assert.ok(pidBefore, 'the slot is streaming')
    const countBefore = await created()

    const paused = await fetch(`${fullUrl}/api/pipelines/shop/pause`, { method: 'POST', headers: auth })
    assert.equal(paused.status, 200)
    assert.equal((await shopStatus()).state, 'paused')
    await pg.sql(`INSERT INTO accounts SELECT g, 'p' || g FROM generate_series(1001, 1030) g`, [], 'shop')
    // Longer than two walsender timeouts: only status updates keep the connection open.
    await new Promise((r) => setTimeout(r, 5_000))
    assert.equal(await created(), countBefore, 'nothing delivered while paused')
    const during = (await readEnvelopes(join(tmp.dir, 'out'))).filter((e) => Number(e.after?.id) > 1000)
    assert.equal(during.length, 0, 'the file sink got nothing while paused')
    const s = await slot()
    assert.equal(s.active, true, 'the slot is still in use')
    assert.equal(s.active_pid, pidBefore, 'by the same walsender: the connection never dropped')
    assert.equal((await shopStatus()).state, 'paused')

    const resumed = await fetch(`${fullUrl}/api/pipelines/shop/resume`, { method: 'POST', headers: auth })
    assert.equal(resumed.status, 200)
    await waitFor(async () => (await created()) >= countBefore + 30, 30_000, 'the 30 rows after resume')
    assert.equal((await shopStatus()).state, 'streaming')
    const ids = (await readEnvelopes(join(tmp.dir, 'out')))
      .filter((e) => Number(e.after?.id) > 1000)
      .map((e) => Number(e.after!.id))
      .sort((a, b) => a - b)
    assert.deepEqual(
      ids,
      Array.from({ length: 30 }, (_, i) => 1001 + i),
      'every row once, none lost',
    )
  })
})
