import {
  ColumnFormat,
  MESSAGE_TRANSACTIONAL,
  MessageCode,
  PG_EPOCH_UNIX_MS,
  TRUNCATE_CASCADE,
  TRUNCATE_RESTART_IDENTITY,
  TupleKind,
} from './codes.js'
import { PgoutputDecodeError } from './errors.js'
import { Reader } from './reader.js'

/**
 * Stands for a TOASTed column value that did not change and that the server therefore did
 * not send (column format 'u'). The consumer must keep the value it already has, or mark
 * the field as unavailable.
 */
export const UNCHANGED_TOAST: unique symbol = Symbol('pgoutput.unchangedToast')

/**
 * One column of a row image: a string in the type's text format, null for SQL NULL,
 * UNCHANGED_TOAST for a value not sent, or a Buffer in the type's binary format (only with
 * the `binary` option). Buffers are copies that the caller owns.
 */
export type TupleValue = string | null | Buffer | typeof UNCHANGED_TOAST

/** A row image: one entry per column of the relation, in Relation message order. */
export type TupleValues = TupleValue[]

/** Replica identity of a relation: default (primary key), nothing, full row, or a unique index. */
export type ReplicaIdentity = 'd' | 'n' | 'f' | 'i'

/** Start of a transaction. Its changes follow; Commit ends it. */
export interface BeginMessage {
  tag: 'begin'
  /** LSN of the commit record (the transaction's commit LSN). */
  finalLsn: bigint
  /** Commit time in microseconds since 2000-01-01 00:00:00 UTC, as sent. */
  commitTimeMicros: bigint
  /** Commit time in Unix milliseconds (sub-millisecond part truncated). */
  commitTimeMs: number
  xid: number
}

/** End of a transaction. */
export interface CommitMessage {
  tag: 'commit'
  /** Currently unused by Postgres (0). */
  flags: number
  /** LSN of the commit record; equals the Begin's finalLsn. */
  commitLsn: bigint
  /** LSN just past the commit record: the position to confirm once this transaction is durable. */
  endLsn: bigint
  commitTimeMicros: bigint
  commitTimeMs: number
}

/** The transaction was replayed from another node via a replication origin. Follows Begin. */
export interface OriginMessage {
  tag: 'origin'
  /** Commit LSN of the transaction on the origin server. */
  originLsn: bigint
  name: string
}

/** One column of a Relation message. */
export interface RelationColumn {
  /** Bit COLUMN_FLAG_KEY (1) set: the column is part of the replica identity key. */
  flags: number
  name: string
  typeOid: number
  /** Type modifier (atttypmod), -1 when none. */
  typmod: number
}

/** Describes a table; sent before its first change and again after its definition changes. */
export interface RelationMessage {
  tag: 'relation'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  relationId: number
  /** Schema name (the server sends pg_catalog as an empty string; it is restored here). */
  schema: string
  name: string
  replicaIdentity: ReplicaIdentity
  columns: RelationColumn[]
}

/** Names a non-builtin column type (enum, domain, composite...) before a Relation using it. */
export interface TypeMessage {
  tag: 'type'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  typeOid: number
  schema: string
  name: string
}

/** A new row. */
export interface InsertMessage {
  tag: 'insert'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  relationId: number
  tuple: TupleValues
  /** Wire size of the row data (for memory accounting). */
  bytes: number
}

/** A changed row, with the old key or row when the replica identity requires it. */
export interface UpdateMessage {
  tag: 'update'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  relationId: number
  /** Old replica identity key ('K'), sent when the key changed; non-key columns are null. */
  key: TupleValues | null
  /** Whole old row ('O'), sent with REPLICA IDENTITY FULL. */
  old: TupleValues | null
  /** New row; unchanged TOASTed columns are UNCHANGED_TOAST. */
  tuple: TupleValues
  /** Wire size of all row data in the message (for memory accounting). */
  bytes: number
}

/** A removed row, identified by its key ('K') or, with REPLICA IDENTITY FULL, the whole row ('O'). */
export interface DeleteMessage {
  tag: 'delete'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  relationId: number
  key: TupleValues | null
  old: TupleValues | null
  /** Wire size of the row data (for memory accounting). */
  bytes: number
}

/** One TRUNCATE statement, covering every published table it truncated. */
export interface TruncateMessage {
  tag: 'truncate'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  /** Raw option bits (TRUNCATE_CASCADE, TRUNCATE_RESTART_IDENTITY). */
  options: number
  cascade: boolean
  restartIdentity: boolean
  relationIds: number[]
}

/** A message from `pg_logical_emit_message` (only with the `messages` option). */
export interface LogicalMessage {
  tag: 'message'
  /** Transaction id; sent only inside a protocol 2 stream block, undefined otherwise. */
  xid: number | undefined
  /** Raw flags (MESSAGE_TRANSACTIONAL). */
  flags: number
  /** Emitted inside a transaction (and delivered with it) rather than immediately. */
  transactional: boolean
  /** LSN of the message record. */
  lsn: bigint
  prefix: string
  /** Payload bytes, copied. */
  content: Buffer
}

