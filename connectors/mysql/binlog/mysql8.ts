/**
 * MySQL 8-only events: GTID_LOG (33) / ANONYMOUS_GTID_LOG (34), PREVIOUS_GTIDS_LOG (35),
 * ROWS_QUERY_LOG (29) and the header of TRANSACTION_PAYLOAD (40) (its inner events are
 * decoded by BinlogDecoder). Layouts from mysql-server `libs/mysql/binlog/event/control_events.*`
 * (ref: not observed, MySQL 8 could not be run here; fixtures are built from these layouts).
 */
import { decompress as zstdDecompress } from 'fzstd'
import { PayloadCompression, PayloadField } from './codes.js'
import type {
  EventHeader,
  GtidSetEntry,
  MysqlGtidEvent,
  PreviousGtidsEvent,
  RowsQueryEvent,
} from './events.js'
import type { Reader } from './reader.js'

/** Logical-clock typecode in GTID_LOG: last_committed and sequence_number follow. */
const LOGICAL_TIMESTAMP_TYPECODE = 2
/** Commit timestamps are 7-byte (56-bit) µs values; bit 55 of the immediate one says an original one follows. */
const COMMIT_TIMESTAMP_LENGTH = 7
const ORIGINAL_COMMIT_TIMESTAMP_FLAG = 1n << 55n
/** Bit 31 of immediate_server_version says an original_server_version u32 follows. */
const ORIGINAL_SERVER_VERSION_FLAG = 0x80000000

/** 16 bytes → `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`. */
export function formatUuid(b: Buffer, p: number): string {
  const h = b.toString('hex', p, p + 16)
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** Reads a 7-byte little-endian unsigned integer. */
function u56(r: Reader, what: string): bigint {
  r.need(7, what)
  const b = r.buf
  const p = r.pos
  r.pos = p + 7
  const lo = BigInt(b.readUInt32LE(p))
  const hi = BigInt(b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16))
  return (hi << 32n) | lo
}

/**
 * GTID_LOG_EVENT / ANONYMOUS_GTID_LOG_EVENT: gtid_flags u8, SID 16, GNO i64; then, each
 * only if bytes remain (older servers stop early): logical-clock typecode u8 (2),
 * last_committed i64, sequence_number i64; immediate_commit_timestamp 7 bytes
 * (+ original 7 bytes when bit 55 is set); transaction_length (packed integer);
 * immediate_server_version u32 (+ original u32 when bit 31 is set). Later additions are
 * ignored.
 */
export function readMysqlGtid(r: Reader, header: EventHeader, anonymous: boolean): MysqlGtidEvent {
  const gtidFlags = r.u8('gtid_flags')
  r.need(16, 'SID')
  const sid = formatUuid(r.buf, r.pos)
  r.pos += 16
  const gno = r.i64('GNO')
  let lastCommitted: bigint | null = null
  let sequenceNumber: bigint | null = null
  let immediateCommitTimestamp: bigint | null = null
  let originalCommitTimestamp: bigint | null = null
  let transactionLength: number | null = null
  let immediateServerVersion: number | null = null
  let originalServerVersion: number | null = null
  if (r.remaining > 0) {
    const typecode = r.u8('logical clock typecode')
    if (typecode !== LOGICAL_TIMESTAMP_TYPECODE) r.fail(`unknown logical clock typecode ${typecode}`)
    lastCommitted = r.i64('last_committed')
    sequenceNumber = r.i64('sequence_number')
  }
  if (r.remaining >= COMMIT_TIMESTAMP_LENGTH) {
    const ts = u56(r, 'immediate_commit_timestamp')
    immediateCommitTimestamp = ts & (ORIGINAL_COMMIT_TIMESTAMP_FLAG - 1n)
    originalCommitTimestamp =
      ts & ORIGINAL_COMMIT_TIMESTAMP_FLAG ? u56(r, 'original_commit_timestamp') : immediateCommitTimestamp
  }
  if (r.remaining > 0) transactionLength = r.lenenc('transaction_length')
  if (r.remaining >= 4) {
    const v = r.u32('immediate_server_version')
    immediateServerVersion = v & ~ORIGINAL_SERVER_VERSION_FLAG
    originalServerVersion =
      v & ORIGINAL_SERVER_VERSION_FLAG ? r.u32('original_server_version') : immediateServerVersion
  }
  r.pos = r.end
  return {
    type: 'mysqlGtid',
    header,
    anonymous,
    gtidFlags,
    sid,
    gno,
    gtid: anonymous ? '' : `${sid}:${gno}`,
    lastCommitted,
    sequenceNumber,
    immediateCommitTimestamp,
    originalCommitTimestamp,
    transactionLength,
    immediateServerVersion,
    originalServerVersion,
  }
}

