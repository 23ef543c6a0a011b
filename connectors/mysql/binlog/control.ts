/**
 * Events both servers write: FORMAT_DESCRIPTION (15), ROTATE (4), QUERY (2), XID (16),
 * HEARTBEAT (27). Each reader starts at r.pos = 19 (after the common header) and may
 * consume up to r.end (the CRC, if any, is already excluded).
 */
import { EventType, LOG_EVENT_ARTIFICIAL_F } from './codes.js'
import type {
  EventHeader,
  FormatDescriptionEvent,
  HeartbeatEvent,
  QueryEvent,
  RotateEvent,
  XidEvent,
} from './events.js'
import type { Reader } from './reader.js'
import { inflateMariadb } from './rows.js'

/** Length of FDE's server_version field (NUL-padded). */
const SERVER_VERSION_LENGTH = 50

/**
 * Whether a server of this version writes the checksum-algorithm byte in its FDE: MySQL
 * from 5.6.1, MariaDB from 5.3.
 */
export function versionHasChecksumAlg(version: string): boolean {
  let major = 0
  let minor = 0
  let patch = 0
  let part = 0
  for (let i = 0; i < version.length; i++) {
    const c = version.charCodeAt(i)
    if (c === 0x2e) {
      if (++part > 2) break
    } else if (c >= 0x30 && c <= 0x39) {
      const d = c - 0x30
      if (part === 0) major = major * 10 + d
      else if (part === 1) minor = minor * 10 + d
      else patch = patch * 10 + d
    } else break
  }
  const v = major * 10000 + minor * 100 + patch
  return version.includes('MariaDB') ? v >= 50300 : v >= 50601
}

/**
 * FORMAT_DESCRIPTION_EVENT. `bodyEnd` excludes the checksum algorithm byte and the CRC
 * when the server writes them (the caller found out from the version string).
 */
export function readFormatDescription(
  r: Reader,
  header: EventHeader,
  checksumAlg: number,
): FormatDescriptionEvent {
  const binlogVersion = r.u16('binlog_version')
  const raw = r.view(SERVER_VERSION_LENGTH, 'server_version')
  const nul = raw.indexOf(0)
  const serverVersion = raw.toString('latin1', 0, nul < 0 ? raw.length : nul)
  const createTimestamp = r.u32('create_timestamp')
  const headerLength = r.u8('header_length')
  if (headerLength !== 19) r.fail(`FDE header_length ${headerLength}, expected 19`)
  const postHeaderLengths = new Uint8Array(r.bytes(r.remaining, 'post-header lengths'))
  return {
    type: 'formatDescription',
    header,
    binlogVersion,
    serverVersion,
    createTimestamp,
    headerLength,
    postHeaderLengths,
    checksumAlg,
  }
}

/** ROTATE_EVENT: position u64, then the next file name to the end. */
export function readRotate(r: Reader, header: EventHeader): RotateEvent {
  const pos = r.u64('position')
  if (pos > BigInt(Number.MAX_SAFE_INTEGER)) r.fail('rotate position too large')
  const nextFile = r.utf8(r.remaining, 'next file name')
  return {
    type: 'rotate',
    header,
    position: Number(pos),
    nextFile,
    artificial: (header.flags & LOG_EVENT_ARTIFICIAL_F) !== 0,
  }
}

/** Length of QUERY's post-header when it carries status_vars_len (binlog v4). */
const QUERY_POST_HEADER_V4 = 13

/**
 * QUERY_EVENT / QUERY_COMPRESSED_EVENT. Post-header (`postHeaderLength` bytes, 13 on every
 * v4 server): thread_id u32, exec_time u32, db_len u8, error_code u16, status_vars_len u16;
 * longer post-headers are skipped. Body: status variables (skipped by their total length:
 * servers add new ones), db name + NUL, then the SQL text to the end (compressed for 165).
 */
export function readQuery(r: Reader, header: EventHeader, postHeaderLength: number): QueryEvent {
  const start = r.pos
  const threadId = r.u32('thread_id')
  const execTime = r.u32('exec_time')
  const dbLen = r.u8('db_len')
  const errorCode = r.u16('error_code')
  const statusLen = postHeaderLength >= QUERY_POST_HEADER_V4 ? r.u16('status_vars_len') : 0
  if (postHeaderLength > r.pos - start) r.skip(postHeaderLength - (r.pos - start), 'post-header')
  r.skip(statusLen, 'status variables')
  const schema = r.utf8(dbLen, 'db name')
  r.skip(1, 'db name NUL')
  const compressed = header.eventType === EventType.QueryCompressed
  let query: string
  if (compressed) {
    const text = inflateMariadb(r, 'query')
    query = text.buf.toString('utf8', 0, text.end)
  } else {
    query = r.utf8(r.remaining, 'query')
  }
  return { type: 'query', header, threadId, execTime, errorCode, schema, query, compressed }
}

/** XID_EVENT: xid u64. */
export function readXid(r: Reader, header: EventHeader): XidEvent {
  return { type: 'xid', header, xid: r.u64('xid') }
}

/** HEARTBEAT_LOG_EVENT: the current log file name to the end. */
export function readHeartbeat(r: Reader, header: EventHeader): HeartbeatEvent {
  return { type: 'heartbeat', header, logFile: r.utf8(r.remaining, 'log file name') }
}
