import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { startPostgres, type PgServer } from './servers/postgres.js'
import {
  pipelineYaml,
  readEnvelopes,
  startPipeline,
  tempDir,
  waitFor,
  type Envelope,
} from './helpers/pipeline.js'

let pg: PgServer

before(async () => {
  pg = await startPostgres()
  await pg.sql('CREATE DATABASE shop')
})
after(async () => {
  await pg?.stop()
})

const ids = (evs: Envelope[]): unknown[] => evs.map((e) => (e.after ?? e.before)?.id)
const positionsIncrease = (evs: Envelope[]): void => {
  for (let i = 1; i < evs.length; i++) {
    assert.ok(evs[i - 1]!.source.position < evs[i]!.source.position, `position ${i} does not increase`)
  }
}

describe('postgres end to end', () => {
  test('snapshot then stream, in commit order, with positions that sort in delivery order', async () => {
    await pg.sql(
      `CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2), note text);
       INSERT INTO accounts SELECT g, 'n' || g, g * 1.5, NULL FROM generate_series(1, 500) g;`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.accounts'], dir: t.dir }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 500, 30_000, 'snapshot')
      await pg.sql(
        `INSERT INTO accounts VALUES (1001, 'new', 10.25, 'x');
         UPDATE accounts SET balance = balance + 1 WHERE id = 1;
         DELETE FROM accounts WHERE id = 2;`,
        [],
        'shop',
      )
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 503 ? e : null
      })
      const snap = evs.slice(0, 500)
      assert.deepEqual(
        snap.map((e) => e.op),
        Array(500).fill('r'),
      )
      assert.equal(snap[499]!.source.snapshot, 'last')
      assert.equal(snap[0]!.source.snapshot, 'true')
      assert.deepEqual(new Set(ids(snap)), new Set(Array.from({ length: 500 }, (_, i) => i + 1)))
      const stream = evs.slice(500)
      assert.deepEqual(
        stream.map((e) => e.op),
        ['c', 'u', 'd'],
      )
      assert.equal(stream[0]!.after!.name, 'new')
      assert.equal(stream[1]!.after!.id, 1)
      assert.equal(stream[2]!.before, null, 'REPLICA IDENTITY DEFAULT has no old row image')
      assert.deepEqual({ ...stream[2]!.key }, { id: 2 }, 'the file record carries the key of the deleted row')
      assert.equal(stream[0]!.source.snapshot, 'false')
      assert.ok(stream[0]!.transaction, 'transaction block filled')
      positionsIncrease(evs)
      const state = await waitFor(() => {
        let st: { snapshot?: { tables: Record<string, { rows: number; done: boolean }> } }
        try {
          st = JSON.parse(readFileSync(join(t.dir, 'state', 'shop.json'), 'utf8')) as typeof st
        } catch {
          return null // not committed yet
        }
        return st.snapshot?.tables['public.accounts']?.done ? st : null
      })
      assert.equal(
        state.snapshot!.tables['public.accounts']!.rows,
        500,
        'snapshot progress is recorded in the state',
      )
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('interleaved transactions are delivered in commit order', async () => {
    await pg.sql('CREATE TABLE ledger (id int PRIMARY KEY, tx text NOT NULL)', [], 'shop')
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.ledger'], dir: t.dir }),
      t.dir,
    )
    const { default: pgLib } = await import('pg')
    const a = new pgLib.Client({ connectionString: pg.urlFor('shop') })
    const b = new pgLib.Client({ connectionString: pg.urlFor('shop') })
    await a.connect()
    await b.connect()
    try {
      await waitFor(() => p.runner.stats.committedPosition !== null, 20_000, 'snapshot commit')
      await a.query('BEGIN')
      await b.query('BEGIN')
      await a.query(`INSERT INTO ledger VALUES (1, 'A')`)
      await b.query(`INSERT INTO ledger VALUES (2, 'B')`)
      await a.query(`INSERT INTO ledger VALUES (3, 'A')`)
      await b.query(`INSERT INTO ledger VALUES (4, 'B')`)
      await b.query('COMMIT') // B commits first, although A wrote first
      await a.query('COMMIT')
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 4 ? e : null
      })
      assert.deepEqual(
        evs.map((e) => e.after!.tx),
        ['B', 'B', 'A', 'A'],
      )
      assert.deepEqual(ids(evs), [2, 4, 1, 3])
      assert.deepEqual(
        evs.map((e) => e.transaction!.total_order),
        [1, 2, 1, 2],
      )
      positionsIncrease(evs)
    } finally {
      await a.end()
      await b.end()
      await p.stop()
      t.cleanup()
    }
  })

  test('primary-key update is a delete of the old key and a create of the new; truncate is op t', async () => {
    await pg.sql(
      `CREATE TABLE items (id int PRIMARY KEY, label text); INSERT INTO items VALUES (1, 'one')`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.items'], dir: t.dir }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 1)
      await pg.sql(`UPDATE items SET id = 10 WHERE id = 1`, [], 'shop')
      await pg.sql(`TRUNCATE items`, [], 'shop')
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 4 ? e : null
      })
      assert.deepEqual(
        evs.map((e) => e.op),
        ['r', 'd', 'c', 't'],
      )
      assert.equal(evs[2]!.after!.id, 10)
      assert.equal(evs[2]!.after!.label, 'one')
      assert.equal(evs[3]!.before, null)
      assert.equal(evs[3]!.after, null)
      positionsIncrease(evs)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('unchanged TOAST values are never delivered as null: re-read under DEFAULT, old row under FULL', async () => {
    const big = 'x'.repeat(200_000)
    await pg.sql(
      `CREATE TABLE docs (id int PRIMARY KEY, body text, n int);
       ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL;
       CREATE TABLE docs_full (id int PRIMARY KEY, body text, n int);
       ALTER TABLE docs_full ALTER COLUMN body SET STORAGE EXTERNAL;
       ALTER TABLE docs_full REPLICA IDENTITY FULL;`,
      [],
      'shop',
    )
    await pg.sql(`INSERT INTO docs VALUES (1, $1, 0)`, [big], 'shop')
    await pg.sql(`INSERT INTO docs_full VALUES (1, $1, 0)`, [big], 'shop')
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.docs', 'public.docs_full'], dir: t.dir }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 2)
      await pg.sql(`UPDATE docs SET n = 1; UPDATE docs_full SET n = 1`, [], 'shop')
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.filter((x) => x.op === 'u').length >= 2 ? e : null
      })
      const updates = evs.filter((e) => e.op === 'u')
      for (const u of updates) {
        assert.equal(u.after!.n, 1)
        assert.equal((u.after!.body as string).length, big.length, `${u.source.table}: body delivered whole`)
      }
      const full = updates.find((u) => u.source.table === 'docs_full')!
      assert.equal((full.before!.body as string).length, big.length)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('restart resumes after the committed position without loss or duplicates', async () => {
    await pg.sql(`CREATE TABLE counters (id int PRIMARY KEY, v int NOT NULL)`, [], 'shop')
    const t = tempDir()
    const yaml = pipelineYaml({
      url: pg.urlFor('shop'),
      tables: ['public.counters'],
      dir: t.dir,
      name: 'resume',
    })
    let p = startPipeline(yaml, t.dir)
    try {
      await waitFor(() => p.runner.stats.committedPosition !== null, 20_000, 'snapshot commit')
      await pg.sql(`INSERT INTO counters SELECT g, 0 FROM generate_series(1, 100) g`, [], 'shop')
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 100)
      await p.stop()
      await pg.sql(`INSERT INTO counters SELECT g, 1 FROM generate_series(101, 150) g`, [], 'shop')
      p = startPipeline(yaml, t.dir)
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 150 ? e : null
      })
      await new Promise((r) => setTimeout(r, 500))
      const all = await readEnvelopes(p.out)
      assert.equal(all.length, 150, 'a clean stop and restart delivers each change once')
      assert.deepEqual(
        ids(evs),
        Array.from({ length: 150 }, (_, i) => i + 1),
      )
      positionsIncrease(all)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('snapshot mode initial_only reads the table and stops by itself; never streams only new changes', async () => {
    await pg.sql(`CREATE TABLE modes (id int PRIMARY KEY); INSERT INTO modes VALUES (1), (2)`, [], 'shop')
    const t1 = tempDir()
    const only = startPipeline(
      pipelineYaml({
        url: pg.urlFor('shop'),
        tables: ['public.modes'],
        dir: t1.dir,
        name: 'only',
        snapshot: 'initial_only',
      }),
      t1.dir,
    )
    try {
      await only.done
      const evs = await readEnvelopes(only.out)
      assert.deepEqual(ids(evs), [1, 2])
      assert.ok(
        only.runner.stats.committedPosition?.endsWith('.0.999999999999'),
        'snapshot recorded as complete',
      )
    } finally {
      t1.cleanup()
    }
    const t2 = tempDir()
    const never = startPipeline(
      pipelineYaml({
        url: pg.urlFor('shop'),
        tables: ['public.modes'],
        dir: t2.dir,
        name: 'never',
        snapshot: 'never',
      }),
      t2.dir,
    )
    try {
      await waitFor(
        async () =>
          (await pg.sql(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sluice_never'`)).length === 1,
      )
      // Changes after the slot's creation are retained for it, whether or not streaming began.
      await pg.sql(`INSERT INTO modes VALUES (3)`, [], 'shop')
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(never.out)
        return e.length >= 1 ? e : null
      })
      assert.deepEqual(
        evs.map((e) => [e.op, e.after?.id]),
        [['c', 3]],
      )
    } finally {
      await never.stop()
      t2.cleanup()
    }
  })

  test('the slot advances while captured tables are idle and other tables are busy (no WAL pile-up)', async () => {
    await pg.sql(
      `CREATE TABLE quiet (id int PRIMARY KEY); CREATE TABLE busy (id int PRIMARY KEY, pad text)`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({
        url: pg.urlFor('shop'),
        tables: ['public.quiet'],
        dir: t.dir,
        name: 'quiet',
        extraSource: '      status_interval_ms: 200',
      }),
      t.dir,
    )
    try {
      await waitFor(() => p.runner.stats.committedPosition !== null, 20_000, 'snapshot commit')
      const slotLsn = async (): Promise<bigint> => {
        const r = await pg.sql<{ d: string }>(
          `SELECT (confirmed_flush_lsn - '0/0')::text AS d FROM pg_replication_slots WHERE slot_name = 'sluice_quiet'`,
        )
        return BigInt(r[0]!.d)
      }
      const before = await slotLsn()
      await pg.sql(`INSERT INTO busy SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g`, [], 'shop')
      const walNow = BigInt(
        (await pg.sql<{ d: string }>(`SELECT (pg_current_wal_lsn() - '0/0')::text AS d`))[0]!.d,
      )
      assert.ok(walNow - before > 1_000_000n, 'the busy table wrote megabytes of WAL')
      await waitFor(
        async () => (await slotLsn()) >= walNow - 100_000n,
        20_000,
        'slot to advance past the busy writes',
      )
      assert.deepEqual(await readEnvelopes(p.out), [], 'nothing delivered for the uncaptured table')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('heartbeats move the recorded position and the slot forward with no table changes at all', async () => {
    await pg.sql(`CREATE TABLE beats (id int PRIMARY KEY)`, [], 'shop')
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({
        url: pg.urlFor('shop'),
        tables: ['public.beats'],
        dir: t.dir,
        name: 'beats',
        extraSource: '      heartbeat_interval_ms: 200\n      status_interval_ms: 200',
      }),
      t.dir,
    )
    try {
      // Only heartbeat transactions (pg_logical_emit_message) reach the stream: a recorded
      // streaming position (phase 1) can only come from them.
      const streamed = await waitFor(
        () => (p.runner.stats.committedPosition?.includes('.1.') ? p.runner.stats.committedPosition : null),
        20_000,
        'a heartbeat checkpoint',
      )
      const lsnOf = (pos: string): bigint => BigInt('0x' + pos.slice(0, 16))
      const slotLsn = async (): Promise<bigint> => {
        const r = await pg.sql<{ d: string }>(
          `SELECT (confirmed_flush_lsn - '0/0')::text AS d FROM pg_replication_slots WHERE slot_name = 'sluice_beats'`,
        )
        return BigInt(r[0]!.d)
      }
      // The slot is confirmed past the heartbeat's commit, and keeps moving.
      await waitFor(
        async () => (await slotLsn()) > lsnOf(streamed),
        20_000,
        'confirmed_flush_lsn past the heartbeat',
      )
      const first = await slotLsn()
      await waitFor(async () => (await slotLsn()) > first, 20_000, 'the slot to keep advancing')
      assert.deepEqual(await readEnvelopes(p.out), [], 'heartbeats are not delivered as events')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('a 10 MB value arrives intact from the snapshot and from the stream', async () => {
    await pg.sql(`CREATE TABLE big (id int PRIMARY KEY, body text NOT NULL)`, [], 'shop')
    const body = 'y'.repeat(10 * 1024 * 1024)
    await pg.sql(`INSERT INTO big VALUES (1, $1)`, [body], 'shop')
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.big'], dir: t.dir, name: 'big' }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 1, 30_000, 'snapshot row')
      await pg.sql(`INSERT INTO big VALUES (2, $1)`, [body + 'z'], 'shop')
      const evs = await waitFor(
        async () => {
          const e = await readEnvelopes(p.out)
          return e.length >= 2 ? e : null
        },
        30_000,
        'streamed row',
      )
      assert.equal((evs[0]!.after!.body as string).length, body.length)
      assert.equal((evs[1]!.after!.body as string).length, body.length + 1)
      assert.ok((evs[1]!.after!.body as string).endsWith('yz'))
    } finally {
      await p.stop()
      t.cleanup()
    }
  })
})
