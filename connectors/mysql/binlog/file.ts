import { BINLOG_MAGIC, HEADER_LENGTH } from './codes.js'
import { BinlogDecodeError } from './errors.js'

/** One event as stored in a binlog file. */
export interface FileEvent {
  /** Offset of the event's first byte in the file (its start position). */
  position: number
  /** The event's bytes (a view into the file buffer). */
  bytes: Buffer
}

/**
 * Splits a whole binlog file into its events: after the 4-byte magic `\xfebin`, each event's
 * size is at offset 9 of its header. Yields views, not copies. Throws a BinlogDecodeError
 * (logPos = the file offset) for a bad magic or an event running past the end, which is
 * also what a file still being written looks like at its tail.
 */
export function* binlogFileEvents(file: Buffer): Generator<FileEvent> {
  if (file.length < 4 || !file.subarray(0, 4).equals(BINLOG_MAGIC)) {
    throw new BinlogDecodeError('not a binlog file: missing the \\xfebin magic', {
      logPos: 0,
      eventType: -1,
      offset: 0,
    })
  }
  let p = 4
  while (p < file.length) {
    const size = p + HEADER_LENGTH <= file.length ? file.readUInt32LE(p + 9) : -1
    if (size < HEADER_LENGTH || p + size > file.length) {
      throw new BinlogDecodeError(`binlog file truncated or corrupt at offset ${p}: event size ${size}`, {
        logPos: p,
        eventType: p + 4 < file.length ? file[p + 4]! : -1,
        offset: 0,
      })
    }
    yield { position: p, bytes: file.subarray(p, p + size) }
    p += size
  }
}
