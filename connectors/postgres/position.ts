/**
 * Postgres positions. An LSN is a 64-bit WAL byte offset, printed by Postgres as two
 * hex halves (`16/B374D848`). A Sluice position is a sortable string:
 *
 *   <commit LSN, 16 hex digits>.<phase>.<index, 12 digits>
 *
 * phase `0` = snapshot (the LSN is the slot's consistent point, the index counts rows over
 * all tables), phase `1` = streaming (the LSN is the transaction's commit LSN, the index is
 * the event's place in the transaction). Because the per-change LSN of interleaved
 * transactions is not monotonic in commit order, the commit LSN plus the index is the only
 * safe resume coordinate. Index END (all nines) marks "the whole transaction / snapshot",
 * used as the checkpoint after its last event.
 */
export const PHASE_SNAPSHOT = '0'
export const PHASE_STREAM = '1'
export const END = 999_999_999_999

const INDEX_WIDTH = 12

/** Parses `16/B374D848` into a bigint. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text)
  if (!m) throw new Error(`invalid LSN '${text}'`)
  return (BigInt('0x' + m[1]) << 32n) | BigInt('0x' + m[2])
}

/** Formats a bigint LSN the way Postgres prints it (`16/B374D848`). */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`
}

const hex16 = (lsn: bigint): string => lsn.toString(16).toUpperCase().padStart(16, '0')

/** Builds a position string. */
export function makePosition(lsn: bigint, phase: string, index: number): string {
  return `${hex16(lsn)}.${phase}.${String(index).padStart(INDEX_WIDTH, '0')}`
}

/** A parsed position. */
export interface PgPosition {
  lsn: bigint
  phase: string
  index: number
}

/** Parses a position made by makePosition; throws on anything else. */
export function parsePosition(text: string): PgPosition {
  const m = /^([0-9A-F]{16})\.([01])\.(\d{12})$/.exec(text)
  if (!m) throw new Error(`invalid postgres position '${text}'`)
  return { lsn: BigInt('0x' + m[1]), phase: m[2]!, index: Number(m[3]) }
}

/**
 * Fast position builder for one transaction: the prefix is formatted once, and each event
 * only pads its index.
 */
export function positionPrefix(lsn: bigint, phase: string): string {
  return `${hex16(lsn)}.${phase}.`
}

/** Appends a padded index to a prefix from positionPrefix(). */
export function withIndex(prefix: string, index: number): string {
  return prefix + String(index).padStart(INDEX_WIDTH, '0')
}
