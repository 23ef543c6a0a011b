/**
 * Wire constants of the pgoutput logical replication protocol (Postgres 15,
 * `src/include/replication/logicalproto.h` and `proto.c`). Every message starts with one tag
 * byte; multi-byte integers are big-endian (network order); strings are NUL-terminated in
 * the server encoding (UTF-8 here).
 */

/** Tag byte that starts each pgoutput message. */
export const MessageCode = {
  /** 'B': int64 final LSN, int64 commit time (µs since 2000-01-01), int32 xid. */
  Begin: 0x42,
  /** 'C': int8 flags (unused, 0), int64 commit LSN, int64 end LSN, int64 commit time. */
  Commit: 0x43,
  /** 'O': int64 commit LSN on the origin server, string origin name. Sent after Begin. */
  Origin: 0x4f,
  /**
   * 'R': int32 relation OID, string schema, string name, int8 replica identity, int16 column
   * count, then per column: int8 flags, string name, int32 type OID, int32 typmod. Sent
   * before the first change to a relation, and again after its definition changes.
   */
  Relation: 0x52,
  /** 'Y': int32 type OID, string schema, string name. Sent for non-builtin column types. */
  Type: 0x59,
  /** 'I': int32 relation OID, byte 'N', TupleData. */
  Insert: 0x49,
  /** 'U': int32 relation OID, optional ('K' | 'O') TupleData, byte 'N', TupleData. */
  Update: 0x55,
  /** 'D': int32 relation OID, ('K' | 'O') TupleData. */
  Delete: 0x44,
  /** 'T': int32 relation count, int8 options, int32 relation OID × count. */
  Truncate: 0x54,
  /** 'M': int8 flags (1 = transactional), int64 LSN, string prefix, int32 length, bytes. */
  Message: 0x4d,
  /** 'S' (protocol 2): int32 xid, int8 1 if this is the transaction's first segment. */
  StreamStart: 0x53,
  /** 'E' (protocol 2): no fields; closes the block opened by StreamStart. */
  StreamStop: 0x45,
  /** 'c' (protocol 2): int32 xid, int8 flags (unused), int64 commit LSN, end LSN, commit time. */
  StreamCommit: 0x63,
  /** 'A' (protocol 2): int32 xid, int32 subtransaction xid (equal to xid for the top level). */
  StreamAbort: 0x41,
} as const

/**
 * Byte that introduces a TupleData inside Insert, Update and Delete. In an Update, 'K' or 'O'
 * comes first when the old row is sent, then 'N' and the new row.
 */
export const TupleKind = {
  /** 'N': the new row. */
  New: 0x4e,
  /** 'K': the old row's replica identity key (REPLICA IDENTITY DEFAULT or USING INDEX); other columns are null. */
  Key: 0x4b,
  /** 'O': the whole old row (REPLICA IDENTITY FULL). */
  Old: 0x4f,
} as const

/**
 * Per-column format byte inside TupleData, which is int16 column count followed by one
 * entry per column of the relation, in attribute order (dropped and generated columns are
 * left out, matching the Relation message).
 */
export const ColumnFormat = {
  /** 'n': SQL NULL, no further bytes. */
  Null: 0x6e,
  /** 'u': an unchanged TOASTed value the server did not send, no further bytes. */
  UnchangedToast: 0x75,
  /** 't': int32 length, then the value in the type's text output format. */
  Text: 0x74,
  /** 'b': int32 length, then the value in the type's binary send format (option `binary`). */
  Binary: 0x62,
} as const

/** Bit in a Relation column's flags: the column is part of the replica identity key. */
export const COLUMN_FLAG_KEY = 1

/** Bit in Truncate's options: `TRUNCATE ... CASCADE`. */
export const TRUNCATE_CASCADE = 1
/** Bit in Truncate's options: `TRUNCATE ... RESTART IDENTITY`. */
export const TRUNCATE_RESTART_IDENTITY = 2

/** Bit in a logical decoding Message's flags: emitted with `transactional = true`. */
export const MESSAGE_TRANSACTIONAL = 1

/**
 * Postgres timestamps count microseconds from 2000-01-01 00:00:00 UTC; this is that instant
 * in Unix milliseconds.
 */
export const PG_EPOCH_UNIX_MS = 946_684_800_000
