/**
 * The admin API as a user meets it: `sluice run` with an `admin` block (a child process),
 * `sluice status`, the status page in a real headless Chromium (playwright-core with
 * Debian's /usr/bin/chromium) over a real Postgres → file pipeline, and the snapshot
 * progress bars on a terminal. Leaves a screenshot in test/artifacts/status-page.png
 * (copied to docs/status-page.png for the README).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { copyFileSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { chromium, type Browser } from 'playwright-core'
import type { StatusJson } from '../../admin/status.js'
import { exitWithin, REPO_ROOT, runCli, spawnCli, type CliProcess } from './helpers/cli.js'
import { tempDir, waitFor } from './helpers/pipeline.js'
import { freePort, startPostgres, type PgServer } from './servers/postgres.js'

const CANARY = 'canary-Page-Pw-77aa'
const TOKEN = 'page-token-4d8e2c6a0b1f3e57'
/** Chromium as root on these machines: no sandbox, and no background calls to Google. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
/** What the page-side callbacks touch (this project compiles without the DOM library). */
interface BrowserGlobal {
  document: { querySelector(selector: string): { textContent: string | null } | null }
  marker?: number
}
const ARTIFACT = join(REPO_ROOT, 'test', 'artifacts', 'status-page.png')

let pg: PgServer
let tmp: ReturnType<typeof tempDir>
let sluice: CliProcess | null = null
let browser: Browser | null = null
let base: string
const env = { PG_PASSWORD: CANARY, SLUICE_ADMIN_TOKEN: TOKEN }

const yaml = (port: number, snapshot = 'initial', tables = 'public.accounts'): string => `pipelines:
  - name: shop
    source:
      type: postgres
      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:${pg.port}/shop
      tables: [${tables}]
      snapshot: ${snapshot}
    sinks:
      - type: file
        path: ./out
        format: avro
state:
  type: file
  path: ./state
admin:
  port: ${port}
  token: \${SLUICE_ADMIN_TOKEN}
log:
  level: info
`

function assertNoSecret(text: string, where: string): void {
  for (const s of [CANARY, encodeURIComponent(CANARY), TOKEN])
    assert.ok(!text.includes(s), `${where} contains a secret:\n${text.slice(0, 3000)}`)
}

const status = async (): Promise<StatusJson['pipelines'][number]> => {
  const r = await fetch(`${base}/api/pipelines`, { headers: { authorization: `Bearer ${TOKEN}` } })
  return ((await r.json()) as StatusJson).pipelines[0]!
}

before(async () => {
  pg = await startPostgres()
  await pg.sql('CREATE DATABASE shop')
  await pg.sql(
    `CREATE ROLE sluice LOGIN REPLICATION PASSWORD '${CANARY}';
     CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
     INSERT INTO accounts SELECT g, 'n' || g FROM generate_series(1, 200) g;
     ALTER TABLE accounts OWNER TO sluice;
     CREATE TABLE big (id int PRIMARY KEY, pad text NOT NULL);
     INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 30000) g;
     ANALYZE big;
     ALTER TABLE big OWNER TO sluice;
     GRANT CREATE ON DATABASE shop TO sluice;`,
    [],
    'shop',
  )
  tmp = tempDir()
  const port = await freePort()
  writeFileSync(join(tmp.dir, 'sluice.yaml'), yaml(port))
  sluice = spawnCli(['run', '-c', 'sluice.yaml'], { cwd: tmp.dir, env })
  await sluice.waitForOutput('admin API listening', 60_000)
  base = `http://127.0.0.1:${port}`
  await waitFor(
    async () => {
      const s = await status()
      return s.state === 'streaming' && s.events.delivered === 200 && s.position !== null
    },
    60_000,
    'the pipeline to stream',
  )
})

after(async () => {
  await browser?.close().catch(() => {})
  sluice?.kill('SIGKILL')
  await pg?.stop()
  tmp?.cleanup()
})

