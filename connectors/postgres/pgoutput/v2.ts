import { MessageCode } from './codes.js'
import { PgoutputDecodeError } from './errors.js'
import type { Reader } from './reader.js'
import {
  describeTag,
  pgMicrosToUnixMs,
  readV1Message,
  sharedReader,
  tagOf,
  type PgoutputV1Message,
} from './v1.js'

/**
 * Opens a block of changes of a large in-progress transaction (protocol 2, `streaming on`).
 * Until the matching StreamStop, Relation, Type, Insert, Update, Delete, Truncate and Message
 * carry the xid. A transaction may be sent in several blocks, interleaved with others.
 */
export interface StreamStartMessage {
  tag: 'streamStart'
  xid: number
  /** This is the transaction's first block. */
  firstSegment: boolean
}

/** Closes the current stream block. */
export interface StreamStopMessage {
  tag: 'streamStop'
}

/** A streamed transaction committed: apply the changes received for `xid` in its blocks. */
export interface StreamCommitMessage {
  tag: 'streamCommit'
  xid: number
  /** Currently unused by Postgres (0). */
  flags: number
  commitLsn: bigint
  /** LSN just past the commit record: the position to confirm once this transaction is durable. */
  endLsn: bigint
  /** Commit time in microseconds since 2000-01-01 00:00:00 UTC, as sent. */
  commitTimeMicros: bigint
  /** Commit time in Unix milliseconds (sub-millisecond part truncated). */
  commitTimeMs: number
}

/**
 * A streamed transaction (subxid equal to xid) or one of its subtransactions aborted:
 * discard the changes received for `subxid`.
 */
export interface StreamAbortMessage {
  tag: 'streamAbort'
  xid: number
  subxid: number
}

/** Every message of protocol version 2: protocol 1's plus the streaming messages. */
export type PgoutputMessage =
  PgoutputV1Message | StreamStartMessage | StreamStopMessage | StreamCommitMessage | StreamAbortMessage

const STREAM_STOP: StreamStopMessage = Object.freeze({ tag: 'streamStop' }) as StreamStopMessage

function readStreamCommit(r: Reader): StreamCommitMessage {
  const xid = r.u32('xid')
  const flags = r.u8('flags')
  const commitLsn = r.u64('commit LSN')
  const endLsn = r.u64('end LSN')
  const commitTimeMicros = r.i64('commit time')
  return {
    tag: 'streamCommit',
    xid,
    flags,
    commitLsn,
    endLsn,
    commitTimeMicros,
    commitTimeMs: pgMicrosToUnixMs(commitTimeMicros),
  }
}

/**
 * Decodes one protocol 2 pgoutput message. `inStream` says whether the message arrived
 * between StreamStart and StreamStop, where data messages carry an xid after the tag (the
 * caller tracks this, or uses PgoutputDecoder). Errors as decodeV1.
 */
export function decodeV2(buf: Buffer, inStream: boolean): PgoutputMessage {
  const code = tagOf(buf)
  const r = sharedReader
  const v1 = readV1Message(r, buf, code, inStream)
  if (v1 !== undefined) return v1
  let msg: PgoutputMessage
  switch (code) {
    case MessageCode.StreamStart: {
      r.reset(buf, 'stream start')
      const xid = r.u32('xid')
      msg = { tag: 'streamStart', xid, firstSegment: r.u8('first segment') === 1 }
      break
    }
    case MessageCode.StreamStop:
      r.reset(buf, 'stream stop')
      msg = STREAM_STOP
      break
    case MessageCode.StreamCommit:
      r.reset(buf, 'stream commit')
      msg = readStreamCommit(r)
      break
    case MessageCode.StreamAbort: {
      r.reset(buf, 'stream abort')
      const xid = r.u32('xid')
      msg = { tag: 'streamAbort', xid, subxid: r.u32('subxid') }
      break
    }
    default:
      throw new PgoutputDecodeError(`unknown pgoutput protocol 2 message tag ${describeTag(code)}`)
  }
  r.end()
  return msg
}
