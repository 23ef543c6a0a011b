/**
 * Resuming the MySQL/MariaDB source against a real throwaway MariaDB: by GTID (whole and
 * mid-transaction, several replication domains), the server id of each event, a purged
 * binlog (fail, or re-snapshot), and binlog files renumbered by RESET MASTER with the GTID
 * state kept (GTID resume continues with increasing positions; file/offset cannot).
 * The tests share one server and run in order: the last ones purge and reset its binlog.
 */
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { keyParts, readStatePosition, sleep, sortKey, within } from './helpers/mysql.js'
import {
  readEnvelopes,
  startPipeline,
  tempDir,
  waitFor,
  type Envelope,
  type TestPipeline,
} from './helpers/pipeline.js'

let db: MariaServer
const pipelines = new Set<TestPipeline>()
const conns = new Set<mysql.Connection>()
const dirs = new Set<{ cleanup(): void }>()

before(async () => {
  db = await startMariadb()
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  for (const p of pipelines) await p.stop().catch(() => undefined)
  for (const c of conns) c.destroy()
  for (const d of dirs) d.cleanup()
  await db?.stop()
})

interface Opts {
  table: string
  serverId: number
  resumeBy?: 'auto' | 'gtid' | 'file'
  onPurged?: 'fail' | 'snapshot'
  snapshot?: 'initial' | 'never'
}

