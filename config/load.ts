import { readFile, stat } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import {
  LineCounter,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  parse as parseYaml,
  parseDocument,
  type Document,
  type Node,
  type Pair,
  type Scalar,
  type YAMLError,
} from 'yaml'
import type { z } from 'zod'
import { ConfigError } from '../pipeline/errors.js'
import { ConfigInvalidError, formatPath, redactSecrets, type ConfigProblem } from './errors.js'
import { interpolateDocument, type Env } from './interpolate.js'
import { recordLocations } from './locations.js'
import { withDerivedDefaults, type ConfigSchema, type SluiceConfig } from './schema.js'

/** A validated config and the interpolated values logging must redact. */
export interface LoadedConfig {
  readonly config: SluiceConfig
  /** Every non-empty value substituted from the environment or a secret file. */
  readonly secrets: string[]
}

type Path = readonly PropertyKey[]

/**
 * Parses, interpolates and validates config text against `schema` (config/index.ts binds
 * the real registries). Throws ConfigInvalidError listing every problem with file:line:col;
 * YAML syntax errors stop before interpolation, since positions past them are unreliable.
 */
export function parseConfigWith(
  schema: ConfigSchema,
  text: string,
  file: string,
  env: Env = process.env,
): LoadedConfig {
  // 1. Parse, keeping positions.
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false })
  const at = (offset: number, path: Path, message: string): ConfigProblem => {
    const { line, col } = lineCounter.linePos(offset)
    return { file, line, col, path: formatPath(path), message }
  }
  const syntax = [...doc.errors, ...doc.warnings]
  if (syntax.length > 0) {
    throw new ConfigInvalidError(
      file,
      sortProblems(syntax.map((e) => at(e.pos[0], [], yamlMessage(e, text)))),
    )
  }

  // 2. Interpolate in place on the scalar nodes.
  const interp = interpolateDocument(doc, { env, baseDir: dirname(resolve(file)) })
  const problems = interp.problems.map((p) => at(p.node.range?.[0] ?? 0, p.path, p.message))
  const failed = interp.problems.map((p) => p.path)

  // 3. Validate.
  let data: unknown
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT })
  } catch (err) {
    if (!(err instanceof ReferenceError)) throw err
    // yaml throws ReferenceError for an alias bomb (and an unresolvable alias, which the
    // syntax pass above already reported).
    throw new ConfigInvalidError(file, [
      at(
        0,
        [],
        `YAML aliases expand to more than ${MAX_ALIAS_COUNT} references (a document that small cannot need that many): write the repeated values out`,
      ),
    ])
  }
  const knownKeys = new Map<string, string[]>()
  const validate = () => schema.safeParse(data, { error: (iss) => issueMessage(iss, knownKeys) })
  let result = validate()
  // A value that was exactly one `${...}` is substituted as a string: the environment has
  // no types, and a numeric password must stay a string. Where the schema wants a number
  // or a boolean instead (`port: ${ADMIN_PORT}`), the text is read as a YAML 1.2 core
  // scalar and validation runs once more. z.coerce is not used: it would also accept
  // `port: "8080"` written literally, and coerce secrets nobody asked to coerce.
  if (!result.success && promoteWholeValues(result.error.issues, doc, interp.whole, data)) result = validate()

  if (result.success && problems.length === 0) {
    const config = withDerivedDefaults(result.data)
    recordLocations(config, (path) => {
      const { line, col } = lineCounter.linePos(locate(doc, path, 'value'))
      return `${file}:${line}:${col}`
    })
    return { config, secrets: interp.secrets }
  }
  for (const issue of result.error?.issues ?? []) {
    // The unresolved `${...}` at a failed path was reported already; its type errors are noise.
    if (failed.some((f) => startsWith(issue.path, f))) continue
    problems.push(...issueProblems(issue, doc, knownKeys, at))
  }
  const redacted = problems.map((p) => ({ ...p, message: redactSecrets(p.message, interp.secrets) }))
  throw new ConfigInvalidError(file, sortProblems(redacted))
}

/** Bounds YAML alias expansion ("billion laughs"); yaml's own default, kept explicit. */
const MAX_ALIAS_COUNT = 100

/** Largest configuration file accepted (a real one is a few KiB). */
export const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Reads `file` and runs parseConfigWith() on it. An unreadable file is a ConfigError with
 * code `CONFIG_UNREADABLE`, one over MAX_CONFIG_BYTES `CONFIG_TOO_LARGE`.
 */
