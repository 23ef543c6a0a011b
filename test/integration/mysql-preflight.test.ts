import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { mysqlConfig } from '../../connectors/mysql/config.js'
import { globalPrivileges, preflight } from '../../connectors/mysql/preflight.js'
import { PreconditionError, SluiceError } from '../../pipeline/errors.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'

let db: MariaServer

const CDC_PW = 'cdc-Pw-5b1e'

const cfg = (over: Record<string, unknown> = {}) =>
  mysqlConfig.parse({
    type: 'mysql',
    url: db.urlFor('shop', 'cdc', CDC_PW),
    tables: ['shop.orders'],
    server_id: 5401,
    ...over,
  })

/** Runs preflight expecting a PreconditionError with `code`; returns it for message checks. */
async function failsWith(code: string, over: Record<string, unknown> = {}): Promise<SluiceError> {
  const err = await preflight(cfg(over)).then(
    () => null,
    (e: unknown) => e,
  )
  assert.ok(err instanceof PreconditionError, `expected ${code}, got ${String(err)}`)
  assert.equal(err.code, code, err.message)
  assert.equal(err.retriable, false)
  return err
}

describe('mysql preflight', () => {
  before(async () => {
    db = await startMariadb()
    for (const sql of [
      'CREATE DATABASE shop',
      'CREATE TABLE shop.orders (id INT NOT NULL, region CHAR(2) NOT NULL, amount DECIMAL(10,2), PRIMARY KEY (region, id))',
      'CREATE TABLE shop.order_lines (id INT PRIMARY KEY, order_id INT)',
      'CREATE TABLE shop.events_nopk (tenant INT NOT NULL, seq INT NOT NULL, payload TEXT)',
      'CREATE TABLE shop.secret (id INT PRIMARY KEY)',
      `CREATE USER cdc@'127.0.0.1' IDENTIFIED BY '${CDC_PW}'`,
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO cdc@'127.0.0.1'`,
      `CREATE USER noslave@'127.0.0.1' IDENTIFIED BY '${CDC_PW}'`,
      `GRANT REPLICATION CLIENT, SELECT ON *.* TO noslave@'127.0.0.1'`,
      `CREATE USER noclient@'127.0.0.1' IDENTIFIED BY '${CDC_PW}'`,
      `GRANT REPLICATION SLAVE, SELECT ON *.* TO noclient@'127.0.0.1'`,
      `CREATE USER noselect@'127.0.0.1' IDENTIFIED BY '${CDC_PW}'`,
      `GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO noselect@'127.0.0.1'`,
      `GRANT SELECT ON shop.orders TO noselect@'127.0.0.1'`,
      `GRANT INSERT ON shop.secret TO noselect@'127.0.0.1'`,
    ]) {
      await db.sql(sql)
    }
  })
  after(async () => {
    await db?.stop()
  })

  test('a CDC user with REPLICATION SLAVE, REPLICATION CLIENT, SELECT passes and learns the server', async () => {
    const r = await preflight(cfg({ tables: ['shop.order*'] }))
    assert.equal(r.flavour, 'mariadb')
    assert.match(r.version, /^10\.\d+\.\d+-MariaDB/)
    assert.equal(r.checksum, 'CRC32')
    assert.equal(r.serverId, 1)
    assert.equal(r.rowMetadata, 'FULL')
    assert.equal(r.gtidMode, 'mariadb')
    assert.equal(r.user, 'cdc@127.0.0.1')
    assert.deepEqual(r.warnings, [])
    assert.deepEqual(
      r.tables.map((t) => `${t.schema}.${t.name}`),
      ['shop.order_lines', 'shop.orders'],
    )
    const orders = r.tables.find((t) => t.name === 'orders')!
    assert.deepEqual(orders.primaryKey, ['region', 'id'], 'key order, not column order')
    assert.deepEqual(orders.keyColumns, ['region', 'id'])
    assert.deepEqual(
      orders.columns.map((c) => [c.name, c.position, c.dataType, c.nullable]),
      [
        ['id', 1, 'int', false],
        ['region', 2, 'char', false],
        ['amount', 3, 'decimal', true],
      ],
    )
    assert.equal(orders.columns[2]!.columnType, 'decimal(10,2)')
  })

  test('a table without primary key passes with key_columns, and tables default to the URL database', async () => {
    const r = await preflight(
      cfg({ tables: ['events_nopk'], key_columns: { 'shop.events_nopk': ['tenant', 'seq'] } }),
    )
    assert.deepEqual(r.tables[0]!.primaryKey, [])
    assert.deepEqual(r.tables[0]!.keyColumns, ['tenant', 'seq'])
  })

  test('the GTID position is reported once a transaction ran', async () => {
    await db.sql('INSERT INTO shop.secret VALUES (1)')
    const r = await preflight(cfg())
    assert.match(r.gtidPosition, /^0-1-\d+$/)
  })

  test('wrong password: MYSQL_AUTH_FAILED', async () => {
    const err = await failsWith('MYSQL_AUTH_FAILED', { url: db.urlFor('shop', 'cdc', 'wrong') })
    assert.match(err.message, /errno 1045/)
    assert.match(err.message, /source\.url/)
    assert.doesNotMatch(err.message, /wrong/, 'the password is redacted')
  })

  test('missing REPLICATION SLAVE: MYSQL_NO_REPLICATION_PRIVILEGE with the GRANT to run', async () => {
    const err = await failsWith('MYSQL_NO_REPLICATION_PRIVILEGE', {
      url: db.urlFor('shop', 'noslave', CDC_PW),
    })
    assert.match(err.message, /GRANT REPLICATION SLAVE ON \*\.\* TO 'noslave'@'127\.0\.0\.1'/)
  })

  test('missing REPLICATION CLIENT: MYSQL_NO_REPLICATION_CLIENT with the GRANT to run', async () => {
    const err = await failsWith('MYSQL_NO_REPLICATION_CLIENT', { url: db.urlFor('shop', 'noclient', CDC_PW) })
    assert.match(err.message, /GRANT REPLICATION CLIENT ON \*\.\* TO 'noclient'@'127\.0\.0\.1'/)
  })

  test('unknown table: MYSQL_TABLE_NOT_FOUND naming every missing pattern', async () => {
    const err = await failsWith('MYSQL_TABLE_NOT_FOUND', { tables: ['shop.orders', 'shop.nope', 'other.*'] })
    assert.match(err.message, /'shop\.nope', 'other\.\*'/)
  })

  test('a table the user cannot SELECT: MYSQL_NO_SELECT', async () => {
    const err = await failsWith('MYSQL_NO_SELECT', {
      url: db.urlFor('shop', 'noselect', CDC_PW),
      tables: ['shop.orders', 'shop.secret'],
    })
    assert.match(err.message, /GRANT SELECT ON `shop`\.`secret`/)
  })

  test('table without primary key: MYSQL_NO_PRIMARY_KEY; bad key_columns: MYSQL_BAD_KEY_COLUMNS', async () => {
    const err = await failsWith('MYSQL_NO_PRIMARY_KEY', { tables: ['shop.events_nopk'] })
    assert.match(err.message, /source\.key_columns/)
    await failsWith('MYSQL_BAD_KEY_COLUMNS', {
      tables: ['shop.events_nopk'],
      key_columns: { 'shop.events_nopk': ['tenant', 'nope'] },
    })
  })

  test("server_id equal to the server's own: MYSQL_SERVER_ID_CONFLICT", async () => {
    await failsWith('MYSQL_SERVER_ID_CONFLICT', { server_id: 1 })
  })

  test('binlog_row_image MINIMAL fails; binlog_row_metadata MINIMAL is only a warning', async () => {
    await db.sql("SET GLOBAL binlog_row_image = 'MINIMAL'")
    try {
      const err = await failsWith('MYSQL_BINLOG_ROW_IMAGE')
      assert.match(err.message, /binlog_row_image = FULL/)
    } finally {
      await db.sql("SET GLOBAL binlog_row_image = 'FULL'")
    }
    await db.sql("SET GLOBAL binlog_row_metadata = 'MINIMAL'")
    try {
      const r = await preflight(cfg())
      assert.equal(r.rowMetadata, 'MINIMAL')
      assert.deepEqual(
        r.warnings.map((w) => w.code),
        ['MYSQL_BINLOG_ROW_METADATA'],
      )
      assert.match(r.warnings[0]!.message, /information_schema/)
    } finally {
      await db.sql("SET GLOBAL binlog_row_metadata = 'FULL'")
    }
  })

  test('a server with binlog_format=STATEMENT or without a binlog fails with the fix', async () => {
    await db.restart({ binlog_format: 'STATEMENT' })
    let err = await failsWith('MYSQL_BINLOG_FORMAT')
    assert.match(err.message, /'STATEMENT'.*binlog_format = ROW/)
    await db.restart({ binlog_format: null, 'skip-log-bin': '' })
    err = await failsWith('MYSQL_BINLOG_DISABLED')
    assert.match(err.message, /log_bin/)
    await db.restart({ 'skip-log-bin': null })
    await preflight(cfg())
  })

  test('grant parsing copes with MariaDB names, ALL, backquotes and table-level grants', () => {
    const p = globalPrivileges([
      "GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`127.0.0.1` IDENTIFIED BY PASSWORD '*X'",
      'GRANT INSERT ON `shop`.* TO `cdc`@`127.0.0.1`',
      'GRANT all ON *.* TO `root`@`localhost` WITH GRANT OPTION',
    ])
    assert.deepEqual([...p].sort(), ['ALL PRIVILEGES', 'BINLOG MONITOR', 'REPLICATION SLAVE', 'SELECT'])
  })
})
