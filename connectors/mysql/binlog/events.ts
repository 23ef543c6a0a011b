/**
 * The typed events BinlogDecoder returns. Each carries the common header; `type` names the
 * kind (not the wire code, which is `header.eventType`). Everything is a copy: the input
 * buffer may be reused as soon as decode() returns.
 */
import type { TableMap } from './table-map.js'
import type { RowImage } from './values.js'

/** The 19-byte common header of every event. */
export interface EventHeader {
  /** Seconds since the Unix epoch when the statement started (not the commit time). */
  timestamp: number
  /** Wire type code (EventType). */
  eventType: number
  serverId: number
  /** Header + body + CRC. */
  eventSize: number
  /** End position of this event in its binlog file; 0 for artificial events and in relay of a stream started mid-file. */
  logPos: number
  flags: number
}

/** FORMAT_DESCRIPTION_EVENT (15): the layout of the events that follow in this file. */
export interface FormatDescriptionEvent {
  type: 'formatDescription'
  header: EventHeader
  binlogVersion: number
  /** e.g. `10.11.19-MariaDB-0+deb12u1-log`. */
  serverVersion: string
  createTimestamp: number
  headerLength: number
  /** Post-header length of event type t at index t − 1. */
  postHeaderLengths: Uint8Array
  /** ChecksumAlg of the events that follow (0 none, 1 CRC32). */
  checksumAlg: number
}

/** ROTATE_EVENT (4): the stream continues in `nextFile` at `position`. */
export interface RotateEvent {
  type: 'rotate'
  header: EventHeader
  position: number
  nextFile: string
  /** Flag 0x20: sent at dump start (not in the file). */
  artificial: boolean
}

/**
 * QUERY_EVENT (2) and MariaDB QUERY_COMPRESSED_EVENT (165): a statement logged as text,
 * e.g. DDL, TRUNCATE, and on MariaDB the `COMMIT`/`ROLLBACK` ending a non-transactional
 * group; on MySQL also the `BEGIN` after a GTID.
 */
export interface QueryEvent {
  type: 'query'
  header: EventHeader
  threadId: number
  /** Seconds the statement took on the source. */
  execTime: number
  errorCode: number
  /** Default database of the session (may be '' and differ from the table's schema). */
  schema: string
  /** The SQL text (decompressed for 165). */
  query: string
  compressed: boolean
}

/** XID_EVENT (16): commit of a transaction on a transactional engine. */
export interface XidEvent {
  type: 'xid'
  header: EventHeader
  xid: bigint
}

/** HEARTBEAT_LOG_EVENT (27): the server is alive; no new events. */
export interface HeartbeatEvent {
  type: 'heartbeat'
  header: EventHeader
  /** Current binlog file; `header.logPos` is the position in it. */
  logFile: string
}

/** An XA transaction id (X/Open XID). */
export interface XaXid {
  formatId: number
  /** Global transaction id bytes. */
  gtrid: Buffer
  /** Branch qualifier bytes. */
  bqual: Buffer
}

/** MariaDB GTID_EVENT (162): opens an event group. */
export interface MariadbGtidEvent {
  type: 'mariadbGtid'
  header: EventHeader
  domainId: number
  /** The originating server (from the common header). */
  serverId: number
  seqNo: bigint
  /** `domain-server-seq`, e.g. `0-1-24420`. */
  gtid: string
  /** MariadbGtidFlag bits. */
  flags: number
  /** FL_STANDALONE: the group is one statement (DDL) with no terminator. */
  standalone: boolean
  /** With FL_GROUP_COMMIT_ID. */
  commitId: bigint | null
  /** With FL_PREPARED_XA or FL_COMPLETED_XA. */
  xid: XaXid | null
  /** MariadbGtidExtraFlag bits (0 when not sent). */
  flagsExtra: number
  /** With the MultiEngine extra flag. */
  extraEngines: number | null
  /** With CommitAlter/RollbackAlter: the START ALTER's seq_no. */
  startAlterSeqNo: bigint | null
}

/** One GTID of a MariaDB GTID list. */
export interface MariadbGtid {
  domainId: number
  serverId: number
  seqNo: bigint
}

/** MariaDB GTID_LIST_EVENT (163): the binlog state at the start of the file (or where a GTID dump starts). */
export interface MariadbGtidListEvent {
  type: 'mariadbGtidList'
  header: EventHeader
  /** The top 4 bits of the count field. */
  listFlags: number
  gtids: MariadbGtid[]
}