/**
 * PREVIOUS_GTIDS_LOG_EVENT (untagged encoding): n_sids u64, then per SID: 16-byte UUID,
 * n_intervals u64, then [start, end) i64 pairs. The tagged encoding of MySQL 8.3+ is not
 * supported and fails loudly.
 */
export function readPreviousGtids(r: Reader, header: EventHeader): PreviousGtidsEvent {
  const nSids = r.u64('n_sids')
  if (nSids > BigInt(Math.floor(r.remaining / 24))) {
    r.fail(`n_sids ${nSids} does not fit (tagged GTID sets of MySQL 8.3+ are not supported)`)
  }
  const sets: GtidSetEntry[] = []
  for (let i = 0n; i < nSids; i++) {
    r.need(16, 'SID')
    const sid = formatUuid(r.buf, r.pos)
    r.pos += 16
    const n = r.u64('n_intervals')
    if (n > BigInt(Math.floor(r.remaining / 16))) r.fail(`n_intervals ${n} does not fit`)
    const intervals: [bigint, bigint][] = []
    for (let j = 0n; j < n; j++) intervals.push([r.i64('interval start'), r.i64('interval end')])
    sets.push({ sid, intervals })
  }
  return { type: 'previousGtids', header, sets }
}

/** ROWS_QUERY_LOG_EVENT: a length byte (ignored: it is truncated at 255), then the SQL text to the end. */
export function readRowsQuery(r: Reader, header: EventHeader): RowsQueryEvent {
  r.skip(1, 'length')
  return { type: 'rowsQuery', header, sql: r.utf8(r.remaining, 'SQL text') }
}

/** Largest uncompressed payload accepted (MySQL caps a transaction payload at 1 GiB, like max_allowed_packet). */
const MAX_PAYLOAD_SIZE = 1 << 30

/**
 * The most zstd can expand: a block holds at most 128 KiB and takes at least 4 bytes (an RLE
 * block's 3-byte header and its byte). A larger uncompressed size is a corrupt field, and the
 * output buffer is allocated from it.
 */
const MAX_ZSTD_RATIO = 32_768

/** The header fields of a TRANSACTION_PAYLOAD and its uncompressed inner events. */
export interface PayloadBody {
  compression: number
  uncompressedSize: number
  /** The inner events, back to back, each a full event without CRC. */
  events: Uint8Array
}

/**
 * TRANSACTION_PAYLOAD_EVENT: header fields as (type, length, value) with type and length
 * packed integers and the value a packed integer of `length` bytes, ended by a type-0
 * field; the payload follows: the transaction's events, zstd-compressed (or stored).
 */
export function readTransactionPayload(r: Reader): PayloadBody {
  let compression: number = PayloadCompression.None
  let uncompressedSize = -1
  let payloadSize = -1
  while (true) {
    const field = r.lenenc('payload field type')
    if (field === PayloadField.End) break
    const len = r.lenenc('payload field length')
    r.need(len, 'payload field value')
    const end = r.pos + len
    const value = r.lenenc('payload field value')
    if (r.pos > end) r.fail('payload field value overruns its length')
    r.pos = end
    if (field === PayloadField.PayloadSize) payloadSize = value
    else if (field === PayloadField.CompressionType) compression = value
    else if (field === PayloadField.UncompressedSize) uncompressedSize = value
  }
  if (payloadSize >= 0 && payloadSize !== r.remaining) {
    r.fail(`payload size field says ${payloadSize}, event has ${r.remaining} bytes`)
  }
  if (uncompressedSize > MAX_PAYLOAD_SIZE)
    r.fail(`uncompressed size ${uncompressedSize} exceeds ${MAX_PAYLOAD_SIZE}`)
  const data = r.view(r.remaining, 'payload')
  let events: Uint8Array
  if (compression === PayloadCompression.Zstd) {
    // Without the size, fzstd would allocate what the (unchecked) zstd frame header says.
    if (uncompressedSize < 0) r.fail('zstd payload without an uncompressed size field')
    if (uncompressedSize > data.length * MAX_ZSTD_RATIO)
      r.fail(`uncompressed size ${uncompressedSize} cannot come from ${data.length} zstd bytes`)
    try {
      events = zstdDecompress(data, new Uint8Array(uncompressedSize))
    } catch (err) {
      return r.fail(`zstd payload: ${(err as Error).message}`)
    }
  } else if (compression === PayloadCompression.None) {
    events = new Uint8Array(data)
  } else {
    return r.fail(`unknown payload compression type ${compression}`)
  }
  if (uncompressedSize >= 0 && events.length !== uncompressedSize) {
    r.fail(`payload decompressed to ${events.length} bytes, header says ${uncompressedSize}`)
  }
  return { compression, uncompressedSize: events.length, events }
}
