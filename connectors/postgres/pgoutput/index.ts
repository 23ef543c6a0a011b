/**
 * pgoutput decoder: pure, bytes in, messages out. Feed it the payload of each XLogData
 * message from a logical replication slot opened with the `pgoutput` plugin.
 */
import { decodeV1 } from './v1.js'
import { decodeV2, type PgoutputMessage } from './v2.js'

export {
  ColumnFormat,
  COLUMN_FLAG_KEY,
  MESSAGE_TRANSACTIONAL,
  MessageCode,
  PG_EPOCH_UNIX_MS,
  TRUNCATE_CASCADE,
  TRUNCATE_RESTART_IDENTITY,
  TupleKind,
} from './codes.js'
export { PgoutputDecodeError } from './errors.js'
export {
  decodeV1,
  pgMicrosToUnixMs,
  UNCHANGED_TOAST,
  type BeginMessage,
  type CommitMessage,
  type DeleteMessage,
  type InsertMessage,
  type LogicalMessage,
  type OriginMessage,
  type PgoutputV1Message,
  type RelationColumn,
  type RelationMessage,
  type ReplicaIdentity,
  type TruncateMessage,
  type TupleValue,
  type TupleValues,
  type TypeMessage,
  type UpdateMessage,
} from './v1.js'
export {
  decodeV2,
  type PgoutputMessage,
  type StreamAbortMessage,
  type StreamCommitMessage,
  type StreamStartMessage,
  type StreamStopMessage,
} from './v2.js'

/** Options of decodePgoutput. */
export interface DecodeOptions {
  /** Protocol version the slot was started with (`proto_version`); default 2, a superset of 1. */
  protoVersion?: 1 | 2
  /** The message lies between StreamStart and StreamStop, so data messages carry an xid. */
  streaming?: boolean
}

/**
 * Decodes one pgoutput message. Throws a PgoutputDecodeError (code PG_DECODE_FAILED) naming
 * the tag byte for an unknown tag, and the message type and offset for a truncated or
 * malformed buffer. Everything returned
 * is a copy, so `buf` may be reused.
 */
export function decodePgoutput(buf: Buffer, opts?: DecodeOptions): PgoutputMessage {
  if (opts?.protoVersion === 1) {
    if (opts.streaming) throw new Error('pgoutput protocol 1 has no streaming; use proto_version 2')
    return decodeV1(buf)
  }
  return decodeV2(buf, opts?.streaming === true)
}

/**
 * Decodes the messages of one replication connection in order, tracking whether it is
 * inside a stream block (StreamStart … StreamStop) so callers need not. One per connection.
 */
export class PgoutputDecoder {
  private inStream = false

  /** `protoVersion` as passed in START_REPLICATION's `proto_version`. */
  constructor(readonly protoVersion: 1 | 2 = 2) {}

  /** Whether the last message decoded left the connection inside a stream block. */
  get streaming(): boolean {
    return this.inStream
  }

  /** Decodes the next message of the connection; errors as decodePgoutput. */
  decode(buf: Buffer): PgoutputMessage {
    if (this.protoVersion === 1) return decodeV1(buf)
    const msg = decodeV2(buf, this.inStream)
    if (msg.tag === 'streamStart') this.inStream = true
    else if (msg.tag === 'streamStop') this.inStream = false
    return msg
  }
}
