/**
 * Captures MariaDB binlog fixtures: starts a throwaway MariaDB (ROW format, FULL image, FULL
 * metadata, CRC32), runs a scripted workload covering every column type and the traps in
 * shared/notes/mysql-binlog.md, and copies the binlog files into
 * test/fixtures/binlog/mariadb-<major.minor>/ with a JSON sidecar (`workload.json`) that
 * holds, as the oracle, each row image as the server renders it (`HEX(col)` and
 * `CAST(col AS CHAR)`) before and after every logged change, in binlog order.
 *
 *   npx tsx scripts/capture-binlog-fixtures.ts      (as root; needs mariadbd and mariadb-install-db)
 *
 * binlog.000001 holds the workload, binlog.000002 the benchmark rows (bench/binlog-decode.bench.ts).
 * The unit tests in test/unit/connectors/mysql/binlog/ compare the decoded files with the
 * sidecar, so change both together.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mysql from 'mysql2/promise'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/** A free TCP port on 127.0.0.1. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

/** A running throwaway MariaDB; stop() always cleans up its directory. */
interface Server {
  dir: string
  socket: string
  stop(): Promise<void>
}

async function startMariadb(): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-binlog-'))
  // mariadb-install-db bootstraps as the `mysql` user from the system my.cnf: it must be able to enter the directory.
  chmodSync(dir, 0o755)
  const data = join(dir, 'data')
  const socket = join(dir, 's.sock')
  const init = spawnSync(
    'mariadb-install-db',
    [`--datadir=${data}`, '--auth-root-authentication-method=normal'],
    { encoding: 'utf8' },
  )
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `mariadb-install-db failed (${init.status}): ${init.error?.message ?? ''} ${init.stdout} ${init.stderr}`,
    )
  }
  const port = await freePort()
  const child: ChildProcess = spawn(
    'mariadbd',
    [
      '--no-defaults',
      `--datadir=${data}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      `--socket=${socket}`,
      `--log-bin=${join(dir, 'binlog')}`,
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--binlog-row-metadata=FULL',
      '--binlog-checksum=CRC32',
      '--server-id=1',
      '--user=root',
      `--pid-file=${join(dir, 'pid')}`,
    ],
    { stdio: 'ignore' },
  )
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 20_000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    }
    rmSync(dir, { recursive: true, force: true })
  }
  for (let i = 0; i < 100; i++) {
    try {
      const c = await mysql.createConnection({ socketPath: socket, user: 'root' })
      await c.end()
      return { dir, socket, stop }
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200))
    }
  }
  await stop()
  throw new Error('mariadbd did not start within 20 s')
}

/** One column of a captured table: name and declared SQL type. */
interface ColumnSpec {
  name: string
  sql: string
}

const ALLTYPES: ColumnSpec[] = [
  { name: 'id', sql: 'INT NOT NULL' },
  { name: 'ti', sql: 'TINYINT' },
  { name: 'tiu', sql: 'TINYINT UNSIGNED' },
  { name: 'si', sql: 'SMALLINT' },
  { name: 'siu', sql: 'SMALLINT UNSIGNED' },
  { name: 'mi', sql: 'MEDIUMINT' },
  { name: 'miu', sql: 'MEDIUMINT UNSIGNED' },
  { name: 'i', sql: 'INT' },
  { name: 'iu', sql: 'INT UNSIGNED' },
  { name: 'bi', sql: 'BIGINT' },
  { name: 'biu', sql: 'BIGINT UNSIGNED' },
  { name: 'dec1', sql: 'DECIMAL(30,10)' },
  { name: 'dec2', sql: 'DECIMAL(5,2)' },
  { name: 'dec3', sql: 'DECIMAL(18,0) UNSIGNED' },
  { name: 'f', sql: 'FLOAT' },
  { name: 'd', sql: 'DOUBLE' },
  { name: 'y', sql: 'YEAR' },
  { name: 'dt', sql: 'DATE' },
  { name: 't0', sql: 'TIME' },
  { name: 't3', sql: 'TIME(3)' },
  { name: 't6', sql: 'TIME(6)' },
  { name: 'dt0', sql: 'DATETIME' },
  { name: 'dt3', sql: 'DATETIME(3)' },
  { name: 'dt6', sql: 'DATETIME(6)' },
  { name: 'ts0', sql: 'TIMESTAMP NULL' },
  { name: 'ts6', sql: 'TIMESTAMP(6) NULL' },
  { name: 'c', sql: 'CHAR(10)' },
  { name: 'vc', sql: 'VARCHAR(300)' },
  { name: 'vcl', sql: 'VARCHAR(20) CHARACTER SET latin1' },
  { name: 'bin', sql: 'BINARY(4)' },
  { name: 'vb', sql: 'VARBINARY(10)' },
  { name: 'tx', sql: 'TEXT' },
  { name: 'bl', sql: 'BLOB' },
  { name: 'mtx', sql: 'MEDIUMTEXT CHARACTER SET latin1' },
  { name: 'js', sql: 'JSON' },
  { name: 'e', sql: "ENUM('x','y,z','q''uote')" },
  { name: 's', sql: "SET('a','b','c','d')" },
  { name: 'b10', sql: 'BIT(10)' },
  { name: 'b64', sql: 'BIT(64)' },
  { name: 'g', sql: 'GEOMETRY' },
  { name: 'pt', sql: 'POINT' },
  { name: 'code', sql: 'VARCHAR(10) NOT NULL' },
  { name: 'u', sql: 'UUID' },
  { name: 'i6', sql: 'INET6' },
  { name: 'i4', sql: 'INET4' },
  { name: 'lc', sql: 'CHAR(100)' },
  { name: 'asc', sql: 'VARCHAR(10) CHARACTER SET ascii' },
  { name: 'u16', sql: 'VARCHAR(10) CHARACTER SET utf16' },
  { name: 'cyr', sql: 'VARCHAR(10) CHARACTER SET cp1251' },
]

const SIGN: ColumnSpec[] = [
  { name: 'y', sql: 'YEAR' },
  { name: 'a', sql: 'INT UNSIGNED NOT NULL' },
  { name: 'b', sql: 'INT' },
]

const ORDERS: ColumnSpec[] = [
  { name: 'id', sql: 'INT NOT NULL' },
  { name: 'customer', sql: 'VARCHAR(40)' },
  { name: 'amount', sql: 'DECIMAL(10,2)' },
  { name: 'status', sql: "ENUM('new','paid','shipped')" },
  { name: 'note', sql: 'TEXT' },
  { name: 'tags', sql: "SET('a','b','c')" },
  { name: 'created', sql: 'DATETIME(6)' },
]

const AUDIT: ColumnSpec[] = [
  { name: 'id', sql: 'INT NOT NULL' },
  { name: 'msg', sql: 'VARCHAR(50)' },
]

const COMP: ColumnSpec[] = [
  { name: 'id', sql: 'INT NOT NULL' },
  { name: 'tc', sql: 'TEXT COMPRESSED' },
  { name: 'vc', sql: 'VARCHAR(1000) COMPRESSED' },
  { name: 'bc', sql: 'BLOB COMPRESSED' },
]

interface TableSpec {
  columns: ColumnSpec[]
  /** Key column used to find the rows a step touched. */
  key: string
  ddl: string
}

const TABLES: Record<string, TableSpec> = {
  alltypes: {
    columns: ALLTYPES,
    key: 'id',
    ddl: `CREATE TABLE shop.alltypes (${ALLTYPES.map((c) => `\`${c.name}\` ${c.sql}`).join(', ')}, PRIMARY KEY (id, code(4))) DEFAULT CHARSET=utf8mb4`,
  },
  sign: {
    columns: SIGN,
    key: 'a',
    ddl: 'CREATE TABLE shop.sign (y YEAR, a INT UNSIGNED NOT NULL, b INT, PRIMARY KEY (a))',
  },
  orders: {
    columns: ORDERS,
    key: 'id',
    ddl: `CREATE TABLE shop.orders (${ORDERS.map((c) => `${c.name} ${c.sql}`).join(', ')}, PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4`,
  },
  audit: {
    columns: AUDIT,
    key: 'id',
    ddl: 'CREATE TABLE shop.audit (id INT NOT NULL PRIMARY KEY, msg VARCHAR(50)) ENGINE=MyISAM',
  },
  comp: {
    columns: COMP,
    key: 'id',
    ddl: `CREATE TABLE shop.comp (${COMP.map((c) => `${c.name} ${c.sql}`).join(', ')}, PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4`,
  },
}

/** A step of the workload. */
interface Step {
  /** What the step shows (recorded in the sidecar). */
  label: string
  sql: string[]
  /** For DML: the table and the key values it touches, in the order the server logs them. */
  table?: string
  ids?: (number | string)[]
  kind?: 'insert' | 'update' | 'delete'
  /** The changes are not logged (InnoDB rollback). */
  notLogged?: boolean
  /** binlog_row_image=MINIMAL: the columns present in the before / after images. */
  minimal?: { before: string[]; after: string[] }
}

const ALL_MAX = `INSERT INTO shop.alltypes VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295,
  9223372036854775807, 18446744073709551615, '12345678901234567890.0123456789', 999.99, 999999999999999999,
  1.1, 2.2250738585072014e-308, 2155, '9999-12-31', '838:59:59', '838:59:58.999', '-00:00:00.000001',
  '9999-12-31 23:59:59', '2026-11-21 08:05:12.963', '2026-11-21 08:05:12.963249', '2038-01-19 03:14:07',
  '1970-01-01 00:00:01.000001', 'ab  ', REPEAT('é', 300), 'café €‚ƒ', x'01000000', x'00ff00', 'text ✓',
  x'deadbeef00', REPEAT('latin1 ÿ ', 10), '{"a": [1, 2.5, "x"], "b": null}', 'y,z', 'a,d', b'1010101010',
  b'1111111111111111111111111111111111111111111111111111111111111111', ST_GeomFromText('LINESTRING(0 0,1 1,2 5)'),
  ST_GeomFromText('POINT(1.5 -2.25)', 4326), 'k1', '123e4567-e89b-12d3-a456-426614174000', '2001:db8::ff00:42:8329',
  '192.168.0.1', REPEAT('😀', 100), 'plain', 'utf16 ☃', 'Привет')`
const ALL_MIN = `INSERT INTO shop.alltypes VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0,
  -9223372036854775808, 0, '-12345678901234567890.0123456789', -999.99, 0, -3.4e38, -1.7976931348623157e308,
  1901, '1000-01-01', '-838:59:59', '-838:59:58.999', '-12:34:56.789012', '1000-01-01 00:00:00',
  '1000-01-01 00:00:00.001', '1000-01-01 00:00:00.000001', '1970-01-01 00:00:01', '2038-01-19 03:14:07.999999',
  '', '', '', x'00000000', x'', '', x'', '', '[]', 'x', '', b'0', b'0', ST_GeomFromText('POINT(0 0)'),
  ST_GeomFromText('POINT(0 0)'), 'k2', '00000000-0000-0000-0000-000000000001', '::', '0.0.0.0', '', '', '', '')`
const ALL_NULL = `INSERT INTO shop.alltypes (id, code) VALUES (3, 'k3')`
const ALL_ZERO = `INSERT INTO shop.alltypes (id, code, y, dt, dt0, dt6, ts0, d, dec1, e, js, t6, vc)
  VALUES (4, 'k4', 0, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', '0000-00-00 00:00:00',
  0, 0, 0, '{"k": "v"}', '-00:00:01.5', 'x')`

const STEPS: Step[] = [
  { label: 'schema', sql: ['CREATE DATABASE shop', ...Object.values(TABLES).map((t) => t.ddl)] },
  { label: 'alltypes max values', sql: [ALL_MAX], table: 'alltypes', ids: [1], kind: 'insert' },
  { label: 'alltypes min values', sql: [ALL_MIN], table: 'alltypes', ids: [2], kind: 'insert' },
  { label: 'alltypes nulls', sql: [ALL_NULL], table: 'alltypes', ids: [3], kind: 'insert' },
  { label: 'alltypes zero values', sql: [ALL_ZERO], table: 'alltypes', ids: [4], kind: 'insert' },
  {
    label: 'alltypes update',
    sql: [
      `UPDATE shop.alltypes SET vc = 'changed', bi = bi - 1, e = 'q''uote', s = 'b,c' WHERE id IN (1, 3)`,
    ],
    table: 'alltypes',
    ids: [1, 3],
    kind: 'update',
  },
  {
    label: 'sign trap: YEAR before INT',
    sql: [`INSERT INTO shop.sign VALUES (2024, 4294967295, -1), (NULL, 0, NULL)`],
    table: 'sign',
    ids: [4294967295, 0],
    kind: 'insert',
  },
  {
    label: 'orders insert 3 rows',
    sql: [
      `INSERT INTO shop.orders VALUES (1, 'ann', 10.50, 'new', 'first', 'a', '2026-11-21 08:05:12.963249'),
        (2, 'bob', 20.00, 'paid', NULL, 'a,b', '2026-11-21 08:05:13.000001'),
        (3, 'cé😀', 30.25, 'new', 'utf8mb4', '', '2026-11-21 08:05:14')`,
    ],
    table: 'orders',
    ids: [1, 2, 3],
    kind: 'insert',
  },
  {
    label: 'orders update 2 rows',
    sql: [`UPDATE shop.orders SET amount = amount + 1, status = 'paid' WHERE id IN (1, 2)`],
    table: 'orders',
    ids: [1, 2],
    kind: 'update',
  },
  {
    label: 'multi-statement transaction: insert',
    sql: [
      'BEGIN',
      `INSERT INTO shop.orders VALUES (4, 'dan', 1.00, 'new', 'tx', 'c', '2026-11-21 09:00:00')`,
    ],
    table: 'orders',
    ids: [4],
    kind: 'insert',
  },
  {
    label: 'multi-statement transaction: update',
    sql: [`UPDATE shop.orders SET note = 'tx2' WHERE id = 4`],
    table: 'orders',
    ids: [4],
    kind: 'update',
  },
  {
    label: 'multi-statement transaction: delete + commit',
    sql: [`DELETE FROM shop.orders WHERE id = 3`],
    table: 'orders',
    ids: [3],
    kind: 'delete',
  },
  { label: 'commit', sql: ['COMMIT'] },
  {
    label: 'InnoDB rollback: nothing logged',
    sql: ['BEGIN', `INSERT INTO shop.orders VALUES (99, 'gone', 0, 'new', NULL, '', NULL)`, 'ROLLBACK'],
    notLogged: true,
  },
  {
    label: 'mixed rollback: the MyISAM row survives',
    sql: [
      'BEGIN',
      `INSERT INTO shop.orders VALUES (98, 'gone', 0, 'new', NULL, '', NULL)`,
      `INSERT INTO shop.audit VALUES (1, 'kept')`,
      'ROLLBACK',
    ],
    table: 'audit',
    ids: [1],
    kind: 'insert',
  },
  {
    label: 'MINIMAL image update',
    sql: ['SET SESSION binlog_row_image = MINIMAL', `UPDATE shop.orders SET note = 'min' WHERE id = 2`],
    table: 'orders',
    ids: [2],
    kind: 'update',
    minimal: { before: ['id'], after: ['note'] },
  },
  {
    label: 'MINIMAL image delete',
    sql: [`DELETE FROM shop.orders WHERE id = 4`, 'SET SESSION binlog_row_image = FULL'],
    table: 'orders',
    ids: [4],
    kind: 'delete',
    minimal: { before: ['id'], after: [] },
  },
  {
    label: 'XA transaction',
    sql: [
      "XA START 'xa1'",
      `INSERT INTO shop.orders VALUES (10, 'xa', 5.00, 'new', NULL, '', '2026-11-21 10:00:00')`,
      "XA END 'xa1'",
      "XA PREPARE 'xa1'",
      "XA COMMIT 'xa1'",
    ],
    table: 'orders',
    ids: [10],
    kind: 'insert',
  },
  { label: 'TRUNCATE', sql: ['TRUNCATE TABLE shop.audit'] },
  { label: 'ALTER', sql: [`ALTER TABLE shop.sign ADD COLUMN note VARCHAR(10) DEFAULT 'n'`] },
  {
    label: 'insert after ALTER (new table id)',
    sql: [`INSERT INTO shop.sign (y, a, b) VALUES (1999, 7, 7)`],
    table: 'sign',
    ids: [7],
    kind: 'insert',
  },
  {
    label: 'COMPRESSED columns',
    sql: [
      `INSERT INTO shop.comp VALUES (1, REPEAT('compress me ', 50), REPEAT('vc ', 100), REPEAT(x'00ff', 300)),
        (2, 'short', 'v', x'01'), (3, NULL, '', x'')`,
    ],
    table: 'comp',
    ids: [1, 2, 3],
    kind: 'insert',
  },
  {
    label: 'log_bin_compress on: compressed rows and query events',
    sql: [
      'SET GLOBAL log_bin_compress = ON',
      'SET GLOBAL log_bin_compress_min_len = 10',
      `INSERT INTO shop.orders VALUES (20, REPEAT('z', 40), 1.00, 'shipped', REPEAT('long note ', 30), 'a,b,c', '2026-11-21 11:00:00')`,
    ],
    table: 'orders',
    ids: [20],
    kind: 'insert',
  },
  {
    label: 'compressed update',
    sql: [`UPDATE shop.orders SET note = REPEAT('other ', 40) WHERE id = 20`],
    table: 'orders',
    ids: [20],
    kind: 'update',
  },
  {
    label: 'compressed delete',
    sql: [`DELETE FROM shop.orders WHERE id = 20`],
    table: 'orders',
    ids: [20],
    kind: 'delete',
  },
  {
    label: 'compressed query',
    sql: [
      `CREATE TABLE shop.compressed_ddl (id INT PRIMARY KEY, ${'padding_column_name INT, '.repeat(1)}x INT)`,
    ],
  },
  {
    label: 'log_bin_compress off; alltypes delete',
    sql: ['SET GLOBAL log_bin_compress = OFF', 'DELETE FROM shop.alltypes WHERE id = 2'],
    table: 'alltypes',
    ids: [2],
    kind: 'delete',
  },
]

/** Benchmark rows for binlog.000002: inserts then updates of the 7-column orders table. */
const BENCH_ROWS = 4000
const BENCH_BATCH = 200

type Rendering = Record<string, [string, string | null] | null>

async function render(conn: mysql.Connection, table: string, ids: (number | string)[]): Promise<Rendering[]> {
  const spec = TABLES[table]!
  const cols = spec.columns
    .map((c) => {
      const q = `\`${c.name}\``
      const text = /GEOMETRY|POINT/.test(c.sql)
        ? `ST_AsText(${q})`
        : `CAST(${q} AS CHAR CHARACTER SET utf8mb4)`
      return `HEX(${q}) AS \`h_${c.name}\`, ${text} AS \`t_${c.name}\`, ${q} IS NULL AS \`n_${c.name}\``
    })
    .join(', ')
  const out: Rendering[] = []
  for (const id of ids) {
    const [rows] = await conn.query(`SELECT ${cols} FROM shop.${table} WHERE \`${spec.key}\` = ?`, [id])
    const row = (rows as Record<string, unknown>[])[0]
    if (row === undefined) throw new Error(`render: no row ${table}.${spec.key}=${id}`)
    const r: Rendering = {}
    for (const c of spec.columns) {
      r[c.name] =
        row[`n_${c.name}`] === 1 ? null : [String(row[`h_${c.name}`]), row[`t_${c.name}`] as string | null]
    }
    out.push(r)
  }
  return out
}

