/**
 * `npm run demo`: Sluice end to end on a machine without Docker.
 *
 * Starts a throwaway Postgres and a throwaway MariaDB from the local binaries (one is
 * skipped, with the reason, when its binaries are missing), creates a small shop
 * (customers, orders) in each, keeps changing it, and runs `sluice run` as a child process
 * with one pipeline per database into JSON-lines files in a temp dir. Every few seconds it
 * prints how many events each table got; the admin API serves the status page. SIGINT or
 * SIGTERM (or the end of `--duration`) stops everything and removes every temp dir.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { mariadbMissing, startMariadb, type MariaServer } from './lib/mariadb.js'
import { freePort, postgresMissing, startPostgres, type PgServer } from './lib/postgres.js'
import { createShop, mysqlShop, postgresShop, runShopLoad, type ShopDb } from './lib/shop.js'

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const TSX_LOADER = pathToFileURL(join(REPO_ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href
const STOP_TIMEOUT_MS = 15_000

const HELP = `npm run demo [-- OPTIONS]

Runs Sluice against a throwaway Postgres and MariaDB (from local binaries) with a writer
that keeps changing a small shop; change events go to JSON-lines files in a temp dir.
Ctrl-C stops everything and removes the temp dirs.

Options:
  --duration SECONDS     stop by itself after this long (default: run until Ctrl-C)
  --every SECONDS        print the events-per-table summary this often (default 5)
  --interval-ms MS       pause of the writer between changes (default 250)
  -h, --help
`

interface Options {
  readonly durationMs: number | null
  readonly everyMs: number
  readonly intervalMs: number
}

/** A positive number from an option, or exit 2 naming the option. */
function positive(name: string, value: string | undefined, fallback: number | null): number | null {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`demo: --${name} must be a positive number, got '${value}'\n`)
    process.exit(2)
  }
  return n
}

function parseOptions(argv: string[]): Options {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        duration: { type: 'string' },
        every: { type: 'string' },
        'interval-ms': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`demo: ${(err as Error).message}\n\n${HELP}`)
    process.exit(2)
  }
  if (values.help) {
    process.stdout.write(HELP)
    process.exit(0)
  }
  const duration = positive('duration', values.duration, null)
  return {
    durationMs: duration === null ? null : duration * 1000,
    everyMs: positive('every', values.every, 5)! * 1000,
    intervalMs: positive('interval-ms', values['interval-ms'], 250)!,
  }
}

/** 127.0.0.1:8080 when it is free, any free port otherwise. */
async function adminPort(): Promise<number> {
  const free = await new Promise<boolean>((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(8080, '127.0.0.1', () => s.close(() => resolve(true)))
  })
  return free ? 8080 : freePort()
}

/** One database of the demo, ready for Sluice. */
interface DemoSource {
  readonly kind: 'postgres' | 'mariadb'
  readonly pipeline: string
  /** The pipeline's `source:` block, as YAML lines (indented for the pipeline). */
  readonly sourceYaml: string
  /** Environment the sluice process needs (the password). */
  readonly env: Record<string, string>
  readonly shop: ShopDb
  readonly port: number
  stop(): Promise<void>
}

async function postgresSource(): Promise<DemoSource> {
  const server: PgServer = await startPostgres()
  try {
    const password = randomBytes(12).toString('hex')
    await server.sql('CREATE DATABASE shop')
    const shop = postgresShop(server.urlFor('shop'))
    await createShop(shop)
    // Created by the superuser, so the CDC user needs no ownership of the tables.
    await server.sql(
      `CREATE ROLE sluice LOGIN REPLICATION PASSWORD '${password}';
       GRANT SELECT ON customers, orders TO sluice;
       CREATE PUBLICATION sluice_demo_postgres FOR TABLE customers, orders;`,
      [],
      'shop',
    )
    return {
      kind: 'postgres',
      pipeline: 'demo_postgres',
      sourceYaml: [
        '      type: postgres',
        `      url: postgres://sluice:\${PG_PASSWORD}@127.0.0.1:${server.port}/shop`,
        '      tables: [public.customers, public.orders]',
      ].join('\n'),
      env: { PG_PASSWORD: password },
      shop,
      port: server.port,
      async stop() {
        await shop.close().catch(() => {})
        await server.stop()
      },
    }
  } catch (err) {
    await server.stop()
    throw err
  }
}

async function mariadbSource(): Promise<DemoSource> {
  const server: MariaServer = await startMariadb()
  try {
    const password = randomBytes(12).toString('hex')
    await server.sql('CREATE DATABASE shop')
    const shop = mysqlShop(server.urlFor('shop'))
    await createShop(shop)
    await server.sql(`CREATE USER 'sluice'@'%' IDENTIFIED BY '${password}'`)
    await server.sql(`GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO 'sluice'@'%'`)
    return {
      kind: 'mariadb',
      pipeline: 'demo_mariadb',
      sourceYaml: [
        '      type: mysql',
        `      url: mysql://sluice:\${MYSQL_PASSWORD}@127.0.0.1:${server.port}/shop`,
        '      tables: [shop.customers, shop.orders]',
        // The server's own id is 1; the binlog connection needs another.
        '      server_id: 5401',
      ].join('\n'),
      env: { MYSQL_PASSWORD: password },
      shop,
      port: server.port,
      async stop() {
        await shop.close().catch(() => {})
        await server.stop()
      },
    }
  } catch (err) {
    await server.stop()
    throw err
  }
}

