import mysql from 'mysql2/promise'
import { PreconditionError } from '../../pipeline/errors.js'
import type { MysqlConfig } from './config.js'
import { classifyMysqlError, redactUrl, ServerErrno } from './errors.js'
import type { ChecksumAlgorithm, Flavour } from './replication.js'

/** A column as information_schema.COLUMNS describes it. */
export interface MysqlColumn {
  readonly name: string
  /** 1-based place in the table (binlog row images are in this order). */
  readonly position: number
  /** DATA_TYPE (`int`, `varchar`, `longtext`...). */
  readonly dataType: string
  /** COLUMN_TYPE, with length, sign and enum values (`int(10) unsigned`, `enum('a','b')`). */
  readonly columnType: string
  readonly nullable: boolean
}

/** A captured table with what the source needs to know about it. */
export interface MysqlTableMeta {
  /** The database (MySQL calls it a schema). */
  readonly schema: string
  readonly name: string
  readonly columns: readonly MysqlColumn[]
  /** Primary-key columns in key order (empty when there is none). */
  readonly primaryKey: readonly string[]
  /** The key Sluice uses: the primary key, or `source.key_columns` for a table without one. */
  readonly keyColumns: readonly string[]
}

/** Something that works but loses fidelity; the source logs it once. */
export interface PreflightWarning {
  readonly code: string
  readonly message: string
}

/** What preflight learned, reused by the source. */
export interface MysqlPreflightResult {
  readonly flavour: Flavour
  /** VERSION(), e.g. `10.11.19-MariaDB-0+deb12u1-log`. */
  readonly version: string
  readonly checksum: ChecksumAlgorithm
  /** The server's own @@server_id. */
  readonly serverId: number
  /** `binlog_row_metadata` (`FULL`, `MINIMAL`, `NONE`), or null on servers without it. */
  readonly rowMetadata: string | null
  /**
   * GTIDs: `mariadb` (always on; `gtidPosition` is @@gtid_binlog_pos), or MySQL's
   * @@gtid_mode lower-cased (`on`, `off`, `on_permissive`, `off_permissive`; `gtidPosition`
   * is @@gtid_executed).
   */
  readonly gtidMode: string
  readonly gtidPosition: string
  /** CURRENT_USER(), `user@host`. */
  readonly user: string
  readonly tables: readonly MysqlTableMeta[]
  readonly warnings: readonly PreflightWarning[]
}

const SYSTEM_SCHEMAS = ['mysql', 'information_schema', 'performance_schema', 'sys']

