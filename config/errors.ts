import { ConfigError } from '../pipeline/errors.js'

/** One thing wrong with a config file, located at the YAML node it is about (1-based line and column). */
export interface ConfigProblem {
  readonly file: string
  readonly line: number
  readonly col: number
  /** Key path in the document (`pipelines[0].source.url`); empty for the document itself. */
  readonly path: string
  /** Lowercase, specific, naming the fix where there is one; never echoes an interpolated value. */
  readonly message: string
}

/** Renders a problem as `file:line:col: path: message` (the path is left out when empty). */
export function formatProblem(p: ConfigProblem): string {
  return p.path === ''
    ? `${p.file}:${p.line}:${p.col}: ${p.message}`
    : `${p.file}:${p.line}:${p.col}: ${p.path}: ${p.message}`
}

/**
 * Renders a key path the way a reader finds it in the YAML: `pipelines[0].sinks[1].topic`.
 * Keys that are not plain identifiers (`public.events` in `key_columns`) are quoted.
 */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = ''
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`
    else if (typeof seg === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(seg))
      out += out === '' ? seg : `.${seg}`
    else out += `[${JSON.stringify(String(seg))}]`
  }
  return out
}

/**
 * The config file has one or more problems (code `CONFIG_INVALID`). Every problem found is
 * listed, one per line, in the message and in `problems`, so a user fixes them in one go.
 */
export class ConfigInvalidError extends ConfigError {
  readonly problems: readonly ConfigProblem[]

  constructor(file: string, problems: readonly ConfigProblem[]) {
    const n = problems.length
    super(
      'CONFIG_INVALID',
      `${file}: ${n} config problem${n === 1 ? '' : 's'}:\n${problems.map(formatProblem).join('\n')}`,
    )
    this.problems = problems
  }
}

/**
 * Masks interpolated values in text meant for people (problem messages, command output).
 * Messages never echo values on purpose; this is the last line of defence for a message
 * written by a connector's own schema. Values shorter than 3 characters are skipped, as
 * cli/logger.ts does: masking `1` or `on` would garble every line, and no secret is that short.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of [...secrets].sort((a, b) => b.length - a.length)) {
    if (s.length >= 3) out = out.split(s).join('***')
  }
  return out
}
