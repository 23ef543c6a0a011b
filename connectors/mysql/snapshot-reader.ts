import { PreconditionError } from '../../pipeline/errors.js'
import type { Flavour } from './replication.js'

/** Runs one statement on the snapshot connection and returns its rows. */
export type SnapshotQuery = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>

/** The binlog coordinates a consistent snapshot corresponds to. */
export interface SnapshotPoint {
  readonly file: string
  readonly position: number
  /** MariaDB: BINLOG_GTID_POS of the point; MySQL: Executed_Gtid_Set; '' when unknown. */
  readonly gtid: string
}

/**
 * Opens a consistent-snapshot transaction on the connection behind `q` and returns the
 * binlog coordinates it corresponds to; the caller reads the tables in that transaction,
 * then streams the binlog from the coordinates.
 *
 * MariaDB: `START TRANSACTION WITH CONSISTENT SNAPSHOT` makes `binlog_snapshot_file` and
 * `binlog_snapshot_position` exactly the snapshot's point, without any lock (verified with
 * concurrent writers, notes/mysql-binlog.md §5).
 *
 * MySQL: nothing ties the coordinates to the snapshot, so writes are blocked for the moment
 * it takes to open the snapshot and read `SHOW MASTER STATUS`: `FLUSH TABLES WITH READ
 * LOCK` (needs RELOAD), then the snapshot, the coordinates, and `UNLOCK TABLES`, which
 * always runs once the lock was taken.
 */
export async function openSnapshot(flavour: Flavour, q: SnapshotQuery): Promise<SnapshotPoint> {
  if (flavour === 'mariadb') {
    await q('START TRANSACTION WITH CONSISTENT SNAPSHOT')
    const rows = await q("SHOW STATUS LIKE 'binlog_snapshot_%'")
    const st = new Map(rows.map((r) => [String(r.Variable_name), String(r.Value)]))
    const file = st.get('Binlog_snapshot_file') ?? ''
    const position = Number(st.get('Binlog_snapshot_position'))
    if (!file) {
      throw new PreconditionError(
        'MYSQL_BINLOG_DISABLED',
        'the server reports no binlog snapshot position: enable log_bin',
      )
    }
    const g = await q('SELECT BINLOG_GTID_POS(?, ?) AS g', [file, position])
    return { file, position, gtid: String(g[0]?.g ?? '') }
  }
  try {
    await q('FLUSH TABLES WITH READ LOCK')
  } catch (err) {
    throw new PreconditionError(
      'MYSQL_SNAPSHOT_LOCK',
      `a consistent snapshot on MySQL needs a brief global read lock, which failed (${(err as Error).message}): GRANT RELOAD ON *.* TO the Sluice user, or set source.snapshot: never`,
      { cause: err },
    )
  }
  try {
    await q('START TRANSACTION WITH CONSISTENT SNAPSHOT')
    const rows = await q('SHOW MASTER STATUS')
    const r = rows[0]
    if (!r)
      throw new PreconditionError('MYSQL_BINLOG_DISABLED', 'the server reports no binary log: enable log_bin')
    return {
      file: String(r.File),
      position: Number(r.Position),
      gtid: String(r.Executed_Gtid_Set ?? '').replace(/\s+/g, ''),
    }
  } finally {
    await q('UNLOCK TABLES')
  }
}
