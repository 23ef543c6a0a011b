/**
 * `npm run demo` as a user runs it: throwaway Postgres and MariaDB, a writer, Sluice into
 * JSON-lines files, a summary every few seconds, the status page; and afterwards no temp
 * dir and no server process left behind, whether it stops by `--duration` or by Ctrl-C.
 */
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { test } from 'node:test'
import { REPO_ROOT } from './helpers/cli.js'

interface Event {
  op: string
  source: { connector: string; db: string; schema?: string; table: string }
}

/** A running demo and what it printed. */
interface Demo {
  readonly child: ChildProcess
  readonly tmp: string
  stdout(): string
  readonly exited: Promise<number | null>
}

/** Starts the demo with TMPDIR set to a fresh dir of its own, so leftovers can be found. */
function startDemo(command: string, args: string[], env: Record<string, string> = {}): Demo {
  const tmp = mkdtempSync(join(tmpdir(), 'sluice-demo-test-'))
  // The postgres OS user must reach its data dir below this one.
  chmodSync(tmp, 0o755)
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, CI: 'true', TMPDIR: tmp, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')))
  child.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')))
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)))
  return { child, tmp, stdout: () => out, exited }
}

/** Processes whose command line mentions `dir` (servers and sluice started by the demo). */
function processesUnder(dir: string): string[] {
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if (cmd.includes(dir)) found.push(`${pid}: ${cmd}`)
    } catch {
      // exited meanwhile
    }
  }
  return found
}

/** The events under `<out>/<pipeline>/<schema.table>/*.jsonl`, by pipeline. */
function readOutput(out: string): Map<string, Event[]> {
  const byPipeline = new Map<string, Event[]>()
  const ls = (d: string): string[] => {
    try {
      return readdirSync(d)
    } catch {
      return []
    }
  }
  for (const pipeline of ls(out)) {
    const events: Event[] = []
    for (const table of ls(join(out, pipeline)))
      for (const f of ls(join(out, pipeline, table)).filter((x) => x.endsWith('.jsonl'))) {
        let text: string
        try {
          text = readFileSync(join(out, pipeline, table, f), 'utf8')
        } catch {
          continue
        }
        // The last line may be half written; only complete lines count.
        for (const line of text.split('\n').slice(0, -1)) events.push(JSON.parse(line) as Event)
      }
    byPipeline.set(pipeline, events)
  }
  return byPipeline
}

/** Resolves with `fn()` once it is truthy; rejects after `ms` or when the demo exits first. */
async function until<T>(
  demo: Demo,
  ms: number,
  what: string,
  fn: () => Promise<T> | T,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + ms
  let exited = false
  void demo.exited.then(() => (exited = true))
  for (;;) {
    const v = await fn()
    if (v) return v as NonNullable<T>
    if (exited) throw new Error(`demo exited before ${what}; output:\n${demo.stdout()}`)
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; output:\n${demo.stdout()}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function get(url: string): Promise<{ status: number; type: string; body: string } | null> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(2_000) })
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() }
  } catch {
    return null
  }
}

/** Asserts that nothing of the demo is left: no temp dir, no process. Then removes `tmp`. */
function assertNothingLeft(demo: Demo): void {
  try {
    // tsx keeps its compile cache in $TMPDIR/tsx-<uid>, reused across runs: not the demo's.
    const tsxCache = `tsx-${process.getuid?.() ?? 0}`
    const left = readdirSync(demo.tmp).filter((f) => f !== tsxCache)
    assert.deepEqual(left, [], 'every temp dir of the demo is removed')
    assert.deepEqual(processesUnder(demo.tmp), [], 'no server or sluice process is left')
  } finally {
    rmSync(demo.tmp, { recursive: true, force: true })
  }
}

const ops = (events: Event[]): string[] => [...new Set(events.map((e) => e.op))].sort()
const tables = (events: Event[]): string[] =>
  [...new Set(events.map((e) => `${e.source.schema ?? e.source.db}.${e.source.table}`))].sort()