async function main(): Promise<void> {
  const server = await startMariadb()
  try {
    const conn = await mysql.createConnection({ socketPath: server.socket, user: 'root', charset: 'utf8mb4' })
    await conn.query(`SET SESSION time_zone = '+00:00', sql_mode = ''`)
    const [[ver]] = (await conn.query('SELECT VERSION() AS v')) as unknown as [[{ v: string }]]
    const version = ver.v
    const changes: unknown[] = []
    const steps: unknown[] = []
    for (const step of STEPS) {
      const before = step.table && step.kind !== 'insert' ? await render(conn, step.table, step.ids!) : null
      for (const sql of step.sql) await conn.query(sql)
      const after = step.table && step.kind !== 'delete' ? await render(conn, step.table, step.ids!) : null
      steps.push({ label: step.label, sql: step.sql })
      if (!step.table || step.notLogged) continue
      for (let i = 0; i < step.ids!.length; i++) {
        changes.push({
          step: step.label,
          table: step.table,
          kind: step.kind,
          key: step.ids![i],
          before: before?.[i] ?? null,
          after: after?.[i] ?? null,
          minimal: step.minimal ?? null,
        })
      }
    }
    await conn.query('FLUSH BINARY LOGS')
    for (let i = 0; i < BENCH_ROWS; i += BENCH_BATCH) {
      const values: string[] = []
      for (let j = i; j < i + BENCH_BATCH; j++) {
        values.push(
          `(${100000 + j}, 'customer ${j}', ${(j % 1000) + 0.25}, 'new', 'note ${j}', 'a', '2026-11-21 12:00:00.${String(j % 1000000).padStart(6, '0')}')`,
        )
      }
      await conn.query(`INSERT INTO shop.orders VALUES ${values.join(', ')}`)
    }
    for (let i = 0; i < BENCH_ROWS; i += BENCH_BATCH) {
      await conn.query(
        `UPDATE shop.orders SET status = 'paid', amount = amount + 1 WHERE id >= ${100000 + i} AND id < ${100000 + i + BENCH_BATCH}`,
      )
    }
    await conn.query('FLUSH BINARY LOGS')
    await conn.end()

    const minor = version.split('.').slice(0, 2).join('.')
    const out = join(ROOT, 'test', 'fixtures', 'binlog', `mariadb-${minor}`)
    mkdirSync(out, { recursive: true })
    for (const f of ['binlog.000001', 'binlog.000002']) copyFileSync(join(server.dir, f), join(out, f))
    const sidecar = {
      description:
        'Captured by scripts/capture-binlog-fixtures.ts. binlog.000001: the steps below; binlog.000002: ' +
        `${BENCH_ROWS} inserts and ${BENCH_ROWS} updates of shop.orders in batches of ${BENCH_BATCH} (benchmark). ` +
        'changes: every logged row change in binlog order; before/after map column -> [HEX(col), CAST(col AS CHAR)] ' +
        '(geometry: ST_AsText) or null for SQL NULL; rendered with time_zone +00:00.',
      server: version,
      options:
        '--binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL --binlog-checksum=CRC32',
      tables: Object.fromEntries(
        Object.entries(TABLES).map(([k, t]) => [k, { key: t.key, columns: t.columns }]),
      ),
      benchRows: BENCH_ROWS * 2,
      steps,
      changes,
    }
    writeFileSync(join(out, 'workload.json'), JSON.stringify(sidecar, null, 1) + '\n')
    const size = ['binlog.000001', 'binlog.000002', 'workload.json']
      .map((f) => readFileSync(join(out, f)).length)
      .reduce((a, b) => a + b, 0)
    console.log(`wrote ${out} (${size} bytes) from MariaDB ${version}`)
  } finally {
    await server.stop()
  }
}

await main()