/** The configuration the demo runs: one pipeline per database, JSON lines, the admin API. */
function sluiceYaml(sources: readonly DemoSource[], root: string, port: number): string {
  const pipelines = sources.map((s) =>
    [
      `  - name: ${s.pipeline}`,
      '    source:',
      s.sourceYaml,
      '    sinks:',
      '      - type: file',
      `        path: ${JSON.stringify(join(root, 'out', s.pipeline))}`,
      '        format: jsonl',
    ].join('\n'),
  )
  return [
    '# Written by scripts/demo.ts; removed when the demo stops.',
    'pipelines:',
    ...pipelines,
    'state:',
    `  path: ${JSON.stringify(join(root, 'state'))}`,
    'admin:',
    '  host: 127.0.0.1',
    `  port: ${port}`,
    '',
  ].join('\n')
}

/** Counts the events in the JSON-lines files under `out/<pipeline>/<schema.table>/`, reading only what is new. */
class Tally {
  private readonly offsets = new Map<string, { pos: number; rest: string }>()
  /** pipeline → table → op → count */
  readonly counts = new Map<string, Map<string, Map<string, number>>>()

  constructor(private readonly out: string) {}

  scan(): void {
    for (const pipeline of list(this.out)) {
      for (const table of list(join(this.out, pipeline))) {
        for (const file of list(join(this.out, pipeline, table)).filter((f) => f.endsWith('.jsonl')))
          this.read(pipeline, decodeURIComponent(table), join(this.out, pipeline, table, file))
      }
    }
  }

  private read(pipeline: string, table: string, path: string): void {
    const at = this.offsets.get(path) ?? { pos: 0, rest: '' }
    let size: number
    try {
      size = statSync(path).size
    } catch {
      return
    }
    if (size <= at.pos) return
    const buf = Buffer.alloc(size - at.pos)
    const fd = openSync(path, 'r')
    try {
      readSync(fd, buf, 0, buf.length, at.pos)
    } finally {
      closeSync(fd)
    }
    const lines = (at.rest + buf.toString('utf8')).split('\n')
    at.rest = lines.pop() ?? ''
    at.pos = size
    this.offsets.set(path, at)
    const byTable = this.counts.get(pipeline) ?? new Map<string, Map<string, number>>()
    this.counts.set(pipeline, byTable)
    const ops = byTable.get(table) ?? new Map<string, number>()
    byTable.set(table, ops)
    for (const line of lines) {
      if (!line) continue
      const op = (JSON.parse(line) as { op?: string }).op ?? '?'
      ops.set(op, (ops.get(op) ?? 0) + 1)
    }
  }

  /** `demo_postgres: public.customers 12 (r 10, c 1, u 1), ...`, one part per pipeline. */
  summary(pipelines: readonly string[]): string {
    return pipelines
      .map((p) => {
        const tables = [...(this.counts.get(p) ?? new Map<string, Map<string, number>>())].sort(([a], [b]) =>
          a.localeCompare(b),
        )
        if (tables.length === 0) return `${p}: no events yet`
        const parts = tables.map(([t, ops]) => {
          const total = [...ops.values()].reduce((a, b) => a + b, 0)
          const detail = ['r', 'c', 'u', 'd', 't']
            .filter((o) => ops.has(o))
            .map((o) => `${o} ${ops.get(o)}`)
            .join(', ')
          return `${t} ${total} (${detail})`
        })
        return `${p}: ${parts.join(', ')}`
      })
      .join(' | ')
  }
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir).sort()
  } catch {
    return []
  }
}

