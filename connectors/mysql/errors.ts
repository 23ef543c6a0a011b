import { PreconditionError, SluiceError, SourceError } from '../../pipeline/errors.js'

/**
 * Server error numbers (`errno` of an ERR packet) that change how we react. Names follow
 * the servers' `mysqld_error.h`.
 */
export const ServerErrno = {
  /** Unknown database in the URL. */
  BAD_DB_ERROR: 1049,
  /** Access denied to a database. */
  DBACCESS_DENIED_ERROR: 1044,
  /** Wrong user or password (or host not allowed). */
  ACCESS_DENIED_ERROR: 1045,
  /** Command or table/column access denied. */
  TABLEACCESS_DENIED_ERROR: 1142,
  COLUMNACCESS_DENIED_ERROR: 1143,
  /** A privilege such as REPLICATION SLAVE is missing. */
  SPECIFIC_ACCESS_DENIED_ERROR: 1227,
  /** The server is shutting down. */
  SERVER_SHUTDOWN: 1053,
  /** Connection killed (KILL, or a shutdown). */
  CONNECTION_KILLED_MYSQL: 1317,
  /** MariaDB: connection was killed. */
  CONNECTION_KILLED: 1927,
  /** Network read/write errors and timeouts reported by the server. */
  NET_READ_ERROR_FROM_PIPE: 1154,
  NET_FCNTL_ERROR: 1155,
  NET_PACKETS_OUT_OF_ORDER: 1156,
  NET_UNCOMPRESS_ERROR: 1157,
  NET_READ_ERROR: 1158,
  NET_READ_INTERRUPTED: 1159,
  NET_ERROR_ON_WRITE: 1160,
  NET_WRITE_INTERRUPTED: 1161,
  /**
   * ER_MASTER_FATAL_ERROR_READING_BINLOG: the dump cannot be served from the requested
   * position. MariaDB uses it for a purged or unknown file, a position past the end, and a
   * GTID that is not (or no longer) in the binlog. MySQL also uses it when another replica
   * with the same server_id/server_uuid connects (MariaDB sends 4052 for that).
   */
  MASTER_FATAL_ERROR_READING_BINLOG: 1236,
  /** MariaDB: a replica with the same server_id connected, so this dump was stopped. */
  SLAVE_SAME_ID: 4052,
  /** Client-side: lost connection during query; server has gone away. */
  CR_SERVER_LOST: 2013,
  CR_SERVER_GONE_ERROR: 2006,
} as const

const LOST = new Set<number>([
  ServerErrno.SERVER_SHUTDOWN,
  ServerErrno.CONNECTION_KILLED_MYSQL,
  ServerErrno.CONNECTION_KILLED,
  ServerErrno.NET_READ_ERROR_FROM_PIPE,
  ServerErrno.NET_FCNTL_ERROR,
  ServerErrno.NET_PACKETS_OUT_OF_ORDER,
  ServerErrno.NET_UNCOMPRESS_ERROR,
  ServerErrno.NET_READ_ERROR,
  ServerErrno.NET_READ_INTERRUPTED,
  ServerErrno.NET_ERROR_ON_WRITE,
  ServerErrno.NET_WRITE_INTERRUPTED,
  ServerErrno.CR_SERVER_LOST,
  ServerErrno.CR_SERVER_GONE_ERROR,
])

/** Socket-level failures while connecting (Node error codes): the server is not reachable. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
/** Socket-level failures on an established connection (Node and mysql2 codes). */
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'PROTOCOL_CONNECTION_LOST', 'ECONNABORTED'])

/**
 * Converts a mysql2 or socket error into a SluiceError, once, at the boundary. Server
 * errors are classified by their errno only (never by message text); socket errors by
 * their Node code. Auth and privilege failures are permanent PreconditionErrors; a
 * dropped connection or server shutdown is retriable (resume from the last position); an
 * unavailable binlog position or a duplicate server_id is permanent. `where` names the
 * object (the redacted URL, a table) for the message.
 */
export function classifyMysqlError(err: unknown, where: string): SluiceError {
  if (err instanceof SluiceError) return err
  const e = (err ?? {}) as { errno?: unknown; code?: unknown; message?: unknown }
  const errno = typeof e.errno === 'number' && e.errno > 0 ? e.errno : 0
  const code = typeof e.code === 'string' ? e.code : ''
  const msg = typeof e.message === 'string' ? e.message : String(err)
  const tag = errno ? ` (errno ${errno})` : code ? ` (${code})` : ''
  switch (errno) {
    case ServerErrno.ACCESS_DENIED_ERROR:
      return new PreconditionError(
        'MYSQL_AUTH_FAILED',
        `authentication failed connecting to ${where}${tag}: check the user and password in source.url, and that the user may connect from this host`,
        { cause: err },
      )
    case ServerErrno.BAD_DB_ERROR:
      return new PreconditionError(
        'MYSQL_DATABASE_NOT_FOUND',
        `database in ${where} does not exist${tag}: check source.url`,
        { cause: err },
      )
    case ServerErrno.DBACCESS_DENIED_ERROR:
    case ServerErrno.TABLEACCESS_DENIED_ERROR:
    case ServerErrno.COLUMNACCESS_DENIED_ERROR:
    case ServerErrno.SPECIFIC_ACCESS_DENIED_ERROR:
      return new PreconditionError('MYSQL_PERMISSION_DENIED', `permission denied on ${where}${tag}: ${msg}`, {
        cause: err,
      })
    case ServerErrno.MASTER_FATAL_ERROR_READING_BINLOG:
      return new SourceError(
        'MYSQL_BINLOG_PURGED',
        `the server cannot stream the binlog from the requested position on ${where}${tag}: ${msg}. The binlog files (or GTIDs) holding it were purged or never existed; raise binlog_expire_logs_seconds / expire_logs_days, and re-snapshot: set source.on_binlog_purged: snapshot, or delete the pipeline state`,
        { cause: err, retriable: false },
      )
    case ServerErrno.SLAVE_SAME_ID:
      return new SourceError(
        'MYSQL_DUPLICATE_SERVER_ID',
        `another replica connected to ${where} with the same server_id, so the server stopped this binlog stream${tag}: give every pipeline and replica its own source.server_id`,
        { cause: err, retriable: false },
      )
  }
  if (LOST.has(errno) || DROPPED.has(code)) {
    return new SourceError('MYSQL_CONNECTION_LOST', `connection to ${where} lost${tag}: ${msg}`, {
      cause: err,
      retriable: true,
    })
  }
  if (UNREACHABLE.has(code)) {
    return new SourceError(
      'MYSQL_CONNECTION_FAILED',
      `cannot reach ${where}${tag}: is the server running and reachable?`,
      { cause: err, retriable: code !== 'ENOTFOUND' },
    )
  }
  return new SourceError('MYSQL_ERROR', `mysql error on ${where}${tag}: ${msg}`, { cause: err })
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}
