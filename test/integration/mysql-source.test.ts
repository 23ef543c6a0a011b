/**
 * The MySQL/MariaDB source against a real throwaway MariaDB, in-process pipelines with a
 * file sink: a consistent snapshot under concurrent writers, binlog rotation, rollbacks
 * (InnoDB and mixed MyISAM), a duplicate server_id, a 20 MB row, and the snapshot modes.
 */
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import mysql from 'mysql2/promise'
import { startMariadb, type MariaServer } from './servers/mariadb.js'
import {
  applyEvent,
  diffRows,
  keyParts,
  loadRowOf,
  mysqlPipelineYaml,
  readJsonl,
  readStatePosition,
  sleep,
  sortKey,
  startMysqlLoad,
  within,
  type LoadRow,
} from './helpers/mysql.js'
import {
  readEnvelopes,
  startPipeline,
  tempDir,
  waitFor,
  type Envelope,
  type TestPipeline,
} from './helpers/pipeline.js'

let db: MariaServer
/** Everything a test started, stopped in after() even when the test failed half-way. */
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

function start(yaml: string, dir: string): TestPipeline {
  const p = startPipeline(yaml, dir)
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
function yaml(
  t: { dir: string },
  tables: string[],
  serverId: number,
  snapshot: 'initial' | 'never' | 'initial_only' = 'initial',
  name = 'shop',
): string {
  return mysqlPipelineYaml({ url: db.urlFor('shop'), tables, dir: t.dir, serverId, snapshot, name })
}

/** Asserts that sort keys strictly increase over `evs` (one run of one pipeline). */
function assertIncreasing(evs: Envelope[], what: string): void {
  for (let i = 1; i < evs.length; i++) {
    const a = sortKey(evs[i - 1]!.source.position)
    const b = sortKey(evs[i]!.source.position)
    assert.ok(a < b, `${what}: position ${i} does not increase: ${a} !< ${b}`)
  }
}

const idOf = (e: Envelope): number => Number((e.after ?? e.before)!.id)

/** Waits until an event for `id` with `op` shows up in the output of `table`; returns its envelope. */
async function waitForRow(out: string, table: string, id: number, op = 'c', ms = 30_000): Promise<Envelope> {
  return waitFor(
    async () => (await readEnvelopes(out, table)).find((e) => e.op === op && idOf(e) === id) ?? null,
    ms,
    `${op} of id ${id} in ${table}`,
  )
}

describe('mysql source on MariaDB', () => {
  test(
    'snapshot under 4 concurrent writers replays to exactly the table',
    { timeout: 120_000 },
    async (t) => {
      const seed = Number(process.env.SLUICE_SEED ?? Math.floor(Math.random() * 2 ** 32))
      t.diagnostic(`seed ${seed} (replay with SLUICE_SEED=${seed})`)
      const ROWS = 50_000
      await db.sql(
        'CREATE TABLE shop.churn (id INT PRIMARY KEY, v INT NOT NULL, note VARCHAR(64) NOT NULL) ENGINE=InnoDB',
      )
      await db.sql(
        `INSERT INTO shop.churn SELECT seq, 0, CONCAT('seed-', seq) FROM seq_1_to_${ROWS}`,
        [],
        'shop',
      )
      const d = dir()
      const load = startMysqlLoad({
        url: db.urlFor('shop'),
        table: 'churn',
        writers: 4,
        seed,
        maxId: ROWS,
        firstNewId: ROWS + 1,
      })
      try {
        await waitFor(() => load.stats.txs >= 200, 20_000, 'the writers to get going')
        const txsAtStart = load.stats.txs
        const p = start(yaml(d, ['shop.churn'], 5501), d.dir)
        await waitFor(
          async () => (await readEnvelopes(p.out, 'shop.churn')).some((e) => e.source.snapshot === 'last'),
          60_000,
          'the snapshot to finish',
        )
        const txsAtSnapshotEnd = load.stats.txs
        await sleep(2500)
        const stats = await load.stop()
        t.diagnostic(
          `writers: ${stats.txs} txs (${txsAtStart} before the pipeline, ${txsAtSnapshotEnd - txsAtStart} during the snapshot), ${stats.conflicts} conflicts`,
        )
        assert.ok(txsAtSnapshotEnd > txsAtStart, 'the writers committed while the snapshot ran')

        // Caught up: a sentinel written after the load is delivered and committed.
        await db.sql("INSERT INTO shop.churn VALUES (-1, 0, 'sentinel')")
        const sentinel = await waitForRow(p.out, 'shop.churn', -1, 'c', 60_000)
        await waitFor(
          () => sortKey(p.runner.stats.committedPosition ?? '') >= sortKey(sentinel.source.position),
          10_000,
          'the sentinel to be committed',
        )
        const [master] = await db.sql<{ File: string; Position: number }>('SHOW MASTER STATUS')
        const committed = keyParts(p.runner.stats.committedPosition!)
        assert.equal(
          committed.seq,
          Number(master!.File.split('.').pop()),
          'committed in the current binlog file',
        )
        assert.ok(committed.offset < Number(master!.Position), 'committed before the binlog end')

        const evs = await readEnvelopes(p.out, 'shop.churn')
        assertIncreasing(evs, 'one run')
        const snap = evs.filter((e) => e.op === 'r')
        const lastIdx = evs.findIndex((e) => e.source.snapshot === 'last')
        assert.equal(lastIdx, snap.length - 1, 'the snapshot comes first and ends with snapshot=last')
        assert.ok(
          evs.slice(0, lastIdx + 1).every((e) => e.op === 'r'),
          'no change events inside the snapshot',
        )
        assert.ok(
          snap.some((e) => Number(e.after!.v) > 0 || Number(e.after!.id) > ROWS),
          'the snapshot saw writes made before it',
        )
        const streamed = evs.length - snap.length
        assert.ok(streamed > 1000, `changes streamed after the snapshot (${streamed})`)

        const table = new Map<number, LoadRow>()
        for (const e of evs) assert.equal(applyEvent(table, e, loadRowOf), null)
        const rows = (await db.sql<LoadRow>('SELECT id, v, note FROM shop.churn ORDER BY id')).map(loadRowOf)
        const diff = diffRows(table, rows)
        assert.deepEqual(
          diff.sample,
          [],
          `replay differs from the table in ${diff.count} rows (seed ${seed})`,
        )
        assert.equal(table.size, rows.length)
        await stop(p)
      } finally {
        await load.stop().catch(() => undefined)
      }
    },
  )

  test('binlog rotation mid-stream: every event arrives, positions increase across files, resume', async () => {
    await db.sql('CREATE TABLE shop.rot (id INT PRIMARY KEY, v INT NOT NULL)')
    const d = dir()
    const y = yaml(d, ['shop.rot'], 5502)
    let p = start(y, d.dir)
    const c = await connect()
    let id = 0
    const insertSome = async (n: number): Promise<void> => {
      await c.query('START TRANSACTION')
      for (let i = 0; i < n; i++) await c.query('INSERT INTO rot VALUES (?, ?)', [++id, i])
      await c.query('COMMIT')
      await c.query('INSERT INTO rot VALUES (?, 0)', [++id])
    }
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    for (let round = 0; round < 4; round++) {
      await insertSome(3)
      await c.query('FLUSH BINARY LOGS')
    }
    await insertSome(3)
    let evs = await waitFor(
      async () => {
        const e = await readEnvelopes(p.out, 'shop.rot')
        return e.length >= id ? e : null
      },
      30_000,
      `all ${id} inserts`,
    )
    assert.deepEqual(
      evs.map(idOf),
      Array.from({ length: id }, (_, i) => i + 1),
      'every insert once, in commit order',
    )
    assertIncreasing(evs, 'across rotations')
    const files = [...new Set(evs.map((e) => String(e.source.file)))]
    assert.equal(files.length, 5, `events come from 5 binlog files: ${files.join(', ')}`)
    for (const e of evs) {
      assert.equal(
        keyParts(e.source.position).seq,
        Number(String(e.source.file).split('.').pop()),
        'the sort key carries the file sequence',
      )
      assert.equal(e.source.position.split(';')[1], e.source.file, 'the position names the file')
    }
    for (let i = 1; i < evs.length; i++) {
      const a = keyParts(evs[i - 1]!.source.position)
      const b = keyParts(evs[i]!.source.position)
      if (b.seq !== a.seq) {
        assert.equal(b.seq, a.seq + 1, 'the next file')
        assert.ok(b.offset < a.offset, 'the offset starts over in a new file, the key still increases')
      }
    }

    // Stop, rotate twice more with changes in between, and resume from the older file.
    await waitFor(
      () => sortKey(p.runner.stats.committedPosition ?? '') >= sortKey(evs[evs.length - 1]!.source.position),
      10_000,
      'the last insert to be committed',
    )
    await stop(p)
    await c.query('UPDATE rot SET v = 100 WHERE id = 1')
    await c.query('FLUSH BINARY LOGS')
    await c.query('DELETE FROM rot WHERE id = 2')
    await c.query('FLUSH BINARY LOGS')
    await insertSome(2)
    p = start(y, d.dir)
    const total = id + 2
    evs = await waitFor(
      async () => {
        const e = await readEnvelopes(p.out, 'shop.rot')
        return e.length >= total ? e : null
      },
      30_000,
      'the changes made while stopped',
    )
    await sleep(500)
    evs = await readEnvelopes(p.out, 'shop.rot')
    assert.equal(evs.length, total, 'a clean restart re-delivers nothing')
    assert.deepEqual(
      evs.slice(-5).map((e) => [e.op, idOf(e)]),
      [
        ['u', 1],
        ['d', 2],
        ['c', id - 2],
        ['c', id - 1],
        ['c', id],
      ],
    )
    assertIncreasing(evs, 'across the restart')
    assert.equal(new Set(evs.map((e) => String(e.source.file))).size, 7, 'two more binlog files')
    await stop(p)
  })

  test('rollbacks: InnoDB rollback emits nothing; MyISAM rows of a rolled-back mixed transaction survive', async () => {
    await db.sql('CREATE TABLE shop.inno (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL) ENGINE=InnoDB')
    await db.sql('CREATE TABLE shop.audit (id INT PRIMARY KEY, note VARCHAR(20) NOT NULL) ENGINE=MyISAM')
    const d = dir()
    const y = yaml(d, ['shop.inno', 'shop.audit'], 5503)
    let p = start(y, d.dir)
    const c = await connect()
    await waitFor(() => p.runner.stats.committedPosition !== null, 30_000, 'the (empty) snapshot')
    // InnoDB only, rolled back: nothing reaches the binlog.
    await c.query('START TRANSACTION')
    await c.query("INSERT INTO inno VALUES (1, 'rolled back')")
    await c.query("INSERT INTO inno VALUES (2, 'rolled back')")
    await c.query('ROLLBACK')
    // Mixed, MyISAM first: the MyISAM row survives (terminated by a QUERY COMMIT).
    await c.query('START TRANSACTION')
    await c.query("INSERT INTO audit VALUES (10, 'survives')")
    await c.query("INSERT INTO inno VALUES (3, 'rolled back')")
    await c.query('ROLLBACK')
    // Mixed, InnoDB first.
    await c.query('START TRANSACTION')
    await c.query("INSERT INTO inno VALUES (4, 'rolled back')")
    await c.query("INSERT INTO audit VALUES (11, 'survives')")
    await c.query("UPDATE inno SET note = 'x' WHERE id = 4")
    await c.query('ROLLBACK')
    await c.query("INSERT INTO inno VALUES (100, 'sentinel')")
    const sentinel = await waitForRow(p.out, 'shop.inno', 100)

    const inno = await readEnvelopes(p.out, 'shop.inno')
    const audit = await readEnvelopes(p.out, 'shop.audit')
    assert.deepEqual(
      inno.map((e) => [e.op, idOf(e)]),
      [['c', 100]],
      'no event of a rolled-back InnoDB change',
    )
    assert.deepEqual(
      audit.map((e) => [e.op, idOf(e), e.after?.note]),
      [
        ['c', 10, 'survives'],
        ['c', 11, 'survives'],
      ],
      'exactly the surviving MyISAM rows',
    )
    assertIncreasing([...audit, sentinel], 'rollback groups then the sentinel')
    assert.notEqual(
      audit[0]!.transaction?.id,
      audit[1]!.transaction?.id,
      'each group ends at its COMMIT query',
    )
    const rows = await db.sql<{ id: number }>('SELECT id FROM shop.audit ORDER BY id')
    assert.deepEqual(
      rows.map((r) => r.id),
      [10, 11],
      'the server kept the MyISAM rows',
    )

    // The QUERY COMMIT terminators are checkpoints: a restart re-delivers none of it.
    await waitFor(
      () => sortKey(p.runner.stats.committedPosition ?? '') >= sortKey(sentinel.source.position),
      10_000,
      'the sentinel to be committed',
    )
    await stop(p)
    p = start(y, d.dir)
    await c.query("INSERT INTO audit VALUES (12, 'after restart')")
    await waitForRow(p.out, 'shop.audit', 12)
    await sleep(300)
    assert.deepEqual(
      (await readEnvelopes(p.out, 'shop.audit')).map(idOf),
      [10, 11, 12],
      'nothing re-delivered after a clean restart',
    )
    assert.equal((await readEnvelopes(p.out, 'shop.inno')).length, 1)
    await stop(p)
  })

  test('duplicate server_id: one pipeline fails with MYSQL_DUPLICATE_SERVER_ID and does not commit past what it delivered', async (t) => {
    await db.sql('CREATE TABLE shop.dup (id INT PRIMARY KEY)')
    const da = dir()
    const dbb = dir()
    const a = start(yaml(da, ['shop.dup'], 5504, 'initial', 'dup_a'), da.dir)
    const c = await connect()
    await waitFor(() => a.runner.stats.committedPosition !== null, 30_000, 'a: the (empty) snapshot')
    // A steady trickle of single-row inserts, before and after the second pipeline starts.
    let id = 0
    let writing = true
    const writer = (async () => {
      while (writing) {
        await c.query('INSERT INTO dup VALUES (?)', [++id])
        await sleep(3)
      }
    })()
    try {
      await waitFor(async () => (await readEnvelopes(a.out)).length >= 50, 30_000, 'a: streaming')
      const b = start(yaml(dbb, ['shop.dup'], 5504, 'initial', 'dup_b'), dbb.dir)
      const settled = (p: TestPipeline): Promise<{ p: TestPipeline; err: unknown }> =>
        p.done.then(
          () => ({ p, err: null }),
          (err: unknown) => ({ p, err }),
        )
      const first = await within(Promise.race([settled(a), settled(b)]), 30_000, () => ({
        p: null,
        err: new Error('neither pipeline stopped within 30 s'),
      }))
      assert.ok(first.p, String(first.err))
      assert.equal(
        (first.err as { code?: string } | null)?.code,
        'MYSQL_DUPLICATE_SERVER_ID',
        `the pipeline stopped with: ${String(first.err)}`,
      )
      const failed = first.p
      const other = failed === a ? b : a
      t.diagnostic(`failed: ${failed === a ? 'the first' : 'the second'} pipeline`)
      pipelines.delete(failed)
      await sleep(1500) // longer than the commit interval: a late commit would show
      const failedState = join(failed.dir, 'state')
      const failedName = failed === a ? 'dup_a' : 'dup_b'
      const recorded = readStatePosition(failedState, failedName)
      const delivered = await readEnvelopes(failed.out)
      if (delivered.length > 0) {
        assert.ok(recorded !== null, 'what it delivered is recorded')
        // Every transaction here is one row: the recorded position may be the END of the last
        // delivered transaction, never a later one (compare `<seq>.<offset>.<phase>`).
        const maxDelivered = sortKey(delivered[delivered.length - 1]!.source.position)
        assert.ok(
          sortKey(recorded).slice(0, 29) <= maxDelivered.slice(0, 29),
          `recorded ${sortKey(recorded)} is past the last delivered ${maxDelivered}`,
        )
      }
      assertIncreasing(delivered, 'the failed pipeline')
      // Delivered is a gapless prefix of the inserts (the failure loses nothing before it).
      const deliveredIds = delivered.map(idOf)
      if (deliveredIds.length > 0) {
        const from = deliveredIds[0]!
        assert.deepEqual(
          deliveredIds,
          Array.from({ length: deliveredIds.length }, (_, i) => from + i),
        )
      }
      await sleep(500)
      assert.equal(
        readStatePosition(failedState, failedName),
        recorded,
        'a failed pipeline records nothing more',
      )

      // The other pipeline keeps streaming.
      const mark = id + 1000
      await c.query('INSERT INTO dup VALUES (?)', [mark])
      await waitForRow(other.out, 'shop.dup', mark)
      const raced = await within(settled(other), 10, () => 'running')
      assert.equal(raced, 'running', 'the other pipeline is still running')
    } finally {
      writing = false
      await writer
    }
  })

  /**
   * A 20 MB row from the snapshot and a 20 MB row from the binlog (one event spanning two
   * protocol packets), then a key change of the first (delete + create, both with the image).
   */
  async function bigRows(format: 'avro' | 'jsonl', table: string, serverId: number): Promise<void> {
    await db.sql(`CREATE TABLE shop.${table} (id INT PRIMARY KEY, data LONGBLOB NOT NULL)`)
    const c = await connect()
    const big1 = randomBytes(20 * 1024 * 1024)
    const big2 = randomBytes(20 * 1024 * 1024 + 17)
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
    await c.execute(`INSERT INTO ${table} VALUES (1, ?)`, [big1])
    const d = dir()
    const p = start(
      mysqlPipelineYaml({ url: db.urlFor('shop'), tables: [`shop.${table}`], dir: d.dir, serverId, format }),
      d.dir,
    )
    const read = async (): Promise<Envelope[]> =>
      format === 'avro' ? readEnvelopes(p.out, `shop.${table}`) : readJsonl(p.out, `shop.${table}`)
    const failed = (): Promise<string | null> =>
      within(
        p.done.then(
          () => 'stopped',
          (err: unknown) => String(err),
        ),
        0,
        () => null,
      )
    await waitFor(
      async () => {
        const err = await failed()
        if (err) throw new Error(`the pipeline stopped: ${err}`)
        return p.runner.stats.committedPosition !== null
      },
      60_000,
      'the snapshot',
    )
    await c.execute(`INSERT INTO ${table} VALUES (2, ?)`, [big2])
    await c.query(`UPDATE ${table} SET id = 3 WHERE id = 1`)
    const evs = await waitFor(
      async () => {
        const err = await failed()
        if (err) throw new Error(`the pipeline stopped: ${err}`)
        const e = await read()
        return e.length >= 4 ? e : null
      },
      60_000,
      'the big rows',
    )
    const summary = evs.map((e) => {
      const raw = (e.after ?? e.before)!.data
      const data = format === 'jsonl' && typeof raw === 'string' ? Buffer.from(raw, 'base64') : raw
      return [
        e.op,
        idOf(e),
        Buffer.isBuffer(data) ? data.length : typeof data,
        Buffer.isBuffer(data) ? sha(data) : '',
      ]
    })
    assert.deepEqual(summary, [
      ['r', 1, big1.length, sha(big1)],
      ['c', 2, big2.length, sha(big2)],
      ['d', 1, big1.length, sha(big1)],
      ['c', 3, big1.length, sha(big1)],
    ])
    await stop(p)
  }

  test(
    'a 20 MB LONGBLOB row arrives intact, from the snapshot and from the binlog (jsonl sink)',
    { timeout: 120_000 },
    () => bigRows('jsonl', 'blobs_json', 5505),
  )

  test(
    'a 20 MB LONGBLOB row arrives intact, from the snapshot and from the binlog (avro sink)',
    { timeout: 120_000 },
    () => bigRows('avro', 'blobs_avro', 5508),
  )

  test('initial_only stops by itself after the snapshot and does not snapshot again', async () => {
    await db.sql('CREATE TABLE shop.once (id INT PRIMARY KEY, v INT NOT NULL)')
    await db.sql('INSERT INTO shop.once SELECT seq, seq * 2 FROM seq_1_to_1000', [], 'shop')
    const d = dir()
    const y = yaml(d, ['shop.once'], 5506, 'initial_only')
    let p = start(y, d.dir)
    const finished = await within(
      p.done.then(() => 'stopped'),
      30_000,
      () => 'still running',
    )
    assert.equal(finished, 'stopped', 'initial_only ends on its own')
    pipelines.delete(p)
    await db.sql('INSERT INTO shop.once VALUES (5000, 0)')
    await db.sql('UPDATE shop.once SET v = -1 WHERE id = 1')
    let evs = await readEnvelopes(p.out, 'shop.once')
    assert.equal(evs.length, 1000)
    assert.ok(evs.every((e) => e.op === 'r'))
    assert.deepEqual(
      evs.map(idOf).sort((x, y) => x - y),
      Array.from({ length: 1000 }, (_, i) => i + 1),
    )
    assert.ok(evs.every((e) => Number(e.after!.v) === 2 * idOf(e)))
    assert.equal(evs[999]!.source.snapshot, 'last')
    const recorded = readStatePosition(join(d.dir, 'state'), 'shop')
    assert.ok(
      recorded !== null && keyParts(recorded).index === 999_999_999_999,
      `snapshot end recorded: ${recorded}`,
    )

    // A second run finds the snapshot finished: it stops again without output.
    p = start(y, d.dir)
    const again = await within(
      p.done.then(() => 'stopped'),
      30_000,
      () => 'still running',
    )
    assert.equal(again, 'stopped')
    pipelines.delete(p)
    evs = await readEnvelopes(p.out, 'shop.once')
    assert.equal(evs.length, 1000, 'no second snapshot, no streaming')
  })

  test('never streams only the changes made after the start', async () => {
    await db.sql('CREATE TABLE shop.later (id INT PRIMARY KEY, v INT NOT NULL)')
    await db.sql('INSERT INTO shop.later SELECT seq, 0 FROM seq_1_to_100', [], 'shop')
    const d = dir()
    const p = start(yaml(d, ['shop.later'], 5507, 'never'), d.dir)
    const c = await connect()
    // Changes before the stream's start point are not wanted; insert until one arrives.
    let id = 1000
    await waitFor(
      async () => {
        await c.query('INSERT INTO later VALUES (?, 0)', [++id])
        return (await readEnvelopes(p.out, 'shop.later')).length > 0
      },
      30_000,
      'the stream to start',
    )
    const lastProbe = id
    await c.query('UPDATE later SET v = 7 WHERE id = 5')
    await c.query('DELETE FROM later WHERE id = 6')
    await c.query('INSERT INTO later VALUES (?, 1)', [++id])
    await waitForRow(p.out, 'shop.later', id)
    const evs = await readEnvelopes(p.out, 'shop.later')
    assert.ok(
      evs.every((e) => e.op !== 'r'),
      'no snapshot events',
    )
    const creates = evs.filter((e) => e.op === 'c').map(idOf)
    const from = creates[0]!
    assert.ok(from > 1000, 'no pre-existing row is emitted')
    assert.deepEqual(
      creates,
      [...Array.from({ length: lastProbe - from + 1 }, (_, i) => from + i), id],
      'from the first change seen on, every change, in order',
    )
    assert.deepEqual(
      evs.filter((e) => e.op !== 'c').map((e) => [e.op, idOf(e)]),
      [
        ['u', 5],
        ['d', 6],
      ],
    )
    assert.equal(evs.find((e) => e.op === 'u')!.after!.v, 7)
    assertIncreasing(evs, 'never')
    await stop(p)
  })
})