/** Whether the admin API's /healthz answers 200. */
async function statusUp(url: string): Promise<boolean> {
  try {
    const r = await fetch(new URL('healthz', url), { signal: AbortSignal.timeout(1_000) })
    await r.arrayBuffer()
    return r.ok
  } catch {
    return false
  }
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`)
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2))
  const stop = new AbortController()
  const onSignal = (sig: NodeJS.Signals): void => {
    if (stop.signal.aborted) return
    say(`\nreceived ${sig}: stopping`)
    stop.abort()
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)

  const root = mkdtempSync(join(tmpdir(), 'sluice-demo-'))
  const sources: DemoSource[] = []
  let sluice: ChildProcess | null = null
  let writer: Promise<number> | null = null
  const writerStop = new AbortController()
  let code = 0
  try {
    // Start what can run; say why the rest cannot.
    const starts: Promise<DemoSource>[] = []
    const pgMissing = postgresMissing()
    if (pgMissing) say(`skipping Postgres: ${pgMissing}`)
    else starts.push(postgresSource())
    const mariaMissing = mariadbMissing()
    if (mariaMissing) say(`skipping MariaDB: ${mariaMissing}`)
    else starts.push(mariadbSource())
    if (starts.length === 0) {
      say(
        'demo: neither Postgres nor MariaDB binaries are installed; install postgresql-15 or mariadb-server',
      )
      return 1
    }
    say('starting throwaway database servers ...')
    const started = await Promise.allSettled(starts)
    for (const r of started) if (r.status === 'fulfilled') sources.push(r.value)
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed) throw failed.reason
    if (stop.signal.aborted) return 0

    const port = await adminPort()
    const statusUrl = `http://127.0.0.1:${port}/`
    const config = join(root, 'sluice.yaml')
    writeFileSync(config, sluiceYaml(sources, root, port))
    const logPath = join(root, 'sluice.log')
    const log = openSync(logPath, 'w')
    const child = spawn(
      process.execPath,
      ['--import', TSX_LOADER, join(REPO_ROOT, 'cli', 'main.ts'), 'run', '-c', config],
      {
        cwd: root,
        env: { ...process.env, ...Object.assign({}, ...sources.map((s) => s.env)) },
        stdio: ['ignore', log, log],
      },
    )
    closeSync(log)
    sluice = child
    const exited = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
    let sluiceGone = false
    let stopping = false
    void exited.then(() => {
      sluiceGone = true
      if (!stop.signal.aborted && !stopping) {
        say(`sluice exited unexpectedly; its log (${logPath}) ends with:`)
        say(tail(logPath))
        code = 1
        stop.abort()
      }
    })

    writer = runShopLoad(
      sources.map((s) => s.shop),
      { intervalMs: opts.intervalMs, signal: writerStop.signal },
    )

    const pipelines = sources.map((s) => s.pipeline)
    say('')
    say('Sluice demo running')
    for (const s of sources)
      say(
        `  ${s.kind.padEnd(9)} 127.0.0.1:${s.port}, database shop (customers, orders) -> pipeline ${s.pipeline}`,
      )
    say(
      `  output    ${join(root, 'out')}  (<pipeline>/<schema>.<table>/000001.jsonl, one change event per line)`,
    )
    say(`  status    ${statusUrl}  (also /healthz, /metrics)`)
    say(`  log       ${logPath}`)
    say(`  config    ${config}`)
    say(
      opts.durationMs === null
        ? 'Press Ctrl-C to stop; everything above is removed then.'
        : `Stopping after ${opts.durationMs / 1000} s; everything above is removed then.`,
    )
    say('')

    const tally = new Tally(join(root, 'out'))
    const t0 = Date.now()
    const deadline = opts.durationMs === null ? Infinity : t0 + opts.durationMs
    let statusSeen = false
    while (!stop.signal.aborted && Date.now() < deadline) {
      await sleep(Math.min(opts.everyMs, deadline - Date.now()), stop.signal)
      if (stop.signal.aborted) break
      tally.scan()
      const up = await statusUp(statusUrl)
      statusSeen ||= up
      const secs = Math.round((Date.now() - t0) / 1000)
      say(
        `[${String(secs).padStart(4)}s] ${tally.summary(pipelines)} | status page ${up ? 'up' : 'not answering'}`,
      )
    }

    // Stop the writer first, so the last changes still reach the files before Sluice stops.
    stopping = true
    writerStop.abort()
    const steps = await writer
    writer = null
    if (!sluiceGone) {
      await sleep(1_000)
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      const exitCode = await exited
      clearTimeout(timer)
      if (exitCode !== 0 && code === 0) {
        say(`sluice exited with ${exitCode}; its log ends with:\n${tail(logPath)}`)
        code = 1
      }
    }
    sluice = null
    tally.scan()
    say(`final: ${tally.summary(pipelines)} (writer made ${steps} changes)`)
    say(`status page ${statusSeen ? 'answered' : 'never answered'} at ${statusUrl}`)
    return code
  } catch (err) {
    say(`demo failed: ${(err as Error).message}`)
    return 1
  } finally {
    writerStop.abort()
    if (writer) await writer.catch(() => 0)
    if (sluice && sluice.exitCode === null && sluice.signalCode === null) {
      const child = sluice
      const gone = new Promise<void>((r) => child.once('exit', () => r()))
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS)
      await gone
      clearTimeout(timer)
    }
    await Promise.all(
      sources.map((s) => s.stop().catch((e: Error) => say(`stopping ${s.kind}: ${e.message}`))),
    )
    rmSync(root, { recursive: true, force: true })
    say('stopped; temp dirs removed')
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** The last lines of a log file. */
function tail(path: string, lines = 15): string {
  try {
    const fd = openSync(path, 'r')
    try {
      const size = statSync(path).size
      const buf = Buffer.alloc(Math.min(size, 8_000))
      readSync(fd, buf, 0, buf.length, size - buf.length)
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } finally {
      closeSync(fd)
    }
  } catch {
    return '(no log)'
  }
}

/** Resolves after `ms`, or earlier when `signal` aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (ms <= 0 || signal?.aborted) return resolve()
    const done = (): void => {
      clearTimeout(t)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    const t = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

process.exitCode = await main()
