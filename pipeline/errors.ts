/**
 * Error kinds shared by every component. Each carries a stable `code` (documented in
 * docs/errors.md), whether retrying may help (`retriable`), and the original `cause`.
 * Driver errors are converted once, at the boundary where they are caught.
 */
export class SluiceError extends Error {
  readonly code: string
  readonly retriable: boolean

  constructor(code: string, message: string, options: { cause?: unknown; retriable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = new.target.name
    this.code = code
    this.retriable = options.retriable ?? false
  }
}

/** The configuration file is wrong; the message names file:line:col and the key. */
export class ConfigError extends SluiceError {}

/** A prerequisite on the source or sink is missing (wal_level, privilege, table...). */
export class PreconditionError extends SluiceError {}

/** Reading from the source failed. */
export class SourceError extends SluiceError {}

/** Writing to a sink failed. */
export class SinkError extends SluiceError {}

/** A value or row could not be converted or encoded. */
export class EncodeError extends SluiceError {}
