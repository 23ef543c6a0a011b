import assert from 'node:assert/strict'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
import { writeFileSync } from 'node:fs'
import { exitWithin, spawnCli } from './helpers/cli.js'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import { readEnvelopes, startPipeline, tempDir, waitFor, type Envelope } from './helpers/pipeline.js'

let db: MariaServer

before(async () => {
  db = await startMariadb()
  await db.sql('CREATE DATABASE shop')
})
after(async () => {
  await db?.stop()
})

function yaml(dir: string, tables: string[], name: string, snapshot = 'initial', serverId = 5401): string {
  return `
pipelines:
  - name: ${name}
    source:
      type: mysql
      url: ${db.urlFor('shop')}
      tables: [${tables.join(', ')}]
      server_id: ${serverId}
      snapshot: ${snapshot}
    sinks:
      - type: file
        path: ${join(dir, 'out')}
        format: avro
state:
  type: file
  path: ${join(dir, 'state')}
log:
  level: ${process.env.SLUICE_TEST_LOG ?? 'fatal'}
`
}

const ids = (evs: Envelope[]): unknown[] => evs.map((e) => (e.after ?? e.before)?.id)
const positionsIncrease = (evs: Envelope[]): void => {
  for (let i = 1; i < evs.length; i++) {
    const a = evs[i - 1]!.source.position.split(';')[0]!
    const b = evs[i]!.source.position.split(';')[0]!
    assert.ok(a < b, `position ${i} does not increase: ${a} !< ${b}`)
  }
}

describe('mariadb end to end', () => {
  test('snapshot then binlog stream in commit order: multi-statement transactions, pk update, truncate', async () => {
    await db.sql(
      'CREATE TABLE shop.accounts (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, balance DECIMAL(12,2))',
    )
    await db.sql("INSERT INTO shop.accounts VALUES (1,'ann',10.50),(2,'bob',20.00),(3,'cy',NULL)")
    const t = tempDir()
    const p = startPipeline(yaml(t.dir, ['shop.accounts'], 'maria'), t.dir)
    const conn = await mysql.createConnection({ uri: db.urlFor('shop') })
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 3, 30_000, 'snapshot')
      await conn.query('START TRANSACTION')
      await conn.query("INSERT INTO accounts VALUES (4,'dee',1.25)")
      await conn.query('UPDATE accounts SET balance = 11.50 WHERE id = 1')
      await conn.query('DELETE FROM accounts WHERE id = 2')
      await conn.query('COMMIT')
      await conn.query('UPDATE accounts SET id = 30 WHERE id = 3')
      await conn.query('TRUNCATE TABLE accounts')
      const evs = await waitFor(
        async () => {
          const e = await readEnvelopes(p.out)
          return e.length >= 9 ? e : null
        },
        30_000,
        'stream',
      )
      assert.deepEqual(
        evs.map((e) => e.op),
        ['r', 'r', 'r', 'c', 'u', 'd', 'd', 'c', 't'],
      )
      assert.deepEqual(ids(evs.slice(0, 3)).sort(), [1, 2, 3])
      assert.equal(evs[2]!.source.snapshot, 'last')
      assert.equal(evs[3]!.after!.name, 'dee')
      assert.equal(evs[4]!.before!.id, 1, 'updates carry the before image')
      assert.deepEqual(
        evs.slice(3, 6).map((e) => e.transaction!.total_order),
        [1, 2, 3],
        'one transaction, statement order',
      )
      assert.equal(evs[5]!.before!.name, 'bob')
      assert.equal(evs[7]!.after!.id, 30)
      assert.equal(evs[3]!.source.connector, 'mysql')
      assert.ok(
        typeof evs[3]!.source.gtid === 'string' && /^\d+-\d+-\d+$/.test(evs[3]!.source.gtid as string),
      )
      positionsIncrease(evs)
    } finally {
      await conn.end()
      await p.stop()
      t.cleanup()
    }
  })

  test('restart resumes after the recorded position without loss or duplicates; ALTER mid-stream', async () => {
    await db.sql('CREATE TABLE shop.counters (id INT PRIMARY KEY, v INT NOT NULL)')
    const t = tempDir()
    const y = yaml(t.dir, ['shop.counters'], 'resume', 'initial', 5402)
    let p = startPipeline(y, t.dir)
    const conn = await mysql.createConnection({ uri: db.urlFor('shop') })
    try {
      await waitFor(() => p.runner.stats.committedPosition !== null, 20_000, 'snapshot commit')
      for (let i = 1; i <= 50; i++) await conn.query('INSERT INTO counters VALUES (?, 0)', [i])
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 50, 20_000, 'first 50')
      await p.stop()
      for (let i = 51; i <= 80; i++) await conn.query('INSERT INTO counters VALUES (?, 1)', [i])
      await conn.query('ALTER TABLE counters ADD COLUMN note VARCHAR(10) NULL')
      await conn.query("INSERT INTO counters VALUES (81, 2, 'x')")
      p = startPipeline(y, t.dir)
      const evs = await waitFor(
        async () => {
          const e = await readEnvelopes(p.out)
          return e.length >= 81 ? e : null
        },
        30_000,
        'all 81',
      )
      await new Promise((r) => setTimeout(r, 500))
      const all = await readEnvelopes(p.out)
      assert.equal(all.length, 81, 'each change once after a clean restart')
      assert.deepEqual(
        ids(evs),
        Array.from({ length: 81 }, (_, i) => i + 1),
      )
      assert.equal(all[80]!.after!.note, 'x', 'the altered table streams with its new column')
      positionsIncrease(all)
    } finally {
      await conn.end()
      await p.stop()
      t.cleanup()
    }
  })

  test('the sluice command streams from mariadb and SIGTERM exits 0 within 10 s', async () => {
    await db.sql('CREATE TABLE shop.cli (id INT PRIMARY KEY)')
    await db.sql('INSERT INTO shop.cli VALUES (1)')
    const t = tempDir()
    writeFileSync(
      join(t.dir, 'sluice.yaml'),
      yaml(t.dir, ['shop.cli'], 'cli', 'initial', 5403).replace(/level: \w+/, 'level: info'),
    )
    const p = spawnCli(['run', '-c', join(t.dir, 'sluice.yaml')], { cwd: t.dir })
    try {
      await p.waitForOutput('streaming started', 30_000)
      await db.sql('INSERT INTO shop.cli VALUES (2)')
      await waitFor(async () => (await readEnvelopes(join(t.dir, 'out'))).length >= 2, 20_000, 'streamed row')
      p.kill('SIGTERM')
      const exit = await exitWithin(p, 10_000)
      assert.equal(exit.code, 0, `SIGTERM exits 0:\n${p.stderr().slice(-2000)}`)
    } finally {
      p.kill('SIGKILL')
      t.cleanup()
    }
  })
})