function yaml(d: { dir: string }, o: Opts): string {
  return `
pipelines:
  - name: shop
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [shop.${o.table}]
      server_id: ${o.serverId}
      snapshot: ${o.snapshot ?? 'initial'}
      resume_by: ${o.resumeBy ?? 'auto'}
      on_binlog_purged: ${o.onPurged ?? 'fail'}
    sinks:
      - type: file
        path: ${join(d.dir, 'out')}
        format: avro
state:
  type: file
  path: ${join(d.dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

function start(d: { dir: string }, o: Opts): TestPipeline {
  const p = startPipeline(yaml(d, o), d.dir)
  pipelines.add(p)
  return p
}
async function stop(p: TestPipeline): Promise<void> {
  pipelines.delete(p)
  await p.stop()
}
function dir(): { dir: string; cleanup(): void } {
  const t = tempDir()
  dirs.add(t)
  return t
}
async function connect(): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ uri: db.urlFor('shop') })
  conns.add(c)
  return c
}
const statePos = (d: { dir: string }): string | null => readStatePosition(join(d.dir, 'state'), 'shop')
const stateFile = (d: { dir: string }): string => join(d.dir, 'state', 'shop.json')
/** Rewrites the stored position (what an operator or a crash at that point would leave). */
function setStatePos(d: { dir: string }, position: string): void {
  const s = JSON.parse(readFileSync(stateFile(d), 'utf8')) as Record<string, unknown>
  writeFileSync(stateFile(d), JSON.stringify({ ...s, position }, null, 2) + '\n')
}
/** The `;`-separated fields of a position: key, file, gtid, resume state, base. */
const fields = (pos: string): string[] => pos.split(';')

const idOf = (e: Envelope): number => Number((e.after ?? e.before)!.id)
const summary = (evs: Envelope[]): [string, number][] => evs.map((e) => [e.op, idOf(e)])

async function waitCount(out: string, table: string, n: number, ms = 30_000): Promise<Envelope[]> {
  return waitFor(
    async () => {
      const e = await readEnvelopes(out, `shop.${table}`)
      return e.length >= n ? e : null
    },
    ms,
    `${n} events of ${table}`,
  )
}
/** Waits until the whole transaction of the event at `position` is committed (index END). */
async function waitCommitted(p: TestPipeline, position: string): Promise<void> {
  const end = `${sortKey(position).slice(0, 30)}999999999999`
  await waitFor(
    () => sortKey(p.runner.stats.committedPosition ?? '') >= end,
    15_000,
    'the last transaction to be committed',
  )
}
function assertIncreasing(evs: Envelope[], what: string): void {
  for (let i = 1; i < evs.length; i++) {
    const a = sortKey(evs[i - 1]!.source.position)
    const b = sortKey(evs[i]!.source.position)
    assert.ok(a < b, `${what}: position ${i} does not increase: ${a} !< ${b}`)
  }
}
/** How a stopped pipeline ended: 'running', 'stopped' or the error's code. */
async function outcome(p: TestPipeline, ms: number): Promise<string> {
  return within(
    p.done.then(
      () => 'stopped',
      (err: unknown) => String((err as { code?: string }).code ?? err),
    ),
    ms,
    () => 'running',
  )
}

describe('mysql source resume on MariaDB', () => {
  test('GTID resume over two replication domains: exactly the changes made while stopped', async () => {
    await db.sql('CREATE TABLE shop.g1 (id INT PRIMARY KEY, v INT NOT NULL)')
    const d = dir()
    let p = start(d, { table: 'g1', serverId: 5601 })
    const c = await connect()
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    await c.query('INSERT INTO g1 VALUES (1, 0), (2, 0)')
    await c.query('SET SESSION gtid_domain_id = 1')
    await c.query('INSERT INTO g1 VALUES (3, 0)')
    await c.query('SET SESSION gtid_domain_id = 0')
    let evs = await waitCount(p.out, 'g1', 3)
    await waitCommitted(p, evs[2]!.source.position)
    await stop(p)

    const [{ g: afterFirst } = { g: '' }] = await db.sql<{ g: string }>('SELECT @@gtid_binlog_pos AS g')
    const stored = statePos(d)!
    assert.equal(keyParts(stored).index, 999_999_999_999, 'a whole transaction is recorded')
    assert.equal(
      fields(stored)[3],
      afterFirst,
      'the stored resume state is the server GTID state over both domains',
    )
    assert.match(afterFirst, /^0-1-\d+,1-1-\d+$/)
    // The domain-1 transaction's rows carry the state before it (domain 0 already moved on).
    const third = evs[2]!
    assert.equal(third.source.gtid, afterFirst.split(',')[1], 'source.gtid is the transaction GTID')
    assert.equal(
      fields(third.source.position)[3],
      afterFirst.split(',')[0],
      'its rows resume from the state before it: domain 1 had no transaction yet',
    )

    // While stopped: changes in both domains, and a transaction of another table.
    await c.query('UPDATE g1 SET v = 1 WHERE id = 1')
    await c.query('SET SESSION gtid_domain_id = 1')
    await c.query('DELETE FROM g1 WHERE id = 2')
    await c.query('SET SESSION gtid_domain_id = 0')
    await c.query('CREATE TABLE other (id INT PRIMARY KEY)')
    await c.query('INSERT INTO other VALUES (1)')
    await c.query('INSERT INTO g1 VALUES (4, 0)')
    p = start(d, { table: 'g1', serverId: 5601, resumeBy: 'gtid' })
    await waitCount(p.out, 'g1', 6)
    await sleep(500)
    evs = await readEnvelopes(p.out, 'shop.g1')
    assert.deepEqual(
      summary(evs),
      [
        ['c', 1],
        ['c', 2],
        ['c', 3],
        ['u', 1],
        ['d', 2],
        ['c', 4],
      ],
      'exactly the changes made while stopped, in commit order, nothing again',
    )
    assertIncreasing(evs, 'across the GTID resume')
    await waitCommitted(p, evs[5]!.source.position)
    await stop(p)
    const [{ g: now } = { g: '' }] = await db.sql<{ g: string }>('SELECT @@gtid_binlog_pos AS g')
    assert.equal(fields(statePos(d)!)[3], now, 'the resume state tracked every group, captured or not')
  })

  test('GTID resume from a row inside a transaction: the rest of that transaction only', async () => {
    await db.sql('CREATE TABLE shop.g2 (id INT PRIMARY KEY, v INT NOT NULL)')
    const d = dir()
    let p = start(d, { table: 'g2', serverId: 5602 })
    const c = await connect()
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    await c.query('INSERT INTO g2 VALUES (100, 0)')
    await c.query('START TRANSACTION')
    for (let id = 1; id <= 5; id++) await c.query('INSERT INTO g2 VALUES (?, 0)', [id])
    await c.query('COMMIT')
    await c.query('SET SESSION gtid_domain_id = 1')
    await c.query('INSERT INTO g2 VALUES (6, 0)')
    await c.query('SET SESSION gtid_domain_id = 0')
    const first = await waitCount(p.out, 'g2', 7)
    await waitCommitted(p, first[6]!.source.position)
    await stop(p)
    const tx = first.slice(1, 6)
    assert.ok(
      tx.every((e) => e.transaction?.id === tx[0]!.transaction?.id),
      'ids 1..5 are one transaction',
    )
    // As if the pipeline had stopped after delivering the second row of that transaction.
    const mid = tx[1]!.source.position
    assert.equal(keyParts(mid).index, 1)
    setStatePos(d, mid)
    await c.query('INSERT INTO g2 VALUES (7, 0)')
    p = start(d, { table: 'g2', serverId: 5602, resumeBy: 'gtid' })
    await waitCount(p.out, 'g2', 7 + 5)
    await sleep(500)
    const evs = await readEnvelopes(p.out, 'shop.g2')
    const again = evs.slice(7)
    assert.deepEqual(
      summary(again),
      [
        ['c', 3],
        ['c', 4],
        ['c', 5],
        ['c', 6],
        ['c', 7],
      ],
      'rows 3..5 of the transaction, then what followed it',
    )
    assert.deepEqual(
      again.slice(0, 4).map((e) => e.source.position),
      [...tx.slice(2), first[6]!].map((e) => e.source.position),
      'the re-read rows have their original positions',
    )
    assert.ok(sortKey(again[0]!.source.position) > sortKey(mid))
    await stop(p)
  })

  test('source.server_id is the server id in the binlog event header, not the connected server’s', async () => {
    await db.sql('CREATE TABLE shop.sid (id INT PRIMARY KEY)')
    const d = dir()
    const p = start(d, { table: 'sid', serverId: 5603 })
    const c = await connect()
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    await c.query('INSERT INTO sid VALUES (1)')
    // What a replica applying another server's changes writes: that server's id.
    await c.query('SET SESSION server_id = 77')
    await c.query('INSERT INTO sid VALUES (2)')
    await c.query('SET SESSION server_id = @@global.server_id')
    await c.query('INSERT INTO sid VALUES (3)')
    const evs = await waitCount(p.out, 'sid', 3)
    assert.deepEqual(
      evs.map((e) => [idOf(e), Number(e.source.server_id)]),
      [
        [1, 1],
        [2, 77],
        [3, 1],
      ],
    )
    assert.match(String(evs[1]!.source.gtid), /^0-77-\d+$/, 'the GTID names the same origin')
    await stop(p)
  })

  test('a position without GTID state (older format) resumes by file; resume_by: gtid refuses it', async () => {
    await db.sql('CREATE TABLE shop.g3 (id INT PRIMARY KEY)')
    const d = dir()
    let p = start(d, { table: 'g3', serverId: 5606 })
    const c = await connect()
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    await c.query('INSERT INTO g3 VALUES (1)')
    await c.query('INSERT INTO g3 VALUES (2)')
    let evs = await waitCount(p.out, 'g3', 2)
    await waitCommitted(p, evs[1]!.source.position)
    await stop(p)
    const old = fields(statePos(d)!).slice(0, 3).join(';')
    setStatePos(d, old)
    const before = readFileSync(stateFile(d), 'utf8')
    await c.query('INSERT INTO g3 VALUES (3)')

    p = start(d, { table: 'g3', serverId: 5606, resumeBy: 'gtid' })
    assert.equal(await outcome(p, 30_000), 'MYSQL_GTID_RESUME_UNAVAILABLE')
    pipelines.delete(p)
    assert.equal(readFileSync(stateFile(d), 'utf8'), before, 'nothing recorded')

    p = start(d, { table: 'g3', serverId: 5606 })
    await waitCount(p.out, 'g3', 3)
    await sleep(500)
    evs = await readEnvelopes(p.out, 'shop.g3')
    assert.deepEqual(summary(evs), [
      ['c', 1],
      ['c', 2],
      ['c', 3],
    ])
    await waitCommitted(p, evs[2]!.source.position)
    await stop(p)
    const [{ g } = { g: '' }] = await db.sql<{ g: string }>('SELECT @@gtid_binlog_pos AS g')
    assert.equal(fields(statePos(d)!)[3], g, 'positions carry the GTID state again (BINLOG_GTID_POS)')
  })

  test(
    'purged binlog: fail keeps the stored position; snapshot re-reads the table, then streams',
    { timeout: 180_000 },
    async () => {
      await db.sql('CREATE TABLE shop.pu (id INT PRIMARY KEY, v INT NOT NULL)')
      await db.sql('INSERT INTO shop.pu VALUES (1, 0), (2, 0), (3, 0)')
      const d = dir()
      let p = start(d, { table: 'pu', serverId: 5604 })
      const c = await connect()
      await c.query('INSERT INTO pu VALUES (4, 0)')
      let evs = await waitCount(p.out, 'pu', 4)
      await waitCommitted(p, evs[3]!.source.position)
      await stop(p)
      const stored = statePos(d)!
      const storedText = readFileSync(stateFile(d), 'utf8')

      // While stopped: changes, then the binlog holding them is purged.
      await c.query('UPDATE pu SET v = 5 WHERE id = 1')
      await c.query('DELETE FROM pu WHERE id = 2')
      await c.query('INSERT INTO pu VALUES (5, 0)')
      await c.query('FLUSH BINARY LOGS')
      const [master] = await db.sql<{ File: string }>('SHOW MASTER STATUS')
      // MariaDB silently keeps a file until InnoDB's binlog checkpoint has passed it: retry.
      await waitFor(
        async () => {
          await db.sql(`PURGE BINARY LOGS TO '${master!.File}'`)
          const logs = await db.sql<{ Log_name: string }>('SHOW BINARY LOGS')
          return logs.length === 1 && logs[0]!.Log_name === master!.File
        },
        20_000,
        'the purge',
      )

      // on_binlog_purged: fail (the default)
      p = start(d, { table: 'pu', serverId: 5604 })
      assert.equal(await outcome(p, 30_000), 'MYSQL_BINLOG_PURGED')
      pipelines.delete(p)
      await sleep(1200)
      assert.equal(readFileSync(stateFile(d), 'utf8'), storedText, 'the stored state is untouched')
      assert.equal((await readEnvelopes(p.out, 'shop.pu')).length, 4, 'nothing delivered')

      // on_binlog_purged: snapshot
      p = start(d, { table: 'pu', serverId: 5604, onPurged: 'snapshot' })
      const table = await db.sql<{ id: number; v: number }>('SELECT id, v FROM shop.pu ORDER BY id')
      await waitFor(
        async () => {
          const all = await readEnvelopes(p.out, 'shop.pu')
          return all.slice(4).some((e) => e.source.snapshot === 'last') ? all : null
        },
        60_000,
        'the re-snapshot',
      )
      await c.query('INSERT INTO pu VALUES (6, 0)')
      await c.query('UPDATE pu SET v = 6 WHERE id = 3')
      await waitCount(p.out, 'pu', 4 + table.length + 2)
      await sleep(500)
      evs = await readEnvelopes(p.out, 'shop.pu')
      const fresh = evs.slice(4)
      const snap = fresh.slice(0, table.length)
      assert.ok(
        snap.every((e) => e.op === 'r'),
        'the output after the restart starts with a snapshot',
      )
      assert.deepEqual(
        snap.map((e) => [idOf(e), Number(e.after!.v)]).sort((a, b) => a[0]! - b[0]!),
        table.map((r) => [r.id, r.v]),
        'the snapshot is the whole current table',
      )
      assert.equal(snap[snap.length - 1]!.source.snapshot, 'last')
      assert.deepEqual(
        summary(fresh.slice(table.length)),
        [
          ['c', 6],
          ['u', 3],
        ],
        'then the changes made after it',
      )
      assertIncreasing(evs, 'old stream, re-snapshot, new stream')
      assert.ok(sortKey(fresh[0]!.source.position) > sortKey(stored), 'positions stay monotonic')
      await waitCommitted(p, evs[evs.length - 1]!.source.position)
      await stop(p)
    },
  )

  test(
    'binlog files renumbered (RESET MASTER, GTID state kept): GTID resume continues, file/offset cannot',
    { timeout: 180_000 },
    async () => {
      await db.sql('CREATE TABLE shop.rn (id INT PRIMARY KEY, v INT NOT NULL)')
      const d = dir()
      let p = start(d, { table: 'rn', serverId: 5605 })
      const c = await connect()
      await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
      await c.query('FLUSH BINARY LOGS')
      await c.query('INSERT INTO rn VALUES (1, 0), (2, 0)')
      let evs = await waitCount(p.out, 'rn', 2)
      await waitCommitted(p, evs[1]!.source.position)
      await stop(p)
      const stored = statePos(d)!
      assert.ok(keyParts(stored).seq > 1, `stored in a later binlog file (${fields(stored)[1]})`)

      // A failover to a server with the same GTIDs whose binlog starts again at file 1.
      const [{ g: state } = { g: '' }] = await db.sql<{ g: string }>('SELECT @@gtid_binlog_state AS g')
      await db.sql('RESET MASTER')
      await db.sql('SET GLOBAL gtid_binlog_state = ?', [state])
      await c.query('UPDATE rn SET v = 1 WHERE id = 1')
      await c.query('INSERT INTO rn VALUES (3, 0)')
      const [master] = await db.sql<{ File: string }>('SHOW MASTER STATUS')
      assert.equal(Number(master!.File.split('.').pop()), 1, 'the binlog was renumbered')

      // By file and offset the stored coordinates no longer exist.
      const fileOnly = dir()
      mkdirSync(join(fileOnly.dir, 'state'))
      writeFileSync(join(fileOnly.dir, 'state', 'shop.json'), readFileSync(stateFile(d)))
      const byFile = start(fileOnly, { table: 'rn', serverId: 5605, resumeBy: 'file' })
      assert.equal(await outcome(byFile, 30_000), 'MYSQL_BINLOG_PURGED')
      pipelines.delete(byFile)
      assert.equal(statePos(fileOnly), stored)

      p = start(d, { table: 'rn', serverId: 5605 })
      await waitCount(p.out, 'rn', 4)
      await sleep(500)
      evs = await readEnvelopes(p.out, 'shop.rn')
      assert.deepEqual(summary(evs), [
        ['c', 1],
        ['c', 2],
        ['u', 1],
        ['c', 3],
      ])
      assertIncreasing(evs, 'across the renumbering')
      assert.equal(evs[2]!.source.file, master!.File, 'source.file is the real file name')
      const base = Number(fields(evs[2]!.source.position)[4])
      assert.ok(base > 0, 'the positions carry a file-sequence base')
      await waitCommitted(p, evs[3]!.source.position)
      await stop(p)

      // The base persists: another restart keeps resuming and increasing.
      await c.query('INSERT INTO rn VALUES (4, 0)')
      p = start(d, { table: 'rn', serverId: 5605 })
      await waitCount(p.out, 'rn', 5)
      await sleep(500)
      evs = await readEnvelopes(p.out, 'shop.rn')
      assert.deepEqual(summary(evs.slice(4)), [['c', 4]])
      assertIncreasing(evs, 'after the second restart')
      assert.equal(Number(fields(evs[4]!.source.position)[4]), base)
      await stop(p)
    },
  )
})
