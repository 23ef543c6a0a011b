/**
 * Throwaway MariaDB servers from the local binaries (Debian `mariadb-server`), shared by the
 * integration tests (test/integration/servers/mariadb.ts re-exports this module) and
 * `npm run demo`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, isAbsolute, join } from 'node:path'
import mysql from 'mysql2/promise'
import { freePort } from './postgres.js'

const INSTALL_DB = process.env.MARIADB_INSTALL_DB ?? 'mariadb-install-db'
const MARIADBD = process.env.MARIADBD ?? 'mariadbd'
const START_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 15_000

/** Whether `cmd` (a path, or a name looked up in PATH, /usr/sbin and /usr/bin) is executable. */
function executable(cmd: string): boolean {
  const dirs = isAbsolute(cmd)
    ? ['']
    : [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/bin']
  return dirs.some((d) => {
    try {
      accessSync(d ? join(d, cmd) : cmd, constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

/**
 * Why startMariadb() cannot run here: the missing binary and the package that has it, or
 * null when the binaries are present.
 */
export function mariadbMissing(): string | null {
  for (const cmd of [INSTALL_DB, MARIADBD]) {
    if (!executable(cmd))
      return `${cmd} not found; install Debian's mariadb-server or set MARIADB_INSTALL_DB and MARIADBD`
  }
  return null
}

/** A throwaway MariaDB server. */
export interface MariaServer {
  /** Root URL (empty password over TCP), no default database. */
  readonly url: string
  readonly port: number
  readonly dir: string
  /** URL for another user or database on the same server (`db` '' for none). */
  urlFor(db?: string, user?: string, password?: string): string
  /** Runs one statement as root (on `db` when given); result rows, or [] for non-queries. */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[], db?: string): Promise<T[]>
  /** Stops the server (SIGTERM, SIGKILL after 15 s) and removes its directory. Safe to call twice. */
  stop(): Promise<void>
  /** Stops and starts the server on the same port and data, with extra or changed options (null removes one). */
  restart(options?: Record<string, string | null>): Promise<void>
  /** The running mariadbd's pid (for crash tests), or null when stopped. */
  readonly pid: number | null
  /** Milliseconds startMariadb() took, mariadb-install-db included. */
  readonly startMs: number
}

const isRoot = process.getuid?.() === 0
const flag = (k: string): string => k.replace(/_/g, '-')

/**
 * Starts MariaDB with a row-based binlog (ROW, FULL image, FULL metadata, server_id 1,
 * CRC32 checksums) on a free loopback port, data in a temp dir. `options` are mariadbd
 * options (`binlog_format: 'STATEMENT'`, `'skip-log-bin': ''` for a flag) added to or
 * replacing the defaults; later options win, as on the mariadbd command line. Root has an
 * empty password and `normal` authentication, so mysql2 can connect over TCP.
 */
export async function startMariadb(options: Record<string, string> = {}): Promise<MariaServer> {
  const t0 = Date.now()
  const dir = mkdtempSync(join(tmpdir(), 'sluice-maria-'))
  const data = join(dir, 'data')
  const install = spawnSync(
    INSTALL_DB,
    [
      '--no-defaults',
      `--datadir=${data}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
      ...(isRoot ? ['--user=root'] : []),
    ],
    { encoding: 'utf8' },
  )
  if (install.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`)
  }
  const port = await freePort()
  const current: Record<string, string> = {}
  for (const [k, v] of Object.entries(options)) current[flag(k)] = v
  let proc: ChildProcess | null = null

  const launch = async (): Promise<void> => {
    const base: Record<string, string> = {
      datadir: data,
      port: String(port),
      'bind-address': '127.0.0.1',
      socket: join(dir, 's.sock'),
      'pid-file': join(dir, 'pid'),
      'log-bin': join(dir, 'binlog'),
      'binlog-format': 'ROW',
      'binlog-row-image': 'FULL',
      'binlog-row-metadata': 'FULL',
      'server-id': '1',
      'innodb-buffer-pool-size': '32M',
      'innodb-log-file-size': '16M',
      'innodb-flush-log-at-trx-commit': '2',
      'sync-binlog': '0',
      'max-allowed-packet': '64M',
      'skip-name-resolve': '',
      ...current,
    }
    const args = [
      '--no-defaults',
      ...Object.entries(base).map(([k, v]) => (v === '' ? `--${k}` : `--${k}=${v}`)),
      ...(isRoot ? ['--user=root'] : []),
    ]
    const p = spawn(MARIADBD, args, { stdio: ['ignore', 'ignore', 'pipe'] })
    proc = p
    let stderr = ''
    p.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString()
      if (stderr.length > 20000) stderr = stderr.slice(-10000)
    })
    const deadline = Date.now() + START_TIMEOUT_MS
    for (;;) {
      try {
        const c = await mysql.createConnection({ host: '127.0.0.1', port, user: 'root' })
        await c.end()
        return
      } catch {
        if (p.exitCode !== null || Date.now() > deadline) {
          p.kill('SIGKILL')
          throw new Error(`mariadbd did not start: ${stderr}`)
        }
        await new Promise((r) => setTimeout(r, 50))
      }
    }
  }

  const halt = async (): Promise<void> => {
    const p = proc
    proc = null
    if (!p || p.exitCode !== null || p.signalCode !== null) return
    const exited = new Promise<void>((r) => p.once('exit', () => r()))
    let pid = p.pid
    try {
      pid = Number(readFileSync(join(dir, 'pid'), 'utf8').trim()) || pid
    } catch {
      // no pid file yet: signal the child we spawned
    }
    const kill = (sig: NodeJS.Signals): void => {
      try {
        if (pid) process.kill(pid, sig)
      } catch {
        // already gone
      }
    }
    kill('SIGTERM')
    const t = setTimeout(() => kill('SIGKILL'), STOP_TIMEOUT_MS)
    await exited
    clearTimeout(t)
  }

  try {
    await launch()
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  const startMs = Date.now() - t0

  const urlFor = (db = '', user = 'root', password?: string): string =>
    `mysql://${encodeURIComponent(user)}${password ? ':' + encodeURIComponent(password) : ''}@127.0.0.1:${port}/${db}`
  let stopped = false
  const server: MariaServer = {
    url: urlFor(),
    port,
    dir,
    urlFor,
    startMs,
    get pid() {
      return proc?.pid ?? null
    },
    async sql<T>(text: string, params: unknown[] = [], db?: string): Promise<T[]> {
      const c = await mysql.createConnection({
        host: '127.0.0.1',
        port,
        user: 'root',
        ...(db ? { database: db } : {}),
      })
      try {
        const [rows] = await c.query(text, params)
        return Array.isArray(rows) ? (rows as T[]) : []
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
      for (const [k, v] of Object.entries(extra)) {
        if (v === null) delete current[flag(k)]
        else current[flag(k)] = v
      }
      await launch()
    },
  }
  return server
}
