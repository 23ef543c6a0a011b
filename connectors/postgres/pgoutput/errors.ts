import { SourceError } from '../../../pipeline/errors.js'

/**
 * A pgoutput message could not be decoded: truncated, over-long, a negative length, an
 * unknown tag, tuple kind, column format or replica identity. Code `PG_DECODE_FAILED`;
 * never retriable (the same bytes fail the same way). The message names the message type
 * and the byte offset.
 */
export class PgoutputDecodeError extends SourceError {
  constructor(message: string) {
    super('PG_DECODE_FAILED', message, { retriable: false })
  }
}
