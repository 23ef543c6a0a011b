import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { SluiceError } from '../../pipeline/errors.js'
import { pipelineYaml, readEnvelopes, startPipeline, tempDir, waitFor } from './helpers/pipeline.js'
import { startPostgres, type PgServer } from './servers/postgres.js'

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

/** A pipeline that fails must fail at once, not after retries or a hang. */
const FAIL_FAST_MS = 15_000

let pg: PgServer

before(async () => {
  pg = await startPostgres()
  await pg.sql('CREATE DATABASE shop')
  await pg.sql(
    `CREATE TABLE accounts (id int PRIMARY KEY, name text NOT NULL);
     INSERT INTO accounts SELECT g, 'n' || g FROM generate_series(1, 10) g;
     CREATE TABLE events_nopk (tenant int NOT NULL, seq int NOT NULL, payload text);
     CREATE ROLE carol LOGIN REPLICATION PASSWORD 'carol-Right-pw-71';
     GRANT SELECT ON accounts TO carol;
     CREATE ROLE alice LOGIN PASSWORD 'alice-pw-3c1d';
     GRANT SELECT ON accounts TO alice;
     CREATE ROLE bob LOGIN REPLICATION PASSWORD 'bob-pw-8e2a';
     CREATE TABLE notes (id int PRIMARY KEY, owner text NOT NULL);
     INSERT INTO notes VALUES (1, 'carol'), (2, 'dave');
     ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
     CREATE POLICY own_notes ON notes USING (owner = current_user);
     GRANT SELECT ON notes TO carol;`,
    [],
    'shop',
  )
})
after(async () => {
  await pg?.stop()
})

interface Failure {
  err: SluiceError
  dir: string
  name: string
}

/**
 * Runs a pipeline that must fail: asserts it rejects within FAIL_FAST_MS with a SluiceError
 * of `code`, whose message and stack contain none of `secrets`, and that nothing was
 * acknowledged (no state file, or one without a position).
 */
async function expectFailure(opts: {
  code: string
  name: string
  url: string
  tables?: string[]
  extraSource?: string
  secrets?: string[]
}): Promise<Failure> {
  const t = tempDir()
  try {
    const yaml = pipelineYaml({
      url: opts.url,
      tables: opts.tables ?? ['public.accounts'],
      dir: t.dir,
      name: opts.name,
      extraSource: opts.extraSource,
    })
    const started = Date.now()
    const p = startPipeline(yaml, t.dir)
    const err = await p.done.then(
      () => assert.fail(`pipeline ${opts.name} should have failed with ${opts.code}`),
      (e: unknown) => e,
    )
    const elapsed = Date.now() - started
    assert.ok(err instanceof SluiceError, `a SluiceError, not ${String(err)}`)
    assert.equal(err.code, opts.code, `code (message: ${err.message})`)
    assert.ok(elapsed < FAIL_FAST_MS, `failed fast (took ${elapsed} ms)`)
    for (const s of opts.secrets ?? []) {
      assert.ok(!err.message.includes(s), `message must not contain the password: ${err.message}`)
      assert.ok(!String(err.stack).includes(s), 'stack must not contain the password')
    }
    assertNothingAcknowledged(t.dir, opts.name)
    assert.deepEqual(await readEnvelopes(join(t.dir, 'out')), [], 'no event was written')
    return { err, dir: t.dir, name: opts.name }
  } finally {
    t.cleanup()
  }
}

/** No state file, or a state file whose position is null. */
function assertNothingAcknowledged(dir: string, name: string): void {
  const file = join(dir, 'state', `${name}.json`)
  if (!existsSync(file)) return
  const state = JSON.parse(readFileSync(file, 'utf8')) as { position: string | null }
  assert.equal(state.position, null, `state file ${file} holds a position after a failure`)
}

