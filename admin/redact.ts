/** Matches the password part of a URL with credentials: `scheme://user:PASSWORD@`. */
const URL_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^:/@\s"'<>]*:)([^@\s"'<>]*)(@)/gi

/** Secrets shorter than this are not masked (masking `ab` everywhere would garble output). */
const MIN_SECRET_LENGTH = 3

/** A function that masks secrets in text with `***`. */
export type Redactor = (text: string) => string

/**
 * Masks, in any text the admin API sends: every secret value (as written, JSON-escaped and
 * URL-encoded, the forms in which it can appear in a message, a label or a URL), and any
 * password inside a URL. `secrets` are the values that came from `${ENV}`/`${file:...}`
 * interpolation plus the admin token. Applied to the status model before it is serialised
 * or rendered, and to the metrics text, so no route can leak what the model does not hide.
 */
export function createRedactor(secrets: readonly string[]): Redactor {
  const list = [...new Set(secrets.filter((s) => s.length >= MIN_SECRET_LENGTH))]
  const variants = [
    ...new Set(list.flatMap((s) => [s, JSON.stringify(s).slice(1, -1), encodeURIComponent(s)])),
  ].sort((a, b) => b.length - a.length)
  return (text) => {
    let out = text
    for (const v of variants) if (out.includes(v)) out = out.split(v).join('***')
    return out.replace(URL_PASSWORD, '$1***$3')
  }
}

/** Redacts every string inside a JSON-like value (keys are ours and left alone); returns a copy. */
export function redactValue<T>(value: T, redact: Redactor): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map((v: unknown) => redactValue(v, redact)) as T
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, v] of Object.entries(value)) out[k] = redactValue(v, redact)
    return out as T
  }
  return value
}
