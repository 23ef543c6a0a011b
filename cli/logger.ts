import { Transform, type Writable } from 'node:stream'
import pino, { type Logger } from 'pino'

/** Matches the password part of a URL with credentials: `scheme://user:PASSWORD@`. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s"]*:)([^@\s"]*)(@)/gi

/**
 * A stream that masks secrets in every log line before it is written: every value that
 * came from `${ENV}` / `${file:...}` interpolation, and any password inside a URL. Masking
 * the serialized line (rather than chosen fields) also covers messages, error stacks and
 * nested objects. Logging is rare (healthy means quiet), so the cost does not matter.
 */
export function redactingStream(secrets: readonly string[], out: Writable): Transform {
  const list = [...new Set(secrets.filter((s) => s.length >= 3))].sort((a, b) => b.length - a.length)
  const variants = list.flatMap((s) => {
    const json = JSON.stringify(s).slice(1, -1)
    const uri = encodeURIComponent(s)
    return [...new Set([s, json, uri])]
  })
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      let line = chunk.toString('utf8')
      for (const v of variants) if (line.includes(v)) line = line.split(v).join('***')
      line = line.replace(URL_PASSWORD, '$1***$3')
      cb(null, line)
    },
  })
  t.pipe(out)
  return t
}

/** The root logger (JSON lines on stderr, secrets masked). Only cli/ creates one. */
export function createLogger(
  level: string,
  secrets: readonly string[],
  out: Writable = process.stderr,
): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['password', '*.password', 'url', '*.url', 'config.*.url'], censor: '***' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    redactingStream(secrets, out),
  )
}