describe('admin API from the command line and the browser', () => {
  test('sluice run logs the bound admin address (without the token)', () => {
    const line = sluice!
      .stderr()
      .split('\n')
      .find((l) => l.includes('admin API listening'))!
    assert.equal((JSON.parse(line) as { address: string }).address, base)
  })

  test('/healthz answers 200 without the token; the rest wants it', async () => {
    assert.equal((await fetch(`${base}/healthz`)).status, 200)
    assert.equal((await fetch(`${base}/api/pipelines`)).status, 401)
    const page = await fetch(`${base}/`, { headers: { authorization: `Bearer ${TOKEN}` } })
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.match(await page.text(), /^<!doctype html>/)
  })

  test('sluice status prints the pipelines table, and says what is missing without the token', async () => {
    const denied = await runCli(['status', '--url', base], { cwd: tmp.dir, env: { SLUICE_ADMIN_TOKEN: '' } })
    assert.equal(denied.code, 1)
    assert.match(
      denied.stderr,
      /refused the request \(401\): pass the admin token with --token or SLUICE_ADMIN_TOKEN/,
    )

    const byFlag = await runCli(['status', '--url', base, '--token', TOKEN], {
      cwd: tmp.dir,
      env: { SLUICE_ADMIN_TOKEN: '' },
    })
    assert.equal(byFlag.code, 0, byFlag.stderr)
    assert.match(
      byFlag.stdout,
      /^PIPELINE\s+STATE\s+POSITION\s+LAG\s+EVENTS\s+EVENTS\/S\s+SNAPSHOT\s+ERROR$/m,
    )
    assert.match(byFlag.stdout, /^shop\s+streaming\s+\S+\s+.+\s+200\s+[\d.]+\s+done \(1 tables\)\s+-$/m)

    // From the config file: address from admin.port, token from the same ${ENV} as `run`.
    const byConfig = await runCli(['status', '-c', 'sluice.yaml'], { cwd: tmp.dir, env })
    assert.equal(byConfig.code, 0, byConfig.stderr)
    assert.match(byConfig.stdout, /^shop\s+streaming\s/m)
    assertNoSecret(byConfig.stdout + byConfig.stderr, 'sluice status output')

    const closed = await freePort()
    const unreachable = await runCli(['status', '--url', `http://127.0.0.1:${closed}`], { cwd: tmp.dir })
    assert.equal(unreachable.code, 1)
    assert.match(
      unreachable.stderr,
      /cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/,
    )
  })

  test('the status page in Chromium shows the pipeline streaming and counts rising after inserts', async () => {
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    const context = await browser.newContext({
      httpCredentials: { username: 'ops', password: TOKEN },
      viewport: { width: 1000, height: 760 },
    })
    const page = await context.newPage()
    const response = await page.goto(`${base}/`)
    assert.equal(response?.status(), 200)
    const section = page.locator('section[data-pipeline="shop"]')
    assert.equal(await section.locator('[data-field="state"]').textContent(), 'streaming')
    assert.equal(await section.locator('[data-field="events-delivered"]').textContent(), '200')
    assert.match(
      (await section.locator('tr[data-table="public.accounts"]').textContent()) ?? '',
      /100%.*200 \/ 200 rows \(done\)/,
    )
    // Marks this document: the count must rise by the page's own refresh, not a reload.
    await page.evaluate(() => ((globalThis as unknown as BrowserGlobal).marker = 42))

    for (let burst = 0; burst < 3; burst++) {
      const from = 1000 + burst * 100
      await pg.sql(
        `INSERT INTO accounts SELECT g, 'b' || g FROM generate_series(${from + 1}, ${from + 10 + burst * 15}) g`,
        [],
        'shop',
      )
      if (burst < 2) await new Promise((r) => setTimeout(r, 5_500))
    }
    // 10 + 25 + 40 rows.
    // A function, not a string: the page's CSP forbids eval, and the predicate runs in the page.
    await page.waitForFunction(
      () =>
        (globalThis as unknown as BrowserGlobal).document.querySelector(
          'section[data-pipeline="shop"] [data-field="events-delivered"]',
        )?.textContent === '275',
      undefined,
      { timeout: 30_000 },
    )
    assert.equal(await page.evaluate(() => (globalThis as unknown as BrowserGlobal).marker), 42, 'no reload')
    assert.equal(await section.locator('[data-field="state"]').textContent(), 'streaming')
    assert.match((await section.locator('[data-field="position"]').textContent()) ?? '', /^[0-9A-F]{16}\./)
    const points = await section.locator('svg.spark polyline').getAttribute('points')
    assert.ok(
      points && new Set(points.split(' ').map((p) => p.split(',')[1])).size > 1,
      'the sparkline moved',
    )
    assertNoSecret(await page.content(), 'the status page')

    mkdirSync(join(REPO_ROOT, 'test', 'artifacts'), { recursive: true })
    await page.screenshot({ path: ARTIFACT, fullPage: true })
    assert.ok(statSync(ARTIFACT).size > 10_000, 'a real screenshot')
    copyFileSync(ARTIFACT, join(REPO_ROOT, 'docs', 'status-page.png'))
    await context.close()
  })

  test('SIGTERM stops run and the admin server; no secret was logged', async () => {
    sluice!.kill('SIGTERM')
    const exit = await exitWithin(sluice!, 10_000)
    assert.equal(exit.code, 0, sluice!.stderr().slice(-2000))
    assertNoSecret(sluice!.stderr() + sluice!.stdout(), 'sluice run output')
    await assert.rejects(fetch(`${base}/healthz`), 'the port is closed')
  })

  test('snapshot progress bars are drawn on a terminal and not in plain logs', async () => {
    const dir = tempDir()
    try {
      writeFileSync(
        join(dir.dir, 'sluice.yaml'),
        yaml(0, 'initial_only', 'public.big').replace(/admin:\n.*\n.*\n/, ''),
      )
      const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
      const cmd = `${process.execPath} --import ${tsx} ${join(REPO_ROOT, 'cli', 'main.ts')} run -c sluice.yaml`
      // script(1) runs the command on a pseudo-terminal, as a user's shell would.
      const child = spawn('script', ['-qefc', cmd, '/dev/null'], {
        cwd: dir.dir,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      child.stdout.on('data', (d: Buffer) => (out += d.toString()))
      const code = await new Promise<number | null>((r) => child.once('close', (c) => r(c)))
      assert.equal(code, 0, out.slice(-2000))
      assert.ok(out.includes('\r\x1b[2Kshop public.big ['), 'each bar redraws its line in place')
      assert.match(out, /shop public\.big \[#{24}\] 100% 30000(\/\d+)? rows done/)
      const partial = out.match(/shop public\.big \[#*-+\]\s+\d+% \d+\/\d+ rows/g) ?? []
      assert.ok(
        partial.length >= 1,
        `intermediate progress was drawn:\n${JSON.stringify(out.slice(0, 1500))}`,
      )

      const plain = await runCli(['run', '-c', 'sluice.yaml'], { cwd: dir.dir, env })
      assert.equal(plain.code, 0, plain.stderr.slice(-2000))
      assert.ok(!plain.stderr.includes('[#'), 'no progress bar when stderr is not a terminal')
    } finally {
      dir.cleanup()
    }
  })
})
