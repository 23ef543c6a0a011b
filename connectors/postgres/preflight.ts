import type pg from 'pg'
import { PreconditionError } from '../../pipeline/errors.js'
import type { PostgresConfig } from './config.js'
import { expandTables, ident, qualified, quoteTable, tableMeta, type TableMeta } from './tables.js'

/** What preflight learned, reused by the source. */
export interface PreflightResult {
  readonly tables: TableMeta[]
  readonly publicationExists: boolean
  readonly slotExists: boolean
  /** The slot exists but the server invalidated it (`wal_status = lost`): it can never stream again. */
  readonly slotLost: boolean
  readonly database: string
  readonly user: string
}

/**
 * Checks every prerequisite of a Postgres source without changing anything: wal_level,
 * replication privilege, the tables (exist, readable, have a key), and whether the
 * publication and slot exist or can be created. Each failure is one PreconditionError
 * naming the object and the fix.
 */
export async function preflight(
  client: pg.ClientBase,
  cfg: PostgresConfig,
  slot: string,
  publication: string,
): Promise<PreflightResult> {
  const one = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T> =>
    (await client.query<T>(sql, params)).rows[0]!

  const { wal_level } = await one<{ wal_level: string }>('SHOW wal_level')
  if (wal_level !== 'logical') {
    throw new PreconditionError(
      'PG_WAL_LEVEL',
      `wal_level is '${wal_level}' but logical decoding needs 'logical': set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart the server`,
    )
  }
  const role = await one<{
    user: string
    db: string
    rolreplication: boolean
    rolsuper: boolean
    version: number
  }>(
    `SELECT current_user AS user, current_database() AS db, r.rolreplication, r.rolsuper,
            current_setting('server_version_num')::int AS version
       FROM pg_roles r WHERE r.rolname = current_user`,
  )
  if (role.version < 100000) {
    throw new PreconditionError(
      'PG_VERSION',
      `postgres ${role.version} is too old: pgoutput needs Postgres 10 or later`,
    )
  }
  if (!role.rolreplication && !role.rolsuper) {
    throw new PreconditionError(
      'PG_NO_REPLICATION_PRIVILEGE',
      `user '${role.user}' may not use logical replication: run ALTER ROLE ${ident(role.user)} WITH REPLICATION (as a superuser)`,
    )
  }

  const refs = await expandTables(client, cfg.tables)
  const metas = await tableMeta(
    client,
    refs.map((r) => r.oid),
  )
  const tables = refs.map((r) => metas.get(r.oid)!)
  for (const t of tables) {
    const { ok } = await one<{ ok: boolean }>(`SELECT has_table_privilege($1::oid, 'SELECT') AS ok`, [t.oid])
    if (!ok) {
      throw new PreconditionError(
        'PG_NO_SELECT',
        `user '${role.user}' cannot read table ${qualified(t)}: run GRANT SELECT ON ${quoteTable(t)} TO ${ident(role.user)}`,
      )
    }
    // Row-level security would make the snapshot silently skip rows the policy hides,
    // while the change stream carries them all. The snapshot runs with row_security = off,
    // which turns that into an error; this names the fix before anything is read.
    const { limited } = await one<{ limited: boolean }>(
      `SELECT c.relrowsecurity
              AND NOT (SELECT r.rolbypassrls OR r.rolsuper FROM pg_roles r WHERE r.rolname = current_user)
              AND (c.relforcerowsecurity OR NOT pg_has_role(current_user, c.relowner, 'USAGE')) AS limited
         FROM pg_class c WHERE c.oid = $1::oid`,
      [t.oid],
    )
    if (limited) {
      throw new PreconditionError(
        'PG_ROW_SECURITY',
        `table ${qualified(t)} has row-level security that applies to user '${role.user}', so a snapshot would miss the rows its policies hide: run ALTER ROLE ${ident(role.user)} BYPASSRLS (as a superuser), or ALTER TABLE ${quoteTable(t)} DISABLE ROW LEVEL SECURITY`,
      )
    }
    const configured = cfg.key_columns[qualified(t)]
    if (configured) {
      const names = new Set(t.columns.map((c) => c.name))
      const bad = configured.filter((c) => !names.has(c))
      if (bad.length > 0) {
        throw new PreconditionError(
          'PG_BAD_KEY_COLUMNS',
          `source.key_columns for ${qualified(t)} names ${bad.join(', ')}, which ${bad.length > 1 ? 'are not columns' : 'is not a column'} of the table`,
        )
      }
    }
    if (t.primaryKey.length === 0) {
      if (!configured) {
        throw new PreconditionError(
          'PG_NO_PRIMARY_KEY',
          `table ${qualified(t)} has no primary key: add one (ALTER TABLE ${quoteTable(t)} ADD PRIMARY KEY (...)) or set source.key_columns: { ${qualified(t)}: [col, ...] }`,
        )
      }
      if (t.replicaIdentity !== 'f' && t.replicaIdentity !== 'i') {
        throw new PreconditionError(
          'PG_NO_REPLICA_IDENTITY',
          `table ${qualified(t)} has no primary key, so Postgres cannot log its updates and deletes: run ALTER TABLE ${quoteTable(t)} REPLICA IDENTITY FULL`,
        )
      }
    }
  }

  const pub = await one<{ n: number }>('SELECT count(*)::int AS n FROM pg_publication WHERE pubname = $1', [
    publication,
  ])
  const publicationExists = pub.n > 0
  if (!publicationExists && !role.rolsuper) {
    const { can } = await one<{ can: boolean }>(
      `SELECT has_database_privilege(current_database(), 'CREATE') AS can`,
    )
    const notOwned = (
      await client.query<{ t: string }>(
        `SELECT n.nspname || '.' || c.relname AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.oid = ANY($1::oid[]) AND NOT pg_has_role(c.relowner, 'USAGE')`,
        [tables.map((t) => t.oid)],
      )
    ).rows.map((r) => r.t)
    if (!can || notOwned.length > 0) {
      throw new PreconditionError(
        'PG_CANNOT_CREATE_PUBLICATION',
        `publication '${publication}' does not exist and user '${role.user}' cannot create it (needs CREATE on the database and ownership of ${notOwned.join(', ') || 'the tables'}): ask an admin to run CREATE PUBLICATION ${ident(publication)} FOR TABLE ${tables.map(quoteTable).join(', ')}`,
      )
    }
  }

  const readSlot = async () =>
    (
      await client.query<{
        plugin: string
        database: string
        active_pid: number | null
        slot_type: string
        wal_status: string | null
      }>(
        'SELECT plugin, database, active_pid, slot_type, wal_status FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      )
    ).rows[0]
  let s = await readSlot()
  // A consumer that just died (a cut connection, a killed Sluice) can hold the slot until
  // its walsender notices: wait a bounded time for the release, never forever.
  for (const until = Date.now() + cfg.slot_wait_ms; s?.active_pid != null && Date.now() < until;) {
    await new Promise((r) => setTimeout(r, 200))
    s = await readSlot()
  }
  if (s) {
    if (s.slot_type !== 'logical' || s.plugin !== 'pgoutput') {
      throw new PreconditionError(
        'PG_SLOT_WRONG_PLUGIN',
        `replication slot '${slot}' exists but is a ${s.slot_type} slot with plugin '${s.plugin}': choose another source.slot or drop it (SELECT pg_drop_replication_slot('${slot}'))`,
      )
    }
    if (s.database !== role.db) {
      throw new PreconditionError(
        'PG_SLOT_OTHER_DATABASE',
        `replication slot '${slot}' belongs to database '${s.database}', not '${role.db}': choose another source.slot`,
      )
    }
    if (s.active_pid !== null) {
      throw new PreconditionError(
        'PG_SLOT_ACTIVE',
        `replication slot '${slot}' is in use by server process ${s.active_pid} (still after waiting ${cfg.slot_wait_ms} ms, source.slot_wait_ms): another Sluice (or consumer) is running this pipeline; stop it, or choose another source.slot`,
      )
    }
  } else {
    const free = await one<{ free: number }>(
      `SELECT current_setting('max_replication_slots')::int - (SELECT count(*)::int FROM pg_replication_slots) AS free`,
    )
    if (free.free <= 0) {
      throw new PreconditionError(
        'PG_NO_FREE_SLOT',
        `cannot create replication slot '${slot}': all max_replication_slots are used; raise max_replication_slots or drop an unused slot`,
      )
    }
  }
  return {
    tables,
    publicationExists,
    slotExists: !!s,
    slotLost: s?.wal_status === 'lost',
    database: role.db,
    user: role.user,
  }
}
