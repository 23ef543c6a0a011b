/**
 * A stored position whose replication slot is gone: dropped by someone, or invalidated by
 * the server because it fell more than `max_slot_wal_keep_size` behind (wal_status = lost).
 * `source.on_slot_lost: fail` (the default) stops with a distinct error and leaves the
 * state untouched; `snapshot` takes a new snapshot from a new slot and streams from there.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type pg from 'pg'
import { SluiceError } from '../../pipeline/errors.js'
import {
  pipelineYaml,
  readEnvelopes,
  startPipeline,
  tempDir,
  waitFor,
  type Envelope,
} from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

let server: PgServer

before(async () => {
  // 1 MB: a slot more than about one WAL segment behind is invalidated at the next checkpoint.
  server = await startPostgres({ max_slot_wal_keep_size: '1MB' })
})
after(async () => {
  await server?.stop()
})

const db = (name: string) => ({
  sql: <T extends pg.QueryResultRow = Record<string, unknown>>(q: string, params: unknown[] = []) =>
    server.sql<T>(q, params, name),
})

/** Rows as (id, v) pairs from the table itself. */
async function tableRows(d: ReturnType<typeof db>): Promise<string[]> {
  return (await d.sql<{ id: number; v: string }>('SELECT id, v FROM items ORDER BY id')).map(
    (r) => `${r.id}=${r.v}`,
  )
}

/** The rows of the newest snapshot in the output (events whose position is in phase 0 with the highest LSN). */
function lastSnapshotRows(events: Envelope[]): { lsn: string; rows: string[] } {
  const snaps = events.filter((e) => e.source.position.split('.')[1] === '0' && e.op === 'r')
  const lsn = snaps
    .map((e) => e.source.position.split('.')[0]!)
    .sort()
    .at(-1)!
  const rows = snaps
    .filter((e) => e.source.position.startsWith(lsn + '.'))
    .map((e) => `${e.after!.id as number}=${e.after!.v as string}`)
    .sort((a, b) => Number(a.split('=')[0]) - Number(b.split('=')[0]))
  return { lsn, rows }
}

/** Runs until `check` holds on the output (`during` runs once the pipeline started), then stops cleanly. */
async function runUntil(
  yaml: string,
  dir: string,
  check: (events: Envelope[]) => boolean,
  during: () => Promise<unknown> = async () => undefined,
): Promise<Envelope[]> {
  const p = startPipeline(yaml, dir)
  let events: Envelope[] = []
  try {
    await during()
    await waitFor(
      async () => {
        events = await readEnvelopes(p.out)
        return check(events)
      },
      60_000,
      'the expected events',
    )
  } finally {
    await p.stop()
  }
  return events
}

/** Starts a run that must fail at start-up; returns its error. */
async function runFails(yaml: string, dir: string): Promise<SluiceError> {
  const p = startPipeline(yaml, dir)
  const err = await p.done.then(
    () => assert.fail('the pipeline started although its slot cannot resume the stored position'),
    (e: unknown) => e,
  )
  assert.ok(err instanceof SluiceError, `a SluiceError, got ${String(err)}`)
  return err
}

async function setup(name: string): Promise<{ d: ReturnType<typeof db>; url: string }> {
  await server.sql(`CREATE DATABASE ${name}`)
  const d = db(name)
  await d.sql(
    `CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL);
     INSERT INTO items SELECT g, 'v' || g FROM generate_series(1, 50) g`,
  )
  return { d, url: server.urlFor(name) }
}

const created = (id: number) => (ev: Envelope[]) =>
  ev.some((e) => e.op === 'c' && e.after?.id === id && e.source.position.split('.')[1] === '1')

