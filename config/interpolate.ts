import { readFileSync } from 'node:fs'
import { isAbsolute, resolve } from 'node:path'
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type Node, type Scalar } from 'yaml'

/** The environment interpolation reads (`process.env` in production). */
export type Env = Readonly<Record<string, string | undefined>>

/** Where `${...}` values come from. */
export interface InterpolationSources {
  readonly env: Env
  /** Directory that relative `${file:...}` paths resolve against: the config file's own. */
  readonly baseDir: string
  /** Reads a secret file; injectable for tests. */
  readonly readFile?: (path: string) => string
}

/** The outcome of interpolating one string. */
export interface Interpolated {
  readonly value: string
  /** Non-empty values that came from the environment or a file (not defaults written in the config). */
  readonly secrets: readonly string[]
  /** Lowercase messages, one per `${...}` that could not be resolved. */
  readonly problems: readonly string[]
  /** The string was exactly one resolved `${VAR}` / `${file:...}` and nothing else. */
  readonly whole: boolean
}

// `${NAME}` or `${NAME:-default}`: upper-case names only, so `${table}` and other
// lower-case sink placeholders are never mistaken for environment variables.
const ENV_REF = /^([A-Z_][A-Z0-9_]*)(?::-(.*))?$/s
// An upper-case name followed by `:` or `-` that is not `:-` is a typo of the default
// form (`${PORT:8080}`, `${PORT-8080}`); left alone it would silently reach a sink.
const ENV_TYPO = /^[A-Z_][A-Z0-9_]*[:-]/

function defaultReadFile(path: string): string {
  return readFileSync(path, 'utf8')
}

type Resolved =
  { kind: 'value'; value: string; secret: boolean } | { kind: 'keep' } | { kind: 'error'; message: string }

function resolveRef(body: string, src: InterpolationSources): Resolved {
  if (body.startsWith('file:')) {
    const given = body.slice('file:'.length)
    if (given === '')
      return { kind: 'error', message: "'${file:}' needs a path, as in '${file:/run/secrets/pg}'" }
    const path = isAbsolute(given) ? given : resolve(src.baseDir, given)
    let text: string
    try {
      text = (src.readFile ?? defaultReadFile)(path)
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'unreadable'
      return {
        kind: 'error',
        message: `cannot read secret file ${path} (${code}); check the path and its permissions`,
      }
    }
    // Secret files are usually written with a trailing newline (echo, docker secrets);
    // one is never part of a password, more than one might be intentional content.
    return { kind: 'value', value: text.replace(/\r?\n$/, ''), secret: true }
  }
  const m = ENV_REF.exec(body)
  if (m) {
    const name = m[1] as string
    const fallback = m[2]
    const value = src.env[name]
    if (fallback !== undefined) {
      // Shell semantics for `:-`: the default also replaces an empty value.
      return value === undefined || value === ''
        ? { kind: 'value', value: fallback, secret: false }
        : { kind: 'value', value, secret: true }
    }
    if (value === undefined) {
      return {
        kind: 'error',
        message: `environment variable ${name} is not set; set it, or give a default with '\${${name}:-value}'`,
      }
    }
    return { kind: 'value', value, secret: true }
  }
  if (ENV_TYPO.test(body)) {
    return {
      kind: 'error',
      message: `unsupported '\${${body}}'; write '\${NAME}' or '\${NAME:-default}' (or '$\${' for a literal '\${')`,
    }
  }
  // Lower-case and mixed-case names are per-event placeholders (`${table}`, a column).
  return { kind: 'keep' }
}

/**
 * Interpolates one string: `${VAR}`, `${VAR:-default}` (also used when VAR is empty),
 * `${file:/path}` (relative paths from the config file's directory; one trailing newline
 * trimmed) and `$${` for a literal `${`. Lower-case placeholders are left as they are.
 */
export function interpolateString(text: string, src: InterpolationSources): Interpolated {
  let value = ''
  const secrets: string[] = []
  const problems: string[] = []
  let resolved = 0
  let other = false
  let i = 0
  while (i < text.length) {
    if (text.startsWith('$${', i)) {
      value += '${'
      other = true
      i += 3
      continue
    }
    if (text.startsWith('${', i)) {
      const end = text.indexOf('}', i + 2)
      if (end < 0) {
        problems.push("unterminated '${'; close it with '}', or write '$${' for a literal '${'")
        value += text.slice(i)
        other = true
        break
      }
      const r = resolveRef(text.slice(i + 2, end), src)
      if (r.kind === 'value') {
        value += r.value
        if (r.secret && r.value !== '') secrets.push(r.value)
        resolved++
      } else {
        if (r.kind === 'error') problems.push(r.message)
        value += text.slice(i, end + 1)
        other = true
      }
      i = end + 1
      continue
    }
    value += text[i]
    other = true
    i++
  }
  return { value, secrets, problems, whole: resolved === 1 && !other }
}

/** A `${...}` in the document that could not be resolved. */
export interface InterpolationProblem {
  readonly node: Scalar
  readonly path: readonly PropertyKey[]
  readonly message: string
}

/** What interpolating a whole document found. */
export interface DocumentInterpolation {
  /** Every distinct non-empty value taken from the environment or a file, for log redaction. */
  readonly secrets: string[]
  readonly problems: InterpolationProblem[]
  /** Scalars whose whole text was one `${...}`, with the substituted text (see load.ts). */
  readonly whole: Map<Scalar, string>
}

/**
 * Interpolates every string value scalar of a parsed document in place, so the nodes keep
 * their source positions for error reporting. Keys are never interpolated.
 */
export function interpolateDocument(doc: Document, src: InterpolationSources): DocumentInterpolation {
  const secrets = new Set<string>()
  const problems: InterpolationProblem[] = []
  const whole = new Map<Scalar, string>()
  const visit = (node: Node | null | undefined, path: PropertyKey[]): void => {
    // An alias shares its anchor's node, which is interpolated where it is defined.
    if (!node || isAlias(node)) return
    if (isScalar(node)) {
      if (typeof node.value !== 'string') return
      const r = interpolateString(node.value, src)
      for (const s of r.secrets) secrets.add(s)
      for (const message of r.problems) problems.push({ node, path, message })
      if (r.problems.length === 0) {
        node.value = r.value
        if (r.whole) whole.set(node, r.value)
      }
      return
    }
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue
        const key = isScalar(pair.key) ? pair.key.value : pair.key
        visit(pair.value as Node | null, [...path, String(key)])
      }
      return
    }
    if (isSeq(node)) node.items.forEach((item, i) => visit(item as Node | null, [...path, i]))
  }
  visit(doc.contents as Node | null, [])
  return { secrets: [...secrets], problems, whole }
}