/** Every message of protocol version 1. */
export type PgoutputV1Message =
  | BeginMessage
  | CommitMessage
  | OriginMessage
  | RelationMessage
  | TypeMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage

/** Postgres sends the pg_catalog namespace as an empty string (proto.c logicalrep_write_namespace). */
const namespace = (s: string): string => (s === '' ? 'pg_catalog' : s)

/** Microseconds since 2000-01-01 to Unix milliseconds. Exact while |micros| < 2^53 (±285 years). */
export function pgMicrosToUnixMs(micros: bigint): number {
  return Math.floor(Number(micros) / 1000) + PG_EPOCH_UNIX_MS
}

/** Formats a tag byte for errors: `0x7a ('z')`. */
export function describeTag(code: number): string {
  const ch = code >= 0x20 && code < 0x7f ? String.fromCharCode(code) : '?'
  return `0x${code.toString(16).padStart(2, '0')} ('${ch}')`
}

/** The reader shared by every decode call; decoding is synchronous, so one is enough. */
export const sharedReader = new Reader()

function readTuple(r: Reader): TupleValues {
  const n = r.u16('column count')
  const values = new Array<TupleValue>(n)
  for (let i = 0; i < n; i++) {
    const format = r.u8('column format')
    switch (format) {
      case ColumnFormat.Text:
        values[i] = r.text(r.i32('text value length'), 'text value')
        break
      case ColumnFormat.Null:
        values[i] = null
        break
      case ColumnFormat.UnchangedToast:
        values[i] = UNCHANGED_TOAST
        break
      case ColumnFormat.Binary:
        values[i] = r.bytes(r.i32('binary value length'), 'binary value')
        break
      default:
        throw new PgoutputDecodeError(
          `pgoutput ${r.name} message has unknown column format ${describeTag(format)} at offset ${r.pos - 1}`,
        )
    }
  }
  return values
}

function expectNew(r: Reader, kind: number): void {
  if (kind !== TupleKind.New) {
    throw new PgoutputDecodeError(
      `pgoutput ${r.name} message expected new tuple 'N' but found ${describeTag(kind)} at offset ${r.pos - 1}`,
    )
  }
}

function readBegin(r: Reader): BeginMessage {
  const finalLsn = r.u64('final LSN')
  const commitTimeMicros = r.i64('commit time')
  const xid = r.u32('xid')
  return { tag: 'begin', finalLsn, commitTimeMicros, commitTimeMs: pgMicrosToUnixMs(commitTimeMicros), xid }
}

function readCommit(r: Reader): CommitMessage {
  const flags = r.u8('flags')
  const commitLsn = r.u64('commit LSN')
  const endLsn = r.u64('end LSN')
  const commitTimeMicros = r.i64('commit time')
  return {
    tag: 'commit',
    flags,
    commitLsn,
    endLsn,
    commitTimeMicros,
    commitTimeMs: pgMicrosToUnixMs(commitTimeMicros),
  }
}

function readOrigin(r: Reader): OriginMessage {
  const originLsn = r.u64('origin LSN')
  return { tag: 'origin', originLsn, name: r.cstring('origin name') }
}

function readRelation(r: Reader, xid: number | undefined): RelationMessage {
  const relationId = r.u32('relation id')
  const schema = namespace(r.cstring('schema'))
  const name = r.cstring('relation name')
  const identity = r.u8('replica identity')
  // 'd' default, 'n' nothing, 'f' full, 'i' index (pg_class.relreplident)
  if (identity !== 0x64 && identity !== 0x6e && identity !== 0x66 && identity !== 0x69) {
    throw new PgoutputDecodeError(
      `pgoutput relation message has unknown replica identity ${describeTag(identity)} at offset ${r.pos - 1}`,
    )
  }
  const n = r.u16('column count')
  const columns: RelationColumn[] = []
  for (let i = 0; i < n; i++) {
    const flags = r.u8('column flags')
    const colName = r.cstring('column name')
    const typeOid = r.u32('column type')
    const typmod = r.i32('column typmod')
    columns.push({ flags, name: colName, typeOid, typmod })
  }
  return {
    tag: 'relation',
    xid,
    relationId,
    schema,
    name,
    replicaIdentity: String.fromCharCode(identity) as ReplicaIdentity,
    columns,
  }
}

function readType(r: Reader, xid: number | undefined): TypeMessage {
  const typeOid = r.u32('type id')
  const schema = namespace(r.cstring('schema'))
  return { tag: 'type', xid, typeOid, schema, name: r.cstring('type name') }
}

function readInsert(r: Reader, xid: number | undefined): InsertMessage {
  const relationId = r.u32('relation id')
  const start = r.pos
  expectNew(r, r.u8('tuple kind'))
  const tuple = readTuple(r)
  return { tag: 'insert', xid, relationId, tuple, bytes: r.pos - start }
}

