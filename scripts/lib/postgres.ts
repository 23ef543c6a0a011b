/**
 * Throwaway Postgres servers from the local binaries (Debian `postgresql-15`), shared by the
 * integration tests (test/integration/servers/postgres.ts re-exports this module) and
 * `npm run demo`.
 */
import { spawn, spawnSync } from 'node:child_process'
import {
  accessSync,
  chmodSync,
  chownSync,
  constants,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/** A free loopback TCP port. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address()
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

/**
 * Why startPostgres() cannot run here: the missing binary and the package that has it, or
 * null when the binaries are present.
 */
export function postgresMissing(): string | null {
  for (const name of ['initdb', 'postgres']) {
    try {
      accessSync(join(BIN, name), constants.X_OK)
    } catch {
      return `${join(BIN, name)} not found; install Debian's postgresql-15 or set PG_BIN to its bin directory`
    }
  }
  return null
}

/** A throwaway Postgres server. */
export interface PgServer {
  /** Superuser URL of database `postgres`. */
  readonly url: string
  readonly port: number
  readonly dir: string
  /** URL of another database or user on the same server. */
  urlFor(db: string, user?: string, password?: string): string
  /** Runs SQL as superuser on `db` (default `postgres`). */
  sql<T extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    params?: unknown[],
    db?: string,
  ): Promise<T[]>
  /** Stops the server (fast shutdown) and removes its directory. Safe to call twice. */
  stop(): Promise<void>
  /** Restarts the server with extra `-c` settings (same data). */
  restart(settings?: Record<string, string>): Promise<void>
}

const isRoot = process.getuid?.() === 0
const asPostgres = (args: string[]): [string, string[]] =>
  isRoot ? ['runuser', ['-u', 'postgres', '--', ...args]] : [args[0]!, args.slice(1)]

/**
 * Starts Postgres 15 with wal_level=logical on a free loopback port, in a temp dir
 * (`initdb` as the `postgres` OS user when running as root). Password auth (md5) for TCP
 * connections of users other than `postgres`, trust for `postgres`, so tests can check
 * wrong-password errors.
 */
export async function startPostgres(settings: Record<string, string> = {}): Promise<PgServer> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-pg-'))
  chmodSync(dir, 0o755)
  const data = join(dir, 'data')
  if (isRoot) {
    const pw = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
    const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
    chownSync(dir, Number(pw.stdout.trim()), Number(gid.stdout.trim()))
  }
  const [cmd, args] = asPostgres([
    join(BIN, 'initdb'),
    '-D',
    data,
    '-U',
    'postgres',
    '--auth=trust',
    '-E',
    'UTF8',
    '--locale=C.UTF-8',
    '-N',
  ])
  const init = spawnSync(cmd, args, { encoding: 'utf8' })
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`initdb failed: ${init.stderr}`)
  }
  writeFileSync(
    join(data, 'pg_hba.conf'),
    [
      'local all postgres trust',
      'local all all md5',
      'host all postgres 127.0.0.1/32 trust',
      'host replication postgres 127.0.0.1/32 trust',
      'host all all 127.0.0.1/32 md5',
      'host replication all 127.0.0.1/32 md5',
      '',
    ].join('\n'),
  )
  if (isRoot) spawnSync('chown', ['postgres:postgres', join(data, 'pg_hba.conf')])
  const port = await freePort()
  let current = { ...settings }
  let proc: ReturnType<typeof spawn> | null = null

  const launch = async (): Promise<void> => {
    const base: Record<string, string> = {
      wal_level: 'logical',
      max_replication_slots: '20',
      max_wal_senders: '20',
      listen_addresses: '127.0.0.1',
      port: String(port),
      unix_socket_directories: dir,
      fsync: 'off',
      synchronous_commit: 'off',
      full_page_writes: 'off',
      shared_buffers: '128MB',
      ...current,
    }
    const cargs = Object.entries(base).flatMap(([k, v]) => ['-c', `${k}=${v}`])
    const [c, a] = asPostgres([join(BIN, 'postgres'), '-D', data, ...cargs])
    proc = spawn(c, a, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (stderr.length > 20000) stderr = stderr.slice(-10000)
    })
    const deadline = Date.now() + 30_000
    for (;;) {
      const c2 = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', database: 'postgres' })
      try {
        await c2.connect()
        await c2.end()
        return
      } catch {
        await c2.end().catch(() => {})
        if (proc.exitCode !== null || Date.now() > deadline)
          throw new Error(`postgres did not start: ${stderr}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  }

  const postmasterPid = (): number | null => {
    try {
      return Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]) || null
    } catch {
      return null
    }
  }

  const halt = async (): Promise<void> => {
    const p = proc
    proc = null
    if (!p || p.exitCode !== null) return
    const exited = new Promise<void>((r) => p.once('exit', () => r()))
    // runuser does not forward signals: signal the postmaster itself. SIGINT = fast shutdown.
    const pid = postmasterPid()
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (pid) process.kill(pid, sig)
        else p.kill(sig)
      } catch {
        // already gone
      }
    }
    kill('SIGINT')
    const t = setTimeout(() => kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(t)
  }

  try {
    await launch()
  } catch (err) {
    // A server that came up too slowly must not outlive the failed start.
    await halt()
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const urlFor = (db: string, user = 'postgres', password?: string): string =>
    `postgres://${encodeURIComponent(user)}${password ? ':' + encodeURIComponent(password) : ''}@127.0.0.1:${port}/${db}`
  let stopped = false
  const server: PgServer = {
    url: urlFor('postgres'),
    port,
    dir,
    urlFor,
    async sql(text, params, db = 'postgres') {
      const c = new pg.Client({ connectionString: urlFor(db) })
      await c.connect()
      try {
        return (await c.query(text, params)).rows
      } finally {
        await c.end()
      }
    },
    async stop() {
      if (stopped) return
      stopped = true
      await halt()
      rmSync(dir, { recursive: true, force: true })
    },
    async restart(extra = {}) {
      await halt()
      current = { ...current, ...extra }
      await launch()
    },
  }
  return server
}
