/**
 * Captures pgoutput fixtures: starts a throwaway Postgres 15, runs a scripted workload per
 * scenario against a fresh pgoutput slot, and writes the raw messages the slot yields
 * (`pg_logical_slot_peek_binary_changes`) to test/fixtures/pgoutput/v<proto>_<scenario>.json.
 *
 *   npx tsx scripts/capture-pgoutput-fixtures.ts
 *
 * The unit tests in test/unit/connectors/postgres/pgoutput/ assert the decoded fixtures
 * against this workload, so change both together. Values are deterministic; xids, LSNs, OIDs
 * and (except for the origin scenario) commit times vary between captures.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import {
  PgoutputDecoder,
  UNCHANGED_TOAST,
  type PgoutputMessage,
  type TupleValues,
} from '../connectors/postgres/pgoutput/index.js'
import { startPostgres } from '../test/integration/servers/postgres.js'

const OUT = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'fixtures', 'pgoutput')
const PUBLICATION = 'sluice_pub'

const SETUP = [
  `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')`,
  `CREATE TABLE items (id int PRIMARY KEY, name text, price numeric(10,2), note text, mood mood)`,
  `CREATE TABLE docs (id int PRIMARY KEY, title text, body text)`,
  // EXTERNAL: out-of-line and uncompressed, so a 3000-byte value is TOASTed for certain.
  `ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL`,
  `CREATE TABLE full_rows (id int, label text)`,
  `ALTER TABLE full_rows REPLICA IDENTITY FULL`,
  `CREATE TABLE by_index (code text NOT NULL, label text, id int)`,
  `CREATE UNIQUE INDEX by_index_code ON by_index (code)`,
  `ALTER TABLE by_index REPLICA IDENTITY USING INDEX by_index_code`,
  `CREATE TABLE parents (id serial PRIMARY KEY, name text)`,
  `CREATE TABLE children (id serial PRIMARY KEY, parent_id int REFERENCES parents (id), name text)`,
  `CREATE TABLE samples (id int PRIMARY KEY, n int8, b bytea, t text, u uuid, ts timestamptz, flag bool)`,
  `CREATE TABLE bulk (id int PRIMARY KEY, payload text, mood mood)`,
  `CREATE PUBLICATION ${PUBLICATION} FOR ALL TABLES`,
  `SELECT pg_replication_origin_create('upstream-a')`,
]

/** Big enough to exceed logical_decoding_work_mem=64kB, so protocol 2 streams it. */
const BULK_ROWS = 300
const bulkInsert = (from: number): string =>
  `INSERT INTO bulk SELECT g, repeat('x', 100), 'ok' FROM generate_series(${from}, ${from + BULK_ROWS - 1}) g`

interface Scenario {
  name: string
  description: string
  /** Statements run one by one on one session (each outside BEGIN is its own transaction). */
  workload: string[]
  /** Protocol versions and extra options to peek with. */
  captures: { proto: 1 | 2; streaming: boolean; binary?: boolean }[]
}

