/**
 * Wire constants of the MySQL / MariaDB binary log (binlog version 4). Sources: MySQL
 * `libs/mysql/binlog/event/binlog_event.h`, `rows_event.h`, `control_events.h`; MariaDB
 * `sql/log_event.h`; measured facts in shared/notes/mysql-binlog.md. Every multi-byte integer
 * in the binlog is little-endian unless a comment says otherwise (temporal and DECIMAL row
 * values are big-endian).
 */

/**
 * Common header in front of every event (19 bytes since binlog v4):
 * timestamp u32 (seconds), type u8, server_id u32, event_size u32 (header + body + CRC),
 * log_pos u32 (end position of this event in the file; 0 for artificial events), flags u16.
 */
export const HEADER_LENGTH = 19

/** Size of the trailing CRC32 when the checksum algorithm is CRC32. */
export const CHECKSUM_LENGTH = 4

/** The 4 bytes `\xfe b i n` at the start of every binlog file; the first event follows. */
export const BINLOG_MAGIC = Buffer.from([0xfe, 0x62, 0x69, 0x6e])

/** Checksum algorithm byte of a FORMAT_DESCRIPTION_EVENT (`enum_binlog_checksum_alg`). */
export const ChecksumAlg = {
  /** No CRC after the body. */
  Off: 0,
  /** A CRC32 (zlib polynomial) over header + body follows the body. */
  Crc32: 1,
} as const

/** Event type byte at offset 4 of the common header. */
export const EventType = {
  /** Old-format events in front of FDE 4: never seen from servers ≥ 5.0. */
  Unknown: 0,
  /** Post-header: thread_id u32, exec_time u32, db_len u8, error_code u16, status_vars_len u16. Body: status vars, db NUL, SQL. */
  Query: 2,
  /** Post-header: position u64. Body: the next file's name (no NUL). Artificial (flag 0x20) at dump start. */
  Rotate: 4,
  /** Autocommit transaction terminator for transactional engines: xid u64. */
  Xid: 16,
  /**
   * First event of every file (and second of every dump): binlog_version u16, server_version
   * char[50], create_timestamp u32, header_length u8, one post-header length per event type,
   * then checksum algorithm u8 (servers >= MySQL 5.6.1 / MariaDB 5.3) and the CRC.
   */
  FormatDescription: 15,
  /** table_id u48, flags u16, schema, table, column types and metadata, NULL bitmap, optional metadata TLVs. */
  TableMap: 19,
  /** Rows v1 (MariaDB writes these). */
  WriteRowsV1: 23,
  UpdateRowsV1: 24,
  DeleteRowsV1: 25,
  /** Sent by the server on an idle dump connection; body = current file name. */
  Heartbeat: 27,
  /** MySQL: the statement that produced the following rows events (binlog_rows_query_log_events=ON). */
  RowsQuery: 29,
  /** Rows v2 (MySQL 5.6+): an extra-data block follows the flags. */
  WriteRowsV2: 30,
  UpdateRowsV2: 31,
  DeleteRowsV2: 32,
  /** MySQL GTID: commit flag, SID, GNO, logical clock, commit timestamps, transaction length, server versions. */
  GtidLog: 33,
  /** MySQL, gtid_mode=OFF: same layout as GtidLog with a zero SID. */
  AnonymousGtidLog: 34,
  /** MySQL: the GTID set executed before this file. */
  PreviousGtidsLog: 35,
  /** MySQL group replication. */
  TransactionContext: 36,
  ViewChange: 37,
  XaPrepareLog: 38,
  /** MySQL binlog_row_value_options=PARTIAL_JSON: after-images carry JSON diffs. Not supported. */
  PartialUpdateRows: 39,
  /** MySQL 8.0.20+ binlog_transaction_compression=ON: a zstd-compressed run of events. */
  TransactionPayload: 40,
  /** MySQL 8.0.26+ heartbeat with TLV fields. */
  HeartbeatV2: 41,
  /** MySQL 8.3+ tagged GTID (`uuid:tag:gno`). */
  GtidTaggedLog: 42,
  /** MariaDB: the statement text of the following rows events (dump flag 0x02). */
  AnnotateRows: 160,
  /** MariaDB: u32 length + name of the oldest binlog file still needed for crash recovery. */
  BinlogCheckpoint: 161,
  /** MariaDB GTID: seq_no u64, domain_id u32, flags u8, optional commit_id / XA xid / extra flags. */
  MariadbGtid: 162,
  /** MariaDB: the GTID state at the start of the file: count (low 28 bits) + (domain, server, seq) triples. */
  MariadbGtidList: 163,
  /** MariaDB encrypted binlog marker; the rest of the file cannot be read without the key. */
  StartEncryption: 164,
  /** MariaDB log_bin_compress=ON: QUERY whose SQL text is zlib-compressed. */
  QueryCompressed: 165,
  /** MariaDB compressed rows events: bitmaps uncompressed, row data zlib-compressed. */
  WriteRowsCompressedV1: 166,
  UpdateRowsCompressedV1: 167,
  DeleteRowsCompressedV1: 168,
  WriteRowsCompressedV2: 169,
  UpdateRowsCompressedV2: 170,
  DeleteRowsCompressedV2: 171,
} as const