/** Quotes an identifier for SQL. */
export const ident = (s: string): string => '`' + s.replace(/`/g, '``') + '`'

/** `db.table` as Sluice prints it. */
export const qualified = (t: { schema: string; name: string }): string => `${t.schema}.${t.name}`

function globToRegExp(glob: string): RegExp {
  let re = '^'
  for (const ch of glob) {
    if (ch === '*') re += '.*'
    else if (ch === '?') re += '.'
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&')
  }
  return new RegExp(re + '$')
}

/**
 * Global privileges granted on `*.*` to the current user (and the roles SHOW GRANTS
 * expands), upper-cased: `GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO ...`.
 * `ALL PRIVILEGES` / `ALL` come back as `ALL PRIVILEGES`.
 */
export function globalPrivileges(grantLines: readonly string[]): Set<string> {
  const out = new Set<string>()
  for (const line of grantLines) {
    const m = /^GRANT\s+(.+?)\s+ON\s+\*\.\*\s+TO\s/i.exec(line.trim())
    if (!m) continue
    for (const p of m[1]!.split(',')) {
      const priv = p.trim().toUpperCase().replace(/\s+/g, ' ')
      out.add(priv === 'ALL' ? 'ALL PRIVILEGES' : priv)
    }
  }
  return out
}

/**
 * Checks every prerequisite of a MySQL/MariaDB source without changing anything: the
 * connection (credentials), a row-based binlog with full row images, the server_id, the
 * replication privileges, and the tables (exist, readable, have a key). Each failure is one
 * PreconditionError naming the object and the fix; `binlog_row_metadata` other than FULL is
 * only a warning. Opens and closes its own connection.
 */
export async function preflight(cfg: MysqlConfig): Promise<MysqlPreflightResult> {
  const where = redactUrl(cfg.url)
  let conn: mysql.Connection
  try {
    conn = await mysql.createConnection({ uri: cfg.url.replace(/^mariadb:/, 'mysql:') })
  } catch (err) {
    throw classifyMysqlError(err, where)
  }
  try {
    return await check(conn, cfg, where)
  } catch (err) {
    throw classifyMysqlError(err, where)
  } finally {
    await conn.end().catch(() => {})
  }
}

async function check(conn: mysql.Connection, cfg: MysqlConfig, where: string): Promise<MysqlPreflightResult> {
  const rows = async <T>(sql: string, params: unknown[] = []): Promise<T[]> =>
    (await conn.query(sql, params))[0] as T[]
  const warnings: PreflightWarning[] = []

  const [who] = await rows<{ version: string; user: string; db: string | null }>(
    'SELECT VERSION() AS version, CURRENT_USER() AS user, DATABASE() AS db',
  )
  const version = who!.version
  const user = who!.user
  const flavour: Flavour = /mariadb/i.test(version) ? 'mariadb' : 'mysql'
  const vars = new Map(
    (
      await rows<{ Variable_name: string; Value: string }>(
        `SHOW GLOBAL VARIABLES WHERE Variable_name IN
           ('log_bin', 'binlog_format', 'binlog_row_image', 'binlog_row_metadata', 'binlog_checksum',
            'server_id', 'gtid_mode', 'gtid_executed', 'gtid_binlog_pos')`,
      )
    ).map((r) => [r.Variable_name.toLowerCase(), String(r.Value)]),
  )
  const v = (name: string): string => vars.get(name) ?? ''

  if (!['ON', '1'].includes(v('log_bin').toUpperCase())) {
    throw new PreconditionError(
      'MYSQL_BINLOG_DISABLED',
      `binary logging is off on ${where} (log_bin=${v('log_bin') || 'OFF'}): start the server with log_bin (and server_id) in my.cnf`,
    )
  }
  if (v('binlog_format').toUpperCase() !== 'ROW') {
    throw new PreconditionError(
      'MYSQL_BINLOG_FORMAT',
      `binlog_format is '${v('binlog_format')}' on ${where} but change data capture needs ROW: set binlog_format = ROW in my.cnf (or SET GLOBAL binlog_format = 'ROW'; sessions already open keep the old format until they reconnect)`,
    )
  }
  if (v('binlog_row_image').toUpperCase() !== 'FULL') {
    throw new PreconditionError(
      'MYSQL_BINLOG_ROW_IMAGE',
      `binlog_row_image is '${v('binlog_row_image')}' on ${where} but complete before/after images need FULL: set binlog_row_image = FULL in my.cnf (or SET GLOBAL binlog_row_image = 'FULL')`,
    )
  }
  const rowMetadata = vars.has('binlog_row_metadata') ? v('binlog_row_metadata').toUpperCase() : null
  if (rowMetadata !== 'FULL') {
    const needs = flavour === 'mariadb' ? 'MariaDB 10.5' : 'MySQL 8.0.1'
    warnings.push({
      code: 'MYSQL_BINLOG_ROW_METADATA',
      message:
        rowMetadata === null
          ? `this server has no binlog_row_metadata (it needs ${needs} or later): column names and keys come from information_schema, which is only right while no DDL runs between a change and its decoding`
          : `binlog_row_metadata is '${rowMetadata}' on ${where}: column names and keys come from information_schema, which is only right while no DDL runs between a change and its decoding; set binlog_row_metadata = FULL`,
    })
  }
  const serverId = Number(v('server_id'))
  if (serverId === cfg.server_id) {
    throw new PreconditionError(
      'MYSQL_SERVER_ID_CONFLICT',
      `source.server_id ${cfg.server_id} is the server's own server_id on ${where}: choose another (unique among its replicas and pipelines)`,
    )
  }

  const grants = (await rows<Record<string, string>>('SHOW GRANTS')).map((r) => String(Object.values(r)[0]))
  const privs = globalPrivileges(grants)
  if (!privs.has('REPLICATION SLAVE') && !privs.has('ALL PRIVILEGES')) {
    throw new PreconditionError(
      'MYSQL_NO_REPLICATION_PRIVILEGE',
      `user ${user} may not read the binlog on ${where}: run GRANT REPLICATION SLAVE ON *.* TO ${quoteUser(user)}`,
    )
  }
  // REPLICATION CLIENT (MariaDB 10.5+: BINLOG MONITOR) is what SHOW BINARY LOGS and SHOW
  // MASTER STATUS need; probing beats parsing the grant names, which differ by version.
  try {
    await rows('SHOW BINARY LOGS')
  } catch (err) {
    if ((err as { errno?: number }).errno !== ServerErrno.SPECIFIC_ACCESS_DENIED_ERROR) throw err
    throw new PreconditionError(
      'MYSQL_NO_REPLICATION_CLIENT',
      `user ${user} may not read binlog positions on ${where} (SHOW BINARY LOGS is denied): run GRANT REPLICATION CLIENT ON *.* TO ${quoteUser(user)}${flavour === 'mariadb' ? ' (MariaDB 10.5+ shows it as BINLOG MONITOR)' : ''}`,
      { cause: err },
    )
  }

  const tables = await expandTables(rows, cfg.tables, who!.db, where)
  const metas: MysqlTableMeta[] = []
  for (const t of tables) {
    try {
      await rows(`SELECT 1 FROM ${ident(t.schema)}.${ident(t.name)} LIMIT 0`)
    } catch (err) {
      const errno = (err as { errno?: number }).errno
      if (errno !== ServerErrno.TABLEACCESS_DENIED_ERROR && errno !== ServerErrno.COLUMNACCESS_DENIED_ERROR)
        throw err
      throw new PreconditionError(
        'MYSQL_NO_SELECT',
        `user ${user} cannot read table ${qualified(t)}: run GRANT SELECT ON ${ident(t.schema)}.${ident(t.name)} TO ${quoteUser(user)}`,
        { cause: err },
      )
    }
    metas.push(await tableMeta(rows, t, cfg))
  }

  const gtidMode = flavour === 'mariadb' ? 'mariadb' : (v('gtid_mode') || 'off').toLowerCase()
  const gtidPosition = (flavour === 'mariadb' ? v('gtid_binlog_pos') : v('gtid_executed')).replace(/\s+/g, '')
  return {
    flavour,
    version,
    checksum: v('binlog_checksum').toUpperCase() === 'CRC32' ? 'CRC32' : 'NONE',
    serverId,
    rowMetadata,
    gtidMode,
    gtidPosition,
    user,
    tables: metas,
    warnings,
  }
}

type Rows = <T>(sql: string, params?: unknown[]) => Promise<T[]>

/** `'cdc'@'127.0.0.1'` from CURRENT_USER()'s `cdc@127.0.0.1`. */
function quoteUser(user: string): string {
  const at = user.lastIndexOf('@')
  return at < 0 ? `'${user}'` : `'${user.slice(0, at)}'@'${user.slice(at + 1)}'`
}

/**
 * Resolves configured names and glob patterns (`shop.orders`, `shop.*`) to base tables
 * outside the system databases. A pattern without a dot means the URL's database. Fails
 * naming every pattern that matches nothing.
 */
async function expandTables(
  rows: Rows,
  patterns: readonly string[],
  defaultDb: string | null,
  where: string,
): Promise<{ schema: string; name: string }[]> {
  const all = await rows<{ schema: string; name: string }>(
    `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name FROM information_schema.TABLES
      WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (?)`,
    [SYSTEM_SCHEMAS],
  )
  // Binary order, not the server collation's (which sorts `orders` before `order_lines`).
  all.sort((a, b) => (qualified(a) < qualified(b) ? -1 : qualified(a) > qualified(b) ? 1 : 0))
  const out: { schema: string; name: string }[] = []
  const seen = new Set<string>()
  const missing: string[] = []
  for (const p of patterns) {
    const full = p.includes('.') ? p : defaultDb ? `${defaultDb}.${p}` : null
    const re = full ? globToRegExp(full) : null
    const matched = re ? all.filter((r) => re.test(qualified(r))) : []
    if (matched.length === 0) missing.push(p)
    for (const m of matched) {
      if (!seen.has(qualified(m))) {
        seen.add(qualified(m))
        out.push(m)
      }
    }
  }
  if (missing.length > 0) {
    throw new PreconditionError(
      'MYSQL_TABLE_NOT_FOUND',
      `table ${missing.map((m) => `'${m}'`).join(', ')} not found on ${where}: check source.tables (names are database.table, case-sensitive; information_schema only lists tables the user has a privilege on)`,
    )
  }
  return out
}

async function tableMeta(
  rows: Rows,
  t: { schema: string; name: string },
  cfg: MysqlConfig,
): Promise<MysqlTableMeta> {
  const cols = await rows<{
    name: string
    position: number
    dataType: string
    columnType: string
    nullable: string
  }>(
    `SELECT COLUMN_NAME AS name, ORDINAL_POSITION AS position, DATA_TYPE AS dataType,
            COLUMN_TYPE AS columnType, IS_NULLABLE AS nullable
       FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [t.schema, t.name],
  )
  const pk = await rows<{ name: string }>(
    `SELECT COLUMN_NAME AS name FROM information_schema.STATISTICS
      WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`,
    [t.schema, t.name],
  )
  const columns = cols.map((c) => ({
    name: c.name,
    position: Number(c.position),
    dataType: String(c.dataType),
    columnType: String(c.columnType),
    nullable: c.nullable === 'YES',
  }))
  const primaryKey = pk.map((r) => r.name)
  const configured = cfg.key_columns[qualified(t)]
  if (configured) {
    const names = new Set(columns.map((c) => c.name))
    const bad = configured.filter((c) => !names.has(c))
    if (bad.length > 0) {
      throw new PreconditionError(
        'MYSQL_BAD_KEY_COLUMNS',
        `source.key_columns for ${qualified(t)} names ${bad.join(', ')}, which ${bad.length > 1 ? 'are not columns' : 'is not a column'} of the table`,
      )
    }
  }
  if (primaryKey.length === 0 && !configured) {
    throw new PreconditionError(
      'MYSQL_NO_PRIMARY_KEY',
      `table ${qualified(t)} has no primary key: add one (ALTER TABLE ${ident(t.schema)}.${ident(t.name)} ADD PRIMARY KEY (...)) or set source.key_columns: { ${qualified(t)}: [col, ...] }`,
    )
  }
  return {
    schema: t.schema,
    name: t.name,
    columns,
    primaryKey,
    keyColumns: primaryKey.length > 0 ? primaryKey : configured!,
  }
}