/** A failed preflight has no side effects on the server: no slot, no publication. */
async function assertNoSlotOrPublication(server: PgServer, name: string, db = 'shop'): Promise<void> {
  const slot = `sluice_${name}`
  const slots = await server.sql('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [slot], db)
  assert.equal(slots.length, 0, `slot ${slot} was created by a failing pipeline`)
  const pubs = await server.sql('SELECT 1 FROM pg_publication WHERE pubname = $1', [slot], db)
  assert.equal(pubs.length, 0, `publication ${slot} was created by a failing pipeline`)
}

/** A decoded Avro record (a class instance) as a plain object, for deepEqual. */
const plain = (r: Record<string, unknown> | null): Record<string, unknown> | null =>
  r === null ? null : { ...r }

/** Sessions a pipeline still holds open (application_name is `sluice:<pipeline>`). */
async function openSessions(server: PgServer, name: string): Promise<number> {
  const rows = await server.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1`,
    [`sluice:${name}`],
  )
  return rows[0]!.n
}

describe('postgres errors: one clear error per failure, nothing acknowledged', () => {
  test('wrong password: PG_AUTH_FAILED naming the user and url, without the password', async () => {
    const wrong = 'Wr0ng-Canary-pw-5a7e'
    const { err } = await expectFailure({
      code: 'PG_AUTH_FAILED',
      name: 'auth',
      url: pg.urlFor('shop', 'carol', wrong),
      secrets: [wrong, encodeURIComponent(wrong), 'carol-Right-pw-71'],
    })
    assert.match(err.message, /authentication failed/)
    assert.match(err.message, /carol@127\.0\.0\.1/, 'names the user and server')
    assert.match(err.message, /source\.url/, 'names where to fix it')
    assert.equal(err.retriable, false, 'an auth failure is permanent')
    await assertNoSlotOrPublication(pg, 'auth')
  })

  test('role without REPLICATION: PG_NO_REPLICATION_PRIVILEGE with the ALTER ROLE fix', async () => {
    const { err } = await expectFailure({
      code: 'PG_NO_REPLICATION_PRIVILEGE',
      name: 'norepl',
      url: pg.urlFor('shop', 'alice', 'alice-pw-3c1d'),
      secrets: ['alice-pw-3c1d'],
    })
    assert.match(err.message, /'alice'/, 'names the role')
    assert.match(err.message, /ALTER ROLE "?alice"? WITH REPLICATION/)
    await assertNoSlotOrPublication(pg, 'norepl')
  })

  test('role with REPLICATION but no SELECT: PG_NO_SELECT with the GRANT SELECT fix', async () => {
    const { err } = await expectFailure({
      code: 'PG_NO_SELECT',
      name: 'nosel',
      url: pg.urlFor('shop', 'bob', 'bob-pw-8e2a'),
      secrets: ['bob-pw-8e2a'],
    })
    assert.match(err.message, /public\.accounts/, 'names the table')
    assert.match(err.message, /GRANT SELECT ON "public"\."accounts" TO "?bob"?/)
    await assertNoSlotOrPublication(pg, 'nosel')
  })

  test('row-level security on a captured table: PG_ROW_SECURITY instead of a snapshot missing rows', async () => {
    const { err } = await expectFailure({
      code: 'PG_ROW_SECURITY',
      name: 'rls',
      url: pg.urlFor('shop', 'carol', 'carol-Right-pw-71'),
      tables: ['public.notes'],
      secrets: ['carol-Right-pw-71'],
    })
    assert.match(err.message, /public\.notes/, 'names the table')
    assert.match(err.message, /ALTER ROLE "?carol"? BYPASSRLS/)
    await assertNoSlotOrPublication(pg, 'rls')
  })

  test('a hostile table name is captured, never executed', async () => {
    const hostile = 'a"; DROP TABLE accounts; --'
    await pg.sql(
      `CREATE TABLE "a""; DROP TABLE accounts; --" (id int PRIMARY KEY, v text);
       INSERT INTO "a""; DROP TABLE accounts; --" VALUES (1, 'x');`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: [`public.${hostile}`], dir: t.dir, name: 'hostile' }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 1, 20_000, 'snapshot')
      await pg.sql(`INSERT INTO "a""; DROP TABLE accounts; --" VALUES (2, 'y')`, [], 'shop')
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 2 ? e : null
      })
      assert.deepEqual(
        evs.map((e) => [e.op, e.source.table, plain(e.after)]),
        [
          ['r', hostile, { id: 1, v: 'x' }],
          ['c', hostile, { id: 2, v: 'y' }],
        ],
      )
      const still = await pg.sql<{ n: number }>('SELECT count(*)::int AS n FROM accounts', [], 'shop')
      assert.equal(still[0]!.n, 10, 'accounts was not dropped')
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('wal_level=replica: PG_WAL_LEVEL telling how to set logical', async () => {
    const replica = await startPostgres({ wal_level: 'replica' })
    try {
      await replica.sql('CREATE DATABASE shop')
      await replica.sql('CREATE TABLE accounts (id int PRIMARY KEY)', [], 'shop')
      const { err } = await expectFailure({ code: 'PG_WAL_LEVEL', name: 'wal', url: replica.urlFor('shop') })
      assert.match(err.message, /'replica'/, 'names the current setting')
      assert.match(err.message, /wal_level = logical/, 'names the fix')
      assert.match(err.message, /restart/, 'says a restart is needed')
      const slots = await replica.sql('SELECT 1 FROM pg_replication_slots')
      assert.equal(slots.length, 0)
    } finally {
      await replica.stop()
    }
  })

  test('unknown table: PG_TABLE_NOT_FOUND naming the table and source.tables', async () => {
    const { err } = await expectFailure({
      code: 'PG_TABLE_NOT_FOUND',
      name: 'notable',
      url: pg.urlFor('shop'),
      tables: ['public.accounts', 'public.no_such_table'],
    })
    assert.match(err.message, /'public\.no_such_table'/)
    assert.ok(!err.message.includes("'public.accounts'"), 'names only the missing table')
    assert.match(err.message, /source\.tables/)
    await assertNoSlotOrPublication(pg, 'notable')
  })

  test('table without a primary key: PG_NO_PRIMARY_KEY offering a key or key_columns', async () => {
    const { err } = await expectFailure({
      code: 'PG_NO_PRIMARY_KEY',
      name: 'nopk',
      url: pg.urlFor('shop'),
      tables: ['public.events_nopk'],
    })
    assert.match(err.message, /public\.events_nopk/)
    assert.match(err.message, /ADD PRIMARY KEY/)
    assert.match(err.message, /key_columns/)
    await assertNoSlotOrPublication(pg, 'nopk')
  })

  test('key_columns without REPLICA IDENTITY FULL: PG_NO_REPLICA_IDENTITY with the ALTER TABLE fix', async () => {
    const { err } = await expectFailure({
      code: 'PG_NO_REPLICA_IDENTITY',
      name: 'noident',
      url: pg.urlFor('shop'),
      tables: ['public.events_nopk'],
      extraSource: '      key_columns: { public.events_nopk: [tenant, seq] }',
    })
    assert.match(err.message, /public\.events_nopk/)
    assert.match(err.message, /ALTER TABLE "public"\."events_nopk" REPLICA IDENTITY FULL/)
    await assertNoSlotOrPublication(pg, 'noident')
  })

  test('key_columns with REPLICA IDENTITY FULL: snapshot, update and delete arrive with full row images', async () => {
    await pg.sql(
      `CREATE TABLE events_full (tenant int NOT NULL, seq int NOT NULL, payload text);
       ALTER TABLE events_full REPLICA IDENTITY FULL;
       INSERT INTO events_full VALUES (1, 1, 'a'), (1, 2, 'b'), (2, 1, 'c');`,
      [],
      'shop',
    )
    const t = tempDir()
    const p = startPipeline(
      pipelineYaml({
        url: pg.urlFor('shop'),
        tables: ['public.events_full'],
        dir: t.dir,
        name: 'keycols',
        extraSource: '      key_columns: { public.events_full: [tenant, seq] }',
      }),
      t.dir,
    )
    try {
      await waitFor(async () => (await readEnvelopes(p.out)).length >= 3, 20_000, 'snapshot')
      await pg.sql(
        `UPDATE events_full SET payload = 'b2' WHERE tenant = 1 AND seq = 2;
         DELETE FROM events_full WHERE tenant = 2 AND seq = 1;
         INSERT INTO events_full VALUES (3, 1, 'd');`,
        [],
        'shop',
      )
      const evs = await waitFor(async () => {
        const e = await readEnvelopes(p.out)
        return e.length >= 6 ? e : null
      })
      assert.deepEqual(
        evs.map((e) => e.op),
        ['r', 'r', 'r', 'u', 'd', 'c'],
      )
      assert.deepEqual(
        evs
          .slice(0, 3)
          .map((e) => plain(e.after))
          .sort(
            (a, b) => Number(a!.tenant) * 10 + Number(a!.seq) - (Number(b!.tenant) * 10 + Number(b!.seq)),
          ),
        [
          { tenant: 1, seq: 1, payload: 'a' },
          { tenant: 1, seq: 2, payload: 'b' },
          { tenant: 2, seq: 1, payload: 'c' },
        ],
      )
      const [u, d, c] = evs.slice(3)
      assert.deepEqual(
        plain(u!.before),
        { tenant: 1, seq: 2, payload: 'b' },
        'update carries the full old row',
      )
      assert.deepEqual(plain(u!.after), { tenant: 1, seq: 2, payload: 'b2' })
      assert.deepEqual(
        plain(d!.before),
        { tenant: 2, seq: 1, payload: 'c' },
        'delete carries the full old row',
      )
      assert.equal(d!.after, null)
      assert.deepEqual(plain(c!.after), { tenant: 3, seq: 1, payload: 'd' })
      for (let i = 1; i < evs.length; i++) assert.ok(evs[i - 1]!.source.position < evs[i]!.source.position)
    } finally {
      await p.stop()
      t.cleanup()
    }
  })

  test('slot in use by another Sluice: PG_SLOT_ACTIVE, and the running pipeline keeps its position', async () => {
    const t = tempDir()
    const first = startPipeline(
      pipelineYaml({ url: pg.urlFor('shop'), tables: ['public.accounts'], dir: t.dir, name: 'busy' }),
      t.dir,
    )
    try {
      await waitFor(() => first.runner.stats.committedPosition !== null, 20_000, 'first pipeline commit')
      const stateFile = join(t.dir, 'state', 'busy.json')
      const before = readFileSync(stateFile, 'utf8')
      const slotBefore = await pg.sql<{ lsn: string }>(
        `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'sluice_busy'`,
        [],
        'shop',
      )
      const { err } = await expectFailure({
        code: 'PG_SLOT_ACTIVE',
        name: 'busy2',
        url: pg.urlFor('shop'),
        // No wait: the running pipeline legitimately confirms newer WAL meanwhile, which
        // would blur what this checks (that the failing one moved nothing).
        extraSource: '      slot: sluice_busy\n      publication: sluice_busy\n      slot_wait_ms: 0',
      })
      assert.match(err.message, /'sluice_busy'/, 'names the slot')
      assert.match(err.message, /source\.slot/, 'names the fix')
      assert.equal(readFileSync(stateFile, 'utf8'), before, 'the running pipeline state is untouched')
      const slotAfter = await pg.sql<{ lsn: string }>(
        `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'sluice_busy'`,
        [],
        'shop',
      )
      assert.deepEqual(slotAfter, slotBefore, 'the failing pipeline did not move the slot')
    } finally {
      await first.stop()
      t.cleanup()
    }
  })

  test('slot in use by pg_recvlogical: PG_SLOT_ACTIVE, slot position unchanged', async () => {
    await pg.sql('CREATE PUBLICATION recv_pub FOR TABLE accounts', [], 'shop')
    await pg.sql(`SELECT pg_create_logical_replication_slot('recv_slot', 'pgoutput')`, [], 'shop')
    const recv = spawn(
      join(BIN, 'pg_recvlogical'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(pg.port),
        '-U',
        'postgres',
        '-d',
        'shop',
        '--slot',
        'recv_slot',
        '--start',
      ].concat(['-o', 'proto_version=1', '-o', 'publication_names=recv_pub', '-f', '/dev/null', '--no-loop']),
      { stdio: 'ignore' },
    )
    try {
      await waitFor(
        async () =>
          (
            await pg.sql(
              `SELECT 1 FROM pg_replication_slots WHERE slot_name = 'recv_slot' AND active_pid IS NOT NULL`,
              [],
              'shop',
            )
          ).length > 0,
        10_000,
        'pg_recvlogical to hold the slot',
      )
      const slotBefore = await pg.sql(
        `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'recv_slot'`,
        [],
        'shop',
      )
      const { err } = await expectFailure({
        code: 'PG_SLOT_ACTIVE',
        name: 'recv',
        url: pg.urlFor('shop'),
        extraSource: '      slot: recv_slot\n      publication: recv_pub\n      slot_wait_ms: 1000',
      })
      assert.match(err.message, /'recv_slot'/)
      assert.match(err.message, /still after waiting 1000 ms, source\.slot_wait_ms/, 'waited, boundedly')
      assert.match(err.message, /server process \d+/, 'names the process holding the slot')
      const slotAfter = await pg.sql(
        `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'recv_slot'`,
        [],
        'shop',
      )
      assert.deepEqual(slotAfter, slotBefore)
    } finally {
      recv.kill('SIGTERM')
    }
  })

  // The runner once ran preflight outside its try/finally: the catalog connection leaked
  // and `sluice run` never exited after a preflight error.
  test('a failed preflight leaves no connection open', async () => {
    await expectFailure({
      code: 'PG_TABLE_NOT_FOUND',
      name: 'leak',
      url: pg.urlFor('shop'),
      tables: ['public.nope'],
    })
    // Connections close asynchronously; give them a moment.
    const n = await waitFor(
      async () => ((await openSessions(pg, 'leak')) === 0 ? 'closed' : null),
      3_000,
      'sessions to close',
    ).catch(async () => openSessions(pg, 'leak'))
    assert.equal(n, 'closed', `the failed pipeline still holds ${String(n)} session(s) open`)
  })
})