export async function loadConfigWith(
  schema: ConfigSchema,
  file: string,
  env: Env = process.env,
): Promise<LoadedConfig> {
  let text: string
  try {
    const { size } = await stat(file)
    if (size > MAX_CONFIG_BYTES) {
      throw new ConfigError(
        'CONFIG_TOO_LARGE',
        `config file ${file} is ${size} bytes, more than the ${MAX_CONFIG_BYTES} a configuration may have; check that the path names the YAML configuration`,
      )
    }
    text = await readFile(file, 'utf8')
  } catch (e) {
    if (e instanceof ConfigError) throw e
    const code = (e as NodeJS.ErrnoException).code ?? 'unreadable'
    throw new ConfigError('CONFIG_UNREADABLE', `cannot read config file ${file} (${code}); check the path`, {
      cause: e,
    })
  }
  return parseConfigWith(schema, text, file, env)
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => a.line - b.line || a.col - b.col)
}

function startsWith(path: Path, prefix: Path): boolean {
  return prefix.length <= path.length && prefix.every((seg, i) => String(seg) === String(path[i]))
}

function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s[0]!.toLowerCase() + s.slice(1) : s
}

function yamlMessage(e: YAMLError, text: string): string {
  switch (e.code) {
    case 'DUPLICATE_KEY': {
      // The error marks only the key's first character; the key runs up to its `:`.
      const key = /^("[^"\n]*"|'[^'\n]*'|[^:\n]*?)\s*:/
        .exec(text.slice(e.pos[0]))?.[1]
        ?.replace(/^(["'])(.*)\1$/, '$2')
      return `duplicate key${key ? ` '${key}'` : ''}; a key may appear once per mapping`
    }
    case 'MULTIPLE_DOCS':
      return "more than one yaml document; a config file holds one, remove the extra '---'"
    case 'TAB_AS_INDENT':
      return 'tabs are not allowed as indentation; indent with spaces'
    case 'BLOCK_AS_IMPLICIT_KEY':
      return `yaml syntax: ${lowerFirst(e.message)}; put the inner mapping on the next lines, indented`
    case 'TAG_RESOLVE_FAILED':
      return `${lowerFirst(e.message)}; remove the tag`
    default:
      return `yaml syntax: ${lowerFirst(e.message)}`
  }
}

// ---- zod issues to messages ----------------------------------------------------------

function describeExpected(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string'
    case 'number':
      return 'a number'
    case 'int':
      return 'a whole number'
    case 'boolean':
      return 'true or false'
    case 'array':
      return 'a list'
    case 'object':
    case 'record':
      return 'a mapping'
    default:
      return expected
  }
}

function describeValue(v: unknown): string {
  if (v === null) return 'an empty value'
  if (Array.isArray(v)) return 'a list'
  if (typeof v === 'object') return 'a mapping'
  if (typeof v === 'boolean') return 'true/false'
  if (typeof v === 'number') return Number.isInteger(v) ? 'a number' : 'a fractional number'
  return `a ${typeof v}`
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`
}

const pathKey = (path: Path): string => JSON.stringify(path.map(String))

/**
 * Our wording for zod's issue codes (zod's own are capitalised and generic). Messages
 * set by a schema (`.regex(re, 'message')`) take precedence over this map, by zod's rules.
 * Values are never echoed, since they may have come from the environment.
 */
function issueMessage(iss: z.core.$ZodRawIssue, knownKeys: Map<string, string[]>): string | undefined {
  switch (iss.code) {
    case 'invalid_type': {
      const path = iss.path ?? []
      if (iss.input === undefined) {
        const key = path[path.length - 1]
        return key === undefined ? 'missing value' : `missing required key '${String(key)}'`
      }
      if (path.length === 0 && iss.input === null) return 'the file is empty; it needs a pipelines list'
      if (iss.expected === 'int' && typeof iss.input === 'number') return 'must be a whole number'
      return `expected ${describeExpected(iss.expected)}, got ${describeValue(iss.input)}`
    }
    case 'too_small':
    case 'too_big': {
      const small = iss.code === 'too_small'
      const bound = Number(small ? iss.minimum : iss.maximum)
      const limit = small ? 'at least' : 'at most'
      if (iss.origin === 'array') return `must have ${limit} ${plural(bound, 'item')}`
      if (iss.origin === 'string') {
        return small && bound === 1
          ? 'must not be empty'
          : `must be ${limit} ${plural(bound, 'character')} long`
      }
      if (iss.inclusive !== false) return `must be ${limit} ${bound}`
      return `must be ${small ? 'greater' : 'less'} than ${bound}`
    }
    case 'invalid_value':
      return iss.values.length === 1
        ? `must be ${String(iss.values[0])}`
        : `must be one of: ${iss.values.map(String).join(', ')}`
    case 'invalid_format':
      return iss.format === 'regex' && iss.pattern
        ? `must match ${iss.pattern}`
        : `must be a valid ${iss.format}`
    case 'not_multiple_of':
      return `must be a multiple of ${String(iss.divisor)}`
    case 'unrecognized_keys': {
      // Issue messages are per object; issueProblems() splits them per key with a hint
      // drawn from the object's own keys, kept here because the schema is only at hand now.
      const shape = (iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape
      if (shape) knownKeys.set(pathKey(iss.path ?? []), Object.keys(shape))
      return `unknown keys: ${iss.keys.join(', ')}`
    }
    case 'invalid_union':
      return 'matches none of the allowed forms'
    default:
      return undefined
  }
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const cur = [i]
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = cur
  }
  return prev[b.length]!
}

function unknownKeyMessage(key: string, known: readonly string[] | undefined): string {
  if (!known || known.length === 0) return `unknown key '${key}'; remove it`
  const best = known
    .map((k) => ({ k, d: editDistance(key.toLowerCase(), k.toLowerCase()) }))
    .sort((a, b) => a.d - b.d)[0]!
  // A typo is a small edit away (`tabels`); anything further gets the whole list.
  return best.d <= Math.max(1, Math.floor(best.k.length / 3))
    ? `unknown key '${key}'; did you mean '${best.k}'?`
    : `unknown key '${key}'; known keys: ${known.join(', ')}`
}

function issueProblems(
  issue: z.core.$ZodIssue,
  doc: Document,
  knownKeys: Map<string, string[]>,
  at: (offset: number, path: Path, message: string) => ConfigProblem,
): ConfigProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys.get(pathKey(issue.path))
    // Point at each offending key itself, not at the mapping holding it.
    return issue.keys.map((key) => {
      const path = [...issue.path, key]
      return at(locate(doc, path, 'key'), path, unknownKeyMessage(key, known))
    })
  }
  return [at(locate(doc, issue.path, 'value'), issue.path, lowerFirst(issue.message))]
}

// ---- zod paths to YAML positions -----------------------------------------------------

function deref(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node
}

function start(node: unknown): number {
  return (node as Node | null)?.range?.[0] ?? 0
}

/**
 * Offset of the node at `path`: with `key`, of the key naming it. A path that goes past the
 * document (a missing key) points at the key of the deepest mapping that exists, so
 * "missing required key 'url'" lands on `source:`. Empty values (`url:`) point at their key.
 */
function locate(doc: Document, path: Path, want: 'value' | 'key'): number {
  let node: unknown = doc.contents
  let holder: Pair | undefined // the pair whose value `node` is
  for (const seg of path) {
    node = deref(doc, node)
    let next: { node: unknown; holder: Pair | undefined } | undefined
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && String(isScalar(p.key) ? p.key.value : p.key) === String(seg),
      )
      if (pair) next = { node: pair.value, holder: pair }
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      next = { node: node.items[seg], holder: undefined }
    }
    if (!next) return holder ? start(holder.key) : start(node)
    node = next.node
    holder = next.holder
  }
  if (want === 'key' && holder) return start(holder.key)
  node = deref(doc, node)
  const empty = node === null || (isScalar(node) && node.value === null && node.source === '')
  if (empty && holder) return start(holder.key)
  return start(node)
}

function nodeAt(doc: Document, path: Path): unknown {
  let node: unknown = doc.contents
  for (const seg of path) {
    node = deref(doc, node)
    if (isMap(node)) node = node.get(seg, true)
    else if (isSeq(node) && typeof seg === 'number') node = node.get(seg, true)
    else return undefined
  }
  return deref(doc, node)
}

/**
 * Replaces whole-`${...}` strings by their YAML number/boolean reading where the schema
 * asked for one. Returns whether anything changed, i.e. whether to validate again.
 */
function promoteWholeValues(
  issues: readonly z.core.$ZodIssue[],
  doc: Document,
  whole: Map<Scalar, string>,
  data: unknown,
): boolean {
  let changed = false
  for (const issue of issues) {
    if (issue.code !== 'invalid_type' || !['number', 'int', 'boolean'].includes(issue.expected)) continue
    const node = nodeAt(doc, issue.path)
    const text = isScalar(node) ? whole.get(node) : undefined
    if (text === undefined) continue
    let typed: unknown
    try {
      // Silent: yaml would otherwise print warnings about the text, which is a secret.
      typed = parseYaml(text, { logLevel: 'silent' })
    } catch {
      continue
    }
    const wanted = issue.expected === 'boolean' ? 'boolean' : 'number'
    if (typeof typed !== wanted) continue
    const parent = issue.path
      .slice(0, -1)
      .reduce<unknown>((o, seg) => (o as Record<PropertyKey, unknown>)?.[seg], data)
    if (typeof parent !== 'object' || parent === null) continue
    ;(parent as Record<PropertyKey, unknown>)[issue.path[issue.path.length - 1]!] = typed
    changed = true
  }
  return changed
}
