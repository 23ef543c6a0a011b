import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { openSnapshot, type SnapshotQuery } from '../../../../connectors/mysql/snapshot-reader.js'
import { PreconditionError } from '../../../../pipeline/errors.js'

/** A fake connection: records every statement and answers from a script. */
function fake(answers: Record<string, Record<string, unknown>[] | Error>): {
  q: SnapshotQuery
  log: string[]
} {
  const log: string[] = []
  const q: SnapshotQuery = async (sql) => {
    log.push(sql)
    const a = answers[sql]
    if (a instanceof Error) throw a
    return a ?? []
  }
  return { q, log }
}

describe('consistent snapshot statement sequence', () => {
  test('mariadb: snapshot transaction, then its own binlog coordinates and gtid, no lock', async () => {
    const { q, log } = fake({
      "SHOW STATUS LIKE 'binlog_snapshot_%'": [
        { Variable_name: 'Binlog_snapshot_file', Value: 'binlog.000003' },
        { Variable_name: 'Binlog_snapshot_position', Value: '1234' },
      ],
      'SELECT BINLOG_GTID_POS(?, ?) AS g': [{ g: '0-1-42' }],
    })
    const p = await openSnapshot('mariadb', q)
    assert.deepEqual(p, { file: 'binlog.000003', position: 1234, gtid: '0-1-42' })
    assert.deepEqual(log, [
      'START TRANSACTION WITH CONSISTENT SNAPSHOT',
      "SHOW STATUS LIKE 'binlog_snapshot_%'",
      'SELECT BINLOG_GTID_POS(?, ?) AS g',
    ])
    assert.ok(!log.some((s) => /LOCK/.test(s)), 'no lock on MariaDB')
  })

  test('mysql: read lock, snapshot, coordinates, unlock — in that order', async () => {
    const { q, log } = fake({
      'SHOW MASTER STATUS': [
        { File: 'binlog.000009', Position: 77, Executed_Gtid_Set: 'uuid:1-5,\nuuid2:1-2' },
      ],
    })
    const p = await openSnapshot('mysql', q)
    assert.deepEqual(p, { file: 'binlog.000009', position: 77, gtid: 'uuid:1-5,uuid2:1-2' })
    assert.deepEqual(log, [
      'FLUSH TABLES WITH READ LOCK',
      'START TRANSACTION WITH CONSISTENT SNAPSHOT',
      'SHOW MASTER STATUS',
      'UNLOCK TABLES',
    ])
  })

  test('mysql: the lock is released even when reading the coordinates fails', async () => {
    const { q, log } = fake({ 'SHOW MASTER STATUS': new Error('boom') })
    await assert.rejects(openSnapshot('mysql', q), /boom/)
    assert.equal(log.at(-1), 'UNLOCK TABLES')
  })

  test('mysql: a refused lock is a precondition error naming RELOAD and the alternative', async () => {
    const { q, log } = fake({
      'FLUSH TABLES WITH READ LOCK': new Error('Access denied; you need the RELOAD privilege'),
    })
    await assert.rejects(openSnapshot('mysql', q), (err: unknown) => {
      assert.ok(err instanceof PreconditionError)
      assert.equal(err.code, 'MYSQL_SNAPSHOT_LOCK')
      assert.match(err.message, /GRANT RELOAD/)
      assert.match(err.message, /snapshot: never/)
      return true
    })
    assert.deepEqual(log, ['FLUSH TABLES WITH READ LOCK'], 'nothing else runs, and no UNLOCK without a lock')
  })
})
