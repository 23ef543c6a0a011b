import { SourceError } from '../../../pipeline/errors.js'

/** Where in the stream a decode error happened. */
export interface BinlogErrorContext {
  /** `log_pos` from the event header: the end position of the event in its file (0 for artificial events, -1 if the header was unreadable). */
  logPos: number
  /** Event type byte from the header (-1 if the header was unreadable). */
  eventType: number
  /** Byte offset inside the event where decoding failed (-1 when not applicable). */
  offset: number
}

/**
 * A binlog event could not be decoded: truncated or over-long, CRC mismatch, a layout that
 * does not add up, or a feature the decoder refuses (PARTIAL_UPDATE_ROWS). Carries the
 * event's `logPos` and `eventType` so the caller can name the file position. Never
 * retriable: the same bytes fail the same way.
 */
export class BinlogDecodeError extends SourceError {
  readonly logPos: number
  readonly eventType: number
  readonly offset: number

  constructor(message: string, ctx: BinlogErrorContext, options: { cause?: unknown } = {}) {
    super('MYSQL_BINLOG_DECODE_FAILED', message, { cause: options.cause, retriable: false })
    this.logPos = ctx.logPos
    this.eventType = ctx.eventType
    this.offset = ctx.offset
  }
}