for (const how of ['invalidated', 'dropped'] as const) {
  test(`a slot ${how} while Sluice was stopped: fail keeps the state, snapshot re-reads the tables`, async (t) => {
    const name = `lost_${how}`
    const { d, url } = await setup(name)
    const tmp = tempDir()
    t.after(() => tmp.cleanup())
    const base = { url, tables: ['public.items'], dir: tmp.dir, name }
    const yaml = pipelineYaml(base)
    const snapshotYaml = pipelineYaml({ ...base, extraSource: '      on_slot_lost: snapshot' })
    const stateFile = join(tmp.dir, 'state', `${name}.json`)
    const slot = `sluice_${name}`

    // First run: the snapshot, then one streamed change.
    const first = await runUntil(yaml, tmp.dir, created(51), async () => {
      await waitFor(
        async () => (await readEnvelopes(join(tmp.dir, 'out'))).length >= 50,
        60_000,
        'the snapshot',
      )
      await d.sql(`INSERT INTO items VALUES (51, 'v51')`)
    })
    const oldSnapshot = lastSnapshotRows(first)
    assert.equal(oldSnapshot.rows.length, 50)
    const oldMax = first
      .map((e) => e.source.position)
      .sort()
      .at(-1)!

    // While stopped: changes only the slot could carry (an update and a delete among them).
    await d.sql(
      `INSERT INTO items VALUES (52, 'v52'); UPDATE items SET v = 'changed' WHERE id = 7; DELETE FROM items WHERE id = 9`,
    )
    if (how === 'invalidated') {
      await d.sql(`CREATE TABLE filler (id serial PRIMARY KEY, pad text)`)
      for (let i = 0; i < 4; i++) {
        await d.sql(`INSERT INTO filler (pad) SELECT repeat('x', 1000) FROM generate_series(1, 3000)`)
        await d.sql('SELECT pg_switch_wal()')
      }
      await d.sql('CHECKPOINT')
      const [s] = await d.sql<{ wal_status: string }>(
        'SELECT wal_status FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      )
      assert.equal(s?.wal_status, 'lost', 'the server invalidated the slot')
    } else {
      await d.sql('SELECT pg_drop_replication_slot($1)', [slot])
    }

    // on_slot_lost: fail (the default): a distinct error naming the slot and the fix; the
    // state is untouched, and it fails the same way again (no retry loop, no "start from now").
    const stateBefore = readFileSync(stateFile)
    for (let attempt = 0; attempt < 2; attempt++) {
      const err = await runFails(yaml, tmp.dir)
      assert.equal(err.code, how === 'invalidated' ? 'PG_SLOT_INVALIDATED' : 'PG_SLOT_MISSING')
      assert.equal(err.retriable, false)
      assert.ok(err.message.includes(`'${slot}'`), err.message)
      assert.match(err.message, /on_slot_lost: snapshot/)
      assert.deepEqual(readFileSync(stateFile), stateBefore, 'the state file is byte-identical')
    }

    // on_slot_lost: snapshot: a new snapshot of the table as it is now, then streaming.
    const expected = await tableRows(d)
    const all = await runUntil(snapshotYaml, tmp.dir, created(53), async () => {
      await waitFor(
        async () => lastSnapshotRows(await readEnvelopes(join(tmp.dir, 'out'))).lsn !== oldSnapshot.lsn,
        60_000,
        'the new snapshot',
      )
      await d.sql(`INSERT INTO items VALUES (53, 'after')`)
    })
    const snap = lastSnapshotRows(all)
    assert.ok(snap.lsn > oldSnapshot.lsn, 'the new snapshot has a later consistent point')
    assert.deepEqual(
      snap.rows,
      expected,
      'the new snapshot holds the table as it was, with the missed changes',
    )
    const second = all.filter((e) => e.source.position > oldMax)
    assert.ok(second.length >= expected.length + 1, 'the second run wrote the snapshot and the new insert')
    assert.ok(
      all.filter((e) => !second.includes(e)).length === first.length,
      'every event of the second run sorts after everything the first run delivered',
    )
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as { position: string }
    assert.ok(
      state.position > oldMax && state.position.split('.')[1] === '1',
      'the committed position moved on, streaming',
    )
  })
}