function readUpdate(r: Reader, xid: number | undefined): UpdateMessage {
  const relationId = r.u32('relation id')
  const start = r.pos
  let key: TupleValues | null = null
  let old: TupleValues | null = null
  let kind = r.u8('tuple kind')
  if (kind === TupleKind.Key) {
    key = readTuple(r)
    kind = r.u8('tuple kind')
  } else if (kind === TupleKind.Old) {
    old = readTuple(r)
    kind = r.u8('tuple kind')
  }
  expectNew(r, kind)
  const tuple = readTuple(r)
  return { tag: 'update', xid, relationId, key, old, tuple, bytes: r.pos - start }
}

function readDelete(r: Reader, xid: number | undefined): DeleteMessage {
  const relationId = r.u32('relation id')
  const start = r.pos
  let key: TupleValues | null = null
  let old: TupleValues | null = null
  const kind = r.u8('tuple kind')
  if (kind === TupleKind.Key) key = readTuple(r)
  else if (kind === TupleKind.Old) old = readTuple(r)
  else {
    throw new PgoutputDecodeError(
      `pgoutput delete message expected key 'K' or old 'O' tuple but found ${describeTag(kind)} at offset ${r.pos - 1}`,
    )
  }
  return { tag: 'delete', xid, relationId, key, old, bytes: r.pos - start }
}

function readTruncate(r: Reader, xid: number | undefined): TruncateMessage {
  const count = r.i32('relation count')
  const options = r.u8('options')
  // Check the whole id list up front so a corrupt count cannot trigger a huge allocation.
  r.need(count * 4, 'relation ids')
  const relationIds: number[] = []
  for (let i = 0; i < count; i++) relationIds.push(r.u32('relation id'))
  return {
    tag: 'truncate',
    xid,
    options,
    cascade: (options & TRUNCATE_CASCADE) !== 0,
    restartIdentity: (options & TRUNCATE_RESTART_IDENTITY) !== 0,
    relationIds,
  }
}

function readMessage(r: Reader, xid: number | undefined): LogicalMessage {
  const flags = r.u8('flags')
  const lsn = r.u64('LSN')
  const prefix = r.cstring('prefix')
  const content = r.bytes(r.i32('content length'), 'content')
  return {
    tag: 'message',
    xid,
    flags,
    transactional: (flags & MESSAGE_TRANSACTIONAL) !== 0,
    lsn,
    prefix,
    content,
  }
}

/**
 * Reads one protocol 1 message whose tag is `code`, or returns undefined for a tag protocol 1
 * does not define. `xidFirst` is the protocol 2 extension: inside a stream block, Relation,
 * Type, Insert, Update, Delete, Truncate and Message carry an int32 xid right after the tag.
 * Throws PgoutputDecodeError on a short or over-long buffer.
 */
export function readV1Message(
  r: Reader,
  buf: Buffer,
  code: number,
  xidFirst: boolean,
): PgoutputV1Message | undefined {
  let msg: PgoutputV1Message
  switch (code) {
    case MessageCode.Insert:
      r.reset(buf, 'insert')
      msg = readInsert(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Update:
      r.reset(buf, 'update')
      msg = readUpdate(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Delete:
      r.reset(buf, 'delete')
      msg = readDelete(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Begin:
      r.reset(buf, 'begin')
      msg = readBegin(r)
      break
    case MessageCode.Commit:
      r.reset(buf, 'commit')
      msg = readCommit(r)
      break
    case MessageCode.Relation:
      r.reset(buf, 'relation')
      msg = readRelation(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Type:
      r.reset(buf, 'type')
      msg = readType(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Truncate:
      r.reset(buf, 'truncate')
      msg = readTruncate(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Message:
      r.reset(buf, 'logical decoding message')
      msg = readMessage(r, xidFirst ? r.u32('xid') : undefined)
      break
    case MessageCode.Origin:
      r.reset(buf, 'origin')
      msg = readOrigin(r)
      break
    default:
      return undefined
  }
  r.end()
  return msg
}

/** Throws for an empty buffer; returns the tag byte otherwise. */
export function tagOf(buf: Buffer): number {
  if (buf.length === 0) throw new PgoutputDecodeError('pgoutput message truncated: no tag byte at offset 0')
  return buf[0]!
}

/**
 * Decodes one protocol 1 pgoutput message (the payload of an XLogData message). Throws a
 * PgoutputDecodeError (code PG_DECODE_FAILED) naming the tag for an unknown tag, and the
 * message and offset for a truncated or malformed buffer. Everything returned is a copy: `buf` may be reused afterwards.
 */
export function decodeV1(buf: Buffer): PgoutputV1Message {
  const code = tagOf(buf)
  const msg = readV1Message(sharedReader, buf, code, false)
  if (msg === undefined)
    throw new PgoutputDecodeError(`unknown pgoutput protocol 1 message tag ${describeTag(code)}`)
  return msg
}