/** MariaDB BINLOG_CHECKPOINT_EVENT (161). */
export interface BinlogCheckpointEvent {
  type: 'binlogCheckpoint'
  header: EventHeader
  logFile: string
}

/** MariaDB ANNOTATE_ROWS_EVENT (160) and MySQL ROWS_QUERY_LOG_EVENT (29): the SQL behind the next rows events. */
export interface RowsQueryEvent {
  type: 'rowsQuery'
  header: EventHeader
  sql: string
}

/** TABLE_MAP_EVENT (19). The decoder caches it by table id for the rows events that follow. */
export interface TableMapEvent {
  type: 'tableMap'
  header: EventHeader
  table: TableMap
}

/**
 * One row change. WRITE: `before` null, `after` the new row. DELETE: `before` the old row,
 * `after` null. UPDATE: both. Columns missing from the image's column bitmap are ABSENT.
 */
export interface RowChange {
  before: RowImage | null
  after: RowImage | null
}

/** WRITE/UPDATE/DELETE_ROWS v1 (23–25), v2 (30–32), and MariaDB's compressed variants (166–171). */
export interface RowsEvent {
  type: 'writeRows' | 'updateRows' | 'deleteRows'
  header: EventHeader
  /** 1 or 2 (v2 has an extra-data block). */
  version: 1 | 2
  /** MariaDB compressed rows event. */
  compressed: boolean
  tableId: number
  /** The TABLE_MAP this event refers to. */
  table: TableMap
  /** RowsFlag bits. */
  flags: number
  /** v2 extra data (without its length), or null. */
  extraData: Buffer | null
  /** From a v2 partition-info extra (MySQL 8.0.16+), else null. */
  partitionId: number | null
  rows: RowChange[]
}

/** A MySQL GTID_LOG_EVENT (33) or ANONYMOUS_GTID_LOG_EVENT (34): opens a transaction (a QUERY `BEGIN` follows). */
export interface MysqlGtidEvent {
  type: 'mysqlGtid'
  header: EventHeader
  anonymous: boolean
  /** Bit 0: the transaction may commit in parallel (`may_have_sbr_stmts` in bit 1 etc.). */
  gtidFlags: number
  /** Source UUID, lowercase with dashes. */
  sid: string
  gno: bigint
  /** `uuid:gno`, or '' when anonymous. */
  gtid: string
  lastCommitted: bigint | null
  sequenceNumber: bigint | null
  /** Microseconds since the epoch, when sent. */
  immediateCommitTimestamp: bigint | null
  originalCommitTimestamp: bigint | null
  transactionLength: number | null
  immediateServerVersion: number | null
  originalServerVersion: number | null
}

/** One SID's intervals in a MySQL GTID set: [start, end) pairs. */
export interface GtidSetEntry {
  sid: string
  intervals: [bigint, bigint][]
}

/** MySQL PREVIOUS_GTIDS_LOG_EVENT (35): the GTIDs executed before this file. */
export interface PreviousGtidsEvent {
  type: 'previousGtids'
  header: EventHeader
  sets: GtidSetEntry[]
}

/** MySQL TRANSACTION_PAYLOAD_EVENT (40): a whole transaction's events, compressed; returned decoded. */
export interface TransactionPayloadEvent {
  type: 'transactionPayload'
  header: EventHeader
  /** PayloadCompression: 0 zstd, 255 none. */
  compression: number
  uncompressedSize: number
  events: BinlogEvent[]
}

/** An event type the decoder does not interpret (servers add types); not an error. */
export interface UnknownEvent {
  type: 'unknown'
  header: EventHeader
  /** The wire type code. */
  code: number
}

/** Every event BinlogDecoder returns. */
export type BinlogEvent =
  | FormatDescriptionEvent
  | RotateEvent
  | QueryEvent
  | XidEvent
  | HeartbeatEvent
  | MariadbGtidEvent
  | MariadbGtidListEvent
  | BinlogCheckpointEvent
  | RowsQueryEvent
  | TableMapEvent
  | RowsEvent
  | MysqlGtidEvent
  | PreviousGtidsEvent
  | TransactionPayloadEvent
  | UnknownEvent
