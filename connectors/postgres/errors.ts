import { PreconditionError, SluiceError, SourceError } from '../../pipeline/errors.js'

/**
 * Converts a driver error into a SluiceError, once, at the boundary. Classification is by
 * SQLSTATE or errno only (never by message text): auth failures (class 28), missing
 * database (3D000) and privileges (42501) are permanent; socket-level failures (an errno,
 * or no code at all: the socket closed), and server shutdown (57P01..57P03, 08xxx) are
 * retriable. `where` names the object (the
 * redacted URL or the table) for the message.
 */
export function classifyPgError(err: unknown, where: string): SluiceError {
  if (err instanceof SluiceError) return err
  const e = err as { code?: string; message?: string }
  const code = e.code ?? ''
  const msg = e.message ?? String(err)
  if (code.startsWith('28')) {
    return new PreconditionError(
      `PG_AUTH_FAILED`,
      `authentication failed connecting to ${where} (SQLSTATE ${code}): check the user and password in source.url`,
      { cause: err },
    )
  }
  if (code === '3D000') {
    return new PreconditionError(
      'PG_DATABASE_NOT_FOUND',
      `database in ${where} does not exist: check source.url`,
      { cause: err },
    )
  }
  if (code === '42501') {
    return new PreconditionError('PG_PERMISSION_DENIED', `permission denied on ${where}: ${msg}`, {
      cause: err,
    })
  }
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'].includes(code)) {
    return new SourceError(
      'PG_CONNECTION_FAILED',
      `cannot reach ${where} (${code}): is the server running and reachable?`,
      {
        cause: err,
        retriable: code !== 'ENOTFOUND',
      },
    )
  }
  if (code === '') {
    // Neither a SQLSTATE nor an errno: the driver saw the socket close under it
    // ("Connection terminated unexpectedly"), which a server error never looks like.
    return new SourceError('PG_CONNECTION_LOST', `connection to ${where} lost: ${msg}`, {
      cause: err,
      retriable: true,
    })
  }
  if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03') {
    return new SourceError('PG_CONNECTION_LOST', `connection to ${where} lost (SQLSTATE ${code}): ${msg}`, {
      cause: err,
      retriable: true,
    })
  }
  return new SourceError(
    'PG_ERROR',
    `postgres error on ${where}${code ? ` (SQLSTATE ${code})` : ''}: ${msg}`,
    { cause: err },
  )
}

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    u.password = ''
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}