/** Header flag: the event was made up by the server for this dump (artificial ROTATE, GTID_LIST). */
export const LOG_EVENT_ARTIFICIAL_F = 0x20

/** Flags byte of a MariaDB GTID_EVENT (MariaDB KB "GTID_EVENT"). */
export const MariadbGtidFlag = {
  /** DDL or other statement that is its own group: no XID/COMMIT follows. */
  Standalone: 1,
  /** A commit_id u64 follows the flags (group commit). */
  GroupCommitId: 2,
  /** Only transactional engines are involved. */
  Transactional: 4,
  AllowParallel: 8,
  /** The transaction waited on a row lock of another transaction. */
  Waited: 16,
  Ddl: 32,
  /** XA PREPARE: an XID (formatID u32, gtrid_len u8, bqual_len u8, data) follows. */
  PreparedXa: 64,
  /** XA COMMIT/ROLLBACK: an XID follows. */
  CompletedXa: 128,
} as const

/** MariaDB GTID_EVENT extra-flags byte (10.8+), present when bytes remain after the XID. */
export const MariadbGtidExtraFlag = {
  /** extra_engines u8 follows: the transaction spans that many more engines. */
  MultiEngine: 1,
  StartAlter: 2,
  /** sa_seq_no u64 (the START ALTER's seq_no) follows. */
  CommitAlter: 4,
  /** sa_seq_no u64 follows. */
  RollbackAlter: 8,
} as const

/** Flags u16 of a rows event. */
export const RowsFlag = {
  /** Last rows event of the statement: the TABLE_MAP cache may be cleared after it (we keep it). */
  StmtEnd: 1,
  NoForeignKeyChecks: 2,
  RelaxedUniqueChecks: 4,
  /** All columns are present (no MINIMAL image). */
  CompleteRows: 8,
} as const

/**
 * Column type codes (`enum_field_types`) as they appear in TABLE_MAP. ENUM and SET travel as
 * STRING with the real type in metadata byte 0.
 */
export const ColumnType = {
  Decimal: 0,
  Tiny: 1,
  Short: 2,
  Long: 3,
  Float: 4,
  Double: 5,
  Null: 6,
  Timestamp: 7,
  LongLong: 8,
  Int24: 9,
  Date: 10,
  Time: 11,
  DateTime: 12,
  Year: 13,
  NewDate: 14,
  VarChar: 15,
  Bit: 16,
  Timestamp2: 17,
  DateTime2: 18,
  Time2: 19,
  TypedArray: 20,
  /** MariaDB `BLOB COMPRESSED` / `TEXT COMPRESSED`. */
  BlobCompressed: 140,
  /** MariaDB `VARCHAR COMPRESSED`. */
  VarCharCompressed: 141,
  /** MySQL 9.0+. */
  Vector: 242,
  /** MySQL only; MariaDB JSON is LONGTEXT (BLOB). */
  Json: 245,
  NewDecimal: 246,
  Enum: 247,
  Set: 248,
  TinyBlob: 249,
  MediumBlob: 250,
  LongBlob: 251,
  Blob: 252,
  VarString: 253,
  String: 254,
  Geometry: 255,
} as const

/** Optional metadata TLV types at the end of TABLE_MAP (binlog_row_metadata=MINIMAL/FULL). */
export const MetadataField = {
  /** Bitmap (MSB first) over numeric columns incl. YEAR and DECIMAL: 1 = UNSIGNED. */
  Signedness: 1,
  /** lenenc default collation, then (charset-column index, collation) lenenc pairs for the exceptions. */
  DefaultCharset: 2,
  /** One lenenc collation per character column. */
  ColumnCharset: 3,
  /** One lenenc string per column. */
  ColumnName: 4,
  /** Per SET column: lenenc count, then lenenc strings. */
  SetStrValue: 5,
  /** Per ENUM column: lenenc count, then lenenc strings. */
  EnumStrValue: 6,
  /** One lenenc geometry subtype per GEOMETRY column. */
  GeometryType: 7,
  /** lenenc column indexes. */
  SimplePrimaryKey: 8,
  /** (lenenc index, lenenc prefix length; 0 = whole column) pairs. */
  PrimaryKeyWithPrefix: 9,
  /** As DefaultCharset, over ENUM and SET columns. */
  EnumAndSetDefaultCharset: 10,
  /** As ColumnCharset, over ENUM and SET columns. */
  EnumAndSetColumnCharset: 11,
  /** Bitmap (MSB first) over all columns: 1 = visible (MySQL 8.0.23+). */
  ColumnVisibility: 12,
} as const

/** Field types of TRANSACTION_PAYLOAD's header TLVs (type and length are packed integers). */
export const PayloadField = {
  /** Marks the end of the header; the payload follows. */
  End: 0,
  /** Size of the (compressed) payload. */
  PayloadSize: 1,
  /** 0 = zstd, 255 = none. */
  CompressionType: 2,
  UncompressedSize: 3,
} as const

/** TRANSACTION_PAYLOAD compression types. */
export const PayloadCompression = { Zstd: 0, None: 255 } as const
