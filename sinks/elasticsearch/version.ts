import { SinkError } from '../../pipeline/errors.js'

/**
 * External document versions from source positions.
 *
 * Elasticsearch and OpenSearch external versions are signed 64-bit longs in
 * 0..2^63-1. A position carries more than 63 bits (a Postgres LSN alone is 64 bits, and
 * the event index within a transaction up to 10^12), so the version encodes the
 * *transaction* and the order within it is kept by the sink instead:
 *
 * - Postgres `<commit LSN>.<phase>.<index>`: version = the commit LSN (for snapshot rows,
 *   phase 0, the slot's consistent point, which is below every streamed commit LSN).
 *   LSNs are WAL byte offsets: 2^63 bytes is 8 EiB of WAL, centuries at any real rate.
 * - MySQL `<file seq>.<offset>.<phase>.<index>;...`: version = seq × 2^32 + offset of
 *   the transaction's start. MySQL caps the binlog file number at 2^31-1 and binlog event
 *   headers address a file with 32-bit offsets, so both fields fit and the result stays
 *   below 2^63.
 *
 * So the version is non-decreasing in position order, and equal exactly for the events
 * of one transaction (or of one snapshot). Tie rule: the sink writes with
 * `version_type=external_gte` and applies the events of one key in position order
 * (within a bulk request, across requests, and across retries), so the last event of a
 * transaction for a key wins; an event of an *older* transaction always gets a 409
 * (stale, counted) and never overwrites a newer document. A replay restarts at the last
 * acknowledged position and re-applies the rest of that transaction in order, so it ends
 * in the same state.
 *
 * A position that cannot be mapped (LSN ≥ 2^63, file number ≥ 2^31, offset ≥ 2^32, or an
 * unknown format) is a SinkError naming the position, never a wrapped version.
 */
export type VersionOf = (position: string) => bigint

/** The largest external version Elasticsearch and OpenSearch accept. */
export const MAX_VERSION = (1n << 63n) - 1n

/** MySQL's binlog file numbers stop at 2^31-1 (MAX_LOG_UNIQUE_FN_EXT). */
const MAX_FILE_SEQ = (1n << 31n) - 1n
/** Binlog event headers carry 32-bit positions. */
const OFFSET_BITS = 32n
const MAX_OFFSET = (1n << OFFSET_BITS) - 1n

const PG = /^([0-9A-F]{16})\.[01]\.\d{12}$/
const MYSQL = /^(\d{10})\.(\d{16})\.[01]\.\d{12}(?:;|$)/

function unmappable(position: string, why: string): SinkError {
  return new SinkError(
    'ES_VERSION_UNMAPPABLE',
    `position '${position}' cannot be mapped to an external document version: ${why}; ` +
      'the search sink cannot order this event (report it with the position)',
  )
}

/** Version of a Postgres position (the commit LSN, or the snapshot's consistent point). */
export function postgresVersion(position: string): bigint {
  const m = PG.exec(position)
  if (!m) throw unmappable(position, 'not a postgres position')
  const lsn = BigInt('0x' + m[1])
  if (lsn > MAX_VERSION) throw unmappable(position, 'the LSN is at or above 2^63')
  return lsn
}

/** Version of a MySQL position (binlog file number × 2^32 + transaction start offset). */
export function mysqlVersion(position: string): bigint {
  const m = MYSQL.exec(position)
  if (!m) throw unmappable(position, 'not a mysql position')
  const seq = BigInt(m[1]!)
  const offset = BigInt(m[2]!)
  if (seq > MAX_FILE_SEQ) throw unmappable(position, 'the binlog file number is at or above 2^31')
  if (offset > MAX_OFFSET) throw unmappable(position, 'the binlog offset is at or above 2^32')
  return (seq << OFFSET_BITS) | offset
}

/** The version function of a connector (`source.connector`). */
export function versionOf(connector: 'postgresql' | 'mysql'): VersionOf {
  return connector === 'postgresql' ? postgresVersion : mysqlVersion
}