test('npm run demo -- --duration 20: events from both databases, a live status page, nothing left afterwards', async () => {
  const demo = startDemo('npm', ['run', '--silent', 'demo', '--', '--duration', '20', '--every', '2'])
  try {
    const [, out] = await until(demo, 120_000, 'the output dir', () => /output +(\S+)/.exec(demo.stdout()))
    const [, statusUrl] = /status +(http:\/\/127\.0\.0\.1:\d+\/)/.exec(demo.stdout()) ?? []
    assert.ok(statusUrl, `a status URL is printed:\n${demo.stdout()}`)

    // The status page answers while the demo runs.
    const health = await until(demo, 60_000, 'the status page', async () => {
      const r = await get(`${statusUrl}healthz`)
      return r?.status === 200 ? r : null
    })
    assert.equal(health.status, 200)
    const page = await get(statusUrl!)
    assert.equal(page?.status, 200)
    assert.match(page!.type, /^text\/html/)
    assert.match(page!.body, /demo_postgres/)
    assert.match(page!.body, /demo_mariadb/)
    const metrics = await get(`${statusUrl}metrics`)
    assert.equal(metrics?.status, 200)

    // Both databases' snapshots and live changes land in the files.
    const seen = await until(demo, 60_000, 'snapshot and live events from both databases', () => {
      const byPipeline = readOutput(out!)
      const pgEvents = byPipeline.get('demo_postgres') ?? []
      const myEvents = byPipeline.get('demo_mariadb') ?? []
      const complete = (events: Event[]): boolean =>
        ['c', 'd', 'r', 'u'].every((o) => ops(events).includes(o))
      return complete(pgEvents) && complete(myEvents) ? { pgEvents, myEvents } : null
    })
    assert.ok(
      seen.pgEvents.every((e) => e.source.connector === 'postgresql'),
      'postgres events',
    )
    assert.deepEqual(tables(seen.pgEvents), ['public.customers', 'public.orders'])
    assert.ok(
      seen.myEvents.every((e) => e.source.connector === 'mysql'),
      'mariadb events',
    )
    assert.deepEqual(tables(seen.myEvents), ['shop.customers', 'shop.orders'])

    const code = await Promise.race([
      demo.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 120_000)),
    ])
    assert.equal(code, 0, demo.stdout())
    const text = demo.stdout()
    // A summary every 2 s with the events per table, and a final one.
    const summaries = text.split('\n').filter((l) => /^\[ *\d+s\] demo_postgres: /.test(l))
    assert.ok(summaries.length >= 5, `summaries:\n${text}`)
    assert.match(summaries.at(-1)!, /public\.orders \d+ \(r \d+.*\| demo_mariadb: .*shop\.orders \d+ \(r \d+/)
    assert.match(text, /^final: demo_postgres: public\.customers \d+.* \| demo_mariadb: shop\.customers \d+/m)
    assert.match(text, new RegExp(`^status page answered at ${statusUrl!.replace(/\./g, '\\.')}$`, 'm'))
    assert.match(text, /^stopped; temp dirs removed$/m)
    assertNothingLeft(demo)
  } finally {
    demo.child.kill('SIGKILL')
    rmSync(demo.tmp, { recursive: true, force: true })
  }
})

test('without Postgres binaries the demo says so and runs MariaDB alone; Ctrl-C stops it and removes everything', async () => {
  const tsx = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
  const demo = startDemo(
    process.execPath,
    ['--import', tsx, join(REPO_ROOT, 'scripts', 'demo.ts'), '--every', '1'],
    {
      PG_BIN: '/nonexistent/pg/bin',
    },
  )
  try {
    await until(demo, 120_000, 'the first summary', () => /^\[ *\d+s\] demo_mariadb: /m.test(demo.stdout()))
    const text = demo.stdout()
    assert.match(
      text,
      /^skipping Postgres: \/nonexistent\/pg\/bin\/initdb not found; install Debian's postgresql-15 or set PG_BIN/m,
    )
    assert.doesNotMatch(text, /demo_postgres/)
    const [, out] = /output +(\S+)/.exec(text)!
    await until(demo, 60_000, 'MariaDB events', () => (readOutput(out!).get('demo_mariadb') ?? []).length > 0)
    assert.deepEqual([...readOutput(out!).keys()], ['demo_mariadb'])

    demo.child.kill('SIGINT')
    const code = await Promise.race([
      demo.exited,
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000)),
    ])
    assert.equal(code, 0, demo.stdout())
    assert.match(demo.stdout(), /^received SIGINT: stopping$/m)
    assert.match(demo.stdout(), /^stopped; temp dirs removed$/m)
    assertNothingLeft(demo)
  } finally {
    demo.child.kill('SIGKILL')
    rmSync(demo.tmp, { recursive: true, force: true })
  }
})