const SCENARIOS: Scenario[] = [
  {
    name: 'basic',
    description:
      'insert, update, primary key update and delete on a REPLICA IDENTITY DEFAULT table with an enum column',
    workload: [
      `INSERT INTO items VALUES (1, 'widget', 9.99, '', 'happy'), (2, 'héllo wörld ✓ 😀', NULL, NULL, NULL)`,
      `UPDATE items SET price = 12.50 WHERE id = 1`,
      `UPDATE items SET id = 10 WHERE id = 2`,
      `DELETE FROM items WHERE id = 10`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'replica-identity',
    description: 'updates and deletes with REPLICA IDENTITY FULL (old row) and USING INDEX (key)',
    workload: [
      `INSERT INTO full_rows VALUES (1, 'a')`,
      `UPDATE full_rows SET label = 'b' WHERE id = 1`,
      `DELETE FROM full_rows WHERE id = 1`,
      `INSERT INTO by_index VALUES ('k1', 'x', 1)`,
      `UPDATE by_index SET label = 'y' WHERE code = 'k1'`,
      `UPDATE by_index SET code = 'k2' WHERE code = 'k1'`,
      `DELETE FROM by_index WHERE code = 'k2'`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'toast',
    description: 'an update leaving an external TOASTed column unchanged, then one changing it',
    workload: [
      `INSERT INTO docs VALUES (1, 'first', repeat('0123456789', 300))`,
      `UPDATE docs SET title = 'second' WHERE id = 1`,
      `UPDATE docs SET body = repeat('ab', 2000) WHERE id = 1`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'truncate',
    description: 'TRUNCATE ... RESTART IDENTITY CASCADE over two tables, then a plain TRUNCATE',
    workload: [
      `INSERT INTO parents (name) VALUES ('p1')`,
      `INSERT INTO children (parent_id, name) VALUES (1, 'c1')`,
      `TRUNCATE parents RESTART IDENTITY CASCADE`,
      `TRUNCATE children`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'messages',
    description: 'pg_logical_emit_message, transactional (with an insert) and not',
    workload: [
      `BEGIN`,
      `SELECT pg_logical_emit_message(true, 'sluice', 'in-txn')`,
      `INSERT INTO items VALUES (3, 'gadget', 1.00, 'n', 'ok')`,
      `COMMIT`,
      `SELECT pg_logical_emit_message(false, 'sluice.nontx', '\\x00ff10'::bytea)`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'origin',
    description: 'a transaction replayed through replication origin upstream-a (origin LSN 0/DEADBEEF)',
    workload: [
      `SELECT pg_replication_origin_session_setup('upstream-a')`,
      `BEGIN`,
      `SELECT pg_replication_origin_xact_setup('0/DEADBEEF', '2024-01-02 03:04:05+00')`,
      `INSERT INTO items VALUES (4, 'replayed', 2.00, NULL, 'sad')`,
      `COMMIT`,
      `SELECT pg_replication_origin_session_reset()`,
    ],
    captures: [{ proto: 1, streaming: false }],
  },
  {
    name: 'binary',
    description: "rows decoded with the 'binary' option: values in the types' send format",
    workload: [
      `INSERT INTO samples VALUES (1, 9007199254740993, '\\x000102ff', 'text ✓', ` +
        `'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-02 03:04:05.123456+00', true), ` +
        `(2, NULL, '', '', NULL, NULL, false)`,
    ],
    captures: [{ proto: 1, streaming: false, binary: true }],
  },
  {
    name: 'streaming',
    description:
      `large transactions over logical_decoding_work_mem=64kB: one committed (${BULK_ROWS} inserts, update, ` +
      'delete, message, truncate), one rolled back, one with a rolled-back subtransaction',
    workload: [
      `BEGIN`,
      bulkInsert(1),
      `UPDATE bulk SET payload = 'y', mood = 'happy' WHERE id = 1`,
      `DELETE FROM bulk WHERE id = 2`,
      `SELECT pg_logical_emit_message(true, 'sluice', 'streamed')`,
      `TRUNCATE children`,
      `COMMIT`,
      `BEGIN`,
      bulkInsert(1001),
      `ROLLBACK`,
      `BEGIN`,
      `INSERT INTO bulk VALUES (5001, 'before', 'sad')`,
      `SAVEPOINT s1`,
      bulkInsert(2001),
      `ROLLBACK TO SAVEPOINT s1`,
      `INSERT INTO bulk VALUES (5002, 'after', 'sad')`,
      `COMMIT`,
    ],
    captures: [
      { proto: 1, streaming: false },
      { proto: 2, streaming: true },
    ],
  },
]

const show = (v: TupleValues[number]): string =>
  v === null ? 'null' : v === UNCHANGED_TOAST ? 'unchanged-toast' : typeof v === 'string' ? 'text' : 'binary'

const shape = (t: TupleValues): string => t.map(show).join(',')

/** A one-line summary per message, for people reading the fixture. */
function describe(m: PgoutputMessage, relations: Map<number, string>): string {
  const rel = (id: number): string => relations.get(id) ?? `relation ${id}`
  const inXid = 'xid' in m && m.xid !== undefined ? ` (xid ${m.xid})` : ''
  switch (m.tag) {
    case 'begin':
      return `begin xid ${m.xid}`
    case 'commit':
      return 'commit'
    case 'origin':
      return `origin ${m.name}`
    case 'relation':
      relations.set(m.relationId, `${m.schema}.${m.name}`)
      return `relation ${m.schema}.${m.name}, replica identity '${m.replicaIdentity}', ${m.columns.length} columns${inXid}`
    case 'type':
      return `type ${m.schema}.${m.name}${inXid}`
    case 'insert':
      return `insert into ${rel(m.relationId)} [${shape(m.tuple)}]${inXid}`
    case 'update':
      return (
        `update ${rel(m.relationId)}` +
        (m.key ? ` key [${shape(m.key)}]` : '') +
        (m.old ? ` old [${shape(m.old)}]` : '') +
        ` new [${shape(m.tuple)}]${inXid}`
      )
    case 'delete':
      return `delete from ${rel(m.relationId)}${m.key ? ` key [${shape(m.key)}]` : ` old [${shape(m.old ?? [])}]`}${inXid}`
    case 'truncate':
      return (
        `truncate ${m.relationIds.map(rel).join(', ')}` +
        `${m.cascade ? ' cascade' : ''}${m.restartIdentity ? ' restart identity' : ''}${inXid}`
      )
    case 'message':
      return `${m.transactional ? 'transactional' : 'non-transactional'} message '${m.prefix}'${inXid}`
    case 'streamStart':
      return `stream start xid ${m.xid}${m.firstSegment ? ' (first segment)' : ''}`
    case 'streamStop':
      return 'stream stop'
    case 'streamCommit':
      return `stream commit xid ${m.xid}`
    case 'streamAbort':
      return m.subxid === m.xid
        ? `stream abort xid ${m.xid}`
        : `stream abort xid ${m.xid} subxact ${m.subxid}`
  }
}

async function capture(
  client: pg.Client,
  slot: string,
  scenario: Scenario,
  c: Scenario['captures'][number],
  server: string,
): Promise<string> {
  const options: Record<string, string> = {
    proto_version: String(c.proto),
    publication_names: PUBLICATION,
    messages: 'true',
  }
  if (c.proto >= 2) options.streaming = c.streaming ? 'on' : 'off'
  if (c.binary) options.binary = 'true'
  const args = Object.entries(options).flat()
  const placeholders = args.map((_, i) => `$${i + 2}`).join(', ')
  const { rows } = await client.query<{ lsn: string; xid: string; data: Buffer }>(
    `SELECT lsn::text, xid::text, data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, ${placeholders})`,
    [slot, ...args],
  )
  const decoder = new PgoutputDecoder(c.proto)
  const relations = new Map<number, string>()
  const messages = rows.map((r) => ({
    lsn: r.lsn,
    xid: Number(r.xid),
    description: describe(decoder.decode(r.data), relations),
    hex: r.data.toString('hex'),
  }))
  const file = `v${c.proto}_${scenario.name}.json`
  const fixture = {
    scenario: scenario.name,
    protoVersion: c.proto,
    description: scenario.description,
    server,
    options,
    setup: SETUP,
    workload: scenario.workload,
    messages,
  }
  writeFileSync(join(OUT, file), JSON.stringify(fixture, null, 2) + '\n')
  return `${file}: ${messages.length} messages`
}

async function main(): Promise<void> {
  const server = await startPostgres({ logical_decoding_work_mem: '64kB' })
  const client = new pg.Client({ connectionString: server.url })
  try {
    await client.connect()
    // The slot functions decode only flushed WAL; startPostgres() turns synchronous_commit off.
    await client.query('SET synchronous_commit = on')
    for (const s of SETUP) await client.query(s)
    const version = (await client.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v
    mkdirSync(OUT, { recursive: true })
    for (const scenario of SCENARIOS) {
      const slot = `fx_${scenario.name.replace(/-/g, '_')}`
      await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [slot])
      for (const statement of scenario.workload) await client.query(statement)
      // Commits flush WAL, but a trailing non-transactional message would stay unflushed.
      await client.query('SELECT pg_switch_wal()')
      for (const c of scenario.captures) console.log(await capture(client, slot, scenario, c, version))
      await client.query('SELECT pg_drop_replication_slot($1)', [slot])
    }
  } finally {
    await client.end().catch(() => {})
    await server.stop()
  }
}

await main()
